"""Split conformal prediction intervals, a distribution-free comparator to the Gaussian and
Vysochanskij-Petunin intervals (Vovk et al. 2005; Lei et al. 2018).

Nonconformity score on a calibration split: ``|y - mu| / sigma`` (normalised conformal) or
``|y - mu|``. With ``q`` the ``ceil((n + 1)(1 - alpha))``-th smallest of the ``n`` scores,
``mu +- q sigma`` covers a new exchangeable point with probability ``>= 1 - alpha``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from geohet_lib.uq.metrics import _as_1d, _check_alpha, _check_sigma, _same_length

__all__ = ["conformal_quantile", "conformal_interval"]


def conformal_quantile(y_cal: ArrayLike, mu_cal: ArrayLike, sigma_cal: ArrayLike | None = None,
                       alpha: float = 0.05) -> float:
    """The ``ceil((n + 1)(1 - alpha))``-th smallest calibration score (``|y - mu| / sigma``, or
    ``|y - mu|`` when ``sigma_cal`` is None). ValueError when ``n < 1/alpha - 1`` (that rank
    exceeds ``n``: the interval would be infinite)."""
    alpha = _check_alpha(alpha)
    y, mu = _as_1d("y_cal", y_cal), _as_1d("mu_cal", mu_cal)
    _same_length(y_cal=y, mu_cal=mu)
    scores = np.abs(y - mu)
    if sigma_cal is not None:
        sigma = _check_sigma(_as_1d("sigma_cal", sigma_cal), "sigma_cal")
        _same_length(y_cal=y, sigma_cal=sigma)
        scores = scores / sigma
    n = scores.size
    # the 1e-9 guards against (n + 1)(1 - alpha) landing just above an integer by rounding
    rank = math.ceil((n + 1) * (1 - alpha) - 1e-9)
    if rank > n:
        raise ValueError(f"n = {n} calibration points are too few for alpha = {alpha}: "
                         f"need n >= 1/alpha - 1 = {1 / alpha - 1:.6g}")
    return float(np.partition(scores, rank - 1)[rank - 1])


def conformal_interval(mu: ArrayLike, sigma: ArrayLike | None, q: float
                       ) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper) = mu -+ q sigma`` (``mu -+ q`` when ``sigma`` is None)."""
    mu = _as_1d("mu", mu)
    if not (np.isfinite(q) and q >= 0):
        raise ValueError(f"q must be a finite number >= 0, got {q!r}")
    half = float(q) * np.ones_like(mu)
    if sigma is not None:
        sigma = _check_sigma(_as_1d("sigma", sigma))
        _same_length(mu=mu, sigma=sigma)
        half = half * sigma
    return mu - half, mu + half
