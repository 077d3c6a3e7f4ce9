"""geohet_lib.baselines.gwr: GWR reproduces mgwr (and GWR4) on the Georgia data.

The Georgia counties data (Fotheringham, Brunsdon & Charlton 2002) ship inside the libpysal
wheel, with GWR4's own output for the classic model PctBach ~ PctRural + PctPov + PctBlack
(adaptive bisquare, golden-section AICc) — GPP paper 4.3 uses GWR with that estimator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geohet_lib.baselines.gwr import GWR, check_spatial_inputs

libpysal = pytest.importorskip("libpysal")
mgwr_gwr = pytest.importorskip("mgwr.gwr")
mgwr_sel = pytest.importorskip("mgwr.sel_bw")

GEORGIA = Path(libpysal.__file__).parent / "examples" / "georgia"


@pytest.fixture(scope="module")
def georgia():
    d = pd.read_csv(GEORGIA / "GData_utm.csv")
    coords = d[["X", "Y"]].to_numpy(float)
    y = d["PctBach"].to_numpy(float)
    X = d[["PctRural", "PctPov", "PctBlack"]].to_numpy(float)
    return coords, X, y, d


@pytest.fixture(scope="module")
def fitted(georgia):
    coords, X, y, _ = georgia
    return GWR(spherical=False).fit(coords, X, y)


def test_wrapper_equals_mgwr_bandwidth_coefficients_aicc(georgia, fitted):
    coords, X, y, _ = georgia
    bw = mgwr_sel.Sel_BW(coords, y[:, None], X, kernel="bisquare", fixed=False).search(criterion="AICc")
    res = mgwr_gwr.GWR(coords, y[:, None], X, bw, kernel="bisquare", fixed=False).fit()
    assert fitted.bandwidth_ == pytest.approx(float(bw), abs=1e-6)
    np.testing.assert_allclose(fitted.params_, res.params, rtol=1e-6, atol=1e-9)
    assert fitted.aicc_ == pytest.approx(float(res.aicc), rel=1e-6)
    assert fitted.hat_trace_ == pytest.approx(float(res.tr_S), rel=1e-6)
    np.testing.assert_allclose(fitted.fitted_, res.predy.ravel(), rtol=1e-6)


def test_wrapper_matches_gwr4_reference_output(georgia):
    """GWR4's output for the same model (shipped with libpysal): at GWR4's bandwidth (90
    neighbours) the coefficients, fitted values and AICc (896.462831, its summary file) agree.
    mgwr's finer golden-section search settles on 93 neighbours with a lower AICc."""
    coords, X, y, d = georgia
    m = GWR(bw=90, spherical=False).fit(coords, X, y)
    ref = pd.read_csv(GEORGIA / "georgia_BS_NN_listwise.csv", skipinitialspace=True)
    ref = ref.set_index("Area_key").loc[d["AreaKey"]]
    est = ref[["est_Intercept", "est_PctRural", "est_PctPov", "est_PctBlack"]].to_numpy()
    np.testing.assert_allclose(m.params_, est, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m.fitted_, ref["yhat"].to_numpy(), rtol=1e-4, atol=1e-5)
    assert m.aicc_ == pytest.approx(896.462831, abs=1e-5)


def test_searched_bandwidth_improves_on_gwr4(fitted):
    assert fitted.bandwidth_ == 93.0
    assert fitted.aicc_ < 896.462831


def test_prediction_at_held_out_locations_equals_mgwr(georgia):
    coords, X, y, _ = georgia
    rng = np.random.default_rng(0)
    test = rng.choice(len(y), 25, replace=False)
    train = np.setdiff1d(np.arange(len(y)), test)
    m = GWR(bw=60, spherical=False).fit(coords[train], X[train], y[train])
    model = mgwr_gwr.GWR(coords[train], y[train, None], X[train], 60, kernel="bisquare", fixed=False)
    ref = model.predict(coords[test], X[test])
    np.testing.assert_allclose(m.predict(coords[test], X[test]), ref.predictions.ravel(), rtol=1e-8)
    np.testing.assert_allclose(m.local_coefficients(coords[test]), ref.params, rtol=1e-8, atol=1e-12)


def test_prediction_at_more_points_than_observations(georgia, fitted):
    """mgwr's own predict fails when there are more prediction points than observations."""
    coords, X, _, _ = georgia
    rng = np.random.default_rng(1)
    idx = rng.integers(0, len(coords), 400)
    pts = coords[idx] + rng.normal(0, 500.0, (400, 2))
    beta = fitted.local_coefficients(pts)
    assert beta.shape == (400, 4) and np.isfinite(beta).all()
    # a point at (numerically) a training location gets that location's coefficients
    np.testing.assert_allclose(fitted.local_coefficients(coords[:7] + 1e-7), fitted.params_[:7],
                               rtol=1e-6)


def test_predict_with_new_covariates_at_training_places(georgia, fitted):
    coords, X, _, _ = georgia
    X2 = X[::-1].copy()
    expect = fitted.params_[:, 0] + (fitted.params_[:, 1:] * X2).sum(1)
    np.testing.assert_allclose(fitted.predict(coords, X2), expect)


def test_spherical_coordinates_use_great_circle_distances(georgia):
    coords, X, y, d = georgia
    lonlat = d[["Longitud", "Latitude"]].to_numpy(float)
    m = GWR(bw=80).fit(lonlat, X, y)
    ref = mgwr_gwr.GWR(lonlat, y[:, None], X, 80, kernel="bisquare", fixed=False, spherical=True).fit()
    np.testing.assert_allclose(m.params_, ref.params, rtol=1e-8)
    assert m.config["spherical"] is True


def test_bad_inputs_raise(georgia):
    coords, X, y, _ = georgia
    with pytest.raises(RuntimeError, match="not fitted"):
        GWR().predict(coords, X)
    with pytest.raises(ValueError, match="duplicates"):
        GWR(spherical=False).fit(np.vstack([coords, coords[:1]]), np.vstack([X, X[:1]]),
                                 np.append(y, y[0]))
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GWR(spherical=False).fit(coords, Xn, y)
    with pytest.raises(ValueError, match="latitudes"):
        GWR(bw=50).fit(coords, X, y)  # projected metres read as lon/lat
    with pytest.raises(ValueError, match="rows"):
        GWR(spherical=False).fit(coords[:-1], X, y)
    with pytest.raises(ValueError, match="neighbour count"):
        GWR(bw=3, spherical=False).fit(coords, X, y)
    with pytest.raises(ValueError, match="kernel"):
        GWR(kernel="tricube")
    m = GWR(bw=60, spherical=False).fit(coords, X, y)
    with pytest.raises(ValueError, match="columns"):
        m.predict(coords, X[:, :2])


def test_check_spatial_inputs_shapes():
    c, X, y = check_spatial_inputs([[0.0, 1.0], [2.0, 3.0]], [1.0, 2.0], [0.5, 0.7])
    assert c.shape == (2, 2) and X.shape == (2, 1) and y.shape == (2,)
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        check_spatial_inputs(np.zeros((3, 3)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="at least"):
        check_spatial_inputs(np.zeros((3, 2)), np.zeros((3, 1)), min_rows=5)


@pytest.mark.parametrize("engine", ["geohet", "mgwr"])
def test_singular_small_neighbourhoods_widen_the_search(georgia, monkeypatch, engine):
    """When small neighbourhoods are singular (locally collinear covariates, e.g. leaf area 0 over
    a desert), the search restarts from a doubled lower end instead of failing; a search that is
    singular up to all observations is a clear error. Same widening for both engines."""
    from geohet_lib.baselines import gwr as gwr_mod

    coords, X, y, _ = georgia
    cls = gwr_mod._GeohetEngine if engine == "geohet" else gwr_mod._MgwrEngine
    original = cls.search
    tried = []

    def search(self, criterion_name, bw_min, bw_max):
        tried.append(bw_min)
        if bw_min is not None and bw_min < 20:
            raise np.linalg.LinAlgError("Singular matrix")
        return original(self, criterion_name, bw_min, bw_max)

    monkeypatch.setattr(cls, "search", search)
    m = GWR(bw_min=6, spherical=False, engine=engine).fit(coords, X, y)
    assert tried == [6, 12, 24] and m.bw_min_used_ == 24 and m.bandwidth_ >= 24
    tried.clear()
    monkeypatch.setattr(cls, "search", lambda self, *a: (_ for _ in ()).throw(np.linalg.LinAlgError("x")))
    with pytest.raises(ValueError, match="singular"):
        GWR(bw_min=40, spherical=False, engine=engine).fit(coords, X, y)  # 40 -> 80 -> 159 = n


def test_constant_column_is_refused_with_the_reason():
    rng = np.random.default_rng(0)
    n = 60
    coords = np.c_[rng.uniform(0, 10, n), rng.uniform(40, 50, n)]
    X = np.c_[np.ones(n), rng.normal(size=n)]
    with pytest.raises(ValueError, match=r"column\(s\) \[0\] are constant .*own intercept"):
        GWR().fit(coords, X, rng.normal(size=n))


def test_few_observations_search_below_mgwr_s_lower_end():
    """With n <= 40 + 2(k + 1), mgwr's default lower end lies beyond the data (numpy's
    'kth out of bounds'); the search starts at the smallest neighbourhood instead."""
    rng = np.random.default_rng(1)
    n = 30
    coords = np.c_[rng.uniform(0, 10, n), rng.uniform(40, 50, n)]
    X = rng.normal(size=(n, 2))
    y = X @ np.array([1.0, 2.0]) + 0.1 * rng.normal(size=n)
    g = GWR().fit(coords, X, y)
    assert 5 <= g.bandwidth_ <= n and g.params_.shape == (n, 3)
    assert g.predict(coords[:4], X[:4]).shape == (4,)


def test_locally_constant_covariate_is_reported_and_the_search_widened(caplog):
    """A covariate constant over a whole corner (leaf area 0 over a desert): the engine's local
    systems there are singular at small bandwidths; the warning names the focal points and the
    search restarts higher, as with mgwr's LinAlgError."""
    rng = np.random.default_rng(4)
    n = 400
    coords = rng.uniform(0, 100, (n, 2))
    X = rng.normal(size=(n, 2))
    corner = (coords[:, 0] < 40) & (coords[:, 1] < 40)
    X[corner, 1] = 0.0
    y = 3 * np.sin(coords[:, 0] / 6) * X[:, 0] + 3 * np.cos(coords[:, 1] / 6) + 0.1 * rng.normal(size=n)
    with caplog.at_level("WARNING", logger="geohet"):
        m = GWR(bw_min=5, spherical=False).fit(coords, X, y)
    assert "are singular" in caplog.text and "focal points (row indices)" in caplog.text
    assert m.bw_min_used_ > 5 and np.isfinite(m.params_).all()
    with pytest.raises(ValueError, match="singular"):
        GWR(bw=6, spherical=False).fit(coords, X, y)
