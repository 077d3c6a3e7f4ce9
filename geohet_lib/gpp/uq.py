"""Stage 05 of the GPP study, beyond the paper (which has no uncertainty at all): GeoHet with a
variance head, a deep ensemble, temperature scaling on the validation year and calibration
under spatial shift.

* Model: stage 03's GeoHet (profile widths, stage 02's graph) with a second linear head giving
  a bounded log-variance per 8-day step (:class:`~geohet_lib.gpp.model.GeoHetConfig`
  ``variance_head``), trained with the beta-NLL of the SOC paper (Eq. 5, beta = 0.5): the
  plain NLL lets high-variance samples starve the mean's gradient (Seitzer et al. 2022), and
  a hybrid's MSE warm start would spend much of a short CPU budget without the head.
* Split (:func:`shift_split`): stage 03's temporal split (fit on the training years but the
  last, validate on that year, test on the test year) restricted to the cells **outside** a
  set of held-out spatial blocks (:func:`~geohet_lib.gpp.stage03.spatial_block_split`, 20°
  blocks, ~20 % of the cells). The test year is predicted on every cell: the cells seen in
  training ("in-distribution") and the held-out blocks ("unseen regions"), so one ensemble
  answers both "is it calibrated?" and "does the calibration survive a spatial shift?".
* Members: the same examples, epochs and constant learning rate for each, seeds ``seed``,
  ``seed + 1``, …; cached by configuration and seed under ``data/gpp/<profile>/uq/members``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..config import Profile
from ..sweep import RunCache, run_cached
from ..uq.ensemble import EnsemblePrediction, aggregate
from .samples import SampleCache
from .stage03 import Split, make_geohet, spatial_block_split, subsample_examples

BETA = 0.5
LOSS = "beta_nll"


@dataclass
class ShiftSplit:
    """:class:`Split` whose test examples cover every cell, and which of them are unseen."""

    split: Split
    unseen: np.ndarray  # (n_test,) bool: the test example's cell lies in a held-out block
    description: str


def shift_split(cache: SampleCache, cells: pd.DataFrame, graph, manifest: Mapping[str, Any],
                max_train: int | None = None, max_val: int | None = None, seed: int = 0,
                block_deg: float = 20.0, holdout_fraction: float = 0.2) -> ShiftSplit:
    """Training and validation on the cells outside held-out spatial blocks (subsampled once
    with ``seed``), the test year on all cells with the held-out ones flagged."""
    sb = spatial_block_split(cache, cells, graph, manifest["train_years"],
                             manifest["test_years"], block_deg, holdout_fraction, seed)
    rng = np.random.default_rng(seed)
    train = subsample_examples(sb.train, max_train, rng)
    val = subsample_examples(sb.val, max_val, rng)
    test = cache.examples(list(manifest["test_years"]))
    unseen = np.isin(test[:, 0], np.unique(sb.test[:, 0]))
    desc = (f"{sb.description}; {len(train):,} training and {len(val):,} validation cell-years "
            f"on the other cells; test year on all {cache.n_cells:,} cells "
            f"({int(unseen.sum()) // max(len(manifest['test_years']), 1):,} unseen)")
    return ShiftSplit(replace(sb, train=train, val=val, test=test, description=desc), unseen,
                      desc)


def member_config(profile: Profile, epochs: int, max_train: int | None,
                  max_val: int | None) -> dict[str, Any]:
    """The cached identity of one member's run (the seed is the cache's other key)."""
    return {"study": "gpp", "stage": "05", "profile": profile.name, "epochs": int(epochs),
            "max_train_examples": max_train, "max_val_examples": max_val, "loss": LOSS,
            "beta": BETA, "split": "spatial blocks 20 deg, 20 %, seed 0"}


def train_member(profile: Profile, graph, cache: SampleCache, split: Split, seed: int,
                 epochs: int, device: Any = "cpu") -> tuple[dict[str, np.ndarray], dict]:
    """One member: GeoHet + variance head, beta-NLL, constant lr, best validation NLL epoch.
    Returns the predictive mean and variance (GPP units) of the validation and test examples
    and a few scores."""
    from .train import TrainConfig, fit, predict_dist

    torch.manual_seed(seed)
    model, mcfg = make_geohet(profile, graph, cache.features.shape[-1], variance_head=True)
    tc = TrainConfig(epochs=epochs, batch_size=profile.gpp.batch_size, patience=None,
                     seed=seed, decay_epoch=epochs, loss=LOSS, beta=BETA)
    model, hist, y_scale = fit(model, cache, split.train, split.val, split.cell_cluster, tc,
                               device=device, model_config=mcfg.to_dict(), progress=False)
    out = {}
    for part, ex in (("val", split.val), ("test", split.test)):
        mean, var = predict_dist(model, cache, ex, split.cell_cluster, y_scale, device=device)
        out[f"{part}_mean"], out[f"{part}_var"] = mean.astype(np.float32), var.astype(np.float32)
    scores = {"val RMSE": float(np.min(hist.val_rmse)), "best epoch": float(hist.best_epoch + 1)}
    return out, scores


@dataclass
class GPPMembers:
    """The members' predictive means and variances, (M, n_examples, 46) per part."""

    seeds: list[int]
    arrays: dict[str, np.ndarray]
    seconds: list[float]
    cached: list[bool]

    def ensemble(self, part: str, rows: np.ndarray | None = None) -> EnsemblePrediction:
        """Eq. 6 over the members for ``part`` ("val" or "test"), flattened to samples."""
        mean, var = self.arrays[f"{part}_mean"], self.arrays[f"{part}_var"]
        if rows is not None:
            mean, var = mean[:, rows], var[:, rows]
        m = mean.shape[0]
        return aggregate(mean.reshape(m, -1).astype(np.float64),
                         var.reshape(m, -1).astype(np.float64), ddof=1)

    def flat(self, part: str, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Member means and variances (M, n_samples) of ``part`` (rows: example subset)."""
        mean, var = self.arrays[f"{part}_mean"], self.arrays[f"{part}_var"]
        if rows is not None:
            mean, var = mean[:, rows], var[:, rows]
        m = mean.shape[0]
        return mean.reshape(m, -1).astype(np.float64), var.reshape(m, -1).astype(np.float64)


def train_members(profile: Profile, graph, cache: SampleCache, split: Split,
                  seeds: Sequence[int], epochs: int, cache_dir: str | Path,
                  config: Mapping[str, Any], device: Any = "cpu") -> GPPMembers:
    """Train (or load) every member; ``config`` is :func:`member_config`'s record."""
    arrays, recs, cached = run_cached(
        config, seeds, lambda seed: train_member(profile, graph, cache, split, seed, epochs,
                                                 device),
        RunCache(cache_dir, upstream=cache.source_key or None), desc="GeoHet members")
    stack = {k: np.stack([a[k] for a in arrays]) for k in arrays[0]}
    return GPPMembers([int(s) for s in seeds], stack, [r["seconds"] for r in recs], cached)
