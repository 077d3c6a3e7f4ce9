"""geohet_lib.gpp.section43: the protocol of GPP paper 4.3 (subset, climatology, scores, tables,
Figure 3's principal components and the true map)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geohet_lib.gpp import section43 as s43
from geohet_lib.metrics import r2, rmse


@pytest.fixture(scope="module")
def cache(smoke_gpp_dir):
    from geohet_lib.gpp.samples import open_sample_cache

    return open_sample_cache(smoke_gpp_dir)


@pytest.fixture(scope="module")
def subset(cache, smoke_gpp_dir, smoke_profile):
    cells = pd.read_parquet(smoke_gpp_dir / "cells.parquet")
    c = smoke_profile.gpp.sec43
    return s43.build_subset(cache, cells, c.covariates, smoke_profile.gpp.train_years, 2020,
                            n_cells=40, seed=3)


def test_sample_cells_uniform_without_replacement():
    a = s43.sample_cells(1000, 200, seed=1)
    assert a.size == 200 and np.unique(a).size == 200 and (np.diff(a) > 0).all()
    np.testing.assert_array_equal(a, s43.sample_cells(1000, 200, seed=1))
    assert not np.array_equal(a, s43.sample_cells(1000, 200, seed=2))
    np.testing.assert_array_equal(s43.sample_cells(50, 80), np.arange(50))
    # uniform: each decile of the grid gets about a tenth of a large sample
    big = s43.sample_cells(100_000, 20_000, seed=0)
    counts = np.bincount(big // 10_000, minlength=10)
    assert counts.min() > 1800 and counts.max() < 2200
    with pytest.raises(ValueError):
        s43.sample_cells(10, 0)


def test_climatology_is_the_mean_over_training_years(cache, subset, smoke_profile):
    fi = [cache.feature_names.index(c) for c in subset.covariates]
    yi = cache.year_index(smoke_profile.gpp.train_years)
    c = subset.cells[5]
    expect_x = np.mean([cache.features[c, y][:, fi] for y in yi], axis=0)
    expect_y = np.mean([cache.target[c, y] for y in yi], axis=0)
    np.testing.assert_allclose(subset.x_clim[5], expect_x, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(subset.y_clim[5], expect_y, rtol=1e-6)
    ti = cache.year_index([2020])[0]
    np.testing.assert_allclose(subset.y_test[5], cache.target[c, ti])
    assert subset.x_clim.shape == (40, 46, len(subset.covariates))
    assert subset.coords.shape == (40, 2) and subset.n_weeks == 46


def test_build_subset_rejects_unknown_covariates(cache, smoke_gpp_dir):
    cells = pd.read_parquet(smoke_gpp_dir / "cells.parquet")
    with pytest.raises(ValueError, match="not features"):
        s43.build_subset(cache, cells, ["temperature_2m", "banana"], [2018, 2019], 2020, 10)


class _OLS:
    """Global least squares with the spatial-model interface (a stand-in for the runners)."""

    def fit(self, coords, X, y, t=None):
        A = np.column_stack([np.ones(len(y)), X])
        self.beta = np.linalg.lstsq(A, y, rcond=None)[0]
        return self

    def predict(self, coords, X):
        return self.beta[0] + X @ self.beta[1:]

    def local_coefficients(self, coords):
        return np.tile(self.beta, (len(coords), 1))


class _STOLS(_OLS):
    def fit(self, coords, t, X, y):
        return super().fit(coords, X, y)

    def predict(self, coords, t, X):
        return super().predict(coords, X)

    def local_coefficients(self, coords, t):
        return super().local_coefficients(coords)


def test_runners_fill_the_weeks_they_run_and_scores_match_metrics(subset):
    per_week = s43.run_per_week("OLS", _OLS, subset, weeks=(1, 10), figure_week=40, progress=False)
    assert per_week.weeks_run == [1, 10, 40]
    assert np.isfinite(per_week.test_pred[:, [0, 9, 39]]).all()
    assert np.isnan(per_week.test_pred[:, 5]).all()
    assert per_week.coefficients.shape == (40, len(subset.covariates) + 1)
    st = s43.run_space_time("STOLS", _STOLS(), subset, figure_week=40)
    assert np.isfinite(st.test_pred).all() and len(st.weeks_run) == 46
    weekly = s43.weekly_scores([per_week, st], subset)
    row = weekly[(weekly.method == "OLS") & (weekly.week == 10)].iloc[0]
    assert row.rmse == pytest.approx(rmse(subset.y_test[:, 9], per_week.test_pred[:, 9]))
    assert row.r2 == pytest.approx(r2(subset.y_test[:, 9], per_week.test_pred[:, 9]))
    overall = s43.overall_scores([per_week, st], subset).set_index("method")
    sel = per_week.test_pred[:, [0, 9, 39]]
    assert overall.loc["OLS", "rmse"] == pytest.approx(rmse(subset.y_test[:, [0, 9, 39]].ravel(),
                                                            sel.ravel()))
    assert overall.loc["OLS", "n_weeks"] == 3 and overall.loc["STOLS", "n_weeks"] == 46
    with pytest.raises(ValueError, match="outside"):
        s43.run_per_week("OLS", _OLS, subset, weeks=(0, 47), progress=False)


def _fake_scores(rmse_by_method: dict[str, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    weekly = pd.DataFrame([{"method": m, "week": w, "rmse": v + 0.01 * w, "r2": 0.5}
                           for m, v in rmse_by_method.items() for w in (1, 10, 20, 30, 40)])
    overall = pd.DataFrame([{"method": m, "rmse": v, "r2": 0.5, "n_weeks": 46, "fit_seconds": 1.0}
                            for m, v in rmse_by_method.items()])
    return weekly, overall


def test_table1_claims_follow_the_numbers():
    weekly, overall = _fake_scores({"GWR": 2.0, "GNNWR": 1.0, "GTWR": 1.8, "GTNNWR": 1.2,
                                    "GeoHet": 0.8})
    t = s43.build_table1(weekly, overall).set_index("method")
    assert t.loc["GNNWR", "claim"].endswith("holds")
    assert "lowest RMSE at every reported week: holds" in t.loc["GeoHet", "claim"]
    assert t.loc["GWR", "paper w1"] == "1.990/0.434" and t.loc["GTNNWR", "paper w1"] == "-"
    assert t.loc["GeoHet", "RMSE w10"] == pytest.approx(0.9)
    weekly, overall = _fake_scores({"GWR": 2.0, "GNNWR": 2.5, "GTWR": 1.8, "GeoHet": 1.9})
    t = s43.build_table1(weekly, overall).set_index("method")
    assert t.loc["GNNWR", "claim"].endswith("does not hold")
    assert "lowest RMSE at every reported week: does not hold" in t.loc["GeoHet", "claim"]
    assert "GTNNWR" not in t.index


def test_table2_gap_is_test_minus_train(subset):
    n, T = subset.y_test.shape
    rng = np.random.default_rng(0)
    def result(name, train_noise, test_noise):
        return s43.MethodResult(name, subset.y_test + rng.normal(0, test_noise, (n, T)),
                                subset.y_clim + rng.normal(0, train_noise, (n, T)), subset.y_clim,
                                None, 1.0, list(range(1, T + 1)))
    gn, geo = result("GNNWR", 0.1, 3.0), result("GeoHet", 1.0, 1.5)
    t = s43.build_table2([gn, geo], subset, 40).set_index("method")
    w = 39
    assert t.loc["GNNWR", "train RMSE"] == pytest.approx(rmse(subset.y_clim[:, w], gn.train_pred[:, w]))
    assert t.loc["GNNWR", "test RMSE"] == pytest.approx(rmse(subset.y_test[:, w], gn.test_pred[:, w]))
    assert t.loc["GeoHet", "gap"] == pytest.approx(t.loc["GeoHet", "test RMSE"] - t.loc["GeoHet", "train RMSE"])
    assert t.loc["GeoHet", "claim"].endswith(": holds")
    assert t.loc["GNNWR", "paper gap"] == pytest.approx(0.357)


def test_leading_component_equals_pca_of_standardised_columns():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    v = rng.normal(size=(300, 4)) @ rng.normal(size=(4, 4)) + np.array([100.0, 0, -3, 7])
    v = np.column_stack([v, np.full(300, 2.5)])  # a constant column is ignored
    pc = s43.leading_component(v)
    z = (v[:, :4] - v[:, :4].mean(0)) / v[:, :4].std(0)
    ref = PCA(n_components=1).fit_transform(z)[:, 0]
    assert abs(np.corrcoef(pc, ref)[0, 1]) == pytest.approx(1.0, abs=1e-10)
    np.testing.assert_allclose(np.abs(pc), np.abs(ref), rtol=1e-8, atol=1e-8)
    one = s43.leading_component(v[:, :1])
    np.testing.assert_allclose(one, z[:, 0])
    with pytest.raises(ValueError):
        s43.leading_component(np.ones((5, 2)))


def test_true_heterogeneity_uses_the_week_light_use_efficiency(smoke_gpp_dir, subset):
    truth = pd.read_parquet(smoke_gpp_dir / "ground_truth.parquet")
    pc, params = s43.true_heterogeneity(truth, subset.cells, week=40, year=2020)
    assert pc.shape == (40,) and list(params.columns) == ["lue_week", "t_opt", "t_width", "water_beta"]
    t = truth.set_index("cell").loc[subset.cells[0]] if "cell" in truth else truth.iloc[subset.cells[0]]
    doy = 8 * 39 + 4.0  # week 40 starts on day-of-year 313 (0-based 312), 8 days long
    expect = t["lue_max"] * (1 + t["season_amp"] * np.cos(2 * np.pi * (doy - t["season_phase"]) / 365.25))
    assert params["lue_week"].iloc[0] == pytest.approx(expect)
    aligned, r = s43.align_to_truth(-pc, pc)
    np.testing.assert_allclose(aligned, pc)
    assert r == pytest.approx(1.0)


def test_a_week_that_cannot_be_fitted_is_reported_and_left_out(subset):
    class Failing(_OLS):
        calls = 0

        def fit(self, coords, X, y, t=None):
            Failing.calls += 1
            if Failing.calls == 2:
                raise ValueError("GWR: a local regression is singular")
            return super().fit(coords, X, y)

    res = s43.run_per_week("GWR", Failing, subset, weeks=(1, 10, 20), figure_week=40,
                           progress=False)
    assert res.weeks_run == [1, 20, 40] and "singular" in res.config["failed_weeks"][10]
    assert np.isnan(res.test_pred[:, 9]).all()
    scores = s43.weekly_scores([res], subset)
    assert set(scores["week"]) == {1, 20, 40}
