"""The STCG of GPP paper 3.1: K-means nodes, KNN on the sphere, log-Gaussian weights, I/O,
new-cell assignment and the stage-02 figures."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from geohet_lib.config import GraphConfig
from geohet_lib.geo import chord_to_great_circle, lonlat_to_unit_sphere
from geohet_lib.gpp.graph import (
    assign_new_cells,
    build_stcg,
    cluster_land_cells,
    initial_node_time_embeddings,
    knn_on_sphere,
    load_graph,
    log_gaussian_edge_weight,
    save_graph,
)

SMALL = GraphConfig(n_clusters=20, n_neighbors=5, embedding_dim=8, walk_length=8,
                    walks_per_node=4, n2v_epochs=2, kmeans_n_init=2)


@pytest.fixture(scope="module")
def cells():
    from geohet_lib.gpp.land_grid import build_land_grid

    return build_land_grid(10.0)


@pytest.fixture(scope="module")
def graph(cells):
    return build_stcg(cells, SMALL, steps_per_year=46, seed=0, progress=False)


def random_sphere_points(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lon = rng.uniform(-180, 180, n)
    lat = np.rad2deg(np.arcsin(rng.uniform(-1, 1, n)))
    return lonlat_to_unit_sphere(lon, lat)


# ---------------------------------------------------------------- K-means


def test_kmeans_deterministic_and_shapes(cells):
    lat, lon = cells["lat"].to_numpy(), cells["lon"].to_numpy()
    a = cluster_land_cells(lat, lon, 15, seed=3, n_init=2)
    b = cluster_land_cells(lat, lon, 15, seed=3, n_init=2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    labels, c_lat, c_lon = a
    assert labels.shape == (len(cells),) and labels.dtype == np.int64
    assert c_lat.shape == c_lon.shape == (15,)
    assert set(np.unique(labels)) == set(range(15))
    # lonlat centres are the means of their cells' (lon, lat)
    for j in range(15):
        assert c_lon[j] == pytest.approx(lon[labels == j].mean(), abs=1e-6)
        assert c_lat[j] == pytest.approx(lat[labels == j].mean(), abs=1e-6)


def test_kmeans_too_many_clusters():
    with pytest.raises(ValueError, match="more than the 3 land cells"):
        cluster_land_cells([0, 1, 2], [0, 1, 2], 4)
    with pytest.raises(ValueError, match="space"):
        cluster_land_cells([0, 1, 2], [0, 1, 2], 2, space="mercator")


def test_kmeans_sphere_wraps_antimeridian():
    lat = np.array([-1.0, 0.0, 1.0, -1.0, 0.0, 1.0])
    lon = np.array([179.0, 179.0, 179.0, -179.0, -179.0, -179.0])
    _, c_lat, c_lon = cluster_land_cells(lat, lon, 1, space="sphere", n_init=1)
    assert abs(abs(c_lon[0]) - 180.0) < 1e-6 and abs(c_lat[0]) < 1e-6
    _, _, c_lon_plane = cluster_land_cells(lat, lon, 1, space="lonlat", n_init=1)
    assert abs(c_lon_plane[0]) < 1e-6  # the planar mean lands on the other side of the globe


# ---------------------------------------------------------------- KNN


def test_knn_symmetric_no_self_loops_min_degree():
    pts = random_sphere_points(200)
    ei, dist = knn_on_sphere(pts, 6)
    assert ei.dtype == np.int64 and ei.shape[0] == 2 and dist.shape == (ei.shape[1],)
    assert not np.any(ei[0] == ei[1])
    pairs = set(map(tuple, ei.T.tolist()))
    assert len(pairs) == ei.shape[1]  # no duplicates
    assert all((j, i) in pairs for i, j in pairs)  # symmetric
    assert np.bincount(ei[0], minlength=200).min() >= 6
    np.testing.assert_allclose(dist, np.linalg.norm(pts[ei[0]] - pts[ei[1]], axis=1))


def test_knn_matches_brute_force_and_directed_convention():
    pts = random_sphere_points(80, seed=2)
    k = 4
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1)[:, :k]
    ei, _ = knn_on_sphere(pts, k, symmetric=False)
    # PyG convention: edges j -> i for the k nearest j of each i
    assert np.bincount(ei[1], minlength=80).tolist() == [k] * 80
    for i in range(80):
        assert set(ei[0, ei[1] == i].tolist()) == set(nearest[i].tolist())
    sym, _ = knn_on_sphere(pts, k, symmetric=True)
    expected = {(i, int(j)) for i in range(80) for j in nearest[i]}
    expected |= {(j, i) for i, j in expected}
    assert set(map(tuple, sym.T.tolist())) == expected


def test_knn_antimeridian_wrap():
    lon = np.array([179.5, -179.5, 0.0, 90.0, -90.0, 170.0])
    lat = np.array([10.0, 10.0, 10.0, 10.0, 10.0, -40.0])
    ei, dist = knn_on_sphere(lonlat_to_unit_sphere(lon, lat), 1, distance="geodesic")
    pairs = set(map(tuple, ei.T.tolist()))
    assert (0, 1) in pairs and (1, 0) in pairs
    # 1 degree of longitude at 10N: great-circle angle ~ cos(10 deg) degrees
    got = dist[(ei[0] == 0) & (ei[1] == 1)][0]
    assert np.rad2deg(got) == pytest.approx(np.cos(np.deg2rad(10.0)), rel=1e-3)


def test_geodesic_vs_chord():
    pts = random_sphere_points(60, seed=4)
    ei_c, chord = knn_on_sphere(pts, 5, distance="chord")
    ei_g, geo = knn_on_sphere(pts, 5, distance="geodesic")
    np.testing.assert_array_equal(ei_c, ei_g)
    np.testing.assert_allclose(geo, 2 * np.arcsin(chord / 2))
    assert np.all(geo >= chord)
    # quarter circle: chord sqrt(2), angle pi/2
    assert chord_to_great_circle(np.sqrt(2.0)) == pytest.approx(np.pi / 2)
    assert chord_to_great_circle(1.0) == pytest.approx(1.0471975511965979)  # 2 asin(1/2) = pi/3


def test_knn_errors_and_duplicates():
    pts = random_sphere_points(5)
    with pytest.raises(ValueError):
        knn_on_sphere(pts, 5)
    with pytest.raises(ValueError):
        knn_on_sphere(pts, 2, distance="manhattan")
    dup = np.concatenate((pts, pts[:2]))  # points 5, 6 duplicate 0, 1
    ei, _ = knn_on_sphere(dup, 2)
    assert not np.any(ei[0] == ei[1])


# ---------------------------------------------------------------- edge weights


def test_log_gaussian_weight_by_hand():
    # d=0.3, mu=0.5, sigma=0.5: exp(-0.6)=0.548812, (1-0.548812)^2=0.203571,
    # /(2*0.25)=0.407142, exp(-0.407142)=0.665550
    assert log_gaussian_edge_weight(0.3, 0.5, 0.5) == pytest.approx(0.665550, abs=1e-6)
    # d=1, mu=0.4, sigma=0.3: exp(-2.5)=0.082085, (0.917915)^2=0.842568, /0.18=4.680933,
    # exp(-4.680933)=0.0092704
    assert log_gaussian_edge_weight(1.0, 0.4, 0.3) == pytest.approx(0.0092704, abs=1e-7)
    assert log_gaussian_edge_weight(0.0, 0.5, 0.5) == 1.0
    assert log_gaussian_edge_weight(1e9, 0.5, 0.5) == pytest.approx(np.exp(-2.0))
    w = log_gaussian_edge_weight(np.linspace(0, 2, 50), 0.3, 0.5)
    assert np.all(np.diff(w) < 0)
    with pytest.raises(ValueError):
        log_gaussian_edge_weight(0.1, 0.0, 0.5)


# ---------------------------------------------------------------- the STCG


def test_build_stcg_shapes(graph, cells):
    n, d = SMALL.n_clusters, SMALL.embedding_dim
    assert graph.num_nodes == n
    assert graph.x.shape == (n, d) and graph.x.dtype == torch.float32
    assert graph.pos.shape == (n, 3)
    torch.testing.assert_close(graph.pos.norm(dim=1), torch.ones(n))
    assert graph.centre_lat.shape == graph.centre_lon.shape == (n,)
    assert graph.time_emb.shape == (46, d)
    cc = graph.cell_cluster
    assert cc.shape == (len(cells),) and cc.dtype == torch.int64
    assert int(cc.min()) >= 0 and int(cc.max()) < n
    assert torch.unique(cc).numel() == n  # every node has cells
    np.testing.assert_allclose(graph.cell_lat.numpy(), cells["lat"].to_numpy(), atol=1e-5)
    assert graph.cell_id.tolist() == cells["cell"].tolist()
    ei, w = graph.edge_index, graph.edge_weight
    assert ei.dtype == torch.int64 and ei.shape[1] == w.shape[0] == graph.edge_dist.shape[0]
    assert bool((w > 0).all()) and bool((w <= 1).all())
    pairs = set(map(tuple, ei.T.tolist()))
    assert all((j, i) in pairs for i, j in pairs)
    assert graph.mu == pytest.approx(float(graph.edge_dist.double().mean()), rel=1e-5)
    assert graph.k == SMALL.n_neighbors and graph.distance == "chord"
    assert graph.graph_config["n_clusters"] == n
    np.testing.assert_allclose(
        w.numpy(), log_gaussian_edge_weight(graph.edge_dist.numpy(), graph.mu, graph.sigma),
        rtol=1e-5)


def test_initial_node_time_embeddings(graph):
    v = initial_node_time_embeddings(graph)
    assert v.shape == (SMALL.n_clusters, 46, SMALL.embedding_dim)
    torch.testing.assert_close(v[3, 7], graph.x[3] + graph.time_emb[7])


def test_build_stcg_deterministic_and_options(cells):
    cfg = replace(SMALL, n_clusters=12, kmeans_space="sphere", distance="geodesic",
                  edge_mu=0.2, n2v_p=0.5, n2v_q=2.0)
    a = build_stcg(cells, cfg, steps_per_year=10, seed=1, progress=False)
    b = build_stcg(cells, cfg, steps_per_year=10, seed=1, progress=False)
    torch.testing.assert_close(a.x, b.x, rtol=0, atol=0)
    assert torch.equal(a.cell_cluster, b.cell_cluster)
    assert a.mu == 0.2 and a.distance == "geodesic" and a.time_emb.shape == (10, 8)


def test_save_load_round_trip(graph, tmp_path):
    path = save_graph(graph, tmp_path / "sub" / "stcg.pt")
    back = load_graph(path)
    for key in ("x", "pos", "edge_index", "edge_weight", "edge_dist", "cell_cluster",
                "time_emb", "centre_lat", "centre_lon"):
        assert torch.equal(back[key], graph[key]), key
    assert back.mu == graph.mu and back.graph_config == graph.graph_config
    assert back.num_nodes == graph.num_nodes


def test_assign_new_cells(graph):
    ids = assign_new_cells(graph.centre_lat.numpy(), graph.centre_lon.numpy(), graph)
    assert ids.dtype == np.int64 and ids.tolist() == list(range(SMALL.n_clusters))
    own = assign_new_cells(graph.cell_lat.numpy(), graph.cell_lon.numpy(), graph)
    assert (own == graph.cell_cluster.numpy()).mean() > 0.8
    allowed = np.array([2, 5, 7])
    restricted = assign_new_cells(graph.cell_lat.numpy(), graph.cell_lon.numpy(), graph,
                                  allowed_clusters=allowed)
    assert set(np.unique(restricted)) <= set(allowed.tolist())
    assert assign_new_cells(np.array([]), np.array([]), graph).shape == (0,)


def test_assign_new_cells_wraps_antimeridian():
    from types import SimpleNamespace

    data = SimpleNamespace(centre_lat=np.array([0.0, 0.0]), centre_lon=np.array([179.0, 100.0]))
    assert assign_new_cells(np.array([0.0]), np.array([-179.0]), data).tolist() == [0]


# ---------------------------------------------------------------- figures


def test_plots_write_png_and_pdf(graph, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from geohet_lib.gpp.graph_plots import (
        plot_clusters_map,
        plot_edge_weight_hist,
        plot_graph_edges_map,
    )

    for fn in (plot_clusters_map, plot_graph_edges_map, plot_edge_weight_hist):
        paths = fn(graph, tmp_path, caption=f"{fn.__name__} test").saved_paths
        assert sorted(p.suffix for p in paths) == [".pdf", ".png"]
        assert all(p.exists() and p.stat().st_size > 1000 for p in paths)
