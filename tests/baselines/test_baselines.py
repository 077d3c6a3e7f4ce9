"""geohet_lib.baselines: every available baseline fits/predicts on a tiny frame (GPP paper, Fig. 2).

Configurations are shrunk for speed (few rounds / tiny networks, one thread each); the defaults
themselves are checked separately against the AutoGluon / PyTorch-Frame values they reproduce.
"""

from __future__ import annotations

import numpy as np
import pytest

from geohet_lib.baselines import (
    BASELINES,
    TABULAR_DL,
    TABULAR_ML,
    AdaptiveEarlyStopping,
    Regressor,
    autogluon_holdout_frac,
    autogluon_min_patience,
    available_baselines,
    baseline_configs,
    make_baseline,
)
from geohet_lib.metrics import r2

_TINY_NET = {"channels": 16, "num_layers": 2}
#: small-but-learnable settings per baseline (all single-threaded)
FAST: dict[str, dict] = {
    "LightGBM": {"num_boost_round": 200, "n_jobs": 1},
    "LightGBMLarge": {"num_boost_round": 200, "n_jobs": 1},
    "LightGBMXT": {"num_boost_round": 200, "n_jobs": 1},
    "XGBoost": {"num_boost_round": 100, "n_jobs": 1},
    "CatBoost": {"iterations": 150, "n_jobs": 1},
    "RandomForestMSE": {"n_estimators": 20, "n_jobs": 1},
    "KNeighborsUnif": {"n_jobs": 1},
    "KNeighborsDist": {"n_jobs": 1},
    "MLP": {"layers": [32, 16], "epochs": 25, "batch_size": 32, "progress": False, "num_threads": 1},
    "TabNet": {"channels": 16, "num_layers": 2, "epochs": 40, "batch_size": 32, "progress": False, "num_threads": 1},
    "ResNet": {**_TINY_NET, "epochs": 40, "batch_size": 32, "progress": False, "num_threads": 1},
    "FTTransformer": {**_TINY_NET, "epochs": 40, "batch_size": 32, "progress": False, "num_threads": 1},
    "ExcelFormer": {"channels": 16, "num_heads": 2, "num_layers": 2, "epochs": 40, "batch_size": 32, "progress": False, "num_threads": 1},
}
DEEP = {"MLP", *TABULAR_DL}
STATUS = available_baselines()


def _frame(n: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 + 0.5 * X[:, 2] * X[:, 3] + 0.05 * rng.normal(size=n)
    return X, y.astype(np.float32)


@pytest.fixture(scope="module")
def data():
    X, y = _frame(300, 0)
    Xv, yv = _frame(100, 1)
    return X, y, Xv, yv


def _need(name: str):
    if STATUS[name] != "ok":
        pytest.skip(f"{name} unavailable: {STATUS[name]}")


def test_registry_names_match_paper():
    paper = {
        "LightGBMLarge", "KNeighborsDist", "KNeighborsUnif", "LightGBM", "XGBoost", "LightGBMXT",
        "CatBoost", "RandomForestMSE", "TabNet", "ExcelFormer", "ResNet", "FTTransformer",
    }
    assert paper <= set(BASELINES)
    assert set(BASELINES) == paper | {"MLP"}  # MLP stands in for NeuralNetFastAI
    assert set(TABULAR_ML) | set(TABULAR_DL) == set(BASELINES)
    assert set(FAST) == set(BASELINES)


def test_available_baselines_reports_every_name():
    assert set(STATUS) == set(BASELINES)
    for name, status in STATUS.items():
        assert isinstance(status, str) and status, name
        if status != "ok":  # an unavailable baseline says why
            assert "unavailable" in status


@pytest.mark.parametrize("name", list(BASELINES))
def test_fit_predict(name, data):
    _need(name)
    X, y, Xv, yv = data
    m = make_baseline(name, seed=0, **FAST[name])
    assert isinstance(m, Regressor)
    assert m.name == name and isinstance(m.config, dict)
    assert m.fit(X, y, Xv, yv) is m
    p = m.predict(X)
    pv = m.predict(Xv)
    assert p.shape == (len(X),) and pv.shape == (len(Xv),)
    assert np.isfinite(p).all() and np.isfinite(pv).all()
    # better than predicting the mean on the training data
    assert r2(y, p) > 0.2, (name, r2(y, p))
    # float64 input and a single row are accepted
    assert m.predict(Xv[:1].astype(np.float64)).shape == (1,)


@pytest.mark.parametrize("name", ["LightGBM", "XGBoost", "CatBoost", "RandomForestMSE", "KNeighborsDist", "MLP", "ResNet"])
def test_same_seed_same_predictions(name, data):
    _need(name)
    X, y, Xv, yv = data
    kw = dict(FAST[name])
    if name == "ResNet":
        kw["epochs"] = 3
    if name == "MLP":
        kw["epochs"] = 5
    a = make_baseline(name, seed=3, **kw).fit(X, y).predict(Xv)
    b = make_baseline(name, seed=3, **kw).fit(X, y).predict(Xv)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["LightGBM", "XGBoost", "CatBoost"])
def test_gbm_early_stopping_on_validation(name, data):
    _need(name)
    X, y, Xv, yv = data
    rounds_key = "iterations" if name == "CatBoost" else "num_boost_round"
    m = make_baseline(name, n_jobs=1, learning_rate=0.3, **{rounds_key: 3000}).fit(X, y, Xv, yv)
    assert m.fit_info_["n_rounds"] < 3000
    assert m.fit_info_["best_val_rmse"] > 0


def test_gbm_autogluon_holdout_when_no_validation(data):
    _need("LightGBM")
    X, y, _, _ = data
    m = make_baseline("LightGBM", n_jobs=1, num_boost_round=3000).fit(X, y)
    assert m.fit_info_["holdout_rows"] == round(autogluon_holdout_frac(len(X)) * len(X))
    assert m.fit_info_["n_rounds"] < 3000
    m2 = make_baseline("LightGBM", n_jobs=1, num_boost_round=50, holdout_frac=None).fit(X, y)
    assert m2.fit_info_["n_rounds"] == 50 and "holdout_rows" not in m2.fit_info_


def test_deep_model_validation_tracking(data):
    _need("ResNet")
    X, y, Xv, yv = data
    m = make_baseline("ResNet", **{**FAST["ResNet"], "epochs": 4, "patience": 1, "min_delta": 10.0}).fit(X, y, Xv, yv)
    # min_delta 10 means no epoch after the first counts as an improvement -> stops after 2
    assert m.fit_info_["epochs_run"] == 2 and m.fit_info_["best_epoch"] == 1
    m = make_baseline("ResNet", **{**FAST["ResNet"], "epochs": 4, "progress": True}).fit(X, y)
    # lr 1e-3 for epochs 1-2, 1e-4 for epochs 3-4 (decay halfway)
    assert m.fit_info_["lr"] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4])


def test_knn_rf_max_train_rows(data):
    X, y, Xv, _ = data
    for name in ("KNeighborsUnif", "RandomForestMSE"):
        _need(name)
        m = make_baseline(name, max_train_rows=120, **FAST[name]).fit(X, y)
        assert m.fit_info_["subsampled_rows"] == 120
        assert m.predict(Xv).shape == (len(Xv),)
    m = make_baseline("KNeighborsUnif", max_train_rows=120, n_jobs=1).fit(X, y)
    assert m.model_.n_samples_fit_ == 120


def test_bad_input_raises(data):
    X, y, Xv, yv = data
    m = make_baseline("KNeighborsUnif", n_jobs=1)
    with pytest.raises(ValueError, match="length mismatch"):
        m.fit(X, y[:-1])
    y_nan = y.copy()
    y_nan[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        m.fit(X, y_nan)
    with pytest.raises(ValueError, match="2-D"):
        m.fit(X[:, 0], y)
    with pytest.raises(ValueError, match="both"):
        m.fit(X, y, Xv, None)
    with pytest.raises(ValueError, match="features"):
        m.fit(X, y, Xv[:, :3], yv)
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        m.fit(X_nan, y)  # KNN needs finite features
    with pytest.raises(RuntimeError, match="fit"):
        m.predict(X)
    m.fit(X, y)
    with pytest.raises(ValueError, match="features"):
        m.predict(X[:, :5])
    with pytest.raises(KeyError):
        make_baseline("NeuralNetFastAI")
    with pytest.raises(TypeError, match="unknown option"):
        make_baseline("RandomForestMSE", n_trees=10)
    with pytest.raises(ValueError, match="device"):
        make_baseline("LightGBM", device="tpu")


def test_gbm_accepts_nan_features(data):
    _need("LightGBM")
    X, y, _, _ = data
    X_nan = X.copy()
    X_nan[::7, 1] = np.nan
    p = make_baseline("LightGBM", **FAST["LightGBM"]).fit(X_nan, y).predict(X_nan)
    assert np.isfinite(p).all()


def test_no_copy_of_float32_input(data):
    from geohet_lib.baselines import check_X

    X = data[0]
    assert check_X(X) is X
    assert check_X(np.arange(6).reshape(3, 2)).dtype == np.float32


def test_default_configs_match_sources():
    cfg = {n: BASELINES[n]().config for n in ("LightGBM", "LightGBMLarge", "LightGBMXT", "XGBoost", "RandomForestMSE", "KNeighborsDist")}
    assert cfg["LightGBM"]["learning_rate"] == 0.05 and cfg["LightGBM"]["num_boost_round"] == 10000
    large = cfg["LightGBMLarge"]
    assert (large["learning_rate"], large["num_leaves"], large["feature_fraction"], large["min_data_in_leaf"]) == (0.03, 128, 0.9, 5)
    assert cfg["LightGBMXT"]["extra_trees"] is True
    assert cfg["XGBoost"]["learning_rate"] == 0.1 and cfg["XGBoost"]["num_boost_round"] == 10000
    assert cfg["RandomForestMSE"]["n_estimators"] == 300 and cfg["RandomForestMSE"]["max_leaf_nodes"] == 15000
    assert cfg["KNeighborsDist"]["weights"] == "distance" and cfg["KNeighborsDist"]["max_train_rows"] is None
    if STATUS["TabNet"] == "ok":
        deep = BASELINES["TabNet"]().config
        assert (deep["lr"], deep["lr_final"], deep["batch_size"]) == (1e-3, 1e-4, 256)
    assert set(baseline_configs()) == {n for n, s in STATUS.items() if s == "ok"}


def test_autogluon_early_stopping_rules():
    assert autogluon_holdout_frac(300) == 0.2
    assert autogluon_holdout_frac(100_000) == 0.025
    assert autogluon_holdout_frac(50_000_000) == 0.01
    assert autogluon_min_patience(1000) == 150
    assert autogluon_min_patience(1_000_000) == 10
    es = AdaptiveEarlyStopping(n_train=1_000_000)  # min patience 10, patience = 0.3*best + 10
    assert not es.update(0, 1.0)
    assert not es.update(100, 0.5)  # new best at 100 -> patience 40
    assert not es.update(139, 0.6)
    assert es.update(140, 0.6)
    assert es.best_round == 100


def test_unavailable_baseline_is_reported(monkeypatch):
    import geohet_lib.baselines as bl

    reason = "pytorch-frame unavailable: ImportError: No module named 'torch_frame'"
    monkeypatch.setattr(bl, "torch_frame_status", lambda: reason)
    status = bl.available_baselines()
    assert status["TabNet"] == reason and status["ExcelFormer"] == reason
    assert status["LightGBM"] == STATUS["LightGBM"]
    with pytest.raises(ImportError, match="torch_frame"):
        bl.make_baseline("FTTransformer")
    assert "TabNet" not in bl.baseline_configs()


def test_no_import_cycle_between_tabular_modules():
    """tabular.py does not import tabular_dl; tabular_dl imports nothing private from tabular;
    the shared torch training lives in torch_tabular, which imports neither."""
    import ast
    import subprocess
    import sys
    from pathlib import Path

    import geohet_lib.baselines as bl

    here = Path(bl.__file__).parent
    # the modules alone, without the package __init__ (which imports both)
    code = ("import importlib, sys, types; "
            "pkg = types.ModuleType('geohet_lib.baselines'); "
            f"pkg.__path__ = [{str(here)!r}]; "
            "sys.modules['geohet_lib.baselines'] = pkg; "
            "importlib.import_module('geohet_lib.baselines.tabular'); "
            "importlib.import_module('geohet_lib.baselines.torch_tabular'); "
            "print('geohet_lib.baselines.tabular_dl' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

    def relative_imports(mod):
        tree = ast.parse((here / f"{mod}.py").read_text())
        return [(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                and n.level == 1 for a in n.names]

    assert all(m != "tabular_dl" for m, _ in relative_imports("tabular"))
    assert all(not name.startswith("_") for m, name in relative_imports("tabular_dl") if m == "tabular")
    assert all(m not in ("tabular", "tabular_dl") for m, _ in relative_imports("torch_tabular"))


def test_mlp_history_per_epoch_and_best_epoch_restored(data):
    _need("MLP")
    X, y, Xv, yv = data
    kw = {**FAST["MLP"], "epochs": 6, "patience": None}
    m = make_baseline("MLP", seed=1, **kw).fit(X, y, Xv, yv)
    info = m.fit_info_
    assert info["epochs_run"] == 6
    assert len(info["val_rmse"]) == len(info["train_loss"]) == len(info["lr"]) == 6
    best = int(np.argmin(info["val_rmse"]))
    assert info["best_epoch"] == best + 1 and info["best_val_rmse"] == info["val_rmse"][best]
    # the kept weights are the best epoch's: predict() reproduces its validation RMSE
    rmse = float(np.sqrt(np.mean((m.predict(Xv) - yv.astype(np.float64)) ** 2)))
    assert rmse == pytest.approx(info["best_val_rmse"], rel=1e-6)
    # no validation set: every epoch runs, the last one is kept
    m = make_baseline("MLP", seed=1, **{**kw, "epochs": 3}).fit(X, y)
    assert m.fit_info_["epochs_run"] == 3 and m.fit_info_["val_rmse"] == []
    assert m.fit_info_["best_epoch"] is None and m.fit_info_["best_val_rmse"] is None


def test_mlp_trains_for_two_epochs_on_a_small_table():
    """Two epochs of two steps each used to end in OneCycleLR's ZeroDivisionError."""
    from geohet_lib.baselines.tabular import MLPRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    y = X[:, 0] + 0.1 * rng.normal(size=400)
    for epochs in (1, 2):
        pred = MLPRegressor(epochs=epochs).fit(X, y).predict(X[:5])
        assert pred.shape == (5,) and np.isfinite(pred).all()
