"""The Spatiotemporal Conditional Graph (STCG) of the GPP paper, section 3.1.

Steps, as in the paper:

1. **Graph node generation**: K-means on the land grid, ``C = argmin_C sum_p min_j
   ||(lambda_p, phi_p) - c_j||^2`` (paper eq. in 3.1); each cluster centre is a node
   (:func:`cluster_land_cells`).
2. **Cyclic graph construction**: centres mapped to the unit sphere, ``x = cos(phi) cos(lambda),
   y = cos(phi) sin(lambda), z = sin(phi)`` (:func:`geohet_lib.geo.lonlat_to_unit_sphere`), and
   ``A_ij = 1`` when ``j`` is among the k nearest of ``i`` by ``||p_i - p_j||``
   (:func:`knn_on_sphere`). The paper writes "arg top-k ||p_i - p_j||"; nearest neighbours
   (the KNN method it names) are meant.
3. **Node embedding**: ``v_{i,t} = Node2vec(i) + RoPE(t)`` (:mod:`geohet_lib.node2vec`,
   :func:`geohet_lib.embeddings.rope_time_embedding`, :func:`initial_node_time_embeddings`).
4. **Edge weights**: log-Gaussian kernel ``w_ij = exp(-(1 - exp(-||p_i - p_j|| / mu))^2 /
   (2 sigma^2))`` (:func:`log_gaussian_edge_weight`).

Where the paper is silent (choices recorded in the graph's metadata):

* ``mu`` and ``sigma`` have no published values: ``mu`` defaults to the mean KNN edge distance
  (``GraphConfig.edge_mu=None``), ``sigma`` to 0.5; the weights then lie in
  ``(exp(-1/(2 sigma^2)), 1]`` = ``(0.135, 1]``.
* The KNN relation is not symmetric; the adjacency is made symmetric by default (union of
  ``i -> j`` and ``j -> i``), as GCN normalisation assumes an undirected graph.
* Node2vec's walk settings (length 20, 10 walks per node, window 5, p = q = 1) follow common
  defaults; the edge weights are used as transition weights of the walks.
* K-means runs on (lon, lat) degrees as the paper's equation says; ``space="sphere"``
  clusters unit vectors instead (no seam at the antimeridian, no squeeze near the poles).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..config import GraphConfig
from ..embeddings import rope_time_embedding
from ..geo import chord_to_great_circle, lonlat_to_unit_sphere, unit_sphere_to_lonlat
from ..io import torch_save
from ..node2vec import node2vec_embeddings
from ..runtime import LOG


# --------------------------------------------------------------------------- step 1: K-means


def cluster_land_cells(lat, lon, n_clusters: int, space: str = "lonlat", seed: int = 0,
                       n_init: int = 4, n_threads: int | None = 1
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K-means graph nodes (paper 3.1, "Graph Node Generation").

    ``space="lonlat"`` minimises ``sum_p min_j ||(lambda_p, phi_p) - c_j||^2`` on degrees,
    as in the paper; ``space="sphere"`` clusters the unit vectors and renormalises the
    centres onto the sphere (clusters may then straddle the antimeridian).
    scikit-learn ``KMeans`` (Lloyd, k-means++ initialisation, ``n_init`` restarts,
    ``random_state=seed``): deterministic for a seed. ``n_threads`` caps scikit-learn's
    OpenMP threads (``threadpoolctl``); the default 1 keeps the result independent of the
    core count (parallel partial sums round differently) and avoids a collapse under CPU
    contention (OpenMP spin-waiting: 2 threads on 2 busy cores took 40-60 s where 1 thread
    took 11 s); ``None`` uses every core. At paper scale (59k cells of the 0.5 degree grid,
    750 clusters, ``n_init=4``) one thread takes about 11 s (2 threads on idle cores about
    7 s), so mini-batch K-means (about 6 % higher inertia) is not needed.

    Returns ``(labels (n,) int64, centres_lat (k,), centres_lon (k,))`` in degrees.
    """
    from sklearn.cluster import KMeans

    lat = np.asarray(lat, dtype=np.float64).ravel()
    lon = np.asarray(lon, dtype=np.float64).ravel()
    if lat.shape != lon.shape:
        raise ValueError(f"lat and lon differ in length: {lat.size} and {lon.size}")
    n = lat.size
    if n_clusters < 1:
        raise ValueError(f"n_clusters must be at least 1, got {n_clusters}")
    if n_clusters > n:
        raise ValueError(f"n_clusters={n_clusters} is more than the {n} land cells to cluster; "
                         "use fewer clusters or a finer land grid")
    if space == "lonlat":
        feats = np.stack((lon, lat), axis=1)
    elif space == "sphere":
        feats = lonlat_to_unit_sphere(lon, lat)
    else:
        raise ValueError(f"unknown K-means space {space!r}: use 'lonlat' or 'sphere'")
    from threadpoolctl import threadpool_limits

    km = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed, algorithm="lloyd")
    with threadpool_limits(limits=n_threads):
        labels = km.fit_predict(feats).astype(np.int64)
    centres = km.cluster_centers_
    if space == "lonlat":
        c_lon, c_lat = centres[:, 0].copy(), centres[:, 1].copy()
    else:
        c_lon, c_lat = unit_sphere_to_lonlat(centres / np.linalg.norm(centres, axis=1,
                                                                        keepdims=True))
    return labels, c_lat, c_lon


# --------------------------------------------------------------------------- step 2: KNN


def knn_on_sphere(points, k: int, distance: str = "chord", symmetric: bool = True
                  ) -> tuple[np.ndarray, np.ndarray]:
    """K-nearest-neighbour edges of points on the unit sphere (paper 3.1, adjacency ``A``).

    ``points`` are 3-D unit vectors (n, 3); neighbours are found with a ``scipy`` cKDTree
    on them, so the chord ``||p_i - p_j||`` is the metric and the graph wraps across the
    antimeridian. ``distance="geodesic"`` reports the great-circle angle
    ``2 arcsin(chord / 2)`` (radians) instead: the same neighbours, other distance values.
    No self loops.

    ``symmetric=True``: the union of ``i -> j`` and ``j -> i`` for every KNN pair, without
    duplicates, so the adjacency is symmetric and every node has at least ``k`` neighbours.
    ``symmetric=False``: PyG's ``knn_graph`` convention, edges ``j -> i`` for the ``k``
    nearest ``j`` of each ``i`` (``edge_index[1]`` is the node that aggregates).

    Returns ``(edge_index [2, E] int64, dist [E] float64)``, edges sorted by (source, target).
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points must have shape (n, 3), got {pts.shape}")
    if distance not in ("chord", "geodesic"):
        raise ValueError(f"unknown distance {distance!r}: use 'chord' or 'geodesic'")
    edge_index, chord = _knn_pairs(pts, k, symmetric)
    dist = chord if distance == "chord" else chord_to_great_circle(chord)
    return edge_index, dist


def knn_in_plane(lon, lat, k: int, symmetric: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """K-nearest-neighbour edges on (lon, lat) in degrees as plane "pixel" coordinates (the
    graph of GPP paper 4.4's "En+De+GCN" step, before the enhanced graph): Euclidean degree
    distances, no wrap across the antimeridian, the poles stretched. Same edge conventions as
    :func:`knn_on_sphere`; ``dist`` in degrees."""
    pts = np.column_stack((np.asarray(lon, np.float64), np.asarray(lat, np.float64)))
    return _knn_pairs(pts, k, symmetric)


def _knn_pairs(pts: np.ndarray, k: int, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """KNN edges of ``pts`` (n, D) with a cKDTree; ``(edge_index, euclidean length)``."""
    from scipy.spatial import cKDTree

    n = pts.shape[0]
    if k < 1 or k > n - 1:
        raise ValueError(f"k={k} neighbours need 1 <= k <= n - 1 = {n - 1}")
    _, nb = cKDTree(pts).query(pts, k=min(k + 1, n))
    nb = np.asarray(nb, dtype=np.int64).reshape(n, -1)
    rows = np.arange(n)[:, None]
    not_self = nb != rows
    # Keep the first k non-self neighbours of each row (self is usually column 0, but
    # duplicate points may put it elsewhere).
    keep = not_self & (np.cumsum(not_self, axis=1) <= k)
    centre = np.broadcast_to(rows, nb.shape)[keep]
    neigh = nb[keep]
    if symmetric:
        src = np.concatenate((centre, neigh))
        dst = np.concatenate((neigh, centre))
    else:
        src, dst = neigh, centre
    key = np.unique(src * n + dst)
    src, dst = key // n, key % n
    return np.stack((src, dst)).astype(np.int64), np.linalg.norm(pts[src] - pts[dst], axis=1)


# --------------------------------------------------------------------------- step 4: weights


def log_gaussian_edge_weight(dist, mu: float, sigma: float) -> np.ndarray:
    """Log-Gaussian kernel of paper 3.1: ``w = exp(-(1 - exp(-d / mu))^2 / (2 sigma^2))``.

    The inner ``1 - exp(-d / mu)`` maps distances to [0, 1) (first normalisation), the
    Gaussian maps that to ``(exp(-1 / (2 sigma^2)), 1]`` (second). ``w(0) = 1``.
    """
    if mu <= 0 or sigma <= 0:
        raise ValueError(f"mu and sigma must be positive, got mu={mu}, sigma={sigma}")
    d = np.asarray(dist, dtype=np.float64)
    return np.exp(-((1.0 - np.exp(-d / mu)) ** 2) / (2.0 * sigma**2))


# --------------------------------------------------------------------------- the STCG


def build_stcg(cells: pd.DataFrame, cfg: GraphConfig, steps_per_year: int = 46, seed: int = 0,
               progress: bool = True, kmeans_threads: int | None = 1):
    """Build the STCG (paper 3.1) of a land grid as a PyG ``Data``.

    ``cells`` needs ``lat`` and ``lon`` columns (degrees; one row per land cell, e.g.
    :func:`geohet_lib.gpp.land_grid.build_land_grid`); per-cell outputs follow its row order.

    Node attributes (N = ``cfg.n_clusters`` nodes): ``x`` Node2vec embeddings
    (N, ``cfg.embedding_dim``) float32; ``pos`` unit vectors (N, 3); ``centre_lat``,
    ``centre_lon`` (degrees). Edge attributes: ``edge_index`` [2, E] int64 (symmetric when
    ``cfg.symmetric``), ``edge_weight`` (E,) float32 log-Gaussian weights in (0, 1],
    ``edge_dist`` (E,) float32 (chord, or radians for ``cfg.distance="geodesic"``).
    Per cell: ``cell_cluster`` (n_cells,) int64, ``cell_lat``, ``cell_lon``, ``cell_id``
    (the ``cell`` column when present, else the row number). Time: ``time_emb``
    (``steps_per_year``, dim) float32, the additive RoPE table. Metadata attributes:
    ``mu``, ``sigma``, ``distance``, ``k``, ``kmeans_space``, ``n_clusters``, ``symmetric``,
    ``steps_per_year``, ``seed``, ``graph_config`` (dict of ``cfg``), ``timings`` (seconds
    per step).

    ``kmeans_threads``: see :func:`cluster_land_cells`. At paper scale (59k cells, 750
    clusters, k = 30, dim 96) this takes about 15 s on 2 CPU cores (K-means about 11 s,
    Node2vec about 3 s) and a few hundred MB beyond the land grid.
    """
    from torch_geometric.data import Data

    for col in ("lat", "lon"):
        if col not in cells:
            raise ValueError(f"cells needs a {col!r} column")
    lat = cells["lat"].to_numpy(dtype=np.float64)
    lon = cells["lon"].to_numpy(dtype=np.float64)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    labels, c_lat, c_lon = cluster_land_cells(lat, lon, cfg.n_clusters, space=cfg.kmeans_space,
                                              seed=seed, n_init=cfg.kmeans_n_init,
                                              n_threads=kmeans_threads)
    timings["kmeans"] = time.perf_counter() - t0
    n_used = np.unique(labels).size
    if n_used < cfg.n_clusters:
        LOG.warning("K-means left %d of %d clusters without cells (duplicate coordinates?)",
                    cfg.n_clusters - n_used, cfg.n_clusters)

    t0 = time.perf_counter()
    pos = lonlat_to_unit_sphere(c_lon, c_lat)
    if cfg.knn_space == "pixel":  # 4.4's plain KNN graph: degrees in the plane, unit weights
        edge_index, dist = knn_in_plane(c_lon, c_lat, cfg.n_neighbors, cfg.symmetric)
        mu, weight = float("nan"), np.ones(dist.shape)
    elif cfg.knn_space == "sphere":
        edge_index, dist = knn_on_sphere(pos, cfg.n_neighbors, distance=cfg.distance,
                                         symmetric=cfg.symmetric)
        mu = float(dist.mean()) if cfg.edge_mu is None else float(cfg.edge_mu)
        weight = log_gaussian_edge_weight(dist, mu, cfg.edge_sigma)
    else:
        raise ValueError(f"knn_space must be 'sphere' or 'pixel', got {cfg.knn_space!r}")
    timings["knn_weights"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    emb = node2vec_embeddings(edge_index, cfg.n_clusters, cfg.embedding_dim,
                              walk_length=cfg.walk_length, walks_per_node=cfg.walks_per_node,
                              window=cfg.n2v_window, p=cfg.n2v_p, q=cfg.n2v_q,
                              epochs=cfg.n2v_epochs, negative=cfg.n2v_negative,
                              edge_weight=weight, seed=seed, progress=progress)
    timings["node2vec"] = time.perf_counter() - t0

    cell_id = (np.array(cells["cell"], dtype=np.int64) if "cell" in cells
               else np.arange(len(cells), dtype=np.int64))
    data = Data(
        x=torch.from_numpy(emb),
        pos=torch.from_numpy(pos.astype(np.float32)),
        edge_index=torch.from_numpy(edge_index),
        edge_weight=torch.from_numpy(weight.astype(np.float32)),
        edge_dist=torch.from_numpy(dist.astype(np.float32)),
    )
    data.num_nodes = cfg.n_clusters
    data.centre_lat = torch.from_numpy(c_lat.astype(np.float32))
    data.centre_lon = torch.from_numpy(c_lon.astype(np.float32))
    data.cell_cluster = torch.from_numpy(labels)
    data.cell_lat = torch.from_numpy(lat.astype(np.float32))
    data.cell_lon = torch.from_numpy(lon.astype(np.float32))
    data.cell_id = torch.from_numpy(cell_id)
    data.time_emb = torch.from_numpy(rope_time_embedding(steps_per_year, cfg.embedding_dim))
    data.mu = mu
    data.sigma = float(cfg.edge_sigma)
    data.distance = cfg.distance if cfg.knn_space == "sphere" else "degrees"
    data.k = int(cfg.n_neighbors)
    data.kmeans_space = cfg.kmeans_space
    data.n_clusters = int(cfg.n_clusters)
    data.symmetric = bool(cfg.symmetric)
    data.steps_per_year = int(steps_per_year)
    data.seed = int(seed)
    data.graph_config = asdict(cfg)
    data.timings = timings
    LOG.info("STCG: %d cells -> %d nodes, %d edges, mu=%.4g, sigma=%.3g (%s)", len(lat),
             cfg.n_clusters, edge_index.shape[1], mu, cfg.edge_sigma,
             ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    return data


def initial_node_time_embeddings(data) -> torch.Tensor:
    """``v_{i,t} = Node2vec(i) + RoPE(t)`` (paper 3.1): float32 tensor (N, T, dim)."""
    x = torch.as_tensor(data.x, dtype=torch.float32)
    te = torch.as_tensor(data.time_emb, dtype=torch.float32)
    if x.shape[-1] != te.shape[-1]:
        raise ValueError(f"node embeddings ({x.shape[-1]}) and time embeddings "
                         f"({te.shape[-1]}) differ in width")
    return x[:, None, :] + te[None, :, :]


def save_graph(data, path: str | Path) -> Path:
    """Write the STCG with ``torch.save``, atomically (:func:`geohet_lib.io.torch_save`)."""
    return torch_save(data, path)


def load_graph(path: str | Path, map_location: str | torch.device = "cpu"):
    """Read a graph written by :func:`save_graph` (``weights_only=False``: a PyG ``Data``
    is not a plain tensor container; load only files you trust)."""
    return torch.load(Path(path), map_location=map_location, weights_only=False)


def assign_new_cells(lat, lon, data, allowed_clusters=None) -> np.ndarray:
    """Cluster ids (int64) of cells by their nearest cluster centre on the sphere.

    For cells the K-means never saw (other grids, held-out regions). Nearest is by chord
    (equivalently great-circle) distance between unit vectors, so it wraps across the
    antimeridian. ``allowed_clusters`` restricts the choice to some cluster ids (e.g. those
    that have training cells). With ``kmeans_space="lonlat"`` the K-means labels of the
    original cells come from planar (lon, lat) distances, so for a few of them this can
    differ from ``data.cell_cluster``.
    """
    from scipy.spatial import cKDTree

    pos = lonlat_to_unit_sphere(np.asarray(data.centre_lon, dtype=np.float64),
                                np.asarray(data.centre_lat, dtype=np.float64))
    ids = np.arange(pos.shape[0], dtype=np.int64)
    if allowed_clusters is not None:
        ids = np.unique(np.asarray(allowed_clusters, dtype=np.int64))
        if ids.size == 0:
            raise ValueError("allowed_clusters is empty")
        if ids.min() < 0 or ids.max() >= pos.shape[0]:
            raise ValueError(f"allowed_clusters outside [0, {pos.shape[0]})")
    q = lonlat_to_unit_sphere(lon, lat)
    if q.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    _, j = cKDTree(pos[ids]).query(q, k=1)
    return ids[np.asarray(j, dtype=np.int64)]
