"""The XGBoost baseline of the SOC paper (5.5, Table 10): covariates only, no imagery, no graph.

Paper 5.5: "gradient-boosted trees (Chen and Guestrin, 2016) trained on the 63 environmental
covariates, with no imagery and no graph (n_est = 500, depth = 8, eta = 0.05)".

Where the paper is silent (our choices, all in :attr:`SOCXGBoost.config`):

* **Target**: the same log target as SpTGNN, ``(log(1 + SOC) - mean) / sd`` of the
  :class:`~geohet_lib.soc.split.LogTargetScaler` fitted on the training targets (squared error
  on it); predictions are mapped back to g/kg with the scaler's inverse, so metrics are on the
  original scale like every SOC metric (5.1). The paper does not say which scale its XGBoost
  fitted; a log target suits the right-skewed SOC (Table 3, skewness 1.61).
* **Inputs**: the covariates as the caller gives them; stage 03 passes the imputed and
  standardised matrix SpTGNN sees (trees are invariant to the scaling; KNN imputation replaces
  XGBoost's own missing-value branches).
* Every other parameter is XGBoost's default (``tree_method="hist"``, ``subsample=1``,
  ``min_child_weight=1``, ``reg_lambda=1``), no early stopping (500 trees, as printed).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .split import LogTargetScaler

#: paper 5.5
PAPER_XGB: dict[str, Any] = {"n_estimators": 500, "max_depth": 8, "learning_rate": 0.05}


class SOCXGBoost:
    """XGBoost on the log-scaled SOC target, predictions in g/kg.

    ``fit(X, soc_gkg)`` fits a :class:`LogTargetScaler` on ``soc_gkg`` (training targets)
    unless ``scaler`` (already fitted, e.g. SpTGNN's) is given; ``predict(X)`` returns g/kg,
    ``predict_scaled(X)`` the scaled log target. ``n_jobs`` threads (None: XGBoost's default).
    """

    def __init__(self, seed: int = 0, n_jobs: int | None = None, device: str = "cpu",
                 **overrides: Any):
        self.seed = int(seed)
        params: dict[str, Any] = dict(PAPER_XGB, objective="reg:squarederror",
                                      tree_method="hist", random_state=self.seed,
                                      device=device)
        if n_jobs is not None:
            params["n_jobs"] = int(n_jobs)
        params.update(overrides)
        self.params = params
        self.model = None
        self.scaler: LogTargetScaler | None = None
        self.fit_seconds = float("nan")

    @property
    def config(self) -> dict[str, Any]:
        """Every setting that decides the fit (printable)."""
        out = dict(self.params)
        out["target"] = ("(log1p(SOC) - mean) / sd, LogTargetScaler fitted on training targets"
                         if self.scaler is None or self.scaler.kind == "log1p"
                         else "(log(SOC) - mean) / sd, LogTargetScaler fitted on training targets")
        out["predictions"] = "inverse-transformed to g/kg"
        return out

    def __repr__(self) -> str:
        p = self.params
        return (f"SOCXGBoost(n_estimators={p['n_estimators']}, max_depth={p['max_depth']}, "
                f"learning_rate={p['learning_rate']}, seed={self.seed}, log target)")

    def fit(self, X: np.ndarray, soc_gkg: np.ndarray,
            scaler: LogTargetScaler | None = None) -> "SOCXGBoost":
        """Fit on training covariates ``X`` (n, p) and training SOC (n,) in g/kg."""
        import xgboost as xgb

        X = np.asarray(X, dtype=np.float32)
        soc = np.asarray(soc_gkg, dtype=np.float64).ravel()
        if X.ndim != 2 or X.shape[0] != soc.size:
            raise ValueError(f"X has shape {X.shape}, the target {soc.size} values")
        self.scaler = scaler if scaler is not None else LogTargetScaler().fit(soc)
        t0 = time.perf_counter()
        self.model = xgb.XGBRegressor(**self.params)
        self.model.fit(X, self.scaler.transform(soc))
        self.fit_seconds = time.perf_counter() - t0
        return self

    def predict_scaled(self, X: np.ndarray) -> np.ndarray:
        """Predictions on the scaled log target."""
        if self.model is None:
            raise RuntimeError("SOCXGBoost is not fitted: call fit(X, soc) first")
        return self.model.predict(np.asarray(X, dtype=np.float32)).astype(np.float64)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions in g/kg (the scaler's inverse)."""
        scaled = self.predict_scaled(X)
        return self.scaler.inverse(scaled)
