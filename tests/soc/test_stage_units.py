"""SOC stages as units (issue: no mixed artefacts, no stale ground truth, regions with data)."""

import shutil

import numpy as np
import pandas as pd
import pytest

from geohet_lib.config import get_profile
from geohet_lib.soc import stage03 as s3
from geohet_lib.soc.covariates import COVARIATE_NAMES
from geohet_lib.soc.harmonise import InputDataError
from geohet_lib.soc.stage01 import (build_real_soc_corpus, build_soc_corpus, load_corpus,
                                    load_ground_truth, read_manifest, regions_with_samples)
from geohet_lib.soc.stage02 import build_soc_graphs, load_soc_graph
from geohet_lib.stages import StageMismatchError, artefact_digest


def real_csv(tmp_path, n=64, europe=True):
    """A user's sample file of ``n`` rows (Kenya, and France when ``europe``)."""
    rng = np.random.default_rng(0)
    half = n // 2
    lat = np.r_[rng.uniform(-3, 3, half), rng.uniform(45, 48, n - half) if europe
                else rng.uniform(-3, 3, n - half)]
    lon = np.r_[rng.uniform(34, 38, half), rng.uniform(1, 5, n - half) if europe
                else rng.uniform(34, 38, n - half)]
    df = pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)], "lat": lat, "lon": lon,
                       "year": 2019, "depth_top_cm": 0, "depth_bottom_cm": 20,
                       "soc_value": rng.lognormal(2.5, 0.6, n), "soc_unit": "g/kg"})
    for c in COVARIATE_NAMES:
        df[c] = rng.normal(size=n)
    path = tmp_path / "samples.csv"
    df.to_csv(path, index=False)
    return path


def patches(tmp_path, n):
    d = tmp_path / f"patches_{n}"
    d.mkdir()
    for key, c in (("s2", 11), ("s1", 2), ("dem", 1)):
        np.save(d / f"{key}.npy", np.zeros((n, c, 8, 8), np.float32))
    return d


def digests(out):
    return {p.name: artefact_digest(p)["sha256"] for p in sorted(out.iterdir())
            if not p.name.startswith(".") and p.name != "run_log.jsonl"}


@pytest.fixture()
def synthetic(smoke_dir, tmp_path):
    """A copy of the smoke stages 01-02 (synthetic, seed 0) to break."""
    out = tmp_path / "soc"
    shutil.copytree(smoke_dir, out)
    return out


def test_a_failed_stage01_leaves_the_old_corpus_whole(synthetic, tmp_path):
    """The issue's case: 50 patches for a 64-row file fails; nothing of it is published."""
    before = digests(synthetic)
    n_old = read_manifest(synthetic)["counts"]["total"]
    csv, pdir = real_csv(tmp_path), patches(tmp_path, 50)
    users = {p: p.read_bytes() for p in [csv, *sorted(pdir.iterdir())]}
    with pytest.raises(InputDataError, match="50 patches but the sample file has 64 rows"):
        build_real_soc_corpus(get_profile("smoke"), synthetic, csv, patches_dir=pdir)
    assert digests(synthetic) == before
    assert {p: p.read_bytes() for p in users} == users  # the user's files only read
    assert len(load_corpus(synthetic)) == n_old and read_manifest(synthetic)["source"] == "synthetic"
    assert not [p for p in synthetic.iterdir() if p.name.startswith(".")]


def test_real_after_synthetic_has_no_ground_truth_and_old_graphs_are_refused(synthetic,
                                                                              tmp_path):
    m = build_real_soc_corpus(get_profile("smoke"), synthetic, real_csv(tmp_path),
                              patches_dir=patches(tmp_path, 64))
    assert m["source"] == "real" and "ground_truth.parquet" not in m["files"]
    assert not (synthetic / "ground_truth.parquet").exists()
    with pytest.raises(FileNotFoundError, match="real corpora have no ground truth"):
        load_ground_truth(synthetic)
    with pytest.raises(StageMismatchError, match=r"graph_africa.pt.*upstream.*rerun stage 02"):
        load_soc_graph(synthetic, "africa")  # built from the synthetic corpus
    with pytest.raises(StageMismatchError, match="rerun stage 02"):
        s3.prepare_region(synthetic, "smoke", "africa")


def test_stage02_refuses_a_corpus_of_another_seed_or_profile(synthetic):
    build_soc_corpus(get_profile("smoke"), synthetic, seed=1, progress=False)
    with pytest.raises(StageMismatchError, match=r"seed is 1, this run asks for 0.*rerun stage 01"):
        build_soc_graphs("smoke", synthetic, regions=["africa"], seed=0, progress=False)
    with pytest.raises(StageMismatchError, match="profile is 'smoke'"):
        build_soc_graphs("default", synthetic, regions=["africa"], seed=1, progress=False)
    build_soc_graphs("smoke", synthetic, regions=["africa"], seed=1, progress=False)
    assert load_soc_graph(synthetic, "africa").num_nodes == len(
        load_corpus(synthetic).query("in_africa"))


def test_an_africa_only_corpus_runs_on_africa_and_says_so(tmp_path, caplog):
    out = tmp_path / "af"
    build_real_soc_corpus(get_profile("smoke"), out, real_csv(tmp_path, n=120, europe=False))
    with caplog.at_level("WARNING", logger="geohet"):
        build_soc_graphs("smoke", out, regions=["africa", "europe"], progress=False)
        run, skipped = s3.regions_with_data(out, ["africa", "europe"])
    assert run == ["africa"] and skipped == ["europe"]
    assert regions_with_samples(load_corpus(out)) == ["africa", "global"]
    assert regions_with_samples(load_corpus(out), ["europe", "africa"]) == ["africa"]
    assert "['europe'] have no samples" in caplog.text
    with pytest.raises(ValueError, match=r"region 'europe' has no samples.*\['africa', 'global'\]"):
        s3.check_region(out, "europe")
    with pytest.raises(FileNotFoundError, match=r"no graph for region\(s\) \['global'\].*stage 02"):
        s3.check_region(out, "global")
    s3.check_region(out, "africa")


def test_stage02_removes_the_graph_of_a_region_the_new_corpus_lacks(synthetic, tmp_path):
    assert (synthetic / "graph_africa.pt").exists()
    build_real_soc_corpus(get_profile("smoke"), synthetic, real_csv(tmp_path, europe=True))
    df = pd.read_csv(tmp_path / "samples.csv")
    df = df[df["lat"] > 30]  # Europe only now
    df.to_csv(tmp_path / "europe.csv", index=False)
    build_real_soc_corpus(get_profile("smoke"), synthetic, tmp_path / "europe.csv")
    build_soc_graphs("smoke", synthetic, regions=["africa", "europe"], progress=False)
    assert not (synthetic / "graph_africa.pt").exists()
    assert not (synthetic / "graph_africa.json").exists()
    assert (synthetic / "graph_europe.pt").exists()
