"""Figures of uncertainty calibration (stage 05) and residual diagnostics (stage 06).

SOC paper 5.3-5.6: reliability diagrams before / after temperature scaling (Figure 11), the
epistemic fraction against the ensemble size M (Figure 12), accuracy and calibration against
M (Figure 13, NLL on a symlog scale), predicted against true with point density (Figure 14);
stage 06 adds the normal Q-Q plot of the standardised residuals ``z = (y - mu) / sigma``,
``z**2`` against sigma and mu with the Breusch-Pagan (OLS) line, a LISA map of where the
residuals cluster, and coverage / ECE in distribution against unseen regions.

The same functions serve the GPP study (one ensemble): each takes a dict of named panels /
series, or a long table with an ``ensemble`` column, and works with one entry or several.
They take precomputed arrays and tables only (no metric is computed here beyond the RMSE /
R² in the panel titles of :func:`plot_pred_vs_true` and the OLS lines of
:func:`plot_z2_vs`). Every function validates its input (``ValueError`` naming the panel and
the lengths), writes PNG + PDF with :func:`geohet_lib.maps.finish_figure` (caption under the
axes; the figure is released from pyplot, its files in ``fig.saved_paths``) and returns the
``Figure``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..maps import finish_figure, map_extent, world_map

__all__ = [
    "plot_reliability", "plot_epistemic_fraction", "plot_metrics_vs_m", "plot_pred_vs_true",
    "plot_qq", "plot_z2_vs", "plot_lisa_map", "plot_coverage_shift", "LISA_COLORS",
]

#: LISA cluster label -> colour (hot spots red, cold spots blue, outliers light blue /
#: orange, not significant light grey); the drawing and legend order.
LISA_COLORS: dict[str, str] = {
    "HH": "#d7191c",
    "LL": "#2c7bb6",
    "LH": "#92c5de",
    "HL": "#fdae61",
    "not significant": "#cfcfcf",
}
# Accepted spellings of the labels (case-insensitive); integers follow esda's Moran_Local.q
# (1 HH, 2 LH, 3 LL, 4 HL) with 0 for not significant.
_LISA_ALIASES = {
    "hh": "HH", "high-high": "HH", "high high": "HH", "1": "HH",
    "ll": "LL", "low-low": "LL", "low low": "LL", "3": "LL",
    "lh": "LH", "low-high": "LH", "low high": "LH", "2": "LH",
    "hl": "HL", "high-low": "HL", "high low": "HL", "4": "HL",
    "not significant": "not significant", "ns": "not significant", "n.s.": "not significant",
    "0": "not significant", "": "not significant", "none": "not significant",
    "nan": "not significant",
}


# --------------------------------------------------------------------------- helpers
def _layout(fig: Figure) -> None:
    """Run the constrained layout now, so that the caption is placed under the final axes
    (``finish_figure`` positions it from the drawn artists before saving)."""
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)


def _finish(fig: Figure, stem: str, figures_dir: str | Path, caption: str | None,
            title: str | None) -> Figure:
    if title:
        fig.suptitle(title, fontsize=11)
    _layout(fig)
    return finish_figure(fig, stem, figures_dir, caption or None)


def _nonempty(mapping, what: str) -> list[str]:
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{what}: expected a mapping of named panels, got "
                         f"{type(mapping).__name__}")
    if len(mapping) == 0:
        raise ValueError(f"{what}: no panels given (empty mapping)")
    return list(mapping)


def _vector(x, panel: str, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim != 1:
        a = a.ravel() if a.ndim > 1 and max(a.shape) == a.size else a
    if a.ndim != 1:
        raise ValueError(f"panel {panel!r}: {name} must be one-dimensional, got shape {a.shape}")
    return a


def _pair(value, panel: str, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Two 1-d arrays of equal length from a ``(a, b)`` pair (``ValueError`` otherwise)."""
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(f"panel {panel!r}: expected a pair ({names[0]}, {names[1]})") from None
    a, b = _vector(a, panel, names[0]), _vector(b, panel, names[1])
    if a.size != b.size:
        raise ValueError(f"panel {panel!r}: {names[0]} has {a.size} values, {names[1]} "
                         f"{b.size}")
    if a.size == 0:
        raise ValueError(f"panel {panel!r}: no values")
    return a, b


def _check_frame(frame, required: Sequence[str], what: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; has {list(frame.columns)}")
    if len(frame) == 0:
        raise ValueError(f"{what}: the table is empty")
    return frame


def _ensembles(frame: pd.DataFrame) -> list:
    return list(pd.unique(frame["ensemble"]))


def _grid(n: int, ncols: int, panel_w: float, panel_h: float, **kw):
    nrows = int(np.ceil(n / ncols))
    ncols = min(ncols, n)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_w * ncols, panel_h * nrows),
                             squeeze=False, layout="constrained", **kw)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.remove()
    return fig, flat[:n]


def plot_reliability(curves: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]],
                     stem: str = "uq_05_reliability", figures_dir: str | Path = "figures",
                     caption: str = "", title: str | None = None) -> Figure:
    """Reliability diagrams (SOC paper Figure 11): one square panel per outer key (an
    ensemble, e.g. ``"hybrid"``, ``"β-NLL"``), one line per inner key (e.g.
    ``"pre-calibration"``, ``"post-calibration (T = 0.92)"``) of ``(nominal, observed)``
    coverage, the dashed diagonal = perfect calibration; both axes 0-1."""
    names = _nonempty(curves, "plot_reliability")
    for name in names:
        _nonempty(curves[name], f"plot_reliability panel {name!r}")
    fig, axes = _grid(len(names), 4, 4.0, 4.1)
    for ax, name in zip(axes, names):
        for k, (label, value) in enumerate(curves[name].items()):
            nominal, observed = _pair(value, f"{name} / {label}", ("nominal", "observed"))
            order = np.argsort(nominal, kind="stable")
            ax.plot(nominal[order], observed[order], "-", marker="." if nominal.size <= 30
                    else None, color=f"C{k}", label=str(label))
        ax.plot([0, 1], [0, 1], "--", color="0.4", lw=0.9, label="perfect calibration")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_xlabel("nominal coverage (predicted quantile)")
        ax.set_ylabel("observed coverage")
        ax.set_title(str(name))
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    return _finish(fig, stem, figures_dir, caption, title)


def _lines_vs_m(ax, frame: pd.DataFrame, col: str, ensembles: list, ms: float) -> str | None:
    """One line of ``col`` against ``M`` per ensemble, with a ±1 sd band where the frame has
    ``<col> sd``; returns that sd column's name (None without one)."""
    sd_col = f"{col} sd" if f"{col} sd" in frame.columns else None
    for k, ens in enumerate(ensembles):
        sub = frame.loc[frame["ensemble"] == ens].sort_values("M")
        m = sub["M"].to_numpy(dtype=float)
        y = sub[col].to_numpy(dtype=float)
        ax.plot(m, y, "-o", color=f"C{k}", ms=ms, label=str(ens))
        if sd_col is not None:
            sd = np.nan_to_num(sub[sd_col].to_numpy(dtype=float), nan=0.0)
            ax.fill_between(m, y - sd, y + sd, color=f"C{k}", alpha=0.2, lw=0)
    return sd_col


def plot_epistemic_fraction(frame: pd.DataFrame, stem: str = "uq_05_epistemic_fraction",
                            figures_dir: str | Path = "figures", caption: str = "",
                            title: str | None = None) -> Figure:
    """Epistemic fraction sigma²_epistemic / sigma²_total against the ensemble size M, one
    line per ``ensemble`` (SOC paper Figure 12). Columns ``ensemble``, ``M``, ``epistemic
    fraction``; with ``epistemic fraction sd`` (spread over member subsets) a ±1 sd band."""
    col = "epistemic fraction"
    frame = _check_frame(frame, ("ensemble", "M", col), "plot_epistemic_fraction")
    sd_col = f"{col} sd" if f"{col} sd" in frame.columns else None
    fig, ax = plt.subplots(figsize=(5.5, 4.0), layout="constrained")
    _lines_vs_m(ax, frame, col, _ensembles(frame), ms=5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0)
    ax.set_xlabel("ensemble size M")
    ax.set_ylabel("epistemic fraction σ²_epi / σ²_total")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="ensemble" + (" (band: ±1 sd over subsets)" if sd_col else ""),
              title_fontsize=8)
    return _finish(fig, stem, figures_dir, caption, title)


def plot_metrics_vs_m(frame: pd.DataFrame,
                      metrics: Sequence[str] = ("RMSE", "MAPE", "NLL", "ECE"),
                      stem: str = "uq_05_metrics_vs_m", figures_dir: str | Path = "figures",
                      caption: str = "", title: str | None = None) -> Figure:
    """Accuracy and calibration against the ensemble size M (SOC paper Figure 13): one panel
    per metric of ``metrics`` present in ``frame`` (two per row, missing ones skipped), one
    line per ``ensemble``; NLL (any metric whose name starts with ``NLL``) on a symlog y-scale
    (``linthresh=1``: a single member's NLL can be in the hundreds); optional ``<metric> sd``
    columns drawn as a ±1 sd band."""
    frame = _check_frame(frame, ("ensemble", "M"), "plot_metrics_vs_m")
    present = [m for m in metrics if m in frame.columns]
    if not present:
        raise ValueError(f"plot_metrics_vs_m: none of the metrics {list(metrics)} is a column; "
                         f"has {list(frame.columns)}")
    fig, axes = _grid(len(present), 2, 4.6, 3.4)
    ensembles = _ensembles(frame)
    for ax, metric in zip(axes, present):
        _lines_vs_m(ax, frame, metric, ensembles, ms=4)
        if metric.upper().startswith("NLL"):
            ax.set_yscale("symlog", linthresh=1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("ensemble size M")
        ax.set_ylabel(metric)
        ax.set_title(metric + (" (symlog)" if metric.upper().startswith("NLL") else ""),
                     fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, title="ensemble", title_fontsize=8)
    return _finish(fig, stem, figures_dir, caption, title)


def density_hexbin(ax, y: np.ndarray, p: np.ndarray, lo: float, hi: float, gridsize: int,
                   log: bool = False):
    """Predicted against true as hexagons coloured by log point count over the square
    [lo, hi]² (log axes with ``log``); returns the hexbin collection."""
    if log:
        return ax.hexbin(y, p, gridsize=gridsize, xscale="log", yscale="log",
                         extent=(np.log10(lo), np.log10(hi), np.log10(lo), np.log10(hi)),
                         bins="log", cmap="viridis", mincnt=1)
    return ax.hexbin(y, p, gridsize=gridsize, extent=(lo, hi, lo, hi), bins="log",
                     cmap="viridis", mincnt=1)


def plot_pred_vs_true(panels: Mapping[str, tuple[np.ndarray, np.ndarray]], units: str = "",
                      stem: str = "uq_05_pred_vs_true", figures_dir: str | Path = "figures",
                      caption: str = "", title: str | None = None, log: bool = False,
                      gridsize: int = 30) -> Figure:
    """Predicted (y) against true (x), one panel per configuration ``name -> (true,
    predicted)`` (SOC paper Figure 14). Colour = point density as a ``hexbin`` (``mincnt=1``,
    log-scaled counts, one colour scale and colour bar for all panels), whatever n; all panels
    share the axis limits; the red line is 1:1. Each title gives n, RMSE (in ``units``) and
    R² = 1 - SS_res / SS_tot of the finite pairs. ``log`` draws both axes on a log scale
    (only positive values are shown then)."""
    names = _nonempty(panels, "plot_pred_vs_true")
    data = {}
    for name in names:
        y, p = _pair(panels[name], name, ("true", "predicted"))
        ok = np.isfinite(y) & np.isfinite(p)
        if log:
            ok &= (y > 0) & (p > 0)
        if not ok.any():
            raise ValueError(f"panel {name!r}: no finite{' positive' if log else ''} "
                             "(true, predicted) pair")
        data[name] = (y[ok], p[ok])
    allv = np.concatenate([np.concatenate(v) for v in data.values()])
    lo, hi = float(allv.min()), float(allv.max())
    if log:
        lo, hi = lo / 1.15, hi * 1.15
        if hi <= lo * 1.01:
            lo, hi = lo / 2, hi * 2
    else:
        pad = 0.04 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.1
        lo, hi = lo - pad, hi + pad
    n = len(names)
    fig, axes = _grid(n, 4, 3.8, 4.2, sharex=True, sharey=True)
    hexes = []
    u = f" ({units})" if units else ""
    for k, (ax, name) in enumerate(zip(axes, names)):
        y, p = data[name]
        rmse = float(np.sqrt(np.mean((p - y) ** 2)))
        ss_tot = float(np.sum((y - y.mean()) ** 2))
        r2 = 1.0 - float(np.sum((p - y) ** 2)) / ss_tot if ss_tot > 0 else float("nan")
        hexes.append(density_hexbin(ax, y, p, lo, hi, gridsize, log))
        ax.plot([lo, hi], [lo, hi], "r-", lw=0.9, label="1:1")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.set_title(f"{name} (n = {y.size})\nRMSE {rmse:.3g}{' ' + units if units else ''}, "
                     f"R² {r2:.3f}", fontsize=9)
        ax.set_xlabel(f"true{u}")
        if k % 4 == 0:
            ax.set_ylabel(f"predicted{u}")
    vmax = max(float(np.nanmax(h.get_array())) if h.get_array().size else 1.0 for h in hexes)
    for h in hexes:
        h.set_clim(1, max(vmax, 2.0))
    fig.colorbar(hexes[-1], ax=axes, shrink=0.8, label="points per hexagon")
    return _finish(fig, stem, figures_dir, caption, title)


def plot_coverage_shift(frame: pd.DataFrame, stem: str = "uq_05_coverage_shift",
                        figures_dir: str | Path = "figures", caption: str = "",
                        title: str | None = None) -> Figure:
    """Calibration in distribution against under shift, as grouped bars: one group per
    ``split`` (e.g. ``"in-distribution test"``, ``"unseen regions"``), one bar per
    ``ensemble``. Left: ``Cov@95 (VP)`` (solid) and ``Cov@95 (Gauss)`` (hatched) with the
    nominal 0.95 line (y-axis zoomed to the values, bars labelled); right: ``ECE``. Needs
    ``split``, ``ensemble``, ``ECE`` and at least one of the two coverage columns; one row
    per (split, ensemble)."""
    frame = _check_frame(frame, ("split", "ensemble", "ECE"), "plot_coverage_shift")
    cov_cols = [c for c in ("Cov@95 (VP)", "Cov@95 (Gauss)") if c in frame.columns]
    if not cov_cols:
        raise ValueError("plot_coverage_shift: needs 'Cov@95 (VP)' and / or 'Cov@95 (Gauss)'; "
                         f"has {list(frame.columns)}")
    dup = frame.duplicated(["split", "ensemble"])
    if dup.any():
        first = frame.loc[dup, ["split", "ensemble"]].iloc[0].tolist()
        raise ValueError(f"plot_coverage_shift: {int(dup.sum())} duplicated (split, ensemble) "
                         f"row(s), e.g. {first}")
    splits = list(pd.unique(frame["split"]))
    ensembles = _ensembles(frame)
    table = frame.set_index(["split", "ensemble"])
    fig, (ax_c, ax_e) = plt.subplots(1, 2, figsize=(max(9.0, 2.6 * len(splits) + 5), 4.0),
                                     layout="constrained")
    x = np.arange(len(splits), dtype=float)
    hatches = {"Cov@95 (VP)": None, "Cov@95 (Gauss)": "///"}

    def value(s, e, c):
        return float(table.loc[(s, e), c]) if (s, e) in table.index else np.nan

    n_bars = len(ensembles) * len(cov_cols)
    width = 0.8 / n_bars
    covs = []
    for k, ens in enumerate(ensembles):
        for j, c in enumerate(cov_cols):
            i = k * len(cov_cols) + j
            v = np.array([value(s, ens, c) for s in splits])
            covs.append(v)
            bars = ax_c.bar(x - 0.4 + (i + 0.5) * width, v, width, color=f"C{k}",
                            alpha=0.85, hatch=hatches[c], edgecolor="white",
                            label=f"{ens}, {c.split('(')[-1].rstrip(')')}")
            ax_c.bar_label(bars, fmt="%.3f", fontsize=6.5, padding=1)
    ax_c.axhline(0.95, color="k", ls="--", lw=0.9, label="nominal 0.95")
    finite = np.concatenate(covs)
    finite = finite[np.isfinite(finite)]
    lo = float(np.floor((min(finite.min(), 0.95) - 0.05) * 20) / 20) if finite.size else 0.0
    ax_c.set_ylim(max(lo, 0.0), 1.02)
    ax_c.set_ylabel("coverage of the 95 % interval")
    ax_c.set_title("Cov@95 (VP: Vysochanskij-Petunin, Gauss: Gaussian)", fontsize=9)
    ax_c.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))

    width = 0.8 / len(ensembles)
    for k, ens in enumerate(ensembles):
        v = np.array([value(s, ens, "ECE") for s in splits])
        bars = ax_e.bar(x - 0.4 + (k + 0.5) * width, v, width, color=f"C{k}", alpha=0.85,
                        label=str(ens))
        ax_e.bar_label(bars, fmt="%.3f", fontsize=7, padding=1)
    ax_e.set_ylim(bottom=0)
    ax_e.margins(y=0.15)
    ax_e.set_ylabel("ECE")
    ax_e.set_title("expected calibration error", fontsize=9)
    ax_e.legend(fontsize=7, title="ensemble", title_fontsize=7)
    for ax in (ax_c, ax_e):
        ax.set_xticks(x, [str(s) for s in splits])
        ax.grid(axis="y", alpha=0.3)
    return _finish(fig, stem, figures_dir, caption, title)


# ------------------------------------------------------------------------ stage 06
def plot_qq(z: Mapping[str, np.ndarray], stem: str = "uq_06_qq",
            figures_dir: str | Path = "figures", caption: str = "",
            title: str | None = None) -> Figure:
    """Normal Q-Q plot of the standardised residuals, one panel per series ``name -> z``:
    ordered z against the standard normal quantiles (``scipy.stats.probplot``), the dashed
    line y = x (z ~ N(0, 1)); non-finite values are dropped, at least 3 must remain."""
    from scipy import stats

    names = _nonempty(z, "plot_qq")
    series = {}
    for name in names:
        v = _vector(z[name], name, "z")
        v = v[np.isfinite(v)]
        if v.size < 3:
            raise ValueError(f"panel {name!r}: needs at least 3 finite z values, has {v.size}")
        series[name] = v
    fig, axes = _grid(len(names), 4, 4.0, 4.1)
    for ax, name in zip(axes, names):
        v = series[name]
        (osm, osr), _ = stats.probplot(v, dist="norm")
        ax.plot(osm, osr, "o", ms=2.5, alpha=0.6, color="C0", label="ordered z")
        lim = float(max(np.abs(osm).max(), np.abs(osr).max())) * 1.05
        ax.plot([-lim, lim], [-lim, lim], "--", color="C3", lw=1.0, label="y = x (N(0, 1))")
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xlabel("theoretical N(0, 1) quantile")
        ax.set_ylabel("standardised residual z")
        ax.set_title(f"{name} (n = {v.size})", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    return _finish(fig, stem, figures_dir, caption, title)


def plot_z2_vs(panels: Mapping[str, Mapping[str, np.ndarray]], stem: str = "uq_06_z2_vs",
               figures_dir: str | Path = "figures", caption: str = "",
               title: str | None = None, logy: bool = False) -> Figure:
    """Heteroscedasticity of the standardised residuals (the Breusch-Pagan view): rows =
    panels (ensembles, ``name -> {"z", "sigma", "mu"}``), columns = regressor (sigma, mu);
    each cell scatters z² against the regressor with the OLS fit of z² on [1, regressor]
    (``np.polyfit`` degree 1, slope in the legend) and the dotted reference z² = 1. ``logy``
    puts z² on a log axis (zero z² is then drawn at the smallest positive value)."""
    names = _nonempty(panels, "plot_z2_vs")
    data = {}
    for name in names:
        d = panels[name]
        if not isinstance(d, Mapping):
            raise ValueError(f"panel {name!r}: expected a mapping with keys 'z', 'sigma', 'mu'")
        missing = [k for k in ("z", "sigma", "mu") if k not in d]
        if missing:
            raise ValueError(f"panel {name!r}: missing key(s) {missing}")
        arrs = {k: _vector(d[k], name, k) for k in ("z", "sigma", "mu")}
        sizes = {k: a.size for k, a in arrs.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"panel {name!r}: lengths differ: {sizes}")
        ok = np.logical_and.reduce([np.isfinite(a) for a in arrs.values()])
        if ok.sum() < 2:
            raise ValueError(f"panel {name!r}: needs at least 2 finite (z, sigma, mu) rows, "
                             f"has {int(ok.sum())}")
        data[name] = {k: a[ok] for k, a in arrs.items()}
    n = len(names)
    fig, axes = plt.subplots(n, 2, figsize=(9.0, 3.3 * n), squeeze=False, layout="constrained")
    regressors = (("sigma", "predicted σ"), ("mu", "predicted μ"))
    for r, name in enumerate(names):
        d = data[name]
        z2 = d["z"] ** 2
        for c, (key, label) in enumerate(regressors):
            ax = axes[r, c]
            x = d[key]
            y_plot = z2
            if logy:
                pos = z2[z2 > 0]
                floor = float(pos.min()) if pos.size else 1e-6
                y_plot = np.maximum(z2, floor)
            ax.scatter(x, y_plot, s=6, alpha=0.45, color=f"C{r}", linewidths=0, label="z²")
            if np.ptp(x) > 0:
                slope, intercept = np.polyfit(x, z2, 1)
                xs = np.linspace(x.min(), x.max(), 50)
                ax.plot(xs, intercept + slope * xs, "-", color="k", lw=1.3,
                        label=f"OLS: z² = {intercept:.3g} {'-' if slope < 0 else '+'} "
                              f"{abs(slope):.3g}·{label[-1]}")
            ax.axhline(1.0, color="C3", ls=":", lw=1.2, label="z² = 1")
            if logy:
                ax.set_yscale("log")
            ax.set_xlabel(label)
            ax.set_ylabel("z²")
            ax.set_title(f"{name}: z² against {label[-1]}", fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="upper right")
    return _finish(fig, stem, figures_dir, caption, title)


def _lisa_labels(labels, n: int) -> np.ndarray:
    raw = np.asarray(labels, dtype=object).ravel()
    if raw.size != n:
        raise ValueError(f"plot_lisa_map: lat/lon have {n} points, labels {raw.size}")
    out = np.empty(raw.size, dtype=object)
    unknown = set()
    for i, v in enumerate(raw):
        if isinstance(v, (float, np.floating)) and np.isnan(v):
            key = "nan"
        elif isinstance(v, (int, np.integer, float, np.floating)) and float(v).is_integer():
            key = str(int(v))
        else:
            key = str(v).strip().lower()
        canon = _LISA_ALIASES.get(key)
        if canon is None:
            unknown.add(str(v))
        out[i] = canon
    if unknown:
        raise ValueError(f"plot_lisa_map: unknown LISA label(s) {sorted(unknown)[:5]}; "
                         f"expected one of {list(LISA_COLORS)}")
    return out


def plot_lisa_map(lat, lon, labels, stem: str = "uq_06_lisa_map",
                  figures_dir: str | Path = "figures", caption: str = "",
                  title: str | None = None, values=None,
                  values_label: str = "residual") -> Figure:
    """Where the residuals cluster: points on :func:`geohet_lib.maps.world_map` coloured by
    their local Moran's I (LISA) class: ``"HH"`` red, ``"LL"`` blue, ``"LH"`` light blue,
    ``"HL"`` orange, ``"not significant"`` small light grey (drawn first, underneath); the
    legend gives the count per class (all five, zeros included). Labels may also be
    ``"High-High"``-style words, ``"ns"``, or esda's integer quadrants (1 HH, 2 LH, 3 LL,
    4 HL, 0 not significant). The extent is the points' box plus a margin (plate carrée),
    or the whole globe (Robinson) when they span it. ``values`` (e.g. the residuals) adds a
    second panel on the same extent, diverging ``RdBu_r`` with limits ±(98th percentile of
    |value|)."""
    import cartopy.crs as ccrs
    from matplotlib.colors import TwoSlopeNorm

    lat = _vector(lat, "map", "lat")
    lon = _vector(lon, "map", "lon")
    if lat.size != lon.size:
        raise ValueError(f"plot_lisa_map: lat has {lat.size} values, lon {lon.size}")
    if lat.size == 0:
        raise ValueError("plot_lisa_map: no points")
    lab = _lisa_labels(labels, lat.size)
    vals = None
    if values is not None:
        vals = _vector(values, "map", "values")
        if vals.size != lat.size:
            raise ValueError(f"plot_lisa_map: lat/lon have {lat.size} points, values "
                             f"{vals.size}")
    extent = map_extent(lat, lon)
    pc = ccrs.PlateCarree()
    proj = pc if extent is not None else ccrs.Robinson()
    n_pan = 1 if vals is None else 2
    if extent is not None:
        aspect = (extent[3] - extent[2]) / max(extent[1] - extent[0], 1e-6)
        panel_w = 6.0 if n_pan == 2 else 8.0
        panel_h = float(np.clip(panel_w * aspect, 2.0, 7.0))
    else:
        panel_w, panel_h = (6.5, 3.4) if n_pan == 2 else (10.0, 5.0)
    fig = plt.figure(figsize=(panel_w * n_pan, panel_h + 1.2), layout="constrained")
    ax = fig.add_subplot(1, n_pan, 1, projection=proj)
    world_map(ax)
    if extent is not None:
        ax.set_extent(extent, crs=pc)
    counts = {k: int(np.sum(lab == k)) for k in LISA_COLORS}
    size = 6.0 if lat.size > 2000 else 14.0
    for k, color in reversed(list(LISA_COLORS.items())):  # not significant first, underneath
        sel = lab == k
        ns = k == "not significant"
        ax.scatter(lon[sel], lat[sel], s=size * (0.45 if ns else 1.0), color=color,
                   edgecolors="none" if ns else "0.25", linewidths=0.0 if ns else 0.3,
                   transform=pc, zorder=4 if ns else 5, label=f"{k} ({counts[k]:,})")
    handles, texts = ax.get_legend_handles_labels()
    leg = ax.legend(handles[::-1], texts[::-1], loc="lower left", fontsize=8,
                    title="LISA cluster (n)", title_fontsize=8, framealpha=0.9)
    for h in leg.legend_handles:
        h.set_sizes([25.0])
    n_sig = lat.size - counts["not significant"]
    ax.set_title(f"LISA clusters of the residuals ({n_sig:,} of {lat.size:,} significant)",
                 fontsize=10)
    if vals is not None:
        ax2 = fig.add_subplot(1, n_pan, 2, projection=proj)
        world_map(ax2)
        if extent is not None:
            ax2.set_extent(extent, crs=pc)
        fin = vals[np.isfinite(vals)]
        vmax = float(np.quantile(np.abs(fin), 0.98)) if fin.size else 1.0
        vmax = vmax if vmax > 0 else 1.0
        order = np.argsort(np.abs(np.nan_to_num(vals, nan=0.0)))  # largest on top
        sc = ax2.scatter(lon[order], lat[order], c=vals[order], s=size, cmap="RdBu_r",
                         norm=TwoSlopeNorm(0.0, -vmax, vmax), transform=pc,
                         edgecolors="0.3", linewidths=0.2, zorder=5)
        fig.colorbar(sc, ax=ax2, orientation="horizontal", shrink=0.8, pad=0.03,
                     extend="both", label=values_label)
        ax2.set_title(f"{values_label} (largest |value| on top)", fontsize=10)
    return _finish(fig, stem, figures_dir, caption, title)
