"""geohet_lib.land: the offline land mask and the shipped Natural Earth countries."""

import numpy as np

from geohet_lib.land import in_greenland, is_land, natural_earth_countries


def test_is_land_wraps_longitude_and_keeps_shape():
    lat = np.array([[23.0, 0.0], [48.75, -25.0]])  # Sahara, mid-Pacific; Paris area, Australia
    lon = np.array([[10.0, -150.0], [2.25, 134.0]])
    np.testing.assert_array_equal(is_land(lat, lon), [[True, False], [True, True]])
    np.testing.assert_array_equal(is_land(lat, lon + 360.0), is_land(lat, lon))
    assert is_land(90.0, 0.0) == is_land(89.999, 0.0)  # clipped, no index error at the pole


def test_countries_and_greenland():
    countries = natural_earth_countries()
    assert {"name", "continent", "geometry"} <= set(countries.columns)
    assert (countries["name"] == "Greenland").sum() == 1
    assert in_greenland([72.0, 64.0], [-40.0, -20.0]).tolist() == [True, False]  # not Iceland
