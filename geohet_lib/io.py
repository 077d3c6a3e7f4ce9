"""Atomic writes: a temporary file (or folder) beside the target, then a rename.

An interrupted run never leaves a half-written artefact that a later stage would trust
(DESIGN.md, data flow).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd


@contextmanager
def atomic_path(target: str | Path, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``.

    With ``directory=True`` the temporary path is a folder (for Zarr stores). On an
    exception the temporary is removed and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(name)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual file mode
    try:
        yield tmp
        if directory:
            if target.exists():
                old = target.with_name(f".{target.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                target.rename(old)
                tmp.rename(target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(target)
        else:
            os.replace(tmp, target)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_json(obj: Any, target: str | Path) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n")
    return Path(target)


def read_json(path: str | Path) -> Any:
    """Read a JSON file written by :func:`write_json`."""
    return json.loads(Path(path).read_text())


def write_parquet(df: pd.DataFrame, target: str | Path) -> Path:
    """Write a DataFrame to Parquet, atomically."""
    with atomic_path(target) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(target)


def torch_save(obj: Any, target: str | Path) -> Path:
    """``torch.save`` atomically (graphs, checkpoints)."""
    import torch

    with atomic_path(target) as tmp:
        torch.save(obj, tmp)
    return Path(target)


def resume_checkpoint(path: str | Path, device, model, optimizer, scheduler=None,
                      expected: dict[str, Any] | None = None,
                      what: str = "configuration") -> dict[str, Any]:
    """Load a training checkpoint written by :func:`torch_save` and restore its states.

    Every entry of ``expected`` (e.g. ``{"model_config": ..., "settings": ...}``) must equal
    the checkpoint's, else ``ValueError`` ("written for another <what>"), so a run never
    resumes from another configuration's weights. Restores ``model``, ``optimizer`` and
    ``scheduler`` (when given) in place; returns the checkpoint for the loop's own counters.
    """
    import torch

    ck = torch.load(path, map_location=device, weights_only=False)
    if any(ck.get(k) != v for k, v in (expected or {}).items()):
        raise ValueError(f"{path} was written for another {what}; delete it or give "
                         "resume=False")
    model.load_state_dict(ck["model"])
    optimizer.load_state_dict(ck["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(ck["scheduler"])
    return ck


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
