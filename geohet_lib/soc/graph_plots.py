"""Figures of stage 02 (SOC study): the three relations of the heterogeneous graph on a map,
and the degree distribution per relation (SOC paper 3.5, Table 1, Figure 8).

Both functions take the sample table the graph was built from and / or the
:class:`~geohet_lib.soc.graph.SOCGraph`, write PNG + PDF with
:func:`geohet_lib.maps.finish_figure` and return the ``Figure``. Maps use the offline Natural Earth
110m land and coastlines of :func:`geohet_lib.maps.world_map` (only the 110m scale ships).
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
import numpy as np
import pandas as pd

from ..maps import finish_figure, great_circle_polylines, map_extent, world_map  # noqa: F401 (map_extent: used here and by train_plots)
from .graph import RELATIONS, SOCGraph

_WEIGHT_LABEL = {
    "spatial": "1 / (1 + d / d0)",
    "vegetation": "exp(-|dNDVI| / tau_v)",
    "elevation": "exp(-|dz/d| / tau_t)",
}


def _region_slug(region_name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(region_name).lower()).strip("_") or "region"


def _edges_to_draw(graph: SOCGraph, rel: int, max_edges: int, rng: np.random.Generator):
    """Edges of one relation, each undirected pair once, at most ``max_edges`` (sampled)."""
    mask = (graph.edge_type == rel).numpy()
    ei = graph.edge_index.numpy()[:, mask]
    w = graph.edge_weight.numpy()[mask]
    # A pair stored in both directions is drawn once; a one-way edge is drawn too.
    lo, hi = np.minimum(ei[0], ei[1]), np.maximum(ei[0], ei[1])
    _, first = np.unique(lo * graph.num_nodes + hi, return_index=True)
    src, dst, w = ei[0, first], ei[1, first], w[first]
    total = src.size
    if total > max_edges:
        pick = np.sort(rng.choice(total, size=max_edges, replace=False))
        src, dst, w = src[pick], dst[pick], w[pick]
    return src, dst, w, total


def plot_relations(df: pd.DataFrame, graph: SOCGraph, figures_dir: str | Path = "figures",
                   caption: str | None = None, region_name: str = "region",
                   stem: str | None = None, max_edges: int = 4000, seed: int = 0
                   ) -> Figure:
    """The three relations side by side on a map of the region (paper Figure 8).

    Three panels (spatial, vegetation, elevation), each on :func:`world_map` with the
    extent set to the samples' lon/lat box plus a margin (a global map when they span the
    globe). Edges are great-circle arcs (cut at the antimeridian), coloured by their weight
    on a common 0-1 scale; at most ``max_edges`` per panel, sampled uniformly (``seed``), each
    undirected pair once. Default stem ``soc_02_relations_<region>``.
    """
    import cartopy.crs as ccrs
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    lat = df["lat"].to_numpy(dtype=float)
    lon = df["lon"].to_numpy(dtype=float)
    if lat.size != graph.num_nodes:
        raise ValueError(f"df has {lat.size} rows, the graph {graph.num_nodes} nodes")
    extent = map_extent(lat, lon)
    rng = np.random.default_rng(seed)
    pc = ccrs.PlateCarree()
    norm = Normalize(vmin=0.0, vmax=1.0)
    # Fixed layout in inches: three map panels whose height follows the extent's shape
    # (plate carree), titles above, the colour bar and save_figure's caption below.
    aspect = 0.5 if extent is None else (extent[3] - extent[2]) / (extent[1] - extent[0])
    W, side, gap, top, bottom = 16.0, 0.3, 0.35, 0.95, 1.25
    pw = (W - 2 * side - 2 * gap) / 3
    ph = pw * float(np.clip(aspect, 0.3, 1.8))
    H = ph + top + bottom
    fig = plt.figure(figsize=(W, H))
    lc = None
    for r, name in enumerate(RELATIONS):
        ax = fig.add_axes(((side + r * (pw + gap)) / W, bottom / H, pw / W, ph / H),
                          projection=pc)
        world_map(ax=ax)
        if extent is not None:
            ax.set_extent(extent, crs=pc)
        src, dst, w, total = _edges_to_draw(graph, r, max_edges, rng)
        if src.size:
            pieces, owner = great_circle_polylines(lon[src], lat[src], lon[dst], lat[dst],
                                                   n_points=8)
            segs = [ax.projection.transform_points(pc, p[:, 0], p[:, 1])[:, :2]
                    for p in pieces]
            lc = LineCollection(segs, cmap="viridis", norm=norm, linewidths=0.6, alpha=0.85,
                                zorder=3)
            lc.set_array(w[owner])
            ax.add_collection(lc)
        ax.scatter(lon, lat, s=float(np.clip(2000.0 / max(lat.size, 1), 0.05, 6.0)), c="0.6",
                   linewidths=0, transform=pc, zorder=2)
        drawn = f", {src.size:,} drawn" if src.size < total else ""
        ax.set_title(f"{name}: {total:,} pairs{drawn}\nweight {_WEIGHT_LABEL[name]}",
                     fontsize=9)
    if lc is not None:
        cax = fig.add_axes((0.3, 0.62 / H, 0.4, 0.16 / H))
        fig.colorbar(lc, cax=cax, orientation="horizontal", label="edge weight")
    cfg = graph.config
    adaptive = f", adaptive k = {cfg.adaptive_k_neighbours}" if cfg.adaptive_k else ""
    fig.suptitle(f"{region_name}: heterogeneous SOC graph, {graph.num_nodes:,} samples "
                 f"(k_spatial = {cfg.k_spatial}{adaptive}, k_NDVI = {cfg.k_ndvi}, "
                 f"max {cfg.max_distance_km:,.0f} km)", y=1.0 - 0.08 / H, va="top")
    return finish_figure(fig, stem or f"soc_02_relations_{_region_slug(region_name)}",
                      figures_dir, caption)


def plot_degree_histograms(graph: SOCGraph, figures_dir: str | Path = "figures",
                           caption: str | None = None, region_name: str = "region",
                           stem: str | None = None) -> Figure:
    """In-degree per node (the neighbours each node aggregates) for each relation, one
    panel per relation, integer bins; isolated nodes counted in the title. Default stem
    ``soc_02_degrees_<region>``."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for r, (ax, name) in enumerate(zip(axes, RELATIONS)):
        deg = graph.in_degree(r)
        top = int(deg.max()) if deg.size else 0
        ax.hist(deg, bins=np.arange(-0.5, top + 1.5, 1.0), color=f"C{r}")
        ax.set_xlabel(f"{name} in-degree")
        ax.set_ylabel("nodes")
        mean = float(deg.mean()) if deg.size else 0.0
        ax.set_title(f"{name}: mean {mean:.2f}, max {top}, isolated {int((deg == 0).sum())}",
                     fontsize=9)
    fig.suptitle(f"{region_name}: degree per relation ({graph.num_nodes:,} nodes)")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return finish_figure(fig, stem or f"soc_02_degrees_{_region_slug(region_name)}",
                      figures_dir, caption)
