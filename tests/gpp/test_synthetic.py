import numpy as np
import pandas as pd
import pytest

from geohet_lib.fields import smooth_sphere_field
from geohet_lib.geo import lonlat_to_unit_sphere
from geohet_lib.gpp.land_grid import build_land_grid
from geohet_lib.gpp.synthetic import HIDDEN_FIELDS, TRUE_PARAMETERS, SyntheticGPP, toa_insolation_mj
from geohet_lib.gpp.variables import (CATALOGUE, ERA5_NAMES, FEATURE_NAMES, LAND_COVER_NAMES,
                                      step_calendar)


@pytest.fixture(scope="module")
def gen():
    return SyntheticGPP(build_land_grid(6.0), (2019, 2020), seed=1, cells_per_chunk=100)


@pytest.fixture(scope="module")
def years(gen):
    return list(gen.iter_years())


def test_structure(gen, years):
    ds = years[0]
    n = len(gen.cells)
    assert ds.sizes == {"cell": n, "year": 1, "step": 46}
    for v in ERA5_NAMES + ("gpp",):
        assert ds[v].dims == ("cell", "year", "step") and ds[v].dtype == np.float32
        assert ds[v].attrs["units"] == CATALOGUE[v].units
    for v in LAND_COVER_NAMES:
        assert ds[v].dims == ("cell", "year")
    assert len(FEATURE_NAMES) == 43
    assert ds["time"].values[0, 0] == np.datetime64("2019-01-01")
    assert ds["step_days"].values[0, -1] == 5


def test_values_in_plausible_ranges_and_finite(years):
    for ds in years:
        for v in list(FEATURE_NAMES) + ["gpp"]:
            a = ds[v].values
            assert np.isfinite(a).all(), v
            c = CATALOGUE[v]
            assert a.min() >= c.valid_min and a.max() <= c.valid_max, v


def test_physical_consistency(gen, years):
    ds = years[1]
    assert (ds.dewpoint_temperature_2m < ds.temperature_2m).all()
    assert (ds.temperature_2m_min <= ds.temperature_2m).all()
    assert (ds.temperature_2m <= ds.temperature_2m_max).all()
    poro = gen.fields["porosity"].to_numpy()[:, None, None]
    for k in range(1, 5):
        theta = ds[f"volumetric_soil_water_layer_{k}"].values
        assert (theta > 0).all() and (theta < poro).all()
    lc = np.stack([ds[v].values for v in LAND_COVER_NAMES])
    np.testing.assert_allclose(lc.sum(0), 1.0, atol=1e-5)
    assert (ds.total_precipitation_sum >= 0).all() and (ds.gpp >= 0).all()
    assert (ds.total_evaporation_sum <= 0.01).all()  # ERA5 sign: evaporation negative


def test_seasonality_by_hemisphere(years):
    ds = years[0]
    lat = ds["lat"].values
    north, south = (lat > 35) & (lat < 60), (lat < -25) & (lat > -45)
    jul, jan = slice(22, 26), slice(0, 4)  # early July vs early January steps
    t = ds.temperature_2m.values[:, 0]
    g = ds.gpp.values[:, 0]
    assert t[north][:, jul].mean() > t[north][:, jan].mean() + 10
    assert t[south][:, jan].mean() > t[south][:, jul].mean() + 3
    assert g[north][:, jul].mean() > 3 * g[north][:, jan].mean()
    assert g[south][:, jan].mean() > g[south][:, jul].mean()


def test_interannual_variability(years):
    a, b = (ds.temperature_2m.mean("step").values.ravel() for ds in years)
    assert np.abs(a - b).mean() > 0.1
    lc_a, lc_b = (ds.land_cover_type_10.values.ravel() for ds in years)
    assert not np.allclose(lc_a, lc_b)  # land cover drifts from year to year


def test_ground_truth_varies_in_space_and_stays_out_of_features(gen):
    gt = gen.ground_truth()
    for col in HIDDEN_FIELDS + TRUE_PARAMETERS:
        assert col in gt and gt[col].std() > 0
        assert col not in FEATURE_NAMES
    assert len(gt) == len(gen.cells)


def test_gpp_depends_on_hidden_lue(gen, years):
    # same climate, different hidden efficiency -> different GPP: partial correlation > 0
    gt = gen.ground_truth()
    ds = years[0]
    annual = ds.gpp.values[:, 0].sum(1)
    fapar_par = (1 - np.exp(-0.5 * (ds.leaf_area_index_high_vegetation
                                    + ds.leaf_area_index_low_vegetation))).values[:, 0].mean(1)
    resid = np.log1p(annual) - np.polyval(np.polyfit(fapar_par, np.log1p(annual), 2), fapar_par)
    assert np.corrcoef(resid, gt["lue_max"])[0, 1] > 0.2


def test_determinism_and_chunk_invariance(years):
    cells = build_land_grid(6.0)
    again = next(SyntheticGPP(cells, (2019, 2020), seed=1, cells_per_chunk=37).iter_years())
    for v in ("gpp", "temperature_2m", "volumetric_soil_water_layer_3", "land_cover_type_3"):
        np.testing.assert_array_equal(again[v].values, years[0][v].values)
    other = next(SyntheticGPP(cells, (2019,), seed=2).iter_years())
    assert not np.allclose(other.gpp.values, years[0].gpp.values)


def test_gpp_as_daily_rate(gen, years):
    mean_gen = SyntheticGPP(gen.cells, (2019, 2020), seed=1, gpp_aggregation="mean")
    ds = next(mean_gen.iter_years())
    _, nd = step_calendar(2019)
    np.testing.assert_allclose(ds.gpp.values[:, 0] * nd, years[0].gpp.values[:, 0], rtol=1e-5)
    assert ds.gpp.attrs["units"] == "g C m-2 d-1"
    with pytest.raises(ValueError, match="gpp_aggregation"):
        SyntheticGPP(gen.cells, (2019,), gpp_aggregation="median")
    with pytest.raises(ValueError, match="sorted and unique"):
        SyntheticGPP(gen.cells, (2020, 2019))


def test_toa_insolation_fao56_example_8():
    # FAO-56 example 8: 3 September (day 246) at 20 deg S -> Ra = 32.2 MJ m-2 d-1
    assert toa_insolation_mj(np.array([-20.0]), np.array([246]))[0, 0] == pytest.approx(32.2, abs=0.1)
    # polar night
    assert toa_insolation_mj(np.array([80.0]), np.array([355]))[0, 0] == 0.0


def test_smooth_field_is_continuous_across_the_antimeridian():
    rng = np.random.default_rng(0)
    xyz = lonlat_to_unit_sphere(np.array([179.99, -179.99, 0.0]), np.array([10.0, 10.0, 10.0]))
    f = smooth_sphere_field(xyz, rng)
    assert abs(f[0] - f[1]) < 1e-3
    lat = rng.uniform(-60, 80, 5000)
    lon = rng.uniform(-180, 180, 5000)
    big = smooth_sphere_field(lonlat_to_unit_sphere(lon, lat), np.random.default_rng(1))
    assert 0.5 < big.std() < 1.5


def test_step_calendar_leap_year():
    starts, nd = step_calendar(2020)
    assert nd.sum() == 366 and nd[-1] == 6 and (nd[:-1] == 8).all()
    assert starts[1] == np.datetime64("2020-01-09")
    assert step_calendar(2019)[1].sum() == 365
