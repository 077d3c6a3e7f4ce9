"""Stage 03 of the SOC study: XGBoost baseline, metrics in g/kg, Tables 4 and 10 with claims,
region preparation on a smoke corpus (preprocessors fitted on training rows only)."""

import numpy as np
import pandas as pd
import pytest
import torch

from geohet_lib.engine import BEST_NAME
from geohet_lib.soc import stage03 as s3
from geohet_lib.soc.covariates import COVARIATE_NAMES
from geohet_lib.soc.split import LogTargetScaler
from geohet_lib.soc.xgb_baseline import SOCXGBoost

torch.set_num_threads(1)


# --------------------------------------------------------------------------- XGBoost, metrics


def test_xgboost_config_is_the_papers():
    m = SOCXGBoost(seed=3)
    cfg = m.config
    assert (cfg["n_estimators"], cfg["max_depth"], cfg["learning_rate"]) == (500, 8, 0.05)
    assert cfg["random_state"] == 3 and "log1p" in cfg["target"]
    assert "n_estimators=500" in repr(m) and "max_depth=8" in repr(m)


def test_xgboost_predicts_on_the_original_scale():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4)).astype(np.float32)
    soc = np.expm1(2.5 + 0.6 * X[:, 0] + 0.05 * rng.standard_normal(300))
    m = SOCXGBoost(seed=0, n_jobs=1, n_estimators=60).fit(X[:250], soc[:250])
    pred = m.predict(X[250:])
    np.testing.assert_allclose(pred, m.scaler.inverse(m.predict_scaled(X[250:])))
    assert m.scaler.mean_ == pytest.approx(np.log1p(soc[:250]).mean())
    assert s3.soc_metrics(soc[250:], pred)["R2"] > 0.8
    with pytest.raises(RuntimeError, match="not fitted"):
        SOCXGBoost().predict(X)


def test_metrics_on_the_original_scale_against_hand_values():
    y, p = np.array([10.0, 20.0, 40.0]), np.array([12.0, 18.0, 30.0])
    m = s3.soc_metrics(y, p)
    assert m["MAE"] == pytest.approx(14 / 3)
    assert m["RMSE"] == pytest.approx(6.0)
    assert m["MAPE"] == pytest.approx(100 * (0.2 + 0.1 + 0.25) / 3)
    assert m["R2"] == pytest.approx(1 - 108 / (np.sum((y - y.mean()) ** 2)))
    sc = LogTargetScaler().fit(np.array([5.0, 10.0, 20.0, 40.0]))
    m2 = s3.metrics_from_scaled(sc, y, sc.transform(p))
    for k in m:
        assert m2[k] == pytest.approx(m[k])


# --------------------------------------------------------------------------- tables


def _row(r2, mape, rmse=3.0):
    return {"n_train": 100, "MAE": 2.0, "RMSE": rmse, "MAPE": mape, "R2": r2}


def test_table4_claims_follow_the_numbers():
    t = s3.build_table4({"africa": _row(0.8, 14), "europe": _row(0.4, 40),
                         "global": _row(0.6, 30)})
    assert list(t["region"]) == ["africa", "europe", "global"]
    assert t.loc[0, "paper R2"] == 0.864 and t.loc[1, "paper MAPE %"] == 37.1
    assert t.loc[2, "paper n_train"] == 44100 and t.loc[0, "R2"] == 0.8
    claims = dict(zip(t["region"], t["claim"]))
    assert "Africa best region by R2" in claims["africa"]
    assert claims["africa"].count("does not hold") == 0
    assert claims["global"].endswith(": holds") and claims["europe"].endswith(": holds")
    t = s3.build_table4({"africa": _row(0.5, 35), "europe": _row(0.7, 20),
                         "global": _row(0.6, 30)})
    claims = dict(zip(t["region"], t["claim"]))
    assert claims["africa"].count("does not hold") == 2
    assert claims["global"].endswith("does not hold")
    assert claims["europe"].endswith("does not hold")
    t = s3.build_table4({"africa": _row(0.5, 35)})
    assert t["R2"].isna().sum() == 2 and "n/a (not run)" in t.loc[0, "claim"]


def test_table10_claims_follow_the_numbers():
    res = {"XGBoost": {"n_test": 20, "MAE": 2.5, "RMSE": 3.8, "MAPE": 25.0, "R2": 0.7},
           "SpTGNN": {"n_test": 20, "MAE": 2.2, "RMSE": 3.5, "MAPE": 26.0, "R2": 0.75},
           "SpTGNN (inductive)": {"n_test": 20, "MAE": 2.9, "RMSE": 4.1, "MAPE": 30.0,
                                  "R2": 0.6}}
    t = s3.build_table10(res).set_index("method")
    assert t.loc["XGBoost", "paper RMSE"] == 3.84 and t.loc["XGBoost", "paper n_test"] == 682
    assert np.isnan(t.loc["SpTGNN", "paper RMSE"])
    c = t.loc["SpTGNN", "claim"]
    assert "RMSE (paper, ensemble: 3.51 vs 3.84): holds" in c
    assert "MAPE (paper 22.9 vs 25.2 %): does not hold" in c
    assert t.loc["SpTGNN (inductive)", "claim"].endswith("does not hold")
    for ens in ("beta-NLL ensemble", "SpTGNN ensemble"):
        assert "stage 05" in t.loc[ens, "note"] and np.isnan(t.loc[ens, "RMSE"])
    assert t.loc["SpTGNN ensemble", "paper RMSE"] == 3.51
    t = s3.build_table10({"SpTGNN": res["SpTGNN"]}).set_index("method")
    assert "n/a (not run)" in t.loc["SpTGNN", "claim"] and t.loc["XGBoost", "note"] == "not run"


# --------------------------------------------------------------------------- smoke corpus


def test_prepare_region_fits_preprocessors_on_training_rows_only(smoke_dir, africa):
    from geohet_lib.soc.stage01 import load_corpus, select_region

    d = africa
    reg = select_region(load_corpus(smoke_dir), "africa")
    train = (reg["split_africa"] == "train").to_numpy()
    assert d.n == len(reg) == d.graph.num_nodes and (d.ids == reg.index.to_numpy()).all()
    assert int(d.masks["train"].sum()) == train.sum() and d.index("train").size == train.sum()
    assert d.preprocessor.n_train_ == train.sum()
    cont = list(d.preprocessor.continuous)
    np.testing.assert_allclose(d.preprocessor.center_,
                               np.nanmean(reg.loc[train, cont].to_numpy(float), axis=0))
    assert d.scaler.mean_ == pytest.approx(np.log1p(reg.loc[train, "soc_gkg"]).mean())
    assert d.scaler.mean_ != pytest.approx(np.log1p(reg["soc_gkg"]).mean(), abs=1e-9)
    # standardised on training rows: mean 0 and sd 1 there, not over all rows
    assert np.abs(d.covariates[train].mean(axis=0)).max() < 1e-4
    assert d.covariates.shape == (d.n, len(COVARIATE_NAMES)) and np.isfinite(d.covariates).all()
    # changing a test sample's covariates or SOC does not move the fitted preprocessors
    corpus = load_corpus(smoke_dir)
    test_row = reg.index[~train][0]
    corpus.loc[test_row, "ndvi_p50"] = 0.99
    from geohet_lib.soc.split import CovariatePreprocessor
    again = CovariatePreprocessor(k=5).fit(select_region(corpus, "africa").loc[train,
                                                                             list(COVARIATE_NAMES)])
    np.testing.assert_array_equal(again.center_, d.preprocessor.center_)
    np.testing.assert_allclose(d.scaler.inverse(d.y_scaled), d.soc, rtol=1e-9)
    assert set(d.graph_frame.columns) == {"lat", "lon", "ndvi", "elevation"}


def test_region_run_inductive_and_xgboost_on_smoke(africa, smoke_dir):
    rng = np.random.default_rng(0)
    img = rng.standard_normal((africa.n, 32)).astype(np.float32)
    res = s3.run_region(africa, img, "smoke", seed=0, device="cpu", progress=False,
                        checkpoint_dir=smoke_dir / "ck", epochs=2)
    assert res.cfg.img_dim == 32 and res.history.epochs == 2
    assert res.val_pred.shape == (africa.index("val").size,)
    assert set(res.val_metrics) == {"MAE", "RMSE", "MAPE", "R2"}
    assert all(np.isfinite(v) for v in res.val_metrics.values())
    assert (smoke_dir / "ck" / BEST_NAME).exists()
    ind = s3.run_inductive(africa, res, img)
    assert ind["test_pred"].shape == (africa.index("test").size,)
    assert np.isfinite(ind["test_pred"]).all() and ind["n_reference"] == africa.index(
        "train", "val").size
    xgb = s3.run_xgboost(africa, seed=0, n_jobs=1, n_estimators=50)
    assert np.isfinite(xgb["test_pred"]).all() and xgb["model"].params["max_depth"] == 8
    t = s3.build_table10({"XGBoost": {"n_test": 20, **xgb["test_metrics"]},
                          "SpTGNN": {"n_test": 20, **res.test_metrics},
                          "SpTGNN (inductive)": {"n_test": 20, **ind["metrics"]}})
    assert t["RMSE"].notna().sum() == 3


def test_image_embeddings_are_cached_and_reused(africa, smoke_dir):
    first = s3.image_embeddings(smoke_dir, "smoke", "africa", seed=0, device="cpu",
                                data=africa, progress=False)
    assert first.embeddings.shape == (africa.n, 32) and not first.reused
    assert (smoke_dir / "vit_africa" / "embeddings.npy").exists()
    row = first.table5_row()
    assert row["warm-up epochs (frozen body)"] == 1 and row["loss"] == "mse"
    assert row["paper val-R2"] == 0.676
    again = s3.image_embeddings(smoke_dir, "smoke", "africa", seed=0, device="cpu",
                                data=africa, progress=False)
    assert again.reused
    np.testing.assert_array_equal(again.embeddings, first.embeddings)
    other = s3.image_embeddings(smoke_dir, "smoke", "africa", seed=1, device="cpu",
                                data=africa, progress=False)
    assert not other.reused  # another seed: refitted, cache replaced
    assert isinstance(s3.build_table5({"africa": other}), pd.DataFrame)


def test_region_config_switches_the_kind_of_step(africa):
    from geohet_lib.soc.configs import SPTGNN_CONFIGS, full_batch_lr

    img = np.zeros((africa.n, 32), np.float32)
    t6 = SPTGNN_CONFIGS["africa"]
    n_train = int(africa.masks["train"].sum())
    smoke = s3.region_config(africa, img, "smoke")  # the smoke profile: full batch
    assert smoke.batch_size is None
    mini = s3.region_config(africa, img, "smoke", full_batch=False)
    assert mini.batch_size == t6.batch_size and mini.lr == t6.lr
    paper = s3.region_config(africa, img, "paper")  # Table 6 mini-batches
    assert paper.batch_size == 32
    full = s3.region_config(africa, img, "paper", full_batch=True)
    assert full.batch_size is None
    assert full.lr == pytest.approx(full_batch_lr(t6.lr, 32, n_train))
    assert s3.region_config(africa, img, "smoke", full_batch=False, lr=1e-2).lr == 1e-2


def test_region_run_with_mini_batches(africa):
    img = np.random.default_rng(1).standard_normal((africa.n, 32)).astype(np.float32)
    res = s3.run_region(africa, img, "smoke", seed=0, device="cpu", progress=False,
                        full_batch=False, epochs=1, batch_size=64, fanouts=(4,))
    assert res.cfg.batch_size == 64 and res.history.epochs == 1
    assert all(np.isfinite(v) for v in res.val_metrics.values())
