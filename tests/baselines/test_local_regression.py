"""geohet_lib.baselines.local_regression: the local-fit core of GWR and GTWR.

Checked against a hand computation, against mgwr's own kernel + solver point by point, and
between its two paths (k-d tree neighbours, dense GEMM blocks) and devices.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geohet_lib.baselines.local_regression import (
    EPS, AdaptiveBisquare, SingularLocalFit, criterion, lonlat_to_xyz)
from geohet_lib.geo import EARTH_RADIUS_KM, haversine_km

PATHS = {"tree": 1.01, "dense": 0.0}  # dense_share: never / always dense


def _data(n=200, k=3, seed=0):
    rng = np.random.default_rng(seed)
    coords = rng.uniform(0, 100, (n, 2))
    X = np.hstack([np.ones((n, 1)), rng.normal(size=(n, k))])
    y = X @ rng.normal(size=k + 1) + np.sin(coords[:, 0] / 20) + 0.1 * rng.normal(size=n)
    return coords, X, y


def _brute_force(coords, X, y, q, spherical=False):
    """mgwr's Kernel and _compute_betas_gwr, point by point (the reference)."""
    from mgwr.kernels import Kernel
    from spglm.iwls import _compute_betas_gwr

    beta, influ, cct = [], [], []
    for i in range(len(y)):
        w = Kernel(i, coords, q, fixed=False, function="bisquare", spherical=spherical).kernel
        b, C = _compute_betas_gwr(y[:, None], X, w.reshape(-1, 1))
        beta.append(b.ravel())
        influ.append(X[i] @ C[:, i])
        cct.append(np.diag(C @ C.T))
    return np.array(beta), np.array(influ), np.array(cct)


def test_hand_computed_five_points():
    """Five points on a line, q = 4: h_i = 4th distance x eps, bisquare weights by hand."""
    x = np.array([0.0, 1.0, 2.0, 4.0, 7.0])
    pts = np.c_[x, np.zeros(5)]
    X = np.c_[np.ones(5), x]
    y = np.array([1.0, 2.0, 2.5, 5.0, 6.0])
    for share in PATHS.values():
        f = AdaptiveBisquare(pts, X, y, dense_share=share).fit(pts, 4, X)
        for i in range(5):
            d = np.abs(x - x[i])
            h = np.sort(d)[3] * EPS
            w = np.where(d < h, (1 - (d / h) ** 2) ** 2, 0.0)
            A = X.T @ (w[:, None] * X)
            np.testing.assert_allclose(f.beta[i], np.linalg.solve(A, X.T @ (w * y)), rtol=1e-12, atol=1e-12)
            assert f.influence[i] == pytest.approx(X[i] @ np.linalg.solve(A, X[i]), rel=1e-12)


@pytest.mark.parametrize("path", sorted(PATHS))
def test_equals_mgwr_kernel_and_solver_point_by_point(path):
    coords, X, y = _data()
    core = AdaptiveBisquare(coords, X, y, dense_share=PATHS[path])
    f = core.fit(coords, 37, X, cov=True)
    beta, influ, cct = _brute_force(coords, X, y, 37)
    np.testing.assert_allclose(f.beta, beta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(f.influence, influ, rtol=1e-9)
    np.testing.assert_allclose(f.cct, cct, rtol=1e-9)


@pytest.mark.parametrize("path", sorted(PATHS))
def test_spherical_distances_are_mgwr_great_circles(path):
    rng = np.random.default_rng(3)
    lonlat = np.c_[rng.uniform(-170, 170, 150), rng.uniform(-70, 70, 150)]
    X = np.c_[np.ones(150), rng.normal(size=150)]
    y = rng.normal(size=150)
    pts = lonlat_to_xyz(lonlat)
    core = AdaptiveBisquare(pts, X, y, great_circle_radius=EARTH_RADIUS_KM, dense_share=PATHS[path])
    rows, d, idx, _ = next(core.neighbours(pts[:5], 10))
    ref = haversine_km(lonlat[rows, 0][:, None], lonlat[rows, 1][:, None], lonlat[idx, 0], lonlat[idx, 1])
    np.testing.assert_allclose(d, ref, rtol=1e-9, atol=1e-6)
    beta, influ, _ = _brute_force(lonlat, X, y, 20, spherical=True)
    f = core.fit(pts, 20, X)
    np.testing.assert_allclose(f.beta, beta, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(f.influence, influ, rtol=1e-8)


def test_ties_at_the_qth_distance_all_get_their_weight():
    """A grid has many points at the same distance: every one inside h enters, on both paths."""
    g = np.stack(np.meshgrid(np.arange(8.0), np.arange(8.0)), -1).reshape(-1, 2)
    rng = np.random.default_rng(1)
    X = np.c_[np.ones(64), rng.normal(size=64)]
    y = rng.normal(size=64)
    fits = [AdaptiveBisquare(g, X, y, dense_share=s).fit(g, 6, X) for s in PATHS.values()]
    np.testing.assert_allclose(fits[0].beta, fits[1].beta, rtol=1e-10)
    beta, _, _ = _brute_force(g, X, y, 6)
    np.testing.assert_allclose(fits[0].beta, beta, rtol=1e-9, atol=1e-12)


def test_cached_neighbour_lists_equal_fresh_queries():
    """A bandwidth search reuses one sorted neighbour list per point for every smaller q
    (ties beyond the cached prefix fall back to the tree); the fits are those of fresh queries."""
    g = np.stack(np.meshgrid(np.arange(12.0), np.arange(12.0)), -1).reshape(-1, 2)  # many ties
    rng = np.random.default_rng(2)
    X = np.c_[np.ones(len(g)), rng.normal(size=len(g))]
    y = rng.normal(size=len(g))
    cached = AdaptiveBisquare(g, X, y, dense_share=1.01)
    fresh = AdaptiveBisquare(g, X, y, dense_share=1.01, cache_entries=0)
    for q in (13, 5, 9, 4, 13, 20):
        a, b = cached.fit(None, q, X), fresh.fit(g, q, X)
        np.testing.assert_allclose(a.beta, b.beta, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(a.influence, b.influence, rtol=1e-12)
    assert cached._nbr_cache is not None and cached._nbr_cache[0].shape[1] >= 21
    assert fresh._nbr_cache is None


def test_cct_and_sts_equal_the_explicit_hat_matrix():
    coords, X, y = _data(n=60, k=2)
    q = 25
    core = AdaptiveBisquare(coords, X, y)
    f = core.fit(coords, q, X, cov=True)
    W = core.weights_matrix(coords, q).toarray()
    S = np.stack([X[i] @ np.linalg.solve(X.T @ (W[i][:, None] * X), X.T * W[i]) for i in range(60)])
    np.testing.assert_allclose(f.influence, np.diag(S), rtol=1e-10)
    np.testing.assert_allclose(f.sts, (S ** 2).sum(1), rtol=1e-10)


def test_weighted_sums_equal_the_weights_matrix_product():
    coords, X, y = _data(n=80)
    V = np.c_[np.ones(80), y, y ** 2]
    for share in PATHS.values():
        core = AdaptiveBisquare(coords, X, y, dense_share=share)
        W = core.weights_matrix(coords, 30)
        np.testing.assert_allclose(core.weighted_sums(coords, 30, V), W @ V, rtol=1e-10)
        np.testing.assert_allclose(core.weighted_sums(coords, 30, V, power=2), W.multiply(W) @ V,
                                   rtol=1e-10)


def test_singular_neighbourhoods_raise_naming_focal_points_or_use_pinv():
    """A covariate constant over one corner: small neighbourhoods there are collinear."""
    coords, X, y = _data(n=100, k=2)
    corner = (coords[:, 0] < 30) & (coords[:, 1] < 30)
    X[corner, 2] = 5.0
    for share in PATHS.values():
        core = AdaptiveBisquare(coords, X, y, dense_share=share)
        with pytest.raises(SingularLocalFit) as err:
            core.fit(coords, 5, X)
        assert len(err.value.focal) >= 1 and corner[err.value.focal].all()
        assert "focal points" in str(err.value) and isinstance(err.value, np.linalg.LinAlgError)
        f = core.fit(coords, 5, X, on_singular="pinv")
        assert f.singular.any() and corner[f.singular].all() and np.isfinite(f.beta).all()


def test_duplicates_beyond_the_bandwidth_are_a_clear_error():
    coords = np.zeros((10, 2))
    X = np.c_[np.ones(10), np.arange(10.0)]
    with pytest.raises(ValueError, match="bandwidth distance is zero"):
        AdaptiveBisquare(coords, X, np.arange(10.0)).fit(coords, 3, X)
    with pytest.raises(ValueError, match="neighbour count"):
        AdaptiveBisquare(coords, X, np.arange(10.0)).fit(coords, 11, X)


def test_criterion_matches_mgwr_diagnostics():
    from mgwr.diagnostics import get_AIC, get_AICc, get_BIC, get_CV
    from mgwr.gwr import GWR as MGWR

    coords, X, y = _data(n=90, k=2)
    r = MGWR(coords, y[:, None], X[:, 1:], 40, n_jobs=1).fit()
    rss, trs = float(r.resid_ss), float(r.tr_S)
    cv_sum = float(np.sum((r.resid_response.ravel() / (1 - r.influ.ravel())) ** 2))
    for name, fn in (("AICc", get_AICc), ("AIC", get_AIC), ("BIC", get_BIC), ("CV", get_CV)):
        assert criterion(name, 90, rss, trs, cv_sum) == pytest.approx(float(fn(r)), rel=1e-12), name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_equals_cpu():
    coords, X, y = _data(n=500)
    for share in PATHS.values():
        cpu = AdaptiveBisquare(coords, X, y, dense_share=share).fit(coords, 60, X, cov=True)
        gpu = AdaptiveBisquare(coords, X, y, dense_share=share, device="cuda").fit(coords, 60, X, cov=True)
        np.testing.assert_allclose(gpu.beta, cpu.beta, rtol=1e-9)
        np.testing.assert_allclose(gpu.cct, cpu.cct, rtol=1e-9)
