"""Stage 01 end to end from real-format files (tiny NetCDFs the test writes)."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from geohet_lib.config import get_profile
from geohet_lib.gpp import dataset as gds
from geohet_lib.gpp.stage01 import build_real_gpp
from geohet_lib.gpp.variables import ERA5_VARIABLES
from geohet_lib.paths import TRUTH_NAME


def _write_sources(tmp_path):
    t = pd.date_range("2019-01-01", "2020-12-31", freq="D")
    lat = np.arange(85.0, -90.0, -10.0)
    lon = np.arange(-175.0, 180.0, 10.0)
    rng = np.random.default_rng(0)
    shape = (t.size, lat.size, lon.size)
    era5 = xr.Dataset({v.name: (("time", "latitude", "longitude"),
                                (0.5 * (v.valid_min + v.valid_max)
                                 + 0.01 * abs(v.valid_max) * rng.random(shape)).astype(np.float32),
                                {"units": v.units}) for v in ERA5_VARIABLES},
                      coords={"time": t, "latitude": lat, "longitude": lon})
    era5.to_netcdf(tmp_path / "era5.nc")
    years = pd.to_datetime(["2019-01-01", "2020-01-01"])
    pct = rng.random((2, 17, lat.size, lon.size))
    pct = 100 * pct / pct.sum(1, keepdims=True)
    xr.Dataset({"Land_Cover_Type_1_Percent": (("time", "class", "lat", "lon"), pct,
                                              {"units": "%"})},
               coords={"time": years, "class": np.arange(17), "lat": lat, "lon": lon}
               ).to_netcdf(tmp_path / "modis.nc")
    steps = pd.DatetimeIndex([d for y in (2019, 2020)
                              for d in pd.date_range(f"{y}-01-01", periods=46, freq="8D")])
    xr.Dataset({"GPP": (("time", "lat", "lon"), rng.random((steps.size, lat.size, lon.size)) * 5,
                        {"units": "g C m-2 d-1"})},
               coords={"time": steps, "lat": lat, "lon": lon}).to_netcdf(tmp_path / "pml.nc")
    return [tmp_path / f for f in ("era5.nc", "modis.nc", "pml.nc")]


def test_build_real_gpp_writes_the_stage01_layout(tmp_path):
    files = _write_sources(tmp_path)
    before = [f.read_bytes() for f in files]
    prof = get_profile("smoke", grid_res_deg=10.0, years=(2019, 2020), test_years=(2020,))
    out = tmp_path / "out"
    m = build_real_gpp(prof, out, *files, progress=False)
    assert m["source"] == "real" and m["years"] == [2019, 2020] and m["test_years"] == [2020]
    ds = gds.open_gpp_dataset(out)
    assert ds.sizes["step"] == 46 and ds.attrs["source"] == "real"
    assert ds["gpp"].attrs["units"] == "g C m-2"
    assert np.isfinite(ds["gpp"].values).all()
    lc = sum(ds[f"land_cover_type_{k}"] for k in range(17))
    np.testing.assert_allclose(lc.values, 1.0, atol=1e-5)
    # 8-day rate x days: the last step of 2020 has 6 days
    assert ds["step_days"].sel(year=2020).values[-1] == 6
    assert not (out / TRUTH_NAME).exists()
    assert [f.read_bytes() for f in files] == before  # the user's files are untouched


def test_build_real_gpp_needs_all_paths(tmp_path):
    with pytest.raises(ValueError, match="needs era5_path"):
        build_real_gpp(get_profile("smoke"), tmp_path, None, "m.nc", "p.nc")


def test_a_real_run_removes_an_earlier_synthetic_run_s_ground_truth(tmp_path):
    """The synthetic truth left in a reused data folder must not pass for this data's."""
    files = _write_sources(tmp_path)
    prof = get_profile("smoke", grid_res_deg=10.0, years=(2019, 2020), test_years=(2020,))
    out = tmp_path / "out"
    out.mkdir()
    pd.DataFrame({"cell": [0], "porosity": [0.4]}).to_parquet(out / TRUTH_NAME)
    build_real_gpp(prof, out, *files, progress=False)
    assert not (out / TRUTH_NAME).exists()
