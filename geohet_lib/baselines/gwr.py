"""Geographically weighted regression through PySAL ``mgwr`` (GPP paper 4.3, Table 1 "GWR").

GWR (Fotheringham, Brunsdon & Charlton 2002; Fotheringham et al. 2009) fits one weighted least
squares regression per location, weighting every observation by a kernel of its distance to
that location:

    beta(u_i, v_i) = (X^T W_i X)^{-1} X^T W_i y,    W_i = diag(K(d_ij / h_i))

This module does not re-implement any of it: :class:`GWR` is a thin wrapper around ``mgwr``
(Oshan et al. 2019) that gives it the project's fit / predict interface. The defaults follow
the usual practice the paper's GWR row implies: an **adaptive bisquare** kernel (``h_i`` is the
distance to the ``bw``-th nearest neighbour, so dense and sparse regions get the same number of
effective observations), the bandwidth chosen by **golden-section search on AICc**
(``mgwr.sel_bw.Sel_BW``), and great-circle distances for (lon, lat) coordinates
(``spherical=True``).

>>> m = GWR().fit(coords, X, y)          # coords (n, 2): lon, lat in degrees
>>> m.bandwidth_, m.aicc_, m.params_     # (n, k+1) local coefficients, intercept first
>>> m.predict(coords_new, X_new)         # local fits at new places, or at the same places
"""

from __future__ import annotations

import logging
import time

import numpy as np

LOG = logging.getLogger("geohet")

__all__ = ["GWR", "check_spatial_inputs"]


def check_spatial_inputs(coords, X, y=None, *, spherical: bool = True,
                         min_rows: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate ``coords`` (n, 2), ``X`` (n, k) and optionally ``y`` (n,); return float64 copies.

    Clear ``ValueError`` for wrong shapes, mismatched lengths, non-finite values and (with
    ``spherical``) latitudes outside [-90, 90] or longitudes outside [-180, 360].
    """
    coords = np.asarray(coords, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must have shape (n, 2), got {coords.shape}")
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"X must have shape (n, k), got {X.shape}")
    if X.shape[0] != coords.shape[0]:
        raise ValueError(f"coords has {coords.shape[0]} rows but X has {X.shape[0]}")
    for name, a in (("coords", coords), ("X", X)):
        if not np.isfinite(a).all():
            raise ValueError(f"{name} holds {int((~np.isfinite(a)).sum())} NaN or infinite values")
    if spherical:
        lon, lat = coords[:, 0], coords[:, 1]
        if np.abs(lat).max(initial=0) > 90:
            raise ValueError("latitudes (coords[:, 1]) must lie in [-90, 90]; pass spherical=False "
                             "for projected coordinates")
        if lon.min(initial=0) < -180 or lon.max(initial=0) > 360:
            raise ValueError("longitudes (coords[:, 0]) must lie in [-180, 360]")
    if y is not None:
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if y.shape[0] != coords.shape[0]:
            raise ValueError(f"coords has {coords.shape[0]} rows but y has {y.shape[0]}")
        if not np.isfinite(y).all():
            raise ValueError(f"y holds {int((~np.isfinite(y)).sum())} NaN or infinite values")
    if min_rows is not None and coords.shape[0] < min_rows:
        raise ValueError(f"need at least {min_rows} observations, got {coords.shape[0]}")
    return coords, X, y


class GWR:
    """GWR with ``mgwr``'s estimator and bandwidth search behind fit / predict.

    Parameters
    ----------
    bw : fixed bandwidth (neighbour count when ``fixed=False``, distance when ``fixed=True``);
        ``None`` selects it by ``criterion`` with golden-section search (``mgwr.sel_bw.Sel_BW``).
    kernel : ``"bisquare"`` (default), ``"gaussian"`` or ``"exponential"`` (mgwr's kernels).
    fixed : False (default) for an adaptive, nearest-neighbour bandwidth.
    criterion : ``"AICc"`` (default), ``"AIC"``, ``"BIC"`` or ``"CV"``.
    spherical : True: ``coords`` are (lon, lat) degrees, great-circle distances in km (mgwr's
        haversine); False: projected (x, y) coordinates, Euclidean distances.
    bw_min, bw_max : optional search bounds passed to ``Sel_BW.search`` (mgwr's default lower
        bound for an adaptive kernel is 40 + 2 x the number of parameters; a warning is logged
        when the selection stops there).
    n_jobs : joblib workers of mgwr's local fits (1 avoids process start-up on small n).

    Fitted attributes: ``bandwidth_``, ``aicc_``, ``params_`` (n, k+1; intercept in column 0),
    ``fitted_`` (n,), ``resid_`` (n,), ``hat_trace_`` (tr S), ``r2_`` (of the fit),
    ``fit_seconds_``, ``results_`` (the ``mgwr`` results object, for its full diagnostics).
    """

    def __init__(self, bw: float | None = None, *, kernel: str = "bisquare", fixed: bool = False,
                 criterion: str = "AICc", spherical: bool = True, bw_min: float | None = None,
                 bw_max: float | None = None, n_jobs: int = 1):
        if kernel not in ("bisquare", "gaussian", "exponential"):
            raise ValueError(f"kernel must be 'bisquare', 'gaussian' or 'exponential', got {kernel!r}")
        if criterion not in ("AICc", "AIC", "BIC", "CV"):
            raise ValueError(f"criterion must be one of AICc, AIC, BIC, CV, got {criterion!r}")
        self.bw = bw
        self.kernel = kernel
        self.fixed = fixed
        self.criterion = criterion
        self.spherical = spherical
        self.bw_min = bw_min
        self.bw_max = bw_max
        self.n_jobs = n_jobs
        self.results_ = None

    @property
    def config(self) -> dict:
        """The settings, as a printable dict (for tables and logs)."""
        return {"library": "mgwr", "bw": self.bw, "kernel": self.kernel, "fixed": self.fixed,
                "criterion": self.criterion, "spherical": self.spherical,
                "bw_min": self.bw_min, "bw_max": self.bw_max}

    def _model(self, coords: np.ndarray, X: np.ndarray, y: np.ndarray, bw: float):
        from mgwr.gwr import GWR as _MGWR

        return _MGWR(coords, y[:, None], X, bw, kernel=self.kernel, fixed=self.fixed,
                     spherical=self.spherical, n_jobs=self.n_jobs)

    def fit(self, coords, X, y) -> "GWR":
        """Select the bandwidth (unless given) and calibrate the local regressions."""
        from mgwr.sel_bw import Sel_BW

        coords, X, y = check_spatial_inputs(coords, X, y, spherical=self.spherical,
                                            min_rows=X.shape[1] + 3 if np.ndim(X) == 2 else 4)
        if np.unique(coords, axis=0).shape[0] < coords.shape[0]:
            raise ValueError("GWR needs one observation per location: coords has duplicates "
                             "(average repeated times first, GPP paper 4.3)")
        const = np.flatnonzero(np.ptp(X, axis=0) == 0)
        if const.size:
            raise ValueError(f"X column(s) {const.tolist()} are constant (value "
                             f"{X[0, const[0]]:g}): GWR adds its own intercept, which such a "
                             "column would duplicate; drop it from X")
        t0 = time.perf_counter()
        bw = self.bw
        if bw is None:
            sel = Sel_BW(coords, y[:, None], X, kernel=self.kernel, fixed=self.fixed,
                         spherical=self.spherical, n_jobs=self.n_jobs)
            kw = {}
            if self.bw_max is not None:
                kw["bw_max"] = self.bw_max
            default_min = 40 + 2 * (X.shape[1] + 1)  # mgwr's own lower end (adaptive kernel)
            bw_min = self.bw_min
            if bw_min is None and not self.fixed and default_min >= len(y):
                # mgwr's lower end needs more observations than there are: search from the
                # smallest neighbourhood that can hold a local regression
                bw_min = X.shape[1] + 3
                LOG.info("GWR: %d observations are fewer than mgwr's lowest bandwidth (%d "
                         "neighbours); searching from %d", len(y), default_min, bw_min)
                kw.setdefault("bw_max", len(y))
            while True:
                if bw_min is not None:
                    kw["bw_min"] = bw_min
                try:
                    bw = float(sel.search(criterion=self.criterion, **kw))
                    break
                except np.linalg.LinAlgError:
                    # small neighbourhoods can be locally collinear (a covariate constant over a
                    # desert or a polar night): widen the lower end of the search and retry
                    start = default_min if bw_min is None else bw_min
                    if self.fixed or start >= len(y):
                        raise ValueError("GWR: a local regression is singular (locally collinear "
                                         "covariates) at every bandwidth tried; drop collinear "
                                         "covariates") from None
                    bw_min = min(2 * start, len(y))
                    LOG.warning("GWR: local regressions with %g neighbours are singular; "
                                "searching from %g", start, bw_min)
            self.bw_min_used_ = bw_min
            lo = sel.search_params.get("bw_min") or (40 + 2 * (X.shape[1] + 1))
            if not self.fixed and bw <= float(lo) + 1:
                LOG.warning("GWR: the selected bandwidth (%g neighbours) sits on the lower end of "
                            "the search (%g; mgwr's default is 40 + 2 x parameters): pass a "
                            "smaller bw_min to search further", bw, float(lo))
        elif not self.fixed and not (X.shape[1] + 1 < bw <= len(y)):
            raise ValueError(f"an adaptive bandwidth is a neighbour count in ({X.shape[1] + 1}, "
                             f"{len(y)}], got {bw}")
        res = self._model(coords, X, y, bw).fit()
        self.fit_seconds_ = time.perf_counter() - t0
        self.results_ = res
        self._coords, self._X, self._y = coords, X, y
        self.bandwidth_ = float(bw)
        self.params_ = np.asarray(res.params)
        self.fitted_ = np.asarray(res.predy).reshape(-1)
        self.resid_ = np.asarray(res.resid_response).reshape(-1)
        self.hat_trace_ = float(res.tr_S)
        self.aicc_ = float(res.aicc)
        self.r2_ = float(res.R2)
        return self

    def _check_fitted(self) -> None:
        if self.results_ is None:
            raise RuntimeError("GWR is not fitted: call fit(coords, X, y) first")

    def local_coefficients(self, coords) -> np.ndarray:
        """Local coefficients (m, k+1) at ``coords``: the fitted ones at the training places,
        a local regression on the training data (same bandwidth) anywhere else."""
        self._check_fitted()
        coords = np.asarray(coords, dtype=np.float64)
        if coords.shape == self._coords.shape and np.array_equal(coords, self._coords):
            return self.params_.copy()
        coords, _, _ = check_spatial_inputs(coords, np.zeros((len(coords), 1)),
                                            spherical=self.spherical)
        # mgwr's own kernel and local estimator, point by point. (``mgwr.gwr.GWR.predict``
        # indexes the calibration X with the prediction index and fails when there are more
        # prediction points than observations, so its building blocks are called directly.)
        from mgwr.kernels import Kernel
        from spglm.iwls import _compute_betas_gwr

        Xc = np.hstack([np.ones((len(self._y), 1)), self._X])
        out = np.empty((len(coords), Xc.shape[1]))
        for i in range(len(coords)):
            wi = Kernel(i, self._coords, self.bandwidth_, fixed=self.fixed, function=self.kernel,
                        points=coords, spherical=self.spherical).kernel
            out[i] = _compute_betas_gwr(self._y[:, None], Xc, wi.reshape(-1, 1))[0].ravel()
        return out

    def predict(self, coords, X) -> np.ndarray:
        """Predictions (m,) from the local coefficients at ``coords`` and covariates ``X``.

        At the training places with new covariates (for instance another year), this is
        ``params_ @ [1, x]``; at new places each point gets its own local regression.
        """
        self._check_fitted()
        coords, X, _ = check_spatial_inputs(coords, X, spherical=self.spherical)
        if X.shape[1] != self._X.shape[1]:
            raise ValueError(f"X has {X.shape[1]} columns, the model was fitted on {self._X.shape[1]}")
        beta = self.local_coefficients(coords)
        return beta[:, 0] + np.einsum("ij,ij->i", X, beta[:, 1:])
