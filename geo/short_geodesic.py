"""Geodesic bearing and distance over short ranges, fast, with a stated error bound.

:func:`geo.cameras.geodesic_bearing_distance` (GeographicLib through pyproj) costs ~1-6 µs a
pair: most of an in-memory camera step over millions of candidate pairs. Within
:data:`MAX_DISTANCE_M` the Gauss mid-latitude formula on WGS 84 (radii of curvature at the
mean latitude; the forward azimuth corrected by half the meridian convergence) is within

* distance: ``1e-8·d + 4e-14·d³ + 1e-7`` m (measured: 3e-7 m at 200 m, 3e-4 m at 2 km),
* bearing: ``2e-12·d² + 1e-6`` degrees (measured: 4e-7° at 200 m, 5e-6° at 2 km),

of GeographicLib (random pairs at latitudes within ±80°, checked in
tests/geo/test_short_geodesic.py). :data:`SAFETY` times these bounds decides which pairs a
caller must recompute exactly: those whose decision (within range, inside the view, nearer
than another camera) the approximation could flip. Inputs are WGS 84 lon/lat in degrees.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

A = 6_378_137.0
F = 1 / 298.257223563
E2 = F * (2 - F)
MAX_DISTANCE_M = 20_000.0
"""Beyond this distance (or latitude :data:`MAX_LATITUDE`) callers use the exact formula."""
MAX_LATITUDE = 80.0
MIN_DISTANCE_M = 1.0
"""Closer than this the bearing is ill-conditioned (float noise of a few 1e-6° at 1 cm):
callers use the exact formula."""
SAFETY = 10.0
"""Factor applied to the measured error bounds by :func:`distance_error_m` and
:func:`bearing_error_deg`."""


def short_bearing_distance(cam_lon: NDArray[np.float64], cam_lat: NDArray[np.float64],
                           lon: NDArray[np.float64], lat: NDArray[np.float64]
                           ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Approximate geodesic bearing (degrees [0, 360), true north, clockwise) and distance
    (m) camera→spot, element-wise; bearing 0 for coincident points (as the exact twin).
    Valid within :data:`MAX_DISTANCE_M` and :data:`MAX_LATITUDE` (see the module)."""
    phi = np.radians((cam_lat + lat) * 0.5)
    s = np.sin(phi)
    w2 = 1.0 - E2 * s * s
    w = np.sqrt(w2)
    dlon = np.radians(lon - cam_lon)
    dlon = np.where(np.abs(dlon) > np.pi, dlon - np.copysign(2 * np.pi, dlon), dlon)
    dx = (A / w) * np.cos(phi) * dlon
    dy = (A * (1.0 - E2) / (w2 * w)) * np.radians(lat - cam_lat)
    dist = np.hypot(dx, dy)
    bearing = np.degrees(np.arctan2(dx, dy) - 0.5 * dlon * s)
    bearing = np.where(bearing < 0, bearing + 360.0, bearing)
    bearing = np.where(bearing >= 360.0, bearing - 360.0, bearing)
    return np.where(dist == 0, 0.0, bearing), dist


def distance_error_m(dist: NDArray[np.float64]) -> NDArray[np.float64]:
    """Bound (m, with :data:`SAFETY`) on the distance error of :func:`short_bearing_distance`."""
    return SAFETY * (1e-8 * dist + 4e-14 * dist**3 + 1e-7)


def bearing_error_deg(dist: NDArray[np.float64]) -> NDArray[np.float64]:
    """Bound (degrees, with :data:`SAFETY`) on the bearing error of
    :func:`short_bearing_distance`."""
    return SAFETY * (2e-12 * dist**2 + 1e-6)


def outside_validity(dist: NDArray[np.float64], cam_lat: NDArray[np.float64],
                     lat: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Pairs the approximation does not cover: too far, too near a pole, or so close
    (:data:`MIN_DISTANCE_M`) that the bearing is ill-conditioned; callers compute them
    exactly."""
    return np.asarray((dist > MAX_DISTANCE_M) | (dist < MIN_DISTANCE_M)
                      | (np.abs(cam_lat) > MAX_LATITUDE) | (np.abs(lat) > MAX_LATITUDE),
                      dtype=bool)
