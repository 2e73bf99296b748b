"""The camera model's documented defaults and the building height rule.

A camera row may leave out its mounting height, tilt range or zoom (``NULL``); the value of
its kind below is then used wherever it matters (visibility, tilt), never written into the
row, and an import says so in its notes (:func:`default_notes`). A building's obstacle
height is ``height_m``, else ``floors`` × :data:`FLOOR_HEIGHT_M`, else unknown: a building
of unknown height hides everything behind it (a 2D obstacle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FLOOR_HEIGHT_M = 3.0
"""Metres per floor when a building has floors but no height."""
TARGET_HEIGHT_M = 1.7
"""Height (m above ground) of the target a camera must see: a standing person's head."""


@dataclass(frozen=True)
class KindDefaults:
    """Values a camera of one kind gets when its row leaves them out (m, degrees)."""

    height_m: float
    tilt_min_deg: float
    tilt_max_deg: float
    zoom: float
    """Optical zoom factor: ``fov_tele_deg`` = the wide FOV narrowed this many times."""


KIND_DEFAULTS: dict[str, KindDefaults] = {
    "fixed": KindDefaults(height_m=4.0, tilt_min_deg=-30.0, tilt_max_deg=-30.0, zoom=1.0),
    "dome": KindDefaults(height_m=3.0, tilt_min_deg=-60.0, tilt_max_deg=-20.0, zoom=1.0),
    "ptz": KindDefaults(height_m=6.0, tilt_min_deg=-90.0, tilt_max_deg=20.0, zoom=20.0),
}
"""Per camera kind: mounting height, tilt range and zoom when the row has none
(docs/dispatch.md, "The camera model"). A fixed or dome camera's tilt range is the tilt it
was installed with; only a PTZ camera is told a tilt."""

DEFAULTED_FIELDS = ("height_m", "tilt_min_deg", "tilt_max_deg", "fov_tele_deg")


def height_sql(camera: str = "c") -> str:
    """SQL: the camera's mounting height (m), its kind's default when NULL."""
    whens = " ".join(f"WHEN '{kind}' THEN {d.height_m}" for kind, d in KIND_DEFAULTS.items())
    return f"coalesce({camera}.height_m, CASE {camera}.camera_type {whens} END)"


def building_height_sql(building: str = "b") -> str:
    """SQL: a building's obstacle height (m), NULL when unknown (hides everything)."""
    return f"coalesce({building}.height_m, {building}.floors * {FLOOR_HEIGHT_M})"


def camera_height(height_m: float | None, camera_type: str) -> float:
    """Mounting height (m): the stored one, else the kind's default."""
    return KIND_DEFAULTS[camera_type].height_m if height_m is None else float(height_m)


PTZ_LENS_WIDE_DEG = 60.0
"""A PTZ camera stored with ``fov_deg`` 360 (it turns to any azimuth) has this lens FOV at
the wide end (degrees)."""


def wide_fov(fov_deg: float, camera_type: str) -> float:
    """Horizontal field of view of the lens at the wide end (degrees)."""
    if camera_type == "ptz" and fov_deg >= 360:
        return PTZ_LENS_WIDE_DEG
    return float(fov_deg)


def tele_fov(fov_deg: float, fov_tele_deg: float | None, camera_type: str) -> float:
    """Horizontal field of view at full zoom (degrees): stored, else wide FOV / zoom."""
    if fov_tele_deg is not None:
        return float(fov_tele_deg)
    return wide_fov(fov_deg, camera_type) / KIND_DEFAULTS[camera_type].zoom


def default_notes(values: dict[str, list[Any]], rows: int, bad: set[int]) -> list[str]:
    """Import notes for the camera rows (of ``rows``, ``bad`` ones left out) that leave a
    defaulted field empty: one note per field naming the rows (1 = first data row) and the
    per-kind default used instead. ``values``: the importer's field → column values."""
    types = values.get("camera_type") or [None] * rows
    notes = []
    for name in DEFAULTED_FIELDS:
        column = values.get(name) or [None] * rows
        missing = [i for i in range(rows) if i not in bad and column[i] is None]
        if not missing:
            continue
        shown = ", ".join(str(i + 1) for i in missing[:10]) + (" …" if len(missing) > 10 else "")
        kinds = sorted({str(types[i] or "fixed") for i in missing})
        used = "; ".join(f"{kind} {_default_text(name, kind)}" for kind in kinds)
        notes.append(f"{len(missing)} camera rows without {name} (rows {shown}): the "
                     f"per-kind default applies ({used})")
    return notes


def _default_text(name: str, kind: str) -> str:
    d = KIND_DEFAULTS.get(kind, KIND_DEFAULTS["fixed"])
    if name == "fov_tele_deg":
        return "wide FOV" if d.zoom == 1 else f"wide FOV / {d.zoom:g}"
    return f"{getattr(d, name):g}"
