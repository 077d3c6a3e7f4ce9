"""Scalable geographically and temporally weighted regression (GTWR), GPP paper section 4.3.

The GPP paper compares GWR, GTWR, GNNWR and GTNNWR (section 4.3). GTWR (Huang, Wu & Barry 2010,
"Geographically and temporally weighted regression for modeling spatio-temporal variation in house
prices", IJGIS 24(3); Fotheringham, Crespo & Yao 2015, "Geographical and temporal weighted regression
(GTWR)", Geographical Analysis 47(4)) fits, at every focal point i, a weighted least-squares
regression whose weights decay with the *space-time* distance to i.

Conventions (identical to the ``mgtwr`` package, ``mgtwr/model.py::GTWR`` + ``kernel.py::GTWRKernel``):

* space-time coordinate ``[coords, sqrt(tau) * t]`` with Euclidean distance (``tau = 0``: space only);
* adaptive bandwidth ``bw = q`` (a neighbour count): the kernel bandwidth distance of focal point i is
  its q-th smallest distance times ``eps = 1.0000001`` (``np.partition(d, q-1)[q-1] * eps``);
* bisquare kernel ``w = (1 - (d/h)^2)^2``, set to 0 where ``d >= h``; the focal point is its own
  neighbour (distance 0, weight 1);
* local estimate ``beta_i = (X'W_iX)^{-1} X'W_i y`` and hat diagonal
  ``S_ii = x_i' (X'W_iX)^{-1} x_i * w_ii`` (``w_ii = 1``).

mgtwr computes, for every focal point, distances and weights to *all* n points (O(n^2) per fit, not
feasible for 6,000 locations x 46 weeks = 276k observations). Because the adaptive bisquare kernel
gives zero weight beyond the q-th neighbour, a k-d tree query (:class:`scipy.spatial.cKDTree`) of the
q nearest neighbours gives *exactly the same* local regressions at O(n q k^2) cost. Ties at the q-th
distance (points with ``d_q <= d < d_q * eps``, e.g. repeated locations when ``tau = 0``) get a
positive weight in mgtwr too, so the neighbour query is widened until every such point is included.
The neighbour search and the batched local solves are those of GWR: one core,
:class:`geohet_lib.baselines.local_regression.AdaptiveBisquare`, on space-time points here and on
spatial points there.

Geometry
--------
``spherical=True`` (default): ``coords`` are (lon, lat) in degrees and the spatial part of the
space-time coordinate is the 3-D Cartesian position on a sphere of radius 6371.0 km
(:data:`geohet_lib.geo.EARTH_RADIUS_KM`, mgwr's radius). The spatial distance is then the *chord*
in km, ``2R sin(s/2R)`` for a great-circle distance s (:func:`geohet_lib.geo.great_circle_to_chord`):
within 0.25% of s up to 1,500 km (1% up to ~3,100 km); the space-time distance stays Euclidean, so a k-d tree applies and points on
both sides of the antimeridian are neighbours. ``spherical=False``: planar (x, y) coordinates used as
given (results then equal mgtwr's).

``time_period=None``: linear time, exactly mgtwr's ``sqrt(tau) * t`` column. ``time_period=P``:
cyclic time (with P = 46, week 46 is next to week 1), embedded as the 2-D point
``sqrt(tau) * (P / 2pi) * (cos 2pi t/P, sin 2pi t/P)``; its chord distance is
``(P/pi) sin(pi |dt| / P) ~ |dt|`` for small gaps.

Selection (when ``bw`` or ``tau`` is None)
----------------------------------------
The criterion (default AICc) is minimised by a nested golden-section search: an *inner* integer
golden-section search over ``bw`` in ``bw_bounds`` for a given tau (interior points kept on integers,
results cached, the last <= 4 candidates evaluated exhaustively, so a unimodal criterion gives its
exact integer minimiser) and an *outer* golden-section search over ``log(tau)`` in ``tau_bounds``
(stopping when the log-bracket is narrower than ``log_tau_tol`` = 0.05, i.e. tau within ~5%).
mgtwr's ``twostep_golden_section`` nests the other way round (outer bw, inner tau on a *linear*
[0, 4] grid rounded to 1 decimal) which is scale dependent (tau has units of distance^2/time^2);
searching log(tau) in data-derived bounds is scale free. With only one of bw/tau unknown, only that
one-dimensional search runs.

Default bounds: ``bw`` in ``[k + 3, min(n, 1000)]`` (k = number of covariates, so at least
``k + 2`` = parameters + 1 neighbours); ``tau`` such that ``sqrt(tau) * T`` spans 0.01x to 100x ``S``,
where ``S`` is the RMS distance of the (embedded) locations to their centroid and ``T`` the RMS
distance of the (embedded, tau = 1) times to theirs: ``tau in [(0.01 S/T)^2, (100 S/T)^2]``.
A warning is logged when an optimum sits on a bound.

``n_focal``: when n > n_focal, the RSS and tr(S) (and the CV sum) of the criterion are estimated from
a fixed random subset of n_focal focal points (drawn once with ``seed``) and scaled by n / n_focal;
the neighbours of those focal points are still searched among all n points. Exact when
n <= n_focal. The final fit always uses every point.

Criteria: ``"AICc"`` (default) is the Gaussian AICc of Fotheringham, Brunsdon & Charlton (2002,
eq. 2.33) as in ``mgwr.diagnostics.get_AICc``: ``-2 llf + 2 n (tr S + 1) / (n - tr S - 2)`` with
``llf = -n/2 (log(2 pi RSS / n) + 1)``. mgtwr (``mgtwr/diagnosis.py::get_AICc``) uses instead
``AIC + 2 tr S (tr S + 1) / (n - tr S - 1)`` with ``AIC = -2 llf + 2 (tr S + 1)``; it is available
as ``criterion="AICc_mgtwr"`` and reported as ``aicc_mgtwr_``. Also ``"AIC"``, ``"BIC"``
(``-2 llf + (tr S + 1) log n``) and ``"CV"`` (``sum e_i^2 / (1 - S_ii)^2 / n``), as in mgtwr.

Singular local systems: the batched LU inverse of the core (mgtwr uses ``scipy.linalg.solve``, so
well-conditioned fits agree to rounding); a focal point whose local normal matrix is singular (a zero
pivot, or a 1-norm condition number above 1/eps, e.g. a covariate constant over the neighbourhood)
falls back to the Moore-Penrose pseudo-inverse (minimum-norm solution); the number of such points is
stored in ``n_singular_`` and a warning is logged.

>>> m = GTWR(bw=None, tau=None, spherical=True, time_period=46).fit(lonlat, week, X, y)
>>> m.bandwidth_, m.tau_, m.aicc_
>>> m.predict(lonlat_new, week_new, X_new)
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable

import numpy as np

from .local_regression import CRITERIA, EPS, AdaptiveBisquare, lonlat_to_xyz
from .local_regression import criterion as gtwr_criterion

__all__ = ["GTWR", "EPS", "CRITERIA", "lonlat_to_xyz", "gtwr_criterion"]

LOG = logging.getLogger("geohet")

GOLDEN = 0.38196601125010515  # (3 - sqrt 5) / 2, mgtwr's ``delta = 0.38197``


def _as_2d(a: Any, name: str, ncol: int | None = None) -> np.ndarray:
    arr = np.asarray(a, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {arr.shape}")
    if ncol is not None and arr.shape[1] != ncol:
        raise ValueError(f"{name} must have {ncol} columns, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _as_1d(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=float)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array (or one column), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _as_int(v: Any, name: str) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer, float, np.floating)):
        raise ValueError(f"{name} must be an integer neighbour count, got {v!r}")
    if not float(v).is_integer():
        raise ValueError(f"{name} must be an integer neighbour count, got {v!r}")
    return int(v)


class GTWR:
    """Geographically and temporally weighted regression with an adaptive bisquare kernel.

    Huang, Wu & Barry (2010); Fotheringham, Crespo & Yao (2015); the GTWR baseline of the GPP paper,
    section 4.3. Same local regressions as ``mgtwr.model.GTWR(..., kernel='bisquare', fixed=False)``
    but computed on the q nearest space-time neighbours (k-d tree), see the module docstring.

    Parameters
    ----------
    bw : adaptive bandwidth (number of nearest space-time neighbours, self included); None: selected.
    tau : space-time scale (the time coordinate is multiplied by sqrt(tau)); None: selected.
    spherical : coords are (lon, lat) degrees embedded on the 6371 km sphere (chord distance, km);
        False: planar coordinates used as given.
    time_period : None for linear time; P for cyclic time of period P (e.g. 46 weeks).
    criterion : "AICc" (default, mgwr formula), "AICc_mgtwr", "AIC", "BIC" or "CV".
    bw_bounds, tau_bounds : search ranges (inclusive); None: defaults of the module docstring.
    n_focal : focal-point subsample size for the selection criterion (None: always exact).
    device : torch device of the local solves ("cpu", "cuda").
    seed : seed of the focal subsample.
    progress : show a tqdm bar over blocks.
    """

    def __init__(
        self,
        bw: int | None = None,
        tau: float | None = None,
        *,
        spherical: bool = True,
        time_period: float | None = None,
        criterion: str = "AICc",
        bw_bounds: tuple[int, int] | None = None,
        tau_bounds: tuple[float, float] | None = None,
        n_focal: int | None = 20000,
        device: str = "cpu",
        seed: int = 0,
        progress: bool = False,
        log_tau_tol: float = 0.05,
    ) -> None:
        if criterion not in CRITERIA:
            raise ValueError(f"unknown criterion {criterion!r}; expected one of {CRITERIA}")
        if bw is not None:
            bw = _as_int(bw, "bw")
        if tau is not None:
            tau = float(tau)
            if not math.isfinite(tau) or tau < 0:
                raise ValueError(f"tau must be a finite number >= 0, got {tau!r}")
        if time_period is not None:
            time_period = float(time_period)
            if not math.isfinite(time_period) or time_period <= 0:
                raise ValueError(f"time_period must be > 0, got {time_period!r}")
        if n_focal is not None and int(n_focal) < 1:
            raise ValueError(f"n_focal must be >= 1 or None, got {n_focal!r}")
        if not log_tau_tol > 0:
            raise ValueError("log_tau_tol must be > 0")
        self.bw = bw
        self.tau = tau
        self.spherical = bool(spherical)
        self.time_period = time_period
        self.criterion = criterion
        self.bw_bounds = bw_bounds
        self.tau_bounds = tau_bounds
        self.n_focal = None if n_focal is None else int(n_focal)
        self.device = device
        self.seed = seed
        self.progress = bool(progress)
        self.log_tau_tol = float(log_tau_tol)

    @property
    def config(self) -> dict[str, Any]:
        """The settings, as a printable dict (for tables and logs)."""
        keys = ("bw", "tau", "spherical", "time_period", "criterion", "bw_bounds", "tau_bounds",
                "n_focal", "log_tau_tol", "seed")
        return {"model": "GTWR", "kernel": "adaptive bisquare",
                **{k: getattr(self, k) for k in keys}}

    # ------------------------------------------------------------------ geometry
    def _check_coords_t(self, coords: Any, t: Any) -> tuple[np.ndarray, np.ndarray]:
        coords = _as_2d(coords, "coords", 2)
        t = _as_1d(t, "t")
        if len(t) != len(coords):
            raise ValueError(f"coords and t have different lengths ({len(coords)} vs {len(t)})")
        if self.spherical and np.any(np.abs(coords[:, 1]) > 90.0):
            raise ValueError("spherical=True: coords must be (lon, lat) degrees with |lat| <= 90")
        return coords, t

    def _space(self, coords: np.ndarray) -> np.ndarray:
        return lonlat_to_xyz(coords) if self.spherical else np.array(coords, dtype=float)

    def _time(self, t: np.ndarray) -> np.ndarray:
        """Time embedding for tau = 1 (one column, or two for cyclic time)."""
        if self.time_period is None:
            return t.reshape(-1, 1).astype(float)
        P = self.time_period
        ang = 2.0 * np.pi * t / P
        return (P / (2.0 * np.pi)) * np.column_stack([np.cos(ang), np.sin(ang)])

    @staticmethod
    def _stack(space: np.ndarray, time_: np.ndarray, tau: float) -> np.ndarray:
        if tau == 0:
            return np.ascontiguousarray(space)  # mgtwr: tau == 0 -> spatial coordinates only
        return np.ascontiguousarray(np.hstack([space, np.sqrt(tau) * time_]))

    # ------------------------------------------------------------------ local fits
    def _core(self, pts: np.ndarray) -> AdaptiveBisquare:
        """The shared local-regression core over space-time points ``pts`` (Euclidean)."""
        return AdaptiveBisquare(pts, self._Xd, self._y, device=self.device, progress=self.progress)

    @staticmethod
    def _fit(core: AdaptiveBisquare, pts: np.ndarray, q: int, focal_X: np.ndarray | None,
             desc: str):
        f = core.fit(pts, q, focal_X, on_singular="pinv", desc=desc)
        return f.beta, f.influence, int(f.singular.sum())

    # ------------------------------------------------------------------ criterion
    def _evaluate(self, bw: int, tau: float) -> float:
        key = (int(bw), float(tau))
        if key in self._cache:
            return self._cache[key]
        core = self._core_for(tau)
        focal = self._focal
        betas, hat, _ = self._fit(core, core.points[focal], bw, self._Xd[focal], desc=f"bw={bw}")
        resid = self._y[focal] - np.einsum("cp,cp->c", self._Xd[focal], betas)
        scale = self._n / len(focal)
        rss = float(np.sum(resid ** 2)) * scale
        tr_s = float(np.sum(hat)) * scale
        cv_sum = float(np.sum(resid ** 2 / (1.0 - hat) ** 2)) * scale if self.criterion == "CV" else None
        score = gtwr_criterion(self.criterion, self._n, rss, tr_s, cv_sum)
        self._cache[key] = score
        self.search_history_.append({"bw": int(bw), "tau": float(tau), "score": score,
                                     "rss": rss, "tr_S": tr_s})
        LOG.debug("GTWR bw=%d tau=%.6g %s=%.6f", bw, tau, self.criterion, score)
        return score

    def _core_for(self, tau: float) -> AdaptiveBisquare:
        if self._core_cache is None or self._core_cache[0] != tau:
            pts = self._stack(self._space_emb, self._time_emb, tau)
            self._core_cache = (tau, self._core(pts))
        return self._core_cache[1]

    # ------------------------------------------------------------------ searches
    def _golden_bw(self, tau: float, lo: int, hi: int) -> tuple[int, float]:
        """Integer golden-section search of the criterion over bw in [lo, hi] (inclusive)."""
        f: Callable[[int], float] = lambda b: self._evaluate(b, tau)  # noqa: E731
        a, c = lo, hi

        def interior(a: int, c: int) -> tuple[int, int]:
            b = a + max(1, int(round(GOLDEN * (c - a))))
            d = c - max(1, int(round(GOLDEN * (c - a))))
            if d <= b:
                d = b + 1
            return b, d

        if c - a > 3:
            b, d = interior(a, c)
            while c - a > 3:
                if f(b) <= f(d):
                    c, d = d, b
                    b = a + int(round(GOLDEN * (c - a)))
                else:
                    a, b = b, d
                    d = c - int(round(GOLDEN * (c - a)))
                if not (a < b < d < c):
                    if c - a <= 3:
                        break
                    b, d = interior(a, c)
        cand = list(range(a, c + 1))
        scores = [f(b) for b in cand]
        j = int(np.argmin(scores))
        return cand[j], scores[j]

    def _golden_tau(self, bw: int | None, lo: float, hi: float) -> tuple[int, float, float]:
        """Golden-section search over log(tau); for each tau the best bw (inner search if bw None)."""
        inner: dict[float, tuple[int, float]] = {}

        def g(log_tau: float) -> float:
            if log_tau not in inner:
                tau = float(np.exp(log_tau))
                if bw is None:
                    inner[log_tau] = self._golden_bw(tau, *self._bw_bounds)
                else:
                    inner[log_tau] = (bw, self._evaluate(bw, tau))
            return inner[log_tau][1]

        A, C = math.log(lo), math.log(hi)
        B = A + GOLDEN * (C - A)
        D = C - GOLDEN * (C - A)
        gB, gD = g(B), g(D)
        while C - A > self.log_tau_tol:
            if gB <= gD:
                C, D, gD = D, B, gB
                B = A + GOLDEN * (C - A)
                gB = g(B)
            else:
                A, B, gB = B, D, gD
                D = C - GOLDEN * (C - A)
                gD = g(D)
        best = min(inner, key=lambda k: inner[k][1])
        return inner[best][0], float(np.exp(best)), inner[best][1]

    def _default_tau_bounds(self) -> tuple[float, float] | None:
        S = float(np.sqrt(np.sum(np.var(self._space_emb, axis=0))))
        T = float(np.sqrt(np.sum(np.var(self._time_emb, axis=0))))
        if T == 0 or S == 0:
            return None
        return (0.01 * S / T) ** 2, (100.0 * S / T) ** 2

    # ------------------------------------------------------------------ public API
    def fit(self, coords: Any, t: Any, X: Any, y: Any) -> "GTWR":
        """Fit GTWR (selecting bw and/or tau when None) on observations at (coords, t)."""
        t0 = time.perf_counter()
        coords, t = self._check_coords_t(coords, t)
        X = _as_2d(X, "X")
        y = _as_1d(y, "y")
        n, k = X.shape
        if len(coords) != n or len(y) != n:
            raise ValueError(f"coords, t, X and y must have the same length "
                             f"(got {len(coords)}, {len(t)}, {n}, {len(y)})")
        q_min = k + 2
        if n < q_min:
            raise ValueError(f"need at least k+2={q_min} observations, got n={n}")
        if self.bw is not None and not (q_min <= self.bw <= n):
            raise ValueError(f"bw={self.bw} must be in [k+2={q_min}, n={n}]")
        if self.bw_bounds is not None:
            lo, hi = (_as_int(v, "bw_bounds") for v in self.bw_bounds)
            if not (q_min <= lo <= hi <= n):
                raise ValueError(f"bw_bounds={self.bw_bounds} must satisfy k+2={q_min} <= lo <= hi <= n={n}")
        else:
            lo, hi = min(q_min + 1, n), min(n, 1000)
        self._bw_bounds = (lo, hi)

        self._n = n
        self._Xd = np.ascontiguousarray(np.hstack([np.ones((n, 1)), X]))
        self._y = y
        self._space_emb = self._space(coords)
        self._time_emb = self._time(t)
        self._cache: dict[tuple[int, float], float] = {}
        self._core_cache: tuple[float, AdaptiveBisquare] | None = None
        self.search_history_: list[dict[str, float]] = []
        if self.n_focal is not None and n > self.n_focal:
            rng = np.random.default_rng(self.seed)
            self._focal = np.sort(rng.choice(n, size=self.n_focal, replace=False))
        else:
            self._focal = np.arange(n)

        bw, tau = self.bw, self.tau
        if tau is None:
            if self.tau_bounds is not None:
                tlo, thi = (float(v) for v in self.tau_bounds)
                if not (0 < tlo <= thi and math.isfinite(thi)):
                    raise ValueError(f"tau_bounds={self.tau_bounds} must satisfy 0 < lo <= hi < inf")
                tb: tuple[float, float] | None = (tlo, thi)
            else:
                tb = self._default_tau_bounds()
            if tb is None:
                # one time (tau irrelevant -> 0) or one location (any tau > 0 is equivalent -> 1)
                one_time = bool(np.all(self._time_emb == self._time_emb[0]))
                tau = 0.0 if one_time else 1.0
                LOG.info("GTWR: tau not identifiable from the data, using tau=%g", tau)
            else:
                self.tau_bounds_ = tb
                if tb[0] == tb[1]:
                    tau = tb[0]
                else:
                    bw, tau, _ = self._golden_tau(bw, *tb)
                    ltol = self.log_tau_tol
                    if math.log(tau) - math.log(tb[0]) <= ltol or math.log(tb[1]) - math.log(tau) <= ltol:
                        LOG.warning("GTWR: selected tau=%.6g is at the edge of tau_bounds=%s", tau, tb)
        if bw is None:
            bw, _ = self._golden_bw(tau, lo, hi)
        if (self.bw is None) and bw in (lo, hi) and lo < hi:
            LOG.warning("GTWR: selected bw=%d is on a bound of bw_bounds=(%d, %d)", bw, lo, hi)

        # final fit on every point
        core = self._core_for(tau)
        params, hat, n_sing = self._fit(core, core.points, bw, self._Xd, desc="GTWR fit")
        if n_sing:
            LOG.warning("GTWR: %d local systems were singular; pseudo-inverse used", n_sing)
        fitted = np.einsum("cp,cp->c", self._Xd, params)
        resid = y - fitted
        rss = float(np.sum(resid ** 2))
        tr_s = float(np.sum(hat))

        self.bandwidth_ = int(bw)
        self.tau_ = float(tau)
        self.params_ = params
        self.fitted_ = fitted
        self.resid_ = resid
        self.influence_ = hat
        self.hat_trace_ = tr_s
        self.rss_ = rss
        self.aicc_ = gtwr_criterion("AICc", n, rss, tr_s)
        self.aicc_mgtwr_ = gtwr_criterion("AICc_mgtwr", n, rss, tr_s)
        self.aic_ = gtwr_criterion("AIC", n, rss, tr_s)
        self.bic_ = gtwr_criterion("BIC", n, rss, tr_s)
        self.cv_ = float(np.sum(resid ** 2 / (1.0 - hat) ** 2)) / n
        tss = float(np.sum((y - y.mean()) ** 2))
        self.r2_ = 1.0 - rss / tss if tss > 0 else float("nan")
        self.n_singular_ = int(n_sing)
        self.n_features_in_ = k
        self._core_fitted = core
        # release selection scratch
        self._cache = {}
        self._core_cache = None
        del self._focal
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise RuntimeError("GTWR is not fitted; call fit() first")

    def local_coefficients(self, coords: Any, t: Any) -> np.ndarray:
        """Local coefficients (m, k+1) at (coords, t), intercept in column 0.

        Neighbours are the q = ``bandwidth_`` nearest *training* points in space-time, same kernel;
        at a training point this reproduces the corresponding row of ``params_``.
        """
        self._check_fitted()
        coords, t = self._check_coords_t(coords, t)
        pts = self._stack(self._space(coords), self._time(t), self.tau_)
        betas, _, n_sing = self._fit(self._core_fitted, pts, self.bandwidth_, None, desc="GTWR predict")
        if n_sing:
            LOG.warning("GTWR: %d local systems were singular; pseudo-inverse used", n_sing)
        return betas

    def embed(self, coords: Any, t: Any, tau: float | None = None) -> np.ndarray:
        """Space-time coordinates whose Euclidean distances the kernel uses (tau: default ``tau_``)."""
        coords, t = self._check_coords_t(coords, t)
        if tau is None:
            self._check_fitted()
            tau = self.tau_
        return self._stack(self._space(coords), self._time(t), float(tau))

    def weights_matrix(self, coords: Any, t: Any):
        """Kernel weights (m, n_train) of the training points for local fits at (coords, t)
        (a ``scipy.sparse.csr_matrix``)."""
        self._check_fitted()
        return self._core_fitted.weights_matrix(self.embed(coords, t), self.bandwidth_)

    def predict(self, coords: Any, t: Any, X: Any) -> np.ndarray:
        """Predictions (m,) = local coefficients at (coords, t) times [1, x]."""
        self._check_fitted()
        X = _as_2d(X, "X", self.n_features_in_)
        coords = np.asarray(coords)
        if len(X) != len(coords):
            raise ValueError(f"coords and X have different lengths ({len(coords)} vs {len(X)})")
        beta = self.local_coefficients(coords, t)
        return beta[:, 0] + np.einsum("ck,ck->c", X, beta[:, 1:])
