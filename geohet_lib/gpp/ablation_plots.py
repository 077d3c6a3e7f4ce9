"""Figures of stage 04 (GPP study): the module ladder of paper 4.4 and the hyperparameter
curves of appendix A.2, this run's seeds beside the paper's single runs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..maps import finish_figure
from ..sweep import summarise
from .ablations import A2_TABLES, PAPER_A2, PAPER_LADDER


def _seed_points(ax, runs: pd.DataFrame, order: list[str], x: np.ndarray) -> None:
    pos = {v: x[i] for i, v in enumerate(order)}
    ax.scatter([pos[v] for v in runs["variant"]], runs["test RMSE"], s=12, color="C1", zorder=4,
               label="one seed")


def plot_ladder(runs: pd.DataFrame, figures_dir: str | Path, caption: str,
                stem: str = "gpp_04_ladder") -> Figure:
    """Paper 4.4's ladder: test RMSE per step (bars: mean over seeds, error bars: one sd,
    dots: seeds) with the paper's RMSE on a second axis (its units and data differ)."""
    s = summarise(runs, ["test RMSE"])
    x = np.arange(len(s))
    fig, ax = plt.subplots(figsize=(10, 4.2))
    ax.bar(x, s["test RMSE mean"], yerr=s["test RMSE std"].fillna(0), color="C0", alpha=0.75,
           capsize=4, label="this run (mean ± sd)")
    _seed_points(ax, runs, list(s["variant"]), x)
    ax.set_xticks(x, [v.replace(" (", "\n(") for v in s["variant"]], fontsize=8)
    ax.set_ylabel("test RMSE, this run")
    ax.set_ylim(0, None)
    twin = ax.twinx()
    twin.plot(x, [PAPER_LADDER.get(v, np.nan) for v in s["variant"]], "kD-", label="paper")
    twin.set_ylabel("paper RMSE (Figure 4)")
    twin.set_ylim(0, None)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="lower left")
    ax.set_title("GPP 4.4: each step adds one module (left to right)")
    fig.tight_layout()
    return finish_figure(fig, stem, figures_dir, caption)


def plot_a2(runs_by_parameter: Mapping[str, pd.DataFrame], figures_dir: str | Path,
            caption: str, stem: str = "gpp_04_a2") -> Figure:
    """Appendix A.2: test RMSE against each hyperparameter (mean ± sd over seeds, dots =
    seeds), the paper's curve on a second axis against the paper's values."""
    fig, axes = plt.subplots(1, len(runs_by_parameter), figsize=(5 * len(runs_by_parameter), 4))
    for ax, (param, runs) in zip(np.atleast_1d(axes), runs_by_parameter.items()):
        s = summarise(runs, ["test RMSE"])
        x = np.arange(len(s))
        ax.errorbar(x, s["test RMSE mean"], yerr=s["test RMSE std"].fillna(0), fmt="o-",
                    color="C0", capsize=4, label="this run (mean ± sd)")
        _seed_points(ax, runs, list(s["variant"]), x)
        ax.set_xticks(x, list(s["variant"]), fontsize=7, rotation=20)
        ax.set_xlabel(param + (" (paper -> this grid)" if param == "n_clusters" else ""))
        ax.set_ylabel("test RMSE, this run")
        twin = ax.twinx()
        twin.plot(x, list(PAPER_A2[param].values())[:len(x)], "kD--", label="paper")
        twin.set_ylabel("paper RMSE")
        ax.set_title(f"A.2 {A2_TABLES[param].replace('table', 'Table ')}: {param}")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = twin.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=7)
    fig.tight_layout()
    return finish_figure(fig, stem, figures_dir, caption)
