"""Deep-ensemble aggregation by the law of total variance (SOC paper 3.8, Eq. 6).

Each of ``M`` members predicts a mean ``mu_m`` and a variance ``var_m = exp(s_m)`` per sample.

* :func:`aggregate`: ``mean = avg_m mu_m``, ``aleatoric = avg_m var_m``,
  ``epistemic = var_m(mu_m)`` with ``ddof`` (the paper: Bessel, ``ddof=1``; the uniform Gaussian
  mixture of Lakshminarayanan et al. 2017: ``ddof=0``), ``total = aleatoric + epistemic``.
* :func:`mixture_variance`: the variance of the uniform mixture, the ``ddof=0`` total.
* :func:`member_subsets`: the member subsets of the ensemble-size study (SOC 5.3, Table 9).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["EnsemblePrediction", "aggregate", "mixture_variance", "member_subsets"]


@dataclass
class EnsemblePrediction:
    """Aggregated ensemble prediction (Eq. 6); arrays of shape ``(N,)``, variances not sd."""

    mean: np.ndarray
    aleatoric: np.ndarray
    epistemic: np.ndarray
    members: int
    ddof: int

    @property
    def total(self) -> np.ndarray:
        """``sigma_total^2 = aleatoric + epistemic`` (Eq. 6)."""
        return self.aleatoric + self.epistemic

    @property
    def sigma(self) -> np.ndarray:
        """Predictive standard deviation ``sqrt(total)``."""
        return np.sqrt(self.total)

    @property
    def epistemic_fraction(self) -> float:
        """``mean(epistemic) / mean(total)``: the ratio of the mean variances (SOC Table 8,
        Fig. 12), not the mean of the per-point ratios (:attr:`epistemic_fraction_per_point`).
        0 for a single member; NaN when every total variance is 0."""
        mean_total = float(np.mean(self.total))
        return float(np.mean(self.epistemic)) / mean_total if mean_total > 0 else float("nan")

    @property
    def epistemic_fraction_per_point(self) -> np.ndarray:
        """``epistemic / total`` per sample (NaN where the total variance is 0)."""
        total = self.total
        out = np.full(total.shape, np.nan)
        np.divide(self.epistemic, total, out=out, where=total > 0)
        return out

    def scaled(self, t: float) -> EnsemblePrediction:
        """Temperature-scaled copy (Eq. 7): ``sigma_total -> t sigma_total``, i.e. both variance
        parts times ``t**2``; the mean and the epistemic fraction are unchanged."""
        if not (np.isfinite(t) and t > 0):
            raise ValueError(f"t must be a finite number > 0, got {t!r}")
        t2 = float(t) ** 2
        return EnsemblePrediction(mean=self.mean.copy(), aleatoric=self.aleatoric * t2,
                                  epistemic=self.epistemic * t2, members=self.members,
                                  ddof=self.ddof)


def _as_members(means: ArrayLike, variances: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``(M, N)`` float64 arrays of member means and variances ((N,) = one member)."""
    mu = np.asarray(means, dtype=np.float64)
    var = np.asarray(variances, dtype=np.float64)
    if mu.ndim == 1:
        mu = mu[None, :]
    if var.ndim == 1:
        var = var[None, :]
    if mu.ndim != 2 or mu.shape[1] == 0:
        raise ValueError(f"means must have shape (M, N) or (N,), got {np.shape(means)}")
    if mu.shape != var.shape:
        raise ValueError(f"means and variances differ in shape: {mu.shape} and {var.shape}")
    for name, a in (("means", mu), ("variances", var)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} holds non-finite values ({int(np.sum(~np.isfinite(a)))})")
    if np.any(var < 0):
        raise ValueError(f"variances must be >= 0, got min {var.min()!r}")
    return mu, var


def aggregate(means: ArrayLike, variances: ArrayLike, ddof: int = 1) -> EnsemblePrediction:
    """Eq. (6): ensemble mean, aleatoric (mean member variance) and epistemic (variance of the
    member means with ``ddof``: 1 = Bessel as in the paper, 0 = the mixture's) variance.

    ``means``, ``variances``: ``(M, N)`` (``variances = exp(log_var)``), or ``(N,)`` for a
    single member. ``M = 1`` gives epistemic 0 (not NaN) whatever ``ddof``.
    """
    if ddof not in (0, 1):
        raise ValueError(f"ddof must be 0 or 1, got {ddof!r}")
    mu, var = _as_members(means, variances)
    m = mu.shape[0]
    epistemic = np.zeros(mu.shape[1]) if m == 1 else np.var(mu, axis=0, ddof=ddof)
    return EnsemblePrediction(mean=mu.mean(axis=0), aleatoric=var.mean(axis=0),
                              epistemic=epistemic, members=m, ddof=int(ddof))


def mixture_variance(means: ArrayLike, variances: ArrayLike) -> np.ndarray:
    """Variance of the uniform Gaussian mixture ``1/M sum_m N(mu_m, var_m)``:
    ``mean_m(var_m + mu_m^2) - mean_m(mu_m)^2`` (Lakshminarayanan et al. 2017)."""
    mu, var = _as_members(means, variances)
    return np.mean(var + mu * mu, axis=0) - np.mean(mu, axis=0) ** 2


def member_subsets(n_members: int, size: int) -> list[tuple[int, ...]]:
    """All ``size``-member subsets of ``range(n_members)``, lexicographic (SOC Table 9)."""
    if not (isinstance(n_members, (int, np.integer)) and n_members >= 1):
        raise ValueError(f"n_members must be an integer >= 1, got {n_members!r}")
    if not (isinstance(size, (int, np.integer)) and 1 <= size <= n_members):
        raise ValueError(f"size must be an integer in [1, n_members={n_members}], got {size!r}")
    return list(itertools.combinations(range(int(n_members)), int(size)))
