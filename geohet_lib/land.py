"""Land and country outlines shared by both studies (offline).

* :func:`is_land`: the 1 km GLOBE-derived mask of ``global-land-mask`` (installs offline).
* :func:`natural_earth_countries`: the Natural Earth 110m admin-0 countries shipped in
  ``geohet_lib/resources/ne_110m_countries.geojson`` (public domain).
* :func:`in_greenland`: inside Greenland's outline from that file (the GPP land grid excludes
  the ice sheet, GPP paper 4.1; the synthetic SOC corpus places no sample there).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:  # imported lazily at run time (slow imports)
    import geopandas
    import shapely

__all__ = ["is_land", "natural_earth_countries", "in_greenland"]

COUNTRIES_RESOURCE = "ne_110m_countries.geojson"


def is_land(lat: ArrayLike, lon: ArrayLike) -> np.ndarray:
    """True where ``global_land_mask`` calls a point land (degrees, any shape).

    Latitudes are clipped to +-89.999 and longitudes wrapped to [-180, 180) then clipped to
    179.999, the ranges the mask accepts.
    """
    from global_land_mask import globe  # ~4 s and ~0.9 GB on first import

    lat = np.clip(np.asarray(lat, float), -89.999, 89.999)
    lon = np.clip(((np.asarray(lon, float) + 180.0) % 360.0) - 180.0, -180.0, 179.999)
    return np.asarray(globe.is_land(lat, lon), bool)


def natural_earth_countries() -> geopandas.GeoDataFrame:
    """The shipped Natural Earth 110m countries as a ``geopandas.GeoDataFrame`` (EPSG:4326),
    read afresh on each call (callers cache what they derive from it)."""
    import geopandas as gpd

    path = resources.files("geohet_lib.resources").joinpath(COUNTRIES_RESOURCE)
    with resources.as_file(path) as p:
        return gpd.read_file(p)


@lru_cache(maxsize=1)
def _greenland_polygon() -> shapely.Geometry:
    countries = natural_earth_countries()
    geom = countries.loc[countries["name"] == "Greenland", "geometry"]
    if geom.empty:  # pragma: no cover - the shipped file has it
        raise RuntimeError("Greenland missing from the shipped Natural Earth countries file")
    return geom.iloc[0]


def in_greenland(lat: ArrayLike, lon: ArrayLike) -> np.ndarray:
    """True where a point lies inside Greenland (Natural Earth 110m outline)."""
    import shapely

    poly = _greenland_polygon()
    return shapely.contains_xy(poly, np.asarray(lon, float), np.asarray(lat, float))
