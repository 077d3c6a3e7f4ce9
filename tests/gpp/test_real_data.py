"""Real-data loader of GPP stage 01 (paper 4.1): 8-day rules, regridding, loaders, assembly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from geohet_lib.gpp.real_data import (aggregate_to_8day, build_real_dataset, load_era5_land,
                                      load_modis_land_cover, load_pml_gpp, read_geotiff,
                                      regrid_to_cells)
from geohet_lib.errors import InputDataError
from geohet_lib.gpp.variables import (CATALOGUE, ERA5_NAMES, ERA5_VARIABLES, LAND_COVER_NAMES,
                                      TARGET_NAME)

PRECIP, TEMP, GPP = "total_precipitation_sum", "temperature_2m", TARGET_NAME


def _days(start: str, end: str) -> pd.DatetimeIndex:
    return pd.date_range(start, end, freq="D")


def _series(values: np.ndarray, times: pd.DatetimeIndex, names=(TEMP, PRECIP)) -> xr.Dataset:
    """One pixel (dim cell) of daily values for the given catalogue variables."""
    return xr.Dataset({n: (("cell", "time"), np.asarray(values, float)[None, :])
                       for n in names}, coords={"cell": [0], "time": times})


def _value(v, i: int) -> float:
    """A plausible value of catalogue variable ``v``, distinct for each index ``i``."""
    return v.valid_min + (0.2 + 0.01 * i) * (v.valid_max - v.valid_min)


def _era5_grid(times, lat, lon, value=None) -> xr.Dataset:
    """All 26 ERA5 variables on a (time, lat, lon) grid, in ERA5 units."""
    shape = (len(times), len(lat), len(lon))
    base = np.ones(shape) if value is None else np.broadcast_to(value, shape)
    return xr.Dataset({v.name: (("time", "latitude", "longitude"),
                                (base * _value(v, i)).astype(np.float32), {"units": v.units})
                       for i, v in enumerate(ERA5_VARIABLES)},
                      coords={"time": times, "latitude": lat, "longitude": lon})


def _write_tif(path, bands: dict[str, np.ndarray], west: float, north: float, res: float):
    import rasterio
    from affine import Affine

    first = next(iter(bands.values()))
    with rasterio.open(path, "w", driver="GTiff", height=first.shape[0], width=first.shape[1],
                       count=len(bands), dtype="float32", crs="EPSG:4326", nodata=np.nan,
                       transform=Affine(res, 0, west, 0, -res, north)) as dst:
        for i, (name, a) in enumerate(bands.items(), start=1):
            dst.write(a.astype(np.float32), i)
            dst.set_band_description(i, name)
    return path


# ----------------------------------------------------------------------------- 8-day rules
def test_sum_and_mean_rules_by_hand():
    t = _days("2001-01-01", "2001-12-31")
    vals = np.arange(1, t.size + 1, dtype=float)  # value = day of year
    out = aggregate_to_8day(_series(vals, t))
    # step 0: days 1..8; step 1: days 9..16
    assert out[TEMP].sel(year=2001, step=0).item() == pytest.approx(4.5)
    assert out[PRECIP].sel(year=2001, step=0).item() == pytest.approx(36.0)
    assert out[PRECIP].sel(year=2001, step=1).item() == pytest.approx(sum(range(9, 17)))
    assert out[PRECIP].attrs["units"] == CATALOGUE[PRECIP].units
    assert out[TEMP].dims == ("cell", "year", "step")
    assert out["time"].values[0, 1] == np.datetime64("2001-01-09")


def test_short_last_step_normal_and_leap_year():
    t = _days("2000-01-01", "2001-12-31")  # 2000 is a leap year
    out = aggregate_to_8day(_series(np.ones(t.size), t))
    assert out["step_days"].sel(year=2000, step=45).item() == 6
    assert out["step_days"].sel(year=2001, step=45).item() == 5
    assert out[PRECIP].sel(year=2000, step=45).item() == pytest.approx(6.0)
    assert out[PRECIP].sel(year=2001, step=45).item() == pytest.approx(5.0)
    assert out[TEMP].sel(year=2000, step=45).item() == pytest.approx(1.0)
    # the leap day (29 Feb, doy 60) falls into step 7 (days 57-64): still 8 days
    assert out[PRECIP].sel(year=2000, step=7).item() == pytest.approx(8.0)


def test_incomplete_step_is_nan_unless_coverage_allows_scaling(caplog):
    t = _days("2001-01-01", "2001-12-31")
    vals = np.full(t.size, 2.0)
    vals[3] = np.nan  # a missing value on day 4 (step 0)
    ds = _series(vals, t).isel(time=np.r_[0:10, 11:t.size])  # day 11 (step 1) missing
    with caplog.at_level("WARNING", logger="geohet"):
        strict = aggregate_to_8day(ds)
    assert "miss days" in caplog.text
    assert np.isnan(strict[PRECIP].sel(step=0)).all()
    assert np.isnan(strict[TEMP].sel(step=1)).all()
    assert strict[PRECIP].sel(step=2).item() == pytest.approx(16.0)
    loose = aggregate_to_8day(ds, min_coverage=0.75)  # 7 of 8 days present: kept
    assert loose[PRECIP].sel(step=0).item() == pytest.approx(2.0 * 8)  # mean x days in step
    assert loose[TEMP].sel(step=1).item() == pytest.approx(2.0)


def test_8day_gpp_rate_times_step_days():
    t = pd.DatetimeIndex([d for y in (2003, 2004) for d in
                          pd.date_range(f"{y}-01-01", periods=46, freq="8D")])
    ds = xr.Dataset({GPP: (("cell", "time"), np.full((1, t.size), 2.5))},
                    coords={"cell": [0], "time": t})
    out = aggregate_to_8day(ds)
    assert out[GPP].sel(year=2003, step=0).item() == pytest.approx(20.0)
    assert out[GPP].sel(year=2003, step=45).item() == pytest.approx(12.5)
    assert out[GPP].sel(year=2004, step=45).item() == pytest.approx(15.0)
    assert out[GPP].attrs["units"] == "g C m-2"
    daily = aggregate_to_8day(xr.Dataset({GPP: (("cell", "time"), np.full((1, 365), 2.5))},
                                         coords={"cell": [0], "time": _days("2003-01-01",
                                                                            "2003-12-31")}))
    np.testing.assert_allclose(daily[GPP].sel(year=2003), out[GPP].sel(year=2003))


# ----------------------------------------------------------------------------- regridding
def test_regrid_fine_to_coarse_block_mean_nan_aware():
    lat = np.array([10.875, 10.625, 10.375, 10.125])  # descending, 0.25 deg
    lon = np.array([20.125, 20.375, 20.625, 20.875])
    a = np.arange(16, dtype=float).reshape(4, 4)
    a[0, 0] = np.nan  # ocean pixel
    da = xr.DataArray(a, dims=("lat", "lon"), coords={"lat": lat, "lon": lon}, name=TEMP)
    cells = pd.DataFrame({"cell": [0, 1], "lat": [10.75, 10.25], "lon": [20.25, 20.75]})
    out = regrid_to_cells(da, cells, 0.5)
    assert out[TEMP].sel(cell=0).item() == pytest.approx(np.mean([1, 4, 5]))
    assert out[TEMP].sel(cell=1).item() == pytest.approx(np.mean([10, 11, 14, 15]))
    assert out["lat"].values.tolist() == [10.75, 10.25]


def test_regrid_coarse_to_fine_bilinear_by_hand():
    lat, lon = np.array([0.0, 1.0, 2.0]), np.array([10.0, 11.0, 12.0])
    a = np.array([[0.0, 1.0, 2.0], [10.0, 11.0, 12.0], [20.0, 21.0, 22.0]])
    ds = xr.Dataset({TEMP: (("time", "lat", "lon"), a[None])},
                    coords={"time": [np.datetime64("2001-01-01")], "lat": lat, "lon": lon})
    cells = pd.DataFrame({"cell": [5], "lat": [0.25], "lon": [10.75]})
    out = regrid_to_cells(ds, cells, 0.5)
    # bilinear: 0.75*(0.75*0 + 0.25*10) + 0.25*... = 10*0.25 + 1*0.75
    assert out[TEMP].dims == ("cell", "time")
    assert out[TEMP].item() == pytest.approx(10 * 0.25 + 1 * 0.75)


def test_regrid_wraps_the_antimeridian():
    lon = np.arange(-179.0, 180.0, 2.0)  # global 2-degree grid, centres -179..179
    lat = np.array([-1.0, 1.0])
    vals = np.where(lon == 179.0, 10.0, np.where(lon == -179.0, 20.0, 0.0))
    da = xr.DataArray(np.tile(vals, (2, 1)), dims=("lat", "lon"),
                      coords={"lat": lat, "lon": lon}, name=TEMP)
    cells = pd.DataFrame({"cell": [0, 1], "lat": [0.0, 0.0], "lon": [179.75, -179.75]})
    out = regrid_to_cells(da, cells, 0.5)
    # 179.75 lies 0.75/2 of the way from 179 (10) to 181 == -179 (20)
    assert out[TEMP].sel(cell=0).item() == pytest.approx(10 + 10 * 0.375)
    assert out[TEMP].sel(cell=1).item() == pytest.approx(10 + 10 * 0.625)


def test_regrid_bilinear_falls_back_to_nearest_next_to_no_data():
    lat, lon = np.array([0.0, 1.0]), np.array([0.0, 1.0])
    a = np.array([[np.nan, 4.0], [6.0, 8.0]])  # an ocean pixel at (0, 0)
    da = xr.DataArray(a, dims=("lat", "lon"), coords={"lat": lat, "lon": lon}, name=TEMP)
    cells = pd.DataFrame({"cell": [0, 1, 2], "lat": [0.75, 0.25, 5.0], "lon": [0.75, 0.75, 0.5]})
    out = regrid_to_cells(da, cells, 0.5)[TEMP].values
    assert out[0] == pytest.approx(8.0)  # nearest pixel (1, 1)
    assert out[1] == pytest.approx(4.0)  # nearest pixel (0, 1)
    assert np.isnan(out[2])  # outside the source's extent: no data


# ----------------------------------------------------------------------------- loaders
def test_load_era5_geotiff_daily_files_with_dates_in_names(tmp_path):
    files = []
    for day in range(1, 4):
        # temperature_2m + day tells the days apart; the other bands stay plausible
        bands = {n: np.full((2, 2), _value(v, i) + (day if n == TEMP else 0), np.float32)
                 for i, (n, v) in enumerate(zip(ERA5_NAMES, ERA5_VARIABLES))}
        files.append(_write_tif(tmp_path / f"era5_2001010{day}.tif", bands, 10.0, 11.0, 0.5))
    assert read_geotiff(files[0])[TEMP].dims == ("lat", "lon")
    ds = load_era5_land(files[::-1])  # any order: sorted by date
    assert ds.sizes == {"time": 3, "lat": 2, "lon": 2}
    assert pd.DatetimeIndex(ds["time"].values)[0] == pd.Timestamp("2001-01-01")
    t0 = np.float32(_value(ERA5_VARIABLES[0], 0))  # temperature_2m's base value
    np.testing.assert_allclose(ds[TEMP].isel(time=2).values, t0 + 3, rtol=1e-6)
    assert ds[TEMP].attrs["units"] == "K"  # GeoTIFF without units: ERA5 units assumed
    assert ds["lat"].values.tolist() == [10.75, 10.25]
    cells = pd.DataFrame({"cell": [0], "lat": [10.5], "lon": [10.5]})  # one 1-degree cell
    on_cells = load_era5_land(files, cells=cells, res_deg=1.0)  # regridded file by file
    assert on_cells[TEMP].dims == ("cell", "time")
    np.testing.assert_allclose(on_cells[TEMP].values, [[t0 + 1, t0 + 2, t0 + 3]], rtol=1e-6)


def test_geotiff_without_band_descriptions_is_an_error(tmp_path):
    import rasterio
    from affine import Affine

    p = tmp_path / "era5_20010101.tif"
    with rasterio.open(p, "w", driver="GTiff", height=2, width=2, count=1, dtype="float32",
                       crs="EPSG:4326", transform=Affine(1, 0, 0, 0, -1, 2)) as dst:
        dst.write(np.ones((2, 2), np.float32), 1)
    with pytest.raises(InputDataError, match="band descriptions"):
        load_era5_land(p)


def test_modis_percent_with_class_dim_to_renormalised_fractions(tmp_path):
    pct = np.zeros((1, 17, 2, 2))
    pct[0, 0], pct[0, 10], pct[0, 12] = 49.0, 30.0, 19.0  # sums to 98 (rounding)
    pct[0, :, 1, 1] = 0.0  # a no-data pixel
    ds = xr.Dataset({"Land_Cover_Type_1_Percent": (("time", "class", "lat", "lon"), pct,
                                                   {"units": "%"})},
                    coords={"time": [np.datetime64("2003-01-01")], "lat": [1.0, 0.0],
                            "lon": [0.0, 1.0]})
    path = tmp_path / "mcd12c1_2003.nc"
    ds.to_netcdf(path)
    lc = load_modis_land_cover(path)
    assert lc["year"].values.tolist() == [2003]
    assert lc["land_cover_type_10"].isel(year=0, lat=0, lon=0).item() == pytest.approx(30 / 98)
    total = sum(lc[n] for n in LAND_COVER_NAMES)
    assert total.isel(year=0, lat=0, lon=0).item() == pytest.approx(1.0)
    assert np.isnan(total.isel(year=0, lat=1, lon=1).item())  # zero sum -> NaN (no data)
    assert lc["land_cover_type_0"].attrs["units"] == "1"


def test_modis_gee_class_bands_geotiff_year_from_name(tmp_path):
    bands = {f"Land_Cover_Type_1_Percent_Class_{k}": np.full((2, 2), 100.0 if k == 7 else 0.0)
             for k in range(17)}
    lc = load_modis_land_cover([_write_tif(tmp_path / "MCD12C1_2004.tif", bands, 0, 2, 1.0)])
    assert lc["year"].values.tolist() == [2004]
    assert float(lc["land_cover_type_7"].min()) == 1.0
    assert float(lc["land_cover_type_0"].max()) == 0.0


def test_load_pml_renames_and_checks_units(tmp_path):
    t = pd.date_range("2003-01-01", periods=3, freq="8D")
    ds = xr.Dataset({"GPP": (("time", "lat", "lon"), np.ones((3, 2, 2)),
                             {"units": "gC m-2 d-1"})},
                    coords={"time": t, "lat": [0.0, 1.0], "lon": [0.0, 1.0]})
    out = load_pml_gpp(ds)
    assert GPP in out and out[GPP].attrs["units"] == "g C m-2 d-1"


# ----------------------------------------------------------------------------- assembly
@pytest.fixture()
def real_inputs(tmp_path):
    """Tiny ERA5 (0.25 deg NetCDF, 2003-2004), MODIS (1 deg, 2003-2004), PML (8-day, 2003-2005)."""
    lat, lon = np.arange(11.875, 10.9, -0.25), np.arange(20.125, 21.0, 0.25)
    era5 = _era5_grid(_days("2003-01-01", "2004-12-31"), lat, lon)
    era5_path = tmp_path / "era5.nc"
    era5.to_netcdf(era5_path)
    pct = np.zeros((2, 17, 3, 3))
    pct[:, 10], pct[:, 12] = 60.0, 40.0
    modis = xr.Dataset({"Land_Cover_Type_1_Percent": (("time", "class", "lat", "lon"), pct,
                                                      {"units": "%"})},
                       coords={"time": pd.to_datetime(["2003-01-01", "2004-01-01"]),
                               "lat": [10.0, 11.0, 12.0], "lon": [20.0, 21.0, 22.0]})
    t8 = pd.DatetimeIndex([d for y in (2003, 2004, 2005)
                           for d in pd.date_range(f"{y}-01-01", periods=46, freq="8D")])
    pml = xr.Dataset({"GPP": (("time", "lat", "lon"), np.full((t8.size, 2, 2), 3.0),
                              {"units": "gC m-2 d-1"})},
                     coords={"time": t8, "lat": [11.75, 11.25], "lon": [20.25, 20.75]})
    cells = pd.DataFrame({"cell": np.arange(4, dtype=np.int64), "lat": [11.75, 11.75, 11.25,
                                                                        11.25],
                          "lon": [20.25, 20.75, 20.25, 20.75]})
    return era5_path, modis, pml, cells


def test_build_real_dataset_structure(real_inputs):
    era5_path, modis, pml, cells = real_inputs
    before = modis.copy(deep=True)
    ds = build_real_dataset(era5_path, modis, pml, cells, 0.5)
    xr.testing.assert_identical(modis, before)
    assert dict(ds.sizes) == {"cell": 4, "year": 2, "step": 46}
    assert ds["year"].values.tolist() == [2003, 2004]
    assert ds["cell"].dtype == np.int64
    assert ds["time"].dims == ("year", "step") and ds["step_days"].dims == ("year", "step")
    assert ds.attrs == {"source": "real", "grid_res_deg": 0.5}
    assert set(ds.data_vars) == {*ERA5_NAMES, *LAND_COVER_NAMES, GPP}
    for name, da in ds.data_vars.items():
        assert da.dtype == np.float32
        assert da.attrs["units"] == CATALOGUE[name].units
        assert da.attrs["long_name"] == CATALOGUE[name].long_name
        assert da.dims == (("cell", "year") if name in LAND_COVER_NAMES
                           else ("cell", "year", "step"))
    lc_total = sum(ds[n] for n in LAND_COVER_NAMES)
    np.testing.assert_allclose(lc_total, 1.0, rtol=1e-6)
    np.testing.assert_allclose(ds["land_cover_type_10"], 0.6, rtol=1e-6)
    # ERA5 sums: the daily value x days in the step; means: the daily value
    k = ERA5_NAMES.index(PRECIP)
    expected = np.float32(_value(ERA5_VARIABLES[k], k)) * ds["step_days"].sel(year=2004).values
    np.testing.assert_allclose(ds[PRECIP].sel(year=2004).values, np.tile(expected, (4, 1)),
                               rtol=1e-6)
    np.testing.assert_allclose(ds[TEMP], np.float32(_value(ERA5_VARIABLES[0], 0)), rtol=1e-6)
    np.testing.assert_allclose(ds[GPP].sel(year=2003, step=45), 3.0 * 5)


def test_build_real_dataset_without_common_year(real_inputs):
    era5_path, modis, pml, cells = real_inputs
    with pytest.raises(InputDataError, match="no year is present in all sources"):
        build_real_dataset(era5_path, modis, pml.sel(time=slice("2005", None)), cells, 0.5)


def test_build_real_dataset_nan_in_land_cell_names_the_cell(real_inputs):
    era5_path, modis, pml, cells = real_inputs
    pml = pml.copy(deep=True)
    pml["GPP"][:, 1, 0] = np.nan  # no GPP over the cell at 11.25N 20.25E
    with pytest.raises(InputDataError, match=r"gpp: .*lat 11\.250, lon 20\.250"):
        build_real_dataset(era5_path, modis, pml, cells, 0.5)


def test_a_year_missing_from_one_source_is_dropped_with_a_log_line(real_inputs, caplog):
    era5_path, modis, pml, cells = real_inputs  # PML has 2005, ERA5 and MODIS do not
    with caplog.at_level("WARNING", logger="geohet"):
        ds = build_real_dataset(era5_path, modis, pml, cells, 0.5)
    assert sorted(np.unique(ds["year"].values).tolist()) == [2003, 2004]
    assert "PML-V2: year(s) [2005] not used (missing from ERA5-Land, MODIS MCD12C1)" in caplog.text


def test_unreadable_files_are_named_with_what_was_expected(tmp_path):
    good = _era5_grid(_days("2003-01-01", "2003-01-03"), [11.875, 11.625], [20.125, 20.375])
    (tmp_path / "empty.nc").write_bytes(b"")
    with pytest.raises(InputDataError, match=r"empty\.nc: the file is empty \(0 bytes\)"):
        load_era5_land(tmp_path / "empty.nc")
    (tmp_path / "table.nc").write_text("lat,lon,t2m\n1,2,280\n")
    with pytest.raises(InputDataError, match=r"(?s)table\.nc: could not be read as NetCDF .*renamed"):
        load_era5_land(tmp_path / "table.nc")
    good.to_netcdf(tmp_path / "full.nc")
    raw = (tmp_path / "full.nc").read_bytes()
    (tmp_path / "cut.nc").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputDataError, match=r"(?s)cut\.nc: could not be read as NetCDF .*truncated"):
        load_era5_land(tmp_path / "cut.nc")
    with pytest.raises(InputDataError, match=r"nowhere: no such file or folder"):
        load_era5_land(tmp_path / "nowhere")
    folder = tmp_path / "folder"
    folder.mkdir()
    good.to_netcdf(folder / "era5.nc")
    (folder / "._era5.nc").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS metadata
    assert load_era5_land(folder).sizes["time"] == 3


def test_hourly_input_is_aggregated_to_daily_first(caplog):
    """A year of hourly steps: precipitation is an amount per hour, so 1 mm every hour is
    24 mm a day and 0.192 m per 8-day step (not the 0.008 m of one step per day); temperature
    is a mean. Logged with the step found."""
    t = pd.date_range("2001-01-01", "2001-12-31 23:00", freq="1h")
    hour = t.hour.to_numpy(dtype=float)
    ds = xr.Dataset({PRECIP: (("cell", "time"), np.full((1, t.size), 0.001)),
                     TEMP: (("cell", "time"), (280.0 + hour)[None, :])},
                    coords={"time": t, "cell": [0]})
    with caplog.at_level("WARNING", logger="geohet"):
        out = aggregate_to_8day(ds)
    assert out[PRECIP].sel(year=2001, step=0).item() == pytest.approx(0.192, rel=1e-6)
    assert out[TEMP].sel(year=2001, step=0).item() == pytest.approx(280.0 + 11.5, rel=1e-6)
    assert "24 time steps per day" in caplog.text and f"{PRECIP} sum" in caplog.text
    with pytest.raises(InputDataError, match="do not divide a day"):
        aggregate_to_8day(ds.isel(time=slice(0, None, 7)).assign_coords(
            time=pd.date_range("2001-01-01", periods=len(t[::7]), freq="7h")))
