"""Figure of stage 04 (SOC study): Table 11's ablations as bars with seed error bars, the
paper's single-run values beside."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..maps import finish_figure
from ..sweep import summarise
from .ablations import PAPER_TABLE11


def plot_table11(runs: pd.DataFrame, figures_dir: str | Path, caption: str,
                 stem: str = "soc_04_table11") -> Figure:
    """RMSE and R² of each variant from the per-seed ``runs``: bars = mean over seeds, error
    bars = one standard deviation, black diamonds = the paper's Table 11 (single runs)."""
    table = summarise(runs, ("RMSE", "R2"))
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.45 * len(table) + 1.8), sharey=True)
    y = np.arange(len(table))[::-1]
    for ax, m in zip(axes, ("RMSE", "R2")):
        ax.barh(y, table[f"{m} mean"], xerr=table[f"{m} std"].fillna(0), color="C0",
                alpha=0.75, capsize=3, label="this run (mean ± sd over seeds)")
        paper = np.array([PAPER_TABLE11.get(v, {}).get(m, np.nan) for v in table["variant"]])
        ok = np.isfinite(paper)
        ax.scatter(paper[ok], y[ok], marker="D", color="k", zorder=3, label="paper (one run)")
        ax.scatter(runs[m], [y[list(table["variant"]).index(v)] for v in runs["variant"]],
                   s=10, color="C1", zorder=4, label="one seed")
        ax.set_xlabel("validation RMSE (g/kg)" if m == "RMSE" else "validation R²")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, table["variant"])
    axes[1].legend(loc="lower right", fontsize=8)
    fig.suptitle("SOC Table 11: architecture ablations, Africa validation split")
    fig.tight_layout()
    return finish_figure(fig, stem, figures_dir, caption)
