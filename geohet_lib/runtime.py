"""Seeding, device choice and stage logging shared by every stage."""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .paths import RUN_LOG_NAME

LOG = logging.getLogger("geohet")


class _LevelStreamHandler(logging.StreamHandler):
    """Records below WARNING to ``sys.stdout``, the rest to ``sys.stderr``, looked up at each
    record (a Jupyter kernel or pytest may swap the streams after the handler is made).

    In a notebook INFO lines then read as ordinary output, and only warnings and errors get
    the red stderr box.
    """

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout if record.levelno < logging.WARNING else sys.stderr
        super().emit(record)


def setup_logging(level: int = logging.INFO) -> logging.Logger:
    """Send geohet's log lines, with a timestamp, to stdout (INFO) and stderr (WARNING and
    above), once (idempotent)."""
    if not any(isinstance(h, _LevelStreamHandler) for h in LOG.handlers):
        handler = _LevelStreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s",
                                               "%H:%M:%S"))
        LOG.addHandler(handler)
    LOG.setLevel(level)
    return LOG


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch (when installed); return a NumPy ``Generator``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    try:
        import torch

        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return np.random.default_rng(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    """The torch seed of epoch ``epoch`` of a run seeded with ``seed`` (dropout, shuffling).

    A function of ``(seed, epoch)`` only, so a run resumed from a checkpoint draws the same
    numbers in its later epochs as the uninterrupted run.
    """
    return seed * 100_003 + epoch


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far, in GiB (``ru_maxrss``: KiB on Linux).

    What the benchmarks report as peak memory; a child process's is its own.
    """
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def get_device(device: str = "auto") -> "torch.device":  # noqa: F821
    """``"auto"``: CUDA when present, CPU otherwise; ``"cpu"``/``"cuda"`` force one.

    Asking for CUDA on a machine without it is an error, not a silent fallback.
    """
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} was asked for but torch sees no CUDA device; "
                           "use device='cpu' or 'auto'")
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda'")
    return torch.device(device)


@dataclass
class StageRecord:
    """What one stage wrote and how long it took; appended to ``run_log.jsonl``."""

    stage: str
    out_dir: Path
    written: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    seconds: float = 0.0

    def wrote(self, path: str | Path) -> Path:
        """Record that ``path`` was written; returns it for chaining."""
        self.written.append(str(path))
        return Path(path)


@contextmanager
def stage_log(stage: str, out_dir: str | Path) -> Iterator[StageRecord]:
    """Time a stage and log each artefact it wrote, with sizes, to ``<out_dir>/run_log.jsonl``."""
    setup_logging()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rec = StageRecord(stage=stage, out_dir=out_dir)
    t0 = time.perf_counter()
    LOG.info("stage %s: start (out: %s)", stage, out_dir)
    yield rec
    rec.seconds = time.perf_counter() - t0
    files = []
    for p in rec.written:
        size = size_bytes(Path(p))
        files.append({"path": p, "bytes": size})
        LOG.info("stage %s wrote %s (%.1f MB)", stage, p, size / 1e6)
    LOG.info("stage %s: done in %.1f s", stage, rec.seconds)
    entry = {"stage": stage, "seconds": round(rec.seconds, 3), "files": files,
             "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), **rec.extra}
    with open(out_dir / RUN_LOG_NAME, "a") as fh:
        fh.write(json.dumps(entry, default=str) + "\n")


def size_bytes(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (0 when it does not exist)."""
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size if path.exists() else 0
