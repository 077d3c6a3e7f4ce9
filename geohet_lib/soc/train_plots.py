"""Figures of stage 03 (SOC study): loss curves, predicted-vs-true density (paper Figure 14),
maps of test predictions and errors for a region.

Every function writes PNG + PDF with :func:`geohet_lib.maps.finish_figure` (caption under the
axes) and returns the ``Figure``. Maps use :func:`geohet_lib.maps.world_map` (offline Natural
Earth 110m) with the extent set to the region's samples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
import numpy as np
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter

from ..maps import finish_figure, world_map
from ..uq.plots import density_hexbin


_PLAIN = FuncFormatter(lambda v, _: f"{v:g}")


def _log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks between ``lo`` and ``hi`` (for log axes labelled in plain numbers)."""
    out = []
    for e in range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1):
        out += [m * 10.0**e for m in (1, 2, 5) if lo <= m * 10.0**e <= hi]
    return out


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from .stage03 import soc_metrics

    return soc_metrics(y, p)


def plot_loss_curves(histories: dict[str, Any], figures_dir: str | Path, caption: str,
                     stem: str = "soc_03_loss_curves") -> Figure:
    """SpTGNN training (Eq. 3 total, dashed) and validation loss (solid) per epoch, a dot at
    the kept epoch; right: the training loss's parts (main, Moran head, MoE), log scale.

    ``histories``: name -> :class:`~geohet_lib.engine.History` (of :func:`~geohet_lib.soc.train.fit_sptgnn`).
    """
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (name, h) in enumerate(histories.items()):
        ep = np.arange(1, len(h.train_loss) + 1)
        c = f"C{i}"
        mk = "." if len(ep) <= 20 else None
        ax.plot(ep, h.train_loss, "--", marker=mk, color=c, label=f"{name} train (Eq. 3)")
        ax.plot(ep, h.val_loss, "-", marker=mk, color=c, label=f"{name} validation (Huber)")
        if h.best_epoch >= 0:
            ax.plot(h.best_epoch + 1, h.val_loss[h.best_epoch], "o", color=c, ms=8)
        ax2.plot(ep, h.train_main, "-", marker=mk, color=c, label=f"{name} main")
        ax2.plot(ep, np.maximum(h.train_autocorr, 1e-12), ":", marker=mk, color=c,
                 label=f"{name} Moran's I head (unweighted)")
        ax2.plot(ep, np.maximum(h.train_moe, 1e-12), "-.", marker=mk, color=c,
                 label=f"{name} MoE (w_LB LB + entropy)")
    for a in (ax, ax2):
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss, scaled log SOC")
    ax.set_title("SpTGNN loss curves (dot: kept weights)")
    ax.legend(fontsize=7)
    ax2.set_yscale("log")
    parts = np.concatenate([np.concatenate([h.train_main, h.train_autocorr, h.train_moe])
                            for h in histories.values()] or [np.ones(1)])
    parts = parts[np.isfinite(parts) & (parts > 0)]
    if parts.size:
        ticks = _log_ticks(parts.min(), parts.max())
        if len(ticks) >= 2:
            ax2.yaxis.set_major_locator(FixedLocator(ticks))
            ax2.yaxis.set_major_formatter(_PLAIN)
            ax2.yaxis.set_minor_formatter(NullFormatter())
    ax2.set_xlabel("epoch")
    ax2.set_title("training loss parts")
    ax2.legend(fontsize=6, ncol=1)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return finish_figure(fig, stem, figures_dir, caption)


def plot_vit_curves(histories: dict[str, Any], figures_dir: str | Path, caption: str,
                    stem: str = "soc_03_vit_finetune") -> Figure:
    """The ViT fine-tunes (the engine's :class:`~geohet_lib.engine.History` of
    :func:`~geohet_lib.soc.image_encoder.fit_image_encoder` per region): training loss and
    validation MSE on log SOC per epoch, warm-up epochs (column ``frozen``) shaded."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, (name, h) in enumerate(histories.items()):
        ep = np.arange(1, len(h.val_loss) + 1)
        c = f"C{i}"
        ax.plot(ep, h.train_loss, "--", marker=".", color=c, label=f"{name} train (std. target)")
        ax.plot(ep, h.val_loss, "-", marker=".", color=c, label=f"{name} val MSE (log SOC)")
        if h.best_epoch >= 0:
            ax.plot(h.best_epoch + 1, h.val_loss[h.best_epoch], "o", color=c, ms=8)
        n_frozen = sum(bool(f) for f in h.frozen)
        if n_frozen and i == 0:
            ax.axvspan(0.5, n_frozen + 0.5, color="0.9", zorder=0, label="warm-up (frozen body)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("ViT fine-tune per region (dot: kept checkpoint)")
    ax.legend(fontsize=7)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return finish_figure(fig, stem, figures_dir, caption)


def plot_pred_vs_true(preds: dict[str, np.ndarray], y: np.ndarray, figures_dir: str | Path,
                      caption: str, stem: str = "soc_03_pred_vs_true", log_axes: bool = False,
                      title: str = "test split", gridsize: int = 30) -> Figure:
    """Predicted against true SOC (g/kg), one hexbin panel per method, colour = point density,
    the 1:1 diagonal in red (paper Figure 14). ``log_axes`` draws both axes on a log scale
    (SOC is right-skewed); all panels share the same extent."""
    names = list(preds)
    y = np.asarray(y, dtype=float).ravel()
    allv = np.concatenate([y] + [np.asarray(preds[k], float).ravel() for k in names])
    allv = allv[np.isfinite(allv)]
    if log_axes:
        pos = allv[allv > 0]
        lo = float(np.quantile(pos, 0.001)) * 0.8 if pos.size else 0.1
        hi = float(np.quantile(pos, 0.999)) * 1.25 if pos.size else 100.0
    else:
        lo, hi = 0.0, float(np.quantile(allv, 0.999)) * 1.05
    k_pan = len(names)
    fig, axes = plt.subplots(1, k_pan, figsize=(3.3 * k_pan + 1.2, 4.3), squeeze=False,
                             sharex=True, sharey=True)
    fig.subplots_adjust(left=0.9 / (3.3 * k_pan + 1.2), right=1 - 1.1 / (3.3 * k_pan + 1.2),
                        top=0.8, bottom=0.2, wspace=0.12)
    counts = []
    for k, (ax, name) in enumerate(zip(axes.ravel(), names)):
        p = np.asarray(preds[name], dtype=float).ravel()
        m = _metrics(y, p)
        if log_axes:
            hb = density_hexbin(ax, np.clip(y, lo, hi), np.clip(p, lo, hi), lo, hi, gridsize,
                                log=True)
        else:
            hb = density_hexbin(ax, y, p, lo, hi, gridsize)
        counts.append(hb)
        ax.plot([lo, hi], [lo, hi], "r-", lw=0.9)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        if log_axes:
            for axis in (ax.xaxis, ax.yaxis):
                axis.set_major_locator(FixedLocator(_log_ticks(lo, hi)))
                axis.set_major_formatter(_PLAIN)
                axis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{name}\nRMSE {m['RMSE']:.2f}, MAPE {m['MAPE']:.1f} %, R² {m['R2']:.2f}",
                     fontsize=8.5)
        ax.set_xlabel("true SOC (g/kg)")
        if k == 0:
            ax.set_ylabel("predicted SOC (g/kg)")
    vmax = max(float(np.nanmax(h.get_array())) for h in counts) if counts else 1.0
    for h in counts:
        h.set_clim(1, max(vmax, 2))
    x1 = axes.ravel()[-1].get_position().x1
    cax = fig.add_axes((x1 + 0.25 / (3.3 * k_pan + 1.2), 0.25, 0.12 / (3.3 * k_pan + 1.2), 0.5))
    cb = fig.colorbar(counts[-1], cax=cax, label="samples per hexagon")
    cb.set_ticks(_log_ticks(1, max(vmax, 2)))
    cb.ax.yaxis.set_major_formatter(_PLAIN)
    cb.ax.yaxis.set_minor_formatter(NullFormatter())
    fig.suptitle(f"Predicted vs true SOC, {title} (n = {y.size})", fontsize=10, y=0.96)
    return finish_figure(fig, stem, figures_dir, caption)


def plot_prediction_maps(lat, lon, y_true, y_pred, region: str, figures_dir: str | Path,
                         caption: str, method: str = "SpTGNN", stem: str | None = None,
                         split_name: str = "test", extent=None) -> Figure:
    """Three maps of the region: true SOC, ``method``'s prediction (same colour scale) and
    the error ``prediction - truth`` (diverging, centred at 0). ``extent``
    ``[lon0, lon1, lat0, lat1]`` (e.g. ``map_extent`` of all the region's samples); default the
    plotted points' box plus a margin (:func:`~geohet_lib.soc.graph_plots.map_extent`); the
    largest errors are drawn on top. Default stem
    ``soc_03_map_<region>_<method>``."""
    import cartopy.crs as ccrs
    from matplotlib.colors import LogNorm, TwoSlopeNorm

    from .graph_plots import _region_slug, map_extent

    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    y, p = np.asarray(y_true, float), np.asarray(y_pred, float)
    err = p - y
    ext = list(extent) if extent is not None else map_extent(lat, lon)
    pc = ccrs.PlateCarree()
    if ext is not None:
        w, h = ext[1] - ext[0], ext[3] - ext[2]
        panel_w = 4.2
        panel_h = float(np.clip(panel_w * h / max(w, 1e-6), 1.5, 6.0))
    else:
        panel_w, panel_h = 5.5, 2.8
    fig = plt.figure(figsize=(3 * panel_w, panel_h + 1.4), layout="constrained")
    fig.get_layout_engine().set(rect=(0, 0.06, 1, 1))  # room for the caption
    both = np.concatenate([y, p])
    both = both[np.isfinite(both) & (both > 0)]
    vmin = float(np.quantile(both, 0.02)) if both.size else 1.0
    vmax = float(np.quantile(both, 0.98)) if both.size else 10.0
    vmax = max(vmax, vmin * 1.01)
    emax = float(np.quantile(np.abs(err), 0.98)) if err.size else 1.0
    emax = emax if emax > 0 else 1.0
    panels = [("true SOC (g/kg)", y, "viridis", LogNorm(vmin, vmax)),
              (f"{method}: predicted SOC (g/kg)", p, "viridis", LogNorm(vmin, vmax)),
              (f"{method}: error, predicted - true (g/kg)", err, "RdBu_r",
               TwoSlopeNorm(0.0, -emax, emax))]
    order = np.argsort(np.abs(err))  # largest errors drawn last, on top
    for k, (title, val, cmap, norm) in enumerate(panels):
        ax = fig.add_subplot(1, 3, k + 1, projection=pc)
        world_map(ax)
        if ext is not None:
            ax.set_extent(ext, crs=pc)
        v = np.clip(val, norm.vmin, norm.vmax) if k < 2 else val
        sc = ax.scatter(lon[order], lat[order], c=v[order], s=16, cmap=cmap, norm=norm,
                        transform=pc, edgecolors="0.2", linewidths=0.3, zorder=5)
        cb = fig.colorbar(sc, ax=ax, orientation="horizontal", shrink=0.85, pad=0.02,
                          extend="both")
        if k < 2:
            cb.ax.xaxis.set_major_locator(FixedLocator(_log_ticks(norm.vmin, norm.vmax)))
            cb.ax.xaxis.set_major_formatter(_PLAIN)
            cb.ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(title, fontsize=9)
    fig.suptitle(f"{region.capitalize()}, {split_name} split (n = {y.size}; co-located samples "
                 "overlap, the largest errors on top)", fontsize=10)
    stem = stem or f"soc_03_map_{_region_slug(region)}_{_region_slug(method)}"
    return finish_figure(fig, stem, figures_dir, caption)
