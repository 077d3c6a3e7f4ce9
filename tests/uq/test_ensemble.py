"""geohet_lib.uq.ensemble: Eq. (6) by hand, the mixture variance, member subsets."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from geohet_lib.uq import ensemble as e


@pytest.fixture(scope="module")
def members():
    rng = np.random.default_rng(0)
    m, n = 5, 50
    means = rng.normal(size=(m, n))
    variances = np.exp(rng.normal(-1.0, 0.5, size=(m, n)))  # exp(log_var)
    return means, variances


def test_aggregate_by_hand(members):
    means, variances = members
    out = e.aggregate(means, variances)
    m = means.shape[0]
    mean = means.sum(axis=0) / m
    np.testing.assert_allclose(out.mean, mean, rtol=1e-14)
    np.testing.assert_allclose(out.aleatoric, variances.sum(axis=0) / m, rtol=1e-14)
    np.testing.assert_allclose(out.epistemic, ((means - mean) ** 2).sum(axis=0) / (m - 1),
                               rtol=1e-12)
    np.testing.assert_allclose(out.total, out.aleatoric + out.epistemic, rtol=0)
    np.testing.assert_allclose(out.sigma, np.sqrt(out.total), rtol=0)
    assert (out.members, out.ddof) == (5, 1)


def test_ddof0_total_is_the_mixture_variance_and_bessel_factor(members):
    means, variances = members
    mix = e.mixture_variance(means, variances)
    # Monte Carlo-free check of the mixture variance: E[X^2] - E[X]^2 by hand
    np.testing.assert_allclose(mix, np.mean(variances + means**2, 0) - np.mean(means, 0) ** 2)
    p0 = e.aggregate(means, variances, ddof=0)
    p1 = e.aggregate(means, variances, ddof=1)
    np.testing.assert_allclose(p0.total, mix, rtol=1e-12)
    np.testing.assert_allclose(p1.epistemic, 1.25 * p0.epistemic, rtol=1e-12)  # M/(M-1), M=5


def test_single_member_has_zero_epistemic(members):
    means, variances = members
    for mu, var in ((means[:1], variances[:1]), (means[0], variances[0])):
        out = e.aggregate(mu, var)
        assert out.members == 1
        np.testing.assert_array_equal(out.epistemic, 0.0)
        np.testing.assert_array_equal(out.total, variances[0])
        assert out.epistemic_fraction == 0.0


def test_epistemic_fraction(members):
    means, variances = members
    out = e.aggregate(means, variances)
    assert out.epistemic_fraction == pytest.approx(out.epistemic.mean() / out.total.mean())
    np.testing.assert_allclose(out.epistemic_fraction_per_point, out.epistemic / out.total)
    assert 0 < out.epistemic_fraction < 1


def test_scaled_keeps_mean_and_fraction(members):
    means, variances = members
    out = e.aggregate(means, variances)
    s = out.scaled(0.8)
    np.testing.assert_array_equal(s.mean, out.mean)  # point predictions untouched
    np.testing.assert_allclose(s.sigma, 0.8 * out.sigma, rtol=1e-14)
    np.testing.assert_allclose(s.aleatoric, 0.64 * out.aleatoric, rtol=1e-14)
    assert s.epistemic_fraction == pytest.approx(out.epistemic_fraction, rel=1e-12)
    with pytest.raises(ValueError, match="t must be"):
        out.scaled(0.0)


def test_member_subsets():
    subsets = e.member_subsets(5, 3)
    assert subsets == list(itertools.combinations(range(5), 3))
    assert len(subsets) == 10 and subsets[0] == (0, 1, 2) and subsets == sorted(subsets)
    assert e.member_subsets(5, 5) == [(0, 1, 2, 3, 4)]
    with pytest.raises(ValueError, match="size"):
        e.member_subsets(5, 6)


def test_bad_input_raises(members):
    means, variances = members
    with pytest.raises(ValueError, match="differ in shape"):
        e.aggregate(means, variances[:, :-1])
    with pytest.raises(ValueError, match="variances must be >= 0"):
        e.aggregate(means, -variances)
    with pytest.raises(ValueError, match="non-finite"):
        e.aggregate(np.where(means > 2, np.nan, means), variances)
    with pytest.raises(ValueError, match="ddof"):
        e.aggregate(means, variances, ddof=2)
