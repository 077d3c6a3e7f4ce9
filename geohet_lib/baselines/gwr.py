"""Geographically weighted regression equal to PySAL ``mgwr``, fast (GPP paper 4.3, Table 1 "GWR").

GWR (Fotheringham, Brunsdon & Charlton 2002; Fotheringham et al. 2009) fits one weighted least
squares regression per location, weighting every observation by a kernel of its distance to
that location:

    beta(u_i, v_i) = (X^T W_i X)^{-1} X^T W_i y,    W_i = diag(K(d_ij / h_i))

:class:`GWR` gives it the project's fit / predict interface with two engines:

* ``engine="geohet"`` (the default, ``"auto"``, for the adaptive bisquare kernel): the local fits
  of :mod:`geohet_lib.baselines.local_regression` -- only the q nearest neighbours carry weight,
  found by a k-d tree, the local systems solved in batches (PyTorch; CUDA when ``device`` says
  so) -- and **mgwr's own golden-section search** (``mgwr.search.golden_section`` with
  ``Sel_BW``'s bounds, rounding, tolerance and iteration cap), so the same bandwidth comes out.
  Coefficients, standard errors, t-values, tr(S), AICc and the other diagnostics equal mgwr's to
  rounding (:class:`~geohet_lib.baselines.gwr_results.GWRResults`; the tests hold them to 1e-6
  on four datasets and GWR4's published Georgia output).
* ``engine="mgwr"``: mgwr itself (Oshan et al. 2019), O(n^2) per fit in a Python loop -- the
  reference, and the path of the kernels the fast engine does not cover (Gaussian,
  exponential, and fixed-distance bandwidths, whose weights are not truncated at a neighbour
  count); ``"auto"`` picks it for those and logs so.

The defaults follow
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

from ..geo import EARTH_RADIUS_KM
from .gwr_results import GWRResults
from .local_regression import AdaptiveBisquare, criterion, lonlat_to_xyz

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



GOLDEN_DELTA = 0.38197  # mgwr.sel_bw.Sel_BW._bw: 1 - (sqrt(5) - 1) / 2, rounded as mgwr does


def mgwr_lower_bound(n_params: int) -> int:
    """mgwr's lowest adaptive bandwidth, ``40 + 2 x parameters`` (``Sel_BW._init_section``)."""
    return 40 + 2 * n_params


class _MgwrEngine:
    """The reference path: ``mgwr.sel_bw.Sel_BW`` and ``mgwr.gwr.GWR`` themselves."""

    name = "mgwr"

    def __init__(self, model: "GWR", coords: np.ndarray, X: np.ndarray, y: np.ndarray):
        self.m, self.coords, self.X, self.y = model, coords, X, y

    def search(self, criterion_name: str, bw_min: float | None, bw_max: float | None) -> float:
        from mgwr.sel_bw import Sel_BW

        sel = Sel_BW(self.coords, self.y[:, None], self.X, kernel=self.m.kernel, fixed=self.m.fixed,
                     spherical=self.m.spherical, n_jobs=self.m.n_jobs)
        kw = {k: v for k, v in (("bw_min", bw_min), ("bw_max", bw_max)) if v is not None}
        return float(sel.search(criterion=criterion_name, **kw))

    def fit(self, bw: float):
        from mgwr.gwr import GWR as _MGWR

        return _MGWR(self.coords, self.y[:, None], self.X, bw, kernel=self.m.kernel,
                     fixed=self.m.fixed, spherical=self.m.spherical, n_jobs=self.m.n_jobs,
                     sigma2_v1=self.m.sigma2_v1).fit()

    def local_coefficients(self, coords: np.ndarray, bw: float) -> np.ndarray:
        # mgwr's own kernel and local estimator, point by point. (``mgwr.gwr.GWR.predict``
        # indexes the calibration X with the prediction index and fails when there are more
        # prediction points than observations, so its building blocks are called directly.)
        from mgwr.kernels import Kernel
        from spglm.iwls import _compute_betas_gwr

        Xc = np.hstack([np.ones((len(self.y), 1)), self.X])
        out = np.empty((len(coords), Xc.shape[1]))
        for i in range(len(coords)):
            wi = Kernel(i, self.coords, bw, fixed=self.m.fixed, function=self.m.kernel,
                        points=coords, spherical=self.m.spherical).kernel
            out[i] = _compute_betas_gwr(self.y[:, None], Xc, wi.reshape(-1, 1))[0].ravel()
        return out


class _GeohetEngine:
    """k-d-tree local fits (:class:`AdaptiveBisquare`) behind mgwr's golden-section search."""

    name = "geohet"

    def __init__(self, model: "GWR", coords: np.ndarray, X: np.ndarray, y: np.ndarray):
        self.m, self.y = model, y
        self.Xd = np.hstack([np.ones((len(y), 1)), X])
        self.points = self.embed(coords)
        self.core = AdaptiveBisquare(
            self.points, self.Xd, y, great_circle_radius=EARTH_RADIUS_KM if model.spherical else None,
            device=model.device, progress=model.progress)
        self.history: list[tuple[int, float]] = []

    def embed(self, coords: np.ndarray) -> np.ndarray:
        return lonlat_to_xyz(coords) if self.m.spherical else np.array(coords, dtype=np.float64)

    def score(self, bw: float) -> float:
        """The criterion of the local fits with ``int(bw)`` neighbours (mgwr's ``Kernel``)."""
        f = self.core.fit(None, int(bw), self.Xd, desc=f"GWR bw={int(bw)}")
        resid = self.y - np.einsum("ij,ij->i", self.Xd, f.beta)
        cv_sum = float(np.sum((resid / (1.0 - f.influence)) ** 2))
        s = criterion(self.m.criterion, len(self.y), float(resid @ resid), float(f.influence.sum()), cv_sum)
        self.history.append((int(bw), s))
        return s

    def search(self, criterion_name: str, bw_min: float | None, bw_max: float | None) -> float:
        """``Sel_BW.search(search_method='golden_section')`` for an adaptive kernel: bounds
        [40 + 2 x parameters, n] unless given, integer rounding, tol 1e-6, 200 iterations."""
        from mgwr.search import golden_section

        a = mgwr_lower_bound(self.Xd.shape[1]) if bw_min is None else bw_min
        c = len(self.y) if bw_max is None else bw_max
        bw, _, _ = golden_section(a, c, GOLDEN_DELTA, self.score, 1.0e-6, 200, bw_max, int_score=True)
        return float(bw)

    def fit(self, bw: float) -> GWRResults:
        f = self.core.fit(None, int(bw), self.Xd, cov=True, desc="GWR fit")
        return GWRResults(self.core, self.points, self.Xd, self.y, int(bw), f, self.m.sigma2_v1)

    def local_coefficients(self, coords: np.ndarray, bw: float) -> np.ndarray:
        return self.core.fit(self.embed(coords), int(bw), desc="GWR predict").beta


class GWR:
    """GWR equal to ``mgwr``'s, with a fast engine for the adaptive bisquare kernel.

    Parameters
    ----------
    bw : fixed bandwidth (neighbour count when ``fixed=False``, distance when ``fixed=True``);
        ``None`` selects it by ``criterion`` with mgwr's golden-section search.
    kernel : ``"bisquare"`` (default), ``"gaussian"`` or ``"exponential"`` (mgwr's kernels).
    fixed : False (default) for an adaptive, nearest-neighbour bandwidth.
    criterion : ``"AICc"`` (default), ``"AIC"``, ``"BIC"`` or ``"CV"``.
    spherical : True: ``coords`` are (lon, lat) degrees, great-circle distances in km (mgwr's
        haversine); False: projected (x, y) coordinates, Euclidean distances.
    bw_min, bw_max : optional search bounds (mgwr's default lower bound for an adaptive kernel is
        40 + 2 x the number of parameters; a warning is logged when the selection stops there).
    engine : ``"auto"`` (default: ``"geohet"`` for the adaptive bisquare kernel, else ``"mgwr"``),
        ``"geohet"`` or ``"mgwr"`` (see the module docstring).
    device : torch device of the geohet engine's arithmetic ("cpu", "cuda").
    sigma2_v1 : mgwr's choice of the residual variance denominator (n - tr S; False: n - 2 tr S
        + tr S'S, as GWR4).
    n_jobs : joblib workers of mgwr's local fits (engine "mgwr" only).
    progress : progress bars over the geohet engine's blocks.

    Fitted attributes: ``bandwidth_``, ``aicc_``, ``params_`` (n, k+1; intercept in column 0),
    ``bse_``, ``tvalues_``, ``fitted_`` (n,), ``resid_`` (n,), ``hat_trace_`` (tr S), ``r2_``,
    ``fit_seconds_``, ``engine_`` and ``results_`` (a results object with mgwr's names: ``params``,
    ``bse``, ``tvalues``, ``influ``, ``tr_S``, ``aicc``, ``adj_alpha``, ``localR2``, ...).
    """

    def __init__(self, bw: float | None = None, *, kernel: str = "bisquare", fixed: bool = False,
                 criterion: str = "AICc", spherical: bool = True, bw_min: float | None = None,
                 bw_max: float | None = None, engine: str = "auto", device: str = "cpu",
                 sigma2_v1: bool = True, n_jobs: int = 1, progress: bool = False):
        if kernel not in ("bisquare", "gaussian", "exponential"):
            raise ValueError(f"kernel must be 'bisquare', 'gaussian' or 'exponential', got {kernel!r}")
        if criterion not in ("AICc", "AIC", "BIC", "CV"):
            raise ValueError(f"criterion must be one of AICc, AIC, BIC, CV, got {criterion!r}")
        if engine not in ("auto", "geohet", "mgwr"):
            raise ValueError(f"engine must be 'auto', 'geohet' or 'mgwr', got {engine!r}")
        if engine == "geohet" and (fixed or kernel != "bisquare"):
            raise ValueError("engine='geohet' covers the adaptive bisquare kernel (kernel='bisquare', "
                             f"fixed=False); for kernel={kernel!r}, fixed={fixed} use engine='mgwr'")
        self.bw = bw
        self.kernel = kernel
        self.fixed = fixed
        self.criterion = criterion
        self.spherical = spherical
        self.bw_min = bw_min
        self.bw_max = bw_max
        self.engine = engine
        self.device = device
        self.sigma2_v1 = sigma2_v1
        self.n_jobs = n_jobs
        self.progress = progress
        self.results_ = None

    @property
    def engine_name(self) -> str:
        """The engine ``engine`` resolves to for this kernel."""
        if self.engine != "auto":
            return self.engine
        return "geohet" if (self.kernel == "bisquare" and not self.fixed) else "mgwr"

    @property
    def config(self) -> dict:
        """The settings, as a printable dict (for tables and logs)."""
        return {"library": "geohet (mgwr search)" if self.engine_name == "geohet" else "mgwr",
                "bw": self.bw, "kernel": self.kernel, "fixed": self.fixed,
                "criterion": self.criterion, "spherical": self.spherical,
                "bw_min": self.bw_min, "bw_max": self.bw_max}

    def _make_engine(self, coords, X, y):
        if self.engine == "auto" and self.engine_name == "mgwr":
            LOG.info("GWR: kernel=%s, fixed=%s is computed by mgwr (the fast engine covers the "
                     "adaptive bisquare kernel)", self.kernel, self.fixed)
        cls = _GeohetEngine if self.engine_name == "geohet" else _MgwrEngine
        return cls(self, coords, X, y)

    def fit(self, coords, X, y) -> "GWR":
        """Select the bandwidth (unless given) and calibrate the local regressions."""
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
        engine = self._make_engine(coords, X, y)
        bw = self.bw
        if bw is None:
            bw = self._select(engine, X.shape[1] + 1, len(y))
        elif not self.fixed and not (X.shape[1] + 1 < bw <= len(y)):
            raise ValueError(f"an adaptive bandwidth is a neighbour count in ({X.shape[1] + 1}, "
                             f"{len(y)}], got {bw}")
        try:
            res = engine.fit(bw)
        except np.linalg.LinAlgError as err:
            raise ValueError(f"GWR: the local regressions with bandwidth {bw:g} are singular: {err}; "
                             "drop collinear covariates or widen the bandwidth") from None
        self.fit_seconds_ = time.perf_counter() - t0
        self.results_ = res
        self._engine, self._coords, self._X, self._y = engine, coords, X, y
        self.engine_ = engine.name
        self.bandwidth_ = float(bw)
        self.params_ = np.asarray(res.params)
        self.bse_ = np.asarray(res.bse)
        self.tvalues_ = np.asarray(res.tvalues)
        self.fitted_ = np.asarray(res.predy).reshape(-1)
        self.resid_ = np.asarray(res.resid_response).reshape(-1)
        self.hat_trace_ = float(res.tr_S)
        self.aicc_ = float(res.aicc)
        self.r2_ = float(res.R2)
        return self

    def _select(self, engine, n_params: int, n: int) -> float:
        """mgwr's golden-section search; local collinearity widens its lower end (and retries)."""
        default_min = mgwr_lower_bound(n_params)
        bw_min, bw_max = self.bw_min, self.bw_max
        if bw_min is None and not self.fixed and default_min >= n:
            # mgwr's lower end needs more observations than there are: search from the
            # smallest neighbourhood that can hold a local regression
            bw_min = n_params + 2
            LOG.info("GWR: %d observations are fewer than mgwr's lowest bandwidth (%d "
                     "neighbours); searching from %d", n, default_min, bw_min)
            bw_max = n if bw_max is None else bw_max
        while True:
            try:
                bw = engine.search(self.criterion, bw_min, bw_max)
                break
            except np.linalg.LinAlgError as err:
                # small neighbourhoods can be locally collinear (a covariate constant over a
                # desert or a polar night): widen the lower end of the search and retry
                start = default_min if bw_min is None else bw_min
                if self.fixed or start >= n:
                    raise ValueError("GWR: a local regression is singular (locally collinear "
                                     f"covariates) at every bandwidth tried ({err}); drop "
                                     "collinear covariates") from None
                bw_min = min(2 * start, n)
                LOG.warning("GWR: the search from %g neighbours met singular local "
                            "regressions (%s); searching from %g", start, err, bw_min)
        self.bw_min_used_ = bw_min
        lo = default_min if bw_min is None else bw_min
        if not self.fixed and bw <= float(lo) + 1:
            LOG.warning("GWR: the selected bandwidth (%g neighbours) sits on the lower end of "
                        "the search (%g; mgwr's default is 40 + 2 x parameters): pass a "
                        "smaller bw_min to search further", bw, float(lo))
        return bw

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
        return self._engine.local_coefficients(coords, self.bandwidth_)

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
