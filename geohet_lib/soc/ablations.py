"""Stage 04 of the SOC study: Table 11's architecture ablations and the two the paper left open
(SOC paper 5.5 and its limitations), each over several seeds.

Protocol (the paper's rule, 5.5: "same seed, schedule and budget for all variants"; here the
same *seeds*): the Africa region, stage 03's data, graph and cached ViT embeddings, every
variant trained with the same optimiser, schedule and number of epochs
(``profile.soc.ablation``), weights of the best validation epoch, scored on the validation
split on the original SOC scale (g/kg), as Table 11. Each variant is one switch of
:class:`~geohet_lib.soc.configs.SpTGNNConfig`; the seed changes the initialisation and
dropout (the ViT embeddings are stage 03's, seed 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..sweep import RunCache, mean_pm_std, run_sweep, summarise
from ..tables import noise_verdict
from .stage03 import RegionData, run_region, run_xgboost

FULL = "SpTGNN (full)"
#: Table 11's rows: name -> the SpTGNNConfig switch it flips.
TABLE11_VARIANTS: dict[str, dict[str, Any]] = {
    FULL: {},
    "Spatial-only graph": {"spatial_only": True},
    "Concat fusion": {"use_moe": False},
    "ViT disabled": {"use_image": False},
}
#: What the paper did not ablate (its limitations section), and MoE routing.
OPEN_VARIANTS: dict[str, dict[str, Any]] = {
    "Temporal encoder removed": {"use_temporal": False},
    "Moran's I loss off (lambda_a = 0)": {"lambda_aux": 0.0},
    "MoE top-2 routing (Africa: dense)": {"top_k": 2},
}
#: SOC paper Table 11 (validation, g/kg; single runs).
PAPER_TABLE11: dict[str, dict[str, float]] = {
    FULL: {"MAE": 1.72, "RMSE": 2.64, "MAPE": 16.5, "R2": 0.865},
    "Spatial-only graph": {"MAE": 3.04, "RMSE": 5.02, "MAPE": 28.2, "R2": 0.479},
    "Concat fusion": {"MAE": 2.80, "RMSE": 4.55, "MAPE": 26.1, "R2": 0.571},
    "ViT disabled": {"MAE": 2.84, "RMSE": 4.31, "MAPE": 28.4, "R2": 0.611},
}
METRICS = ("MAE", "RMSE", "MAPE", "R2")
XGBOOST = "XGBoost (covariates only)"


def variant_config(region: str, switches: Mapping[str, Any], epochs: int,
                   loss_kind: str, full_batch: bool | None) -> dict[str, Any]:
    """The cached identity of one variant's run: the region, its switches and the shared
    budget (not its display name, so a renamed variant keeps its runs)."""
    return {"study": "soc", "stage": "04", "region": region, "switches": dict(switches),
            "epochs": int(epochs), "loss_kind": loss_kind, "full_batch": full_batch}


def run_ablations(data: RegionData, image, variants: Mapping[str, Mapping[str, Any]],
                  seeds: Sequence[int], epochs: int, cache_dir: str | Path,
                  device: Any = "auto", loss_kind: str = "huber",
                  full_batch: bool | None = None, with_xgboost: bool = True) -> pd.DataFrame:
    """Train every variant with every seed (cached by configuration and seed); one row per
    run with the validation MAE, RMSE, MAPE and R² (g/kg)."""
    configs = {name: variant_config(data.region, sw, epochs, loss_kind, full_batch)
               for name, sw in variants.items()}
    if with_xgboost:
        configs[XGBOOST] = {"study": "soc", "stage": "04", "region": data.region,
                            "model": "xgboost"}

    def train(name: str, cfg: Mapping[str, Any], seed: int) -> dict[str, float]:
        if name == XGBOOST:
            return run_xgboost(data, seed=seed)["val_metrics"]
        switches = dict(cfg["switches"])
        img = None if switches.get("use_image", True) is False else image
        res = run_region(data, img, seed=seed, device=device, progress=False,
                         loss_kind=loss_kind, full_batch=full_batch, epochs=epochs,
                         patience=None, **switches)
        return res.val_metrics

    return run_sweep(configs, seeds, train, RunCache(cache_dir, upstream=data.upstream or None),
                     desc="SOC ablations")


def _claim(runs: pd.DataFrame, name: str) -> str:
    """Removing the component costs accuracy: the full model's R² (and RMSE) beat the
    variant's beyond seed noise."""
    full, var = runs[runs.variant == FULL], runs[runs.variant == name]
    r2 = noise_verdict(full["R2"], var["R2"], lower_is_better=False)
    rmse = noise_verdict(full["RMSE"], var["RMSE"])
    what = "full model better" if name != XGBOOST else "SpTGNN beats XGBoost"
    return f"{what}: R2 {r2}, RMSE {rmse}"


def build_table11(runs: pd.DataFrame) -> pd.DataFrame:
    """Table 11 with mean ± std over seeds, the paper's single-run values beside, the change
    of R² against the full model, and a claim per row judged against seed noise."""
    summ = summarise(runs, METRICS)
    full_r2 = summ.loc[summ.variant == FULL, "R2 mean"]
    rows = []
    for _, r in summ.iterrows():
        name = r["variant"]
        paper = PAPER_TABLE11.get(name, {})
        row = {"variant": name, "seeds": int(r["seeds"])}
        for m in METRICS:
            row[m] = mean_pm_std(r[f"{m} mean"], r[f"{m} std"], ".2f" if m != "R2" else ".3f")
        row["dR2 vs full"] = (r["R2 mean"] - float(full_r2.iloc[0])) if len(full_r2) else None
        row["paper RMSE"] = paper.get("RMSE")
        row["paper R2"] = paper.get("R2")
        row["paper dR2"] = (paper["R2"] - PAPER_TABLE11[FULL]["R2"]) if paper else None
        row["claim"] = "" if name == FULL or not len(full_r2) else _claim(runs, name)
        rows.append(row)
    return pd.DataFrame(rows)
