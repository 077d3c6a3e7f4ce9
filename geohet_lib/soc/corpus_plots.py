"""Figures of stage 01 (SOC study): where the samples are, how SOC is distributed, which
covariates are missing, and what the image patches look like (SOC paper 4.1-4.4, Figures 5-7).

Every function writes PNG + PDF with :func:`geohet_lib.maps.finish_figure` (the caption below
the axes says what was run) and returns the ``Figure`` for the notebook to show. Maps use the offline Natural Earth
110m layers of :func:`geohet_lib.maps.world_map`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
import numpy as np
import pandas as pd

from ..maps import finish_figure, world_map
from .covariates import COVARIATE_GROUPS, COVARIATE_NAMES, GROUP_NAMES

AREA_COLORS = {"africa": "#d95f02", "europe": "#1b9e77", "other": "#7570b3"}
#: map extents (lon0, lon1, lat0, lat1) of the regional panels
REGION_EXTENTS = {"africa": (-20.0, 55.0, -37.0, 38.0), "europe": (-25.0, 45.0, 33.0, 72.0)}
#: SOC paper 4.4 / Figure 7b: the normal fitted to log(1 + SOC) of the paper's corpus
PAPER_LOG_FIT = (2.62, 0.62)


def _areas(corpus: pd.DataFrame) -> list[str]:
    present = list(pd.unique(corpus["area"]))
    known = [a for a in AREA_COLORS if a in present]
    return known + sorted(a for a in present if a not in AREA_COLORS)


def _area_color(area: str, k: int) -> str:
    return AREA_COLORS.get(area, f"C{k + 3}")


def _marker_size(n: int, lo: float = 1.5, hi: float = 14.0) -> float:
    return float(np.clip(3000.0 / max(n, 1), lo, hi))


def _check_columns(corpus: pd.DataFrame, cols) -> None:
    missing = [c for c in cols if c not in corpus.columns]
    if missing:
        raise ValueError(f"corpus lacks column(s) {missing}: pass the stage-01 corpus "
                         "(geohet_lib.soc.stage01.load_corpus)")


def _bubbles(sub: pd.DataFrame, cell_deg: float) -> pd.DataFrame:
    """Samples per source and ``cell_deg`` grid cell: mean position and count."""
    key = pd.DataFrame({"source": sub["source"].to_numpy(),
                        "i": np.floor(sub["lat"].to_numpy(float) / cell_deg),
                        "j": np.floor(sub["lon"].to_numpy(float) / cell_deg),
                        "lat": sub["lat"].to_numpy(float), "lon": sub["lon"].to_numpy(float)})
    return (key.groupby(["source", "i", "j"], sort=False)
            .agg(lat=("lat", "mean"), lon=("lon", "mean"), n=("lat", "size")).reset_index())


def _bubble_area(n: np.ndarray, n_max: float, max_area: float = 400.0,
                 min_area: float = 5.0) -> np.ndarray:
    """Marker area (pt^2) proportional to the count, the densest cell ``max_area`` (at most 8
    pt^2 per sample), floored at ``min_area`` so single samples stay visible."""
    per_sample = min(max_area / max(float(n_max), 1.0), 8.0)
    return np.maximum(per_sample * np.asarray(n, float), min_area)


def plot_corpus_map(corpus: pd.DataFrame, figures_dir: str | Path, caption: str | None = None,
                    stem: str = "soc_01_corpus_map", cell_deg: float = 0.5) -> Figure:
    """Samples on a world map coloured by area (top), and Africa and Europe below (SOC paper
    Figure 5): samples counted per source database and ``cell_deg`` grid cell, one bubble
    per cell with its area proportional to the count, so that tight sampling clusters
    (AfSIS sentinel sites) show their weight."""
    import cartopy.crs as ccrs

    _check_columns(corpus, ("lat", "lon", "area", "source"))
    pc = ccrs.PlateCarree()
    fig = plt.figure(figsize=(12, 10.5))
    gs = fig.add_gridspec(2, 2, height_ratios=(1.0, 1.05), hspace=0.12, wspace=0.08,
                          left=0.02, right=0.98, top=0.95, bottom=0.06)
    ax = fig.add_subplot(gs[0, :], projection=ccrs.Robinson())
    world_map(ax=ax)
    s = _marker_size(len(corpus), 0.8, 10.0)
    for k, area in enumerate(_areas(corpus)):
        sel = corpus["area"] == area
        ax.scatter(corpus.loc[sel, "lon"], corpus.loc[sel, "lat"], s=s, linewidths=0,
                   color=_area_color(area, k), transform=pc, zorder=4,
                   label=f"{area} ({int(sel.sum()):,})")
    ax.legend(loc="lower left", fontsize=8, markerscale=max(1.0, 6.0 / np.sqrt(s)),
              title="area", title_fontsize=8, framealpha=0.9)
    ax.set_title(f"{len(corpus):,} soil samples, {corpus['source'].nunique()} source databases")

    sources = sorted(pd.unique(corpus["source"]))
    palette = [f"C{i}" for i in range(10) if i != 7]  # no grey: it reads as background
    src_color = {src: palette[i % len(palette)] for i, src in enumerate(sources)}
    for j, (area, extent) in enumerate(REGION_EXTENTS.items()):
        ax = fig.add_subplot(gs[1, j], projection=pc)
        world_map(ax=ax)
        ax.set_extent(extent, crs=pc)
        sub = corpus.loc[corpus["area"] == area]
        bubbles = _bubbles(sub, cell_deg)
        n_max = float(bubbles["n"].max()) if len(bubbles) else 1.0
        # sources with the biggest bubbles first, so scattered samples stay visible on top
        order = bubbles.groupby("source")["n"].max().sort_values(ascending=False).index
        for src in order:
            b = bubbles.loc[bubbles["source"] == src]
            ax.scatter(b["lon"], b["lat"], s=_bubble_area(b["n"].to_numpy(), n_max),
                       color=src_color[src], alpha=0.7, linewidths=0.3, edgecolors="white",
                       transform=pc, zorder=4, label=f"{src} ({int(b['n'].sum()):,})")
        if len(sub):
            leg = ax.legend(loc="lower left", fontsize=8, title="source", title_fontsize=8,
                            framealpha=0.9)
            for h in leg.legend_handles:
                h.set_sizes([25.0])
            ax.add_artist(leg)
            top = int(bubbles["n"].max())
            ref = [v for v in (1, 10, 100, 1000) if v < 0.7 * top] + [max(top, 1)]
            hs = [ax.scatter([], [], s=_bubble_area(np.array([v]), n_max)[0], color="0.5",
                             alpha=0.7)
                  for v in ref]
            ax.legend(hs, [f"{v}" for v in ref], loc="upper right", fontsize=7,
                      title=f"samples per {cell_deg:g}° cell", title_fontsize=7,
                      framealpha=0.9, labelspacing=1.2, borderpad=0.8)
        gl = ax.gridlines(draw_labels=True, linewidth=0.3, color="0.6", alpha=0.6)
        gl.top_labels = gl.right_labels = False
        gl.xlabel_style = gl.ylabel_style = {"size": 7}
        ax.set_title(f"{area.capitalize()}: {len(sub):,} samples", fontsize=10)
    return finish_figure(fig, stem, figures_dir, caption)


def plot_soc_distribution(corpus: pd.DataFrame, figures_dir: str | Path,
                          caption: str | None = None, stem: str = "soc_01_soc_distribution"
                          ) -> Figure:
    """SOC (g/kg) stacked by area, and log(1 + SOC) per area with a normal fitted to all
    samples beside the paper's fit (SOC paper Figure 7, mu = 2.62, sigma = 0.62)."""
    from scipy.stats import norm, skew

    _check_columns(corpus, ("soc_gkg", "area"))
    soc = corpus["soc_gkg"].to_numpy(float)
    ok = np.isfinite(soc)
    areas = _areas(corpus)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    ax = axes[0]
    bins = np.linspace(0.0, max(float(np.nanmax(soc[ok])) if ok.any() else 1.0, 1.0) * 1.001,
                       41)
    parts = [soc[ok & (corpus["area"] == a).to_numpy()] for a in areas]
    ax.hist(parts, bins=bins, stacked=True, label=[f"{a} ({p.size:,})" for a, p in
                                                   zip(areas, parts)],
            color=[_area_color(a, k) for k, a in enumerate(areas)])
    med = float(np.median(soc[ok])) if ok.any() else np.nan
    ax.axvline(med, color="k", lw=1, ls="--", label=f"median {med:.1f}")
    ax.set_xlabel("SOC (g/kg)")
    ax.set_ylabel("samples")
    sk = float(skew(soc[ok])) if ok.sum() > 2 else np.nan
    ax.set_title(f"(a) SOC by area: mean {np.mean(soc[ok]):.2f} ± {np.std(soc[ok], ddof=1):.2f}, "
                 f"skewness {sk:.2f} (paper 1.61)", fontsize=10)
    ax.legend(fontsize=8)

    ax = axes[1]
    z = np.log1p(soc[ok])
    zb = np.linspace(max(z.min() - 0.2, 0.0), max(z.max(), 4.3), 36) if z.size else 10
    ax.hist(z, bins=zb, density=True, color="0.85", label=f"all ({z.size:,})")
    for k, (a, p) in enumerate(zip(areas, parts)):
        if p.size:
            ax.hist(np.log1p(p), bins=zb, density=True, histtype="step", lw=1.4,
                    color=_area_color(a, k), label=a)
    xs = np.linspace(zb[0], zb[-1], 300) if z.size else np.linspace(0, 4.5, 300)
    if z.size > 1:
        mu, sd = norm.fit(z)
        ax.plot(xs, norm.pdf(xs, mu, sd), "k-", lw=1.6,
                label=f"normal fit: μ = {mu:.2f}, σ = {sd:.2f}")
    pm, ps = PAPER_LOG_FIT
    ax.plot(xs, norm.pdf(xs, pm, ps), color="k", ls=":", lw=1.4,
            label=f"paper: μ = {pm:.2f}, σ = {ps:.2f}")
    ax.set_xlabel("log(1 + SOC)")
    ax.set_ylabel("density")
    ax.set_title("(b) log(1 + SOC): approximately normal", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return finish_figure(fig, stem, figures_dir, caption)


def missingness_table(corpus: pd.DataFrame) -> pd.DataFrame:
    """Fraction of covariate values missing per Table 2 group (rows) and area (columns, plus
    ``all``)."""
    _check_columns(corpus, ("area", *COVARIATE_NAMES))
    cols = {}
    for a in [*_areas(corpus), "all"]:
        sub = corpus if a == "all" else corpus.loc[corpus["area"] == a]
        cols[a] = {g: float(sub[list(COVARIATE_GROUPS[g])].isna().to_numpy().mean())
                   if len(sub) else np.nan for g in GROUP_NAMES}
    return pd.DataFrame(cols).rename_axis("group")


def plot_missingness(corpus: pd.DataFrame, figures_dir: str | Path, caption: str | None = None,
                     stem: str = "soc_01_missingness") -> Figure:
    """Fraction missing per covariate group and area (top) and per covariate (bottom)."""
    table = missingness_table(corpus)
    areas = [c for c in table.columns if c != "all"]
    fig, axes = plt.subplots(2, 1, figsize=(13, 8.2), height_ratios=(1.0, 1.15))
    ax = axes[0]
    x = np.arange(len(GROUP_NAMES))
    width = 0.8 / (len(areas) + 1)
    for k, a in enumerate([*areas, "all"]):
        color = "0.3" if a == "all" else _area_color(a, k)
        ax.bar(x + (k - len(areas) / 2) * width, 100 * table[a].to_numpy(), width, color=color,
               label=a)
    ax.set_xticks(x, [f"{g.replace('_', ' ')}\n({len(COVARIATE_GROUPS[g])})" for g in GROUP_NAMES],
                  fontsize=8)
    ax.set_ylabel("values missing (%)")
    rows = corpus[list(COVARIATE_NAMES)].isna().any(axis=1).mean()
    ax.set_title(f"Missing covariate values per Table 2 group: {100 * table['all'].mean():.1f} % "
                 f"of values on average, {100 * rows:.0f} % of samples miss at least one "
                 "(filled by KNN, k = 5, fitted on training rows)", fontsize=10)
    ax.legend(fontsize=8, title="area", title_fontsize=8)

    ax = axes[1]
    frac = corpus[list(COVARIATE_NAMES)].isna().mean().to_numpy()
    group_of = {c: g for g, cs in COVARIATE_GROUPS.items() for c in cs}
    colors = [f"C{GROUP_NAMES.index(group_of[c])}" for c in COVARIATE_NAMES]
    ax.bar(np.arange(len(COVARIATE_NAMES)), 100 * frac, color=colors)
    ax.set_xticks(np.arange(len(COVARIATE_NAMES)), COVARIATE_NAMES, rotation=90, fontsize=6.5)
    ax.set_xlim(-0.7, len(COVARIATE_NAMES) - 0.3)
    ax.set_ylabel("values missing (%)")
    ax.set_title("Per covariate (all samples), coloured by group", fontsize=10)
    handles = [plt.Rectangle((0, 0), 1, 1, color=f"C{i}") for i in range(len(GROUP_NAMES))]
    ax.legend(handles, [g.replace("_", " ") for g in GROUP_NAMES], fontsize=7, ncol=4,
              loc="upper right")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return finish_figure(fig, stem, figures_dir, caption)


def _band_index(source, name: str, default: int) -> int:
    names = getattr(source, "channel_names", {}) or {}
    s2 = list(names.get("s2", []))
    return s2.index(name) if name in s2 else default


def _true_colour(rgb: np.ndarray, white: float) -> np.ndarray:
    """Reflectance to display values: ``white`` maps to 1 (no offset, so colours keep their
    balance), then a mild gamma brightens the dark vegetation."""
    return np.clip(rgb / max(white, 1e-6), 0.0, 1.0) ** (1 / 1.4)


def plot_patch_examples(source, ids, figures_dir: str | Path, caption: str | None = None,
                        labels: list[str] | None = None, stem: str = "soc_01_patch_examples"
                        ) -> Figure:
    """One row per sample (corpus row ``ids``): Sentinel-2 true colour (B4, B3, B2, one
    brightness scale for all samples: the 99th percentile of their visible reflectance is
    white), Sentinel-1 VV (dB) and the DEM (m). ``labels`` (one per sample) title the rows,
    e.g. area and SOC."""
    ids = np.asarray(ids, dtype=np.int64).ravel()
    if ids.size == 0:
        raise ValueError("ids is empty: pass the corpus rows of a few samples")
    if labels is not None and len(labels) != ids.size:
        raise ValueError(f"{len(labels)} labels for {ids.size} samples")
    p = source.get(ids)
    bands = [_band_index(source, b, d) for b, d in (("B4", 2), ("B3", 1), ("B2", 0))]
    n = ids.size
    fig, axes = plt.subplots(n, 3, figsize=(10.5, 3.0 * n + 0.6), squeeze=False,
                             gridspec_kw={"wspace": 0.45})
    px = getattr(source, "patch_size", p["s2"].shape[-1])
    white = float(np.nanpercentile(p["s2"][:, bands], 99))
    for i in range(n):
        rgb = np.moveaxis(p["s2"][i, bands], 0, -1)
        axes[i, 0].imshow(_true_colour(rgb, white), interpolation="nearest")
        im1 = axes[i, 1].imshow(p["s1"][i, 0], cmap="gray", interpolation="nearest")
        im2 = axes[i, 2].imshow(p["dem"][i, 0], cmap="terrain", interpolation="nearest")
        for ax, im, lab in ((axes[i, 1], im1, "VV (dB)"), (axes[i, 2], im2, "elevation (m)")):
            cax = ax.inset_axes((1.04, 0.0, 0.06, 1.0))  # keeps the three images one size
            fig.colorbar(im, cax=cax, label=lab)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
        axes[i, 0].set_ylabel(labels[i] if labels is not None else f"row {ids[i]}", fontsize=9)
    for ax, title in zip(axes[0], ("Sentinel-2 true colour (B4, B3, B2)", "Sentinel-1 VV",
                                   "DEM")):
        ax.set_title(title, fontsize=10)
    fig.suptitle(f"Image patches of {n} samples ({px} x {px} px at 10 m)", fontsize=11)
    fig.subplots_adjust(left=0.05, right=0.9, top=1 - 0.55 / (3.0 * n + 0.6), bottom=0.04)
    return finish_figure(fig, stem, figures_dir, caption)
