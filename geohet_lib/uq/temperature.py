"""Post-hoc temperature scaling of the predictive sd (SOC paper 3.8, Eq. 7).

``sigma~ = T sigma_total`` with one scalar ``T > 0`` fitted on the validation split by minimising
the Gaussian NLL (Eq. 4) of ``N(mu, (T sigma)^2)``; the means are never touched.

With per-sample weights ``w`` held constant (the beta-NLL case of Eq. 5: ``w = sigma^(2 beta)``
from the *uncalibrated* sigma, then fixed), the weighted NLL ``sum w [log(T sigma) +
z^2 / (2 T^2)]`` has the unique minimiser ``T^2 = sum w z^2 / sum w``: :func:`fit_temperature`
finds it numerically, :func:`temperature_closed_form` writes it down (the tests check one
against the other).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize_scalar

from geohet_lib.uq.metrics import _as_1d, _check_predictive, _check_sigma, _same_length

__all__ = ["fit_temperature", "temperature_closed_form", "apply_temperature"]

_LOG_T_BOUNDS = (-12.0, 12.0)  # T in [6e-6, 1.6e5]


def _z_and_weights(y: ArrayLike, mu: ArrayLike, sigma: ArrayLike, weights: ArrayLike | None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Standardised residuals and normalised weights (sum 1); ValueErrors on bad input."""
    y, mu, sigma = _check_predictive(y, mu, sigma)
    z = (y - mu) / sigma
    if weights is None:
        w = np.ones_like(z)
    else:
        w = _as_1d("weights", weights)
        _same_length(y=y, weights=w)
        if np.any(w < 0):
            raise ValueError(f"weights must be >= 0, got min {w.min()!r}")
        if not np.sum(w) > 0:
            raise ValueError("weights sum to 0")
    w = w / np.sum(w)
    if not np.sum(w * z * z) > 0:
        raise ValueError("all (weighted) residuals y - mu are 0: the NLL has no minimiser T > 0")
    return z, w


def temperature_closed_form(y: ArrayLike, mu: ArrayLike, sigma: ArrayLike,
                            weights: ArrayLike | None = None) -> float:
    """``T = sqrt(sum w z^2 / sum w)``, ``z = (y - mu) / sigma``: the minimiser of Eq. (4) (or
    of its weighted form) over ``N(mu, (T sigma)^2)``."""
    z, w = _z_and_weights(y, mu, sigma, weights)
    return math.sqrt(float(np.sum(w * z * z)))


def fit_temperature(y: ArrayLike, mu: ArrayLike, sigma: ArrayLike,
                    weights: ArrayLike | None = None) -> float:
    """Eq. (7): the ``T > 0`` minimising the (weighted) mean Gaussian NLL of
    ``N(mu, (T sigma)^2)`` on the given (validation) data, found by bounded Brent search over
    ``log T`` in ``[-12, 12]`` (``scipy.optimize.minimize_scalar``, ``xatol = 1e-10``)."""
    z, w = _z_and_weights(y, mu, sigma, weights)
    log_sigma = np.log(np.asarray(sigma, dtype=np.float64))
    const = 0.5 * math.log(2 * math.pi)

    def nll(log_t: float) -> float:  # weighted mean NLL of N(mu, (T sigma)^2), T = exp(log_t)
        zt = z * math.exp(-log_t)
        return float(np.sum(w * (log_t + log_sigma + 0.5 * zt * zt + const)))

    res = minimize_scalar(nll, bounds=_LOG_T_BOUNDS, method="bounded",
                          options={"xatol": 1e-10, "maxiter": 1000})
    lo, hi = _LOG_T_BOUNDS
    if not res.success or min(res.x - lo, hi - res.x) < 1e-6:
        raise ValueError(f"temperature search failed or hit the bounds exp({lo}), exp({hi}): "
                         f"log T = {res.x!r} ({res.message})")
    return math.exp(float(res.x))


def apply_temperature(sigma: ArrayLike, t: float) -> np.ndarray:
    """``sigma~ = t sigma`` (Eq. 7)."""
    sigma = _check_sigma(_as_1d("sigma", sigma))
    if not (np.isfinite(t) and t > 0):
        raise ValueError(f"t must be a finite number > 0, got {t!r}")
    return sigma * float(t)
