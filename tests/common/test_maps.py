import matplotlib.pyplot as plt
import numpy as np
import pytest

from geohet_lib.maps import great_circle_polylines


def test_offline_natural_earth_and_world_map(tmp_path, monkeypatch):
    import cartopy
    import cartopy.crs as ccrs

    from geohet_lib import maps

    monkeypatch.setenv("GEOHET_CACHE_DIR", str(tmp_path / "cache"))
    maps.ensure_offline_natural_earth.cache_clear()
    root = maps.ensure_offline_natural_earth()
    assert root == tmp_path / "cache" / "cartopy"
    for cat, name in (("physical", "land"), ("physical", "coastline"),
                      ("cultural", "admin_0_countries")):
        assert (root / "shapefiles" / "natural_earth" / cat / f"ne_110m_{name}.shp").exists()
    assert cartopy.config["pre_existing_data_dir"] == str(root)
    fig, ax = maps.world_map()
    ax.scatter([179.5, -179.5], [0, 0], transform=ccrs.PlateCarree())
    paths = maps.save_figure(fig, "demo", tmp_path / "figs", caption="a caption")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.stat().st_size > 1000 for p in paths)
    plt.close(fig)
    maps.ensure_offline_natural_earth.cache_clear()


def test_great_circle_polylines_cut_at_antimeridian():
    pieces, owner = great_circle_polylines(np.array([170.0, 10.0]), np.array([0.0, 0.0]),
                                           np.array([-170.0, 20.0]), np.array([10.0, 5.0]),
                                           n_points=9)
    assert owner.tolist() == [0, 0, 1]
    for p in pieces:
        assert np.all(np.abs(np.diff(p[:, 0])) <= 180.0)
    assert pieces[0][-1, 0] == 180.0 and pieces[1][0, 0] == -180.0
    assert pieces[0][0, 0] == pytest.approx(170.0) and pieces[1][-1, 0] == pytest.approx(-170.0)
    assert pieces[2][0] == pytest.approx([10.0, 0.0]) and pieces[2][-1] == pytest.approx([20, 5])


def test_caption_sits_just_below_the_map_and_finish_figure_returns_the_figure(tmp_path):
    """No empty band between a fixed-aspect map and its caption (the caption is placed from
    the drawn artists' box, not the figure's bottom edge); the figure comes back for display,
    released from pyplot, with the files it wrote."""
    from matplotlib.figure import Figure

    from geohet_lib import maps

    fig, ax = maps.world_map(figsize=(10, 8))  # far taller than a Robinson map needs
    out = maps.finish_figure(fig, "tall", tmp_path, caption="study · profile · seed 0")
    assert isinstance(out, Figure) and out is fig
    assert fig.number not in plt.get_fignums()
    assert [p.name for p in fig.saved_paths] == ["tall.png", "tall.pdf"]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()  # a closed figure keeps a bare canvas
    caption = fig.texts[-1]
    assert caption.get_text() == "study · profile · seed 0"
    cap = caption.get_window_extent(renderer)
    axes = ax.get_tightbbox(renderer)
    gap_px = axes.y0 - cap.y1
    assert 0 <= gap_px <= maps.CAPTION_GAP_IN * fig.dpi + 2
    assert abs(0.5 * (cap.x0 + cap.x1) - 0.5 * (axes.x0 + axes.x1)) < 2  # centred under it


def test_map_extent_pads_a_region_and_gives_none_for_the_globe():
    import numpy as np

    from geohet_lib.maps import map_extent

    ext = map_extent([0.0, 10.0, np.nan], [30.0, 40.0, 5.0])  # the NaN point is ignored
    assert ext == [28.0, 42.0, -2.0, 12.0]
    assert map_extent([-60.0, 70.0], [-170.0, 175.0]) is None
    assert map_extent([], []) is None


def test_a_redrawn_figure_writes_the_same_bytes(tmp_path):
    """The PDF carries no creation date, so regenerating an unchanged figure changes no file."""
    from geohet_lib import maps

    for folder in ("a", "b"):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        maps.finish_figure(fig, "line", tmp_path / folder, caption="study · profile · seed 0")
    for ext in ("png", "pdf"):
        assert (tmp_path / "a" / f"line.{ext}").read_bytes() == \
            (tmp_path / "b" / f"line.{ext}").read_bytes()
    assert b"CreationDate" not in (tmp_path / "a" / "line.pdf").read_bytes()
