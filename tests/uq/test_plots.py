"""Figures of stages 05 / 06 (geohet_lib.uq.plots): files written, panels, content, bad input."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from geohet_lib.uq import plots as P


def _saved(fig, tmp_path, stem):
    assert isinstance(fig, Figure)
    assert [p.name for p in fig.saved_paths] == [f"{stem}.png", f"{stem}.pdf"]
    for ext in ("png", "pdf"):
        assert (tmp_path / f"{stem}.{ext}").stat().st_size > 1000
    assert fig.number not in plt.get_fignums()  # released from pyplot (finish_figure)


def _frame_vs_m(sd: bool = True) -> pd.DataFrame:
    rows = []
    for e in ("hybrid", "β-NLL"):
        for m in range(1, 6):
            row = {"ensemble": e, "M": m, "epistemic fraction": 0.0 if m == 1 else 0.08 * m,
                   "RMSE": 0.7 - 0.04 * m, "MAPE": 25.0 - m, "ECE": 0.05 + 0.01 * m,
                   "NLL": 521.9 if (m == 1 and e == "hybrid") else -0.2}
            if sd:
                row["epistemic fraction sd"] = 0.0 if m == 1 else 0.02
                row["RMSE sd"] = 0.01
            rows.append(row)
    return pd.DataFrame(rows)


def test_reliability(tmp_path):
    q = np.linspace(0, 1, 11)
    curves = {"hybrid": {"pre-calibration": (q, q**0.8), "post-calibration (T = 0.92)": (q, q)},
              "β-NLL": {"pre-calibration": (q, q**0.7), "post-calibration (T = 0.83)": (q, q)}}
    fig = P.plot_reliability(curves, stem="rel", figures_dir=tmp_path, caption="c",
                             title="Figure 11")
    _saved(fig, tmp_path, "rel")
    axes = fig.axes
    assert len(axes) == 2 and [a.get_title() for a in axes] == ["hybrid", "β-NLL"]
    for ax in axes:
        assert len(ax.get_lines()) == 3  # two curves + the diagonal
        assert ax.get_xlim() == (0, 1) and ax.get_ylim() == (0, 1)
        assert "perfect calibration" in [t.get_text() for t in ax.get_legend().get_texts()]
    fig1 = P.plot_reliability({"GPP": {"pre": (q, q)}}, stem="rel1", figures_dir=tmp_path)
    assert len(fig1.axes) == 1 and len(fig1.axes[0].get_lines()) == 2
    with pytest.raises(ValueError, match="no panels"):
        P.plot_reliability({}, figures_dir=tmp_path)
    with pytest.raises(ValueError, match=r"hybrid / pre.*11.*10"):
        P.plot_reliability({"hybrid": {"pre": (q, q[:-1])}}, figures_dir=tmp_path)


def test_epistemic_fraction(tmp_path):
    frame = _frame_vs_m()
    fig = P.plot_epistemic_fraction(frame, stem="epi", figures_dir=tmp_path, caption="c")
    _saved(fig, tmp_path, "epi")
    (ax,) = fig.axes
    assert len(ax.get_lines()) == 2
    assert len(ax.collections) == 2  # the ±1 sd bands
    ticks = [t for t in ax.get_xticks() if 1 <= t <= 5]
    assert all(float(t).is_integer() for t in ticks)
    fig2 = P.plot_epistemic_fraction(frame.drop(columns="epistemic fraction sd"),
                                     stem="epi2", figures_dir=tmp_path)
    assert len(fig2.axes[0].collections) == 0
    with pytest.raises(ValueError, match="epistemic fraction"):
        P.plot_epistemic_fraction(frame.drop(columns="epistemic fraction"),
                                  figures_dir=tmp_path)
    with pytest.raises(ValueError, match="empty"):
        P.plot_epistemic_fraction(frame.iloc[:0], figures_dir=tmp_path)


def test_metrics_vs_m(tmp_path):
    frame = _frame_vs_m()
    fig = P.plot_metrics_vs_m(frame, stem="mvm", figures_dir=tmp_path, caption="c")
    _saved(fig, tmp_path, "mvm")
    assert [a.get_ylabel() for a in fig.axes] == ["RMSE", "MAPE", "NLL", "ECE"]
    scales = {a.get_ylabel(): a.get_yscale() for a in fig.axes}
    assert scales == {"RMSE": "linear", "MAPE": "linear", "NLL": "symlog", "ECE": "linear"}
    rmse_ax = fig.axes[0]
    assert len(rmse_ax.get_lines()) == 2 and len(rmse_ax.collections) == 2  # sd bands
    fig3 = P.plot_metrics_vs_m(frame.drop(columns="MAPE"), stem="mvm3", figures_dir=tmp_path)
    assert [a.get_ylabel() for a in fig3.axes] == ["RMSE", "NLL", "ECE"]
    with pytest.raises(ValueError, match="none of the metrics"):
        P.plot_metrics_vs_m(frame[["ensemble", "M"]], figures_dir=tmp_path)


def test_pred_vs_true(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.lognormal(2.0, 0.5, 400)
    panels = {"XGBoost": (y, y * rng.lognormal(0, 0.2, 400)),
              "β-NLL": (y, y * rng.lognormal(0, 0.25, 400)),
              "SpTGNN": (y, y.copy())}
    fig = P.plot_pred_vs_true(panels, units="g/kg", stem="pvt", figures_dir=tmp_path,
                              caption="c")
    _saved(fig, tmp_path, "pvt")
    panels_ax = [a for a in fig.axes if a.get_title()]
    assert len(panels_ax) == 3 and len(fig.axes) == 4  # + one shared colour bar
    assert len({a.get_xlim() for a in panels_ax}) == 1
    assert len({a.get_ylim() for a in panels_ax}) == 1
    exact = panels_ax[2].get_title()
    assert "RMSE 0 g/kg" in exact and "R² 1.000" in exact and "n = 400" in exact
    for ax in panels_ax:
        (diag,) = ax.get_lines()
        assert np.allclose(diag.get_xdata(), diag.get_ydata())
    fig_log = P.plot_pred_vs_true({"one": panels["XGBoost"]}, stem="pvt_log",
                                  figures_dir=tmp_path, log=True)
    assert fig_log.axes[0].get_xscale() == "log"
    with pytest.raises(ValueError, match=r"'bad'.*400.*399"):
        P.plot_pred_vs_true({"bad": (y, y[:-1])}, figures_dir=tmp_path)
    with pytest.raises(ValueError):
        P.plot_pred_vs_true({}, figures_dir=tmp_path)


def test_coverage_shift(tmp_path):
    frame = pd.DataFrame({
        "split": ["in-distribution test"] * 2 + ["unseen regions"] * 2,
        "ensemble": ["hybrid", "β-NLL"] * 2,
        "Cov@95 (VP)": [0.981, 0.990, 0.93, 0.95],
        "Cov@95 (Gauss)": [0.95, 0.96, 0.88, 0.90],
        "ECE": [0.031, 0.026, 0.08, 0.06]})
    fig = P.plot_coverage_shift(frame, stem="cov", figures_dir=tmp_path, caption="c")
    _saved(fig, tmp_path, "cov")
    ax_c, ax_e = fig.axes
    assert len(ax_c.patches) == 8 and len(ax_e.patches) == 4  # 2 splits x 2 ens (x 2 cov)
    ref = [ln for ln in ax_c.get_lines() if np.allclose(ln.get_ydata(), 0.95)]
    assert len(ref) == 1
    assert [t.get_text() for t in ax_e.get_xticklabels()] == ["in-distribution test",
                                                               "unseen regions"]
    with pytest.raises(ValueError, match="duplicated"):
        P.plot_coverage_shift(pd.concat([frame, frame.iloc[:1]]), figures_dir=tmp_path)
    with pytest.raises(ValueError, match="Cov@95"):
        P.plot_coverage_shift(frame.drop(columns=["Cov@95 (VP)", "Cov@95 (Gauss)"]),
                              figures_dir=tmp_path)


def test_qq(tmp_path):
    rng = np.random.default_rng(1)
    fig = P.plot_qq({"hybrid": rng.standard_t(4, 300), "β-NLL": rng.normal(size=200)},
                    stem="qq", figures_dir=tmp_path, caption="c")
    _saved(fig, tmp_path, "qq")
    assert len(fig.axes) == 2
    pts, ref = fig.axes[1].get_lines()
    assert len(pts.get_xdata()) == 200
    assert np.allclose(ref.get_xdata(), ref.get_ydata())
    # theoretical quantiles are sorted, the ordered z too
    assert np.all(np.diff(pts.get_xdata()) > 0) and np.all(np.diff(pts.get_ydata()) >= 0)
    with pytest.raises(ValueError, match="'tiny'"):
        P.plot_qq({"tiny": np.array([0.1, np.nan])}, figures_dir=tmp_path)


def test_z2_vs(tmp_path):
    rng = np.random.default_rng(2)
    s = rng.uniform(0.2, 1.0, 300)
    mu = rng.normal(size=300)
    z = rng.normal(size=300) * (0.5 + s)  # z² grows with sigma
    panels = {"hybrid": {"z": z, "sigma": s, "mu": mu},
              "β-NLL": {"z": rng.normal(size=300), "sigma": s, "mu": mu}}
    fig = P.plot_z2_vs(panels, stem="z2", figures_dir=tmp_path, caption="c")
    _saved(fig, tmp_path, "z2")
    assert len(fig.axes) == 4
    ax = fig.axes[0]  # hybrid, against sigma
    assert ax.get_xlabel() == "predicted σ" and fig.axes[1].get_xlabel() == "predicted μ"
    fit = ax.get_lines()[0]
    slope, intercept = np.polyfit(s, z**2, 1)
    xs = fit.get_xdata()
    assert np.allclose(fit.get_ydata(), intercept + slope * xs) and slope > 0
    assert any(np.allclose(ln.get_ydata(), 1.0) for ln in ax.get_lines())
    assert ax.get_yscale() == "linear"
    fig1 = P.plot_z2_vs({"GPP": panels["hybrid"]}, stem="z2log", figures_dir=tmp_path,
                        logy=True)
    assert len(fig1.axes) == 2 and fig1.axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match=r"'bad'.*lengths differ"):
        P.plot_z2_vs({"bad": {"z": z, "sigma": s[:-1], "mu": mu}}, figures_dir=tmp_path)
    with pytest.raises(ValueError, match="missing key"):
        P.plot_z2_vs({"bad": {"z": z, "sigma": s}}, figures_dir=tmp_path)


def test_lisa_map(tmp_path):
    import cartopy.crs as ccrs

    rng = np.random.default_rng(3)
    n = 120
    lat, lon = rng.uniform(-30, 15, n), rng.uniform(-15, 45, n)  # Africa
    labels = np.array(["HH"] * 10 + ["LL"] * 7 + ["LH"] * 3 + ["HL"] * 5
                      + ["not significant"] * 95)
    fig = P.plot_lisa_map(lat, lon, labels, stem="lisa", figures_dir=tmp_path, caption="c",
                          values=rng.normal(size=n))
    _saved(fig, tmp_path, "lisa")
    maps = [a for a in fig.axes if hasattr(a, "projection")]
    assert len(maps) == 2 and len(fig.axes) == 3  # two maps + the residual colour bar
    texts = [t.get_text() for t in maps[0].get_legend().get_texts()]
    assert texts == ["HH (10)", "LL (7)", "LH (3)", "HL (5)", "not significant (95)"]
    x0, x1, y0, y1 = maps[0].get_extent(crs=ccrs.PlateCarree())
    assert x0 < lon.min() and x1 > lon.max() and y0 < lat.min() and y1 > lat.max()
    assert x1 - x0 < 100  # zoomed, not global
    assert maps[1].get_extent(crs=ccrs.PlateCarree()) == pytest.approx((x0, x1, y0, y1))
    # bad input: lengths, unknown labels (checked before any map is drawn)
    with pytest.raises(ValueError, match=r"120.*119"):
        P.plot_lisa_map(lat, lon, labels[:-1], figures_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown LISA label"):
        P.plot_lisa_map(lat, lon, np.array(["XX"] * n), figures_dir=tmp_path)
    with pytest.raises(ValueError, match="values"):
        P.plot_lisa_map(lat, lon, labels, values=np.zeros(3), figures_dir=tmp_path)


def test_lisa_label_spellings():
    """esda's quadrant integers (0 = not significant) and word spellings map to the classes."""
    assert P._lisa_labels(np.array([0, 1, 2, 3, 4]), 5).tolist() == [
        "not significant", "HH", "LH", "LL", "HL"]
    assert P._lisa_labels(pd.Series(["High-High", "ns", "low-low", np.nan]), 4).tolist() == [
        "HH", "not significant", "LL", "not significant"]
