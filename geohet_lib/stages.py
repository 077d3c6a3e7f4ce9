"""Stages as units: all of a stage's artefacts or none (DESIGN.md, data flow).

A stage writes every artefact into a fresh staging folder beside its outputs
(``.staging-<unit>-*``). When it has finished, :func:`staged` hashes each artefact, writes the
unit's manifest (the list of artefacts with their SHA-256 and size, the inputs it was built
from) into that folder and commits by **one rename** of the folder to ``.publish-<unit>``.
Publishing then moves the artefacts into place, the manifest last, and removes artefacts of an
earlier run that this one did not produce (an old synthetic ground truth after a real run).
An interruption before the commit leaves the old result untouched; one after it is completed
by :func:`recover`, which every loader calls first (roll forward, as a database log does). So a
later stage sees the complete old result or the complete new one, never a mix.

Loaders read a manifest with :func:`read_unit_manifest` (artefacts present, sizes as written)
and check what it was built for with :func:`check_built_for` (profile, seed, source, the key
of the stage upstream); each refusal names the notebook to rerun. :func:`content_key` is a
result's identity: the hash of its artefacts' hashes, so caches keyed by it (sample cache,
sweeps) are never reused for other data and an identical rebuild keeps them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import StageMismatchError
from .io import read_json, write_json
from .runtime import LOG, size_bytes

__all__ = ["StagedWrite", "staged", "recover", "artefact_digest", "read_unit_manifest",
           "check_built_for", "check_trained_on", "content_key", "StageMismatchError"]

_PUBLISH = ".publish-"
_STAGING = ".staging-"
_TRASH = ".trash-"
_WARNED_LEGACY: set[str] = set()  # legacy manifests already warned about in this process


@dataclass
class StagedWrite:
    """The staging folder of one unit: write artefacts to ``dir / name``; set ``manifest``."""

    dir: Path
    out_dir: Path
    unit: str
    manifest_name: str
    manifest: dict[str, Any] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        """Where the stage writes artefact ``name`` (a file or folder name, no sub-path)."""
        return self.dir / name


def _hash_file(path: Path, h) -> int:
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return path.stat().st_size


def artefact_digest(path: str | Path) -> dict[str, Any]:
    """``{"sha256", "bytes", "kind"}`` of a file, or of a folder (relative paths and
    contents of every file in sorted order)."""
    path = Path(path)
    h = hashlib.sha256()
    if path.is_dir():
        size = 0
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f.relative_to(path).as_posix().encode() + b"\0")
            size += _hash_file(f, h)
        return {"sha256": h.hexdigest(), "bytes": size, "kind": "folder"}
    size = _hash_file(path, h)
    return {"sha256": h.hexdigest(), "bytes": size, "kind": "file"}


def content_key(manifest: Mapping[str, Any]) -> str:
    """A result's identity: SHA-256 (16 hex digits) of its artefacts' hashes and its inputs.

    Manifests written before artefacts were hashed fall back to their creation time, which
    changes with every build."""
    if "artefacts" in manifest:
        basis = {"artefacts": {k: v["sha256"] for k, v in manifest["artefacts"].items()},
                 "upstream": manifest.get("upstream")}
    else:
        basis = {"created": manifest.get("created")}
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]


@contextmanager
def staged(out_dir: str | Path, unit: str, manifest_name: str,
           owns: Iterable[str] = ()) -> Iterator[StagedWrite]:
    """Stage a unit's artefacts and publish them together (module docstring).

    ``owns``: every artefact name this unit may produce; those not produced this time are
    removed when the new result is published. The stage sets ``st.manifest`` (a dict) and
    writes its artefacts with ``st.path(name)``; every top-level entry of the staging folder
    is an artefact. On an exception nothing is published and the staging folder is removed.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    recover(out_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f"{_STAGING}{unit}-{os.getpid()}-", dir=out_dir))
    st = StagedWrite(tmp, out_dir, unit, manifest_name)
    try:
        yield st
        names = sorted(p.name for p in tmp.iterdir() if p.name != manifest_name)
        manifest = {**st.manifest, "unit": unit, "files": names,
                    "owns": sorted(set(owns) | set(names)),
                    "artefacts": {n: artefact_digest(tmp / n) for n in names}}
        write_json(manifest, tmp / manifest_name)
        st.manifest = manifest
        os.rename(tmp, out_dir / f"{_PUBLISH}{unit}")  # the commit point
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _roll_forward(out_dir / f"{_PUBLISH}{unit}", out_dir, manifest_name)


def _replace(src: Path, dst: Path) -> None:
    """Move ``src`` onto ``dst`` (a file by one rename; a folder by two, the old one to
    a trash name that :func:`recover` empties)."""
    if src.is_dir() and dst.exists():
        trash = dst.with_name(f"{_TRASH}{dst.name}")
        shutil.rmtree(trash, ignore_errors=True)
        if dst.is_dir():
            dst.rename(trash)
        else:
            dst.unlink()
    elif not src.is_dir() and dst.is_dir():
        shutil.rmtree(dst)
    os.replace(src, dst)


def _roll_forward(pub: Path, out_dir: Path, manifest_name: str) -> None:
    """Publish a committed unit (idempotent: an interrupted publish is resumed here)."""
    manifest = read_json(pub / manifest_name)
    for name in sorted(set(manifest.get("owns", [])) - set(manifest["files"])):
        stale = out_dir / name
        if stale.exists():
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
            LOG.warning("%s: removed (an earlier run's %s; this run did not produce it)",
                        stale, name)
    for name in manifest["files"]:
        if (pub / name).exists():
            _replace(pub / name, out_dir / name)
    os.replace(pub / manifest_name, out_dir / manifest_name)
    shutil.rmtree(pub, ignore_errors=True)
    for trash in out_dir.glob(f"{_TRASH}*"):
        shutil.rmtree(trash, ignore_errors=True)


def recover(out_dir: str | Path) -> list[str]:
    """Finish publishing units that were committed but interrupted; drop uncommitted staging
    folders and trash. Returns the units completed."""
    out_dir = Path(out_dir)
    done = []
    if not out_dir.is_dir():
        return done
    for pub in sorted(out_dir.glob(f"{_PUBLISH}*")):
        names = [p for p in pub.iterdir() if p.suffix == ".json" and p.is_file()]
        manifest_name = next((p.name for p in names
                              if _is_unit_manifest(p, pub.name[len(_PUBLISH):])), None)
        if manifest_name is None and not any(pub.iterdir()):
            pub.rmdir()  # published in full; only the removal of the empty folder was cut off
            continue
        if manifest_name is None:  # cannot happen after a commit; never guess
            raise StageMismatchError(f"{pub} holds no unit manifest; delete it and rerun "
                                     "the stage that wrote it")
        LOG.warning("%s: completing the publication of %s interrupted in an earlier run",
                    out_dir, pub.name[len(_PUBLISH):])
        _roll_forward(pub, out_dir, manifest_name)
        done.append(pub.name[len(_PUBLISH):])
    for leftover in out_dir.glob(f"{_STAGING}*"):
        if not _writer_alive(leftover.name):
            shutil.rmtree(leftover, ignore_errors=True)
    for trash in out_dir.glob(f"{_TRASH}*"):
        shutil.rmtree(trash, ignore_errors=True) if trash.is_dir() else trash.unlink()
    return done


def _writer_alive(staging_name: str) -> bool:
    """Whether the process that made a staging folder (its pid is in the name) still runs,
    so that another process's recovery never removes a stage being written."""
    try:
        pid = int(staging_name.rsplit("-", 2)[-2])
    except (ValueError, IndexError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_unit_manifest(path: Path, unit: str) -> bool:
    try:
        return read_json(path).get("unit") == unit
    except (ValueError, OSError):
        return False


def read_unit_manifest(out_dir: str | Path, manifest_name: str, rerun: str) -> dict[str, Any]:
    """A published unit's manifest, after :func:`recover`; each artefact must be present with
    the size it was written with, else :class:`StageMismatchError` naming ``rerun``.

    Manifests written before artefacts were recorded are accepted with a warning."""
    out_dir = Path(out_dir)
    recover(out_dir)
    path = out_dir / manifest_name
    if not path.exists():
        raise FileNotFoundError(f"no {manifest_name} in {out_dir}: run {rerun} for this "
                                "profile first")
    manifest = read_json(path)
    if "artefacts" not in manifest:
        if str(path) in _WARNED_LEGACY:
            return manifest
        _WARNED_LEGACY.add(str(path))
        LOG.warning("%s was written before geohet recorded artefact hashes; rerun %s to have "
                    "its outputs checked", path, rerun)
        return manifest
    for name, rec in manifest["artefacts"].items():
        p = out_dir / name
        if not p.exists():
            raise StageMismatchError(f"{p} is missing but {path} lists it: rerun {rerun}")
        size = size_bytes(p)
        if size != rec["bytes"]:
            raise StageMismatchError(f"{p} has {size} bytes but {path} says {rec['bytes']}: "
                                     f"it changed after the stage wrote it; rerun {rerun}")
    return manifest


def check_built_for(manifest: Mapping[str, Any], what: str, rerun: str,
                    **expected: Any) -> None:
    """Refuse a result built for something else: every given ``expected`` key (``profile``,
    ``seed``, ``source``, ``upstream``...) must equal the manifest's. An expected value of
    None is not checked; a manifest that records None for a key (e.g. ``seed`` of real data)
    does not depend on it; a manifest without the key is refused."""
    bad = {k: (manifest.get(k), v) for k, v in expected.items()
           if v is not None and (k not in manifest or manifest[k] is not None)
           and manifest.get(k) != v}
    if bad:
        said = "; ".join(f"{k} is {got!r}, this run asks for {want!r}"
                         for k, (got, want) in bad.items())
        raise StageMismatchError(f"{what} was built for another run ({said}): rerun {rerun} "
                                 "with this run's settings")


def check_trained_on(hparams: Mapping[str, Any], data_key: str, path: str | Path,
                     rerun: str) -> None:
    """Refuse a checkpoint trained on other data than ``data_key`` (its hyper-parameters'
    ``data_key``, :class:`geohet_lib.engine.BaseTask`); one written before keys were kept is
    accepted with a warning."""
    got = hparams.get("data_key")
    if got is None:
        if str(path) not in _WARNED_LEGACY:
            _WARNED_LEGACY.add(str(path))
            LOG.warning("%s was trained before geohet recorded the data it was trained on; "
                        "rerun %s to have it checked", path, rerun)
        return
    if got != data_key:
        raise StageMismatchError(f"{path} was trained on other data (key {got}) than the "
                                 f"stage-01/02 result now beside it ({data_key}): rerun {rerun}")
