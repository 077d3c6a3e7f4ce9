"""Figures of GPP paper section 4.3: Figure 3 (coefficient maps beside the truth) and RMSE by week."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
import numpy as np
import pandas as pd

from ..maps import finish_figure, world_map
from .dataset_plots import map_cells
from .section43 import MethodResult, Subset43, align_to_truth, leading_component


def figure3_components(results: list[MethodResult], truth_pc: np.ndarray) -> dict[str, tuple[np.ndarray, float]]:
    """``method -> (PC1 aligned to the truth, |r| with the truth)`` for methods with coefficients."""
    out = {}
    for res in results:
        if res.coefficients is None:
            continue
        out[res.name] = align_to_truth(leading_component(res.coefficients), truth_pc)
    return out


def plot_figure3(subset: Subset43, results: list[MethodResult], truth_pc: np.ndarray,
                 figures_dir: str | Path, caption: str, week: int = 40,
                 stem: str = "gpp_03_sec43_figure3") -> tuple[Figure, pd.DataFrame]:
    """Paper Figure 3: PC1 of each method's spatially varying coefficients at ``week`` on a world
    map, beside the PC1 of the generator's true response parameters; |r| to the truth on each panel.

    Returns the ``Figure`` and a frame ``method, abs_r_truth``.
    """
    comps = figure3_components(results, truth_pc)
    panels = [("truth (generator)", truth_pc, None)] + [(k, v[0], v[1]) for k, v in comps.items()]
    ncol = 3
    nrow = int(np.ceil(len(panels) / ncol))
    import cartopy.crs as ccrs

    fig = plt.figure(figsize=(5.2 * ncol, 2.9 * nrow + 0.6))
    for i, (name, pc, r) in enumerate(panels):
        ax = fig.add_subplot(nrow, ncol, i + 1, projection=ccrs.Robinson())
        world_map(ax)
        lim = float(np.nanquantile(np.abs(pc), 0.98)) or 1.0
        sc = map_cells(ax, subset.lat, subset.lon, pc, cmap="RdBu_r", vmin=-lim, vmax=lim,
                       s=max(1.0, 9000.0 / len(pc)))
        title = name if r is None else f"{name}   |r| with truth = {r:.2f}"
        ax.set_title(title, fontsize=9)
        fig.colorbar(sc, ax=ax, shrink=0.6, pad=0.01)
    fig.suptitle(f"First principal component of the spatially varying coefficients, week {week}",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    fig = finish_figure(fig, stem, figures_dir, caption)
    table = pd.DataFrame([{"method": k, "abs_r_truth": v[1]} for k, v in comps.items()])
    return fig, table


def plot_rmse_by_week(weekly: pd.DataFrame, figures_dir: str | Path, caption: str,
                      report_weeks=(1, 10, 20, 30, 40),
                      stem: str = "gpp_03_sec43_rmse_by_week") -> Figure:
    """Test RMSE of each method for every week it ran; the paper's reported weeks marked."""
    fig, ax = plt.subplots(figsize=(7.5, 4))
    for i, (name, g) in enumerate(weekly.groupby("method", sort=False)):
        g = g.sort_values("week")
        ax.plot(g["week"], g["rmse"], "-o" if len(g) <= 6 else "-", ms=3, color=f"C{i}",
                label=name)
    for w in report_weeks:
        ax.axvline(w, color="0.85", lw=0.8, zorder=0)
    ax.set_xlabel("week of year (8-day step)")
    ax.set_ylabel("test RMSE of GPP")
    ax.set_title("Section 4.3: test-year RMSE by week")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return finish_figure(fig, stem, figures_dir, caption)
