import matplotlib.pyplot as plt


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
