"""Classical tabular baselines of the GPP paper (section 4.1 "Training Setting", 4.2 / "Figure 2").

The paper trains these with AutoGluon 1.1.1 and *default hyperparameters*. AutoGluon itself is not a
dependency here; instead each wrapper reproduces the AutoGluon 1.1.1 default configuration of the
underlying library (read from AutoGluon's source, ``tabular/src/autogluon/tabular/models/...``):

==================  =========================================================================
LightGBM            ``lgb/hyperparameters/parameters.py::get_param_regression_baseline``:
                    learning_rate 0.05, num_boost_round 10000, objective regression,
                    boosting_type gbdt, two_round True, verbose -1 (+ early stopping)
LightGBMLarge       preset ``GBMLarge`` = ``get_param_regression_baseline_custom``:
                    learning_rate 0.03, num_leaves 128, feature_fraction 0.9, min_data_in_leaf 5
                    (5 for regression/binary in AutoGluon's source; the value 3 belongs to
                    its *multiclass* preset)
LightGBMXT          LightGBM defaults + extra_trees True
XGBoost             ``xgboost/hyperparameters/parameters.py``: n_estimators 10000,
                    learning_rate 0.1, objective reg:squarederror, booster gbtree (+ hist)
CatBoost            ``catboost/hyperparameters/parameters.py``: iterations 10000,
                    learning_rate 0.05 (+ eval_metric RMSE, allow_writing_files False)
RandomForestMSE     ``rf/rf_model.py``: n_estimators 300, max_leaf_nodes 15000, bootstrap True,
                    criterion squared_error
KNeighborsUnif/Dist ``knn/knn_model.py``: weights uniform / distance, sklearn defaults
                    otherwise (n_neighbors 5); no feature scaling (AutoGluon has a
                    ``# TODO: Normalize data!`` there) -- the paper normalises features upstream.
MLP                 stand-in for AutoGluon's NeuralNetFastAI (fastai is not installed here), see
                    :class:`MLPRegressor`.
==================  =========================================================================

Early stopping follows AutoGluon: the boosting models stop on the validation RMSE with AutoGluon's
*adaptive* patience (``core/utils/early_stopping.py::AdaptiveES`` with
``get_early_stopping_rounds(strategy='adaptive')``): patience = max(min_patience,
round(0.3·best_round + 10)) where min_patience = max(10, round(150·min(1, 10000/n_train))).
When no validation set is passed, AutoGluon would carve a holdout set out of the training data;
``holdout_frac='auto'`` (default) does the same with AutoGluon's ``default_holdout_frac`` rule
(seeded random rows). ``holdout_frac=None`` disables it: then ``num_boost_round`` rounds are run.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "Regressor",
    "BaseRegressor",
    "AdaptiveEarlyStopping",
    "autogluon_holdout_frac",
    "autogluon_min_patience",
    "LightGBMRegressor",
    "XGBoostRegressor",
    "CatBoostRegressor",
    "RandomForestRegressorAG",
    "KNNRegressor",
    "MLPRegressor",
    "check_X",
    "check_Xy",
]


@runtime_checkable
class Regressor(Protocol):
    """What every baseline offers: ``fit`` then ``predict`` on numpy arrays."""

    name: str
    config: dict

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        X_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
    ) -> "Regressor": ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


def check_X(X, *, allow_nan: bool = True, name: str = "X", n_features: int | None = None) -> np.ndarray:
    """Return ``X`` as a 2-D floating numpy array, copying only when unavoidable.

    float32 / float64 arrays pass through untouched (no copy); integer or boolean input is cast
    to float32. ``allow_nan=False`` raises ValueError on NaN/inf (models that cannot handle them).
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_rows, n_features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    if not np.issubdtype(X.dtype, np.floating):
        if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise ValueError(f"{name} must be numeric, got dtype {X.dtype}")
        X = X.astype(np.float32)
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, the model was fit on {n_features}")
    if not allow_nan and not _all_finite(X):
        raise ValueError(f"{name} contains NaN or inf; this model needs finite features (impute first)")
    return X


def _all_finite(a: np.ndarray, chunk_rows: int = 1_000_000) -> bool:
    """np.isfinite(a).all() in row chunks, so a several-million-row array needs no full bool copy."""
    if a.ndim == 1:
        return bool(np.isfinite(a).all())
    for start in range(0, a.shape[0], chunk_rows):
        if not np.isfinite(a[start : start + chunk_rows]).all():
            return False
    return True


def check_Xy(X, y, *, allow_nan_X: bool = True, name: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Validate a (features, target) pair: 2-D X, 1-D finite y, equal lengths (else ValueError)."""
    sx = f"X{name}"
    sy = f"y{name}"
    X = check_X(X, allow_nan=allow_nan_X, name=sx)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{sy} must be 1-D, got shape {y.shape}")
    if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool) or np.issubdtype(y.dtype, np.complexfloating):
        raise ValueError(f"{sy} must be real numeric, got dtype {y.dtype}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"length mismatch: {sx} has {X.shape[0]} rows but {sy} has {y.shape[0]} values")
    if not np.issubdtype(y.dtype, np.floating):
        y = y.astype(np.float32)
    if not np.isfinite(y).all():
        raise ValueError(f"{sy} contains {int((~np.isfinite(y)).sum())} NaN/inf value(s); drop those rows first")
    return X, y


# --------------------------------------------------------------------------------------------
# AutoGluon early-stopping / holdout rules
# --------------------------------------------------------------------------------------------


def autogluon_holdout_frac(n_rows: int) -> float:
    """AutoGluon ``core/utils/utils.py::default_holdout_frac`` (no HPO)."""
    if n_rows < 5000:
        return max(0.1, min(0.2, 500.0 / n_rows))
    return max(0.01, min(0.1, 2500.0 / n_rows))


def autogluon_min_patience(n_train: int, min_patience: int = 10, max_patience: int = 150, min_rows: int = 10000) -> int:
    """AutoGluon ``get_early_stopping_rounds`` 'simple' rounds (the adaptive rule's floor)."""
    modifier = 1.0 if n_train <= min_rows else min_rows / n_train
    return max(round(modifier * max_patience), min_patience)


class AdaptiveEarlyStopping:
    """AutoGluon's ``AdaptiveES``: patience = max(min_patience, round(rate·best_round + offset)).

    ``update(round, score)`` takes a *lower-is-better* score and returns True when training should
    stop. ``best_round`` (0-based) and ``best_score`` hold the best seen so far.
    """

    def __init__(self, n_train: int, adaptive_rate: float = 0.3, adaptive_offset: int = 10, patience: int | None = None):
        self.fixed = patience
        self.min_patience = autogluon_min_patience(n_train) if patience is None else int(patience)
        self.rate = adaptive_rate if patience is None else 0.0
        self.offset = adaptive_offset
        self.best_round = 0
        self.best_score = math.inf
        self.patience = self._patience(0)

    def _patience(self, best_round: int) -> int:
        if self.fixed is not None:
            return int(self.fixed)
        return max(self.min_patience, round(self.rate * best_round + self.offset))

    def update(self, rnd: int, score: float) -> bool:
        if score < self.best_score:
            self.best_score = float(score)
            self.best_round = rnd
            self.patience = self._patience(rnd)
            return False
        return rnd - self.best_round >= self.patience


# --------------------------------------------------------------------------------------------
# shared base
# --------------------------------------------------------------------------------------------


def _n_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


class BaseRegressor:
    """Shared plumbing: ``name``, a printable ``config`` dict, seed/device, fit bookkeeping.

    Subclasses define ``_defaults`` (wrapper options; unknown override keys raise TypeError unless
    ``_passthrough`` is True, in which case they become library parameters) and ``_fit``/``_predict``.
    """

    name: str = "base"
    _defaults: dict[str, Any] = {}
    _passthrough: bool = False
    allow_nan_X: bool = True

    def __init__(self, name: str | None = None, seed: int = 0, device: str = "cpu", **overrides: Any):
        if name is not None:
            self.name = name
        if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
            raise ValueError(f"device must be 'cpu' or 'cuda[:i]', got {device!r}")
        self.seed = int(seed)
        self.device = str(device)
        cfg = {k: (v.copy() if isinstance(v, dict) else v) for k, v in self._defaults.items()}
        unknown = [k for k in overrides if k not in cfg]
        if unknown and not self._passthrough:
            raise TypeError(f"{self.name}: unknown option(s) {unknown}; known: {sorted(cfg)}")
        cfg.update(overrides)
        self.config: dict[str, Any] = cfg
        self.fitted_ = False
        self.n_features_: int | None = None
        self.fit_info_: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, seed={self.seed}, device={self.device!r}, config={self.config})"

    # public API -------------------------------------------------------------------------
    def fit(self, X, y, X_val=None, y_val=None) -> "BaseRegressor":
        """Fit on (X, y); (X_val, y_val), when given, drive early stopping / model selection."""
        X, y = check_Xy(X, y, allow_nan_X=self.allow_nan_X)
        if (X_val is None) != (y_val is None):
            raise ValueError("pass both X_val and y_val, or neither")
        if X_val is not None:
            X_val, y_val = check_Xy(X_val, y_val, allow_nan_X=self.allow_nan_X, name="_val")
            if X_val.shape[1] != X.shape[1]:
                raise ValueError(f"X_val has {X_val.shape[1]} features but X has {X.shape[1]}")
        self.n_features_ = X.shape[1]
        t0 = time.perf_counter()
        self._fit(X, y, X_val, y_val)
        self.fit_info_["fit_seconds"] = time.perf_counter() - t0
        self.fit_info_["n_train"] = int(X.shape[0])
        self.fitted_ = True
        return self

    def predict(self, X) -> np.ndarray:
        """Predict a 1-D float64 array of length ``len(X)``."""
        if not self.fitted_:
            raise RuntimeError(f"{self.name}: call fit() before predict()")
        X = check_X(X, allow_nan=self.allow_nan_X, n_features=self.n_features_)
        return np.asarray(self._predict(X), dtype=np.float64).reshape(-1)

    # helpers ------------------------------------------------------------------------------
    def _holdout_indices(self, n_rows: int, holdout_frac) -> tuple[np.ndarray, np.ndarray] | None:
        """Sorted (train_idx, val_idx) of a seeded AutoGluon-style holdout, or None for no holdout."""
        if holdout_frac is None:
            return None
        frac = autogluon_holdout_frac(n_rows) if holdout_frac == "auto" else float(holdout_frac)
        n_val = int(round(frac * n_rows))
        if not 0.0 < frac < 1.0 or n_val < 1 or n_val >= n_rows:
            return None
        perm = np.random.default_rng(self.seed).permutation(n_rows)
        self.fit_info_["holdout_rows"] = int(n_val)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])

    def _holdout(self, X, y, X_val, y_val, holdout_frac):
        """(X_tr, y_tr, X_val, y_val): AutoGluon-style holdout rows (copied) when no val set is given."""
        if X_val is not None:
            return X, y, X_val, y_val
        split = self._holdout_indices(X.shape[0], holdout_frac)
        if split is None:
            return X, y, None, None
        tr_idx, val_idx = split
        return X[tr_idx], y[tr_idx], X[val_idx], y[val_idx]

    def _subsample(self, X, y, max_rows):
        if max_rows is None or X.shape[0] <= int(max_rows):
            return X, y
        idx = np.sort(np.random.default_rng(self.seed).choice(X.shape[0], int(max_rows), replace=False))
        self.fit_info_["subsampled_rows"] = int(max_rows)
        return X[idx], y[idx]

    def _fit(self, X, y, X_val, y_val) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict(self, X) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


_GBM_WRAPPER_KEYS = ("num_boost_round", "holdout_frac", "early_stopping", "n_jobs")

# --------------------------------------------------------------------------------------------
# LightGBM family
# --------------------------------------------------------------------------------------------

LIGHTGBM_DEFAULTS: dict[str, Any] = {
    # AutoGluon 1.1.1 lgb get_param_regression_baseline()
    "objective": "regression",
    "learning_rate": 0.05,
    "boosting_type": "gbdt",
    "two_round": True,
    "verbose": -1,
    # wrapper options
    "num_boost_round": 10000,
    "holdout_frac": "auto",
    "early_stopping": "adaptive",  # 'adaptive' (AutoGluon), an int (fixed patience) or None
    "n_jobs": -1,
}
LIGHTGBM_PRESETS: dict[str, dict[str, Any]] = {
    "LightGBM": {},
    # AutoGluon 'GBMLarge' = lgb get_param_regression_baseline_custom()
    "LightGBMLarge": {"learning_rate": 0.03, "num_leaves": 128, "feature_fraction": 0.9, "min_data_in_leaf": 5},
    # AutoGluon GBM {'extra_trees': True, 'ag_args': {'name_suffix': 'XT'}}
    "LightGBMXT": {"extra_trees": True},
}


class LightGBMRegressor(BaseRegressor):
    """LightGBM with AutoGluon 1.1.1 defaults (paper Fig. 2: LightGBM / LightGBMLarge / LightGBMXT).

    Extra keyword overrides become LightGBM parameters. ``device`` is ignored: the PyPI wheel is
    CPU-only (AutoGluon also trains LightGBM on CPU by default).
    The AutoGluon-style holdout is taken with ``lightgbm.Dataset.subset`` so the raw ``X`` is
    binned once and never copied (bin edges are then computed on train+holdout rows).
    """

    _passthrough = True

    def __init__(self, name: str = "LightGBM", seed: int = 0, device: str = "cpu", **overrides: Any):
        if name not in LIGHTGBM_PRESETS:
            raise ValueError(f"unknown LightGBM preset {name!r}; one of {list(LIGHTGBM_PRESETS)}")
        self._defaults = {**LIGHTGBM_DEFAULTS, **LIGHTGBM_PRESETS[name]}
        super().__init__(name=name, seed=seed, device=device, **overrides)

    def _params(self) -> dict[str, Any]:
        p = {k: v for k, v in self.config.items() if k not in _GBM_WRAPPER_KEYS}
        n_jobs = self.config["n_jobs"]
        p["num_threads"] = _n_threads() if n_jobs in (-1, None) else int(n_jobs)
        p["seed"] = self.seed
        p.setdefault("metric", "l2")
        return p

    def _fit(self, X, y, X_val, y_val) -> None:
        import lightgbm as lgb

        params = self._params()
        cfg = self.config
        valid_sets: list = []
        if X_val is None and cfg["holdout_frac"] is not None:
            split = self._holdout_indices(X.shape[0], cfg["holdout_frac"])
            full = lgb.Dataset(X, label=y, params=params, free_raw_data=True).construct()
            if split is not None:
                tr_idx, val_idx = split
                train_set = full.subset(tr_idx, params=params)
                valid_sets = [full.subset(val_idx, params=params)]
                n_train = len(tr_idx)
            else:
                train_set, n_train = full, X.shape[0]
        else:
            train_set = lgb.Dataset(X, label=y, params=params, free_raw_data=True)
            n_train = X.shape[0]
            if X_val is not None:
                valid_sets = [lgb.Dataset(X_val, label=y_val, reference=train_set, params=params)]
        callbacks = []
        stopper = None
        if valid_sets and cfg["early_stopping"] is not None:
            patience = None if cfg["early_stopping"] == "adaptive" else int(cfg["early_stopping"])
            stopper = AdaptiveEarlyStopping(n_train, patience=patience)

            def _cb(env):
                _, _, score, higher_better = env.evaluation_result_list[0][:4]
                if stopper.update(env.iteration, -score if higher_better else score):
                    raise lgb.callback.EarlyStopException(stopper.best_round, env.evaluation_result_list)

            _cb.order = 30
            callbacks.append(_cb)
        self.model_ = lgb.train(
            params,
            train_set,
            num_boost_round=int(cfg["num_boost_round"]),
            valid_sets=valid_sets,
            valid_names=["valid"] * len(valid_sets),
            callbacks=callbacks,
        )
        if stopper is not None:
            self.best_iteration_ = stopper.best_round + 1
            metric = str(params.get("metric"))
            self.fit_info_["best_val_" + metric] = abs(float(stopper.best_score))
            if metric in ("l2", "mse", "mean_squared_error", "regression", "regression_l2"):
                self.fit_info_["best_val_rmse"] = float(np.sqrt(stopper.best_score))
        else:
            self.best_iteration_ = self.model_.current_iteration()
        self.fit_info_["n_rounds"] = int(self.best_iteration_)

    def _predict(self, X) -> np.ndarray:
        n_threads = self._params()["num_threads"]
        return self.model_.predict(X, num_iteration=self.best_iteration_, num_threads=n_threads)


# --------------------------------------------------------------------------------------------
# XGBoost
# --------------------------------------------------------------------------------------------

XGBOOST_DEFAULTS: dict[str, Any] = {
    # AutoGluon 1.1.1 xgboost get_param_regression_baseline()
    "learning_rate": 0.1,
    "objective": "reg:squarederror",
    "booster": "gbtree",
    "tree_method": "hist",
    # wrapper options
    "num_boost_round": 10000,
    "holdout_frac": "auto",
    "early_stopping": "adaptive",
    "n_jobs": -1,
}


class XGBoostRegressor(BaseRegressor):
    """XGBoost with AutoGluon 1.1.1 defaults (paper Fig. 2 "XGBoost"); ``device='cuda'`` trains on GPU.

    Training data go through ``xgboost.QuantileDMatrix`` (histogram-binned, no float copy of X).
    Extra keyword overrides become XGBoost parameters.
    """

    _passthrough = True
    _defaults = XGBOOST_DEFAULTS

    def __init__(self, name: str = "XGBoost", seed: int = 0, device: str = "cpu", **overrides: Any):
        super().__init__(name=name, seed=seed, device=device, **overrides)

    def _params(self) -> dict[str, Any]:
        p = {k: v for k, v in self.config.items() if k not in _GBM_WRAPPER_KEYS}
        n_jobs = self.config["n_jobs"]
        p["nthread"] = _n_threads() if n_jobs in (-1, None) else int(n_jobs)
        p["seed"] = self.seed
        p["device"] = self.device
        p.setdefault("eval_metric", "rmse")
        return p

    def _fit(self, X, y, X_val, y_val) -> None:
        import xgboost as xgb

        cfg = self.config
        X, y, X_val, y_val = self._holdout(X, y, X_val, y_val, cfg["holdout_frac"])
        params = self._params()
        dtrain = xgb.QuantileDMatrix(X, label=y, nthread=params["nthread"])
        evals = []
        if X_val is not None:
            evals = [(xgb.QuantileDMatrix(X_val, label=y_val, ref=dtrain, nthread=params["nthread"]), "valid")]
        callbacks = []
        stopper = None
        if evals and cfg["early_stopping"] is not None:
            patience = None if cfg["early_stopping"] == "adaptive" else int(cfg["early_stopping"])
            stopper = AdaptiveEarlyStopping(X.shape[0], patience=patience)

            class _ES(xgb.callback.TrainingCallback):
                def after_iteration(self, model, epoch, evals_log):
                    log = evals_log["valid"]
                    score = log[next(reversed(log))][-1]  # last metric, as xgboost's own early stopping
                    return stopper.update(epoch, score)

            callbacks.append(_ES())
        self.model_ = xgb.train(
            params,
            dtrain,
            num_boost_round=int(cfg["num_boost_round"]),
            evals=evals,
            callbacks=callbacks,
            verbose_eval=False,
        )
        if stopper is not None:
            self.best_iteration_ = stopper.best_round + 1
            metric = params["eval_metric"][-1] if isinstance(params["eval_metric"], (list, tuple)) else params["eval_metric"]
            self.fit_info_[f"best_val_{metric}"] = float(stopper.best_score)
        else:
            self.best_iteration_ = self.model_.num_boosted_rounds()
        self.fit_info_["n_rounds"] = int(self.best_iteration_)

    def _predict(self, X) -> np.ndarray:
        import xgboost as xgb

        if self.device != "cpu":
            # inplace_predict on a CPU array with a GPU booster warns and falls back; be explicit
            d = xgb.DMatrix(X)
            return self.model_.predict(d, iteration_range=(0, self.best_iteration_))
        return self.model_.inplace_predict(X, iteration_range=(0, self.best_iteration_))


# --------------------------------------------------------------------------------------------
# CatBoost
# --------------------------------------------------------------------------------------------

CATBOOST_DEFAULTS: dict[str, Any] = {
    # AutoGluon 1.1.1 catboost get_param_regression_baseline() + catboost_model.py fixed params
    "iterations": 10000,
    "learning_rate": 0.05,
    "loss_function": "RMSE",
    "eval_metric": "RMSE",
    "allow_writing_files": False,
    # wrapper options
    "holdout_frac": "auto",
    "early_stopping": "adaptive",
    "n_jobs": -1,
}


class CatBoostRegressor(BaseRegressor):
    """CatBoost with AutoGluon 1.1.1 defaults (paper Fig. 2 "CatBoost"); ``device='cuda'`` → GPU.

    Early stopping: AutoGluon's adaptive rule via a CatBoost callback on CPU; CatBoost's GPU mode
    does not run Python callbacks, so there the fixed AutoGluon min-patience
    (``early_stopping_rounds``) is used. Extra keyword overrides become CatBoost parameters.
    """

    _passthrough = True
    _defaults = CATBOOST_DEFAULTS

    def __init__(self, name: str = "CatBoost", seed: int = 0, device: str = "cpu", **overrides: Any):
        super().__init__(name=name, seed=seed, device=device, **overrides)

    def _fit(self, X, y, X_val, y_val) -> None:
        import catboost as cb

        cfg = self.config
        X, y, X_val, y_val = self._holdout(X, y, X_val, y_val, cfg["holdout_frac"])
        params = {k: v for k, v in cfg.items() if k not in ("holdout_frac", "early_stopping", "n_jobs")}
        n_jobs = cfg["n_jobs"]
        params["thread_count"] = _n_threads() if n_jobs in (-1, None) else int(n_jobs)
        params["random_seed"] = self.seed
        params["verbose"] = False
        on_gpu = self.device != "cpu"
        if on_gpu:
            params["task_type"] = "GPU"
            if ":" in self.device:
                params["devices"] = self.device.split(":", 1)[1]
        fit_kw: dict[str, Any] = {}
        stopper = None
        if X_val is not None:
            fit_kw["eval_set"] = cb.Pool(X_val, label=y_val)
            fit_kw["use_best_model"] = True
            if cfg["early_stopping"] is not None:
                patience = None if cfg["early_stopping"] == "adaptive" else int(cfg["early_stopping"])
                if on_gpu:
                    fit_kw["early_stopping_rounds"] = patience or autogluon_min_patience(X.shape[0])
                else:
                    stopper = AdaptiveEarlyStopping(X.shape[0], patience=patience)

                    class _ES:
                        def after_iteration(self, info):
                            score = info.metrics["validation"]["RMSE"][-1]
                            return not stopper.update(info.iteration - 1, score)

                    fit_kw["callbacks"] = [_ES()]
        self.model_ = cb.CatBoostRegressor(**params)
        self.model_.fit(cb.Pool(X, label=y), **fit_kw)
        self.fit_info_["n_rounds"] = int(self.model_.tree_count_)
        if X_val is not None:
            best = self.model_.get_best_score().get("validation", {})
            if "RMSE" in best:
                self.fit_info_["best_val_rmse"] = float(best["RMSE"])

    def _predict(self, X) -> np.ndarray:
        return self.model_.predict(X, thread_count=self.model_.get_params().get("thread_count", -1))


# --------------------------------------------------------------------------------------------
# scikit-learn models
# --------------------------------------------------------------------------------------------


class RandomForestRegressorAG(BaseRegressor):
    """scikit-learn RandomForest with AutoGluon 1.1.1 ``RandomForestMSE`` defaults (paper Fig. 2).

    n_estimators 300, max_leaf_nodes 15000, bootstrap True, criterion squared_error, n_jobs -1.
    ``max_train_rows`` (default None = all rows): fit on a seeded random subsample of that many
    rows -- a RandomForest on tens of millions of rows is slow and memory hungry. sklearn works
    in float32 internally, so float32 input is not copied. The validation set is not used (no
    early stopping for forests). CPU only (``device`` ignored).
    """

    _defaults = {
        "n_estimators": 300,
        "max_leaf_nodes": 15000,
        "bootstrap": True,
        "criterion": "squared_error",
        "n_jobs": -1,
        "max_train_rows": None,
    }

    def __init__(self, name: str = "RandomForestMSE", seed: int = 0, device: str = "cpu", **overrides: Any):
        super().__init__(name=name, seed=seed, device=device, **overrides)

    def _fit(self, X, y, X_val, y_val) -> None:
        from sklearn.ensemble import RandomForestRegressor

        X, y = self._subsample(X, y, self.config["max_train_rows"])
        p = {k: v for k, v in self.config.items() if k != "max_train_rows"}
        self.model_ = RandomForestRegressor(random_state=self.seed, **p)
        self.model_.fit(X, y)

    def _predict(self, X) -> np.ndarray:
        return self.model_.predict(X)


class KNNRegressor(BaseRegressor):
    """scikit-learn k-nearest neighbours, AutoGluon 1.1.1 ``KNeighborsUnif`` / ``KNeighborsDist``.

    weights 'uniform' (Unif) or 'distance' (Dist), n_neighbors 5, n_jobs -1, no scaling (features
    are expected normalised, as in the paper). ``max_train_rows`` (default None = all rows): keep a
    seeded random subsample of that many training rows -- neighbour queries against millions of
    stored rows are slow. ``predict_chunk_rows`` bounds the query batch. Features must be finite.
    """

    allow_nan_X = False
    _defaults = {
        "n_neighbors": 5,
        "weights": "uniform",
        "n_jobs": -1,
        "max_train_rows": None,
        "predict_chunk_rows": 200_000,
    }

    def __init__(self, name: str = "KNeighborsUnif", seed: int = 0, device: str = "cpu", **overrides: Any):
        if name == "KNeighborsDist":
            overrides.setdefault("weights", "distance")
        super().__init__(name=name, seed=seed, device=device, **overrides)

    def _fit(self, X, y, X_val, y_val) -> None:
        from sklearn.neighbors import KNeighborsRegressor

        X, y = self._subsample(X, y, self.config["max_train_rows"])
        p = {k: v for k, v in self.config.items() if k not in ("max_train_rows", "predict_chunk_rows")}
        self.model_ = KNeighborsRegressor(**p)
        self.model_.fit(X, y)

    def _predict(self, X) -> np.ndarray:
        step = int(self.config["predict_chunk_rows"])
        if X.shape[0] <= step:
            return self.model_.predict(X)
        return np.concatenate([self.model_.predict(X[i : i + step]) for i in range(0, X.shape[0], step)])


# --------------------------------------------------------------------------------------------
# MLP (stand-in for AutoGluon NeuralNetFastAI)
# --------------------------------------------------------------------------------------------


class MLPRegressor(BaseRegressor):
    """A torch MLP standing in for AutoGluon's ``NeuralNetFastAI`` (paper Fig. 2); fastai is not used.

    Mirrors AutoGluon 1.1.1's FastAI defaults for regression (``fastainn/hyperparameters`` and
    ``tabular_nn_fastai.py``): hidden layers [200, 100], each Linear → ReLU → BatchNorm → Dropout
    (fastai ``LinBnDrop`` with ``lin_first=True``), dropout ``ps`` 0.1, batch size 256, one-cycle
    schedule with max lr 1e-2 (AdamW, fastai's decoupled weight decay 0.01), early stopping on
    validation RMSE with patience 20 (min_delta 1e-4) keeping the best epoch. Inputs are
    standardised with the training mean/std (fastai ``Normalize``) and the target too (inverted at
    predict); predictions are clipped to the training-target range widened by 5%.
    AutoGluon's default is 30 epochs; ``epochs`` here defaults to 10 (set 30 for the paper scale).
    Trained by the project's engine (:mod:`geohet_lib.engine` via :mod:`.torch_tabular`): the
    monitored ``val_rmse`` is that of the clipped predictions ``predict`` returns (as fastai's
    ``y_range`` lives inside its model); without a validation set every epoch runs and the last
    epoch is kept. ``fit_info_`` as the deep models' (:mod:`.tabular_dl`).
    Differences to fastai: no categorical embeddings (all features numeric), AdamW instead of
    fastai's Adam with true weight decay (the same update), no LR finder.
    Features must be finite.
    """

    allow_nan_X = False
    _defaults = {
        "layers": [200, 100],
        "ps": 0.1,
        "batch_size": 256,
        "lr": 1e-2,
        "weight_decay": 0.01,
        "epochs": 10,
        "patience": 20,
        "min_delta": 1e-4,
        "clip_to_y_range": True,
        "eval_batch_size": 65536,
        "progress": True,
        "num_threads": None,
    }

    def __init__(self, name: str = "MLP", seed: int = 0, device: str = "cpu", **overrides: Any):
        super().__init__(name=name, seed=seed, device=device, **overrides)

    def _build(self, n_in: int):
        import torch.nn as nn

        layers: list = []
        prev = n_in
        for h in self.config["layers"]:
            layers += [nn.Linear(prev, h), nn.ReLU(inplace=True), nn.BatchNorm1d(h), nn.Dropout(self.config["ps"])]
            prev = h
        layers.append(nn.Linear(prev, 1))
        return nn.Sequential(*layers)

    def _fit(self, X, y, X_val, y_val) -> None:
        from .torch_tabular import torch_threads

        with torch_threads(self.config["num_threads"]):
            self._fit_impl(X, y, X_val, y_val)

    def _fit_impl(self, X, y, X_val, y_val) -> None:
        import torch

        from ..engine import OptimConfig
        from ..runtime import seed_everything
        from .torch_tabular import column_moments, fit_regressor

        cfg = self.config
        seed_everything(self.seed)
        mean, std = column_moments(X)
        self.x_mean_, self.x_std_ = mean.astype(np.float32), std.astype(np.float32)
        self._x_mean_t, self._x_std_t = torch.from_numpy(self.x_mean_), torch.from_numpy(self.x_std_)
        self.y_mean_, self.y_std_ = float(np.mean(y, dtype=np.float64)), float(np.std(y, dtype=np.float64)) or 1.0
        self.y_lo_, self.y_hi_ = float(np.min(y)), float(np.max(y))
        self.model_ = self._build(X.shape[1])
        # fastai's fit_one_cycle: AdamW betas (0.9, 0.99), one cycle over every step, 25% warm-up
        optim = OptimConfig(lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]), schedule="onecycle",
                            pct_start=0.25, betas=(0.9, 0.99))
        self.fit_info_.update(fit_regressor(self, X, y, X_val, y_val, optim,
                                            clip=self._clip_range()))

    def _forward(self, xb):
        """The network's prediction (standardised target) for a float32 batch of raw rows."""
        d = xb.device
        return self.model_((xb - self._x_mean_t.to(d)) / self._x_std_t.to(d)).squeeze(-1)

    def _clip_range(self) -> tuple[float, float] | None:
        """Predictions are clipped to the training-target range widened by 5% (None: no clip)."""
        if not self.config["clip_to_y_range"]:
            return None
        ext = 0.05 * (self.y_hi_ - self.y_lo_)
        return self.y_lo_ - ext, self.y_hi_ + ext

    def _predict(self, X) -> np.ndarray:
        from .torch_tabular import predict_batches, torch_threads

        with torch_threads(self.config["num_threads"]):
            pred = predict_batches(self.model_, self._forward, X, int(self.config["eval_batch_size"]), self.device)
        pred = pred * self.y_std_ + self.y_mean_
        clip = self._clip_range()
        return pred if clip is None else np.clip(pred, *clip)
