"""Stage 05's shared evaluation (geohet_lib/uq/evaluation.py)."""

from __future__ import annotations

import numpy as np
import pytest

from geohet_lib.uq import evaluation as ev
from geohet_lib.uq.bootstrap import bootstrap_ci
from geohet_lib.uq.ensemble import aggregate
from geohet_lib.uq.metrics import ece
from geohet_lib.uq.temperature import temperature_closed_form


def _members(rng, n=400, m=4, sigma_scale=1.0):
    """Members whose mean errors are N(0, 0.8²) and whose variances say (0.6 · scale)²;
    with the spread between members (~0.3²) the total is right at scale 1."""
    y = rng.normal(size=n)
    centre = y + rng.normal(scale=0.8, size=n)
    means = centre + rng.normal(scale=0.3, size=(m, n))
    var = np.full((m, n), (0.6 * sigma_scale) ** 2)
    return y, means, var


def test_temperature_for_beta_weights_is_the_weighted_closed_form():
    rng = np.random.default_rng(0)
    y, means, var = _members(rng)
    var = var * rng.uniform(0.5, 2.0, size=var.shape[1])
    p = aggregate(means, var)
    w = p.sigma ** (2 * 0.5)
    assert ev.temperature_for(y, p, beta=0.5) == pytest.approx(
        temperature_closed_form(y, p.mean, p.sigma, weights=w), rel=1e-5)
    assert ev.temperature_for(y, p) == pytest.approx(temperature_closed_form(y, p.mean, p.sigma), rel=1e-5)


def test_grouped_ci_with_singleton_groups_equals_the_plain_bootstrap():
    rng = np.random.default_rng(1)
    x = rng.normal(size=50)
    plain = ev.grouped_ci(lambda i: float(x[i].mean()), 50, 300, 7)
    single = ev.grouped_ci(lambda i: float(x[i].mean()), 50, 300, 7, groups=np.arange(50))
    assert plain == pytest.approx(single)
    # each value repeated 5 times in a group = the bootstrap of the distinct values
    rep = np.repeat(x, 5)
    grouped = ev.grouped_ci(lambda i: float(rep[i].mean()), rep.size, 300, 7,
                            groups=np.repeat(np.arange(50), 5))
    assert grouped == pytest.approx(bootstrap_ci(np.mean, x, n_resamples=300, seed=7))


def test_calibration_summary_judges_temperature_scaling():
    rng = np.random.default_rng(2)
    y, means, var = _members(rng, sigma_scale=3.0)  # sigma three times too wide
    p = aggregate(means, var)
    cal = ev.Calibrated(y, p, ev.temperature_for(y, p))
    assert cal.t < 0.6
    t = ev.calibration_summary({"ens": cal}, n_resamples=200)
    row = t[t.metric == "ECE"].iloc[0]
    assert row["post-cal"] < row["pre-cal"] and "holds" in row["claim"]
    assert row["post-cal"] == pytest.approx(ece(y, p.mean, p.sigma * cal.t))
    assert "paper pre-cal" not in t  # no paper, no paper columns
    lo, hi = map(float, row["pre-cal 95% CI"].strip("[]").split(","))
    assert lo <= row["pre-cal"] <= hi


def test_ci_verdict_reads_the_interval():
    assert ev.ci_verdict(0.1, 0.3, "x").startswith("x: holds")
    assert ev.ci_verdict(-0.1, 0.3, "x").startswith("x: within noise")
    assert ev.ci_verdict(-0.3, -0.1, "x").startswith("x: does not hold")


def test_size_sweep_covers_every_subset():
    rng = np.random.default_rng(3)
    y, means, var = _members(rng, m=4)
    runs = ev.size_sweep(y, means, var, to_original=np.exp, y_original=np.exp(y))
    assert len(runs) == 2 ** 4 - 1
    assert (runs[runs.M == 1]["Epistemic frac."] == 0).all()
    full = aggregate(means, var)
    last = runs[runs.M == 4].iloc[0]
    assert last["ECE"] == pytest.approx(ece(y, full.mean, full.sigma))
    assert last["MAPE"] == pytest.approx(np.mean(np.abs(np.exp(full.mean) - np.exp(y)) / np.exp(y)) * 100)
    s = ev.summarise_sizes(runs)
    assert s["subsets"].tolist() == [4, 6, 4, 1]
    assert s.loc[0, "RMSE"] == pytest.approx(runs[runs.M == 1]["RMSE"].mean())
    # more members, smaller error of the mean, on average
    assert s.loc[3, "RMSE"] < s.loc[0, "RMSE"]


def test_interval_comparison_orders_the_intervals():
    rng = np.random.default_rng(4)
    n = 4000
    sigma = rng.uniform(0.5, 2.0, size=2 * n)
    y = sigma * rng.normal(size=2 * n)
    mu = np.zeros(2 * n)
    t = ev.interval_comparison(y[:n], mu[:n], sigma[:n], y[n:], mu[n:], sigma[n:]).set_index("interval")
    assert t.loc["Gaussian", "coverage"] == pytest.approx(0.95, abs=0.015)
    assert t.loc["Vysochanskij-Petunin", "coverage"] > 0.99
    conf = t.loc["split conformal (normalised)"]
    assert conf["coverage"] == pytest.approx(0.95, abs=0.015)
    assert conf["multiplier of sigma"] == pytest.approx(1.96, abs=0.08)


def test_shift_rows_refit_matches_the_validation_temperature_on_the_same_split():
    rng = np.random.default_rng(5)
    y, means, var = _members(rng, sigma_scale=2.0)
    p = aggregate(means, var)
    t = ev.temperature_for(y, p)
    rows = ev.shift_rows({"val": (y, p.mean, p.sigma), "shifted": (y + 1.0, p.mean, p.sigma)}, t)
    assert rows.loc[0, "T refitted on this split"] == pytest.approx(t, rel=1e-5)
    assert rows.loc[1, "ECE"] > rows.loc[0, "ECE"] and rows.loc[1, "T refitted on this split"] > t
