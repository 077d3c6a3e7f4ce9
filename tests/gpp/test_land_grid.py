import numpy as np
import pytest

from geohet_lib.gpp.land_grid import build_land_grid, grid_centres, land_fraction
from geohet_lib.land import in_greenland


def test_grid_centres():
    lat, lon = grid_centres(0.5)
    assert lat.size == 360 and lon.size == 720
    assert lat[0] == 89.75 and lat[-1] == -89.75 and lon[0] == -179.75 and lon[-1] == 179.75
    with pytest.raises(ValueError, match="divide 180"):
        grid_centres(0.7)


def test_land_fraction_known_points():
    lat = np.array([23.0, 0.0, 48.75, -25.0])  # Sahara, mid-Pacific, Paris area, Australia
    lon = np.array([10.0, -150.0, 2.25, 134.0])
    frac = land_fraction(lat, lon, 0.5)
    np.testing.assert_array_equal(frac, [1.0, 0.0, 1.0, 1.0])


def test_greenland_polygon():
    assert in_greenland(np.array([72.0]), np.array([-40.0]))[0]
    assert not in_greenland(np.array([64.0]), np.array([-20.0]))[0]  # Iceland
    assert not in_greenland(np.array([80.0]), np.array([-85.0]))[0]  # Ellesmere Island


@pytest.mark.parametrize("res, lo, hi", [(6.0, 350, 480), (2.0, 3300, 4000), (1.0, 14000, 15800)])
def test_land_cell_counts(res, lo, hi):
    # ~29% of the Earth is land; without Antarctica and Greenland ~ 118e6 km2 of 510e6.
    # At 1 deg (no ice) the count sits below the 21,546 land cells STACK.md records with ice.
    cells = build_land_grid(res)
    assert lo <= len(cells) <= hi
    assert cells["lat"].min() >= -60.0
    assert not in_greenland(cells["lat"].to_numpy(), cells["lon"].to_numpy()).any()
    assert (cells["land_fraction"] >= 0.5).all()
    assert cells["cell"].tolist() == list(range(len(cells)))
    assert cells["lon"].between(-180, 180).all()


def test_land_grid_options():
    with_ice = build_land_grid(6.0, min_lat=-90.0, exclude_greenland=False)
    without = build_land_grid(6.0)
    assert len(with_ice) > len(without)
    assert (with_ice["lat"] < -60).any()
    with pytest.raises(ValueError, match="positive"):
        build_land_grid(0.0)
