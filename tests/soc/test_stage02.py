"""Stage 02 of the SOC study on the smoke profile: regional graphs, train-only imputation,
saved artefacts, and the stage-01 figures."""

import numpy as np
import pandas as pd
import pytest
import torch

from geohet_lib.config import SOC_REGIONS, get_profile
from geohet_lib.io import read_json
from geohet_lib.soc.graph import RELATIONS, SOC_GRAPH_CONFIGS, build_hetero_graph
from geohet_lib.soc.stage01 import build_soc_corpus, load_corpus, open_patches, select_region
from geohet_lib.soc.stage02 import (build_soc_graphs, fit_graph_imputer, graph_config,
                                    graph_frame, graph_summaries, load_graph_summary,
                                    load_soc_graph, node_ids_hash)


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("soc_stage02")
    build_soc_corpus(get_profile("smoke"), out, seed=0, progress=False)
    return out


@pytest.fixture(scope="module")
def corpus(smoke_dir):
    return load_corpus(smoke_dir)


@pytest.fixture(scope="module")
def graphs(smoke_dir):
    return build_soc_graphs(get_profile("smoke"), smoke_dir, seed=0, progress=False)


def test_graphs_for_every_region_with_region_sizes(graphs, corpus, smoke_dir):
    assert set(graphs) == set(SOC_REGIONS)
    prof = get_profile("smoke")
    for r, g in graphs.items():
        assert g.num_nodes == len(select_region(corpus, r)) == prof.soc.samples(r)
        assert set(torch.unique(g.edge_type).tolist()) == {0, 1, 2}
        cfg = g.config
        table6 = SOC_GRAPH_CONFIGS[r]
        assert (cfg.hdbscan_min_cluster_size, cfg.adaptive_k_neighbours) == (
            table6.hdbscan_min_cluster_size, table6.adaptive_k_neighbours)
        assert cfg.max_distance_km == prof.soc.max_distance_km and cfg.is_resolved
        s = load_graph_summary(smoke_dir, r)
        assert s["nodes"] == g.num_nodes
        assert s["edges"] == {name: int((g.edge_type == t).sum())
                              for t, name in enumerate(RELATIONS)}
        assert s["tau_v"] == pytest.approx(cfg.tau_v) and s["build_seconds"] >= 0
        assert s["split"]["train"] + s["split"]["val"] + s["split"]["test"] == g.num_nodes
        assert s["node_ids_sha256"] == node_ids_hash(corpus, r)
    table = graph_summaries(smoke_dir)
    assert list(table["region"]) == list(SOC_REGIONS)
    log = (smoke_dir / "run_log.jsonl").read_text().splitlines()
    assert any('"stage": "soc_02_graph"' in line for line in log)


def test_saved_graph_round_trip_and_rebuild(graphs, corpus, smoke_dir):
    for r, g in graphs.items():
        h = load_soc_graph(smoke_dir, r)
        assert h.num_nodes == g.num_nodes and h.config == g.config
        for name in ("edge_index", "edge_type", "edge_weight", "edge_dist_km", "cluster", "k_node"):
            assert torch.equal(getattr(h, name), getattr(g, name)), name
    # graph_frame rebuilds exactly the table the saved graph was built from
    r = "europe"
    again = build_hetero_graph(graph_frame(corpus, r), graph_config("smoke", r))
    assert torch.equal(again.edge_index, graphs[r].edge_index)
    assert torch.equal(again.edge_weight, graphs[r].edge_weight)


def test_load_missing_graph_names_notebook(tmp_path):
    with pytest.raises(FileNotFoundError, match="02_graph_construction_soc"):
        load_soc_graph(tmp_path, "africa")
    with pytest.raises(FileNotFoundError, match="01_dataset_building_soc"):
        build_soc_graphs("smoke", tmp_path, progress=False)
    with pytest.raises(ValueError, match="unknown region"):
        load_soc_graph(tmp_path, "asia")


def test_graph_frame_splits_and_observed_values(corpus):
    r = "africa"
    full = graph_frame(corpus, r)
    reg = select_region(corpus, r)
    assert list(full.columns) == ["lat", "lon", "ndvi", "elevation"]
    assert full.index.equals(reg.index)  # node i = i-th sample of the region, corpus row index
    assert np.isfinite(full.to_numpy()).all()
    seen = reg["ndvi_p50"].notna().to_numpy()
    assert np.array_equal(full["ndvi"].to_numpy()[seen], reg["ndvi_p50"].to_numpy(np.float64)[seen])
    parts = {s: graph_frame(corpus, r, s) for s in ("train", "val", "test")}
    assert sum(len(p) for p in parts.values()) == len(full)
    for s, p in parts.items():
        assert (reg.loc[p.index, f"split_{r}"] == s).all()
        pd.testing.assert_frame_equal(p, full.loc[p.index])  # same values whichever subset
    with pytest.raises(ValueError, match="unknown split"):
        graph_frame(corpus, r, "holdout")


def test_imputer_sees_training_rows_only(corpus, smoke_dir, graphs):
    r = "africa"
    col = f"split_{r}"
    base = fit_graph_imputer(corpus, r)
    held = corpus[col].isin(["val", "test"]).to_numpy()
    assert held.sum() > 0
    perturbed = corpus.copy()
    rng = np.random.default_rng(1)
    perturbed.loc[held, "ndvi_p50"] = rng.uniform(-1, 1, held.sum()).astype(np.float32)
    perturbed.loc[np.flatnonzero(held)[:3], "ndvi_p50"] = np.nan
    perturbed.loc[held, "elevation"] = 5000.0
    other = fit_graph_imputer(perturbed, r)
    for name in ("center_", "spread_"):
        assert np.array_equal(getattr(base, name), getattr(other, name)), name
    assert np.array_equal(base.scaler_.mean_, other.scaler_.mean_)
    assert np.array_equal(base.scaler_.scale_, other.scaler_.scale_)
    assert np.array_equal(base.knn_._fit_X, other.knn_._fit_X, equal_nan=True)
    # so the training nodes' NDVI and elevation do not move either
    train = corpus[col].to_numpy() == "train"
    train_rows = corpus.index[train & corpus["in_africa"].to_numpy()]
    a = graph_frame(corpus, r).loc[train_rows]
    b = graph_frame(perturbed, r).loc[train_rows]
    pd.testing.assert_frame_equal(a, b)
    assert np.isfinite(graph_frame(perturbed, r).to_numpy()).all()
    s = read_json(smoke_dir / f"graph_{r}.json")
    assert s["imputer"]["n_train_rows"] == int(train.sum()) == base.n_train_
    assert s["imputer"]["train_mean"]["ndvi_p50"] == pytest.approx(
        float(np.nanmean(corpus.loc[train, "ndvi_p50"].to_numpy(np.float64))))


def test_corpus_plots_write_png_and_pdf(corpus, smoke_dir, tmp_path):
    from geohet_lib.soc.corpus_plots import (missingness_table, plot_corpus_map,
                                             plot_missingness, plot_patch_examples,
                                             plot_soc_distribution)

    table = missingness_table(corpus)
    assert list(table.columns) == ["africa", "europe", "other", "all"] and len(table) == 8
    assert ((table >= 0) & (table <= 1)).all().all()
    cap = "test · smoke"
    outs = [plot_corpus_map(corpus, tmp_path, cap), plot_soc_distribution(corpus, tmp_path, cap),
            plot_missingness(corpus, tmp_path, cap),
            plot_patch_examples(open_patches(smoke_dir), [0, 450, 700], tmp_path, cap,
                                labels=["a", "b", "c"])]
    from matplotlib.figure import Figure

    assert all(isinstance(fig, Figure) for fig in outs)
    outs = [fig.saved_paths for fig in outs]
    stems = {p.stem for paths in outs for p in paths}
    assert stems == {"soc_01_corpus_map", "soc_01_soc_distribution", "soc_01_missingness",
                     "soc_01_patch_examples"}
    for paths in outs:
        assert sorted(p.suffix for p in paths) == [".pdf", ".png"]
        assert all(p.exists() and p.stat().st_size > 1000 for p in paths)
    with pytest.raises(ValueError, match="labels"):
        plot_patch_examples(open_patches(smoke_dir), [0, 1], tmp_path, cap, labels=["x"])


def test_a_region_without_samples_is_skipped_and_said(smoke_dir, tmp_path, caplog):
    """An Africa-only corpus: stage 02 builds Africa's graph and says Europe was skipped."""
    import json
    import shutil

    import pandas as pd

    from geohet_lib.soc.stage02 import build_soc_graphs
    from geohet_lib.stages import staged

    old = json.loads((smoke_dir / "manifest.json").read_text())
    with staged(tmp_path, "soc_stage01", "manifest.json") as st:  # stage 01 of that corpus
        shutil.copy(smoke_dir / "corpus.parquet", st.path("corpus.parquet"))
        split = pd.read_parquet(smoke_dir / "split.parquet")
        split["in_europe"] = False
        split.to_parquet(st.path("split.parquet"))
        st.manifest = {k: old[k] for k in ("study", "source", "profile", "seed")}
    with caplog.at_level("WARNING", logger="geohet"):
        graphs = build_soc_graphs("smoke", tmp_path, regions=["africa", "europe"], progress=False)
    assert list(graphs) == ["africa"] and (tmp_path / "graph_africa.pt").exists()
    assert not (tmp_path / "graph_europe.pt").exists()
    assert "['europe'] have no samples" in caplog.text
    with pytest.raises(ValueError, match="none of the regions"):
        build_soc_graphs("smoke", tmp_path, regions=["europe"], progress=False)
