"""Stage 07's figures (geohet_lib/embedding_plots.py): saved as PNG + PDF, panels as asked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geohet_lib import embedding_plots as ep


@pytest.fixture
def points():
    rng = np.random.default_rng(0)
    return rng.uniform(-50, 60, 40), rng.uniform(-170, 170, 40), rng


def _saved(fig, tmp_path, stem):
    assert (tmp_path / f"{stem}.png").exists() and (tmp_path / f"{stem}.pdf").exists()
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def test_week_maps_have_three_panels_per_week(points, tmp_path):
    lat, lon, rng = points
    weeks = [10, 20]
    rgb = {w: rng.uniform(size=(40, 3)) for w in weeks}
    pc1 = {w: rng.normal(size=40) for w in weeks}
    pred = {w: rng.uniform(0, 50, 40) for w in weeks}
    fig = ep.plot_week_maps(lat, lon, weeks, rgb, pc1, pred, "wk", tmp_path, "cap")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[:3] == ["week 10: PC1-3 as RGB", "week 10: PC1", "week 10: predicted GPP"]
    assert len(titles) == 6
    _saved(fig, tmp_path, "wk")
    with pytest.raises(ValueError, match="no weeks"):
        ep.plot_week_maps(lat, lon, [], rgb, pc1, pred, "x", tmp_path, "")


def test_field_maps_and_region_embeddings(points, tmp_path):
    lat, lon, rng = points
    fig = ep.plot_field_maps(lat, lon, {"a": rng.normal(size=40), "b": rng.normal(size=40)},
                             "fields", tmp_path, "cap", ncols=2)
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["a", "b"]
    _saved(fig, tmp_path, "fields")
    # a regional set of points is drawn on a zoomed map
    panel = {"lat": rng.uniform(-5, 5, 30), "lon": rng.uniform(30, 40, 30),
             "rgb": rng.uniform(size=(30, 3)), "pc1": rng.normal(size=30), "soc": rng.uniform(1, 50, 30)}
    fig = ep.plot_region_embeddings({"africa · last": panel}, "reg", tmp_path, "cap")
    ax = fig.axes[0]
    x0, x1, y0, y1 = ax.get_extent()
    assert x1 - x0 < 40 and y1 - y0 < 40
    _saved(fig, tmp_path, "reg")


def test_recovery_figures(tmp_path):
    rows = [{"source": s, "week": w, "truth": t, "max |r| (PC1-3)": 0.1 * w % 1}
            for s in ("trained", "start") for w in range(1, 6) for t in ("aridity", "t_opt")]
    fig = ep.plot_recovery_by_week(pd.DataFrame(rows), "rec", tmp_path, "cap", marks=[2])
    axes = _saved(fig, tmp_path, "rec")
    assert [ax.get_title() for ax in axes] == ["trained", "start"]
    assert len(axes[0].get_lines()) == 3  # two truth lines and one week mark
    bars = pd.DataFrame([{"region": r, "source": s, "truth": t, "max |r| (PC1-3)": 0.5}
                         for r in ("africa", "europe") for s in ("fused", "last") for t in ("a", "b", "c")])
    fig = ep.plot_recovery_bars(bars, "bars", tmp_path, "cap")
    axes = _saved(fig, tmp_path, "bars")
    assert len(axes) == 2 and len(axes[0].patches) == 6
    with pytest.raises(ValueError, match="lacks column"):
        ep.plot_recovery_bars(bars.drop(columns="region"), "x", tmp_path, "")
