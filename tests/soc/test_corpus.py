"""Stage 01 of the SOC study on the smoke profile: corpus, covariates, SOC, splits, patches."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy.stats import skew

from geohet_lib.config import SOC_REGIONS
from geohet_lib.io import read_json
from geohet_lib.soc.covariates import (CATALOGUE, CATEGORICAL_COLUMNS, CATEGORY_LABELS,
                                       COVARIATE_GROUPS, COVARIATE_NAMES, ELEVATION_COLUMN,
                                       GROUP_SIZES, NDVI_COLUMN, SLOPE_COLUMN, UNITS)
from geohet_lib.soc.harmonise import assign_area
from geohet_lib.soc.patches import (CHANNELS, NpyPatchSource, PatchSource,
                                    SyntheticPatchSource, patch_statistics, write_patches)
from geohet_lib.soc.split import quantile_strata
from geohet_lib.soc.stage01 import (build_soc_corpus, load_corpus, load_ground_truth,
                                    open_patches, select_region)
from geohet_lib.soc.synthetic import HIDDEN_FIELDS, SOC_MAX_GKG, SOC_MIN_GKG, TRUE_COEFFICIENTS


@pytest.fixture(scope="module")
def built(tmp_path_factory, smoke_profile):
    out = tmp_path_factory.mktemp("soc_smoke")
    manifest = build_soc_corpus(smoke_profile, out, seed=0, progress=False)
    return out, manifest


@pytest.fixture(scope="module")
def corpus(built):
    return load_corpus(built[0])


@pytest.fixture(scope="module")
def truth(built):
    return load_ground_truth(built[0])


def test_covariate_catalogue():
    assert len(COVARIATE_NAMES) == 63 == len(set(COVARIATE_NAMES))
    assert {g: len(v) for g, v in COVARIATE_GROUPS.items()} == GROUP_SIZES
    assert sum(GROUP_SIZES.values()) == 63
    assert COVARIATE_GROUPS["spectral"][:3] == ("blue_p10", "blue_p50", "blue_p90")
    assert COVARIATE_GROUPS["spectral"][-3:] == ("ndvi_p10", "ndvi_p50", "ndvi_p90")
    assert COVARIATE_GROUPS["land_characteristics"] == CATEGORICAL_COLUMNS == (
        "land_use", "parent_material", "agro_ecological_zone")
    assert COVARIATE_GROUPS["topography"] == ("elevation", "slope", "aspect", "tpi",
                                              "topo_diversity", "chi")
    assert {"sos", "eos", "pos", "evi_amplitude", "n_cycles"} <= set(COVARIATE_GROUPS["phenology"])
    assert set(UNITS) == set(COVARIATE_NAMES) and all(UNITS.values())
    assert (NDVI_COLUMN, ELEVATION_COLUMN, SLOPE_COLUMN) == ("ndvi_p50", "elevation", "slope")


def test_counts_per_area_and_columns(corpus, smoke_profile):
    cfg = smoke_profile.soc
    counts = corpus["area"].value_counts()
    assert counts["africa"] == cfg.samples("africa") and counts["europe"] == cfg.samples("europe")
    assert len(corpus) == cfg.samples("global")
    assert counts["other"] == cfg.samples("global") - cfg.samples("africa") - cfg.samples("europe")
    meta = ["sample_id", "area", "source", "lat", "lon", "year", "doy", "depth_top_cm",
            "depth_bottom_cm", "soc_gkg"]
    assert list(corpus.columns[:10]) == meta
    assert list(corpus.columns[10:73]) == list(COVARIATE_NAMES)
    assert all(corpus[c].dtype == np.float32 for c in COVARIATE_NAMES)
    assert corpus["sample_id"].is_unique
    assert not set(HIDDEN_FIELDS) & set(corpus.columns)  # hidden fields stay hidden
    assert {"AfSIS", "iSDAsoil", "LUCAS", "SOCPDB"} <= set(corpus["source"])
    y0, y1 = smoke_profile.soc.years
    assert corpus["year"].between(y0, y1).all() and corpus["doy"].between(1, 366).all()
    assert (corpus["depth_top_cm"] == 0).all() and (corpus["depth_bottom_cm"] <= 30).all()


def test_locations_on_land_in_their_area(corpus):
    from global_land_mask import globe

    lat, lon = corpus["lat"].to_numpy(), corpus["lon"].to_numpy()
    assert globe.is_land(lat, lon).all()
    assert (assign_area(lat, lon) == corpus["area"].to_numpy()).all()
    eu = corpus[corpus["area"] == "europe"]
    assert eu["lat"].between(34, 72).all() and eu["lon"].between(-25, 33).all()


def _nn_km(df):
    from scipy.spatial import cKDTree

    from geohet_lib.geo import EARTH_RADIUS_KM, lonlat_to_unit_sphere

    xyz = lonlat_to_unit_sphere(df["lon"].to_numpy(), df["lat"].to_numpy()) * EARTH_RADIUS_KM
    d, _ = cKDTree(xyz).query(xyz, k=2)
    return d[:, 1]


def test_sampling_designs(corpus):
    afsis = corpus[corpus["source"] == "AfSIS"]
    lucas = corpus[corpus["source"] == "LUCAS"]
    # AfSIS: tight clusters (nearest neighbour within a few km); LUCAS: a regular grid
    assert np.median(_nn_km(afsis)) < 3.0
    nn = _nn_km(lucas)
    assert np.median(nn) > 30.0 and nn.std() / nn.mean() < 0.6
    assert afsis["year"].nunique() <= afsis.shape[0]
    assert set(lucas["year"]) <= {2015, 2018}


def test_covariate_values_plausible_and_consistent(corpus):
    for name in COVARIATE_NAMES:
        c = CATALOGUE[name]
        v = corpus[name].dropna()
        assert v.between(c.valid_min, c.valid_max).all(), name
    nd = corpus[["ndvi_p10", "ndvi_p50", "ndvi_p90"]].dropna()
    assert (nd["ndvi_p10"] < nd["ndvi_p50"]).all() and (nd["ndvi_p50"] < nd["ndvi_p90"]).all()
    for b in ("blue", "red", "nir", "swir2"):
        v = corpus[[f"{b}_p10", f"{b}_p50", f"{b}_p90"]].dropna().to_numpy()
        assert (np.diff(v, axis=1) > 0).all(), b
    t = corpus[["temp_coldest_quarter", "temp_mean_annual", "temp_warmest_quarter"]].dropna()
    assert (t.diff(axis=1).iloc[:, 1:] >= -1e-3).all().all()
    p = corpus[["precip_driest_month", "precip_wettest_month", "precip_wettest_quarter",
                "precip_annual"]].dropna()
    assert (p.diff(axis=1).iloc[:, 1:] >= -1e-2).all().all()
    ok = corpus[["lat", "temp_mean_annual", "precip_annual", "ndvi_p50"]].dropna()
    assert np.corrcoef(np.abs(ok["lat"]), ok["temp_mean_annual"])[0, 1] < -0.6
    assert np.corrcoef(np.log(ok["precip_annual"]), ok["ndvi_p50"])[0, 1] > 0.2
    for c in CATEGORICAL_COLUMNS:
        v = corpus[c].dropna()
        assert (v == np.round(v)).all() and v.max() < len(CATEGORY_LABELS[c])
    assert corpus["land_use"].nunique() >= 4
    assert (corpus["elevation"].dropna() >= 0).all() and corpus["slope"].median() < 15


def test_missing_values_random_and_in_blocks(corpus, built):
    na = corpus[list(COVARIATE_NAMES)].isna()
    frac = na.to_numpy().mean()
    assert 0.005 < frac < 0.08
    assert na.all(axis=0).sum() == 0 and na.any(axis=0).all()
    pheno = na[list(COVARIATE_GROUPS["phenology"])].all(axis=1)
    assert pheno.sum() >= 3  # whole phenology group missing for some samples (a block)
    assert built[1]["covariates"]["missing_fraction"] == pytest.approx(frac)


def test_soc_distribution_like_table3(corpus):
    s = corpus["soc_gkg"].to_numpy()
    assert np.isfinite(s).all()
    assert s.min() >= SOC_MIN_GKG and s.max() <= SOC_MAX_GKG
    assert 8.0 < s.mean() < 30.0 and 6.0 < np.median(s) < 25.0
    assert s.mean() > np.median(s) and skew(s) > 0.5  # right-skewed
    ls = np.log(s)
    assert abs(skew(ls)) < 0.6 and 0.35 < ls.std() < 0.9  # roughly log-normal
    assert (s == SOC_MAX_GKG).mean() < 0.05


def test_ground_truth(corpus, truth):
    assert list(truth["sample_id"]) == list(corpus["sample_id"])
    for c in (*HIDDEN_FIELDS, *TRUE_COEFFICIENTS, "log_soc_mean", "noise_sd", "noise_spatial",
              "noise_iid", "image_signal"):
        assert c in truth.columns and truth[c].notna().all(), c
    latent = truth["log_soc_mean"] + truth["noise_spatial"] + truth["noise_iid"]
    np.testing.assert_allclose(latent, truth["log_soc_latent"])
    np.testing.assert_allclose(np.clip(np.exp(latent), SOC_MIN_GKG, SOC_MAX_GKG),
                               corpus["soc_gkg"])
    for c in TRUE_COEFFICIENTS:  # heterogeneous: the coefficients vary over space
        assert truth[c].std() > 0.1 * abs(truth[c].mean()), c
    assert truth["noise_sd"].std() > 0.01  # heteroscedastic
    assert np.corrcoef(np.log(corpus["soc_gkg"]), truth["image_signal"])[0, 1] > 0.1
    # the truth explains most of log SOC; the noise the rest
    r2 = np.corrcoef(truth["log_soc_mean"], np.log(corpus["soc_gkg"]))[0, 1] ** 2
    assert 0.6 < r2 < 0.98


def test_split_files(built, corpus, smoke_profile):
    out, _ = built
    split = pd.read_parquet(out / "split.parquet")
    assert list(split.columns) == ["sample_id", "in_africa", "in_europe", "in_global",
                                   "split_africa", "split_europe", "split_global"]
    assert split["in_global"].all()
    assert (split["in_africa"] == (corpus["area"] == "africa")).all()
    for region in SOC_REGIONS:
        inside = split[f"in_{region}"]
        lab = split[f"split_{region}"]
        assert lab[~inside].isna().all() and set(lab[inside]) == {"train", "val", "test"}
        n = inside.sum()
        frac = lab[inside].value_counts() / n
        assert abs(frac["train"] - 0.9) < 0.01 and abs(frac["val"] - 0.05) < 0.01
        soc = corpus.loc[inside.to_numpy(), "soc_gkg"].to_numpy()
        strata = quantile_strata(soc, smoke_profile.soc.n_strata)
        for b in np.unique(strata):  # every stratum is split in proportion
            m = strata == b
            assert abs((lab[inside].to_numpy()[m] == "train").sum() - 0.9 * m.sum()) <= 2
    sub = select_region(corpus, "europe")
    assert len(sub) == smoke_profile.soc.samples("europe") and (sub["area"] == "europe").all()
    assert list(sub.index) == list(np.flatnonzero(corpus["area"] == "europe"))
    assert len(select_region(corpus, "global")) == len(corpus)
    with pytest.raises(ValueError, match="unknown region"):
        select_region(corpus, "asia")


def test_manifest(built, smoke_profile):
    out, m = built
    assert read_json(out / "manifest.json") == m
    assert m["profile"] == "smoke" and m["seed"] == 0 and m["created"]
    assert m["counts"]["region"] == {r: smoke_profile.soc.samples(r) for r in SOC_REGIONS}
    g = m["soc_summary"]["global"]
    assert g["n"] == smoke_profile.soc.samples("global")
    assert {"mean", "sd", "median", "min", "max", "skewness"} <= set(g)
    assert m["paper_table3"]["median"] == 12.22
    assert m["covariates"]["n"] == 63
    assert m["patches"]["kind"] == "npy"
    log = (out / "run_log.jsonl").read_text().strip().splitlines()
    assert '"stage": "soc_01_corpus"' in log[-1]


def test_patches_written_and_round_trip(built, corpus, truth, smoke_profile):
    out, _ = built
    src = open_patches(out)
    assert isinstance(src, NpyPatchSource) and isinstance(src, PatchSource)
    assert len(src) == len(corpus) and src.patch_size == smoke_profile.soc.patch_size
    assert src.channels == CHANNELS == {"s2": 11, "s1": 2, "dem": 1}
    ids = np.array([5, 0, 799, 5])
    got = src.get(ids)
    p = smoke_profile.soc.patch_size
    for k, c in CHANNELS.items():
        assert got[k].shape == (4, c, p, p) and got[k].dtype == np.float32
    syn = SyntheticPatchSource(corpus, truth, p, seed=0)
    ref = syn.get(ids)
    for k in CHANNELS:
        np.testing.assert_array_equal(got[k], ref[k])
        np.testing.assert_array_equal(got[k][0], got[k][3])
    with pytest.raises(IndexError):
        src.get(np.array([len(corpus)]))


def test_synthetic_patches_deterministic_and_carry_the_signal(corpus, truth, tmp_path):
    a = SyntheticPatchSource(corpus, truth, 24, seed=3)
    b = SyntheticPatchSource(corpus, truth, 24, seed=3)
    one = a.get(np.array([7]))
    many = b.get(np.array([1, 7, 9]))
    for k in CHANNELS:
        np.testing.assert_array_equal(one[k][0], many[k][1])  # by sample, not by batch
        assert np.isfinite(many[k]).all()
    c = SyntheticPatchSource(corpus, truth, 24, seed=4).get(np.array([7]))
    assert not np.array_equal(one["s2"], c["s2"])
    ids = np.arange(300)
    stats = patch_statistics(a.get(ids))
    img = truth["image_signal"].to_numpy()[ids]
    assert np.corrcoef(np.log(stats["texture_energy"]), img)[0, 1] > 0.5
    assert np.corrcoef(stats["ndvi_mean"], truth["true_ndvi_p50"].to_numpy()[ids])[0, 1] > 0.5
    np.testing.assert_allclose(stats["dem_mean"], truth["true_elevation"].to_numpy()[ids],
                               atol=5.0)
    s2 = a.get(ids[:20])["s2"]
    assert s2.min() >= 0 and s2.max() <= 1
    # write a subset and read it back (float16 storage halves the size)
    folder = write_patches(a, tmp_path / "sub", ids=np.array([9, 2]), chunk=1, dtype="float16")
    back = NpyPatchSource(folder)
    assert len(back) == 2 and back.meta["dtype"] == "float16"
    ref = a.get(np.array([9, 2]))
    for k in CHANNELS:
        np.testing.assert_allclose(back.get(np.array([0, 1]))[k], ref[k], rtol=1e-3, atol=0.05)
    with pytest.raises(ValueError, match="ground truth lacks"):
        SyntheticPatchSource(corpus, truth.drop(columns=["image_signal"]), 8)
    with pytest.raises(FileNotFoundError, match="s2.npy"):
        NpyPatchSource(tmp_path)


def test_determinism_and_seed(built, corpus, smoke_profile, tmp_path):
    same = tmp_path / "same"
    m = build_soc_corpus(smoke_profile, same, seed=0, progress=False, write_patches_max=0)
    c2 = load_corpus(same)
    for col in ("lat", "lon", "year", "soc_gkg", "ndvi_p50", "elevation", "split_global"):
        pd.testing.assert_series_equal(corpus[col], c2[col])
    pd.testing.assert_frame_equal(load_ground_truth(built[0]), load_ground_truth(same))
    # patches: procedural here, materialised in the first build; identical values
    assert m["patches"]["kind"] == "procedural" and not (same / "patches").exists()
    proc = open_patches(same)
    assert isinstance(proc, SyntheticPatchSource)
    ids = np.array([3, 400, 650])
    np.testing.assert_array_equal(proc.get(ids)["s2"], open_patches(built[0]).get(ids)["s2"])
    other = tmp_path / "other"
    build_soc_corpus(smoke_profile, other, seed=1, progress=False, write_patches_max=0)
    c3 = load_corpus(other)
    assert not np.allclose(corpus["soc_gkg"], c3["soc_gkg"])
    assert not np.allclose(corpus["lat"], c3["lat"])


def test_profile_errors(smoke_profile, tmp_path):
    bad = dataclasses.replace(smoke_profile, soc=dataclasses.replace(
        smoke_profile.soc, n_samples=(("africa", 10), ("europe", 10), ("global", 15))))
    with pytest.raises(ValueError, match="global"):
        build_soc_corpus(bad, tmp_path / "bad")
    with pytest.raises(FileNotFoundError, match="stage 01"):
        load_corpus(tmp_path / "nothing")
