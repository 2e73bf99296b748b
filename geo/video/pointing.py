"""Pan, tilt and zoom to a spot, and where a fixed camera shows it: SQL and numpy twins.

Conventions (docs/dispatch.md, "Pointing cameras"):

* **pan** (PTZ): the geodesic bearing camera → spot, degrees from true north, clockwise,
  in [0, 360) (``geo.cameras``);
* **tilt** (PTZ): the angle of the line of sight to the spot on the ground below the
  horizon, negative downwards: ``-degrees(atan2(height_m, distance_m))`` (-90 straight
  down); the height is the mounting height or its kind's default (:mod:`geo.video.model`);
* **zoom** (PTZ): the optical zoom factor (1 = wide end) that frames a scene
  :data:`FRAME_WIDTH_M` wide at the spot, ``tan(wide/2) / tan(fov/2)`` with
  ``fov = 2·atan(FRAME_WIDTH_M / 2 / distance)`` kept between the tele and wide FOV;
* **offset** (fixed and dome cameras): the horizontal angle of the spot from the image
  centre, degrees, positive to the right (clockwise of the axis), in [-180, 180);
* **scene width**: the width (m) of the picture at the spot at the camera's tightest view
  (tele FOV for a PTZ camera, its FOV otherwise): ``2·distance·tan(fov/2)``. The smaller,
  the more pixels on the spot: cameras are ranked by it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from geo.cameras import OFF_AXIS_SQL
from geo.video.model import KIND_DEFAULTS, PTZ_LENS_WIDE_DEG, height_sql

FRAME_WIDTH_M = 10.0
"""Width (m) of the scene a zoom suggestion frames at the spot: a few people and a car."""
PTZ_ZOOM = KIND_DEFAULTS["ptz"].zoom


def wide_fov_sql(c: str = "c") -> str:
    """SQL: the lens's wide FOV (degrees; a PTZ stored with 360° has a 60° lens)."""
    return (f"(CASE WHEN {c}.camera_type = 'ptz' AND {c}.fov_deg >= 360"
            f" THEN {PTZ_LENS_WIDE_DEG} ELSE {c}.fov_deg END)")


def tele_fov_sql(c: str = "c") -> str:
    """SQL: the FOV at full zoom (degrees): stored, else wide / the kind's zoom."""
    return (f"coalesce({c}.fov_tele_deg, CASE WHEN {c}.camera_type = 'ptz'"
            f" THEN {wide_fov_sql(c)} / {PTZ_ZOOM} ELSE {wide_fov_sql(c)} END)")


def tilt_sql(height: str, distance: str) -> str:
    """SQL: tilt (degrees, negative below the horizon) to the ground spot."""
    return f"(-degrees(atan2({height}, {distance})))"


def lens_sql(c: str = "c") -> dict[str, str]:
    """SQL of camera row ``c``'s lens, the columns :func:`view_values_sql` reads:
    ``wide_deg`` and ``tele_deg`` (degrees, :func:`wide_fov_sql`, :func:`tele_fov_sql`)."""
    return {"wide_deg": wide_fov_sql(c), "tele_deg": tele_fov_sql(c)}


def zoom_sql(wide: str, tele: str, distance: str) -> str:
    """SQL: suggested zoom factor framing :data:`FRAME_WIDTH_M` at ``distance`` (m), from the
    lens's ``wide`` and ``tele`` FOV (degrees)."""
    need = f"(2 * degrees(atan2({FRAME_WIDTH_M / 2}, {distance})))"
    fov = f"least({wide}, greatest({tele}, {need}))"
    return f"(tan(radians({wide} / 2.0)) / tan(radians({fov} / 2.0)))"


def scene_width_sql(tele: str, distance: str) -> str:
    """SQL: picture width (m) at the spot at the camera's tightest view (``tele``, degrees)."""
    return f"(2 * {distance} * tan(radians(least({tele}, 179.0) / 2.0)))"


def tilt(height_m: ArrayLike, distance_m: ArrayLike) -> NDArray[np.float64]:
    """Tilt (degrees, negative below the horizon) from ``height_m`` to a spot
    ``distance_m`` away on the ground: the twin of :func:`tilt_sql`."""
    return np.asarray(-np.degrees(np.arctan2(np.asarray(height_m, dtype=float),
                                             np.asarray(distance_m, dtype=float))), dtype=float)


def zoom(wide_deg: ArrayLike, tele_deg: ArrayLike, distance_m: ArrayLike) -> NDArray[np.float64]:
    """Zoom factor framing :data:`FRAME_WIDTH_M` at ``distance_m``: twin of :func:`zoom_sql`."""
    wide = np.asarray(wide_deg, dtype=float)
    need = 2 * np.degrees(np.arctan2(FRAME_WIDTH_M / 2, np.asarray(distance_m, dtype=float)))
    fov = np.minimum(wide, np.maximum(np.asarray(tele_deg, dtype=float), need))
    return np.asarray(np.tan(np.radians(wide / 2)) / np.tan(np.radians(fov / 2)), dtype=float)


VIEW_FIELDS = ("blocked_by", "tilt_deg", "zoom", "offset_deg", "scene_width_m", "preset")
"""What /locate adds to each camera from the visibility model and the pointing rules."""


def blocked_by_sql(c: str = "c", spot: str = "p.g") -> str:
    """SQL: the building whose shadow in camera ``c``'s current view
    (:mod:`geo.video.views`) covers the point ``spot``, the nearest shadow first (``near_m``,
    then the building's code); NULL when none does. The function ``camera_blocked_by``
    (migration 0030): PostgreSQL sets it up only when called; /locate calls it only for a
    camera that would otherwise see the spot (online, in range, facing it), once per
    camera."""
    return f"camera_blocked_by({c}.code, {spot})"


def best_preset_sql(c: str = "c", spot: str = "p.g") -> str:
    """SQL: the best preset of PTZ camera ``c`` whose current view covers the point
    ``spot``: the narrowest (smallest FOV: most pixels on the spot), then by name; NULL when
    none does. The operator can call it up instead of steering. The function
    ``camera_best_preset`` (migration 0030), set up only when called."""
    return f"camera_best_preset({c}.code, {spot})"


def view_values_sql(c: str, spot: str) -> dict[str, str]:
    """SQL expressions of :data:`VIEW_FIELDS` (in that order) over a judged camera row
    ``c`` (its ``distance_m``, ``bearing_deg``, the :func:`lens_sql` columns, ``in_view``:
    online, in range and facing the spot, and ``blocked_by``: the building hiding the spot
    from a camera in view, else NULL) and the spot ``spot``: the blocking building, the
    pointing values (module docstring) and, for a PTZ camera that sees the spot, its best
    preset."""
    ptz = f"{c}.camera_type = 'ptz'"
    distance = f"{c}.distance_m"
    return {
        "blocked_by": f"{c}.blocked_by",
        "tilt_deg": f"CASE WHEN {ptz} THEN {tilt_sql(height_sql(c), distance)} END",
        "zoom": f"CASE WHEN {ptz} THEN {zoom_sql(f'{c}.wide_deg', f'{c}.tele_deg', distance)} END",
        "offset_deg": f"CASE WHEN NOT {ptz} THEN "
                      f"{OFF_AXIS_SQL.format(b=f'{c}.bearing_deg', a=f'{c}.azimuth_deg')} END",
        "scene_width_m": scene_width_sql(f"{c}.tele_deg", distance),
        "preset": f"CASE WHEN {c}.in_view AND {c}.blocked_by IS NULL AND {ptz}"
                  f" THEN {best_preset_sql(c, spot)} END",
    }
