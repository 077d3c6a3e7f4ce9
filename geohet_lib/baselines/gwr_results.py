"""Diagnostics of a fitted GWR, with the names, shapes and formulas of ``mgwr.gwr.GWRResults``.

Gaussian GWR (Fotheringham, Brunsdon & Charlton 2002, ch. 2 and 4; mgwr's ``GWRResults``):

* hat diagonal ``S_ii = x_i' (X'W_iX)^{-1} x_i`` (``influ``), ``tr_S``, ``tr_STS = sum_ij S_ij^2``;
* ``ENP = tr S`` (``sigma2_v1=True``, the default) or ``2 tr S - tr S'S``;
* ``sigma2 = RSS / (n - tr S)`` (or ``RSS / (n - 2 tr S + tr S'S)``);
* ``bse = sqrt(sigma2 diag(C_i C_i'))`` with ``C_i = (X'W_iX)^{-1} X'W_i``, ``tvalues = params / bse``;
* ``adj_alpha = alpha p / ENP`` for alpha = 0.1, 0.05, 0.001 (da Silva & Fotheringham 2016)
  and ``critical_tval`` from Student's t with n - 1 degrees of freedom;
* ``aicc``, ``aic``, ``bic`` (and ``cv``) from :func:`~geohet_lib.baselines.local_regression.criterion`;
* ``R2 = 1 - RSS / TSS``, ``adj_R2 = 1 - (1 - R2)(n - 1)/(n - ENP - 1)``, local R2 from the
  kernel-weighted sums of squares at each focal point (``localR2``, computed on first use).

Arrays have mgwr's shapes (``predy``, ``influ``, ``std_res``, ``localR2`` (n, 1);
``resid_response`` (n,)), so code written for mgwr's results reads these too.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from scipy import stats

from .local_regression import AdaptiveBisquare, LocalFits, criterion

__all__ = ["GWRResults"]


class GWRResults:
    """A fitted Gaussian GWR (adaptive bisquare kernel) -- see the module docstring."""

    def __init__(self, core: AdaptiveBisquare, points: np.ndarray, X: np.ndarray, y: np.ndarray,
                 bw: int, fits: LocalFits, sigma2_v1: bool = True):
        self._core, self._points = core, points
        self.X, self.y = X, y.reshape(-1, 1)
        self.n, self.k = X.shape
        self.bw = bw
        self.sigma2_v1 = sigma2_v1
        self.params = fits.beta
        self.influ = fits.influence.reshape(-1, 1)
        self.predy = np.einsum("ij,ij->i", X, fits.beta).reshape(-1, 1)
        self.resid_response = (self.y - self.predy).ravel()  # (n,), as mgwr's
        self.tr_S = float(fits.influence.sum())
        self.tr_STS = float(fits.sts.sum())
        self.CCT = fits.cct * self.sigma2
        self.n_singular = int(fits.singular.sum())

    @cached_property
    def resid_ss(self) -> float:
        u = self.resid_response.ravel()
        return float(u @ u)

    @cached_property
    def ENP(self) -> float:
        return self.tr_S if self.sigma2_v1 else 2.0 * self.tr_S - self.tr_STS

    @cached_property
    def sigma2(self) -> float:
        if self.sigma2_v1:
            return self.resid_ss / (self.n - self.tr_S)
        return self.resid_ss / (self.n - 2.0 * self.tr_S + self.tr_STS)

    @property
    def scale(self) -> float:
        return self.sigma2

    @cached_property
    def bse(self) -> np.ndarray:
        return np.sqrt(self.CCT)

    @cached_property
    def tvalues(self) -> np.ndarray:
        return self.params / self.bse

    @cached_property
    def llf(self) -> float:
        n = self.n
        return -n / 2.0 * (np.log(2.0 * np.pi * self.resid_ss / n) + 1.0)

    def _criterion(self, name: str) -> float:
        cv_sum = float(np.sum((self.resid_response / (1.0 - self.influ.ravel())) ** 2))
        return criterion(name, self.n, self.resid_ss, self.tr_S, cv_sum)

    @cached_property
    def aicc(self) -> float:
        return self._criterion("AICc")

    @cached_property
    def aic(self) -> float:
        return self._criterion("AIC")

    @cached_property
    def bic(self) -> float:
        return self._criterion("BIC")

    @cached_property
    def cv(self) -> float:
        return self._criterion("CV")

    @cached_property
    def R2(self) -> float:
        tss = float(np.sum((self.y - self.y.mean()) ** 2))
        return 1.0 - self.resid_ss / tss

    @cached_property
    def adj_R2(self) -> float:
        return 1.0 - (1.0 - self.R2) * (self.n - 1) / (self.n - self.ENP - 1)

    @cached_property
    def std_res(self) -> np.ndarray:
        return self.resid_response.reshape(-1, 1) / np.sqrt(self.scale * (1.0 - self.influ))

    @cached_property
    def cooksD(self) -> np.ndarray:
        return self.std_res ** 2 * self.influ / (self.tr_S * (1.0 - self.influ))

    @cached_property
    def adj_alpha(self) -> np.ndarray:
        """Family-wise corrected alpha for 0.1, 0.05, 0.001 (p / ENP)."""
        return np.array([0.1, 0.05, 0.001]) * self.k / self.ENP

    def critical_tval(self, alpha: float | None = None) -> float:
        """Two-sided critical t (n - 1 df) at ``alpha`` (default: the corrected 0.05)."""
        a = abs(self.adj_alpha[1] if alpha is None else alpha) / 2.0
        return float(stats.t.ppf(1 - a, self.n - 1))

    def filter_tvals(self, critical_t: float | None = None, alpha: float | None = None) -> np.ndarray:
        """t-values with the non-significant ones set to 0 (mgwr's ``filter_tvals``)."""
        crit = self.critical_tval(alpha) if critical_t is None else critical_t
        t = self.tvalues.copy()
        t[np.abs(t) < crit] = 0.0
        return t

    @cached_property
    def localR2(self) -> np.ndarray:
        """Local R2 (n, 1): 1 - sum_j w_ij e_j^2 / sum_j w_ij (y_j - ybar_i)^2 (ybar_i weighted)."""
        y = self.y.ravel()
        e = self.resid_response.ravel()
        s = self._core.weighted_sums(None, self.bw, np.column_stack([np.ones_like(y), y, y * y, e * e]))
        ybar = s[:, 1] / s[:, 0]
        tss = s[:, 2] - 2.0 * ybar * s[:, 1] + ybar * ybar * s[:, 0]
        return ((tss - s[:, 3]) / tss).reshape(-1, 1)
