"""geo.short_geodesic: the fast formula stays within its stated error bound of GeographicLib
(pyproj), the exact twin that PostGIS agrees with."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from geo.short_geodesic import (
    SAFETY,
    bearing_error_deg,
    distance_error_m,
    outside_validity,
    short_bearing_distance,
)

GEOD = Geod(ellps="WGS84")


@pytest.mark.parametrize("max_m", [200.0, 2_000.0, 20_000.0])
def test_error_stays_within_the_bound_divided_by_the_safety_factor(max_m: float) -> None:
    rng = np.random.default_rng(int(max_m))
    n = 200_000
    lon, lat = rng.uniform(-180, 180, n), rng.uniform(-80, 80, n)
    lon2, lat2, _ = GEOD.fwd(lon, lat, rng.uniform(0, 360, n), rng.uniform(0, max_m, n))
    fwd, _, dist = GEOD.inv(lon, lat, lon2, lat2)
    bearing, approx = short_bearing_distance(lon, lat, lon2, lat2)
    valid = ~outside_validity(approx, lat, lat2)
    off = np.abs(((bearing - np.mod(fwd, 360.0) + 540.0) % 360.0) - 180.0)
    assert np.all(np.abs(approx - dist)[valid] <= distance_error_m(dist)[valid] / SAFETY)
    assert np.all(off[valid] <= bearing_error_deg(dist)[valid] / SAFETY)


def test_named_pairs() -> None:
    # camera at Datong, spot 100 m due east / on the spot / 30 m north-west
    lon, lat = np.array([113.3, 113.3, 113.3]), np.array([40.08, 40.08, 40.08])
    east_lon, _, _ = GEOD.fwd(113.3, 40.08, 90.0, 100.0)
    nw_lon, nw_lat, _ = GEOD.fwd(113.3, 40.08, 315.0, 30.0)
    bearing, dist = short_bearing_distance(lon, lat, np.array([east_lon, 113.3, nw_lon]),
                                           np.array([40.08, 40.08, nw_lat]))
    assert dist[0] == pytest.approx(100.0, abs=1e-6)
    assert (bearing[1], dist[1]) == (0.0, 0.0)
    assert bearing[2] == pytest.approx(315.0, abs=1e-6)
    assert dist[2] == pytest.approx(30.0, abs=1e-6)
    assert outside_validity(dist, lat, lat).tolist() == [False, True, False]
    assert outside_validity(np.array([0.5, 1.5]), lat[:2], lat[:2]).tolist() == [True, False]
