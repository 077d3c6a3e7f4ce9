"""geohet_lib.uq.conformal against crepes and by coverage over random splits."""

from __future__ import annotations

import numpy as np
import pytest
from crepes import ConformalRegressor

from geohet_lib.uq import conformal_interval, conformal_quantile


def _data(rng, n):
    mu = rng.normal(size=n)
    sigma = rng.uniform(0.3, 2.0, size=n)
    y = mu + sigma * rng.standard_t(df=4, size=n)
    return y, mu, sigma


def test_rank_by_hand():
    scores = np.arange(1.0, 20.0)  # n = 19, alpha = 0.05: rank ceil(20 * 0.95) = 19
    assert conformal_quantile(scores, np.zeros(19), alpha=0.05) == 19.0
    scores = np.arange(1.0, 101.0)  # n = 100: rank ceil(101 * 0.95) = 96
    assert conformal_quantile(scores, np.zeros(100), alpha=0.05) == 96.0
    assert conformal_quantile(2 * scores, np.zeros(100), 2 * np.ones(100), alpha=0.05) == 96.0


@pytest.mark.parametrize("n", [19, 99, 100, 250, 1000])
@pytest.mark.parametrize("normalised", [False, True])
def test_interval_equals_crepes(n, normalised):
    rng = np.random.default_rng(n)
    y_cal, mu_cal, s_cal = _data(rng, n)
    _, mu_test, s_test = _data(rng, 30)
    sig_cal, sig_test = (s_cal, s_test) if normalised else (None, None)
    q = conformal_quantile(y_cal, mu_cal, sig_cal, alpha=0.05)
    lo, hi = conformal_interval(mu_test, sig_test, q)
    cr = ConformalRegressor().fit(residuals=y_cal - mu_cal, sigmas=sig_cal)
    ref = cr.predict_int(y_hat=mu_test, sigmas=sig_test, confidence=0.95)
    np.testing.assert_allclose(lo, ref[:, 0], rtol=1e-14, atol=0)
    np.testing.assert_allclose(hi, ref[:, 1], rtol=1e-14, atol=0)


def test_marginal_coverage_over_random_splits():
    rng = np.random.default_rng(0)
    alpha, n_cal, n_test, reps = 0.1, 50, 200, 1000
    cov_norm, cov_abs = [], []
    for _ in range(reps):
        y, mu, sigma = _data(rng, n_cal + n_test)
        cal, test = slice(0, n_cal), slice(n_cal, None)
        for sig, out in ((sigma, cov_norm), (None, cov_abs)):
            q = conformal_quantile(y[cal], mu[cal], None if sig is None else sig[cal], alpha)
            lo, hi = conformal_interval(mu[test], None if sig is None else sig[test], q)
            out.append(np.mean((y[test] >= lo) & (y[test] <= hi)))
    # exchangeable, continuous scores: E[coverage] = rank / (n + 1) = 46 / 51 >= 1 - alpha;
    # the mean over 1000 splits has a standard error of ~0.0014
    expected = np.ceil((n_cal + 1) * (1 - alpha)) / (n_cal + 1)
    assert expected >= 1 - alpha
    for cov in (cov_norm, cov_abs):
        se = np.std(cov) / np.sqrt(reps)
        assert abs(np.mean(cov) - expected) < 3 * se
        assert np.mean(cov) >= 1 - alpha - se


def test_too_small_n_raises():
    with pytest.raises(ValueError, match=r"n = 18 .* alpha = 0.05"):
        conformal_quantile(np.ones(18), np.zeros(18), alpha=0.05)
    with pytest.raises(ValueError, match="sigma_cal must be > 0"):
        conformal_quantile(np.ones(30), np.zeros(30), np.zeros(30))
    with pytest.raises(ValueError, match="alpha"):
        conformal_quantile(np.ones(30), np.zeros(30), alpha=1.5)
