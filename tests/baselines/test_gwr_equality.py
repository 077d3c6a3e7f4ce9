"""GWR's fast engine equals mgwr to 1e-6: bandwidth, AICc, tr(S), coefficients, standard errors.

Datasets (issue 16): Georgia counties (projected, and lon/lat with great-circle distances),
Tokyo mortality and Baltimore house prices -- all three ship inside the libpysal wheel -- run
through mgwr live; GWR4's published Georgia output; and a synthetic set of 3,000 lon/lat
points with 10 covariates against mgwr's saved output (``data/make_gwr_reference.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geohet_lib.baselines.gwr import GWR

libpysal = pytest.importorskip("libpysal")
mgwr_gwr = pytest.importorskip("mgwr.gwr")
mgwr_sel = pytest.importorskip("mgwr.sel_bw")

EXAMPLES = Path(libpysal.__file__).parent / "examples"
REFERENCE = Path(__file__).parent / "data" / "gwr_synthetic_3000x10_mgwr.npz"
TOL = dict(rtol=1e-6, atol=1e-8)


def _georgia(spherical: bool):
    d = pd.read_csv(EXAMPLES / "georgia" / "GData_utm.csv")
    xy = ["Longitud", "Latitude"] if spherical else ["X", "Y"]
    return (d[xy].to_numpy(float), d[["PctRural", "PctPov", "PctBlack"]].to_numpy(float),
            d["PctBach"].to_numpy(float))


def _tokyo():
    d = pd.read_csv(EXAMPLES / "tokyo" / "Tokyomortality.csv")
    return (d[["X_CENTROID", "Y_CENTROID"]].to_numpy(float),
            d[["OCC_TEC", "OWNH", "POP65", "UNEMP"]].to_numpy(float),
            (d["db2564"] / d["eb2564"]).to_numpy(float))


def _baltimore():
    gpd = pytest.importorskip("geopandas")
    d = gpd.read_file(EXAMPLES / "baltim" / "baltim.shp")
    return (d[["X", "Y"]].to_numpy(float), d[["NROOM", "NBATH", "AGE", "SQFT", "LOTSZ"]].to_numpy(float),
            d["PRICE"].to_numpy(float))


DATASETS = {"georgia": (lambda: _georgia(False), False), "georgia_lonlat": (lambda: _georgia(True), True),
            "tokyo": (_tokyo, False), "baltimore": (_baltimore, False)}


@pytest.fixture(scope="module", params=sorted(DATASETS))
def pair(request):
    """(ours, mgwr's results, mgwr's bandwidth) for one dataset, both searching by AICc."""
    load, spherical = DATASETS[request.param]
    coords, X, y = load()
    bw = mgwr_sel.Sel_BW(coords, y[:, None], X, kernel="bisquare", fixed=False,
                         spherical=spherical, n_jobs=1).search(criterion="AICc")
    ref = mgwr_gwr.GWR(coords, y[:, None], X, bw, spherical=spherical, n_jobs=1).fit()
    ours = GWR(spherical=spherical, engine="geohet").fit(coords, X, y)
    return ours, ref, float(bw)


def test_bandwidth_is_identical(pair):
    ours, _, bw = pair
    assert ours.engine_ == "geohet"
    assert ours.bandwidth_ == bw


def test_fit_statistics_equal(pair):
    ours, ref, _ = pair
    r = ours.results_
    for name in ("aicc", "aic", "bic", "tr_S", "tr_STS", "ENP", "sigma2", "R2", "adj_R2"):
        assert getattr(r, name) == pytest.approx(float(getattr(ref, name)), rel=1e-6), name
    np.testing.assert_allclose(r.adj_alpha, ref.adj_alpha, rtol=1e-6)
    assert r.critical_tval() == pytest.approx(ref.critical_tval(), rel=1e-6)


def test_local_estimates_equal(pair):
    ours, ref, _ = pair
    r = ours.results_
    for name in ("params", "bse", "tvalues", "influ", "predy", "resid_response", "std_res",
                 "cooksD", "localR2"):
        np.testing.assert_allclose(getattr(r, name), getattr(ref, name), err_msg=name, **TOL)
    np.testing.assert_allclose(r.filter_tvals(), ref.filter_tvals(), **TOL)


def test_gwr4_published_output():
    """GWR4's Georgia listwise output (adaptive bisquare, 90 neighbours, sigma^2 with
    n - 2 tr S + tr S'S as GWR4 defines it), printed to 6 decimals, and its summary's AICc."""
    coords, X, y = _georgia(False)
    d = pd.read_csv(EXAMPLES / "georgia" / "GData_utm.csv")
    ref = pd.read_csv(EXAMPLES / "georgia" / "georgia_BS_NN_listwise.csv", skipinitialspace=True)
    ref = ref.set_index("Area_key").loc[d["AreaKey"]]
    r = GWR(bw=90, spherical=False, sigma2_v1=False, engine="geohet").fit(coords, X, y).results_
    names = ["Intercept", "PctRural", "PctPov", "PctBlack"]
    for col, ours in (("est", r.params), ("se", r.bse), ("t", r.tvalues)):
        np.testing.assert_allclose(ours, ref[[f"{col}_{v}" for v in names]].to_numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(r.predy.ravel(), ref["yhat"], rtol=1e-5)
    np.testing.assert_allclose(r.influ.ravel(), ref["influence"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(r.localR2.ravel(), ref["localR2"], rtol=1e-4, atol=1e-6)
    assert r.aicc == pytest.approx(896.462831, abs=5e-6)
    np.testing.assert_allclose(r.adj_alpha, [0.02034978, 0.01017489, 0.0002035], rtol=1e-4)


def test_synthetic_3000_points_10_covariates_equal_saved_mgwr_output():
    """3,000 lon/lat points, 10 covariates: mgwr's saved search + fit (see data/)."""
    ref = np.load(REFERENCE)
    m = GWR(spherical=True, engine="geohet").fit(ref["coords"], ref["X"], ref["y"])
    assert m.bandwidth_ == float(ref["bw"])
    assert m.aicc_ == pytest.approx(float(ref["aicc"]), rel=1e-6)
    assert m.hat_trace_ == pytest.approx(float(ref["tr_S"]), rel=1e-6)
    np.testing.assert_allclose(m.params_, ref["params"], **TOL)
    np.testing.assert_allclose(m.bse_, ref["bse"], **TOL)
    np.testing.assert_allclose(m.results_.influ.ravel(), ref["influ"], **TOL)


def test_predictions_at_new_places_equal_mgwr_local_fits():
    coords, X, y = _georgia(True)
    fit, new = slice(0, 120), slice(120, None)
    ours = GWR(bw=60, spherical=True, engine="geohet").fit(coords[fit], X[fit], y[fit])
    ref = GWR(bw=60, spherical=True, engine="mgwr").fit(coords[fit], X[fit], y[fit])
    np.testing.assert_allclose(ours.local_coefficients(coords[new]),
                               ref.local_coefficients(coords[new]), **TOL)
    np.testing.assert_allclose(ours.predict(coords[new], X[new]), ref.predict(coords[new], X[new]), **TOL)


def test_auto_engine_by_kernel(caplog):
    coords, X, y = _georgia(False)
    assert GWR().engine_name == "geohet"
    g = GWR(bw=90, kernel="gaussian", spherical=False)
    assert g.engine_name == "mgwr"
    with caplog.at_level("INFO", logger="geohet"):
        g.fit(coords, X, y)
    assert g.engine_ == "mgwr" and "computed by mgwr" in caplog.text
    with pytest.raises(ValueError, match="adaptive bisquare"):
        GWR(kernel="gaussian", engine="geohet")
    with pytest.raises(ValueError, match="engine must be"):
        GWR(engine="fast")


def test_criteria_other_than_aicc_select_mgwr_s_bandwidth():
    coords, X, y = _georgia(False)
    for crit in ("AIC", "BIC", "CV"):
        bw = mgwr_sel.Sel_BW(coords, y[:, None], X, n_jobs=1).search(criterion=crit)
        assert GWR(criterion=crit, spherical=False).fit(coords, X, y).bandwidth_ == float(bw), crit
