"""World maps that draw offline, and figure saving (PNG + PDF with a caption).

Cartopy downloads Natural Earth shapes on first use, which fails without internet. The
package ships Natural Earth 110m admin-0 countries (public domain, derived from the copy
inside ``pyogrio``'s test fixtures) as ``resources/ne_110m_countries.geojson``.
:func:`ensure_offline_natural_earth` writes land, coastline and countries shapefiles in
cartopy's own layout (``shapefiles/natural_earth/{physical,cultural}/ne_110m_*.shp``) into a
cache folder and points ``cartopy.config['pre_existing_data_dir']`` at it, so that
``ax.coastlines()`` and ``cfeature.LAND`` work offline, in the library and in user code.
:func:`great_circle_polylines` turns point pairs into great-circle arcs cut at the
antimeridian, for the graph maps of both studies.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .geo import lonlat_to_unit_sphere, unit_sphere_to_lonlat
from .land import natural_earth_countries

_LAYERS = {
    ("physical", "land"), ("physical", "coastline"), ("cultural", "admin_0_countries"),
}


def _cache_root() -> Path:
    base = os.environ.get("GEOHET_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "geohet")
    return Path(base) / "cartopy"


def _write_layers(root: Path) -> None:
    import geopandas as gpd

    countries = natural_earth_countries()
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


CAPTION_GAP_IN = 0.06  # inches between the lowest drawn artist and the caption


def map_extent(lat, lon, margin_frac: float = 0.05, min_margin_deg: float = 2.0
               ) -> list[float] | None:
    """``[lon_min, lon_max, lat_min, lat_max]`` of the points (non-finite ones ignored) plus
    a margin, or ``None`` when they span (nearly) the whole globe (draw a global map then)."""
    lat, lon = np.asarray(lat, dtype=float).ravel(), np.asarray(lon, dtype=float).ravel()
    ok = np.isfinite(lat) & np.isfinite(lon)
    lat, lon = lat[ok], lon[ok]
    if lat.size == 0:
        return None
    lo0, lo1, la0, la1 = lon.min(), lon.max(), lat.min(), lat.max()
    if lo1 - lo0 > 300 or la1 - la0 > 150:
        return None
    mx = max(min_margin_deg, margin_frac * (lo1 - lo0))
    my = max(min_margin_deg, margin_frac * (la1 - la0))
    return [float(max(lo0 - mx, -180.0)), float(min(lo1 + mx, 180.0)),
            float(max(la0 - my, -90.0)), float(min(la1 + my, 90.0))]


def add_caption(fig: Figure, caption: str, fontsize: float = 8) -> None:
    """Put ``caption`` centred just below everything drawn on ``fig`` (colour bars included).

    Placed relative to the figure's tight bounding box rather than the figure's bottom edge,
    so a map whose fixed aspect leaves blank space under it gets no gap above its caption.
    """
    bbox = fig.get_tightbbox()  # inches, with the figure's own renderer
    width, height = fig.get_size_inches()
    x = 0.5 * (bbox.x0 + bbox.x1) / width
    y = (bbox.y0 - CAPTION_GAP_IN) / height
    fig.text(x, y, caption, ha="center", va="top", fontsize=fontsize, color="0.25", wrap=True)


def save_figure(fig: Figure, stem: str, figures_dir: str | Path = "figures",
                caption: str | None = None, dpi: int = 150) -> list[Path]:
    """Save ``fig`` as ``<figures_dir>/<stem>.png`` and ``.pdf``, caption under the axes."""
    from .io import atomic_path

    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    if caption:
        add_caption(fig, caption)
    paths = []
    for ext in ("png", "pdf"):
        target = figures_dir / f"{stem}.{ext}"
        with atomic_path(target) as tmp:
            # no creation date in the PDF: a rerun that draws the same figure writes the same
            # bytes, so git shows only figures whose content changed
            meta = {"CreationDate": None} if ext == "pdf" else None
            fig.savefig(tmp, format=ext, dpi=dpi, bbox_inches="tight", metadata=meta)
        paths.append(target)
    return paths


def finish_figure(fig: Figure, stem: str, figures_dir: str | Path = "figures",
                  caption: str | None = None) -> Figure:
    """Save ``fig`` (PNG + PDF with its caption), release it from pyplot and return it.

    Every ``plot_*`` function ends here. The figure is closed in pyplot's registry, so scripts
    and loops do not pile up open figures, yet it stays a complete ``Figure``: a notebook
    shows it with ``display(fig)`` (or as a cell's last value), with its caption. The written
    files are in ``fig.saved_paths``.
    """
    fig.saved_paths = save_figure(fig, stem, figures_dir, caption)
    plt.close(fig)
    return fig


def _slerp_lonlat(lon1, lat1, lon2, lat2, n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_points`` points along each great-circle arc (spherical linear interpolation of the
    unit vectors, Shoemake 1985) as ``(lon, lat)`` arrays of shape (pairs, n_points)."""
    a = lonlat_to_unit_sphere(lon1, lat1)
    b = lonlat_to_unit_sphere(lon2, lat2)
    omega = np.arccos(np.clip(np.sum(a * b, axis=1), -1.0, 1.0))[:, None]  # (E, 1)
    f = np.linspace(0.0, 1.0, n_points)[None, :]  # (1, P)
    so = np.sin(omega)
    small = so < 1e-12
    safe = np.where(small, 1.0, so)
    ca = np.where(small, 1.0 - f, np.sin((1.0 - f) * omega) / safe)
    cb = np.where(small, f, np.sin(f * omega) / safe)
    pts = ca[:, :, None] * a[:, None, :] + cb[:, :, None] * b[:, None, :]  # (E, P, 3)
    lon, lat = unit_sphere_to_lonlat(pts.reshape(-1, 3))
    return lon.reshape(-1, n_points), lat.reshape(-1, n_points)


def _cut_at_antimeridian(lo: np.ndarray, la: np.ndarray, jumps: np.ndarray) -> list[np.ndarray]:
    """Split one sampled arc where consecutive longitudes jump (``jumps[s]``: between samples
    ``s`` and ``s + 1``); each piece ends on lon = +-180 at the linearly interpolated latitude."""
    pieces, piece = [], []
    for s in range(lo.size - 1):
        piece.append((lo[s], la[s]))
        if jumps[s]:
            side = 1.0 if lo[s] >= 0 else -1.0
            nxt = lo[s + 1] + 360.0 * side  # the next sample, unwrapped to this side
            frac = (180.0 * side - lo[s]) / (nxt - lo[s])
            lat_c = la[s] + frac * (la[s + 1] - la[s])
            piece.append((180.0 * side, lat_c))
            pieces.append(np.asarray(piece))
            piece = [(-180.0 * side, lat_c)]
    piece.append((lo[-1], la[-1]))
    pieces.append(np.asarray(piece))
    return pieces


def great_circle_polylines(lon1, lat1, lon2, lat2, n_points: int = 16
                           ) -> tuple[list[np.ndarray], np.ndarray]:
    """Great-circle arcs between point pairs as lon/lat polylines cut at the antimeridian.

    Each arc is sampled at ``n_points`` points (spherical linear interpolation of the unit
    vectors); where consecutive samples jump by more than 180 degrees of longitude the arc
    is split, each piece ending exactly on lon = +-180 at the interpolated latitude.
    Returns ``(pieces, owner)``: a list of ``(m, 2)`` arrays of (lon, lat) in degrees, none
    with a jump, so each can be projected and drawn as straight segments, and the int array
    of the arc (pair index) each piece belongs to.
    """
    lon, lat = _slerp_lonlat(lon1, lat1, lon2, lat2, n_points)
    jumps = np.abs(np.diff(lon, axis=1)) > 180.0
    pieces: list[np.ndarray] = []
    owner: list[int] = []
    for e in range(lon.shape[0]):
        cut = ([np.stack((lon[e], lat[e]), axis=1)] if not jumps[e].any()
               else _cut_at_antimeridian(lon[e], lat[e], jumps[e]))
        pieces += cut
        owner += [e] * len(cut)
    return pieces, np.asarray(owner, dtype=np.int64)
