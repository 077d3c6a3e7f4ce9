"""The heterogeneous SOC graph (SOC paper 3.1, 3.5, Tables 1 and 6): haversine, the three
relations and their weights, adaptive k, symmetry, masks, inductive subgraphs, PyG use and
the stage-02 figures."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from geohet_lib.geo import EARTH_RADIUS_KM, haversine_km, lonlat_to_unit_sphere
from geohet_lib.soc.graph import (
    RELATIONS,
    SOC_GRAPH_CONFIGS,
    SOCGraphConfig,
    _spatial_neighbours,
    assign_new_clusters,
    build_hetero_graph,
    elevation_gradient,
    extend_graph,
    inductive_subgraph,
    load_graph,
    local_subgraph,
    save_graph,
    spatial_weight,
    transductive_masks,
)

PLAIN = SOCGraphConfig(adaptive_k=False, symmetric=False)
KM_PER_DEG = EARTH_RADIUS_KM * np.pi / 180.0  # 111.195 km


def frame(lat, lon, ndvi=None, elevation=None) -> pd.DataFrame:
    lat = np.asarray(lat, dtype=float)
    n = lat.size
    return pd.DataFrame({"lat": lat, "lon": np.asarray(lon, dtype=float),
                         "ndvi": np.linspace(0.1, 0.8, n) if ndvi is None else ndvi,
                         "elevation": np.zeros(n) if elevation is None else elevation})


def clustered_frame(seed: int = 0, n_clusters: int = 4, per_cluster: int = 60,
                    n_noise: int = 80) -> pd.DataFrame:
    """Tight groups of samples (0.05 degree spread) among scattered ones (Africa-like box)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform([-20.0, 5.0], [20.0, 35.0], (n_clusters, 2))
    lat = np.concatenate([c[0] + rng.normal(0, 0.05, per_cluster) for c in centres]
                         + [rng.uniform(-30, 30, n_noise)])
    lon = np.concatenate([c[1] + rng.normal(0, 0.05, per_cluster) for c in centres]
                         + [rng.uniform(-15, 50, n_noise)])
    n = lat.size
    return frame(lat, lon, rng.uniform(0.0, 0.9, n), rng.gamma(2.0, 300.0, n))


@pytest.fixture(scope="module")
def africa_df():
    return clustered_frame()


@pytest.fixture(scope="module")
def africa_graph(africa_df):
    return build_hetero_graph(africa_df, SOC_GRAPH_CONFIGS["africa"])


def edge_set(ei) -> set[tuple[int, int]]:
    ei = np.asarray(ei)
    return set(zip(ei[0].tolist(), ei[1].tolist()))


# ---------------------------------------------------------------- haversine


def test_haversine_hand_values():  # geohet_lib.geo.haversine_km: (lon1, lat1, lon2, lat2)
    assert haversine_km(0.0, 0.0, 1.0, 0.0) == pytest.approx(111.195, abs=1e-3)
    assert haversine_km(179.5, 0.0, -179.5, 0.0) == pytest.approx(111.195, abs=1e-3)
    assert haversine_km(0.0, 90.0, 123.0, 89.0) == pytest.approx(111.195, abs=1e-3)
    assert haversine_km(0.0, 0.0, 180.0, 0.0) == pytest.approx(np.pi * EARTH_RADIUS_KM)
    assert haversine_km(20.0, 10.0, 20.0, 10.0) == 0.0
    d = haversine_km(np.zeros(3), np.zeros(3), np.array([1.0, 2.0, -3.0]), np.zeros(3))
    np.testing.assert_allclose(d, KM_PER_DEG * np.array([1.0, 2.0, 3.0]), rtol=1e-12)


# ---------------------------------------------------------------- spatial relation


def test_spatial_knn_equals_brute_force_haversine():
    rng = np.random.default_rng(1)
    lon = np.concatenate([rng.uniform(-180, 180, 200), rng.choice([-1, 1], 40)
                          * rng.uniform(178.5, 180, 40), rng.uniform(-180, 180, 30)])
    lat = np.concatenate([np.rad2deg(np.arcsin(rng.uniform(-1, 1, 200))),
                          rng.uniform(-3, 3, 40),
                          rng.choice([-1, 1], 30) * rng.uniform(87.5, 90, 30)])
    df = frame(lat, lon)
    n, k = lat.size, PLAIN.k_spatial
    d = haversine_km(lon[:, None], lat[:, None], lon[None, :], lat[None, :])
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, axis=1)[:, :k]
    brute = {(int(j), i) for i in range(n) for j in nn[i] if d[i, j] <= 2000.0}
    assert any(d[i, nn[i, -1]] > 2000 for i in range(n))  # the cut is exercised
    g = build_hetero_graph(df, PLAIN)
    ei, _ = g.relation("spatial")
    assert edge_set(ei) == brute
    mask = g.relation_mask("spatial")
    np.testing.assert_allclose(g.edge_dist_km[mask].numpy(),
                               d[ei[0].numpy(), ei[1].numpy()], rtol=1e-5)
    # across the antimeridian and over the poles: edges exist between +-179.x and near poles
    src, dst = ei.numpy()
    assert np.any(lon[src] * lon[dst] < 0) and np.any((lat[src] > 87) & (lat[dst] > 87))
    sym = build_hetero_graph(df, replace(PLAIN, symmetric=True))
    assert edge_set(sym.relation("spatial")[0]) == brute | {(b, a) for a, b in brute}


def test_inverse_distance_weights_and_max_distance_cut():
    # Three points on the equator: 0-1 is 111 km, 2 lies 24 degrees (2,669 km) beyond 1.
    df = frame([0.0, 0.0, 0.0], [0.0, 1.0, 25.0])
    g = build_hetero_graph(df, replace(PLAIN, k_spatial=2, spatial_scale_km=100.0,
                                       symmetric=True))
    ei, w = g.relation("spatial")
    assert edge_set(ei) == {(0, 1), (1, 0)}
    np.testing.assert_allclose(w.numpy(), 1.0 / (1.0 + KM_PER_DEG / 100.0), rtol=1e-6)
    assert g.in_degree("spatial").tolist() == [1, 1, 0]  # node 2: no spatial neighbour
    assert g.config.spatial_scale_km == 100.0
    # default d0: the median spatial edge length, where the weight is 1/2
    g2 = build_hetero_graph(df, replace(PLAIN, k_spatial=2, max_distance_km=5000.0))
    dist = g2.edge_dist_km[g2.relation_mask("spatial")].numpy()
    assert g2.config.spatial_scale_km == pytest.approx(np.median(dist), rel=1e-6)
    assert spatial_weight(g2.config.spatial_scale_km, g2.config.spatial_scale_km) == 0.5
    assert spatial_weight(0.0, 10.0) == 1.0


# ---------------------------------------------------------------- vegetation and elevation


def test_ndvi_weights_hand_case():
    df = frame([0.0, 10.0, 20.0, 30.0], [0.0, 0.0, 0.0, 0.0], ndvi=[0.1, 0.2, 0.5, 0.55])
    g = build_hetero_graph(df, replace(PLAIN, k_ndvi=1, tau_v=0.1, symmetric=True))
    ei, w = g.relation("vegetation")
    got = dict(zip(zip(ei[0].tolist(), ei[1].tolist()), w.tolist()))
    assert set(got) == {(0, 1), (1, 0), (2, 3), (3, 2)}
    assert got[(0, 1)] == pytest.approx(np.exp(-1.0), rel=1e-6)
    assert got[(2, 3)] == pytest.approx(np.exp(-0.5), rel=1e-6)
    # vegetation edges ignore the 2,000 km cut (samples 0 and 1 are 1,112 km apart; 2, 3 too)
    g2 = build_hetero_graph(frame([0, 40, 0.5], [0, 0, 0], ndvi=[0.3, 0.31, 0.9]),
                            replace(PLAIN, k_ndvi=1, symmetric=True))
    assert (0, 1) in edge_set(g2.relation("vegetation")[0])
    # default tau_v: the median |dNDVI| of the vegetation edges
    g3 = build_hetero_graph(df, replace(PLAIN, k_ndvi=1))
    assert g3.config.tau_v == pytest.approx(np.median([0.1, 0.1, 0.05, 0.05]))


def test_elevation_weights_hand_case():
    dlon = 10.0 / KM_PER_DEG  # 10 km along the equator
    df = frame([0.0, 0.0], [0.0, dlon], elevation=[100.0, 400.0])
    g = build_hetero_graph(df, replace(PLAIN, k_spatial=1, symmetric=True))
    assert g.config.tau_t == 30.0
    ei, w = g.relation("elevation")
    assert edge_set(ei) == edge_set(g.relation("spatial")[0]) == {(0, 1), (1, 0)}
    np.testing.assert_allclose(g.edge_dist_km[g.relation_mask("elevation")].numpy(), 10.0,
                               rtol=1e-5)
    assert elevation_gradient(300.0, 10.0) == pytest.approx(30.0)  # m per km
    np.testing.assert_allclose(w.numpy(), np.exp(-30.0 / 30.0), rtol=1e-5)
    g2 = build_hetero_graph(df, replace(PLAIN, k_spatial=1, tau_t=60.0))
    np.testing.assert_allclose(g2.relation("elevation")[1].numpy(), np.exp(-0.5), rtol=1e-5)


# ---------------------------------------------------------------- symmetry, duplicates


def test_symmetric_as_designed(africa_graph):
    g = africa_graph
    for r in RELATIONS:
        ei, w = g.relation(r)
        fwd = dict(zip(zip(ei[0].tolist(), ei[1].tolist()), w.tolist()))
        assert len(fwd) == ei.shape[1]  # no duplicate edges
        assert all(fwd[(b, a)] == wt for (a, b), wt in fwd.items())
        assert (ei[0] != ei[1]).all()  # no self loops
        assert ((w > 0) & (w <= 1)).all()
    s, e = g.relation("spatial"), g.relation("elevation")
    assert torch.equal(s[0], e[0])


def test_duplicate_coordinates_are_safe():
    rng = np.random.default_rng(2)
    lat = np.concatenate([np.full(12, 5.0), rng.uniform(-10, 10, 40)])
    lon = np.concatenate([np.full(12, 20.0), rng.uniform(10, 30, 40)])
    elev = np.concatenate([np.full(6, 500.0), np.full(6, 800.0), rng.uniform(0, 2000, 40)])
    ndvi = np.concatenate([np.full(12, 0.4), rng.uniform(0, 1, 40)])
    for cfg in (SOC_GRAPH_CONFIGS["africa"], SOC_GRAPH_CONFIGS["europe"], PLAIN):
        g = build_hetero_graph(frame(lat, lon, ndvi, elev), cfg)
        assert torch.isfinite(g.edge_weight).all() and torch.isfinite(g.edge_dist_km).all()
        assert ((g.edge_weight > 0) & (g.edge_weight <= 1)).all()
        ei, w = g.relation("elevation")
        dup = (ei[0] < 12) & (ei[1] < 12)
        assert dup.any()
        same_z = dup & torch.from_numpy(elev[ei[0].numpy()] == elev[ei[1].numpy()])
        assert torch.all(w[same_z] == 1.0) and torch.all(w[dup & ~same_z] < 1e-3)
        assert torch.all(g.relation("spatial")[1][dup] == 1.0)
    # all NDVI equal: tau_v falls back to 1 and every vegetation weight is 1
    g = build_hetero_graph(frame(lat, lon, np.full(lat.size, 0.3), elev), PLAIN)
    assert g.config.tau_v == 1.0 and torch.all(g.relation("vegetation")[1] == 1.0)


# ---------------------------------------------------------------- adaptive k (HDBSCAN)


def test_adaptive_k_more_neighbours_inside_dense_clusters(africa_df):
    cfg = replace(SOC_GRAPH_CONFIGS["africa"], symmetric=False)
    g = build_hetero_graph(africa_df, cfg)
    lab = g.cluster.numpy()
    dense = np.arange(len(africa_df)) < 240  # the four tight groups
    # the tight groups are HDBSCAN clusters; most scattered samples are noise (some join the
    # surrounding clusters at low density)
    assert np.all(lab[dense] >= 0) and (lab[~dense] < 0).mean() > 0.5
    deg = g.in_degree("spatial")
    k = g.k_node.numpy()
    assert np.all(k[lab >= 0] == 10) and np.all(k[lab < 0] == 5)
    assert np.all(deg[dense] == 10)  # the tight groups: no neighbour beyond 2,000 km
    assert deg[lab < 0].mean() <= 5 and deg[lab >= 0].mean() > deg[lab < 0].mean()
    # nodes of clusters with >= 11 members take all 10 neighbours from their cluster; nodes
    # of smaller clusters take every member and are topped up from outside
    ei, _ = g.relation("spatial")
    src, dst = ei.numpy()
    size = np.bincount(lab[lab >= 0])
    big = (lab[dst] >= 0) & (size[np.maximum(lab[dst], 0)] >= 11)
    assert big.any() and np.all(lab[src[big]] == lab[dst[big]])
    small = (lab[dst] >= 0) & ~big
    if small.any():
        assert np.any(lab[src[small]] != lab[dst[small]])
    # Europe / Global (min cluster size 2, adaptive k 5): everybody asks for 5
    ge = build_hetero_graph(africa_df, replace(SOC_GRAPH_CONFIGS["europe"], symmetric=False))
    assert np.all(ge.k_node.numpy() == 5)
    # the haversine HDBSCAN metric gives (nearly) the same clusters
    gh = build_hetero_graph(africa_df, replace(cfg, hdbscan_metric="haversine"))
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(lab, gh.cluster.numpy()) > 0.95


def test_adaptive_selection_prefers_cluster_and_tops_up():
    # Points on the equator at 0..19 km steps; cluster 0 = {0, 10, 19} (spread out),
    # everything else noise. Node 0 wants 4: its 2 cluster mates first (10 and 19, although
    # 1..9 are nearer), then the 2 nearest others (1, 2). Noise node 5 wants k_base = 2.
    lon = np.arange(20) / KM_PER_DEG
    xyz = lonlat_to_unit_sphere(lon, np.zeros(20))
    lab = np.full(20, -1)
    lab[[0, 10, 19]] = 0
    q, nb, k = _spatial_neighbours(xyz, lab, xyz, lab, k_base=2, k_adapt=4,
                                   self_index=np.arange(20))
    picked = {i: sorted(nb[q == i].tolist()) for i in (0, 5, 19)}
    assert picked[0] == [1, 2, 10, 19]  # member 19 lies beyond the global candidate list
    assert picked[5] == [4, 6]
    assert picked[19] == [0, 10, 17, 18]
    assert k[0] == 4 and k[5] == 2


# ---------------------------------------------------------------- PyG interfaces


def test_hetero_data_matches_graph(africa_graph):
    g = africa_graph
    data = g.to_hetero_data(x=torch.zeros(g.num_nodes, 4))
    assert data["sample"].num_nodes == g.num_nodes and data["sample"].x.shape == (g.num_nodes, 4)
    assert sorted(data.edge_types) == sorted(("sample", r, "sample") for r in RELATIONS)
    total = 0
    for r in RELATIONS:
        ei, w = g.relation(r)
        store = data["sample", r, "sample"]
        assert torch.equal(store.edge_index, ei) and torch.equal(store.edge_weight, w)
        total += ei.shape[1]
    assert total == g.num_edges
    assert g.edge_index.dtype == g.edge_type.dtype == torch.int64
    assert g.edge_weight.dtype == torch.float32 and g.edge_type.unique().tolist() == [0, 1, 2]
    summary = g.summary()
    assert summary["spatial"]["edges"] == summary["elevation"]["edges"]


def test_rgatconv_runs_on_graph(africa_graph):
    from torch_geometric.nn import RGATConv

    g = africa_graph
    torch.manual_seed(0)
    x = torch.randn(g.num_nodes, 16)
    conv = RGATConv(16, 8, num_relations=len(RELATIONS))
    out = conv(x, g.edge_index, g.edge_type)
    assert out.shape == (g.num_nodes, 8) and torch.isfinite(out).all()


def test_save_load_round_trip(africa_graph, tmp_path):
    g2 = load_graph(save_graph(africa_graph, tmp_path / "g.pt"))
    assert torch.equal(g2.edge_index, africa_graph.edge_index)
    assert g2.config == africa_graph.config


# ---------------------------------------------------------------- transductive masks


def test_transductive_masks():
    labels = ["train", "val", "test", "train", "validation", "train"]
    m = transductive_masks(6, labels)
    assert m["train"].tolist() == [True, False, False, True, False, True]
    assert m["val"].tolist() == [False, True, False, False, True, False]
    assert m["test"].tolist() == [False, False, True, False, False, False]
    assert all(v.dtype == torch.bool for v in m.values())
    assert (m["train"].int() + m["val"].int() + m["test"].int() == 1).all()
    with pytest.raises(ValueError):
        transductive_masks(5, labels)
    with pytest.raises(ValueError):
        transductive_masks(2, ["train", "holdout"])


# ---------------------------------------------------------------- inductive prediction


def _two_layer_rgat():
    from torch_geometric.nn import RGATConv

    torch.manual_seed(0)
    return RGATConv(6, 6, num_relations=3).eval(), RGATConv(6, 4, num_relations=3).eval()


def _forward(layers, x, ei, et):
    h = x
    for i, conv in enumerate(layers):
        h = conv(h, ei, et)
        if i < len(layers) - 1:
            h = torch.relu(h)
    return h


def test_inductive_subgraph(africa_df, africa_graph):
    cfg = SOC_GRAPH_CONFIGS["africa"]
    t = 17  # inside the first dense group
    rng = np.random.default_rng(5)
    new = pd.concat([africa_df.iloc[[t]],
                     frame(rng.uniform(-30, 30, 4), rng.uniform(-15, 50, 4),
                           rng.uniform(0, 0.9, 4), rng.uniform(0, 1500, 4))],
                    ignore_index=True)
    idx, ei, et, ew = inductive_subgraph(africa_df, cfg, new, train_graph=africa_graph)
    n_t = len(africa_df)
    assert idx.n_train == n_t and idx.n_new == 5 and idx.num_nodes == n_t + 5
    assert idx.new_nodes.tolist() == list(range(n_t, n_t + 5))
    # directed training -> new only
    assert (ei[0] < n_t).all() and (ei[1] >= n_t).all()
    assert ((ew > 0) & (ew <= 1)).all() and ew.dtype == torch.float32
    assert idx.config.spatial_scale_km == africa_graph.config.spatial_scale_km
    assert idx.config.tau_v == africa_graph.config.tau_v
    # the copy of training sample t: same cluster, t among its neighbours with weight 1
    assert idx.cluster_new[0] == africa_graph.cluster[t] and idx.k_new[0] == 10
    for r in range(3):
        sel = (et == r) & (ei[1] == n_t)
        assert sel.any()
        src, w = ei[0, sel], ew[sel]
        assert t in src.tolist()
        assert float(w[src == t].max()) == pytest.approx(1.0) == float(w.max())
    assert int(((et == 0) & (ei[1] == n_t)).sum()) == 10
    assert int(((et == 1) & (ei[1] == n_t)).sum()) == cfg.k_ndvi
    # without train_graph the training graph is rebuilt: the same edges
    idx2, ei2, et2, ew2 = inductive_subgraph(africa_df, cfg, new)
    assert torch.equal(ei, ei2) and torch.equal(et, et2) and torch.allclose(ew, ew2)

    # new points never change training states, and new points do not see each other
    full = extend_graph(africa_graph, idx, ei, et, ew)
    assert full.num_nodes == n_t + 5 and full.num_edges == africa_graph.num_edges + ei.shape[1]
    layers = _two_layer_rgat()
    x = torch.randn(n_t + 5, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        base = _forward(layers, x[:n_t], africa_graph.edge_index, africa_graph.edge_type)
        ext = _forward(layers, x, full.edge_index, full.edge_type)
        torch.testing.assert_close(ext[:n_t], base)
        # k-hop batching: a 2-hop local subgraph reproduces the 2-layer outputs of new nodes
        sub = local_subgraph(full, idx.new_nodes[:2], hops=2)
        out = _forward(layers, x[sub.nodes], sub.edge_index, sub.edge_type)
        torch.testing.assert_close(out[sub.centre], ext[n_t:n_t + 2])
    assert sub.nodes.numel() < full.num_nodes
    assert torch.equal(sub.nodes[sub.centre], idx.new_nodes[:2])


def test_assign_new_clusters_and_local_subgraph_hops(africa_df, africa_graph):
    lab = africa_graph.cluster.numpy()
    lat, lon = africa_df["lat"].to_numpy(), africa_df["lon"].to_numpy()
    got = assign_new_clusters(lat, lon, lab, np.array([lat[3], -80.0]),
                              np.array([lon[3], 0.0]), min_samples=8)
    assert got.tolist() == [lab[3], -1]
    sub0 = local_subgraph(africa_graph, [5], hops=0)
    assert sub0.nodes.tolist() == [5] and sub0.edge_index.shape[1] == 0
    sub1 = local_subgraph(africa_graph, [5], hops=1)
    ei = africa_graph.edge_index
    expected = set(ei[0, ei[1] == 5].tolist()) | {5}
    assert set(sub1.nodes.tolist()) == expected


# ---------------------------------------------------------------- configuration


def test_region_configs_follow_table6():
    a, e, g = (SOC_GRAPH_CONFIGS[r] for r in ("africa", "europe", "global"))
    assert (a.hdbscan_min_cluster_size, e.hdbscan_min_cluster_size,
            g.hdbscan_min_cluster_size) == (8, 2, 2)
    assert (a.adaptive_k_neighbours, e.adaptive_k_neighbours, g.adaptive_k_neighbours) == (
        10, 5, 5)
    for c in (a, e, g):
        assert (c.k_spatial, c.k_ndvi, c.max_distance_km, c.tau_t) == (5, 3, 2000.0, 30.0)
    with pytest.raises(ValueError):
        SOCGraphConfig(k_spatial=0)
    with pytest.raises(ValueError):
        SOCGraphConfig(tau_v=-1.0)
    with pytest.raises(ValueError):
        build_hetero_graph(frame([0.0, np.nan], [0.0, 1.0]), PLAIN)


# ---------------------------------------------------------------- figures


def test_plots_write_png_and_pdf(africa_df, africa_graph, tmp_path):
    from geohet_lib.soc.graph_plots import plot_degree_histograms, plot_relations

    p1 = plot_relations(africa_df, africa_graph, tmp_path, "relations test", "Africa",
                        max_edges=300)
    p2 = plot_degree_histograms(africa_graph, tmp_path, "degrees test", "Africa")
    p1, p2 = p1.saved_paths, p2.saved_paths
    assert p1[0].name == "soc_02_relations_africa.png"
    assert p2[0].name == "soc_02_degrees_africa.png"
    for paths in (p1, p2):
        assert sorted(p.suffix for p in paths) == [".pdf", ".png"]
        assert all(p.exists() and p.stat().st_size > 1000 for p in paths)
