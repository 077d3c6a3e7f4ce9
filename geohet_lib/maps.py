"""World maps that draw offline, and figure saving (PNG + PDF with a caption).

Cartopy downloads Natural Earth shapes on first use, which fails without internet. The
package ships Natural Earth 110m admin-0 countries (public domain, derived from the copy
inside ``pyogrio``'s test fixtures) as ``resources/ne_110m_countries.geojson``.
:func:`ensure_offline_natural_earth` writes land, coastline and countries shapefiles in
cartopy's own layout (``shapefiles/natural_earth/{physical,cultural}/ne_110m_*.shp``) into a
cache folder and points ``cartopy.config['pre_existing_data_dir']`` at it, so that
``ax.coastlines()`` and ``cfeature.LAND`` work offline, in the library and in user code.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources
from pathlib import Path

import matplotlib

if not os.environ.get("DISPLAY") and "MPLBACKEND" not in os.environ:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_LAYERS = {
    ("physical", "land"), ("physical", "coastline"), ("cultural", "admin_0_countries"),
}


def _cache_root() -> Path:
    base = os.environ.get("GEOHET_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "geohet")
    return Path(base) / "cartopy"


def _write_layers(root: Path) -> None:
    import geopandas as gpd

    src = resources.files("geohet_lib.resources").joinpath("ne_110m_countries.geojson")
    with resources.as_file(src) as p:
        countries = gpd.read_file(p)
    land = gpd.GeoDataFrame({"featurecla": ["Land"]},
                            geometry=[countries.geometry.union_all()], crs="EPSG:4326")
    land = land.explode(index_parts=False).reset_index(drop=True)
    coast = gpd.GeoDataFrame({"featurecla": ["Coastline"] * len(land)},
                             geometry=land.geometry.boundary.values,
                             crs="EPSG:4326").explode(index_parts=False)
    out = {
        ("physical", "land"): land,
        ("physical", "coastline"): coast.reset_index(drop=True),
        ("cultural", "admin_0_countries"): countries.rename(columns={"name": "NAME"}),
    }
    for (category, name), gdf in out.items():
        folder = root / "shapefiles" / "natural_earth" / category
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".ne_110m_{name}.tmp.shp"
        gdf.to_file(tmp, driver="ESRI Shapefile")
        for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
            part = tmp.with_suffix(ext)
            if part.exists():
                os.replace(part, folder / f"ne_110m_{name}{ext}")


@lru_cache(maxsize=1)
def ensure_offline_natural_earth() -> Path:
    """Write (once) the 110m Natural Earth layers cartopy needs and point cartopy at them."""
    import cartopy

    root = _cache_root()
    if not all((root / "shapefiles" / "natural_earth" / c / f"ne_110m_{n}.shp").exists()
               for c, n in _LAYERS):
        _write_layers(root)
    cartopy.config["pre_existing_data_dir"] = str(root)
    return root


def world_map(ax=None, figsize: tuple[float, float] = (10, 5), projection=None,
              land_color: str = "#f1efe8", ocean_color: str = "#dfe9f2"):
    """A global map axis with land and coastlines drawn from offline data.

    Returns ``(fig, ax)``; plot lon/lat data with ``transform=ccrs.PlateCarree()``.
    """
    import cartopy.crs as ccrs
    import cartopy.feature as cfeature

    ensure_offline_natural_earth()
    if ax is None:
        fig = plt.figure(figsize=figsize)
        ax = fig.add_subplot(1, 1, 1, projection=projection or ccrs.Robinson())
    else:
        fig = ax.figure
    ax.set_global()
    ax.set_facecolor(ocean_color)
    ax.add_feature(cfeature.LAND.with_scale("110m"), facecolor=land_color, edgecolor="none",
                   zorder=0)
    ax.coastlines(resolution="110m", linewidth=0.4, color="0.35", zorder=3)
    return fig, ax


def save_figure(fig, stem: str, figures_dir: str | Path = "figures",
                caption: str | None = None, dpi: int = 150) -> list[Path]:
    """Save ``fig`` as ``<figures_dir>/<stem>.png`` and ``.pdf``, caption under the axes."""
    from .io import atomic_path

    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    if caption:
        fig.text(0.5, 0.005, caption, ha="center", va="bottom", fontsize=8, color="0.25",
                 wrap=True)
    paths = []
    for ext in ("png", "pdf"):
        target = figures_dir / f"{stem}.{ext}"
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=ext, dpi=dpi, bbox_inches="tight")
        paths.append(target)
    return paths
