"""Stage 03 machinery of the GPP study: sample cache, splits, training, scoring, Table 2."""

import numpy as np
import pandas as pd
import pytest
import torch

from geohet_lib.gpp import dataset as gds
from geohet_lib.gpp import stage03 as S
from geohet_lib.gpp.samples import iterate_batches, open_sample_cache
from geohet_lib.gpp.stage02 import build_stage02
from geohet_lib.gpp.table2 import PAPER_TABLE2, build_table2
from geohet_lib.engine import BEST_NAME, LAST_NAME, load_checkpoint
from geohet_lib.gpp.train import TrainConfig, fit, lr_at, predict
from geohet_lib.tables import to_markdown, write_table


@pytest.fixture(scope="module")
def prepared(smoke_gpp_dir, smoke_profile):
    graph = build_stage02(smoke_profile, smoke_gpp_dir, seed=0, progress=False)
    cache = open_sample_cache(smoke_gpp_dir)
    m = gds.read_manifest(smoke_gpp_dir)
    split = S.temporal_split(cache, m["train_years"], m["test_years"], graph.cell_cluster.numpy())
    return cache, graph, split, m


def test_sample_cache_matches_dataset(prepared, smoke_gpp_dir):
    cache, _, _, m = prepared
    ds = gds.open_gpp_dataset(smoke_gpp_dir)
    stats = gds.read_normalisation(smoke_gpp_dir)
    assert cache.features.shape == (m["n_cells"], len(m["years"]), 46, 43)
    k = cache.feature_names.index("temperature_2m")
    raw = ds["temperature_2m"].isel(year=1).values
    expected = (raw - stats.loc["temperature_2m", "mean"]) / stats.loc["temperature_2m", "std"]
    np.testing.assert_allclose(cache.features[:, 1, :, k], expected, rtol=1e-5, atol=1e-5)
    lc = cache.feature_names.index("land_cover_type_12")
    assert np.ptp(cache.features[:, 1, :, lc], axis=1).max() == 0  # per-year land cover, broadcast
    np.testing.assert_array_equal(cache.target[:, 2], ds["gpp"].isel(year=2).values)
    ex = np.array([[5, 2], [0, 0], [5, 0]])  # unsorted on purpose
    x, y = cache.gather(ex)
    np.testing.assert_array_equal(y[0], cache.target[5, 2])
    np.testing.assert_array_equal(x[2], cache.features[5, 0])
    X, Y = cache.flat([2019])
    assert X.shape == (m["n_cells"] * 46, 43) and Y.shape == (m["n_cells"] * 46,)
    with pytest.raises(ValueError, match="not in the sample cache"):
        cache.year_index([1990])


def test_batches_are_seeded_and_complete(prepared):
    cache, _, split, _ = prepared
    def order(seed):
        return torch.cat([y[:, 0] for _, y, _, _ in
                          iterate_batches(cache, split.train, split.cell_cluster, 50, True, seed)])
    a, b, c = order(1), order(1), order(2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.numel() == len(split.train)
    x, y, cl, st = next(iterate_batches(cache, split.train, split.cell_cluster, 7, False))
    assert x.shape == (7, 46, 43) and y.shape == (7, 46) and cl.shape == (7,) and st.shape == (7, 46)


def test_splits(prepared, smoke_gpp_dir):
    cache, graph, split, m = prepared
    yi = cache.year_index
    assert set(split.val[:, 1]) == set(yi([m["train_years"][-1]]))
    assert set(split.test[:, 1]) == set(yi(m["test_years"]))
    assert not set(split.train[:, 1]) & (set(split.val[:, 1]) | set(split.test[:, 1]))
    with pytest.raises(ValueError, match="at least two training years"):
        S.temporal_split(cache, [2018], [2020], split.cell_cluster)
    cells = pd.read_parquet(smoke_gpp_dir / "cells.parquet")
    sp = S.spatial_block_split(cache, cells, graph, m["train_years"], m["test_years"],
                               block_deg=30.0, holdout_fraction=0.3, seed=0)
    train_cells, test_cells = set(sp.train[:, 0]), set(sp.test[:, 0])
    assert train_cells and test_cells and not train_cells & test_cells
    assert len(test_cells) >= 0.3 * len(cells)
    # every held-out cell reads the condition of a cluster that has training cells
    assert set(sp.cell_cluster[list(test_cells)]) <= set(sp.cell_cluster[list(train_cells)])


def test_lr_schedule_halfway():
    cfg = TrainConfig(epochs=20)
    assert [lr_at(cfg, e) for e in (0, 9, 10, 19)] == [1e-3, 1e-3, 1e-4, 1e-4]
    assert lr_at(TrainConfig(epochs=1), 0) == 1e-3


def _train(prepared, profile, epochs, ckpt=None, resume=False, stop=None):
    cache, graph, split, _ = prepared
    torch.manual_seed(0)
    model, cfg = S.make_geohet(profile, graph, 43)
    tc = TrainConfig(epochs=epochs, batch_size=32, seed=5, max_batches=4)
    return fit(model, cache, split.train, split.val, split.cell_cluster, tc, checkpoint_dir=ckpt,
               resume=resume, progress=False, stop_after_epoch=stop, model_config=cfg.to_dict())


def test_training_is_deterministic_on_cpu(prepared, smoke_profile):
    m1, h1, s1 = _train(prepared, smoke_profile, 2)
    m2, h2, s2 = _train(prepared, smoke_profile, 2)
    assert h1.train_rmse == h2.train_rmse and h1.val_rmse == h2.val_rmse and s1 == s2
    cache, _, split, _ = prepared
    p1 = predict(m1, cache, split.test, split.cell_cluster, s1)
    p2 = predict(m2, cache, split.test, split.cell_cluster, s2)
    np.testing.assert_array_equal(p1, p2)
    assert p1.shape == (len(split.test), 46) and np.isfinite(p1).all()


def test_resume_equals_uninterrupted(prepared, smoke_profile, tmp_path):
    full, h_full, _ = _train(prepared, smoke_profile, 3, ckpt=tmp_path / "a")
    _train(prepared, smoke_profile, 3, ckpt=tmp_path / "b", stop=0)  # interrupted after epoch 1
    ck = load_checkpoint(tmp_path / "b" / LAST_NAME)
    assert ck["history"].epochs == 1 and ck["hparams"]["model_config"]["d_model"] == smoke_profile.gpp.d_model
    resumed, h_res, _ = _train(prepared, smoke_profile, 3, ckpt=tmp_path / "b", resume=True)
    assert h_res.train_rmse == h_full.train_rmse and h_res.val_rmse == h_full.val_rmse
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k
    best = load_checkpoint(tmp_path / "b" / BEST_NAME)
    assert best["extra"]["y_scale"] > 0 and best["history"].val_rmse == h_res.val_rmse
    for k, v in resumed.state_dict().items():
        assert torch.equal(best["state_dict"][k], v), k


def test_scores_and_rmse_per_cell():
    y = np.array([[1.0, 2.0], [3.0, 4.0], [0.0, 0.0]])
    p = np.array([[1.0, 4.0], [3.0, 4.0], [1.0, 1.0]])
    ex = np.array([[0, 0], [1, 0], [0, 1]])
    per = S.rmse_per_cell(p, y, ex, 3)
    # cell 0: squared errors (0, 4) and (1, 1) -> mean of per-example means (2 and 1) = 1.5
    np.testing.assert_allclose(per[:2], [np.sqrt(1.5), 0.0])
    assert np.isnan(per[2])
    sc = S.score(p, y)
    assert sc["rmse"] == pytest.approx(np.sqrt(6 / 6))


def test_embedding_recovery_finds_a_planted_field():
    rng = np.random.default_rng(0)
    n_cells, n_clusters = 400, 40
    cluster = rng.integers(0, n_clusters, n_cells)
    field = rng.normal(size=n_clusters)
    truth = pd.DataFrame({"planted": field[cluster] + 0.01 * rng.normal(size=n_cells),
                          "noise": rng.normal(size=n_cells)})
    vec = np.zeros((n_clusters, 5, 8))
    vec[:, :, 0] = 3 * field[:, None]
    vec += 0.05 * rng.normal(size=vec.shape)
    rec = S.embedding_recovery(vec, truth, cluster, ("planted", "noise")).set_index("truth")
    assert rec.loc["planted", "max |corr| with PC1-3"] > 0.99
    assert rec.loc["planted", "best PC"] == 1
    assert rec.loc["noise", "R2 on PC1-3"] < 0.5


def test_table2_claims():
    res = pd.DataFrame({"method": ["GeoHet", "LightGBMLarge", "LightGBM", "TabNet", "ResNet"],
                        "rmse": [0.8, 1.0, 1.1, 0.9, 0.95], "r2": [0.9, 0.8, 0.79, 0.85, 0.84]})
    t = build_table2(res).set_index("method")
    assert len(t) == len(PAPER_TABLE2)
    assert t.loc["GeoHet", "claim"] == "lowest RMSE of all methods: holds"
    assert t.loc["TabNet", "claim"].startswith("tabular DL ahead of tabular ML")
    assert "holds" in t.loc["LightGBMLarge", "claim"] and "does not" not in t.loc["LightGBMLarge", "claim"]
    assert t.loc["CatBoost", "note"] == "not run" and np.isnan(t.loc["CatBoost", "RMSE"])
    worse = res.assign(rmse=[1.2, 1.0, 1.1, 0.9, 0.95])
    # the verdict names the method ahead and the margin (0.9 by TabNet; 1.2 / 0.9 - 1 = +33.3 %)
    assert build_table2(worse).set_index("method").loc["GeoHet", "claim"] == (
        "lowest RMSE of all methods: does not hold (TabNet 0.900 vs GeoHet 1.200, +33.3 %)")


def test_write_table(tmp_path):
    df = pd.DataFrame({"a": ["x", "y"], "b": [1.23456, np.nan]})
    assert to_markdown(df) == "| a | b |\n|---|---|\n| x | 1.235 |\n| y |  |\n"
    # integer counts stay integers beside float columns (no row-wise upcast); NA is blank
    mixed = pd.DataFrame({"n": pd.array([3600, None], dtype="Int64"), "r": [0.5, 1.0]})
    assert to_markdown(mixed) == "| n | r |\n|---|---|\n| 3600 | 0.500 |\n|  | 1.000 |\n"
    csv, md = write_table(df, "t", tmp_path, "Title", "a note")
    assert pd.read_csv(csv).shape == (2, 2)
    assert md.read_text().startswith("# Title\n\n| a | b |") and "a note" in md.read_text()


def test_beta_nll_training_selects_by_validation_nll_and_predicts_a_variance(prepared, smoke_profile):
    from geohet_lib.gpp.train import predict_dist

    cache, graph, split, _ = prepared
    torch.manual_seed(0)
    model, cfg = S.make_geohet(smoke_profile, graph, cache.features.shape[-1], variance_head=True)
    tc = TrainConfig(epochs=2, batch_size=16, patience=None, seed=0, loss="beta_nll",
                     max_batches=3)
    model, hist, y_scale = fit(model, cache, split.train[:64], split.val[:32], split.cell_cluster,
                               tc, progress=False, model_config=cfg.to_dict())
    assert len(hist.val_rmse) == 2
    mean, var = predict_dist(model, cache, split.test[:10], split.cell_cluster, y_scale)
    assert mean.shape == var.shape == (10, 46) and np.all(var > 0)
    np.testing.assert_allclose(mean, predict(model, cache, split.test[:10], split.cell_cluster,
                                             y_scale), rtol=1e-5, atol=1e-4)


def test_uncertainty_losses_need_the_variance_head(prepared, smoke_profile):
    cache, graph, split, _ = prepared
    model, _ = S.make_geohet(smoke_profile, graph, cache.features.shape[-1])
    with pytest.raises(ValueError, match="variance head"):
        fit(model, cache, split.train[:8], split.val[:8], split.cell_cluster,
            TrainConfig(epochs=1, batch_size=8, loss="nll"), progress=False)
    with pytest.raises(ValueError, match="unknown loss"):
        fit(model, cache, split.train[:8], split.val[:8], split.cell_cluster,
            TrainConfig(epochs=1, batch_size=8, loss="huber"), progress=False)
