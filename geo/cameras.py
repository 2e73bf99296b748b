"""Which cameras see a spot: geodesic bearing and field-of-view (FOV) rules.

A camera *covers* a spot when it is online, the geodesic distance camera→spot is at most its
``range_m`` and the geodesic bearing camera→spot (true north, clockwise, degrees) lies inside
``azimuth_deg ± fov_deg / 2`` (bounds included). A PTZ camera covers any bearing within range;
it is told to pan to that bearing (``pan_deg``). A 360° FOV covers any bearing too.

Bearings and distances are computed on the WGS 84 ellipsoid (GeographicLib): in SQL with
``ST_Azimuth``/``ST_Distance`` on geography, in memory with :class:`pyproj.Geod`. Both sides
then apply the same float formula (:func:`angle_off_axis` / :data:`OFF_AXIS_SQL`), so SQL and
the numpy oracle agree (differences are below 1e-9°). Grid north of a projected CRS is never
used: it is ~0.45° off true north near Datong in EPSG:4547.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pyproj import Geod

WGS84 = Geod(ellps="WGS84")

BEARING_SQL = "degrees(ST_Azimuth({cam}::geography, {spot}::geography))"
"""SQL: geodesic bearing camera→spot in degrees [0, 360); NULL when the points coincide."""

DISTANCE_SQL = "ST_Distance({cam}::geography, {spot}::geography)"
"""SQL: geodesic distance camera→spot in metres (WGS 84 ellipsoid)."""

OFF_AXIS_SQL = "(({b}) - ({a}) - 360.0 * floor((({b}) - ({a}) + 180.0) / 360.0))"
"""SQL: signed angle bearing − azimuth folded into [-180, 180), degrees (same as numpy)."""


def bearing_sql(cam: str, spot: str) -> str:
    """SQL expression of the bearing (degrees, 0 when the camera stands on the spot)."""
    return f"coalesce({BEARING_SQL.format(cam=cam, spot=spot)}, 0.0)"


def facing_sql(bearing: str, camera: str = "c") -> str:
    """SQL boolean: the spot at ``bearing`` is inside ``camera``'s view wedge (or it is PTZ)."""
    off = OFF_AXIS_SQL.format(b=bearing, a=f"{camera}.azimuth_deg")
    return (f"({camera}.camera_type = 'ptz' OR {camera}.fov_deg >= 360"
            f" OR abs({off}) <= {camera}.fov_deg / 2.0)")


def geodesic_bearing_distance(
    cam_lon: ArrayLike, cam_lat: ArrayLike, lon: ArrayLike, lat: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Bearing (degrees [0, 360), true north, clockwise) and distance (m) camera→spot.

    Inputs are WGS 84 lon/lat in degrees, broadcastable arrays. Coincident points get
    bearing 0 and distance 0. NaN inputs give NaN outputs.
    """
    fwd, _, dist = WGS84.inv(np.asarray(cam_lon, dtype=float), np.asarray(cam_lat, dtype=float),
                             np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    fwd = np.asarray(fwd, dtype=float)
    dist = np.asarray(dist, dtype=float)
    bearing = np.where(fwd < 0, fwd + 360.0, fwd)
    bearing = np.where(dist == 0, 0.0, bearing)
    return bearing, dist


def angle_off_axis(bearing: ArrayLike, azimuth: ArrayLike) -> NDArray[np.float64]:
    """Signed angle (degrees, in [-180, 180)) from the camera axis to the bearing."""
    d = np.asarray(bearing, dtype=float) - np.asarray(azimuth, dtype=float)
    return np.asarray(d - 360.0 * np.floor((d + 180.0) / 360.0), dtype=float)


def is_facing(
    bearing: ArrayLike, azimuth: ArrayLike, fov: ArrayLike, camera_type: ArrayLike
) -> NDArray[np.bool_]:
    """Vectorised FOV test, the in-memory twin of :func:`facing_sql`.

    ``camera_type`` is an array of strings (``'ptz'`` sees every bearing).
    """
    fov_a = np.asarray(fov, dtype=float)
    inside = np.abs(angle_off_axis(bearing, azimuth)) <= fov_a / 2.0
    return np.asarray((np.asarray(camera_type) == "ptz") | (fov_a >= 360) | inside, dtype=bool)


def covers(
    distance_m: ArrayLike, range_m: ArrayLike, facing: ArrayLike, status: ArrayLike
) -> NDArray[np.bool_]:
    """Camera covers the spot: online, within range (metres, inclusive) and facing it."""
    return np.asarray(
        (np.asarray(status) == "online")
        & (np.asarray(distance_m, dtype=float) <= np.asarray(range_m, dtype=float))
        & np.asarray(facing, dtype=bool),
        dtype=bool,
    )
