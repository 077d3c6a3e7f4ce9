"""geohet_lib.uq.bootstrap: reproducibility, pairing and the width of a CI of the mean."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from geohet_lib.uq import bootstrap_ci, ece


def test_reproducible_and_seed_dependent():
    x = np.random.default_rng(0).normal(size=200)
    a = bootstrap_ci(np.mean, x, n_resamples=300, seed=1)
    assert a == bootstrap_ci(np.mean, x, n_resamples=300, seed=1)
    assert a != bootstrap_ci(np.mean, x, n_resamples=300, seed=2)


def test_ci_of_mean_covers_zero_with_expected_width():
    n = 400
    x = np.random.default_rng(0).normal(size=n)
    lo, hi = bootstrap_ci(np.mean, x, n_resamples=1000, confidence=0.95, seed=0)
    assert lo < 0 < hi
    assert (hi - lo) == pytest.approx(2 * 1.96 / np.sqrt(n), rel=0.2)


def test_equals_scipy_percentile_bootstrap_paired():
    rng = np.random.default_rng(0)
    y, mu = rng.normal(size=120), rng.normal(size=120)
    sigma = rng.uniform(0.5, 2, size=120)
    ours = bootstrap_ci(ece, y, mu, sigma, n_resamples=200, seed=5)
    ref = stats.bootstrap((y, mu, sigma), ece, paired=True, vectorized=False,
                          method="percentile", n_resamples=200,
                          random_state=np.random.default_rng(5)).confidence_interval
    assert ours == (ref.low, ref.high)
    assert ours[0] <= ece(y, mu, sigma) <= ours[1]


def test_bad_input_raises():
    with pytest.raises(ValueError, match="length"):
        bootstrap_ci(np.mean, np.zeros(5), np.zeros(6))
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(np.mean, np.zeros(5), confidence=1.5)
