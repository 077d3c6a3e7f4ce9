"""GNNWR / GTNNWR baselines (GPP paper section 4.3): algebra, initialisation, training, distances."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geohet_lib.baselines.gnnwr import (
    GNNWR,
    GTNNWR,
    default_hidden,
    spatial_distance,
    time_distance,
)
from geohet_lib.geo import haversine_km

torch.set_num_threads(1)


def _data(n: int = 200, seed: int = 0, temporal: bool = False):
    """Planar coords in [0, 1]^2, t in [0, 1]; smooth coefficients b0, b1, b2 (in space [and time])."""
    rng = np.random.default_rng(seed)
    u, v, t = rng.uniform(0, 1, n), rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    X = rng.normal(size=(n, 2))
    s = t if temporal else 0.0
    b0 = 3 + np.sin(2 * u + 2 * v) + np.cos(3 * s)
    b1 = 2 + 1.5 * np.cos(2.5 * u) * (1 + s)
    b2 = 1 + 1.5 * v - (s if temporal else 0.0)
    y = b0 + b1 * X[:, 0] + b2 * X[:, 1] + 0.05 * rng.normal(size=n)
    return np.c_[u, v], t, X, y, np.c_[b0, b1, b2]


def _true_standardised_coefs(m, B):
    """True coefficients on the model's design matrix [1, (X - mean) / std]."""
    mu, sd = m.x_mean_, m.x_std_
    return np.c_[B[:, 0] + B[:, 1] * mu[0] + B[:, 2] * mu[1], B[:, 1] * sd[0], B[:, 2] * sd[1]]


def _rmse(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


FAST = dict(device="cpu", epochs=3, hidden=(32, 16), batch_size=64)


@pytest.fixture(scope="module")
def spatial_data():
    return _data(120, seed=1)


@pytest.fixture(scope="module")
def st_data():
    return _data(120, seed=2, temporal=True)


# 1 -- shapes and the coefficient algebra ------------------------------------------------------


def test_shapes_and_coefficient_algebra(spatial_data, st_data):
    C, _, X, y, _ = spatial_data
    m = GNNWR(spherical=False, **FAST).fit(C, X, y)
    Cn, Xn = C[:7] + 0.01, X[:7] * 1.1
    pred, lc, w = m.predict(Cn, Xn), m.local_coefficients(Cn), m.weights(Cn)
    assert pred.shape == (7,) and lc.shape == (7, 3) and w.shape == (7, 3)
    assert m.ols_coef_.shape == (3,)
    np.testing.assert_allclose(lc, w * m.ols_coef_, rtol=1e-12)
    # coefficients multiply the *standardised* covariates, intercept in column 0
    xa = m.design_matrix(Xn)
    np.testing.assert_allclose(xa, np.c_[np.ones(7), (Xn - X.mean(0)) / X.std(0)], rtol=1e-10)
    np.testing.assert_allclose(pred, (lc * xa).sum(1), rtol=1e-5, atol=1e-5)
    assert set(m.history_) == {"train_rmse", "val_rmse"} and len(m.history_["train_rmse"]) == 3
    assert 1 <= m.best_epoch_ <= 3 and m.fit_seconds_ > 0 and m.device_ == "cpu"
    assert np.isfinite(m.train_rmse_)

    C, t, X, y, _ = st_data
    g = GTNNWR(spherical=False, time_period=None, **FAST).fit(C, t, X, y)
    pred, lc = g.predict(C[:5], t[:5], X[:5]), g.local_coefficients(C[:5], t[:5])
    assert pred.shape == (5,) and lc.shape == (5, 3)
    np.testing.assert_allclose(lc, g.weights(C[:5], t[:5]) * g.ols_coef_, rtol=1e-12)
    np.testing.assert_allclose(pred, (lc * g.design_matrix(X[:5])).sum(1), rtol=1e-5, atol=1e-5)


def test_default_hidden():
    assert default_hidden(1000) == (512, 256, 128, 64, 32)
    assert default_hidden(200) == (256, 128, 64, 32)
    assert default_hidden(5) == (32,)
    assert default_hidden(100_000) == (512, 256, 128, 64, 32)


# 2 -- untrained model == OLS --------------------------------------------------------------------


def test_untrained_equals_ols(spatial_data, st_data):
    C, _, X, y, _ = spatial_data
    m = GNNWR(spherical=False, device="cpu", epochs=0).fit(C, X, y)
    ols = m.design_matrix(X) @ m.ols_coef_
    np.testing.assert_allclose(m.weights(C), 1.0, atol=1e-6)
    np.testing.assert_allclose(m.predict(C, X), ols, rtol=1e-5, atol=1e-5)
    assert m.best_epoch_ == 0 and m.history_["train_rmse"] == []
    ref = np.linalg.lstsq(np.c_[np.ones(len(y)), X], y, rcond=None)[0]  # same fit, raw X
    np.testing.assert_allclose(ols, np.c_[np.ones(len(y)), X] @ ref, rtol=1e-8)

    C, t, X, y, _ = st_data
    g = GTNNWR(spherical=False, device="cpu", epochs=0, time_period=1.0).fit(C, t, X, y)
    np.testing.assert_allclose(g.predict(C, t, X), g.design_matrix(X) @ g.ols_coef_, rtol=1e-5, atol=1e-5)


# 3 -- gradients reach every parameter ----------------------------------------------------------


@pytest.mark.parametrize("temporal", [False, True])
def test_gradients_reach_every_parameter(spatial_data, st_data, temporal):
    C, t, X, y, _ = st_data if temporal else spatial_data
    m = (GTNNWR(spherical=False, device="cpu", epochs=0, hidden=(32, 16)).fit(C, t, X, y) if temporal
         else GNNWR(spherical=False, device="cpu", epochs=0, hidden=(32, 16)).fit(C, X, y))
    net = m.net_
    net.train()
    ct = torch.as_tensor(C[:32], dtype=torch.float32)
    tt = torch.as_tensor(t[:32], dtype=torch.float32) if temporal else None
    xa = torch.as_tensor(m.design_matrix(X[:32]), dtype=torch.float32)
    yt = torch.as_tensor(y[:32], dtype=torch.float32)

    # at the exact initialisation (output weights 0, bias 1) only the output layer sees a gradient
    pred, _ = net(ct, tt, xa)
    torch.mean((pred - yt) ** 2).backward()
    assert net.swnn.out.weight.grad.abs().sum() > 0 and net.swnn.out.bias.grad.abs().sum() > 0
    # once the output layer has moved (as after the first optimiser step) every parameter does
    net.zero_grad(set_to_none=True)
    with torch.no_grad():
        net.swnn.out.weight.normal_(0.0, 0.1)
    pred, _ = net(ct, tt, xa)
    torch.mean((pred - yt) ** 2).backward()
    names = [n for n, _ in net.named_parameters()]
    assert any(n.startswith("stpnn.") for n in names) == temporal
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


# 4 -- tiny overfit: recovers smoothly varying coefficients ------------------------------------


def test_gnnwr_recovers_spatial_coefficients():
    C, _, X, y, B = _data(200, seed=0)
    m = GNNWR(spherical=False, device="cpu", epochs=80, lr=3e-3).fit(C, X, y)
    ols_rmse = _rmse(m.design_matrix(X) @ m.ols_coef_, y)
    assert m.train_rmse_ < 0.3 * ols_rmse, (m.train_rmse_, ols_rmse)
    assert m.train_rmse_ == pytest.approx(_rmse(m.predict(C, X), y), rel=1e-6)
    lc, truth = m.local_coefficients(C), _true_standardised_coefs(m, B)
    for k in range(3):
        assert np.corrcoef(lc[:, k], truth[:, k])[0, 1] > 0.7, k
    assert m.best_epoch_ > 1 and len(m.history_["val_rmse"]) >= m.best_epoch_


def test_gtnnwr_recovers_spatiotemporal_coefficients():
    C, t, X, y, B = _data(200, seed=0, temporal=True)
    g = GTNNWR(spherical=False, device="cpu", epochs=80, lr=3e-3, hidden=(64, 32)).fit(C, t, X, y)
    ols_rmse = _rmse(g.design_matrix(X) @ g.ols_coef_, y)
    assert g.train_rmse_ < 0.3 * ols_rmse, (g.train_rmse_, ols_rmse)
    lc, truth = g.local_coefficients(C, t), _true_standardised_coefs(g, B)
    for k in range(3):
        assert np.corrcoef(lc[:, k], truth[:, k])[0, 1] > 0.7, k


# 5 -- determinism --------------------------------------------------------------------------------


def test_same_seed_same_predictions(spatial_data, st_data):
    C, _, X, y, _ = spatial_data
    a = GNNWR(spherical=False, seed=3, **FAST).fit(C, X, y).predict(C, X)
    b = GNNWR(spherical=False, seed=3, **FAST).fit(C, X, y).predict(C, X)
    np.testing.assert_array_equal(a, b)
    c = GNNWR(spherical=False, seed=4, **FAST).fit(C, X, y).predict(C, X)
    assert not np.array_equal(a, c)

    C, t, X, y, _ = st_data
    kw = dict(spherical=False, seed=3, n_references=50, **FAST)
    a = GTNNWR(**kw).fit(C, t, X, y).predict(C, t, X)
    b = GTNNWR(**kw).fit(C, t, X, y).predict(C, t, X)
    np.testing.assert_array_equal(a, b)


def test_no_validation_split_and_progress_bar(spatial_data):
    C, _, X, y, _ = spatial_data
    m = GNNWR(spherical=False, val_fraction=0.0, progress=True, **FAST).fit(C, X, y)
    assert m.best_epoch_ == 3 and len(m.history_["train_rmse"]) == 3
    assert np.isnan(m.history_["val_rmse"]).all() and np.isnan(m.val_rmse_)


def test_fit_runs_on_the_engine_and_restores_the_best_weights(spatial_data):
    """One history entry per epoch run; early stopping keeps the best-validation epoch's weights."""
    C, _, X, y, _ = spatial_data
    m = GNNWR(spherical=False, device="cpu", epochs=60, patience=3, lr=1e-2, hidden=(32, 16),
              batch_size=32).fit(C, X, y)
    n_run = len(m.history_["train_rmse"])
    assert len(m.history_["val_rmse"]) == n_run < 60  # stopped early
    assert n_run - m.best_epoch_ == 3  # patience epochs after the best one
    assert m.val_rmse_ == min(m.history_["val_rmse"]) == m.history_["val_rmse"][m.best_epoch_ - 1]
    v = m.val_index_
    assert len(v) == round(0.1 * len(y)) and len(np.unique(v)) == len(v)
    # the weights kept are those of the best epoch, not the last one
    assert _rmse(m.predict(C[v], X[v]), y[v]) == pytest.approx(m.val_rmse_, rel=1e-5)
    # 108 training rows in batches of 107: the 1-row last batch is dropped (batch norm needs 2)
    one = GNNWR(spherical=False, device="cpu", epochs=2, hidden=(32, 16), batch_size=107)
    assert len(one.fit(C, X, y).history_["train_rmse"]) == 2


# 6 -- distances ----------------------------------------------------------------------------------


def test_haversine_and_time_distance():
    T = lambda *v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    one_deg = 6371.0 * np.pi / 180.0  # 111.19 km
    assert float(haversine_km(T(0.0), T(0.0), T(1.0), T(0.0))) == pytest.approx(one_deg, rel=1e-9)
    assert one_deg == pytest.approx(111.19, abs=0.01)
    assert float(haversine_km(T(179.5), T(0.0), T(-179.5), T(0.0))) == pytest.approx(one_deg, rel=1e-9)
    assert float(haversine_km(T(10.0), T(0.0), T(10.0), T(1.0))) == pytest.approx(one_deg, rel=1e-9)
    assert float(haversine_km(T(0.0), T(90.0), T(123.0), T(90.0))) == pytest.approx(0.0, abs=1e-6)
    # 60 degrees of longitude at 60 N: central angle acos(sin^2 60 + cos^2 60 cos 60)
    ang = np.arccos(np.sin(np.pi / 3) ** 2 + np.cos(np.pi / 3) ** 2 * np.cos(np.pi / 3))
    assert float(haversine_km(T(0.0), T(60.0), T(60.0), T(60.0))) == pytest.approx(6371.0 * ang, rel=1e-9)
    # float32 pairwise version agrees
    a = torch.tensor([[179.5, 0.0], [0.0, 0.0]])
    b = torch.tensor([[-179.5, 0.0], [1.0, 0.0], [0.0, 0.0]])
    d = spatial_distance(a, b, spherical=True)
    assert d.shape == (2, 3)
    np.testing.assert_allclose(d[0, 0].item(), one_deg, rtol=1e-4)
    np.testing.assert_allclose(d[1, 1].item(), one_deg, rtol=1e-4)
    np.testing.assert_allclose(spatial_distance(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]]),
                                                spherical=False).item(), 5.0)
    # time: plain and cyclic
    assert time_distance(T(1.0), T(46.0)).item() == 45.0
    assert time_distance(T(1.0), T(46.0), period=46.0).item() == pytest.approx(1.0)
    assert time_distance(T(3.0), T(20.0), period=46.0).item() == pytest.approx(17.0)
    assert time_distance(T(0.0), T(23.0), period=46.0).item() == pytest.approx(23.0)
    assert time_distance(T(5.0), T(5.0 + 2 * 46.0 + 2.0), period=46.0).item() == pytest.approx(2.0)


def test_spherical_fit_uses_km_and_accepts_antimeridian():
    rng = np.random.default_rng(0)
    n = 60
    C = np.c_[rng.uniform(170, 190, n), rng.uniform(-10, 10, n)]
    C[:, 0] = (C[:, 0] + 180) % 360 - 180  # straddles the antimeridian
    X = rng.normal(size=(n, 2))
    y = 1 + X[:, 0] + rng.normal(scale=0.1, size=n)
    m = GNNWR(spherical=True, **FAST).fit(C, X, y)
    # distances span up to ~sqrt(20^2 + 20^2) deg ~ 3100 km, not ~350 "degrees"
    assert 500 < m.dist_stats_["ds_mean"] < 3200
    assert np.isfinite(m.predict(C, X)).all()


# 7 -- reference subset, no n x n -------------------------------------------------------------


def test_gtnnwr_reference_subset():
    C, t, X, y, _ = _data(300, seed=5, temporal=True)
    g = GTNNWR(spherical=False, n_references=40, time_period=1.0, **FAST).fit(C, t, X, y)
    assert g.n_references_ == 40
    assert g.ref_coords_.shape == (40, 2) and g.ref_t_.shape == (40,)
    assert g.net_.ref_coords.shape == (40, 2) and g.net_.ref_t.shape == (40,)
    assert g.net_.swnn.body[0].in_features == 40
    assert len(np.unique(g.reference_index_)) == 40
    np.testing.assert_array_equal(g.ref_coords_, C[g.reference_index_])
    # no buffer or parameter of the fitted model has a dimension of size n
    for tensor in [*g.net_.parameters(), *g.net_.buffers()]:
        assert 300 not in tensor.shape
    # the network's distance input is batch x n_ref
    d = g.net_.distance_input(torch.as_tensor(C[:10], dtype=torch.float32),
                              torch.as_tensor(t[:10], dtype=torch.float32))
    assert d.shape == (10, 40)
    # n <= n_references -> every observation is a reference
    g2 = GTNNWR(spherical=False, n_references=500, **FAST).fit(C, t, X, y)
    assert g2.n_references_ == 300
    assert GNNWR(spherical=False, **FAST).fit(C, X, y).n_references_ == 300


# 8 -- input validation ----------------------------------------------------------------------------


def test_bad_inputs_raise(spatial_data, st_data):
    C, t, X, y, _ = spatial_data
    m = GNNWR(spherical=False, **FAST)
    with pytest.raises(RuntimeError, match="not fitted"):
        m.predict(C, X)
    with pytest.raises(RuntimeError, match="not fitted"):
        m.local_coefficients(C)
    with pytest.raises(RuntimeError, match="not fitted"):
        GTNNWR(**FAST).predict(C, t, X)
    with pytest.raises(ValueError, match="2-D"):
        m.fit(C[:, 0], X, y)
    with pytest.raises(ValueError, match="2 columns"):
        m.fit(np.c_[C, C], X, y)
    with pytest.raises(ValueError, match="2-D"):
        m.fit(C, X[:, 0], y)
    with pytest.raises(ValueError, match="1-D"):
        m.fit(C, X, np.c_[y, y])
    with pytest.raises(ValueError, match="length mismatch"):
        m.fit(C, X[:-1], y)
    with pytest.raises(ValueError, match="length mismatch"):
        m.fit(C, X, y[:-1])
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        m.fit(C, Xn, y)
    with pytest.raises(ValueError, match="NaN"):
        m.fit(C, X, np.where(np.arange(len(y)) == 0, np.inf, y))
    with pytest.raises(ValueError, match="at least"):
        m.fit(C[:3], X[:3], y[:3])  # p = 2 needs >= 4 points
    with pytest.raises(ValueError, match="lat"):
        GNNWR(spherical=True, **FAST).fit(np.c_[C[:, 0], C[:, 1] * 200], X, y)
    with pytest.raises(ValueError):
        GNNWR(val_fraction=1.0)
    g = GTNNWR(spherical=False, **FAST)
    with pytest.raises(ValueError):
        g.fit(C, None, X, y)
    with pytest.raises(ValueError, match="length mismatch"):
        g.fit(C, t[:-1], X, y)
    with pytest.raises(ValueError):
        GTNNWR(time_period=0.0)
    m.fit(C, X, y)
    with pytest.raises(ValueError, match="columns"):
        m.predict(C, X[:, :1])
    with pytest.raises(ValueError, match="length mismatch"):
        m.predict(C[:5], X[:4])


# 9 -- CUDA matches CPU -------------------------------------------------------------------------


@pytest.fixture
def no_tf32():
    """Full float32 matmuls on CUDA for the duration of a test (restored afterwards)."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(spatial_data, st_data, no_tf32):
    C, _, X, y, _ = spatial_data
    # no dropout (CPU and CUDA draw different masks) and no early-stopping split (an argmin over
    # nearly equal validation scores could pick different epochs): the trajectories then agree
    kw = dict(spherical=False, epochs=3, hidden=(32, 16), batch_size=64, dropout=0.0, seed=7,
              val_fraction=0.0)
    cpu = GNNWR(device="cpu", **kw).fit(C, X, y)
    gpu = GNNWR(device="cuda", **kw).fit(C, X, y)
    assert gpu.device_.startswith("cuda") and next(gpu.net_.parameters()).is_cuda
    np.testing.assert_allclose(gpu.predict(C, X), cpu.predict(C, X), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gpu.local_coefficients(C), cpu.local_coefficients(C), rtol=1e-4, atol=1e-4)

    C, t, X, y, _ = st_data
    kw["n_references"] = 64
    cpu = GTNNWR(device="cpu", time_period=1.0, **kw).fit(C, t, X, y)
    gpu = GTNNWR(device="cuda", time_period=1.0, **kw).fit(C, t, X, y)
    np.testing.assert_allclose(gpu.predict(C, t, X), cpu.predict(C, t, X), rtol=1e-4, atol=1e-4)


def test_a_pickled_model_predicts_on_the_cpu_whatever_it_trained_on(spatial_data):
    """A GNNWR trained on CUDA and pickled used to fail on a CPU-only machine: pickles now
    hold the network on the CPU and say so in ``device_``."""
    import pickle

    C, _, X, y, _ = spatial_data
    m = GNNWR(spherical=False, **FAST).fit(C, X, y)
    before = m.predict(C[:5], X[:5])
    m.device_ = "cuda:0"  # as a GPU-trained model records it (its net here is on the CPU)
    back = pickle.loads(pickle.dumps(m))
    assert back.device_ == "cpu" and m.device_ == "cuda:0"  # the original is untouched
    assert all(p.device.type == "cpu" for p in back.net_.parameters())
    np.testing.assert_allclose(back.predict(C[:5], X[:5]), before, rtol=1e-6)
