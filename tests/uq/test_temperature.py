"""geohet_lib.uq.temperature: the optimiser against the closed form, Eq. (7)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from geohet_lib.uq import ensemble, temperature as t


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 2000
    mu = rng.normal(size=n)
    sigma = rng.uniform(0.2, 1.5, size=n)
    y = mu + 2.0 * sigma * rng.normal(size=n)  # the true sd is 2 sigma
    return y, mu, sigma


def test_optimiser_equals_closed_form(data):
    y, mu, sigma = data
    z = (y - mu) / sigma
    closed = t.temperature_closed_form(y, mu, sigma)
    assert closed == pytest.approx(np.sqrt(np.mean(z**2)), rel=1e-14)
    assert t.fit_temperature(y, mu, sigma) == pytest.approx(closed, rel=1e-6)


def test_weighted_optimiser_equals_closed_form(data):
    y, mu, sigma = data
    w = sigma ** (2 * 0.5)  # beta-NLL, beta = 0.5, from the uncalibrated sigma, held fixed
    z = (y - mu) / sigma
    closed = t.temperature_closed_form(y, mu, sigma, weights=w)
    assert closed == pytest.approx(np.sqrt(np.sum(w * z**2) / np.sum(w)), rel=1e-14)
    assert t.fit_temperature(y, mu, sigma, weights=w) == pytest.approx(closed, rel=1e-6)
    assert closed != pytest.approx(t.temperature_closed_form(y, mu, sigma), rel=1e-3)


def test_fitted_t_minimises_the_nll(data):
    y, mu, sigma = data
    t_hat = t.fit_temperature(y, mu, sigma)

    def nll(tt):
        return -np.mean(stats.norm.logpdf(y, mu, tt * sigma))

    assert nll(t_hat) < nll(t_hat * 1.01) and nll(t_hat) < nll(t_hat * 0.99)


def test_recovers_known_factor(data):
    y, mu, sigma = data
    t_hat = t.fit_temperature(y, mu, sigma)
    assert t_hat > 1
    assert t_hat == pytest.approx(2.0, rel=0.05)
    np.testing.assert_allclose(t.apply_temperature(sigma, t_hat), t_hat * sigma, rtol=0)
    # after scaling, the refitted temperature is 1
    assert t.fit_temperature(y, mu, t.apply_temperature(sigma, t_hat)) == pytest.approx(1, rel=1e-6)


def test_point_predictions_untouched(data):
    y, mu, sigma = data
    rng = np.random.default_rng(3)
    means = mu + 0.1 * rng.normal(size=(5, mu.size))
    pred = ensemble.aggregate(means, np.tile(sigma**2, (5, 1)))
    t_hat = t.fit_temperature(y, pred.mean, pred.sigma)
    scaled = pred.scaled(t_hat)
    np.testing.assert_array_equal(scaled.mean, pred.mean)
    np.testing.assert_allclose(scaled.sigma, t.apply_temperature(pred.sigma, t_hat), rtol=1e-14)


def test_bad_input_raises(data):
    y, mu, sigma = data
    with pytest.raises(ValueError, match="weights must be >= 0"):
        t.fit_temperature(y, mu, sigma, weights=-np.ones_like(y))
    with pytest.raises(ValueError, match="differ in length"):
        t.fit_temperature(y, mu, sigma, weights=np.ones(3))
    with pytest.raises(ValueError, match="residuals"):
        t.temperature_closed_form(mu, mu, sigma)
    with pytest.raises(ValueError, match="t must be"):
        t.apply_temperature(sigma, -1.0)
