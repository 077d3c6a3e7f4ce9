"""Data splits and preprocessing of the SOC study (SOC paper 4.3, 4.5 and 5.1).

- :func:`stratified_split`: 90 / 5 / 5 train / validation / test, stratified over quantile
  bins of ``log(1 + SOC)`` (paper 5.1: ten bins, a fixed seed).
- :class:`CovariatePreprocessor`: k-nearest-neighbour imputation (k = 5) then
  standardisation, both fitted on training samples only (paper 4.3).
- :class:`LogTargetScaler`: the log-based target scaler (paper 4.4); metrics are computed
  after :meth:`LogTargetScaler.inverse` (paper 5.1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .covariates import CATEGORICAL_COLUMNS, COVARIATE_NAMES

SPLIT_LABELS = ("train", "val", "test")


def _check_fractions(fractions: tuple[float, float, float]) -> np.ndarray:
    f = np.asarray(fractions, float)
    if f.shape != (3,) or (f < 0).any() or not np.isclose(f.sum(), 1.0, atol=1e-6):
        raise ValueError(f"fractions must be three non-negative numbers (train, val, test) "
                         f"summing to 1, got {fractions}")
    return f


def quantile_strata(soc: np.ndarray, n_strata: int = 10) -> np.ndarray:
    """Stratum (0 .. n_strata-1) of each sample: quantile bins of ``log(1 + SOC)``.

    Ties at a bin edge go to the upper bin; with many tied values some bins can be empty.
    """
    soc = np.asarray(soc, float)
    if soc.ndim != 1:
        raise ValueError(f"soc must be 1-D, got shape {soc.shape}")
    bad = ~np.isfinite(soc) | (soc <= -1.0)
    if bad.any():
        raise ValueError(f"soc: {int(bad.sum())} value(s) are NaN, infinite or <= -1 (e.g. "
                         f"{soc[bad][:3].tolist()}); drop or fix those samples before splitting")
    if n_strata < 1:
        raise ValueError(f"n_strata must be >= 1, got {n_strata}")
    z = np.log1p(soc)
    if soc.size == 0:
        return np.zeros(0, np.int64)
    edges = np.quantile(z, np.linspace(0.0, 1.0, n_strata + 1)[1:-1])
    return np.searchsorted(edges, z, side="right").astype(np.int64)


def _allocate(need: np.ndarray, size: int) -> np.ndarray:
    """Non-negative integer counts summing to ``size``, each within one of ``need``."""
    base = np.maximum(np.floor(need + 1e-9), 0).astype(np.int64)
    frac = need - base
    rest = size - int(base.sum())
    order = np.argsort(-frac, kind="stable")
    while rest > 0:
        for k in order[:rest]:
            base[k] += 1
        rest = size - int(base.sum())
    for k in order[::-1]:  # too many (rare): take from the smallest remainders
        while rest < 0 and base[k] > 0:
            base[k] -= 1
            rest += 1
    return base


def stratified_split(soc: np.ndarray, fractions: tuple[float, float, float] = (0.9, 0.05, 0.05),
                     n_strata: int = 10, seed: int = 0) -> np.ndarray:
    """``"train"`` / ``"val"`` / ``"test"`` per sample, stratified over SOC quantile bins.

    Samples are binned by quantiles of ``log(1 + SOC)`` (:func:`quantile_strata`); each bin
    is shuffled (``numpy`` generator seeded by ``seed``) and cut in the given proportions.
    Rounding is carried from bin to bin: each part's running total stays within one sample
    of ``fraction x samples so far``, so every bin is within one or two samples of its exact
    share and the totals are the largest-remainder rounding of ``n * fractions``.
    Deterministic for a given ``seed`` and input.
    """
    f = _check_fractions(fractions)
    strata = quantile_strata(soc, n_strata)
    rng = np.random.default_rng(seed)
    out = np.empty(strata.size, dtype="<U5")
    done = 0
    given = np.zeros(3, np.int64)
    for b in range(n_strata):
        idx = np.flatnonzero(strata == b)
        if idx.size == 0:
            continue
        done += idx.size
        # running totals follow done * fractions (largest remainder, ties: train, val, test)
        counts = _allocate(done * f - given, idx.size)
        given += counts
        perm = rng.permutation(idx)
        cuts = np.cumsum(counts)[:-1]
        for label, part in zip(SPLIT_LABELS, np.split(perm, cuts)):
            out[part] = label
    return out


class CovariatePreprocessor:
    """KNN imputation (k = ``k``) then standardisation, fitted on training rows only.

    Continuous columns: standardised with the training mean / sd (so that no unit dominates
    the neighbour distances), imputed with ``sklearn.impute.KNNImputer`` (k nearest
    training samples, NaN-aware Euclidean distance), mapped back to their units.
    Categorical columns (integer-coded land characteristics): imputed with the most frequent
    training value, not used in the distances. Then every column goes through a
    ``StandardScaler`` fitted on the imputed training rows (paper 4.3: all features are
    standardised). ``transform`` returns float32 in the order of ``columns``.
    """

    def __init__(self, columns: tuple[str, ...] = COVARIATE_NAMES,
                 categorical: tuple[str, ...] = CATEGORICAL_COLUMNS, k: int = 5):
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.columns = tuple(columns)
        self.categorical = tuple(c for c in self.columns if c in set(categorical))
        self.continuous = tuple(c for c in self.columns if c not in set(self.categorical))
        self.k = int(k)
        self.fitted = False

    def _frame(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
        if isinstance(X, np.ndarray):
            if X.ndim != 2 or X.shape[1] != len(self.columns):
                raise ValueError(f"array input must have {len(self.columns)} columns in the "
                                 f"order of .columns, got shape {X.shape}")
            return pd.DataFrame(X, columns=list(self.columns))
        missing = [c for c in self.columns if c not in X.columns]
        if missing:
            raise ValueError(f"covariate column(s) {missing} missing from the input")
        return X

    def fit(self, X: pd.DataFrame | np.ndarray) -> "CovariatePreprocessor":
        """Fit on **training rows only** (pass ``corpus.loc[train_mask]``)."""
        from sklearn.impute import KNNImputer, SimpleImputer
        from sklearn.preprocessing import StandardScaler

        X = self._frame(X)
        if len(X) == 0:
            raise ValueError("cannot fit the covariate preprocessor on zero training rows")
        cont = X[list(self.continuous)].to_numpy(np.float64)
        empty = [c for c, e in zip(self.continuous, np.isnan(cont).all(axis=0)) if e]
        cat = X[list(self.categorical)].to_numpy(np.float64)
        empty += [c for c, e in zip(self.categorical, np.isnan(cat).all(axis=0)) if e]
        if empty:
            raise ValueError(f"covariate(s) {empty} have no value in any training row; "
                             "drop them (pass columns=...) or supply values")
        self.center_ = np.nanmean(cont, axis=0)
        sd = np.nanstd(cont, axis=0)
        self.spread_ = np.where(sd > 0, sd, 1.0)
        self.knn_ = KNNImputer(n_neighbors=min(self.k, len(X))).fit(
            (cont - self.center_) / self.spread_)
        self.mode_ = SimpleImputer(strategy="most_frequent").fit(cat) if cat.shape[1] else None
        self.scaler_ = StandardScaler().fit(self._impute(X))
        self.n_train_ = len(X)
        self.fitted = True
        return self

    def _impute(self, X: pd.DataFrame) -> np.ndarray:
        cont = X[list(self.continuous)].to_numpy(np.float64)
        out = np.empty((len(X), len(self.columns)))
        pos = {c: i for i, c in enumerate(self.columns)}
        z = (cont - self.center_) / self.spread_
        if np.isnan(z).any():
            z = self.knn_.transform(z)
        out[:, [pos[c] for c in self.continuous]] = z * self.spread_ + self.center_
        if self.categorical:
            cat = X[list(self.categorical)].to_numpy(np.float64)
            out[:, [pos[c] for c in self.categorical]] = self.mode_.transform(cat)
        return out

    def impute(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
        """Imputed covariates in their own units (no scaling), e.g. NDVI for the graph."""
        self._check_fitted()
        X = self._frame(X)
        return pd.DataFrame(self._impute(X), columns=list(self.columns), index=X.index)

    def transform(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Imputed and standardised covariates (float32, columns in ``.columns`` order)."""
        self._check_fitted()
        X = self._frame(X)
        return self.scaler_.transform(self._impute(X)).astype(np.float32)

    def fit_transform(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """``fit(X)`` then ``transform(X)`` (for the training rows)."""
        return self.fit(X).transform(X)

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError("CovariatePreprocessor is not fitted: call fit(training rows)")


class LogTargetScaler:
    """SOC -> standardised log target, and back (SOC paper 4.4, 5.1).

    ``kind="log1p"`` (default): ``z = (log(1 + y) - mean) / sd``. The paper stratifies on
    ``log(1 + SOC)`` and its fitted normal (Figure 7b, mu = 2.62, sigma = 0.62) matches
    ``log(1 + SOC)`` of its corpus (median 12.22 g/kg -> 2.58) better than ``log(SOC)``
    (2.50); ``log1p`` also stays finite at SOC = 0. ``kind="log"`` is the plain logarithm
    (SOC > 0 required), for which multiplicative errors become additive exactly. ``mean`` and
    ``sd`` are fitted on training targets only.
    """

    def __init__(self, kind: str = "log1p"):
        if kind not in ("log", "log1p"):
            raise ValueError(f"kind must be 'log' or 'log1p', got {kind!r}")
        self.kind = kind
        self.fitted = False

    def _fwd(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, np.float64)
        low = 0.0 if self.kind == "log" else -1.0
        bad = ~np.isfinite(y) | (y <= low)
        if bad.any():
            raise ValueError(f"target: {int(bad.sum())} value(s) NaN, infinite or <= {low:g} "
                             f"(e.g. {y[bad][:3].tolist()}), which {self.kind} cannot take")
        return np.log(y) if self.kind == "log" else np.log1p(y)

    def fit(self, y: np.ndarray) -> "LogTargetScaler":
        """Fit mean and sd of the log target on **training** values."""
        z = self._fwd(y)
        if z.size == 0:
            raise ValueError("cannot fit the target scaler on zero values")
        self.mean_ = float(z.mean())
        sd = float(z.std())
        self.sd_ = sd if sd > 0 else 1.0
        self.fitted = True
        return self

    def transform(self, y: np.ndarray) -> np.ndarray:
        """SOC (g/kg) -> standardised log target."""
        self._check_fitted()
        return (self._fwd(y) - self.mean_) / self.sd_

    def fit_transform(self, y: np.ndarray) -> np.ndarray:
        return self.fit(y).transform(y)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Standardised log target -> SOC (g/kg)."""
        self._check_fitted()
        u = np.asarray(z, np.float64) * self.sd_ + self.mean_
        return np.exp(u) if self.kind == "log" else np.expm1(u)

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError("LogTargetScaler is not fitted: call fit(training targets)")
