"""Seeded sweeps over model configurations, for both studies' ablations (stage 04).

A sweep trains every variant (a named configuration) with every seed. Each finished run is a
small JSON file named by the hash of its configuration and its seed, so a rerun trains only
what changed and an interrupted sweep resumes where it stopped. :func:`summarise` gives the
mean ± standard deviation over seeds; :func:`geohet_lib.tables.noise_verdict` judges a claim
against that noise.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .io import atomic_path, read_json, write_json
from .progress import progress_bar
from .runtime import LOG


def config_key(config: Mapping[str, Any]) -> str:
    """A 16-hex-digit hash of ``config`` (key order does not matter; values by ``str``)."""
    text = json.dumps(dict(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class RunCache:
    """One JSON file per (configuration, seed) under ``root``: ``<key>_seed<seed>.json``.

    ``upstream``: the content key of the data the runs train on
    (:func:`geohet_lib.stages.content_key`); a record of other data (stage 01 rebuilt with
    another seed, or from real files) is not reused."""

    def __init__(self, root: str | Path, upstream: str | None = None):
        self.root = Path(root)
        self.upstream = upstream

    def path(self, config: Mapping[str, Any], seed: int) -> Path:
        return self.root / f"{config_key(config)}_seed{int(seed)}.json"

    def get(self, config: Mapping[str, Any], seed: int) -> dict | None:
        """The cached record of this run, or None. A record whose configuration differs from
        ``config`` (a hash collision, or an edited file) is ignored with a warning."""
        path = self.path(config, seed)
        if not path.exists():
            return None
        rec = read_json(path)
        if rec.get("config") != json.loads(json.dumps(dict(config), default=str)):
            LOG.warning("%s holds another configuration; it will be retrained", path)
            return None
        if self.upstream is not None and rec.get("upstream") != self.upstream:
            LOG.warning("%s was trained on other data (stage-01 key %s, now %s); it will be "
                        "retrained", path, rec.get("upstream"), self.upstream)
            return None
        return rec

    def put(self, config: Mapping[str, Any], seed: int, metrics: Mapping[str, float],
            seconds: float, arrays: Mapping[str, np.ndarray] | None = None) -> dict:
        """Write the run's record atomically; returns it. ``arrays`` (a run's predictions)
        go to ``<key>_seed<seed>.npz`` first, so a record never points at a missing file."""
        rec = {"config": json.loads(json.dumps(dict(config), default=str)), "seed": int(seed),
               "upstream": self.upstream,
               "metrics": {k: float(v) for k, v in metrics.items()},
               "seconds": round(float(seconds), 3), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
        self.root.mkdir(parents=True, exist_ok=True)
        if arrays is not None:
            with atomic_path(self.arrays_path(config, seed)) as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})
            rec["arrays"] = sorted(arrays)
        write_json(rec, self.path(config, seed))
        return rec

    def arrays_path(self, config: Mapping[str, Any], seed: int) -> Path:
        return self.root / f"{config_key(config)}_seed{int(seed)}.npz"

    def get_arrays(self, config: Mapping[str, Any], seed: int) -> dict[str, np.ndarray] | None:
        """The arrays stored with the run (None when the run or its arrays are missing)."""
        rec = self.get(config, seed)
        path = self.arrays_path(config, seed)
        if rec is None or "arrays" not in rec or not path.exists():
            return None
        with np.load(path) as z:
            return {k: z[k] for k in z.files}


def run_sweep(variants: Mapping[str, Mapping[str, Any]], seeds: Sequence[int],
              train: Callable[[str, Mapping[str, Any], int], Mapping[str, float]],
              cache: RunCache, desc: str = "sweep") -> pd.DataFrame:
    """Train every variant with every seed through ``train(name, config, seed) -> metrics``,
    reusing cached runs. One row per run: ``variant, seed, <metrics>, seconds, cached``.

    Variants whose configurations are equal are trained once and reported under each name.
    """
    jobs = [(name, cfg, int(s)) for name, cfg in variants.items() for s in seeds]
    rows = []
    for name, cfg, seed in progress_bar(jobs, desc=desc, unit="run"):
        rec, cached = cache.get(cfg, seed), True
        if rec is None:
            cached = False
            t0 = time.perf_counter()
            metrics = train(name, cfg, seed)
            rec = cache.put(cfg, seed, metrics, time.perf_counter() - t0)
            LOG.info("%s: %s seed %d: %s (%.0f s)", desc, name, seed,
                     ", ".join(f"{k} {v:.4g}" for k, v in rec["metrics"].items()), rec["seconds"])
        rows.append({"variant": name, "seed": seed, **rec["metrics"], "seconds": rec["seconds"],
                     "cached": cached})
    return pd.DataFrame(rows)


def run_cached(config: Mapping[str, Any], seeds: Sequence[int],
               train: Callable[[int], tuple[Mapping[str, np.ndarray], Mapping[str, float]]],
               cache: RunCache, desc: str = "runs"
               ) -> tuple[list[dict[str, np.ndarray]], list[dict], list[bool]]:
    """:func:`run_sweep` for runs that keep arrays (e.g. an ensemble's member predictions):
    one configuration, every seed; ``train(seed) -> (arrays, metrics)`` runs only for seeds
    whose arrays are not cached. Returns each seed's arrays, cache record and whether it was
    read from the cache."""
    arrays, records, cached = [], [], []
    for seed in progress_bar(list(seeds), desc=desc, unit="run"):
        got = cache.get_arrays(config, seed)
        cached.append(got is not None)
        if got is None:
            t0 = time.perf_counter()
            got, metrics = train(int(seed))
            rec = cache.put(config, seed, metrics, time.perf_counter() - t0, arrays=got)
            LOG.info("%s: seed %d: %s (%.0f s)", desc, seed,
                     ", ".join(f"{k} {v:.4g}" for k, v in rec["metrics"].items()), rec["seconds"])
        arrays.append(dict(got))
        records.append(cache.get(config, seed))
    return arrays, records, cached


def summarise(runs: pd.DataFrame, metrics: Sequence[str], by: str = "variant") -> pd.DataFrame:
    """Mean and standard deviation (ddof = 1) of each metric over seeds, one row per ``by``
    value in order of first appearance: ``<m> mean``, ``<m> std``, ``seeds``."""
    order = list(dict.fromkeys(runs[by]))
    g = runs.groupby(by, sort=False)
    out = pd.DataFrame(index=pd.Index(order, name=by))
    for m in metrics:
        out[f"{m} mean"] = g[m].mean().reindex(order)
        out[f"{m} std"] = g[m].std(ddof=1).reindex(order)
    out["seeds"] = g["seed"].count().reindex(order).astype(int)
    return out.reset_index()


def mean_pm_std(mean: float, std: float, fmt: str = ".3f") -> str:
    """``"4.917 ± 0.022"``; the std is left out where it is NaN (one seed)."""
    if np.isnan(std):
        return format(mean, fmt)
    return f"{format(mean, fmt)} ± {format(std, fmt)}"
