"""Every tabular baseline of the GPP paper behind one fit/predict interface (section 4.1, 4.2, "Figure 2").

>>> from geohet_lib.baselines import make_baseline, available_baselines
>>> available_baselines()            # name -> "ok" or why it cannot be had
>>> m = make_baseline("LightGBMLarge", seed=0)
>>> m.config                          # the exact configuration, a printable dict
>>> m.fit(X_train, y_train, X_val, y_val).predict(X_test)

Names follow the paper's comparison table. Tree/classical models (:mod:`.tabular`) reproduce the
AutoGluon 1.1.1 defaults the paper used; "MLP" stands in for AutoGluon's NeuralNetFastAI (fastai is
not used). Deep models (:mod:`.tabular_dl`) are PyTorch-Frame (``torch_frame``) models trained with the
paper's optimiser (AdamW, lr 1e-3 → 1e-4 halfway, batch 256).

``make_baseline(name, seed, device, **overrides)``: overrides update ``config`` (for the boosting
models unknown keys are passed to the library as parameters; for the others they raise TypeError).
"""

from __future__ import annotations

import importlib
from functools import partial
from typing import Any, Callable

from .tabular import (
    AdaptiveEarlyStopping,
    BaseRegressor,
    CatBoostRegressor,
    KNNRegressor,
    LightGBMRegressor,
    MLPRegressor,
    RandomForestRegressorAG,
    Regressor,
    XGBoostRegressor,
    autogluon_holdout_frac,
    autogluon_min_patience,
    check_X,
    check_Xy,
)
from .tabular_dl import (
    ExcelFormerRegressor,
    FTTransformerRegressor,
    ResNetRegressor,
    TabNetRegressor,
    torch_frame_status,
)

__all__ = [
    "Regressor",
    "BaseRegressor",
    "BASELINES",
    "TABULAR_ML",
    "TABULAR_DL",
    "make_baseline",
    "available_baselines",
    "baseline_configs",
    "AdaptiveEarlyStopping",
    "autogluon_holdout_frac",
    "autogluon_min_patience",
    "check_X",
    "check_Xy",
    "LightGBMRegressor",
    "XGBoostRegressor",
    "CatBoostRegressor",
    "RandomForestRegressorAG",
    "KNNRegressor",
    "MLPRegressor",
    "TabNetRegressor",
    "ResNetRegressor",
    "FTTransformerRegressor",
    "ExcelFormerRegressor",
]

#: registry name -> factory(seed: int = 0, device: str = "cpu", **overrides) -> Regressor
BASELINES: dict[str, Callable[..., Regressor]] = {
    "LightGBM": partial(LightGBMRegressor, "LightGBM"),
    "LightGBMLarge": partial(LightGBMRegressor, "LightGBMLarge"),
    "LightGBMXT": partial(LightGBMRegressor, "LightGBMXT"),
    "XGBoost": partial(XGBoostRegressor, "XGBoost"),
    "CatBoost": partial(CatBoostRegressor, "CatBoost"),
    "RandomForestMSE": partial(RandomForestRegressorAG, "RandomForestMSE"),
    "KNeighborsUnif": partial(KNNRegressor, "KNeighborsUnif"),
    "KNeighborsDist": partial(KNNRegressor, "KNeighborsDist"),
    "MLP": partial(MLPRegressor, "MLP"),
    "TabNet": partial(TabNetRegressor, "TabNet"),
    "ResNet": partial(ResNetRegressor, "ResNet"),
    "FTTransformer": partial(FTTransformerRegressor, "FTTransformer"),
    "ExcelFormer": partial(ExcelFormerRegressor, "ExcelFormer"),
}

#: the paper's two groups in Fig. 2 ("MLP" stands in for NeuralNetFastAI)
TABULAR_ML = ["LightGBMLarge", "KNeighborsDist", "KNeighborsUnif", "LightGBM", "XGBoost", "LightGBMXT", "MLP", "CatBoost", "RandomForestMSE"]
TABULAR_DL = ["TabNet", "ExcelFormer", "ResNet", "FTTransformer"]

# the Python module each baseline needs (its absence is reported by available_baselines)
_REQUIRES: dict[str, tuple[str, ...]] = {
    "LightGBM": ("lightgbm",),
    "LightGBMLarge": ("lightgbm",),
    "LightGBMXT": ("lightgbm",),
    "XGBoost": ("xgboost",),
    "CatBoost": ("catboost",),
    "RandomForestMSE": ("sklearn",),
    "KNeighborsUnif": ("sklearn",),
    "KNeighborsDist": ("sklearn",),
    "MLP": ("torch",),
    "TabNet": ("torch", "torch_frame"),
    "ResNet": ("torch", "torch_frame"),
    "FTTransformer": ("torch", "torch_frame"),
    "ExcelFormer": ("torch", "torch_frame", "sklearn"),
}


def _module_status(mod: str) -> str:
    if mod == "torch_frame":
        return torch_frame_status()
    try:
        importlib.import_module(mod)
    except Exception as exc:  # ImportError or a broken binary
        pkg = {"sklearn": "scikit-learn", "xgboost": "xgboost-cpu"}.get(mod, mod)
        return f"{pkg} unavailable: {type(exc).__name__}: {exc}"
    return "ok"


def available_baselines() -> dict[str, str]:
    """Map every registry name to ``"ok"`` or the reason it cannot be had (e.g. the ImportError)."""
    cache: dict[str, str] = {}
    out: dict[str, str] = {}
    for name, mods in _REQUIRES.items():
        status = "ok"
        for m in mods:
            if m not in cache:
                cache[m] = _module_status(m)
            if cache[m] != "ok":
                status = cache[m]
                break
        out[name] = status
    return out


def make_baseline(name: str, seed: int = 0, device: str = "cpu", **overrides: Any) -> Regressor:
    """Build the baseline registered as ``name`` (see :data:`BASELINES`); raise if unavailable."""
    if name not in BASELINES:
        raise KeyError(f"unknown baseline {name!r}; known: {list(BASELINES)}")
    status = available_baselines()[name]
    if status != "ok":
        raise ImportError(f"baseline {name!r} cannot be used here: {status}")
    return BASELINES[name](seed=seed, device=device, **overrides)


def baseline_configs(names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Default configuration dict of each (available) baseline, for printing in notebooks."""
    status = available_baselines()
    return {n: dict(BASELINES[n]().config) for n in (names or list(BASELINES)) if status[n] == "ok"}
