"""Stage 04 of the GPP study: the 4.4 ladder, A.2 sweeps and the reviewers' points
(geohet_lib/gpp/ablations.py, the model and graph switches they use)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from geohet_lib.gpp import ablations as ab
from geohet_lib.gpp.dataset import read_manifest
from geohet_lib.gpp.graph import initial_node_time_embeddings, knn_in_plane
from geohet_lib.gpp.samples import open_sample_cache
from geohet_lib.gpp.stage02 import build_stage02
from geohet_lib.gpp.stage03 import make_geohet


@pytest.fixture(scope="module")
def world(smoke_gpp_dir, smoke_profile):
    graph = build_stage02(smoke_profile, smoke_gpp_dir, seed=0, progress=False)
    cells = pd.read_parquet(smoke_gpp_dir / "cells.parquet")
    return (smoke_profile, open_sample_cache(smoke_gpp_dir), cells, graph,
            read_manifest(smoke_gpp_dir))


def _model(world, name, tmp_path):
    prof, cache, cells, graph, _ = world
    v = ab.LADDER[name]
    g = ab.graph_for(prof, v.graph, cells, graph, tmp_path)
    torch.manual_seed(0)
    model, _ = make_geohet(prof, g, cache.features.shape[-1], **v.model)
    return model, g


def _names(model) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_each_ladder_step_adds_exactly_the_module_it_names(world, tmp_path):
    steps = list(ab.LADDER)
    models = {s: _model(world, s, tmp_path) for s in steps}
    graph = world[3]
    # En only: an FT-Transformer encoder (feature attention, no time attention) and a head
    en, _ = models[steps[0]]
    assert en.decoder is None and en.conditions is None
    assert all(b.attn_time is None and b.attn_feat is not None for b in en.encoder.blocks)
    # + decoder over a random learnable target: decoder.*, conditions.* (no GCN)
    de, _ = models[steps[1]]
    added = _names(de) - _names(en)
    assert added and all(n.startswith(("decoder.", "conditions.")) for n in added)
    assert de.conditions.gcn is None and _names(en) <= _names(de)
    n2v = initial_node_time_embeddings(graph)
    assert not torch.allclose(de.conditions.node_emb, n2v)
    assert de.conditions.node_emb.std().item() == pytest.approx(n2v.std().item(), rel=0.05)
    # + GCN over the pixel KNN graph: the GCN takes the linear map's place; unit edge weights
    gcn, g_pixel = models[steps[2]]
    assert _names(gcn) ^ _names(de) == ({n for n in _names(gcn) if ".gcn." in n}
                                         | {n for n in _names(de) if ".lin." in n})
    assert g_pixel.distance == "degrees" and torch.all(g_pixel.edge_weight == 1)
    assert torch.equal(g_pixel.cell_cluster, graph.cell_cluster)  # the same clusters
    # + enhanced graph: the same parameters, stage 02's graph and its Node2vec start
    eg, g_eg = models[steps[3]]
    assert _names(eg) == _names(gcn) and g_eg is graph
    assert torch.allclose(eg.conditions.node_emb, n2v)
    # + dual attention: only the time-attention branch of each encoder block is new
    full, _ = models[steps[4]]
    new = _names(full) - _names(eg)
    assert new and all(".attn_time." in n or ".norm_t." in n for n in new)
    assert _names(eg) <= _names(full)


def test_frozen_node_embeddings_do_not_move(world):
    prof, cache, cells, graph, _ = world
    model, _ = make_geohet(prof, graph, cache.features.shape[-1], freeze_nodes=True)
    start = model.conditions.node_emb.detach().clone()
    assert not model.conditions.node_emb.requires_grad
    x = torch.randn(2, 46, cache.features.shape[-1])
    y = model(x, torch.tensor([0, 1]), torch.arange(46).repeat(2, 1))
    y.sum().backward()
    assert model.conditions.node_emb.grad is None and torch.equal(model.conditions.node_emb, start)


def test_checkpoints_holding_both_condition_branches_still_load(world):
    prof, cache, _, graph, _ = world
    model, _ = make_geohet(prof, graph, cache.features.shape[-1])
    state = model.state_dict()
    d_node, d = model.conditions.node_emb.shape[-1], prof.gpp.d_model
    state["conditions.lin.weight"] = torch.zeros(d, d_node)  # what older checkpoints hold
    state["conditions.lin.bias"] = torch.zeros(d)
    again, _ = make_geohet(prof, graph, cache.features.shape[-1])
    result = again.load_state_dict(state)  # strict: an unexpected key would raise
    assert not result.missing_keys and not result.unexpected_keys


def test_pixel_knn_is_planar_in_degrees_without_wrap():
    lon = np.array([-179.0, -178.0, 179.0, 0.0])
    lat = np.zeros(4)
    ei, dist = knn_in_plane(lon, lat, k=1, symmetric=False)
    nearest = {int(d): int(s) for s, d in ei.T}
    assert nearest[0] == 1 and nearest[2] == 3  # 179 E is 179 degrees from 0, 358 from -179
    assert dist[np.where(ei[1] == 0)[0][0]] == pytest.approx(1.0)


def test_scaled_cluster_counts_and_a2_variants(smoke_profile):
    assert ab.scaled_clusters(750, 3683, 20) == 47  # 750 x 3,683 / 59,172 = 46.7
    assert ab.scaled_clusters(375, 412, 6) == 8  # floor: n_neighbors + 2
    v = ab.a2_variants(smoke_profile, 412)
    assert list(v) == ["n_clusters", "n_neighbors", "embedding_dim"]
    assert len(v["n_clusters"]) == 6 and len(v["n_neighbors"]) == 4 and len(v["embedding_dim"]) == 4
    k = {label: var.graph["n_neighbors"] for label, var in v["n_neighbors"].items()}
    assert k == {"10": 10, "20": 20, "30 -> 23": 23, "50 -> 23": 23}  # 24 nodes: k <= 23


def test_protocol_split_is_the_same_subset_for_any_clustering(world):
    _, cache, _, graph, m = world
    a = ab.protocol_split(cache, m, graph.cell_cluster.numpy(), 50, 20)
    b = ab.protocol_split(cache, m, np.zeros_like(graph.cell_cluster.numpy()), 50, 20)
    assert len(a.train) == 50 and len(a.val) == 20
    np.testing.assert_array_equal(a.train, b.train)
    np.testing.assert_array_equal(a.val, b.val)
    assert len(a.test) == len(cache.examples(m["test_years"]))


def test_sweep_on_smoke_caches_and_tables_fill(world, tmp_path):
    prof, cache, cells, graph, m = world
    variants = {k: ab.LADDER[k] for k in ("FFTransformer (En only)", ab.GEOHET)}
    runs = ab.run_variants(variants, prof, cache, cells, graph, m, [0, 1], tmp_path)
    assert len(runs) == 4 and not runs["cached"].any()
    assert np.isfinite(runs[list(ab.METRICS)].to_numpy()).all()
    again = ab.run_variants(variants, prof, cache, cells, graph, m, [0, 1], tmp_path)
    assert again["cached"].all()
    t = ab.build_ladder_table(runs)
    assert t["paper RMSE"].tolist() == [1.158, 0.836]
    assert t.loc[0, "claim"] == "" and t.loc[1, "claim"].startswith("lowers RMSE vs FFTransformer")


def _runs(values: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"variant": k, "seed": i, "test RMSE": v, "test R2": 0.5,
                          "val RMSE": v, "parameters": 10.0}
                         for k, vs in values.items() for i, v in enumerate(vs)])


def test_ladder_a2_and_beyond_claims_against_seed_noise():
    ladder = ab.build_ladder_table(_runs({"FFTransformer (En only)": [2.0, 2.1, 1.9],
                                          "En+De": [1.0, 1.1, 0.9], "En+De+GCN": [1.0, 1.2, 0.8]}))
    assert ladder["claim"].tolist() == ["", "lowers RMSE vs FFTransformer (En only): holds",
                                        "lowers RMSE vs En+De: within noise"]
    assert ladder.loc[1, "test RMSE"] == "1.000 ± 0.100"
    labels = ["375", "750", "1500", "3000", "6000", "12000"]
    a2 = ab.build_a2_table(_runs({lab: [1.0 + 0.5 * (lab != "750") + d for d in (0, .05, -.05)]
                                  for lab in labels}), "n_clusters")
    assert a2.loc[1, "claim"] == "" and a2.loc[0, "claim"] == "paper's best (750) beats this: holds"
    assert a2["paper RMSE"].tolist() == [0.886, 0.876, 0.886, 0.895, 0.889, 0.947]
    beyond = ab.build_beyond_table(_runs({"GeoHet without GCN": [1.0, 1.1, 0.9]}),
                                   _runs({ab.GEOHET: [2.0, 2.1, 1.9]}),
                                   _runs({"10": [0.5, 0.6, 0.4], "20": [1.0, 1.05, 0.95]}))
    assert beyond["claim"].tolist() == ["the GCN lowers RMSE: does not hold",
                                        "the graph helps at k = 10: holds",
                                        "the graph helps at k = 20: within noise"]


def test_a_variant_at_the_profiles_own_value_shares_geohets_runs(smoke_profile):
    g = smoke_profile.gpp.graph
    same = ab.Variant(graph={"n_neighbors": g.n_neighbors}, model={"dual_attention": True})
    assert ab.effective_switches(smoke_profile, same) == ab.effective_switches(smoke_profile,
                                                                              ab.LADDER[ab.GEOHET])
    other = ab.Variant(graph={"n_neighbors": g.n_neighbors + 1})
    assert ab.effective_switches(smoke_profile, other)["graph"] == {"n_neighbors": g.n_neighbors + 1}
