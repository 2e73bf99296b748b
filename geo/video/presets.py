"""PTZ presets: named sectors a PTZ camera turns to, read, replaced and imported.

A preset is ``name``, ``pan_deg`` (degrees from true north, clockwise, [0, 360)), an
optional ``tilt_deg`` (degrees, negative below the horizon, [-90, 90]), the picture's
horizontal field of view ``fov_deg`` (degrees, (0, 360]) or the ``zoom`` factor that gives
it (``fov = wide FOV / zoom``, :func:`geo.video.model.wide_fov`), and an optional
``range_m`` (metres, at most the camera's range; empty: the camera's). Only PTZ cameras
have presets. Replacing a camera's presets recomputes that camera's views only
(:func:`geo.video.views.refresh_views`); functions here never commit.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.audit import Actor, record
from geo.errors import NotFound, ValidationFailed
from geo.video.model import wide_fov
from geo.video.views import refresh_views


class Preset(BaseModel):
    """One PTZ preset (module docstring): angles in degrees, range in metres."""

    name: str = Field(min_length=1, max_length=64, description="preset name, unique per camera")
    pan_deg: float = Field(ge=0, lt=360, description="pan, degrees from true north, clockwise")
    tilt_deg: float | None = Field(None, ge=-90, le=90,
                                   description="tilt, degrees, negative below the horizon")
    fov_deg: float | None = Field(None, gt=0, le=360,
                                  description="horizontal field of view at this preset, degrees")
    zoom: float | None = Field(None, ge=1, le=100,
                               description="optical zoom factor (1 = wide); gives fov_deg "
                               "when that is empty")
    range_m: float | None = Field(None, gt=0, description="useful range, metres (empty: the "
                                  "camera's)")


class CameraPresets(BaseModel):
    """A camera's presets, by name."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"camera_code": "14021300001320000123", "presets": [
            {"name": "小区大门 (compound gate)", "pan_deg": 95.0, "tilt_deg": -12.0,
             "fov_deg": 20.0, "zoom": 3.0, "range_m": 80.0},
            {"name": "路口 (crossroads)", "pan_deg": 270.0, "tilt_deg": None, "fov_deg": 60.0,
             "zoom": None, "range_m": None}]}]})

    camera_code: str
    presets: list[Preset]


PRESETS_SQL = ("SELECT name, azimuth_deg AS pan_deg, tilt_deg, fov_deg, zoom, range_m"
               " FROM camera_presets WHERE camera_code = :c ORDER BY name")


def presets_of(session: Session, code: str) -> CameraPresets:
    """The presets of camera ``code`` by name; raises NotFound for an unknown camera."""
    _camera(session, code)
    rows = session.execute(text(PRESETS_SQL), {"c": code}).mappings().all()
    return CameraPresets(camera_code=code, presets=[Preset(**r) for r in rows])


def replace_presets(session: Session, code: str, presets: list[Preset], actor: Actor,
                    where: dict[int, dict[str, Any]] | None = None) -> CameraPresets:
    """Make ``presets`` the presets of camera ``code`` and recompute its views; ``actor``
    gets the audit row (before and after).

    Raises NotFound for an unknown camera and ValidationFailed (naming the preset's index
    as ``row`` unless ``where`` gives the file rows, and the field) for a camera that is
    not PTZ, a name twice, neither FOV nor zoom, or a range beyond the camera's. Returns
    the stored presets (FOV filled in from the zoom). Never commits.
    """
    camera = _camera(session, code)
    rows = checked_rows(camera, presets, [(where or {}).get(i, {"row": i + 1})
                                          for i in range(len(presets))])
    before = presets_of(session, code)
    session.execute(text("DELETE FROM camera_presets WHERE camera_code = :c"), {"c": code})
    if rows:
        session.execute(text(
            "INSERT INTO camera_presets (camera_code, name, azimuth_deg, tilt_deg, fov_deg,"
            " zoom, range_m) VALUES (:c, :name, :pan_deg, :tilt_deg, :fov_deg, :zoom,"
            " :range_m)"), [{"c": code, **r} for r in rows])
    refresh_views(session, [code])
    after = presets_of(session, code)
    record(session, actor, "replace", "camera_presets", code,
           before=before.model_dump()["presets"], after=after.model_dump()["presets"])
    return after


def checked_rows(camera: Any, presets: list[Preset],
                 where: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows to store for ``presets`` of ``camera`` (its code, type, FOV, range), FOV
    filled in from the zoom; raises ValidationFailed listing every problem at ``where``."""
    problems: list[dict[str, Any]] = []
    if presets and camera.camera_type != "ptz":
        problems.append({"camera_code": camera.code, "field": "camera_type",
                         "problem": f"only PTZ cameras have presets; {camera.code} is "
                                    f"{camera.camera_type}"})
    seen: set[str] = set()
    rows = []
    for preset, at in zip(presets, where, strict=True):
        row = preset.model_dump()
        if preset.name in seen:
            problems.append({**at, "field": "name", "problem": f"preset {preset.name!r} twice"})
        seen.add(preset.name)
        if preset.fov_deg is None and preset.zoom is None:
            problems.append({**at, "field": "fov_deg", "problem": "give fov_deg or zoom"})
        elif preset.fov_deg is None:
            row["fov_deg"] = wide_fov(camera.fov_deg, camera.camera_type) / float(row["zoom"])
        if preset.range_m is not None and preset.range_m > camera.range_m:
            problems.append({**at, "field": "range_m", "problem": f"{preset.range_m:g} m is "
                             f"beyond the camera's range {camera.range_m:g} m"})
        rows.append(row)
    if problems:
        raise ValidationFailed(f"{len(problems)} problems in the presets of {camera.code}",
                               problems)
    return rows


def _camera(session: Session, code: str) -> Any:
    camera = session.execute(text("SELECT code, camera_type, fov_deg, range_m FROM cameras"
                                  " WHERE code = :c"), {"c": code}).first()
    if camera is None:
        raise NotFound(f"no camera {code}", [{"field": "code", "value": code}])
    return camera

