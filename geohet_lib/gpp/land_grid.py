"""The global land grid of the GPP study (paper 4.1: 0.5 degree, ~61k land cells).

Land comes from ``global-land-mask`` (a 1 km GLOBE-derived mask that installs offline,
:func:`geohet_lib.land.is_land`). A cell is land when at least ``min_land_fraction`` of
``subsamples x subsamples`` points spread over it are land. Ice sheets are excluded: Antarctica
by ``min_lat`` (-60 degrees) and Greenland by its Natural Earth 110m outline
(:func:`geohet_lib.land.in_greenland`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..land import in_greenland, is_land


def grid_centres(res_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre latitudes (north to south) and longitudes (-180..180) of a global grid."""
    n_lat, n_lon = 180.0 / res_deg, 360.0 / res_deg
    if abs(n_lat - round(n_lat)) > 1e-9 or abs(n_lon - round(n_lon)) > 1e-9:
        raise ValueError(f"grid resolution {res_deg} must divide 180 degrees evenly")
    lat = 90.0 - res_deg * (np.arange(round(n_lat)) + 0.5)
    lon = -180.0 + res_deg * (np.arange(round(n_lon)) + 0.5)
    return lat, lon


def land_fraction(lat: np.ndarray, lon: np.ndarray, res_deg: float,
                  subsamples: int = 3) -> np.ndarray:
    """Fraction of ``subsamples**2`` points inside each cell that the land mask calls land.

    ``lat``/``lon`` are cell centres (1-D, same length); returns values in [0, 1].
    """
    offs = (np.arange(subsamples) + 0.5) / subsamples - 0.5
    dlat, dlon = np.meshgrid(offs * res_deg, offs * res_deg, indexing="ij")
    plat = lat[:, None] + dlat.ravel()[None, :]
    plon = lon[:, None] + dlon.ravel()[None, :]
    land = is_land(plat.ravel(), plon.ravel()).reshape(plat.shape)  # clips lat, wraps lon
    return land.mean(axis=1)


def build_land_grid(res_deg: float, min_lat: float = -60.0, exclude_greenland: bool = True,
                    min_land_fraction: float = 0.5, subsamples: int = 3) -> pd.DataFrame:
    """Land cells of a global ``res_deg`` grid as a table, north to south, west to east.

    Columns: ``cell`` (0..n-1), ``lat``, ``lon`` (cell centres, degrees, lon in -180..180),
    ``row``, ``col`` (indices in the full global grid), ``land_fraction``.
    """
    if res_deg <= 0:
        raise ValueError(f"grid resolution must be positive, got {res_deg}")
    lat_c, lon_c = grid_centres(res_deg)
    rows, cols = np.meshgrid(np.arange(lat_c.size), np.arange(lon_c.size), indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    lat, lon = lat_c[rows], lon_c[cols]
    keep = lat >= min_lat
    rows, cols, lat, lon = rows[keep], cols[keep], lat[keep], lon[keep]
    frac = np.empty(lat.size)
    step = 200_000  # bounded memory at fine resolutions
    for i in range(0, lat.size, step):
        frac[i:i + step] = land_fraction(lat[i:i + step], lon[i:i + step], res_deg, subsamples)
    keep = frac >= min_land_fraction
    if exclude_greenland:
        keep &= ~in_greenland(lat, lon)
    df = pd.DataFrame({"lat": lat[keep], "lon": lon[keep], "row": rows[keep],
                       "col": cols[keep], "land_fraction": frac[keep].astype(np.float32)})
    df.insert(0, "cell", np.arange(len(df), dtype=np.int64))
    return df
