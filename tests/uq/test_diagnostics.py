"""geohet_lib.uq.diagnostics against scipy, statsmodels, esda / libpysal and by hand."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from esda.moran import Moran
from scipy import stats
from statsmodels.stats.diagnostic import het_breuschpagan
from statsmodels.tools import add_constant

from geohet_lib.uq import diagnostics as d


def _grid_edges(side: int) -> np.ndarray:
    """Directed rook edges of a side x side grid, both directions."""
    idx = np.arange(side * side).reshape(side, side)
    pairs = [(idx[:, :-1], idx[:, 1:]), (idx[:-1, :], idx[1:, :])]
    src = np.concatenate([a.ravel() for a, b in pairs] + [b.ravel() for a, b in pairs])
    dst = np.concatenate([b.ravel() for a, b in pairs] + [a.ravel() for a, b in pairs])
    return np.stack([src, dst])


def _dense(w) -> np.ndarray:
    return np.asarray(w.sparse.todense())


# --- Gaussian-assumption checks ----------------------------------------------------------

def test_standardised_residuals():
    z = d.standardised_residuals([1.0, 2.0], [0.0, 4.0], [2.0, 0.5])
    np.testing.assert_array_equal(z, [0.5, -4.0])


def test_shapiro_equals_scipy():
    z = np.random.default_rng(0).standard_t(df=3, size=500)
    out = d.shapiro_wilk(z)
    ref = stats.shapiro(z)
    assert out == {"W": float(ref.statistic), "p": float(ref.pvalue), "n": 500,
                   "subsampled": False}
    assert out["p"] < 1e-6  # t(3) is not Gaussian


def test_shapiro_subsamples_reproducibly():
    z = np.random.default_rng(1).normal(size=1200)
    a, b = d.shapiro_wilk(z, max_n=300, seed=4), d.shapiro_wilk(z, max_n=300, seed=4)
    assert a == b and a["subsampled"] and a["n"] == 300
    sub = z[np.random.default_rng(4).choice(1200, size=300, replace=False)]
    assert a["W"] == float(stats.shapiro(sub).statistic)
    assert d.shapiro_wilk(z, max_n=300, seed=5)["W"] != a["W"]


def test_breusch_pagan_equals_statsmodels_and_detects():
    rng = np.random.default_rng(0)
    n = 400
    x = rng.uniform(0.5, 3.0, size=n)
    z_het = x * rng.normal(size=n)  # z^2 grows with x
    out = d.breusch_pagan(z_het, x)
    lm, lm_p, f, f_p = het_breuschpagan(z_het, add_constant(x))
    assert out == {"LM": lm, "p": lm_p, "F": f, "F p": f_p}
    # LM = n R^2 of z^2 on [1, x] (Koenker's studentised form, statsmodels' default)
    r2 = np.corrcoef(z_het**2, x)[0, 1] ** 2
    assert out["LM"] == pytest.approx(n * r2, rel=1e-10)
    assert out["LM"] > 30 and out["p"] < 1e-6
    assert d.breusch_pagan(rng.normal(size=n), x)["p"] > 0.05


def test_breusch_pagan_bad_regressor():
    with pytest.raises(ValueError, match="regressor must have shape"):
        d.breusch_pagan(np.zeros(10), np.zeros(9))
    with pytest.raises(ValueError, match="constant"):
        d.breusch_pagan(np.arange(10.0), np.ones(10))


# --- weights ---------------------------------------------------------------------------

def test_weights_from_edges_direction_duplicates_selfloops_islands():
    # edges 0->1 (twice, weights 1 and 2), 2->1, 1->0, 3->3 (self-loop): node 2, 3 get none
    ei = np.array([[0, 0, 2, 1, 3], [1, 1, 1, 0, 3]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the island warning must be silenced
        w = d.weights_from_edges(ei, 4, weight=np.array([1.0, 2.0, 1.0, 5.0, 1.0]))
    assert w.transform == "R"
    assert sorted(w.neighbors[1]) == [0, 2]
    assert dict(zip(w.neighbors[1], w.weights[1])) == pytest.approx({0: 0.75, 2: 0.25})
    assert w.neighbors[0] == [1] and w.weights[0] == [1.0]
    assert sorted(w.islands) == [2, 3]
    dense = _dense(w)
    np.testing.assert_allclose(dense.sum(axis=1), [1, 1, 0, 0])


def test_weights_from_edges_bad_input():
    with pytest.raises(ValueError, match="edge_index must have shape"):
        d.weights_from_edges(np.zeros((3, 2), dtype=int), 4)
    with pytest.raises(ValueError, match=r"\[0, n=4\)"):
        d.weights_from_edges(np.array([[0], [4]]), 4)


def test_weights_knn_matches_brute_force_great_circle():
    rng = np.random.default_rng(0)
    n, k = 60, 4
    lat, lon = rng.uniform(-60, 60, n), rng.uniform(-180, 180, n)
    w = d.weights_knn(lat, lon, k=k)
    la, lo = np.radians(lat), np.radians(lon)
    cosang = (np.sin(la)[:, None] * np.sin(la)[None] +
              np.cos(la)[:, None] * np.cos(la)[None] * np.cos(lo[:, None] - lo[None]))
    ang = np.arccos(np.clip(cosang, -1, 1))
    np.fill_diagonal(ang, np.inf)
    for i in range(n):
        assert set(w.neighbors[i]) == set(np.argsort(ang[i])[:k])
    np.testing.assert_allclose(_dense(w).sum(axis=1), 1.0)


# --- Moran's I -------------------------------------------------------------------------

def test_morans_i_equals_esda_and_hand_formula():
    rng = np.random.default_rng(0)
    n = 30
    src, dst = rng.integers(0, n, size=(2, 120))
    w = d.weights_from_edges(np.stack([src, dst]), n)
    keep = [i for i in range(n) if i not in set(w.islands)]
    assert len(keep) == n, "the random graph should have no islands for this test"
    v = rng.normal(size=n)
    out = d.morans_i(v, w, permutations=99, seed=0)
    assert out["I"] == pytest.approx(d.morans_i_by_hand(v, _dense(w)), abs=1e-10)
    np.random.seed(0)
    ref = Moran(v, w, permutations=99)
    assert (out["I"], out["EI"], out["z"], out["p_norm"], out["p_sim"]) == (
        ref.I, ref.EI, ref.z_norm, ref.p_norm, ref.p_sim)
    assert out["EI"] == pytest.approx(-1 / (n - 1))
    assert d.morans_i(v, w, permutations=99, seed=0) == out  # reproducible


def test_morans_i_smooth_field_and_noise():
    side = 15
    w = d.weights_from_edges(_grid_edges(side), side * side)
    ii, jj = np.divmod(np.arange(side * side), side)
    smooth = np.sin(ii / 4.0) + np.cos(jj / 5.0)
    out = d.morans_i(smooth, w, permutations=99)
    assert out["I"] > 0.8 and out["p_sim"] == 0.01
    noise = np.random.default_rng(0).normal(size=side * side)
    out = d.morans_i(noise, w, permutations=99)
    assert abs(out["I"] - out["EI"]) < 3 * 0.05  # sd of I under the null ~ 1/sqrt(2 n) = 0.047
    assert out["EI"] == pytest.approx(-1 / (side * side - 1))


@pytest.mark.filterwarnings("ignore:The alternative hypothesis:DeprecationWarning")
def test_local_morans_flags_planted_hot_spot():
    side = 12
    n = side * side
    w = d.weights_from_edges(_grid_edges(side), n)
    ii, jj = np.divmod(np.arange(n), side)
    rng = np.random.default_rng(0)
    v = rng.normal(size=n)
    hot = (ii < 4) & (jj < 4)
    v[hot] += 4.0
    df = d.local_morans(v, w, permutations=999, seed=0)
    assert list(df.columns) == ["Is", "quadrant", "label", "p_sim", "significant"]
    core = (ii < 3) & (jj < 3)
    assert (df.label[core] == "HH").sum() >= 6
    assert set(df.label[df.significant]) <= {"HH", "LL", "LH", "HL"}
    assert (df.label[~df.significant] == "not significant").all()
    assert df.significant.sum() <= (df.p_sim <= 0.05).sum()  # FDR never adds
    from esda import fdr
    from esda.moran import Moran_Local
    ref = Moran_Local(v, w, permutations=999, seed=0)
    np.testing.assert_array_equal(df.Is, ref.Is)
    np.testing.assert_array_equal(df.p_sim, ref.p_sim)
    np.testing.assert_array_equal(df.quadrant, ref.q)
    np.testing.assert_array_equal(df.significant, ref.p_sim <= fdr(ref.p_sim, 0.05))
    # esda's Is = (n - 1) z_i (Wz)_i / z'z, so with a row-standardised W, sum Is / (n - 1) = I
    assert df.Is.sum() / (n - 1) == pytest.approx(d.morans_i(v, w, permutations=0)["I"], rel=1e-10)


def test_morans_i_by_hand_small_example():
    v = np.array([1.0, 3.0, 2.0])
    wd = np.array([[0, 1, 0], [0.5, 0, 0.5], [0, 1, 0]])  # a path 0-1-2, row-standardised
    # z = (-1, 1, 0), Wz = (1, -0.5, 1), z'Wz = -1.5, z'z = 2, n / S0 = 1
    assert d.morans_i_by_hand(v, wd) == pytest.approx(-0.75, abs=1e-15)
