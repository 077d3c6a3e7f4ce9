"""Figures of stage 03 (GPP study): loss curves, predicted-vs-observed density, RMSE map."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
import numpy as np
import pandas as pd

from ..maps import finish_figure, world_map
from .dataset_plots import map_cells


def plot_loss_curves(histories: dict, figures_dir: str | Path, caption: str,
                     stem: str = "gpp_03_loss_curves") -> Figure:
    """Train and validation RMSE per epoch for each trained network (``name -> History``)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, (name, h) in enumerate(histories.items()):
        ep = np.arange(1, len(h.train_rmse) + 1)
        ax.plot(ep, h.train_rmse, "--", color=f"C{i}", label=f"{name} train")
        ax.plot(ep, h.val_rmse, "-", color=f"C{i}", label=f"{name} validation")
        if h.best_epoch >= 0:
            ax.plot(h.best_epoch + 1, h.val_rmse[h.best_epoch], "o", color=f"C{i}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("RMSE of GPP")
    ax.legend(fontsize=8)
    ax.set_title("Loss curves (dot: kept weights)")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return finish_figure(fig, stem, figures_dir, caption)


def plot_pred_vs_obs(preds: dict[str, np.ndarray], y: np.ndarray, figures_dir: str | Path,
                     caption: str, stem: str = "gpp_03_pred_vs_obs") -> Figure:
    """Hexbin density of predicted against observed GPP, one panel per method."""
    names = list(preds)
    ncol = min(4, len(names))
    nrow = int(np.ceil(len(names) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.3 * ncol, 3.2 * nrow), squeeze=False)
    y = np.asarray(y).ravel()
    hi = float(np.quantile(y, 0.999))
    for ax, name in zip(axes.ravel(), names):
        p = np.asarray(preds[name]).ravel()
        ax.hexbin(y, p, gridsize=50, extent=(0, hi, 0, hi), bins="log", cmap="viridis", mincnt=1)
        ax.plot([0, hi], [0, hi], "r-", lw=0.8)
        rmse = float(np.sqrt(np.mean((p - y) ** 2)))
        ax.set_title(f"{name}\nRMSE {rmse:.2f}", fontsize=9)
        ax.set_xlabel("observed")
        ax.set_ylabel("predicted")
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return finish_figure(fig, stem, figures_dir, caption)


def plot_rmse_map(cells: pd.DataFrame, rmse_per_cell: np.ndarray, figures_dir: str | Path,
                  caption: str, title: str, stem: str = "gpp_03_rmse_map") -> Figure:
    """Map of the test RMSE of each land cell."""
    fig, ax = world_map()
    sc = map_cells(ax, cells["lat"], cells["lon"], rmse_per_cell, cmap="magma_r",
                   vmax=float(np.nanquantile(rmse_per_cell, 0.98)))
    fig.colorbar(sc, ax=ax, shrink=0.6, label="test RMSE per cell")
    ax.set_title(title)
    return finish_figure(fig, stem, figures_dir, caption)
