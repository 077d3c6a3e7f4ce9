"""Stage 05 of the SOC study (geohet_lib/soc/uq.py): cached ensemble members and the paper's
Tables 7-10 builders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geohet_lib.soc import uq as suq
from geohet_lib.uq.ensemble import aggregate
from geohet_lib.uq.evaluation import Calibrated, size_sweep


def test_members_predict_every_node_and_the_inductive_test_points(africa, tmp_path, monkeypatch):
    m = suq.train_members(africa, None, "beta-NLL", [0, 1], epochs=2, warmup_epochs=1,
                          cache_dir=tmp_path)
    n, n_test = africa.n, africa.index("test").size
    assert m.mean.shape == m.var.shape == (2, n) and np.all(m.var > 0)
    assert m.ind_mean.shape == (2, n_test) and np.all(m.ind_var > 0)
    assert m.cached == [False, False] and len(m.val_rmse) == 2
    p = m.at(africa.index("test"))
    assert p.members == 2 and p.ddof == 1 and p.mean.shape == (n_test,)
    monkeypatch.setattr(suq, "run_region", lambda *a, **k: pytest.fail("retrained"))
    again = suq.train_members(africa, None, "beta-NLL", [0, 1], 2, 1, tmp_path)
    assert again.cached == [True, True]
    np.testing.assert_array_equal(again.mean, m.mean)
    with pytest.raises(ValueError, match="unknown ensemble"):
        suq.train_members(africa, None, "mc-dropout", [0], 2, 1, tmp_path)


def test_member_config_separates_losses_and_budgets():
    a = suq.member_config("africa", "mse_plus_nll", 60, 30, True)
    assert a != suq.member_config("africa", "beta_nll", 60, 30, True)
    assert a != suq.member_config("africa", "mse_plus_nll", 60, 20, True)
    assert a != suq.member_config("europe", "mse_plus_nll", 60, 30, True)


def _cal(rng, n=120, scale=1.0, shift=0.0):
    y = rng.normal(size=n)
    means = y + shift + rng.normal(scale=0.5, size=(3, n))
    var = np.full((3, n), 0.25 * scale ** 2)
    return Calibrated(y, aggregate(means, var), 1.0 / scale), means, var


def test_table_builders_carry_paper_values_and_judge_claims():
    rng = np.random.default_rng(0)
    cal_h, mh, vh = _cal(rng, scale=2.0)  # sigma twice too wide; T = 0.5 fixes it
    cal_b, mb, vb = _cal(rng)
    cals = {"hybrid": cal_h, "beta-NLL": cal_b}
    t7 = suq.build_table7(cals, n_resamples=200)
    ece_h = t7[(t7.ensemble == "hybrid") & (t7.metric == "ECE")].iloc[0]
    assert ece_h["post-cal"] < ece_h["pre-cal"] and ece_h["paper pre-cal"] == 0.054
    assert "lowers ECE: holds" in ece_h["claim"]
    t_row = t7[(t7.ensemble == "hybrid") & (t7.metric.str.startswith("T "))].iloc[0]
    assert t_row["post-cal"] == pytest.approx(0.5) and t_row["paper post-cal"] == 0.92
    rmse = t7[(t7.ensemble == "hybrid") & (t7.metric == "RMSE")].iloc[0]
    assert rmse["pre-cal"] == rmse["post-cal"]  # the temperature leaves the mean alone

    sweeps = {"hybrid": size_sweep(cal_h.y, mh, vh), "beta-NLL": size_sweep(cal_b.y, mb, vb)}
    from geohet_lib.uq.evaluation import summarise_sizes
    t9 = suq.build_table9({k: summarise_sizes(v) for k, v in sweeps.items()})
    paper = t9[(t9.ensemble == "hybrid") & (t9.metric == "RMSE") & (t9.source == "paper")]
    assert paper["M=1"].iloc[0] == "0.704" and list(t9.columns[-3:]) == ["M=1", "M=2", "M=3"]
    claims = suq.table9_claims(sweeps)
    assert len(claims) == 4 and set(claims.verdict) <= {"holds", "within noise", "does not hold"}

    y = np.exp(rng.normal(2, 0.3, size=100))
    preds = {"XGBoost": y + rng.normal(scale=2.0, size=100), "beta-NLL": y + rng.normal(scale=2.0, size=100),
             "hybrid": y + rng.normal(scale=0.2, size=100)}
    t10 = suq.build_table10(y, preds, n_members=3, n_resamples=200)
    assert t10.method.str.contains(r"\(M=3\)").sum() == 2
    assert t10.loc[0, "claim"].startswith("hybrid ensemble beats XGBoost on RMSE: holds")
    assert t10.loc[2, "claim"] == "" and t10.loc[0, "paper RMSE"] == 3.84


def test_table8_gives_both_aggregations():
    rng = np.random.default_rng(1)
    cal, means, var = _cal(rng)
    members = {"hybrid": suq.Members("hybrid", [0, 1, 2], means, var, means, var, [], [], [])}
    t8 = suq.build_table8({"hybrid": cal}, members, np.arange(means.shape[1]), n_resamples=100)
    bessel = t8.loc["Epistemic fraction", "hybrid"]
    mixture = t8.loc["Epistemic fraction, mixture form (ddof = 0)", "hybrid"]
    assert bessel > mixture and t8.loc["Epistemic fraction", "paper hybrid"] == 0.480
