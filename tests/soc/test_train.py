"""SpTGNN training (SOC paper 3.1, 3.7, 5.1): transductive fit with full-batch steps or
mini-batches of target nodes with sampled neighbourhoods, Moran target from training targets
only, best weights, determinism, resume, inductive prediction."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from geohet_lib.engine import BEST_NAME, load_checkpoint
from geohet_lib.soc.configs import SpTGNNConfig
from geohet_lib.soc.graph import SOCGraphConfig, build_hetero_graph, transductive_masks
from geohet_lib.soc.losses import local_morans_i
from geohet_lib.soc.train import (build_sptgnn, fit_sptgnn, graph_batch, inductive_batch,
                                  predict_inductive, predict_sptgnn, training_moran_target)

torch.set_num_threads(1)

N_COV, IMG = 6, 5


def _cfg(**kw) -> SpTGNNConfig:
    base = dict(img_dim=IMG, n_covariates=N_COV, pos_hidden=8, pos_dim=8, time_hidden=8,
                time_dim=4, n_experts=3, expert_type="cross-gated", fusion_dim=16, top_k=None,
                pre_mlp_hidden=(16,), pre_mlp_out=16, pre_mlp_dropout=0.1,
                post_mlp_hidden=(16,), post_mlp_out=8, post_mlp_dropout=0.1,
                rgat_hidden=(16, 8), num_bases=2, heads=2, dropout=0.1, lr=5e-3,
                weight_decay=1e-4, grad_clip=1.0, epochs=25, patience=100, lr_patience=100,
                lambda_aux=0.1, batch_size=None)
    base.update(kw)
    return SpTGNNConfig(**base)


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"lat": rng.uniform(-10, 10, n), "lon": rng.uniform(10, 30, n),
                         "ndvi": rng.uniform(0.1, 0.8, n), "elevation": rng.uniform(0, 900, n)})


def _features(frame: pd.DataFrame, seed: int) -> tuple[dict, np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    n = len(frame)
    cov = rng.standard_normal((n, N_COV)).astype(np.float32)
    cov[:, 0] = frame["ndvi"].to_numpy() * 3
    y = 0.8 * cov[:, 0] - 0.5 * cov[:, 1] + 0.1 * frame["lat"].to_numpy() / 10 \
        + 0.1 * rng.standard_normal(n)
    feats = {"covariates": cov, "image": rng.standard_normal((n, IMG)).astype(np.float32),
             "lat": frame["lat"].to_numpy(), "lon": frame["lon"].to_numpy(),
             "time": rng.integers(2013, 2023, n).astype(float)}
    return feats, ((y - y.mean()) / y.std()).astype(np.float64)


GCFG = SOCGraphConfig(adaptive_k=False, k_spatial=4, k_ndvi=2)


@pytest.fixture(scope="module")
def tiny():
    frame = _frame(60, 0)
    feats, y = _features(frame, 0)
    graph = build_hetero_graph(frame, GCFG)
    labels = np.array(["train"] * 40 + ["val"] * 10 + ["test"] * 10)
    labels = labels[np.random.default_rng(3).permutation(60)]
    return {"frame": frame, "feats": feats, "y": y, "graph": graph, "labels": labels,
            "masks": transductive_masks(60, labels), "batch": graph_batch(graph, feats)}


def _fit(tiny, cfg=None, y=None, seed=0, **kw):
    cfg = cfg or _cfg()
    model = build_sptgnn(cfg, seed)
    y = tiny["y"] if y is None else y
    return fit_sptgnn(model, tiny["batch"], tiny["masks"], cfg, y, None, "cpu", seed,
                      progress=False, **kw)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_training_loss_falls_and_history_is_complete(tiny):
    model, hist = _fit(tiny)
    assert hist.epochs == 25 and len(hist.val_loss) == len(hist.lr) == len(hist.seconds) == 25
    assert np.mean(hist.train_main[-5:]) < 0.6 * np.mean(hist.train_main[:3])
    assert min(hist.val_loss) < hist.val_loss[0]
    assert all(np.isfinite(hist.train_autocorr)) and all(np.isfinite(hist.train_moe))
    # total = main + lambda_aux * autocorr + moe (Eq. 3)
    assert hist.train_loss[0] == pytest.approx(hist.train_main[0] + 0.1 * hist.train_autocorr[0]
                                               + hist.train_moe[0], rel=1e-5)


def test_best_weights_are_restored(tiny, tmp_path):
    cfg = _cfg(lr=5e-2, patience=3, epochs=60)
    model, hist = _fit(tiny, cfg, checkpoint_dir=tmp_path)
    assert hist.stopped_early and hist.best_epoch == hist.epochs - 1 - cfg.patience
    assert hist.val_loss[hist.best_epoch] == min(hist.val_loss)
    mean, _ = predict_sptgnn(model, tiny["batch"])
    val = tiny["masks"]["val"].numpy()
    r = mean[val] - tiny["y"][val]
    huber = np.where(np.abs(r) <= 1, 0.5 * r**2, np.abs(r) - 0.5).mean()
    assert huber == pytest.approx(hist.val_loss[hist.best_epoch], rel=1e-5, abs=1e-6)
    best = load_checkpoint(tmp_path / BEST_NAME)
    assert best["hparams"]["model_config"] == cfg.to_dict()
    assert best["history"].val_loss == hist.val_loss
    for k, v in model.state_dict().items():
        torch.testing.assert_close(best["state_dict"][k], v)


def test_mini_batches_train_and_make_more_steps(tiny):
    cfg = _cfg(epochs=10, **MINI)
    model, hist = _fit(tiny, cfg)
    assert hist.epochs == 10 and all(np.isfinite(hist.train_loss))
    # 40 training nodes in batches of 12: 4 steps per epoch, so the loss falls faster than
    # with one full-batch step per epoch at the same learning rate
    _, full = _fit(tiny, _cfg(epochs=10))
    assert hist.train_main[-1] < full.train_main[-1]
    assert np.mean(hist.train_main[-3:]) < 0.7 * hist.train_main[0]
    assert min(hist.val_loss) < hist.val_loss[0]


def test_mini_batch_with_every_neighbour_and_no_dropout_is_the_full_batch_step(tiny):
    """One batch holding every training node with all in-edges (fanout -1) over as many hops
    as layers computes the full-batch loss on the same nodes; when the sampled subgraph holds
    every node (so the MoE terms average over the same nodes), one step gives the same
    weights."""
    from geohet_lib.soc.sampling import NeighbourSampler

    g = tiny["graph"]
    train_ids = torch.nonzero(tiny["masks"]["train"]).flatten()
    sub = NeighbourSampler(g.edge_index, g.edge_type, g.num_nodes, (-1, -1)).sample(train_ids)
    assert sub.nodes.numel() == g.num_nodes  # the premise of the weight comparison
    kw = dict(epochs=1, pre_mlp_dropout=0.0, post_mlp_dropout=0.0, dropout=0.0)
    m_full, h_full = _fit(tiny, _cfg(**kw))
    m_mini, h_mini = _fit(tiny, _cfg(batch_size=1000, fanouts=(-1,), **kw))
    assert h_mini.train_main[0] == pytest.approx(h_full.train_main[0], rel=1e-5)
    assert h_mini.train_autocorr[0] == pytest.approx(h_full.train_autocorr[0], rel=1e-5)
    assert h_mini.train_moe[0] == pytest.approx(h_full.train_moe[0], rel=1e-5)
    assert h_mini.val_loss[0] == pytest.approx(h_full.val_loss[0], rel=1e-4)
    for k, v in m_full.state_dict().items():
        torch.testing.assert_close(m_mini.state_dict()[k], v, rtol=1e-4, atol=1e-6)


def test_fanouts_must_match_the_layers(tiny):
    with pytest.raises(ValueError, match="one entry per RGAT layer"):
        _fit(tiny, _cfg(epochs=1, batch_size=8, fanouts=(3, 3, 3)))


def test_moran_target_uses_only_training_targets(tiny):
    train = tiny["masks"]["train"]
    y = tiny["y"]
    t0 = training_moran_target(y, tiny["batch"], train)
    y2 = y.copy()
    y2[~train.numpy()] = np.random.default_rng(9).normal(0, 50, (~train).sum().item())
    y3 = y.copy()
    y3[~train.numpy()] = np.nan
    torch.testing.assert_close(training_moran_target(y2, tiny["batch"], train), t0)
    torch.testing.assert_close(training_moran_target(y3, tiny["batch"], train), t0)
    assert (t0[~train] == 0).all() and t0[train].abs().sum() > 0
    # by hand: Moran's I on the spatial edges among training nodes only
    g = tiny["graph"]
    ei = g.edge_index[:, g.edge_type == 0]
    w = g.edge_weight[g.edge_type == 0]
    keep = train[ei[0]] & train[ei[1]]
    ids = torch.nonzero(train).flatten()
    pos = {int(i): k for k, i in enumerate(ids)}
    sub = torch.tensor([[pos[int(a)] for a in ei[0, keep]], [pos[int(b)] for b in ei[1, keep]]])
    ref = local_morans_i(torch.as_tensor(y[train.numpy()]), sub, w[keep].double(),
                         num_nodes=ids.numel())
    torch.testing.assert_close(t0[train].double(), ref, rtol=1e-5, atol=1e-6)


MINI = {"batch_size": 12, "fanouts": (3,)}


@pytest.mark.parametrize("mode", [{}, MINI], ids=["full-batch", "mini-batch"])
def test_validation_and_test_targets_do_not_reach_training(tiny, mode):
    cfg = _cfg(epochs=8, **mode)  # patience / lr_patience > epochs: the schedule never fires
    _, h0 = _fit(tiny, cfg)
    val, test = tiny["masks"]["val"].numpy(), tiny["masks"]["test"].numpy()
    y_val = tiny["y"].copy()
    y_val[val] += 3.0
    _, h1 = _fit(tiny, cfg, y=y_val)
    assert h1.train_loss == h0.train_loss and h1.train_main == h0.train_main
    assert h1.val_loss != h0.val_loss
    y_test = tiny["y"].copy()
    y_test[test] = np.nan  # test targets are never read
    m2, h2 = _fit(tiny, cfg, y=y_test)
    timing = ["seconds", "samples_per_s"]
    pd.testing.assert_frame_equal(h2.to_frame().drop(columns=timing),
                                  h0.to_frame().drop(columns=timing))


@pytest.mark.parametrize("mode", [{}, MINI], ids=["full-batch", "mini-batch"])
def test_same_seed_same_run(tiny, mode):
    cfg = _cfg(epochs=6, **mode)
    m1, h1 = _fit(tiny, cfg, seed=4)
    m2, h2 = _fit(tiny, cfg, seed=4)
    assert h1.train_loss == h2.train_loss and h1.val_loss == h2.val_loss
    for k, v in m1.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k]), k
    _, h3 = _fit(tiny, cfg, seed=5)
    assert h3.train_loss != h1.train_loss


@pytest.mark.parametrize("mode", [{}, MINI], ids=["full-batch", "mini-batch"])
def test_resume_equals_uninterrupted(tiny, tmp_path, mode):
    cfg = _cfg(epochs=7, lr_patience=1, patience=100, **mode)
    m_full, h_full = _fit(tiny, cfg, seed=1)
    _fit(tiny, cfg, seed=1, checkpoint_dir=tmp_path, stop_after_epoch=2)
    # a fresh process would rebuild the model; its weights come from the checkpoint
    m_res, h_res = _fit(tiny, cfg, seed=1, checkpoint_dir=tmp_path, resume=True)
    assert h_res.train_loss == h_full.train_loss and h_res.val_loss == h_full.val_loss
    assert h_res.lr == h_full.lr and h_res.best_epoch == h_full.best_epoch
    for k, v in m_full.state_dict().items():
        assert torch.equal(v, m_res.state_dict()[k]), k
    with pytest.raises(ValueError, match="another configuration"):
        _fit(tiny, replace(cfg, lr=1e-3), seed=1, checkpoint_dir=tmp_path, resume=True)


def test_inductive_prediction_of_points_not_in_the_graph(tiny):
    model, _ = _fit(tiny, _cfg(epochs=5))
    ref = np.flatnonzero(tiny["labels"] != "test")
    new_frame = _frame(9, 7)
    new_feats, _ = _features(new_frame, 7)
    ref_frame = tiny["frame"].iloc[ref].reset_index(drop=True)
    ref_feats = {k: np.asarray(v)[ref] for k, v in tiny["feats"].items()}
    ref_graph = build_hetero_graph(ref_frame, tiny["graph"].config)
    mean, log_var = predict_inductive(model, ref_frame, ref_graph, new_frame, ref_feats,
                                      new_feats)
    assert mean.shape == (9,) and np.isfinite(mean).all() and np.isfinite(log_var).all()
    # the whole extended graph gives the same new-node outputs, and the reference nodes'
    # outputs are those of the reference graph alone
    batch, ext = inductive_batch(ref_frame, ref_graph, new_frame, ref_feats, new_feats)
    assert ext.num_nodes == ref.size + 9
    full, _ = predict_sptgnn(model, batch)
    alone, _ = predict_sptgnn(model, graph_batch(ref_graph, ref_feats))
    np.testing.assert_allclose(full[ref.size:], mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(full[:ref.size], alone, rtol=1e-5, atol=1e-6)
    # new points do not see each other: predicting one alone gives its value
    one, _ = predict_inductive(model, ref_frame, ref_graph, new_frame.iloc[[4]],
                               ref_feats, {k: v[[4]] for k, v in new_feats.items()})
    np.testing.assert_allclose(one, mean[[4]], rtol=1e-5, atol=1e-6)
