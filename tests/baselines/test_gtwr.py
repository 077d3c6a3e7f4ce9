"""Tests of the k-d tree GTWR baseline (geohet_lib.baselines.gtwr) against mgtwr / mgwr and by hand."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from geohet_lib.baselines.gtwr import EPS, GTWR, gtwr_criterion
from geohet_lib.geo import EARTH_RADIUS_KM

RTOL = 1e-8


def _panel(n0=40, T=3, k=2, noise=0.1, seed=0, extent=10.0):
    """n0 random planar locations observed at T times, smooth space-time coefficients."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(0, extent, (n0, 2))
    coords = np.tile(c, (T, 1))
    t = np.repeat(np.arange(T), n0).astype(float)
    X = rng.normal(size=(n0 * T, k))
    u, v = coords[:, 0] / extent, coords[:, 1] / extent
    beta = np.column_stack([1 + u, 2 - v + 0.2 * t] + [0.5 + (j + 1) * (u + v) / 2 for j in range(k - 1)])
    y = beta[:, 0] + np.einsum("nk,nk->n", X, beta[:, 1:]) + noise * rng.normal(size=n0 * T)
    return coords, t, X, y, beta


def _brute_local(train_pts, Xd, y, pts, q):
    """mgtwr's computation written out: all distances, q-th distance * eps, bisquare, solve."""
    D = cdist(pts, train_pts)
    out = []
    for d in D:
        h = np.partition(d, q - 1)[q - 1] * EPS
        w = (1 - (d / h) ** 2) ** 2
        w[d >= h] = 0
        Xw = Xd * w[:, None]
        out.append(np.linalg.solve(Xw.T @ Xd, Xw.T @ y))
    return np.array(out)


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# 1 -------------------------------------------------------------------------------------------
def test_equals_mgtwr_planar():
    MGTWR = pytest.importorskip("mgtwr.model").GTWR
    from mgtwr.diagnosis import get_AICc

    coords, t, X, y, _ = _panel(n0=40, T=3, k=2)
    bw, tau = 25, 2.0
    ref = MGTWR(coords, t.reshape(-1, 1), X, y.reshape(-1, 1), bw, tau, kernel="bisquare", fixed=False).fit()
    m = GTWR(bw, tau, spherical=False).fit(coords, t, X, y)

    assert m.bandwidth_ == bw and m.tau_ == tau
    assert _rel(m.params_, ref.betas) < RTOL
    assert _rel(m.fitted_, ref.predict_value[:, 0]) < RTOL
    assert _rel(m.resid_, ref.reside[:, 0]) < RTOL
    assert abs(m.hat_trace_ - ref.tr_S) / ref.tr_S < RTOL
    assert abs(m.rss_ - ref.RSS) / ref.RSS < RTOL
    # mgtwr's AICc (results object and the selection criterion get_AICc(cal_aic()))
    assert abs(m.aicc_mgtwr_ - ref.aicc) / abs(ref.aicc) < RTOL
    ca = MGTWR(coords, t.reshape(-1, 1), X, y.reshape(-1, 1), bw, tau, kernel="bisquare", fixed=False).cal_aic()
    assert abs(m.aicc_mgtwr_ - get_AICc(ca)) / abs(get_AICc(ca)) < RTOL
    # the default criterion is mgwr's Gaussian AICc, from mgtwr's llf and tr(S)
    aicc_mgwr = -2 * ref.llf + 2 * ref.n * (ref.tr_S + 1) / (ref.n - ref.tr_S - 2)
    assert abs(m.aicc_ - aicc_mgwr) / abs(aicc_mgwr) < RTOL

    # prediction at the training points with new X -> params_ @ [1, x]
    Xnew = np.random.default_rng(5).normal(size=X.shape)
    np.testing.assert_allclose(m.local_coefficients(coords, t), m.params_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m.predict(coords, t, Xnew), m.params_[:, 0] + np.sum(Xnew * m.params_[:, 1:], 1),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m.predict(coords, t, X), m.fitted_, rtol=1e-12, atol=1e-12)

    # prediction at new space-time points: q nearest training points, same kernel
    rng = np.random.default_rng(7)
    c_new = rng.uniform(0, 10, (15, 2))
    t_new = rng.uniform(0, 2, 15)
    Xd = np.hstack([np.ones((len(y), 1)), X])
    train_pts = np.hstack([coords, np.sqrt(tau) * t.reshape(-1, 1)])
    new_pts = np.hstack([c_new, np.sqrt(tau) * t_new.reshape(-1, 1)])
    expect = _brute_local(train_pts, Xd, y, new_pts, bw)
    assert _rel(m.local_coefficients(c_new, t_new), expect) < RTOL
    Xn = rng.normal(size=(15, 2))
    assert _rel(m.predict(c_new, t_new, Xn), expect[:, 0] + np.sum(Xn * expect[:, 1:], 1)) < RTOL


# 2 -------------------------------------------------------------------------------------------
def test_gwr_limits_equal_mgwr():
    GWR = pytest.importorskip("mgwr.gwr").GWR
    coords, t, X, y, _ = _panel(n0=40, T=3, k=2, seed=1)
    bw = 30
    # tau = 0: space only; every location repeats 3 times (ties at the q-th distance)
    ref = GWR(coords, y.reshape(-1, 1), X, bw, kernel="bisquare", fixed=False, n_jobs=1).fit()
    m = GTWR(bw, 0.0, spherical=False).fit(coords, t, X, y)
    assert _rel(m.params_, ref.params) < RTOL
    assert abs(m.hat_trace_ - ref.tr_S) / ref.tr_S < RTOL
    assert abs(m.aicc_ - ref.aicc) / abs(ref.aicc) < RTOL

    # huge tau with bw <= locations per time: each time slice is fitted on its own
    big = GTWR(bw, 1e8, spherical=False).fit(coords, t, X, y)
    for wk in range(3):
        s = t == wk
        g = GWR(coords[s], y[s].reshape(-1, 1), X[s], bw, kernel="bisquare", fixed=False, n_jobs=1).fit()
        assert _rel(big.params_[s], g.params) < RTOL
        np.testing.assert_allclose(big.influence_[s], g.influ[:, 0], rtol=RTOL)


# 3 -------------------------------------------------------------------------------------------
def test_hand_computed_five_points():
    coords = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 1.0], [1.0, 1.0]])
    t = np.array([0.0, 1.0, 0.0, 2.0, 1.0])
    x = np.array([0.5, -1.0, 2.0, 0.3, 1.2])
    y = np.array([1.0, 0.2, 3.1, 1.7, 2.2])
    tau, bw = 0.5, 4
    m = GTWR(bw, tau, spherical=False).fit(coords, t, x.reshape(-1, 1), y)
    W_hand = np.zeros((5, 5))
    for i in range(5):
        d = np.sqrt((coords[:, 0] - coords[i, 0]) ** 2 + (coords[:, 1] - coords[i, 1]) ** 2
                    + tau * (t - t[i]) ** 2)
        h = np.sort(d)[bw - 1] * 1.0000001
        w = np.where(d < h, (1.0 - (d / h) ** 2) ** 2, 0.0)
        A = np.array([[w.sum(), (w * x).sum()], [(w * x).sum(), (w * x * x).sum()]])
        b = np.array([(w * y).sum(), (w * x * y).sum()])
        beta = np.linalg.solve(A, b)
        np.testing.assert_allclose(m.params_[i], beta, rtol=1e-10)
        xi = np.array([1.0, x[i]])
        np.testing.assert_allclose(m.influence_[i], xi @ np.linalg.solve(A, xi), rtol=1e-10)
        np.testing.assert_allclose(m.fitted_[i], xi @ beta, rtol=1e-10)
        W_hand[i] = w
    W = m.weights_matrix(coords, t).toarray()
    np.testing.assert_allclose(W, W_hand, rtol=1e-12, atol=0)
    assert np.allclose(np.diag(W), 1.0)
    # points 1 and 3 have two points tied at the 4th distance: both get (tiny) positive weight
    assert list((W > 0).sum(1)) == [4, 5, 4, 5, 4]


# 4 -------------------------------------------------------------------------------------------
def test_bandwidth_selection_matches_grid():
    coords, t, X, y, _ = _panel(n0=30, T=3, k=2, noise=0.3, seed=2)
    tau = 1.0
    lo, hi = 5, 90
    m = GTWR(None, tau, spherical=False, bw_bounds=(lo, hi), n_focal=None).fit(coords, t, X, y)
    assert lo <= m.bandwidth_ <= hi
    grid = {b: GTWR(b, tau, spherical=False).fit(coords, t, X, y).aicc_ for b in range(lo, hi + 1)}
    best = min(grid, key=grid.get)
    assert m.bandwidth_ == best
    assert m.aicc_ == pytest.approx(grid[best], rel=1e-12)
    hist = {h["bw"]: h["score"] for h in m.search_history_}
    assert len(hist) < 25  # golden section, not a grid
    for b, s in hist.items():
        assert s == pytest.approx(grid[b], rel=1e-12)

    # joint bw / tau search stays inside its bounds and records (bw, tau, score)
    j = GTWR(None, None, spherical=False, tau_bounds=(0.01, 100.0), n_focal=None).fit(coords, t, X, y)
    assert X.shape[1] + 3 <= j.bandwidth_ <= len(y)
    assert 0.01 <= j.tau_ <= 100.0
    assert all(set(h) >= {"bw", "tau", "score"} for h in j.search_history_)
    assert j.aicc_ <= min(h["score"] for h in j.search_history_) + 1e-9


def test_bound_warning(caplog):
    coords, t, X, y, _ = _panel(n0=30, T=2, k=2, noise=0.01, seed=3)
    with caplog.at_level(logging.WARNING, logger="geohet"):
        GTWR(None, 1.0, spherical=False, bw_bounds=(50, 54)).fit(coords, t, X, y)
    assert "on a bound" in caplog.text


# 5 -------------------------------------------------------------------------------------------
def test_recovers_smooth_coefficients():
    rng = np.random.default_rng(4)
    n0, T = 300, 6
    c = rng.uniform(0, 1, (n0, 2))
    coords = np.tile(c, (T, 1))
    t = np.repeat(np.arange(T), n0).astype(float)
    u, v, s = coords[:, 0], coords[:, 1], t / (T - 1)
    beta = np.column_stack([np.sin(2 * u) + s, 1 + u * v + 0.5 * s, 2 * np.cos(v + s)])
    X = rng.normal(size=(n0 * T, 2))
    y = beta[:, 0] + np.sum(X * beta[:, 1:], 1) + 0.05 * rng.normal(size=n0 * T)
    m = GTWR(None, None, spherical=False, n_focal=600).fit(coords, t, X, y)

    Xtest = rng.normal(size=(n0 * T, 2))
    ytest = beta[:, 0] + np.sum(Xtest * beta[:, 1:], 1)
    ols = np.linalg.lstsq(np.hstack([np.ones((len(y), 1)), X]), y, rcond=None)[0]
    rmse_ols = np.sqrt(np.mean((ols[0] + Xtest @ ols[1:] - ytest) ** 2))
    rmse_gtwr = np.sqrt(np.mean((m.predict(coords, t, Xtest) - ytest) ** 2))
    assert rmse_gtwr < 0.5 * rmse_ols
    for j in range(3):
        assert np.corrcoef(m.params_[:, j], beta[:, j])[0, 1] > 0.8


# 6 -------------------------------------------------------------------------------------------
def test_cyclic_time():
    weeks = np.arange(1, 47, dtype=float)
    coords = np.zeros((46, 2))
    rng = np.random.default_rng(6)
    X = rng.normal(size=(46, 1))
    y = X[:, 0] + 0.1 * rng.normal(size=46)
    m = GTWR(3, 1.0, spherical=False, time_period=46).fit(coords, weeks, X, y)
    e = m.embed(np.zeros((3, 2)), np.array([1.0, 46.0, 2.0]))
    d_1_46, d_1_2 = np.linalg.norm(e[0] - e[1]), np.linalg.norm(e[0] - e[2])
    assert d_1_46 == pytest.approx(d_1_2, rel=1e-12)
    assert d_1_2 == pytest.approx(1.0, rel=1e-3)  # chord (P/pi) sin(pi/P) ~ |dt|
    W = m.weights_matrix(coords[[45]], weeks[[45]]).toarray()[0]  # focal week 46
    assert W[0] > 0 and W[44] > 0 and W[45] == 1.0  # weeks 1 and 45 are neighbours
    assert W[0] == pytest.approx(W[44])
    lin = GTWR(3, 1.0, spherical=False).fit(coords, weeks, X, y)
    assert lin.weights_matrix(coords[[45]], weeks[[45]]).toarray()[0][0] == 0.0


# 7 -------------------------------------------------------------------------------------------
def test_spherical_antimeridian():
    lon = np.array([179.5, -179.5, 178.0, -178.0, 170.0, -170.0, 0.0, 10.0])
    lat = np.array([0.0, 0.0, 1.0, -1.0, 2.0, 2.0, 0.0, 5.0])
    coords = np.column_stack([lon, lat])
    t = np.zeros(8)
    rng = np.random.default_rng(7)
    X = rng.normal(size=(8, 1))
    y = X[:, 0] + rng.normal(size=8)
    m = GTWR(4, 0.0, spherical=True).fit(coords, t, X, y)
    e = m.embed(coords[:2], t[:2])
    great_circle = EARTH_RADIUS_KM * np.radians(1.0)
    assert np.linalg.norm(e[0] - e[1]) == pytest.approx(great_circle, rel=1e-4)
    W = m.weights_matrix(coords[:1], t[:1]).toarray()[0]
    assert W[1] > 0.5 and W[2] > 0 and W[3] > 0  # across the antimeridian
    assert W[6] == 0 and W[7] == 0
    # chord vs great circle within 1% up to 1,500 km
    e2 = m.embed(np.array([[0.0, 0.0], [13.0, 0.0]]), np.zeros(2))
    gc = EARTH_RADIUS_KM * np.radians(13.0)
    assert gc > 1400 and abs(np.linalg.norm(e2[0] - e2[1]) / gc - 1) < 0.01


# 8 -------------------------------------------------------------------------------------------
def test_bad_inputs():
    coords, t, X, y, _ = _panel(n0=20, T=2, k=2)
    Xnan = X.copy()
    Xnan[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GTWR(10, 1.0, spherical=False).fit(coords, t, Xnan, y)
    with pytest.raises(ValueError, match="length"):
        GTWR(10, 1.0, spherical=False).fit(coords, t, X[:-1], y)
    with pytest.raises(ValueError, match="2-D"):
        GTWR(10, 1.0, spherical=False).fit(coords, t, X[:, 0], y)
    with pytest.raises(ValueError, match="columns"):
        GTWR(10, 1.0, spherical=False).fit(coords[:, :1], t, X, y)
    with pytest.raises(ValueError, match="bw"):
        GTWR(3, 1.0, spherical=False).fit(coords, t, X, y)  # q < k + 2 = 4
    with pytest.raises(ValueError, match="bw"):
        GTWR(len(y) + 1, 1.0, spherical=False).fit(coords, t, X, y)
    with pytest.raises(ValueError, match="integer"):
        GTWR(10.5, 1.0)
    with pytest.raises(ValueError, match="tau"):
        GTWR(10, -1.0)
    with pytest.raises(ValueError, match="lat"):
        GTWR(10, 1.0, spherical=True).fit(coords * 20, t, X, y)
    with pytest.raises(ValueError, match="criterion"):
        GTWR(10, 1.0, criterion="R2")
    m = GTWR(10, 1.0, spherical=False).fit(coords, t, X, y)
    with pytest.raises(ValueError, match="columns"):
        m.predict(coords, t, X[:, :1])
    with pytest.raises(RuntimeError):
        GTWR(10, 1.0).predict(coords, t, X)


# 9 -------------------------------------------------------------------------------------------
def test_n_focal_subsampling():
    coords, t, X, y, _ = _panel(n0=500, T=4, k=2, noise=1.0, seed=9)
    bw, tau = 60, 1.0
    exact = GTWR(bw, tau, spherical=False).fit(coords, t, X, y)
    # bw_bounds=(bw, bw) runs one criterion evaluation with the same bw and tau
    full = GTWR(None, tau, spherical=False, bw_bounds=(bw, bw), n_focal=len(y)).fit(coords, t, X, y)
    h = full.search_history_[0]
    assert h["score"] == pytest.approx(exact.aicc_, rel=1e-12)
    assert h["rss"] == pytest.approx(exact.rss_, rel=1e-12)
    assert h["tr_S"] == pytest.approx(exact.hat_trace_, rel=1e-12)
    sub = GTWR(None, tau, spherical=False, bw_bounds=(bw, bw), n_focal=len(y) // 2).fit(coords, t, X, y)
    h = sub.search_history_[0]
    assert h["score"] == pytest.approx(exact.aicc_, rel=0.03)
    assert h["rss"] == pytest.approx(exact.rss_, rel=0.1)
    assert h["tr_S"] == pytest.approx(exact.hat_trace_, rel=0.1)
    # the final fit always uses all points
    np.testing.assert_allclose(sub.params_, exact.params_, rtol=1e-12, atol=1e-12)


def test_singular_local_systems_use_pinv(caplog):
    coords, t, X, y, _ = _panel(n0=30, T=2, k=2, seed=11)
    X = X.copy()
    X[coords[:, 0] < 5, 1] = 0.0  # second covariate identically zero on the western half
    with caplog.at_level(logging.WARNING, logger="geohet"):
        m = GTWR(6, 1.0, spherical=False, progress=True).fit(coords, t, X, y)
    assert m.n_singular_ > 0 and "singular" in caplog.text
    assert np.all(np.isfinite(m.params_)) and np.all(np.isfinite(m.fitted_))
    west = coords[:, 0] < 3
    np.testing.assert_allclose(m.params_[west, 2], 0.0, atol=1e-10)  # minimum-norm solution


def test_criterion_formulas():
    n, rss, tr = 200.0, 35.0, 12.5
    llf = -n / 2 * (np.log(2 * np.pi * rss / n) + 1)
    assert gtwr_criterion("AICc", n, rss, tr) == pytest.approx(-2 * llf + 2 * n * (tr + 1) / (n - tr - 2))
    aic = -2 * llf + 2 * (tr + 1)
    assert gtwr_criterion("AIC", n, rss, tr) == pytest.approx(aic)
    assert gtwr_criterion("AICc_mgtwr", n, rss, tr) == pytest.approx(aic + 2 * tr * (tr + 1) / (n - tr - 1))
    assert gtwr_criterion("AICc", n, rss, n - 1) == np.inf
