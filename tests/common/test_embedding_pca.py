"""``geohet_lib.embedding_pca``: PCA maps of node embeddings (GPP paper, section 4.5, Figure 5)."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geohet_lib import embedding_pca as ep
from geohet_lib.embedding_pca import (
    PAPER_PAIRS,
    PAPER_REGIONS,
    SIGN_RULE,
    fit_pca,
    nodes_in_boxes,
    per_slice_pca,
    recovery_by_slice,
    recovery_table,
    region_similarity,
    rgb_limits,
    scores_to_rgb,
)


def _largest_entry_positive(components: np.ndarray) -> bool:
    idx = np.argmax(np.abs(components), axis=1)
    return bool(np.all(components[np.arange(len(components)), idx] > 0))


# ------------------------------------------------------------------------------------ recovery


def test_linear_map_of_one_field_is_recovered_on_pc1():
    rng = np.random.default_rng(0)
    n, d = 300, 8
    f = rng.normal(size=n)
    a = rng.normal(size=d)
    x = np.outer(f, a) + 0.01 * rng.normal(size=(n, d))
    fit = fit_pca(x)
    assert fit.components.shape == (3, d) and fit.mean.shape == (d,)
    assert fit.explained_variance_ratio[0] > 0.99
    tab = recovery_table(fit.transform(x), pd.DataFrame({"f": f}))
    row = tab.iloc[0]
    assert row["truth"] == "f" and row["n"] == n and row["best PC"] == 1
    assert row["max |r| (PC1-k)"] > 0.999
    assert abs(row["r PC1"]) > 0.999
    # sign rule: PC1 loading ~ a/|a| flipped so that a's largest-|entry| is positive
    assert np.sign(row["r PC1"]) == np.sign(a[np.argmax(np.abs(a))])
    assert row["R2 (linear on PC1-k)"] > 0.999


def test_two_fields_recovered_by_pc1_to_3_nan_rows_and_constant_column():
    rng = np.random.default_rng(1)
    n, d = 400, 8
    f = rng.normal(size=(n, 2))
    amat = rng.normal(size=(2, d))
    x = f @ amat + 0.01 * rng.normal(size=(n, d))
    scores = fit_pca(x, 3).transform(x)
    f1_nan = f[:, 0].copy()
    f1_nan[:10] = np.nan
    truth = pd.DataFrame({"f1": f1_nan, "f2": f[:, 1], "const": np.full(n, 2.5), "noise": rng.normal(size=n)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tab = recovery_table(scores, truth).set_index("truth")
    assert list(tab.index) == ["f1", "f2", "const", "noise"]
    assert tab.loc["f1", "R2 (linear on PC1-k)"] > 0.999 and tab.loc["f2", "R2 (linear on PC1-k)"] > 0.999
    assert tab.loc["f1", "n"] == n - 10 and tab.loc["f2", "n"] == n
    assert tab.loc[["f1", "f2"], "best PC"].isin([1, 2]).all()
    assert np.isnan(tab.loc["const", "r PC1"]) and np.isnan(tab.loc["const", "R2 (linear on PC1-k)"])
    assert np.isnan(tab.loc["const", "max |r| (PC1-k)"]) and pd.isna(tab.loc["const", "best PC"])
    assert tab.loc["noise", "R2 (linear on PC1-k)"] < 0.05
    # columns= selects and orders; r PC1 agrees with numpy's Pearson r
    sub = recovery_table(scores, truth, columns=["f2"])
    assert list(sub["truth"]) == ["f2"]
    assert sub["r PC1"].iloc[0] == pytest.approx(np.corrcoef(scores[:, 0], f[:, 1])[0, 1], abs=1e-12)


# ----------------------------------------------------------------------------------- sign rule


def test_sign_rule_is_deterministic_and_transform_keeps_leading_axes():
    rng = np.random.default_rng(2)
    c, t, d = 40, 5, 6
    x = rng.normal(size=(c * t, d)) @ rng.normal(size=(d, d))
    fit = fit_pca(x, 4)
    assert fit.signs_rule == SIGN_RULE and "largest-magnitude" in SIGN_RULE
    assert _largest_entry_positive(fit.components)
    # negated data or shuffled rows give the same components (PCA's own signs are arbitrary)
    np.testing.assert_allclose(fit_pca(-x, 4).components, fit.components, atol=1e-10)
    np.testing.assert_allclose(fit_pca(x[rng.permutation(len(x))], 4).components, fit.components, atol=1e-10)
    np.testing.assert_allclose(fit_pca(-x, 4).mean, -fit.mean, atol=1e-12)
    # a (C, T, d) array fits one PCA over all rows, and transform keeps the leading axes
    x3 = x.reshape(c, t, d)
    fit3 = fit_pca(x3, 4)
    np.testing.assert_allclose(fit3.components, fit.components, atol=1e-10)
    s3 = fit3.transform(x3)
    assert s3.shape == (c, t, 4)
    np.testing.assert_allclose(s3.reshape(c * t, 4), fit.transform(x), atol=1e-10)
    np.testing.assert_allclose(s3[..., 0], (x3 - fit.mean) @ fit.components[0], atol=1e-10)
    # n_components capped at min(n, d)
    assert fit_pca(x[:, :2], 5).components.shape == (2, 2)
    assert fit_pca(x[:2], 5).components.shape[0] == 2


def test_sign_rule_ties_take_the_first_entry():
    comp = np.array([[0.5, -0.5, 0.1], [-0.9, 0.9, 0.2], [-0.2, 0.9, -0.9], [0.0, 0.0, -1.0]])
    out = ep._apply_sign_rule(comp)
    expected = [[0.5, -0.5, 0.1], [0.9, -0.9, -0.2], [-0.2, 0.9, -0.9], [0.0, 0.0, 1.0]]
    np.testing.assert_allclose(out, expected)


# ---------------------------------------------------------------------------------- cross-week


def _weekly(c=200, t=6, d=8, seed=3):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=c)
    a = np.array([3.0, 1.0, -1.0, 0.5, -0.5, 0.2, 0.0, 0.1])[:d]
    offsets = np.linspace(-2.0, 2.0, t)
    v = np.outer(f, a)[:, None, :] + offsets[None, :, None] * a + 0.02 * rng.normal(size=(c, t, d))
    return v, f, offsets, a


def test_one_fit_across_weeks_gives_consistent_pc1():
    v, f, offsets, a = _weekly()
    fit = fit_pca(v)
    tab = recovery_by_slice(v, fit, pd.DataFrame({"f": f}))
    assert list(tab["slice"]) == list(range(6)) and list(tab.columns[:2]) == ["slice", "truth"]
    assert (tab["r PC1"] > 0.99).all()  # same sign every week: a's largest entry (3.0) is positive
    assert (tab["best PC"] == 1).all() and (tab["n"] == 200).all()
    # the shared fit keeps the week offset visible: mean PC1 grows with the offset, |a| per unit
    pc1_means = fit.transform(v)[..., 0].mean(axis=0)
    np.testing.assert_allclose(np.diff(pc1_means), np.diff(offsets) * np.linalg.norm(a), rtol=0.01)


def test_per_slice_pca_centres_each_week_and_applies_the_sign_rule():
    v, f, _, _ = _weekly()
    s = per_slice_pca(v, 3)
    assert s.shape == (200, 6, 3)
    for t in range(6):
        fit_t = fit_pca(v[:, t], 3)
        assert _largest_entry_positive(fit_t.components)
        np.testing.assert_allclose(s[:, t], fit_t.transform(v[:, t]), atol=1e-10)
        assert np.corrcoef(s[:, t, 0], f)[0, 1] > 0.99
        assert abs(s[:, t, 0].mean()) < 1e-10  # centred per week, unlike the shared fit


# ------------------------------------------------------------------------------------------ RGB


def test_scores_to_rgb_shared_limits():
    rng = np.random.default_rng(4)
    scores = rng.normal(size=(50, 4, 3)) * np.array([1.0, 5.0, 0.1])
    scores[5, 0] = scores[7, 1] = [0.3, -2.0, 0.05]
    lo, hi = rgb_limits(scores)
    np.testing.assert_allclose(lo, np.percentile(scores.reshape(-1, 3), 1, axis=0))
    np.testing.assert_allclose(hi, np.percentile(scores.reshape(-1, 3), 99, axis=0))
    rgb = scores_to_rgb(scores)
    assert rgb.shape == scores.shape and rgb.min() >= 0.0 and rgb.max() <= 1.0
    assert rgb.min() == 0.0 and rgb.max() == 1.0  # the clipped tails
    np.testing.assert_array_equal(rgb[5, 0], rgb[7, 1])  # same score, same colour in two weeks
    np.testing.assert_allclose(rgb[5, 0], (scores[5, 0] - lo) / (hi - lo))
    # each week coloured alone with the shared limits matches the joint colouring
    for t in range(4):
        np.testing.assert_array_equal(scores_to_rgb(scores[:, t], lo, hi), rgb[:, t])
    # per-week default limits would differ
    assert not np.allclose(scores_to_rgb(scores[:, 0]), rgb[:, 0])


def test_scores_to_rgb_explicit_limits_and_constant_channel():
    s = np.array([[0.0, 5.0, 1.0], [5.0, 5.0, 1.0], [20.0, 5.0, 1.0], [-3.0, 5.0, 1.0]])
    rgb = scores_to_rgb(s, lo=np.array([0.0, 0.0, 1.0]), hi=np.array([10.0, 10.0, 1.0]))
    np.testing.assert_allclose(rgb[:, 0], [0.0, 0.5, 1.0, 0.0])
    np.testing.assert_allclose(rgb[:, 1], 0.5)
    np.testing.assert_allclose(rgb[:, 2], 0.5)  # hi == lo
    np.testing.assert_allclose(scores_to_rgb(s, clip_percentile=0.0)[:, 0], [3 / 23, 8 / 23, 1.0, 0.0])


# ---------------------------------------------------------------------------- region similarity


def _clusters(seed=5):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0] * 5, [10.0] + [0.0] * 4, [0.0, 10.0, 0.0, 0.0, 0.0]])
    x = np.concatenate([c + rng.normal(size=(60, 5)) for c in centres])
    groups = {"A": np.arange(0, 20), "B": np.arange(20, 40), "C": np.arange(60, 80),
              "empty": np.array([], dtype=int)}
    return x, groups


def test_region_similarity_constructed_clusters():
    x, groups = _clusters()
    pairs = [("A", "B"), ("A", "C"), ("A", "A"), ("A", "empty")]
    tab = region_similarity(x, groups, pairs, n_random=500, seed=0).set_index("pair")
    assert list(tab.index) == ["A ~ B", "A ~ C", "A ~ A", "A ~ empty"]
    ab, ac, aa, ae = (tab.loc[k] for k in tab.index)
    assert ab["verdict"] == "holds" and ab["p"] < 0.05 and ab["ratio"] < 1
    assert ab["p"] == pytest.approx(1 / 501)  # closer than every random draw
    assert ac["verdict"] == "does not hold" and ac["p"] > 0.05 and ac["ratio"] > 1
    assert aa["verdict"] == "holds" and aa["ratio"] < 1
    assert (ab["n_A"], ab["n_B"]) == (20, 20)
    # the observed statistics by brute force
    dab = np.linalg.norm(x[:20, None] - x[None, 20:40], axis=-1).mean()
    assert ab["mean distance"] == pytest.approx(dab, rel=1e-12)
    daa = np.linalg.norm(x[:20, None] - x[None, :20], axis=-1)
    assert aa["mean distance"] == pytest.approx(daa.sum() / (20 * 19), rel=1e-12)
    # random mean ~ the mean distance over all pairs of distinct units
    dall = np.linalg.norm(x[:, None] - x[None], axis=-1)
    assert ab["random mean"] == pytest.approx(dall.sum() / (180 * 179), rel=0.03)
    assert ab["ratio"] == pytest.approx(ab["mean distance"] / ab["random mean"])
    # empty group
    assert ae["verdict"] == "n/a (no nodes in region)" and ae["n_B"] == 0
    assert np.isnan(ae[["mean distance", "random mean", "ratio", "p"]].astype(float)).all()


def test_region_similarity_reproducible_and_cosine():
    x, groups = _clusters()
    pairs = [("A", "B"), ("B", "C")]
    t1 = region_similarity(x, groups, pairs, n_random=300, seed=7)
    t2 = region_similarity(x, groups, pairs, n_random=300, seed=7)
    pd.testing.assert_frame_equal(t1, t2)
    t3 = region_similarity(x, groups, pairs, n_random=300, seed=8)
    assert t3["random mean"].iloc[0] != t1["random mean"].iloc[0]
    assert t3["mean distance"].iloc[0] == t1["mean distance"].iloc[0]
    # cosine: shift clusters off the origin so their directions differ
    xc = x + np.array([5.0, 5.0, 5.0, 5.0, 5.0])
    tc = region_similarity(xc, groups, pairs, n_random=300, metric="cosine").set_index("pair")
    assert tc.loc["A ~ B", "verdict"] == "holds" and tc.loc["B ~ C", "verdict"] == "does not hold"
    xa, xb = xc[:20], xc[20:40]
    ua = xa / np.linalg.norm(xa, axis=1, keepdims=True)
    ub = xb / np.linalg.norm(xb, axis=1, keepdims=True)
    cos = 1 - ua @ ub.T
    assert tc.loc["A ~ B", "mean distance"] == pytest.approx(cos.mean(), rel=1e-10)


# ---------------------------------------------------------------------------------------- boxes


def test_nodes_in_boxes_majority_rule_and_longitudes():
    # cells: unit 0 has 2 of 3 cells inside, unit 1 has 1 of 3, unit 2 none, unit 5 straddles 0/360
    lat = np.array([0, 1, 20, 0, 30, 40, 50, 50, 2, 3])
    lon = np.array([10, 11, 10, 12, 60, 70, 80, 80, 350, 355])  # 350, 355 = -10, -5
    unit = np.array([0, 0, 0, 1, 1, 1, 2, 2, 5, 5])
    boxes = {"box": (-5, 5, -15, 15), "nowhere": (-80, -70, 0, 10)}
    out = nodes_in_boxes(lat, lon, unit, boxes)
    np.testing.assert_array_equal(out["box"], [0, 5])
    assert out["nowhere"].size == 0
    np.testing.assert_array_equal(nodes_in_boxes(lat, lon, unit, boxes, min_share=0.3)["box"], [0, 1, 5])
    np.testing.assert_array_equal(nodes_in_boxes(lat, lon, unit, boxes, min_share=1.0)["box"], [5])
    lon_180 = np.where(lon > 180, lon - 360, lon)
    np.testing.assert_array_equal(nodes_in_boxes(lat, lon_180, unit, boxes)["box"], [0, 5])


def test_paper_regions_and_pairs():
    assert PAPER_REGIONS["Sahara"] == (15, 30, -15, 32)
    assert PAPER_REGIONS["Amazon"] == (-12, 3, -72, -50)
    assert {n for p in PAPER_PAIRS for n in p} == set(PAPER_REGIONS)
    assert ("Amazon", "southern China") in PAPER_PAIRS
    # a 1-degree grid with one node per cell: every box gets nodes, and they lie in the box
    la, lo = np.meshgrid(np.arange(-60.5, 70), np.arange(-179.5, 180), indexing="ij")
    unit = np.arange(la.size)
    out = nodes_in_boxes(la.ravel(), lo.ravel(), unit, PAPER_REGIONS)
    for name, (a0, a1, o0, o1) in PAPER_REGIONS.items():
        ids = out[name]
        assert ids.size == (a1 - a0) * (o1 - o0)
        assert (la.ravel()[ids] >= a0).all() and (lo.ravel()[ids] <= o1).all()


def test_module_does_not_import_the_studies():
    tree = ast.parse(Path(ep.__file__).read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not any(m.startswith(("geohet_lib.gpp", "geohet_lib.soc")) for m in names)


# ----------------------------------------------------------------------------------- bad inputs


def test_bad_inputs_raise_value_error():
    x = np.random.default_rng(6).normal(size=(10, 4))
    with pytest.raises(ValueError, match="at least 2 rows"):
        fit_pca(np.ones((1, 4)))
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="finite"):
        fit_pca(bad)
    with pytest.raises(ValueError, match="n_components"):
        fit_pca(x, 0)
    with pytest.raises(ValueError, match=r"last dimension d=4"):
        fit_pca(x).transform(np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        scores_to_rgb(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="clip_percentile"):
        rgb_limits(np.zeros((4, 3)), clip_percentile=60)
    with pytest.raises(ValueError, match="metric"):
        region_similarity(x, {"A": [0, 1]}, [("A", "A")], metric="manhattan")
    with pytest.raises(ValueError, match="'Z'"):
        region_similarity(x, {"A": [0, 1]}, [("A", "Z")])
    with pytest.raises(ValueError, match=r"groups\['A'\]"):
        region_similarity(x, {"A": [0, 99]}, [("A", "A")])
    with pytest.raises(ValueError, match=r"\(C, T, d\)"):
        per_slice_pca(x)
    with pytest.raises(ValueError, match="10 rows"):
        recovery_table(x[:, :3], pd.DataFrame({"f": np.arange(9.0)}))
    with pytest.raises(ValueError, match="not in truth"):
        recovery_table(x[:, :3], pd.DataFrame({"f": np.arange(10.0)}), columns=["g"])
    with pytest.raises(ValueError, match="min_share"):
        nodes_in_boxes(np.zeros(2), np.zeros(2), np.zeros(2), {"b": (0, 1, 0, 1)}, min_share=0)
    with pytest.raises(ValueError, match=r"boxes\['b'\]"):
        nodes_in_boxes(np.zeros(2), np.zeros(2), np.zeros(2), {"b": (1, 0, 0, 1)})
    with pytest.raises(ValueError, match="lon"):
        nodes_in_boxes(np.zeros(2), np.array([0.0, -190.0]), np.zeros(2), {"b": (0, 1, 0, 1)})
