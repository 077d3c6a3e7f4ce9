"""Stages as units (geohet_lib.stages): staged writes, one-rename commit, roll-forward."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from geohet_lib import stages
from geohet_lib.stages import (StageMismatchError, artefact_digest, check_built_for,
                               check_trained_on, content_key, read_unit_manifest, recover,
                               staged)

UNIT, MANIFEST = "demo", "demo.json"


def write_unit(out: Path, tag: str, with_extra: bool = True, fail_after: str | None = None):
    """A unit of three artefacts (a file, a folder of two files, an optional file)."""
    with staged(out, UNIT, MANIFEST, owns=("a.txt", "folder", "extra.txt")) as st:
        st.path("a.txt").write_text(f"a {tag}")
        if fail_after == "a":
            raise RuntimeError("injected")
        (st.path("folder")).mkdir()
        (st.path("folder") / "x.bin").write_bytes(tag.encode() * 10)
        (st.path("folder") / "y.bin").write_bytes(b"y" + tag.encode())
        if with_extra:
            st.path("extra.txt").write_text(f"extra {tag}")
        st.manifest = {"tag": tag, "profile": "smoke", "seed": 0}
    return st.manifest


def state(out: Path) -> dict[str, str]:
    """Every visible artefact's text (files and folder members), for comparing results."""
    got = {}
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out).as_posix()
        if p.is_file() and not rel.startswith("."):
            got[rel] = p.read_bytes().decode()
    return got


def test_publish_writes_every_artefact_and_hashes(tmp_path):
    m = write_unit(tmp_path, "one")
    assert m["files"] == ["a.txt", "extra.txt", "folder"] and m["unit"] == UNIT
    on_disk = json.loads((tmp_path / MANIFEST).read_text())
    assert on_disk == json.loads(json.dumps(m))
    assert m["artefacts"]["a.txt"]["sha256"] == hashlib.sha256(b"a one").hexdigest()
    assert m["artefacts"]["folder"]["bytes"] == 30 + 4 and m["artefacts"]["folder"]["kind"] == "folder"
    assert read_unit_manifest(tmp_path, MANIFEST, "notebook 01")["tag"] == "one"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_folder_digest_sees_names_and_contents(tmp_path):
    for name in ("p", "q", "r"):
        (tmp_path / name).mkdir()
    (tmp_path / "p" / "a").write_bytes(b"12")
    (tmp_path / "q" / "b").write_bytes(b"12")  # same content, other name
    (tmp_path / "r" / "a").write_bytes(b"13")
    d = [artefact_digest(tmp_path / n)["sha256"] for n in "pqr"]
    assert len(set(d)) == 3


def test_content_key_is_the_artefacts_identity(tmp_path):
    k1 = content_key(write_unit(tmp_path / "x", "one"))
    k2 = content_key(write_unit(tmp_path / "y", "one"))  # identical rebuild, other time
    k3 = content_key(write_unit(tmp_path / "z", "two"))
    assert k1 == k2 != k3
    assert content_key({"created": "t1"}) != content_key({"created": "t2"})  # legacy


def test_failure_before_commit_keeps_the_old_result(tmp_path):
    write_unit(tmp_path, "old")
    before = state(tmp_path)
    with pytest.raises(RuntimeError, match="injected"):
        write_unit(tmp_path, "new", fail_after="a")
    assert state(tmp_path) == before
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_stale_artefact_of_an_earlier_run_is_removed(tmp_path, caplog):
    write_unit(tmp_path, "old", with_extra=True)
    m = write_unit(tmp_path, "new", with_extra=False)
    assert not (tmp_path / "extra.txt").exists() and "extra.txt" not in m["files"]
    assert "extra.txt" in caplog.text and "did not produce it" in caplog.text


class Injected(BaseException):
    """Stands for Ctrl-C or a killed process at one filesystem step."""


def _count_steps(tmp_path, monkeypatch) -> int:
    """Renames and folder removals of one publish (each a point where a run can stop)."""
    calls = []
    real_rename, real_replace, real_rmdir = os.rename, os.replace, os.rmdir
    monkeypatch.setattr(os, "rename", lambda *a: (calls.append(a), real_rename(*a))[1])
    monkeypatch.setattr(os, "replace", lambda *a: (calls.append(a), real_replace(*a))[1])
    monkeypatch.setattr(os, "rmdir", lambda *a, **k: (calls.append(a), real_rmdir(*a, **k))[1])
    write_unit(tmp_path / "count", "old")
    calls.clear()
    write_unit(tmp_path / "count", "new", with_extra=False)
    monkeypatch.undo()
    return len(calls)


def test_an_interruption_at_every_step_gives_old_or_new_never_a_mix(tmp_path, monkeypatch):
    n_steps = _count_steps(tmp_path, monkeypatch)
    assert n_steps >= 6  # commit, three artefacts, the manifest, removing the publish folder
    write_unit(tmp_path / "ref_old", "old")
    write_unit(tmp_path / "ref_new", "new", with_extra=False)
    old, new = state(tmp_path / "ref_old"), state(tmp_path / "ref_new")
    seen = set()
    for k in range(n_steps + 1):
        out = tmp_path / f"run{k}"
        write_unit(out, "old")
        real_rename, real_replace, real_rmdir = os.rename, os.replace, os.rmdir
        count = [0]

        def step(real, *a, **kw):
            if count[0] == k:
                raise Injected(f"step {k}")
            count[0] += 1
            return real(*a, **kw)

        monkeypatch.setattr(os, "rename", lambda *a: step(real_rename, *a))
        monkeypatch.setattr(os, "replace", lambda *a: step(real_replace, *a))
        monkeypatch.setattr(os, "rmdir", lambda *a, **kw: step(real_rmdir, *a, **kw))
        try:
            write_unit(out, "new", with_extra=False)
        except Injected:
            pass
        finally:
            monkeypatch.undo()
        read_unit_manifest(out, MANIFEST, "notebook 01")  # the next stage's load recovers
        got = state(out)
        assert got in (old, new), f"interrupted at step {k}: a mix {got}"
        seen.add("old" if got == old else "new")
    assert seen == {"old", "new"}  # before the commit the old, after it the new


def test_changed_or_missing_artefact_is_refused(tmp_path):
    write_unit(tmp_path, "one")
    (tmp_path / "folder" / "x.bin").write_bytes(b"tampered")
    with pytest.raises(StageMismatchError, match=r"folder has 12 bytes.*rerun notebook 01"):
        read_unit_manifest(tmp_path, MANIFEST, "notebook 01")
    (tmp_path / "a.txt").unlink()
    with pytest.raises(StageMismatchError, match=r"a.txt is missing.*rerun notebook 01"):
        read_unit_manifest(tmp_path, MANIFEST, "notebook 01")
    with pytest.raises(FileNotFoundError, match="run notebook 01 for this profile first"):
        read_unit_manifest(tmp_path / "empty", MANIFEST, "notebook 01")


def test_legacy_manifest_is_read_with_a_warning(tmp_path, caplog):
    (tmp_path / MANIFEST).write_text(json.dumps({"created": "2026-01-01", "files": []}))
    assert read_unit_manifest(tmp_path, MANIFEST, "notebook 01")["created"] == "2026-01-01"
    assert "before geohet recorded artefact hashes" in caplog.text


def test_check_built_for_names_what_differs_and_the_fix():
    m = {"profile": "smoke", "seed": 0, "source": "synthetic", "upstream": "abc"}
    check_built_for(m, "the graph", "notebook 02", profile="smoke", seed=None)
    check_built_for({"seed": None}, "real data", "notebook 01", seed=3)  # not seeded
    with pytest.raises(StageMismatchError, match="upstream is None"):  # a legacy manifest
        check_built_for({}, "the graph", "notebook 02", upstream="abc")
    with pytest.raises(StageMismatchError) as err:
        check_built_for(m, "the graph", "notebook 02", seed=1, upstream="def")
    msg = str(err.value)
    assert "seed is 0, this run asks for 1" in msg and "upstream is 'abc'" in msg
    assert "rerun notebook 02" in msg


def test_check_trained_on(caplog):
    check_trained_on({"data_key": "abc"}, "abc", "best.ckpt", "stage 03")
    with pytest.raises(StageMismatchError, match=r"best.ckpt was trained on other data \(key "
                                                 r"abc\).*\(def\): rerun stage 03"):
        check_trained_on({"data_key": "abc"}, "def", "best.ckpt", "stage 03")
    check_trained_on({}, "def", "old.ckpt", "stage 03")  # written before keys were kept
    assert "old.ckpt was trained before geohet recorded" in caplog.text


def test_recover_keeps_a_live_writers_staging_and_drops_a_dead_ones(tmp_path):
    live = tmp_path / f".staging-demo-{os.getpid()}-abc"
    live.mkdir()
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = tmp_path / f".staging-demo-{int(proc.stdout)}-xyz"
    dead.mkdir()
    (tmp_path / ".trash-old").mkdir()
    assert recover(tmp_path) == []
    assert live.exists() and not dead.exists() and not (tmp_path / ".trash-old").exists()


def test_an_emptied_publish_folder_is_a_finished_publish(tmp_path):
    """Cut off after the manifest moved in (only the empty folder left): nothing to redo."""
    write_unit(tmp_path, "one")
    (tmp_path / ".publish-demo").mkdir()
    assert recover(tmp_path) == [] and not (tmp_path / ".publish-demo").exists()
    assert read_unit_manifest(tmp_path, MANIFEST, "notebook 01")["tag"] == "one"


def test_a_committed_publish_without_its_manifest_is_never_guessed(tmp_path):
    (tmp_path / ".publish-demo").mkdir()
    (tmp_path / ".publish-demo" / "a.txt").write_text("x")
    with pytest.raises(StageMismatchError, match="holds no unit manifest"):
        recover(tmp_path)


def test_module_is_listed():
    assert set(stages.__all__) >= {"staged", "recover", "read_unit_manifest", "content_key"}
