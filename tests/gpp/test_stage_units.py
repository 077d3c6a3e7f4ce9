"""GPP stages as units: an interruption anywhere gives the old or the new result, never a mix;
later stages refuse results built from another stage 01."""

import os
import shutil

import numpy as np
import pytest

from geohet_lib.gpp import dataset as gds
from geohet_lib.gpp.land_grid import build_land_grid
from geohet_lib.gpp.samples import open_sample_cache
from geohet_lib.gpp.stage01 import build_synthetic_gpp
from geohet_lib.gpp.stage02 import build_stage02, load_stage02_graph
from geohet_lib.gpp.synthetic import SyntheticGPP
from geohet_lib.stages import StageMismatchError, artefact_digest

CELLS = build_land_grid(10.0)


class Injected(BaseException):
    """Stands for Ctrl-C or a killed process at one filesystem step."""


def write(out, seed):
    years = SyntheticGPP(CELLS, (2019, 2020), seed=seed).iter_years()
    truth = SyntheticGPP(CELLS, (2019, 2020), seed=seed).ground_truth()
    return gds.write_gpp_dataset(years, out, (2019,), (2020,), CELLS, ground_truth=truth,
                                 manifest_extra={"seed": seed}, progress=False)


def gpp_mean(out) -> float:
    return float(gds.open_gpp_dataset(out)["gpp"].mean())


def check_whole(out) -> int:
    """What the next stage sees is one complete result: every artefact hashes as its manifest
    says and the data are those of the manifest's seed. Returns that seed."""
    m = gds.read_manifest(out)
    for name, rec in m["artefacts"].items():
        assert artefact_digest(out / name)["sha256"] == rec["sha256"], name
    return m["seed"]


def steps(monkeypatch, k_fail=None):
    """Count (or fail at) renames: os.rename / os.replace, which Path.rename also calls."""
    seen = []
    real = {"rename": os.rename, "replace": os.replace}

    def wrap(name):
        def f(src, dst, *a, **kw):
            if k_fail is not None and len(seen) == k_fail:
                raise Injected(f"step {k_fail}: {name} {src} -> {dst}")
            seen.append(str(dst))
            return real[name](src, dst, *a, **kw)
        return f

    monkeypatch.setattr(os, "rename", wrap("rename"))
    monkeypatch.setattr(os, "replace", wrap("replace"))
    return seen


def test_an_interruption_at_every_publishing_step_gives_old_or_new(tmp_path, monkeypatch):
    write(tmp_path / "count", 0)
    seen = steps(monkeypatch)
    write(tmp_path / "count", 1)
    monkeypatch.undo()
    commit = next(i for i, d in enumerate(seen) if ".publish-" in d)
    means = {}
    for s in (0, 1):
        write(tmp_path / f"ref{s}", s)
        means[s] = gpp_mean(tmp_path / f"ref{s}")
    assert means[0] != means[1]
    # every step from the last write inside the staging folder to the end
    got = {}
    for k in range(max(commit - 2, 0), len(seen) + 1):
        out = tmp_path / f"run{k}"
        write(out, 0)
        steps(monkeypatch, k_fail=k)
        try:
            write(out, 1)
        except Injected:
            pass
        finally:
            monkeypatch.undo()
        seed = check_whole(out)
        assert gpp_mean(out) == pytest.approx(means[seed], rel=1e-6)
        got[k] = seed
    assert got[commit] == 0 and got[commit + 1] == 1  # before the commit: old; after: new


def test_interrupt_right_after_the_store_moved_in_is_completed(tmp_path, monkeypatch, caplog):
    """The issue's case: new Zarr in place, old manifest and statistics beside it."""
    out = tmp_path / "d"
    write(out, 0)
    seen = steps(monkeypatch)
    write(tmp_path / "count", 0)
    seen.clear()
    write(tmp_path / "count", 1)
    monkeypatch.undo()
    k = next(i for i, d in enumerate(seen) if d.endswith(gds.GPP_DATASET_NAME)) + 1
    steps(monkeypatch, k_fail=k)
    with pytest.raises(Injected):
        write(out, 1)
    monkeypatch.undo()
    assert (out / ".publish-gpp_stage01").exists()
    with caplog.at_level("WARNING", logger="geohet"):
        assert check_whole(out) == 1
    assert "completing the publication of gpp_stage01" in caplog.text
    ref = tmp_path / "ref"
    write(ref, 1)
    assert gpp_mean(out) == pytest.approx(gpp_mean(ref))
    assert gds.read_normalisation(out).equals(gds.read_normalisation(ref))


def test_later_stages_refuse_another_stage01(smoke_gpp_dir, smoke_profile, tmp_path):
    out = tmp_path / "gpp"
    shutil.copytree(smoke_gpp_dir, out)
    build_stage02(smoke_profile, out, seed=0, progress=False)
    key0 = open_sample_cache(out).source_key
    load_stage02_graph(out)
    build_synthetic_gpp(smoke_profile, out, seed=1, progress=False)
    with pytest.raises(StageMismatchError, match=r"stcg.pt.*upstream.*rerun stage 02"):
        load_stage02_graph(out)
    with pytest.raises(StageMismatchError, match=r"seed is 1, this run asks for 0.*rerun stage 01"):
        build_stage02(smoke_profile, out, seed=0, progress=False)
    with pytest.raises(StageMismatchError, match="seed is 1"):
        gds.read_manifest(out, profile="smoke", seed=0)
    assert open_sample_cache(out).source_key != key0  # the cache follows the data
    build_stage02(smoke_profile, out, seed=1, progress=False)
    assert load_stage02_graph(out).num_nodes > 0


def test_a_rebuild_of_the_same_data_keeps_the_caches(tmp_path):
    from geohet_lib.stages import content_key

    assert content_key(write(tmp_path / "a", 0)) == content_key(write(tmp_path / "a", 0))
    assert np.isfinite(gpp_mean(tmp_path / "a"))
