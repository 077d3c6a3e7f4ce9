"""Stage 07 of the SOC study (geohet_lib/soc/embedding_maps.py) and SpTGNN.representations."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from geohet_lib.config import get_profile
from geohet_lib.soc.stage01 import build_soc_corpus
from geohet_lib.soc.stage02 import build_soc_graphs
from geohet_lib.stages import StageMismatchError

from geohet_lib.paths import CHECKPOINTS_DIR
from geohet_lib.soc import embedding_maps as em
from geohet_lib.soc import stage03 as s3
from geohet_lib.soc.stage01 import load_ground_truth
from geohet_lib.soc.train import graph_batch


def test_representations_are_the_stages_forward_reads(africa, smoke_dir, tmp_path):
    data = tmp_path / "data"  # checkpoints live beside the data they were trained on
    shutil.copytree(smoke_dir, data)
    res = s3.run_region(africa, None, seed=0, epochs=2, use_image=False, progress=False,
                        checkpoint_dir=data / CHECKPOINTS_DIR / "sptgnn_africa")
    model = em.load_trained(data, "africa")
    reps = em.region_representations(model, africa)
    assert set(reps) == set(em.STAGES)
    assert reps["embedding"].shape == (africa.n, model.cfg.post_mlp_out)
    assert reps["pre_graph"].shape == (africa.n, model.cfg.pre_mlp_out)
    # the heads read the last layer: the SOC head on it gives the model's own prediction
    batch = graph_batch(africa.graph, africa.features())
    with torch.no_grad():
        out = model(batch)
        head = model.head_y(torch.as_tensor(reps["embedding"], dtype=torch.float32)).squeeze(-1)
    np.testing.assert_allclose(head.numpy(), out["pred"].numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["pred"].numpy(), res.pred_scaled, rtol=1e-4, atol=1e-5)
    with pytest.raises(FileNotFoundError, match="03_training_soc"):
        em.load_trained(data, "europe")
    # stages 01-02 rebuilt with another seed: the weights belong to the old data
    build_soc_corpus(get_profile("smoke"), data, seed=1, progress=False)
    build_soc_graphs("smoke", data, regions=["africa"], seed=1, progress=False)
    with pytest.raises(StageMismatchError, match=r"trained on other data.*rerun stage 03"):
        em.load_trained(data, "africa")


def test_region_truth_follows_the_node_order(africa, smoke_dir):
    truth = load_ground_truth(smoke_dir)
    t = em.region_truth(truth, africa)
    assert len(t) == africa.n and "aridity" in t
    ids = africa.frame["sample_id"].to_numpy()
    expect = truth.set_index("sample_id").loc[ids, "aridity"].to_numpy()
    np.testing.assert_array_equal(t["aridity"].to_numpy(), expect)
