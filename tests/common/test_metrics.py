"""geohet_lib.metrics against hand-computed values and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from geohet_lib.metrics import mae, mape, r2, regression_report, rmse

Y = np.array([1.0, 2.0, 3.0, 4.0])
YHAT = np.array([1.0, 3.0, 2.0, 6.0])  # residuals 0, -1, 1, -2


def test_hand_values():
    assert rmse(Y, YHAT) == pytest.approx(math.sqrt((0 + 1 + 1 + 4) / 4))
    assert mae(Y, YHAT) == pytest.approx((0 + 1 + 1 + 2) / 4)
    # SS_res = 6, mean(y) = 2.5, SS_tot = 2.25 + 0.25 + 0.25 + 2.25 = 5
    assert r2(Y, YHAT) == pytest.approx(1 - 6 / 5)
    assert mape(Y, YHAT) == pytest.approx((0 + 1 / 2 + 1 / 3 + 2 / 4) / 4)
    assert mape(Y, YHAT, percent=True) == pytest.approx(100 * (0 + 1 / 2 + 1 / 3 + 2 / 4) / 4)
    assert rmse(Y, Y) == 0.0 and r2(Y, Y) == 1.0


def test_against_sklearn():
    rng = np.random.default_rng(0)
    y = rng.normal(2, 1, 1000)
    yhat = y + rng.normal(0, 0.3, 1000)
    y[::97] = 0.0  # zeros exercise the eps guard in MAPE
    assert rmse(y, yhat) == pytest.approx(math.sqrt(skm.mean_squared_error(y, yhat)), rel=1e-12)
    assert mae(y, yhat) == pytest.approx(skm.mean_absolute_error(y, yhat), rel=1e-12)
    assert r2(y, yhat) == pytest.approx(skm.r2_score(y, yhat), rel=1e-12)
    assert mape(y, yhat) == pytest.approx(skm.mean_absolute_percentage_error(y, yhat), rel=1e-12)


def test_float32_and_column_vectors():
    rng = np.random.default_rng(1)
    y = rng.normal(size=500).astype(np.float32)
    yhat = (y + 0.1).astype(np.float32)
    assert rmse(y[:, None], yhat) == pytest.approx(0.1, rel=1e-5)
    assert r2(y, yhat[:, None]) == pytest.approx(skm.r2_score(y.astype(np.float64), yhat.astype(np.float64)), rel=1e-6)


def test_mape_mask():
    y = np.array([0.0, 1e-6, 2.0, 4.0])
    yhat = np.array([1.0, 1.0, 1.0, 2.0])
    assert mape(y, yhat, min_abs_y=0.5) == pytest.approx((0.5 + 0.5) / 2)
    with pytest.raises(ValueError, match="min_abs_y"):
        mape(y, yhat, min_abs_y=100.0)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="mismatch"):
        rmse(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="1-D"):
        mae(np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="empty"):
        r2(np.zeros(0), np.zeros(0))


def test_nan_policy():
    y = np.array([1.0, np.nan, 3.0, 4.0])
    yhat = np.array([1.0, 2.0, np.inf, 5.0])
    for f in (rmse, mae, r2, mape):
        with pytest.raises(ValueError, match="non-finite"):
            f(y, yhat)
    # omit drops rows 1 and 2 -> pairs (1, 1), (4, 5)
    assert rmse(y, yhat, nan_policy="omit") == pytest.approx(math.sqrt(0.5))
    assert mae(y, yhat, nan_policy="omit") == pytest.approx(0.5)
    with pytest.raises(ValueError, match="nan_policy"):
        rmse(y, yhat, nan_policy="ignore")


def test_r2_constant_target_is_nan_and_report():
    assert math.isnan(r2(np.ones(5), np.arange(5.0)))
    rep = regression_report(Y, YHAT)
    assert set(rep) == {"rmse", "mae", "r2"}
    assert rep["rmse"] == pytest.approx(rmse(Y, YHAT))
