import numpy as np
import pandas as pd
import pytest
import xarray as xr

from geohet_lib.gpp import dataset as gds
from geohet_lib.paths import GPP_DATASET_NAME
from geohet_lib.gpp.land_grid import build_land_grid
from geohet_lib.gpp.synthetic import SyntheticGPP
from geohet_lib.gpp.variables import FEATURE_NAMES


def test_running_moments_match_numpy():
    rng = np.random.default_rng(0)
    blocks = [rng.normal(5, 3, size=s) for s in (10, 1000, (20, 7))]
    m = gds.RunningMoments()
    for b in blocks:
        m.update("x", b)
    m.update("x", np.array([np.nan]))
    allv = np.concatenate([b.ravel() for b in blocks])
    row = m.table().set_index("variable").loc["x"]
    assert row["mean"] == pytest.approx(allv.mean(), rel=1e-12)
    assert row["std"] == pytest.approx(allv.std(), rel=1e-12)
    assert row["count"] == allv.size


def test_stage01_outputs(smoke_gpp_dir, smoke_profile):
    m = gds.read_manifest(smoke_gpp_dir)
    g = smoke_profile.gpp
    assert m["years"] == list(g.years) and m["test_years"] == [2020]
    assert m["n_samples"] == m["n_cells"] * len(g.years) * 46
    assert m["variables"]["gpp"]["shape"] == [m["n_cells"], len(g.years), 46]
    assert m["variables"]["land_cover_type_0"]["dims"] == ["cell", "year"]
    assert m["seed"] == 0 and m["profile"] == "smoke" and m["source"] == "synthetic"
    for f in m["files"]:
        assert (smoke_gpp_dir / f).exists()
    ds = gds.open_gpp_dataset(smoke_gpp_dir)
    assert list(ds["year"].values) == list(g.years)
    assert ds.sizes["cell"] == m["n_cells"]


def test_normalisation_uses_training_years_only(smoke_gpp_dir):
    ds = gds.open_gpp_dataset(smoke_gpp_dir)
    stats = gds.read_normalisation(smoke_gpp_dir)
    assert "gpp" not in stats.index and set(stats.index) == set(FEATURE_NAMES)
    train, test = gds.split_by_year(ds, [2020])
    for v in ("temperature_2m", "total_precipitation_sum", "land_cover_type_12"):
        a = train[v].values.astype(np.float64)
        assert stats.loc[v, "mean"] == pytest.approx(a.mean(), rel=1e-6)
        assert stats.loc[v, "std"] == pytest.approx(a.std(), rel=1e-5)
        z = gds.normalise(train, stats)[v].values
        assert abs(z.mean()) < 1e-4 and z.std() == pytest.approx(1.0, abs=1e-4)
    assert "gpp" in gds.normalise(ds, stats) and gds.normalise(ds, stats)["gpp"].identical(ds["gpp"])


def test_no_leakage_from_test_year(tmp_path):
    cells = build_land_grid(10.0)
    years = list(SyntheticGPP(cells, (2018, 2019, 2020), seed=0).iter_years())
    gds.write_gpp_dataset(iter(years), tmp_path / "a", (2018, 2019), (2020,), cells,
                          progress=False)
    shifted = years[-1].copy(deep=True)
    for v in FEATURE_NAMES:
        shifted[v] = shifted[v] * 3 + 100
    gds.write_gpp_dataset(iter(years[:-1] + [shifted]), tmp_path / "b", (2018, 2019), (2020,),
                          cells, progress=False)
    pd.testing.assert_frame_equal(gds.read_normalisation(tmp_path / "a"),
                                  gds.read_normalisation(tmp_path / "b"))


def test_writer_errors_and_atomicity(tmp_path):
    cells = build_land_grid(10.0)
    years = list(SyntheticGPP(cells, (2019, 2020), seed=0).iter_years())
    with pytest.raises(ValueError, match="both training and test"):
        gds.write_gpp_dataset(iter(years), tmp_path, (2019, 2020), (2020,), cells, progress=False)
    with pytest.raises(ValueError, match="increasing order"):
        gds.write_gpp_dataset(iter(years[::-1]), tmp_path, (2019,), (2020,), cells,
                              progress=False)
    assert not (tmp_path / GPP_DATASET_NAME).exists()  # interrupted: nothing half-written
    with pytest.raises(ValueError, match="lacks variables"):
        gds.write_gpp_dataset(iter([years[0].drop_vars("gpp")]), tmp_path, (2019,), (2020,),
                              cells, progress=False)
    with pytest.raises(FileNotFoundError, match=r"run stage 01 \(notebooks/01_dataset_building.ipynb\)"):
        gds.open_gpp_dataset(tmp_path)
    with pytest.raises(ValueError, match="not in the data"):
        gds.write_gpp_dataset(iter(years[1:]), tmp_path, (2019,), (2020,), cells, progress=False)


def test_split_by_year_errors(smoke_gpp_dir):
    ds = gds.open_gpp_dataset(smoke_gpp_dir)
    tr, te = gds.split_by_year(ds, [2020])
    assert list(te.year.values) == [2020] and 2020 not in tr.year.values
    with pytest.raises(ValueError, match="not in the dataset"):
        gds.split_by_year(ds, [1999])
