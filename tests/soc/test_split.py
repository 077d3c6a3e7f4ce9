"""SOC splits and preprocessing (SOC paper 4.3, 4.5, 5.1)."""

import numpy as np
import pandas as pd
import pytest

from geohet_lib.soc.covariates import CATEGORICAL_COLUMNS, COVARIATE_NAMES
from geohet_lib.soc.split import (CovariatePreprocessor, LogTargetScaler, quantile_strata,
                                  stratified_split)


@pytest.fixture(scope="module")
def soc():
    return np.exp(np.random.default_rng(3).normal(2.6, 0.6, 2003))


def test_split_proportions_overall_and_per_stratum(soc):
    lab = stratified_split(soc, (0.9, 0.05, 0.05), n_strata=10, seed=0)
    assert lab.shape == soc.shape and set(lab) == {"train", "val", "test"}
    counts = pd.Series(lab).value_counts()
    assert counts["val"] == round(0.05 * soc.size) == counts["test"]
    assert counts["train"] == soc.size - counts["val"] - counts["test"]
    strata = quantile_strata(soc, 10)
    assert sorted(set(strata)) == list(range(10))
    for b in range(10):
        m = strata == b
        for part, f in (("train", 0.9), ("val", 0.05), ("test", 0.05)):
            assert abs((lab[m] == part).sum() - f * m.sum()) <= 1.0, (b, part)


def test_strata_are_quantile_bins_of_log1p(soc):
    strata = quantile_strata(soc, 10)
    z = np.log1p(soc)
    # bins are ordered: every value of bin b is below every value of bin b + 1
    for b in range(9):
        assert z[strata == b].max() <= z[strata == b + 1].min()
    sizes = np.bincount(strata)
    assert sizes.max() - sizes.min() <= 1


def test_split_is_a_partition_and_deterministic(soc):
    a = stratified_split(soc, seed=4)
    b = stratified_split(soc, seed=4)
    c = stratified_split(soc, seed=5)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    idx = {p: set(np.flatnonzero(a == p)) for p in ("train", "val", "test")}
    assert not (idx["train"] & idx["val"]) and not (idx["train"] & idx["test"])
    assert not (idx["val"] & idx["test"])
    assert len(idx["train"] | idx["val"] | idx["test"]) == soc.size


def test_split_small_and_bad_inputs():
    lab = stratified_split(np.arange(1.0, 21.0), (0.5, 0.25, 0.25), n_strata=4, seed=0)
    assert list(pd.Series(lab).value_counts().sort_index()) == [5, 10, 5]  # test, train, val
    with pytest.raises(ValueError, match="NaN"):
        stratified_split(np.array([1.0, np.nan, 3.0]))
    with pytest.raises(ValueError, match="summing to 1"):
        stratified_split(np.ones(10), (0.9, 0.2, 0.05))
    with pytest.raises(ValueError, match="n_strata"):
        stratified_split(np.ones(10), n_strata=0)


def _covariates(n, seed, missing=0.05):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 3))
    data = {}
    for j, c in enumerate(COVARIATE_NAMES):
        if c in CATEGORICAL_COLUMNS:
            data[c] = rng.integers(0, 5, n).astype(float)
        else:  # correlated columns in very different units, so imputation has signal
            data[c] = (base[:, j % 3] + 0.1 * rng.normal(size=n)) * 10.0 ** (j % 4)
    full = pd.DataFrame(data)
    return full.mask(rng.random(full.shape) < missing), full


def test_preprocessor_imputes_and_standardises():
    df, full = _covariates(400, 0)
    pre = CovariatePreprocessor(k=5).fit(df)
    x = pre.transform(df)
    assert x.shape == (400, 63) and x.dtype == np.float32 and np.isfinite(x).all()
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-5)
    assert np.all(np.abs(x.std(axis=0) - 1.0) < 1e-3)
    imp = pre.impute(df)
    assert not imp.isna().any().any()
    observed = df.notna()
    np.testing.assert_allclose(imp[observed].fillna(0), df[observed].fillna(0))
    for c in CATEGORICAL_COLUMNS:  # most frequent training value: still a category code
        assert np.all(imp[c] == np.round(imp[c]))
        miss = df[c].isna()
        assert (imp.loc[miss, c] == df[c].mode().min()).all()
    # KNN uses the correlated columns (in any units): imputed values follow the truth
    for c in ("blue_p10", "nir_p50", "elevation"):
        miss = df[c].isna().to_numpy()
        assert miss.sum() > 5
        assert np.corrcoef(imp.loc[miss, c], full.loc[miss, c])[0, 1] > 0.9, c


def test_preprocessor_sees_only_training_rows():
    df, _ = _covariates(300, 1)
    train = np.arange(300) < 240
    a = CovariatePreprocessor().fit(df.loc[train])
    bad = df.copy()
    cont = [c for c in COVARIATE_NAMES if c not in CATEGORICAL_COLUMNS]
    bad.loc[~train, cont] = bad.loc[~train, cont] * 1000.0 + 5.0
    bad.loc[~train, list(CATEGORICAL_COLUMNS)] = 4.0
    b = CovariatePreprocessor().fit(bad.loc[train])
    for attr in ("center_", "spread_"):
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
    np.testing.assert_array_equal(a.scaler_.mean_, b.scaler_.mean_)
    np.testing.assert_array_equal(a.scaler_.scale_, b.scaler_.scale_)
    np.testing.assert_array_equal(a.knn_._fit_X, b.knn_._fit_X)
    assert a.n_train_ == 240
    np.testing.assert_array_equal(a.transform(df.loc[train]), b.transform(bad.loc[train]))
    # fitting on all rows instead would change the statistics
    c = CovariatePreprocessor().fit(bad)
    assert not np.allclose(c.scaler_.mean_, a.scaler_.mean_)


def test_preprocessor_errors():
    df, _ = _covariates(50, 2)
    with pytest.raises(RuntimeError, match="not fitted"):
        CovariatePreprocessor().transform(df)
    with pytest.raises(ValueError, match="missing"):
        CovariatePreprocessor().fit(df.drop(columns=["ndvi_p50"]))
    empty = df.copy()
    empty["npp"] = np.nan
    with pytest.raises(ValueError, match="npp"):
        CovariatePreprocessor().fit(empty)
    x = CovariatePreprocessor().fit(df.to_numpy()).transform(df.to_numpy())
    assert x.shape == (50, 63)


@pytest.mark.parametrize("kind", ["log1p", "log"])
def test_log_target_scaler_round_trip(kind, soc):
    train = soc[:1500]
    s = LogTargetScaler(kind).fit(train)
    z = s.transform(soc)
    f = np.log1p if kind == "log1p" else np.log
    assert abs(z[:1500].mean()) < 1e-9 and abs(z[:1500].std() - 1) < 1e-9
    assert s.mean_ == pytest.approx(f(train).mean())
    np.testing.assert_allclose(s.inverse(z), soc, rtol=1e-12)
    np.testing.assert_allclose(s.inverse(s.transform([1.0, 61.4])), [1.0, 61.4])


def test_log_target_scaler_errors():
    with pytest.raises(ValueError, match="kind"):
        LogTargetScaler("sqrt")
    with pytest.raises(RuntimeError, match="not fitted"):
        LogTargetScaler().inverse(np.zeros(2))
    with pytest.raises(ValueError, match="<= 0"):
        LogTargetScaler("log").fit(np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="NaN"):
        LogTargetScaler().fit(np.array([1.0, np.nan]))
