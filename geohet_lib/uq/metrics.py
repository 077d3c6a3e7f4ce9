"""Scores of a Gaussian predictive ``N(mu, sigma**2)`` (SOC paper 3.8 and 5.3, Tables 7-9).

Every function takes 1-D arrays ``y`` (truth), ``mu`` (predicted mean) and ``sigma``
(predicted standard deviation, > 0) of equal length and returns Python floats or numpy arrays.
Bad input (other shapes, different lengths, NaN / inf, ``sigma <= 0``, ``alpha`` out of range)
raises :class:`ValueError` naming the argument and the value.

* Proper scores: :func:`gaussian_nll` (with the ``0.5 log 2 pi`` constant), :func:`crps_gaussian`
  (closed form, Gneiting & Raftery 2007).
* Calibration: :func:`central_coverage`, :func:`reliability_curve`, :func:`ece` ("the mean
  absolute coverage gap across 20 confidence levels", SOC 3.8), over :data:`LEVELS_20`.
* Intervals: ``mu +- k sigma`` with the distribution-free Vysochanskij-Petunin multiplier
  :func:`vp_multiplier` (SOC 5.6; needs only unimodality and finite variance) or the Gaussian
  one, :func:`gaussian_multiplier`; :func:`interval_coverage` (PICP) and :func:`interval_width`
  (MPIW).
* Ranking: :func:`error_sigma_correlation` (Table 8), and :func:`uq_metrics`, one table row.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

__all__ = ["LEVELS_20", "gaussian_nll", "crps_gaussian", "central_coverage", "reliability_curve",
           "ece", "vp_multiplier", "gaussian_multiplier", "interval_coverage", "interval_width",
           "error_sigma_correlation", "uq_metrics"]

LEVELS_20: np.ndarray = np.linspace(0.01, 0.99, 20)
"""Nominal central-interval levels for ECE and reliability diagrams (SOC 3.8: 20 levels)."""


def _as_1d(name: str, x: ArrayLike) -> np.ndarray:
    """``x`` as a finite 1-D float64 array, or a ValueError naming ``name``."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(a)):
        bad = int(np.flatnonzero(~np.isfinite(a))[0])
        raise ValueError(f"{name} holds a non-finite value ({a[bad]!r} at index {bad})")
    return a


def _check_sigma(sigma: np.ndarray, name: str = "sigma") -> np.ndarray:
    if np.any(sigma <= 0):
        bad = int(np.flatnonzero(sigma <= 0)[0])
        raise ValueError(f"{name} must be > 0, got {sigma[bad]!r} at index {bad}")
    return sigma


def _same_length(**arrays: np.ndarray) -> None:
    lengths = {name: a.shape[0] for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"arrays differ in length: {lengths}")


def _check_predictive(y: ArrayLike, mu: ArrayLike, sigma: ArrayLike
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate ``(y, mu, sigma)``: 1-D, finite, equal length, ``sigma > 0``."""
    y, mu, sigma = _as_1d("y", y), _as_1d("mu", mu), _as_1d("sigma", sigma)
    _same_length(y=y, mu=mu, sigma=sigma)
    return y, mu, _check_sigma(sigma)


def _check_levels(levels: ArrayLike) -> np.ndarray:
    p = _as_1d("levels", levels)
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"levels must lie in [0, 1], got min {p.min()!r}, max {p.max()!r}")
    return p


def _check_alpha(alpha: float, upper: float = 1.0) -> float:
    if not (isinstance(alpha, (int, float, np.floating)) and 0 < alpha < upper):
        raise ValueError(f"alpha must satisfy 0 < alpha < {upper:.6g}, got {alpha!r}")
    return float(alpha)


def gaussian_nll(y: ArrayLike, mu: ArrayLike, sigma: ArrayLike) -> float:
    """Mean Gaussian negative log-likelihood, ``log sigma + z**2 / 2 + log(2 pi) / 2``.

    SOC Eq. (4) plus the ``0.5 log 2 pi`` constant, i.e. the mean of ``-norm.logpdf``.
    """
    y, mu, sigma = _check_predictive(y, mu, sigma)
    z = (y - mu) / sigma
    return float(np.mean(np.log(sigma) + 0.5 * z * z + 0.5 * math.log(2 * math.pi)))


def crps_gaussian(y: ArrayLike, mu: ArrayLike, sigma: ArrayLike) -> float:
    """Mean CRPS of ``N(mu, sigma**2)``, closed form (Gneiting & Raftery 2007):
    ``sigma * (z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi))``, ``z = (y - mu) / sigma``."""
    y, mu, sigma = _check_predictive(y, mu, sigma)
    z = (y - mu) / sigma
    crps = sigma * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / math.sqrt(math.pi))
    return float(np.mean(crps))


def central_coverage(y: ArrayLike, mu: ArrayLike, sigma: ArrayLike,
                     levels: ArrayLike = LEVELS_20) -> np.ndarray:
    """Observed fraction of ``y`` in ``mu +- Phi^-1(0.5 + p/2) sigma`` for each nominal ``p``
    (closed interval; ``p = 0`` counts exact hits, ``p = 1`` everything)."""
    y, mu, sigma = _check_predictive(y, mu, sigma)
    p = _check_levels(levels)
    abs_z = np.abs(y - mu) / sigma
    half_width = stats.norm.ppf(0.5 + p / 2)
    return np.mean(abs_z[:, None] <= half_width[None, :], axis=0)


def reliability_curve(y: ArrayLike, mu: ArrayLike, sigma: ArrayLike,
                      levels: ArrayLike = LEVELS_20) -> tuple[np.ndarray, np.ndarray]:
    """``(nominal, observed)`` central-interval coverage, the reliability diagram (Fig. 11)."""
    observed = central_coverage(y, mu, sigma, levels)
    return _check_levels(levels).copy(), observed


def ece(y: ArrayLike, mu: ArrayLike, sigma: ArrayLike, levels: ArrayLike = LEVELS_20) -> float:
    """Expected calibration error, ``mean_p |observed(p) - p|`` over the nominal ``levels``
    (SOC 3.8: "mean absolute coverage gap across 20 confidence levels").

    This is the definition of ``uncertainty_toolbox.mean_absolute_calibration_error(...,
    prop_type="interval")``, whose grid is ``np.linspace(0, 1, num_bins)``: with
    ``levels=np.linspace(0, 1, 20)`` the two agree exactly. The default :data:`LEVELS_20`
    (0.01 ... 0.99) leaves out the end points 0 and 1, whose gaps are 0 by construction and
    would only dilute the mean (the toolbox's value is then ``18/20`` of an 18-level mean).
    """
    nominal, observed = reliability_curve(y, mu, sigma, levels)
    return float(np.mean(np.abs(observed - nominal)))


def vp_multiplier(alpha: float = 0.05) -> float:
    """Vysochanskij-Petunin multiplier ``lambda = sqrt(4 / (9 alpha))`` (SOC 5.6).

    For any unimodal law with finite variance, ``P(|X - mean| >= lambda sd) <= 4/(9 lambda^2)
    = alpha`` when ``lambda > sqrt(8/3)``, i.e. ``0 < alpha < 1/6``. ``alpha = 0.05``: 2.981.
    """
    alpha = _check_alpha(alpha, upper=1 / 6)
    return math.sqrt(4.0 / (9.0 * alpha))


def gaussian_multiplier(alpha: float = 0.05) -> float:
    """Gaussian two-sided multiplier ``Phi^-1(1 - alpha/2)`` (1.960 at ``alpha = 0.05``)."""
    alpha = _check_alpha(alpha)
    return float(stats.norm.ppf(1 - alpha / 2))


def _check_k(k: float) -> float:
    if not (isinstance(k, (int, float, np.floating)) and math.isfinite(k) and k > 0):
        raise ValueError(f"k must be a finite number > 0, got {k!r}")
    return float(k)


def interval_coverage(y: ArrayLike, mu: ArrayLike, sigma: ArrayLike, k: float) -> float:
    """Prediction-interval coverage probability (PICP): fraction with ``|y - mu| <= k sigma``."""
    y, mu, sigma = _check_predictive(y, mu, sigma)
    k = _check_k(k)
    return float(np.mean(np.abs(y - mu) <= k * sigma))


def interval_width(sigma: ArrayLike, k: float) -> float:
    """Mean prediction-interval width (MPIW) of ``mu +- k sigma``: ``mean(2 k sigma)``."""
    sigma = _check_sigma(_as_1d("sigma", sigma))
    return float(np.mean(2 * _check_k(k) * sigma))


def error_sigma_correlation(y: ArrayLike, mu: ArrayLike, sigma: ArrayLike) -> dict[str, float]:
    """Pearson and Spearman correlation of ``|y - mu|`` with ``sigma`` (SOC Table 8).

    NaN (with scipy's warning) when either side is constant.
    """
    y, mu, sigma = _check_predictive(y, mu, sigma)
    if y.size < 2:
        raise ValueError(f"need at least 2 samples for a correlation, got {y.size}")
    err = np.abs(y - mu)
    return {"pearson": float(stats.pearsonr(err, sigma)[0]),
            "spearman": float(stats.spearmanr(err, sigma)[0])}


def uq_metrics(y: ArrayLike, mu: ArrayLike, sigma: ArrayLike, alpha: float = 0.05
               ) -> dict[str, float]:
    """One row of SOC Tables 7/9: accuracy, calibration, sharpness and ranking.

    The labels say "95" for the default ``alpha = 0.05`` and stay fixed for other ``alpha``.
    """
    y, mu, sigma = _check_predictive(y, mu, sigma)
    k_vp, k_g = vp_multiplier(alpha), gaussian_multiplier(alpha)
    corr = error_sigma_correlation(y, mu, sigma)
    err = y - mu
    return {
        "RMSE": float(np.sqrt(np.mean(err * err))),
        "MAE": float(np.mean(np.abs(err))),
        "ECE": ece(y, mu, sigma),
        "NLL": gaussian_nll(y, mu, sigma),
        "CRPS": crps_gaussian(y, mu, sigma),
        "Cov@95 (VP)": interval_coverage(y, mu, sigma, k_vp),
        "MPIW@95 (VP)": interval_width(sigma, k_vp),
        "Cov@95 (Gauss)": interval_coverage(y, mu, sigma, k_g),
        "MPIW@95 (Gauss)": interval_width(sigma, k_g),
        "Pearson r(|err|,sigma)": corr["pearson"],
        "Spearman r(|err|,sigma)": corr["spearman"],
    }
