"""Geometry on the spherical Earth, shared by both studies and the baselines.

One radius, one great-circle distance, one mapping to unit vectors, one chord <-> arc pair:

* :data:`EARTH_RADIUS_KM` = 6371.0 km. It is the radius ``mgwr`` hard-codes for its spherical
  (haversine) kernel distances (``mgwr.kernels.local_cdist``), and our GWR / GTWR / GNNWR
  baselines are tested for equality against ``mgwr`` / ``mgtwr``. The IUGG mean radius
  (6371.0088 km, used by the graph modules before) differs by 1.4 ppm: adaptive (k-nearest)
  kernels and k-NN graphs are scale-invariant, so only fixed bandwidths in km, km-valued edge
  weights and the equality with ``mgwr`` see the difference, and the last one needs 6371.0.
* :func:`haversine_km` takes **longitude first**, ``(lon1, lat1, lon2, lat2)``, as GeoJSON and
  ``(x, y)`` do; numpy arrays and torch tensors both work (the result has the input's type,
  device and dtype; nothing here imports torch).
* :func:`lonlat_to_unit_sphere` is the map of GPP paper 3.1, ``x = cos(phi) cos(lambda)``,
  ``y = cos(phi) sin(lambda)``, ``z = sin(phi)``; :func:`unit_sphere_to_lonlat` its inverse.
* :func:`chord_to_great_circle` / :func:`great_circle_to_chord`: ``s = 2R asin(c / 2R)`` and
  ``c = 2R sin(s / 2R)`` on a sphere of radius ``R`` (``R = 1``: unit chord <-> radians).
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:  # torch is optional here: tensors are handled when the caller has torch loaded
    import torch

__all__ = ["EARTH_RADIUS_KM", "haversine_km", "lonlat_to_unit_sphere", "unit_sphere_to_lonlat",
           "chord_to_great_circle", "great_circle_to_chord"]

EARTH_RADIUS_KM = 6371.0  # mgwr's radius (see the module docstring); IUGG mean is 6371.0088


def _namespace(*arrays: Any) -> Any:
    """``torch`` when any argument is a torch tensor, else ``numpy`` (torch is never imported
    here: if it is not loaded, no argument can be a tensor)."""
    torch = sys.modules.get("torch")
    if torch is not None and any(isinstance(a, torch.Tensor) for a in arrays):
        return torch
    return np


def haversine_km(lon1: ArrayLike | torch.Tensor, lat1: ArrayLike | torch.Tensor,
                 lon2: ArrayLike | torch.Tensor, lat2: ArrayLike | torch.Tensor,
                 radius_km: float = EARTH_RADIUS_KM) -> np.ndarray | torch.Tensor:
    """Great-circle distance between (lon, lat) points in degrees, in units of ``radius_km``.

    The haversine formula, ``2R asin(sqrt(sin^2(dphi/2) + cos phi1 cos phi2 sin^2(dlambda/2)))``
    (Sinnott 1984), with broadcasting. ``sin^2`` is 360-periodic in ``dlambda``, so pairs across
    the antimeridian are safe. numpy in (arrays, lists, scalars): float64 numpy out; torch
    tensors in: a tensor out, on their device and in their dtype.
    """
    xp = _namespace(lon1, lat1, lon2, lat2)
    if xp is np:
        lon1, lat1, lon2, lat2 = (np.asarray(a, dtype=np.float64) for a in (lon1, lat1, lon2, lat2))
    rad = math.pi / 180.0
    lat1r, lat2r = lat1 * rad, lat2 * rad
    s_dlat = xp.sin((lat2r - lat1r) * 0.5)
    s_dlon = xp.sin((lon2 - lon1) * (rad * 0.5))
    h = s_dlat * s_dlat + xp.cos(lat1r) * xp.cos(lat2r) * s_dlon * s_dlon
    return (2.0 * radius_km) * xp.arcsin(xp.sqrt(xp.clip(h, 0.0, 1.0)))


def lonlat_to_unit_sphere(lon_deg: ArrayLike, lat_deg: ArrayLike) -> np.ndarray:
    """Unit vectors ``(n, 3)`` of GPP paper 3.1: ``x = cos(phi) cos(lambda)``,
    ``y = cos(phi) sin(lambda)``, ``z = sin(phi)`` (degrees in, flattened, float64 out)."""
    lon = np.deg2rad(np.asarray(lon_deg, dtype=np.float64)).ravel()
    lat = np.deg2rad(np.asarray(lat_deg, dtype=np.float64)).ravel()
    if lon.shape != lat.shape:
        raise ValueError(f"lon and lat differ in length: {lon.size} and {lat.size}")
    cl = np.cos(lat)
    return np.stack((cl * np.cos(lon), cl * np.sin(lon), np.sin(lat)), axis=1)


def unit_sphere_to_lonlat(xyz: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`lonlat_to_unit_sphere` (vectors need not be unit length):
    ``(lon, lat)`` in degrees, lon in (-180, 180]."""
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    lon = np.rad2deg(np.arctan2(xyz[:, 1], xyz[:, 0]))
    lat = np.rad2deg(np.arctan2(xyz[:, 2], np.hypot(xyz[:, 0], xyz[:, 1])))
    return lon, lat


def chord_to_great_circle(chord: ArrayLike, radius: float = 1.0) -> np.ndarray:
    """Great-circle (arc) length of a chord on a sphere of ``radius``: ``2R asin(c / 2R)``.

    The chord is clipped to ``[0, 2R]`` (rounding can put it just outside). ``radius=1``:
    a chord between unit vectors -> the angle in radians.
    """
    c = np.clip(np.asarray(chord, dtype=np.float64), 0.0, 2.0 * radius)
    return 2.0 * radius * np.arcsin(c / (2.0 * radius))


def great_circle_to_chord(arc: ArrayLike, radius: float = 1.0) -> np.ndarray:
    """Chord of a great-circle arc of length ``s`` on a sphere of ``radius``: ``2R sin(s / 2R)``
    (the inverse of :func:`chord_to_great_circle` for ``0 <= s <= pi R``)."""
    s = np.asarray(arc, dtype=np.float64)
    return 2.0 * radius * np.sin(s / (2.0 * radius))
