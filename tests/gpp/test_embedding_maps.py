"""Stage 07 of the GPP study (geohet_lib/gpp/embedding_maps.py): the trained GeoHet rebuilt
from stage 03's checkpoint, its condition vectors and test-year predictions."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from geohet_lib.gpp import embedding_maps as em
from geohet_lib.gpp import stage03 as S
from geohet_lib.gpp.dataset import read_manifest
from geohet_lib.gpp.samples import open_sample_cache
from geohet_lib.gpp.stage02 import build_stage02
from geohet_lib.gpp.train import predict
from geohet_lib.paths import CHECKPOINTS_DIR


@pytest.fixture(scope="module")
def trained(smoke_gpp_dir, smoke_profile, tmp_path_factory):
    graph = build_stage02(smoke_profile, smoke_gpp_dir, seed=0, progress=False)
    cache = open_sample_cache(smoke_gpp_dir)
    m = read_manifest(smoke_gpp_dir)
    split = S.temporal_split(cache, m["train_years"], m["test_years"], graph.cell_cluster.numpy())
    split = S.Split(split.train[:32], split.val[:16], split.test, split.cell_cluster, "tiny")
    out = tmp_path_factory.mktemp("gpp07") / "data"  # checkpoints live beside their data
    shutil.copytree(smoke_gpp_dir, out)
    model, _, y_scale, pred, _ = S.train_and_test(smoke_profile, graph, cache, split, 0, "cpu",
                                                   checkpoint_dir=out / CHECKPOINTS_DIR / "geohet",
                                                   progress=False)
    return out, graph, cache, m, model, y_scale


def test_the_checkpoint_rebuilds_the_trained_model(trained):
    out, graph, cache, m, model, y_scale = trained
    got = em.load_trained(out, graph)
    assert got.y_scale == pytest.approx(y_scale)
    v = em.condition_vectors(got)
    assert v.shape == (graph.num_nodes, 46, model.cfg.d_model)
    np.testing.assert_allclose(v, model.condition_vectors().numpy(), rtol=1e-5, atol=1e-6)
    assert em.node2vec_vectors(graph).shape[:2] == (graph.num_nodes, 46)
    with pytest.raises(FileNotFoundError, match="03_training"):
        em.load_trained(out, graph, "geohet_no_graph")


def test_test_year_predictions_are_per_cell_and_match_predict(trained):
    out, graph, cache, m, model, y_scale = trained
    got = em.load_trained(out, graph)
    year = int(m["test_years"][0])
    cc = graph.cell_cluster.numpy()
    pred = em.test_year_predictions(got, cache, year, cc)
    assert pred.shape == (cache.n_cells, 46) and np.isfinite(pred).all()
    ex = cache.examples([year])[:5]
    np.testing.assert_allclose(pred[ex[:, 0]], predict(got.model, cache, ex, cc, got.y_scale),
                               rtol=1e-5, atol=1e-4)


def test_cluster_truth_averages_each_node_s_cells():
    truth = pd.DataFrame({"aridity": [1.0, 3.0, 10.0, np.nan], "other": [0, 0, 0, 0]})
    out = em.cluster_truth(truth, np.array([0, 0, 2, 2]), 3, ("aridity", "missing"))
    assert list(out.columns) == ["aridity"]
    assert out["aridity"].iloc[0] == 2.0 and np.isnan(out["aridity"].iloc[1])
    assert out["aridity"].iloc[2] == 10.0
