"""Figures of stage 07 (both studies): embedding PCA maps beside predictions and truth, and the
recovery of the hidden fields (GPP paper 4.5, Figure 5; SOC node embeddings).

Points are drawn as coloured markers on offline world maps (:func:`~geohet_lib.maps.world_map`,
Robinson projection); every function saves PNG + PDF through
:func:`~geohet_lib.maps.finish_figure` and returns the figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .maps import finish_figure, map_extent, world_map


def _map(fig: Figure, pos, lat, lon, title: str):
    import cartopy.crs as ccrs

    ext = map_extent(lat, lon)
    proj = ccrs.Robinson() if ext is None else ccrs.PlateCarree()
    ax = fig.add_subplot(*pos, projection=proj)
    world_map(ax=ax)
    if ext is not None:
        ax.set_extent(ext, crs=ccrs.PlateCarree())
    ax.set_title(title, fontsize=9)
    return ax


def _scatter(ax, lat, lon, size: float, marker: str = "s", **kw):
    import cartopy.crs as ccrs

    return ax.scatter(lon, lat, s=size, marker=marker, linewidths=0,
                      transform=ccrs.PlateCarree(), zorder=2, **kw)


def _sym(values: np.ndarray) -> float:
    v = np.nanpercentile(np.abs(values), 99)
    return float(v) if v > 0 else 1.0


def plot_week_maps(lat: np.ndarray, lon: np.ndarray, weeks: Sequence[int],
                   rgb: Mapping[int, np.ndarray], pc1: Mapping[int, np.ndarray],
                   prediction: Mapping[int, np.ndarray], stem: str, figures_dir: str | Path,
                   caption: str, marker_size: float = 4.0, units: str = "") -> Figure:
    """GPP Figure 5: one row per week, columns PC1-3 as RGB, PC1 alone (diverging) and the
    prediction, all values per cell (``lat``, ``lon`` of the cells)."""
    weeks = list(weeks)
    if not weeks:
        raise ValueError("no weeks to draw")
    lim = _sym(np.concatenate([np.asarray(pc1[w]) for w in weeks]))
    pred_all = np.concatenate([np.asarray(prediction[w]) for w in weeks])
    vmin, vmax = np.nanpercentile(pred_all, [1, 99])
    fig = plt.figure(figsize=(15, 3.0 * len(weeks)))
    for i, w in enumerate(weeks):
        ax = _map(fig, (len(weeks), 3, 3 * i + 1), lat, lon, f"week {w}: PC1-3 as RGB")
        _scatter(ax, lat, lon, marker_size, c=np.asarray(rgb[w]))
        ax = _map(fig, (len(weeks), 3, 3 * i + 2), lat, lon, f"week {w}: PC1")
        sc = _scatter(ax, lat, lon, marker_size, c=pc1[w], cmap="RdBu_r", vmin=-lim, vmax=lim)
        fig.colorbar(sc, ax=ax, shrink=0.7, label="PC1")
        ax = _map(fig, (len(weeks), 3, 3 * i + 3), lat, lon, f"week {w}: predicted GPP")
        sc = _scatter(ax, lat, lon, marker_size, c=prediction[w], cmap="YlGn", vmin=vmin,
                      vmax=vmax)
        fig.colorbar(sc, ax=ax, shrink=0.7, label=units)
    fig.tight_layout()
    return finish_figure(fig, stem, figures_dir, caption)


def plot_field_maps(lat: np.ndarray, lon: np.ndarray, fields: Mapping[str, np.ndarray],
                    stem: str, figures_dir: str | Path, caption: str, ncols: int = 3,
                    marker_size: float = 4.0) -> Figure:
    """One map per named field (e.g. the generator's hidden fields), each with its own scale."""
    names = list(fields)
    if not names:
        raise ValueError("no fields to draw")
    nrows = int(np.ceil(len(names) / ncols))
    fig = plt.figure(figsize=(5 * ncols, 2.8 * nrows))
    for i, name in enumerate(names):
        ax = _map(fig, (nrows, ncols, i + 1), lat, lon, name)
        v = np.asarray(fields[name], dtype=float)
        if v.ndim == 2:  # RGB
            _scatter(ax, lat, lon, marker_size, c=v)
            continue
        lo, hi = np.nanpercentile(v, [1, 99])
        sc = _scatter(ax, lat, lon, marker_size, c=v, cmap="viridis", vmin=lo, vmax=hi)
        fig.colorbar(sc, ax=ax, shrink=0.7)
    fig.tight_layout()
    return finish_figure(fig, stem, figures_dir, caption)


def plot_recovery_by_week(frame: pd.DataFrame, stem: str, figures_dir: str | Path,
                          caption: str, value: str = "max |r| (PC1-3)",
                          marks: Sequence[int] = ()) -> Figure:
    """One panel per embedding source (column ``source``), one line per truth column over the
    weeks (column ``week``), y = ``value``; vertical marks at ``marks`` (Figure 5's weeks)."""
    for col in ("source", "week", "truth", value):
        if col not in frame:
            raise ValueError(f"frame lacks column {col!r}")
    sources = list(dict.fromkeys(frame["source"]))
    fig, axes = plt.subplots(1, len(sources), figsize=(5 * len(sources), 3.6), sharey=True,
                             squeeze=False)
    for ax, src in zip(axes[0], sources):
        sub = frame[frame["source"] == src]
        for truth, g in sub.groupby("truth", sort=False):
            ax.plot(g["week"], g[value], label=truth, lw=1.2)
        for w in marks:
            ax.axvline(w, color="0.7", lw=0.8, ls=":")
        ax.set_title(src, fontsize=10)
        ax.set_xlabel("week (8-day step)")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel(value)
    axes[0, -1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return finish_figure(fig, stem, figures_dir, caption)


def plot_region_embeddings(panels: Mapping[str, Mapping[str, np.ndarray]], stem: str,
                           figures_dir: str | Path, caption: str,
                           marker_size: float = 6.0) -> Figure:
    """SOC: one row per panel (e.g. "africa · last layer"), columns PC1-3 as RGB, PC1, and the
    SOC target; each panel holds ``lat``, ``lon``, ``rgb`` (n, 3), ``pc1``, ``soc``."""
    names = list(panels)
    if not names:
        raise ValueError("no panels to draw")
    fig = plt.figure(figsize=(15, 3.2 * len(names)))
    for i, name in enumerate(names):
        p = panels[name]
        lat, lon = np.asarray(p["lat"]), np.asarray(p["lon"])
        ax = _map(fig, (len(names), 3, 3 * i + 1), lat, lon, f"{name}: PC1-3 as RGB")
        _scatter(ax, lat, lon, marker_size, c=np.asarray(p["rgb"]), marker="o")
        ax = _map(fig, (len(names), 3, 3 * i + 2), lat, lon, f"{name}: PC1")
        lim = _sym(np.asarray(p["pc1"]))
        sc = _scatter(ax, lat, lon, marker_size, c=p["pc1"], cmap="RdBu_r", vmin=-lim, vmax=lim,
                      marker="o")
        fig.colorbar(sc, ax=ax, shrink=0.7, label="PC1")
        ax = _map(fig, (len(names), 3, 3 * i + 3), lat, lon, f"{name}: SOC (g/kg, log colour)")
        soc = np.asarray(p["soc"], dtype=float)
        sc = _scatter(ax, lat, lon, marker_size, c=np.log10(np.clip(soc, 1e-3, None)),
                      cmap="copper_r", marker="o")
        fig.colorbar(sc, ax=ax, shrink=0.7, label="log10 SOC")
    fig.tight_layout()
    return finish_figure(fig, stem, figures_dir, caption)


def plot_recovery_bars(frame: pd.DataFrame, stem: str, figures_dir: str | Path, caption: str,
                       value: str = "max |r| (PC1-3)") -> Figure:
    """SOC: grouped bars of ``value`` per truth column, one bar per ``source`` (e.g. fused
    features vs last layer), one panel per ``region``."""
    for col in ("region", "source", "truth", value):
        if col not in frame:
            raise ValueError(f"frame lacks column {col!r}")
    regions = list(dict.fromkeys(frame["region"]))
    sources = list(dict.fromkeys(frame["source"]))
    fig, axes = plt.subplots(1, len(regions), figsize=(5.5 * len(regions), 4), sharey=True,
                             squeeze=False)
    width = 0.8 / max(len(sources), 1)
    for ax, reg in zip(axes[0], regions):
        sub = frame[frame["region"] == reg]
        truths = list(dict.fromkeys(sub["truth"]))
        x = np.arange(len(truths))
        for j, src in enumerate(sources):
            s = sub[sub["source"] == src].set_index("truth").reindex(truths)
            ax.bar(x + (j - (len(sources) - 1) / 2) * width, s[value], width, label=src)
        ax.set_xticks(x, truths, rotation=60, ha="right", fontsize=7)
        ax.set_title(reg, fontsize=10)
        ax.set_ylim(0, 1.02)
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].set_ylabel(value)
    axes[0, -1].legend(fontsize=8)
    fig.tight_layout()
    return finish_figure(fig, stem, figures_dir, caption)
