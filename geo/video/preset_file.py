"""Import PTZ presets from a file: CSV or GeoJSON with a camera code and the preset fields.

One row (feature) per preset: ``camera_code``, ``name``, ``pan_deg``, ``tilt_deg``,
``fov_deg`` or ``zoom``, ``range_m`` (:class:`geo.video.presets.Preset`; geometry, if any,
is ignored). Chinese register headers are recognised (:data:`ALIASES`). The file replaces
the presets of every camera it names, all or nothing: every problem is reported with its
row (1 = first data row), a CSV's line, and the field, and then nothing is written.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.audit import Actor
from geo.catalog import Layer
from geo.errors import ValidationFailed
from geo.importer.problems import Problems
from geo.importer.reading import read_source
from geo.video.presets import Preset, checked_rows, replace_presets

ALIASES: dict[str, tuple[str, ...]] = {
    "camera_code": ("camera_code", "camera", "摄像机编码", "设备编码", "国标编码"),
    "name": ("name", "preset", "预置位", "预置位名称"),
    "pan_deg": ("pan_deg", "pan", "azimuth_deg", "水平角", "方位角"),
    "tilt_deg": ("tilt_deg", "tilt", "俯仰角", "垂直角"),
    "fov_deg": ("fov_deg", "fov", "视场角"),
    "zoom": ("zoom", "变倍", "倍率"),
    "range_m": ("range_m", "range", "可视距离", "距离"),
}
"""Field → the column names that feed it (case-insensitive)."""
PRESET_FILE = Layer("camera_presets", "camera_presets", "name",
                    dict.fromkeys(ALIASES, "text"), frozenset({"camera_code", "name"}), None)
"""How :func:`geo.importer.reading.read_source` reads the file: attributes only."""


@dataclass
class PresetImport:
    """What an import did: cameras whose presets were replaced, presets stored."""

    cameras: int
    presets: int
    notes: list[str]


def import_presets(session: Session, path: Path, actor: Actor,
                   encoding: str | None = None) -> PresetImport:
    """Replace the presets of every camera named in ``path`` (module docstring).

    Raises UnreadableFile for a file that cannot be read and ValidationFailed listing
    every problem (row, line, id = camera code, field); never commits.
    """
    source = read_source(path, PRESET_FILE, encoding=encoding)
    frame = _fields(source.frame, path.name)
    codes = [str(c) if _value(c) is not None else "" for c in frame["camera_code"]]
    problems = Problems(codes, source.lines)
    by_camera: dict[str, list[tuple[int, Preset]]] = defaultdict(list)
    for i, record in enumerate(frame.to_dict("records")):
        preset = _preset(record, i, problems)
        if preset is not None:
            by_camera[codes[i]].append((i, preset))
    _check_cameras(session, by_camera, problems)
    if problems.items:
        raise ValidationFailed(f"{len(problems.items)} problems in {path.name}",
                               problems.sorted())
    for code, rows in by_camera.items():
        replace_presets(session, code, [p for _, p in rows], actor)
    return PresetImport(len(by_camera), sum(len(r) for r in by_camera.values()), source.notes)


def _fields(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """The file's columns renamed to the preset fields; raises for a missing required one
    or a column that feeds no field."""
    lowered = {str(c).strip().lower(): c for c in frame.columns if str(c) != "geometry"}
    renames, problems = {}, []
    for field_name, names in ALIASES.items():
        found = [lowered[n.lower()] for n in names if n.lower() in lowered]
        if found:
            renames[found[0]] = field_name
        elif field_name in PRESET_FILE.required:
            problems.append({"row": None, "field": field_name,
                             "problem": f"{name} has no column {field_name} "
                                        f"(or {', '.join(names[1:])})"})
    unknown = sorted(str(c) for c in lowered.values() if c not in renames)
    problems += [{"row": None, "field": c, "problem": f"column {c!r} feeds no preset field"}
                 for c in unknown]
    if problems:
        raise ValidationFailed(f"{len(problems)} problems in the columns of {name}", problems)
    return frame[list(renames)].rename(columns=renames)


def _value(cell: Any) -> Any:
    """A cell's value, None when empty (blank text, NaN)."""
    if cell is None or (isinstance(cell, float) and cell != cell):
        return None
    return None if isinstance(cell, str) and not cell.strip() else cell


def _preset(record: dict[Any, Any], i: int, problems: Problems) -> Preset | None:
    """Row ``i`` as a Preset, or None after recording each bad field."""
    values = {str(k): _value(v) for k, v in record.items()}
    code = values.pop("camera_code")
    if code is None:
        problems.add(i, "camera_code", "empty")
    try:
        return Preset(**values) if code is not None else None
    except ValidationError as exc:
        for error in exc.errors():
            problems.add(i, str(error["loc"][0]), f"{error['msg']} (got {error['input']!r})")
        return None


def _check_cameras(session: Session, by_camera: dict[str, list[tuple[int, Preset]]],
                   problems: Problems) -> None:
    """Unknown cameras, cameras that are not PTZ, names twice, FOV and range, per row."""
    rows = session.execute(text("SELECT code, camera_type, fov_deg, range_m FROM cameras"
                                " WHERE code = ANY(:c)"), {"c": list(by_camera)}).all()
    cameras = {r.code: r for r in rows}
    for code, presets in by_camera.items():
        if code not in cameras:
            for i, _ in presets:
                problems.add(i, "camera_code", f"no camera {code}")
            continue
        try:
            checked_rows(cameras[code], [p for _, p in presets],
                         [{"row": i} for i, _ in presets])
        except ValidationFailed as exc:
            for detail in exc.details:
                at = detail.get("row")
                problems.add(at if at is not None else presets[0][0], str(detail["field"]),
                             str(detail["problem"]))
