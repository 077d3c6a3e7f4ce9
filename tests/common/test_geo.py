"""geohet_lib.geo: the one Earth radius, haversine (lon first), unit vectors, chord <-> arc."""

import math

import numpy as np
import pytest
import torch

from geohet_lib.geo import (EARTH_RADIUS_KM, chord_to_great_circle, great_circle_to_chord,
                            haversine_km, lonlat_to_unit_sphere, unit_sphere_to_lonlat)

R = 6371.0
ONE_DEG = 2.0 * math.pi * R / 360.0  # 111.19493 km


def test_radius_is_mgwrs():
    assert EARTH_RADIUS_KM == R


def test_haversine_hand_values():
    assert haversine_km(0.0, 0.0, 1.0, 0.0) == pytest.approx(ONE_DEG, rel=1e-12)  # along equator
    assert haversine_km(0.0, 0.0, 0.0, 1.0) == pytest.approx(ONE_DEG, rel=1e-12)  # along meridian
    assert haversine_km(179.5, 0.0, -179.5, 0.0) == pytest.approx(ONE_DEG, rel=1e-12)  # antimeridian
    assert haversine_km(0.0, 90.0, 123.0, 89.0) == pytest.approx(ONE_DEG, rel=1e-12)  # at the pole
    assert haversine_km(0.0, 0.0, 180.0, 0.0) == pytest.approx(math.pi * R, rel=1e-12)  # antipodes
    assert haversine_km(10.0, -45.0, -170.0, 45.0) == pytest.approx(math.pi * R, rel=1e-12)
    assert haversine_km(20.0, 10.0, 20.0, 10.0) == 0.0
    # London (51.5074 N, 0.1278 W) - Paris (48.8566 N, 2.3522 E): 343.5 km on the 6371 km sphere
    assert haversine_km(-0.1278, 51.5074, 2.3522, 48.8566) == pytest.approx(343.5, abs=0.1)
    assert haversine_km(0.0, 0.0, 1.0, 0.0, radius_km=1.0) == pytest.approx(math.pi / 180.0)


def test_haversine_argument_order_is_lon_first():
    # 60 degrees of longitude at latitude 60 is not 60 degrees of latitude at longitude 60
    d = haversine_km(0.0, 60.0, 60.0, 60.0)
    ang = 2.0 * math.asin(math.cos(math.radians(60.0)) * math.sin(math.radians(30.0)))
    assert d == pytest.approx(R * ang, rel=1e-12)
    assert haversine_km(60.0, 0.0, 60.0, 60.0) == pytest.approx(60.0 * ONE_DEG, rel=1e-12)


def test_haversine_broadcasts_and_matches_torch():
    rng = np.random.default_rng(0)
    lon, lat = rng.uniform(-180, 180, 50), rng.uniform(-90, 90, 50)
    d = haversine_km(lon[:, None], lat[:, None], lon[None, :], lat[None, :])
    assert d.shape == (50, 50) and d.dtype == np.float64
    np.testing.assert_allclose(d, d.T)
    np.testing.assert_allclose(np.diag(d), 0.0, atol=1e-9)
    assert d.max() <= math.pi * R + 1e-9
    t = [torch.from_numpy(a) for a in (lon[:, None], lat[:, None], lon[None, :], lat[None, :])]
    dt = haversine_km(*t)
    assert isinstance(dt, torch.Tensor) and dt.dtype == torch.float64
    np.testing.assert_allclose(dt.numpy(), d, rtol=1e-12, atol=1e-9)
    d32 = haversine_km(*(x.float() for x in t))
    assert d32.dtype == torch.float32


def test_haversine_matches_sklearn_and_mgwr():
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(-180, 180, 40), rng.uniform(-89, 89, 40)
    d = haversine_km(lon[:, None], lat[:, None], lon[None, :], lat[None, :])
    metrics = pytest.importorskip("sklearn.metrics.pairwise")
    rad = np.radians(np.column_stack((lat, lon)))  # sklearn: (lat, lon) radians, unit sphere
    np.testing.assert_allclose(d, R * metrics.haversine_distances(rad), rtol=1e-9, atol=1e-6)
    kernels = pytest.importorskip("mgwr.kernels")
    coords = np.column_stack((lon, lat))
    np.testing.assert_allclose(d[3], kernels.local_cdist(coords[3], coords, True),
                               rtol=1e-9, atol=1e-6)


def test_unit_vectors():
    p = lonlat_to_unit_sphere([0, 90, 0, 180, -90], [0, 0, 90, 0, 0])
    np.testing.assert_allclose(p, [[1, 0, 0], [0, 1, 0], [0, 0, 1], [-1, 0, 0], [0, -1, 0]],
                               atol=1e-15)
    rng = np.random.default_rng(2)
    lon, lat = rng.uniform(-180, 180, 200), rng.uniform(-90, 90, 200)
    u = lonlat_to_unit_sphere(lon, lat)
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0, rtol=1e-14)
    lon2, lat2 = unit_sphere_to_lonlat(3.0 * u)
    np.testing.assert_allclose(lat2, lat, atol=1e-9)
    np.testing.assert_allclose(lon2, lon, atol=1e-9)
    with pytest.raises(ValueError, match="differ in length"):
        lonlat_to_unit_sphere([0.0, 1.0], [0.0])


def test_chord_between_unit_vectors_maps_to_haversine():
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(-180, 180, (2, 300)), rng.uniform(-90, 90, (2, 300))
    a, b = lonlat_to_unit_sphere(lon[0], lat[0]), lonlat_to_unit_sphere(lon[1], lat[1])
    chord_km = R * np.linalg.norm(a - b, axis=1)
    np.testing.assert_allclose(chord_to_great_circle(chord_km, R),
                               haversine_km(lon[0], lat[0], lon[1], lat[1]), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(R * chord_to_great_circle(chord_km / R), chord_to_great_circle(chord_km, R))


def test_chord_great_circle_round_trip():
    s = np.linspace(0.0, math.pi * R, 101)
    c = great_circle_to_chord(s, R)
    assert c[-1] == pytest.approx(2.0 * R) and c[0] == 0.0
    np.testing.assert_allclose(chord_to_great_circle(c, R), s, rtol=1e-9, atol=1e-6)
    assert chord_to_great_circle(math.sqrt(2.0)) == pytest.approx(math.pi / 2)  # unit sphere
    assert chord_to_great_circle(2.0 + 1e-12) == pytest.approx(math.pi)  # clipped, not nan
    assert np.all(chord_to_great_circle(c, R) >= c - 1e-9)  # arc >= chord
