"""Input validation of the GPP real-data loader: one test per rule, inputs never modified."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from geohet_lib.gpp.real_data import load_era5_land, load_pml_gpp, regrid_to_cells
from geohet_lib.errors import InputDataError
from geohet_lib.gpp.validation import (check_land_cells, check_variables, convert_units,
                                       fix_longitudes, fix_times, standardise_coords,
                                       unit_conversion)
from geohet_lib.gpp.variables import ERA5_VARIABLES

TEMP, PRECIP = "temperature_2m", "total_precipitation_sum"


def _value(v, i: int) -> float:
    """A plausible value of catalogue variable ``v``, distinct for each index ``i``."""
    return v.valid_min + (0.2 + 0.01 * i) * (v.valid_max - v.valid_min)


def _era5(n_days: int = 3, lon=(10.0, 11.0), lat=(1.0, 0.0)) -> xr.Dataset:
    times = pd.date_range("2001-01-01", periods=n_days, freq="D")
    shape = (n_days, len(lat), len(lon))
    return xr.Dataset({v.name: (("time", "latitude", "longitude"),
                                np.full(shape, _value(v, i), np.float32), {"units": v.units})
                       for i, v in enumerate(ERA5_VARIABLES)},
                      coords={"time": times, "latitude": list(lat), "longitude": list(lon)})


def test_misnamed_era5_short_name_suggests_the_rename():
    ds = _era5().rename({TEMP: "t2m"})
    with pytest.raises(InputDataError) as e:
        load_era5_land(ds)
    msg = str(e.value)
    assert "'t2m' looks like temperature_2m: rename it" in msg
    assert "ds.rename({'t2m': 'temperature_2m'})" in msg


def test_misspelt_variable_suggests_close_match_and_missing_one_says_export():
    ds = _era5().rename({PRECIP: "total_precipitation"}).drop_vars("skin_temperature")
    with pytest.raises(InputDataError) as e:
        check_variables(ds, [v.name for v in ERA5_VARIABLES], "ERA5-Land")
    msg = str(e.value)
    assert "'total_precipitation' looks like total_precipitation_sum: rename it" in msg
    assert "skin_temperature: not found; export it" in msg


def test_missing_coordinate_is_an_error():
    ds = xr.Dataset({TEMP: (("t", "row", "col"), np.ones((1, 2, 2)))})
    with pytest.raises(InputDataError, match="no lat coordinate.*Fix"):
        standardise_coords(ds, "ERA5-Land")


def test_safe_unit_conversions_degc_and_mm():
    ds = _era5()
    ds[TEMP] = (ds[TEMP] * 0 + 20.0).assign_attrs(units="°C")
    ds[PRECIP].attrs["units"] = "mm"
    before = ds.copy(deep=True)
    out = load_era5_land(ds)
    xr.testing.assert_identical(ds, before)  # the object passed in is unchanged
    assert out[TEMP].attrs["units"] == "K"
    np.testing.assert_allclose(out[TEMP], 293.15, rtol=1e-6)
    k = [v.name for v in ERA5_VARIABLES].index(PRECIP)
    np.testing.assert_allclose(out[PRECIP], _value(ERA5_VARIABLES[k], k) * 1e-3, rtol=1e-6)
    assert out[PRECIP].attrs["units"] == "m"
    assert unit_conversion("J m**-2", "J m-2") == (1.0, 0.0)
    assert unit_conversion("MJ m-2", "J m-2") == (1e6, 0.0)
    assert unit_conversion("kg C m-2 s-1", "g C m-2 d-1") == (86400e3, 0.0)


def test_unknown_units_are_an_error_naming_variable_and_fix():
    ds = _era5()
    ds[PRECIP].attrs["units"] = "W m-2"  # parses, but is no length
    with pytest.raises(InputDataError) as e:
        load_era5_land(ds)
    msg = str(e.value)
    assert PRECIP in msg and "'W m-2'" in msg and "expected 'm'" in msg and "Fix" in msg


@pytest.mark.parametrize("spelling", ["degrees_C", "degree_C", "deg_C", "degC", "celsius"])
def test_cf_udunits_spellings_of_celsius_are_converted(spelling):
    """Every CF / UDUNITS-2 spelling (cf-units), not a hand list: converted, and logged."""
    assert unit_conversion(spelling, "K") == pytest.approx((1.0, 273.15))
    ds = _era5()
    ds[TEMP] = (ds[TEMP] * 0 + 20.0).assign_attrs(units=spelling)
    out = load_era5_land(ds)
    np.testing.assert_allclose(out[TEMP], 293.15, rtol=1e-6)
    assert out[TEMP].attrs["units"] == "K"


def test_udunits_fills_what_the_table_lacks_and_refuses_the_unconvertible():
    assert unit_conversion("inches", "m") == pytest.approx((0.0254, 0.0))
    assert unit_conversion("kJ m-2", "J m-2") == pytest.approx((1e3, 0.0))
    assert unit_conversion("kg m-2", "m") == (1e-3, 0.0)  # water equivalent: the table's rule
    assert unit_conversion("Pa", "K") is None and unit_conversion("no such unit", "K") is None


def test_missing_units_attribute_in_netcdf_is_an_error():
    ds = _era5()
    del ds[TEMP].attrs["units"]
    with pytest.raises(InputDataError, match=f"{TEMP} has no 'units' attribute.*'K'"):
        convert_units(ds, {TEMP: "K"}, "ERA5-Land")


def test_all_nan_variable_is_an_error_with_count_but_ocean_pixels_are_fine():
    ds = _era5()
    ds[TEMP][:, 0, 0] = np.nan  # ocean pixel: fine before regridding
    assert np.isnan(load_era5_land(ds)[TEMP][:, 0, 0]).all()
    ds[PRECIP][:] = np.nan
    with pytest.raises(InputDataError, match=f"{PRECIP} is NaN in all 12 values.*Fix"):
        load_era5_land(ds)


def test_nan_in_land_cell_after_regridding_names_lat_lon():
    lat, lon = np.arange(1.875, 1.0, -0.25), np.arange(10.125, 11.0, 0.25)
    da = xr.DataArray(np.ones((4, 4)), dims=("lat", "lon"), coords={"lat": lat, "lon": lon},
                      name=TEMP)
    da[2:, 2:] = np.nan  # every pixel of the south-east cell
    cells = pd.DataFrame({"cell": [0, 1], "lat": [1.75, 1.25], "lon": [10.25, 10.75]})
    out = regrid_to_cells(da, cells, 0.5)
    with pytest.raises(InputDataError) as e:
        check_land_cells(out)
    msg = str(e.value)
    assert TEMP in msg and "1 NaN" in msg and "lat 1.250, lon 10.750" in msg and "Fix" in msg


def test_latitude_out_of_range_is_an_error():
    ds = _era5(lat=(91.0, 0.0))
    with pytest.raises(InputDataError, match=r"latitude 91.0 outside \[-90, 90\].*Fix"):
        load_era5_land(ds)


def test_longitudes_0_360_normalised_and_sorted_in_a_copy(caplog):
    ds = _era5(lon=(10.0, 350.0))
    ds[TEMP][:, :, 1] = 250.0  # marks the column at 350 E
    before = ds.copy(deep=True)
    with caplog.at_level(logging.WARNING, logger="geohet"):
        out = load_era5_land(ds)
    assert "longitudes in 0..360" in caplog.text
    assert out["lon"].values.tolist() == [-10.0, 10.0]
    assert out[TEMP].sel(lon=-10.0).values.ravel().tolist() == [250.0] * 6
    xr.testing.assert_identical(ds, before)
    assert fix_longitudes(out, "x") is out  # already -180..180: untouched


def test_duplicate_times_are_an_error():
    ds = _era5()
    ds = xr.concat([ds, ds.isel(time=[1])], dim="time")
    with pytest.raises(InputDataError, match="time 2001-01-02 appears more than once.*Fix"):
        load_era5_land(ds)


def test_unsorted_times_sorted_in_a_copy(caplog):
    ds = _era5().isel(time=[2, 0, 1])
    before = ds.copy(deep=True)
    with caplog.at_level(logging.WARNING, logger="geohet"):
        out = fix_times(ds, "ERA5-Land")
    assert "not in order; sorted in a copy" in caplog.text
    assert pd.DatetimeIndex(out["time"].values).is_monotonic_increasing
    xr.testing.assert_identical(ds, before)


def test_user_file_unchanged_after_fixes(tmp_path):
    ds = _era5(lon=(10.0, 350.0)).isel(time=[2, 0, 1])
    ds[TEMP] = (ds[TEMP] * 0 + 15.0).assign_attrs(units="degC")
    path = tmp_path / "era5_user.nc"
    ds.to_netcdf(path)
    raw = path.read_bytes()
    out = load_era5_land(path)  # three fixes: units, longitudes, time order
    assert float(out[TEMP].max()) == pytest.approx(288.15)
    assert path.read_bytes() == raw
    with xr.open_dataset(path) as again:
        assert again[TEMP].attrs["units"] == "degC"


def test_pml_wrong_units_error_names_gpp():
    ds = xr.Dataset({"GPP": (("time", "lat", "lon"), np.ones((1, 2, 2)),
                             {"units": "g C m-2"})},
                    coords={"time": [np.datetime64("2003-01-01")], "lat": [0.0, 1.0],
                            "lon": [0.0, 1.0]})
    with pytest.raises(InputDataError, match="GPP has units 'g C m-2', expected 'g C m-2 d-1'"):
        load_pml_gpp(ds)


def test_values_outside_the_physical_range_name_variable_value_and_fix():
    """degC values labelled K (a 17 K temperature) or 5 m of rain a day are not data."""
    ds = _era5()
    ds[TEMP] = (ds[TEMP] * 0 + 17.0).assign_attrs(units="K")
    with pytest.raises(InputDataError, match=r"temperature_2m has value 17 \(K\), outside its "
                                             r"plausible range \[190, 340\].*degC labelled K"):
        load_era5_land(ds)
    ds = _era5()
    ds[PRECIP] = (ds[PRECIP] * 0 + 5.0).assign_attrs(units="m")
    with pytest.raises(InputDataError, match=r"total_precipitation_sum has value 5 \(m\)"):
        load_era5_land(ds)
    ok = _era5()
    ok[TEMP] = (ok[TEMP] * 0 + 17.0).assign_attrs(units="degC")  # the same values, right units
    assert float(load_era5_land(ok)[TEMP].max()) == pytest.approx(290.15)
    for bad in (300.0, -5.0):  # g C m-2 d-1: no ecosystem fixes 300, none fixes less than 0
        gpp = xr.Dataset({"GPP": (("time", "lat", "lon"), np.full((1, 2, 2), bad),
                                  {"units": "g C m-2 d-1"})},
                         coords={"time": [np.datetime64("2003-01-01")], "lat": [0.0, 1.0],
                                 "lon": [0.0, 1.0]})
        with pytest.raises(InputDataError, match=rf"GPP has value {bad:g} .*plausible range"):
            load_pml_gpp(gpp)


def test_swapped_lat_lon_of_land_only_data_is_an_error():
    """ERA5-Land over South America with the ocean masked: as given it passes; with the
    coordinate values exchanged (a regional grid inside +-90 both ways) the land pixels fall
    in the Southern Ocean."""
    from geohet_lib.gpp.validation import check_not_swapped
    from geohet_lib.land import is_land

    lat = np.arange(-35.0, 5.0, 1.0)
    lon = np.arange(-75.0, -35.0, 1.0)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    field = np.where(is_land(la, lo), 280.0, np.nan)
    good = xr.Dataset({TEMP: (("lat", "lon"), field)}, coords={"lat": lat, "lon": lon})
    check_not_swapped(good, "ERA5-Land")
    swapped = xr.Dataset({TEMP: (("lat", "lon"), field.T)}, coords={"lat": lon, "lon": lat})
    with pytest.raises(InputDataError, match=r"look swapped.*in the sea as given.*Fix: exchange"):
        check_not_swapped(swapped, "ERA5-Land")
    full = good.fillna(275.0)  # no ocean mask: nothing to tell from, passes
    check_not_swapped(full.assign_coords(lat=lon[:len(lat)]), "ERA5-Land")
