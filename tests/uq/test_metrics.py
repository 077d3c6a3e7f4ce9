"""geohet_lib.uq.metrics against scipy, scoringrules, properscoring and uncertainty-toolbox."""

from __future__ import annotations

import math

import numpy as np
import properscoring
import pytest
import scoringrules
import uncertainty_toolbox as uct
from scipy import stats

from geohet_lib.uq import metrics as m


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 400
    mu = rng.normal(size=n)
    sigma = rng.uniform(0.3, 2.0, size=n)
    y = mu + sigma * rng.standard_t(df=5, size=n)
    return y, mu, sigma


def test_gaussian_nll_is_mean_negative_logpdf(data):
    y, mu, sigma = data
    expected = -np.mean(stats.norm.logpdf(y, loc=mu, scale=sigma))
    assert m.gaussian_nll(y, mu, sigma) == pytest.approx(expected, rel=1e-12)


def test_crps_standard_normal_at_zero():
    # sigma * (2 phi(0) - 1/sqrt(pi)) = sqrt(2/pi) - 1/sqrt(pi)
    assert m.crps_gaussian([0.0], [0.0], [1.0]) == pytest.approx(0.2336949773, abs=1e-10)
    assert m.crps_gaussian([0.0], [0.0], [1.0]) == pytest.approx(
        math.sqrt(2 / math.pi) - 1 / math.sqrt(math.pi), rel=1e-14)


def test_crps_matches_scoringrules_and_properscoring(data):
    y, mu, sigma = data
    ours = m.crps_gaussian(y, mu, sigma)
    assert ours == pytest.approx(float(np.mean(scoringrules.crps_normal(y, mu, sigma))), rel=1e-10)
    assert ours == pytest.approx(float(np.mean(properscoring.crps_gaussian(y, mu, sigma))),
                                 rel=1e-10)


def test_levels_20():
    assert m.LEVELS_20.shape == (20,)
    assert m.LEVELS_20[0] == pytest.approx(0.01) and m.LEVELS_20[-1] == pytest.approx(0.99)


def test_central_coverage_by_hand(data):
    y, mu, sigma = data
    levels = np.array([0.5, 0.9])
    cov = m.central_coverage(y, mu, sigma, levels)
    for p, c in zip(levels, cov):
        lo, hi = stats.norm.interval(p, loc=mu, scale=sigma)
        assert c == pytest.approx(np.mean((y >= lo) & (y <= hi)), abs=1e-12)
    nominal, observed = m.reliability_curve(y, mu, sigma)
    np.testing.assert_array_equal(nominal, m.LEVELS_20)
    np.testing.assert_array_equal(observed, m.central_coverage(y, mu, sigma))


def test_ece_equals_uncertainty_toolbox_on_its_grid(data):
    y, mu, sigma = data
    oracle = uct.mean_absolute_calibration_error(mu, sigma, y, num_bins=20, prop_type="interval")
    assert m.ece(y, mu, sigma, levels=np.linspace(0, 1, 20)) == pytest.approx(oracle, abs=1e-12)
    # the default grid drops the two zero-gap end points: 18 interior levels differ in place
    # but the definition (mean |observed - nominal|) is the same
    nominal, observed = m.reliability_curve(y, mu, sigma)
    assert m.ece(y, mu, sigma) == pytest.approx(np.mean(np.abs(observed - nominal)), abs=1e-15)


def test_ece_zero_on_exact_quantiles_and_large_when_overwide():
    n = 20_000
    z = stats.norm.ppf((np.arange(n) + 0.5) / n)
    mu = np.linspace(-3, 3, n)
    sigma = np.full(n, 0.7)
    y = mu + sigma * z
    assert m.ece(y, mu, sigma) < 1.0 / n + 1e-12
    assert m.ece(y, mu, 2 * sigma) > 0.15  # 2x over-wide: every interval over-covers


def test_multipliers():
    assert m.vp_multiplier(0.05) == math.sqrt(4 / 0.45)
    assert m.vp_multiplier() == pytest.approx(2.981, abs=5e-4)
    assert m.gaussian_multiplier(0.05) == pytest.approx(1.959963984540054, rel=1e-12)
    for bad in (0.2, 1 / 6, 0.0, -0.1):
        with pytest.raises(ValueError, match="alpha"):
            m.vp_multiplier(bad)
    with pytest.raises(ValueError, match="alpha"):
        m.gaussian_multiplier(1.0)


def test_vp_coverage_on_gaussian_and_skewed_unimodal():
    rng = np.random.default_rng(1)
    n = 50_000
    k = m.vp_multiplier(0.05)
    mu, sigma = np.zeros(n), np.ones(n)
    assert m.interval_coverage(rng.normal(size=n), mu, sigma, k) >= 0.95
    # Gamma(shape 2): unimodal, skewed; standardise by its true mean 2 and sd sqrt(2)
    g = rng.gamma(2.0, size=n)
    cov = m.interval_coverage(g, np.full(n, 2.0), np.full(n, math.sqrt(2.0)), k)
    assert cov >= 0.95
    # Exponential(1): unimodal, strongly skewed, mean 1, sd 1
    e = rng.exponential(size=n)
    assert m.interval_coverage(e, np.ones(n), np.ones(n), k) >= 0.95
    # the Gaussian multiplier is not distribution-free: Laplace (sd sqrt(2) b) undercovers,
    # P(|X| > 1.96 sd) = exp(-1.96 sqrt 2) = 0.063, while VP still covers
    lap = rng.laplace(scale=1.0, size=n)
    sd = np.full(n, math.sqrt(2.0))
    assert m.interval_coverage(lap, mu, sd, m.gaussian_multiplier()) < 0.95
    assert m.interval_coverage(lap, mu, sd, k) >= 0.95


def test_interval_coverage_and_width_by_hand():
    y = np.array([0.0, 1.0, 2.5, -3.0])
    mu = np.zeros(4)
    sigma = np.array([1.0, 1.0, 1.0, 2.0])
    assert m.interval_coverage(y, mu, sigma, 2.0) == 0.75  # 2.5 > 2 is out, |-3| <= 4 in
    assert m.interval_width(sigma, 2.0) == pytest.approx(np.mean(4 * sigma))


def test_error_sigma_correlation_matches_scipy(data):
    y, mu, sigma = data
    out = m.error_sigma_correlation(y, mu, sigma)
    err = np.abs(y - mu)
    assert out["pearson"] == pytest.approx(np.corrcoef(err, sigma)[0, 1], rel=1e-10)
    assert out["spearman"] == pytest.approx(
        np.corrcoef(stats.rankdata(err), stats.rankdata(sigma))[0, 1], rel=1e-10)
    assert out["pearson"] > 0.2  # errors were drawn proportional to sigma


def test_uq_metrics_keys_and_values(data):
    y, mu, sigma = data
    out = m.uq_metrics(y, mu, sigma)
    assert list(out) == ["RMSE", "MAE", "ECE", "NLL", "CRPS", "Cov@95 (VP)", "MPIW@95 (VP)",
                         "Cov@95 (Gauss)", "MPIW@95 (Gauss)", "Pearson r(|err|,sigma)",
                         "Spearman r(|err|,sigma)"]
    assert all(isinstance(v, float) for v in out.values())
    assert out["RMSE"] == pytest.approx(math.sqrt(np.mean((y - mu) ** 2)))
    assert out["MAE"] == pytest.approx(np.mean(np.abs(y - mu)))
    assert out["MPIW@95 (VP)"] == pytest.approx(2 * math.sqrt(4 / 0.45) * np.mean(sigma))
    assert out["MPIW@95 (Gauss)"] == pytest.approx(2 * 1.959963984540054 * np.mean(sigma))
    assert out["Cov@95 (VP)"] >= out["Cov@95 (Gauss)"]


def test_bad_input_raises():
    y, mu, sigma = np.zeros(3), np.zeros(3), np.ones(3)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        m.gaussian_nll(y, mu, np.array([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="sigma must be > 0"):
        m.crps_gaussian(y, mu, -sigma)
    with pytest.raises(ValueError, match="differ in length"):
        m.ece(y, np.zeros(4), sigma)
    with pytest.raises(ValueError, match="non-finite"):
        m.uq_metrics(np.array([0.0, np.nan, 1.0]), mu, sigma)
    with pytest.raises(ValueError, match="1-D"):
        m.gaussian_nll(y[:, None], mu, sigma)
    with pytest.raises(ValueError, match="alpha"):
        m.uq_metrics(y, mu, sigma, alpha=0.2)
    with pytest.raises(ValueError, match="levels"):
        m.central_coverage(y, mu, sigma, levels=[0.5, 1.5])
