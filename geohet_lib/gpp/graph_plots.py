"""Figures of stage 02 (GPP study): the STCG's clusters, edges and edge weights.

Every function takes the PyG ``Data`` that :func:`geohet_lib.gpp.graph.build_stcg` returns,
writes PNG + PDF with :func:`geohet_lib.maps.finish_figure` and returns the ``Figure`` (shown
inline by the notebook; the files are in ``fig.saved_paths``).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
import numpy as np

from ..geo import EARTH_RADIUS_KM, chord_to_great_circle
from ..maps import finish_figure, great_circle_polylines, world_map


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


def _marker_size(n_cells: int) -> float:
    return float(np.clip(30000.0 / max(n_cells, 1), 0.9, 30.0))


def cluster_colours(n_clusters: int, seed: int = 0) -> np.ndarray:
    """RGBA colours (n, 4), a qualitative palette shuffled so that clusters with adjacent
    ids (often adjacent on the map) tend to get different colours."""
    base = np.concatenate([plt.get_cmap(name)(np.arange(20)) for name in ("tab20", "tab20b",
                                                                          "tab20c")])
    idx = np.random.default_rng(seed).permutation(max(n_clusters, 1)) % len(base)
    return base[idx[:n_clusters]]


def plot_clusters_map(data, figures_dir: str | Path = "figures", caption: str | None = None,
                      stem: str = "gpp_02_clusters_map") -> Figure:
    """Land cells coloured by their K-means cluster, cluster centres (graph nodes) marked."""
    import cartopy.crs as ccrs

    lat, lon = _np(data.cell_lat), _np(data.cell_lon)
    labels = _np(data.cell_cluster)
    n = int(data.num_nodes)
    fig, ax = world_map()
    ax.scatter(lon, lat, c=cluster_colours(n)[labels], s=_marker_size(len(lat)), marker="s",
               linewidths=0, transform=ccrs.PlateCarree(), zorder=2)
    ax.scatter(_np(data.centre_lon), _np(data.centre_lat), s=float(np.clip(3000 / n, 3, 20)),
               c="k", marker="o", linewidths=0, transform=ccrs.PlateCarree(), zorder=4,
               label="cluster centre (graph node)")
    ax.legend(loc="lower left", fontsize=7, frameon=True)
    ax.set_title(f"STCG nodes: {len(lat):,} land cells in {n} K-means clusters "
                 f"({getattr(data, 'kmeans_space', 'lonlat')} space)")
    return finish_figure(fig, stem, figures_dir, caption)


def _undirected(data) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ei = _np(data.edge_index)
    w = _np(data.edge_weight)
    keep = ei[0] < ei[1]
    if not keep.any():  # a directed graph without reverse edges: draw every edge
        keep = np.ones(ei.shape[1], dtype=bool)
    return ei[0, keep], ei[1, keep], w[keep]


def plot_graph_edges_map(data, figures_dir: str | Path = "figures",
                         caption: str | None = None, stem: str = "gpp_02_graph_edges",
                         n_points: int = 16) -> Figure:
    """Graph edges as great-circle arcs on the world map, coloured by edge weight.

    Arcs are sampled on the sphere and cut at the antimeridian
    (:func:`great_circle_polylines`), projected once with the map's projection and drawn as
    one ``LineCollection`` (fast for tens of thousands of edges), so edges that cross the
    antimeridian appear as two pieces at the map's left and right borders rather than as
    lines across the whole map.
    """
    import cartopy.crs as ccrs
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    src, dst, w = _undirected(data)
    clat, clon = _np(data.centre_lat).astype(float), _np(data.centre_lon).astype(float)
    pieces, owner = great_circle_polylines(clon[src], clat[src], clon[dst], clat[dst],
                                           n_points)
    piece_w = w[owner]

    fig, ax = world_map()
    proj = ax.projection
    pc = ccrs.PlateCarree()
    segs = []
    for p in pieces:
        xy = proj.transform_points(pc, p[:, 0], p[:, 1])[:, :2]
        segs.append(xy)
    norm = Normalize(vmin=float(w.min()) if w.size else 0.0, vmax=1.0)
    lc = LineCollection(segs, cmap="viridis", norm=norm, linewidths=0.35, alpha=0.8, zorder=2)
    lc.set_array(piece_w)
    ax.add_collection(lc)
    ax.scatter(clon, clat, s=float(np.clip(600 / len(clon), 1, 12)), c="k", linewidths=0,
               transform=pc, zorder=4)
    fig.colorbar(lc, ax=ax, shrink=0.6, label="edge weight (log-Gaussian kernel)")
    ax.set_title(f"STCG: {len(clon)} nodes, {len(src):,} undirected edges "
                 f"(k = {getattr(data, 'k', '?')} nearest on the sphere)")
    return finish_figure(fig, stem, figures_dir, caption)


def plot_edge_weight_hist(data, figures_dir: str | Path = "figures", caption: str | None = None,
                          stem: str = "gpp_02_edge_weights") -> Figure:
    """Histogram of edge lengths (km along the great circle) and of edge weights, with the
    kernel ``w(d)`` drawn over the distance axis."""
    from .graph import log_gaussian_edge_weight

    src, dst, w = _undirected(data)
    pos = _np(data.pos).astype(float)
    chord = np.linalg.norm(pos[src] - pos[dst], axis=1)
    km = chord_to_great_circle(chord) * EARTH_RADIUS_KM
    mu, sigma = float(data.mu), float(data.sigma)
    geodesic = getattr(data, "distance", "chord") == "geodesic"

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax0.hist(km, bins=50, color="#4c72b0")
    ax0.set_xlabel("edge length (km, great circle)")
    ax0.set_ylabel("undirected edges")
    axk = ax0.twinx()
    d_km = np.linspace(0, max(float(km.max()) if km.size else 1.0, 1.0) * 1.05, 200)
    ang = d_km / EARTH_RADIUS_KM
    d_model = ang if geodesic else 2.0 * np.sin(ang / 2.0)
    axk.plot(d_km, log_gaussian_edge_weight(d_model, mu, sigma), color="#dd8452")
    axk.set_ylim(0, 1.05)
    axk.set_ylabel("kernel weight w(d)", color="#dd8452")
    ax0.set_title(f"edge lengths; mu = {mu:.3g} ({'rad' if geodesic else 'chord'}), "
                  f"sigma = {sigma:.3g}")
    ax1.hist(w, bins=50, color="#55a868")
    ax1.set_xlabel("edge weight")
    ax1.set_ylabel("undirected edges")
    ax1.set_title(f"edge weights: min {w.min():.3f}, max {w.max():.3f}" if w.size else "")
    fig.tight_layout()
    return finish_figure(fig, stem, figures_dir, caption)
