"""Bring a redrawn grid layer (e.g. edited in QGIS) in as a draft changeset of one community.

The file is read like any grids import (:func:`geo.importer.read_source`: GeoJSON, GPKG,
zipped or plain Shapefile with GBK/GB18030 detection; coordinates in any CRS converted to
lon/lat WGS 84). Each feature needs ``code`` (text) and may carry ``name`` and
``parent_code`` (a community code: grid; a grid code: micro-grid; absent: a grid of the
community). Compared with the published grids of the community:

* same code, same shape (to ``plan_noise_area_m2``) and name: unchanged, not in the draft;
* same code, other shape or name: a new version; a code not published yet: a new grid;
* a published grid or micro-grid missing from the file: retired, its workers going to the
  file's grid of the same level overlapping it most.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from geo.catalog import get_layer
from geo.crs import to_metric
from geo.errors import ValidationFailed
from geo.importer import (  # one CRS/encoding path for every import
    read_source,
    wgs84_geometries,
)
from geo.importer.fields import with_field_names
from geo.models import PlanChangeset
from geo.planning.changesets import open_changeset
from geo.planning.kernel import (
    WorkingGrid,
    polygonal,
    put,
    retire_row,
    working,
)
from geo.settings import get_settings


def read_grids(path: Path, community: str, encoding: str | None = None,
               crs: str | None = None) -> list[WorkingGrid]:
    """The features of a grid file as (new) working grids in lon/lat.

    Raises UnreadableFile for a bad file, ValidationFailed naming the row for a missing or
    numeric code, or a code not starting with its parent's.
    """
    layer = get_layer("grids")
    source = read_source(path, layer, encoding=encoding)
    frame = with_field_names(source.frame, layer)  # parent_cod, 网格编码 ... → field names
    if "code" not in frame.columns:
        raise ValidationFailed(f"{path.name} needs a 'code' field",
                               [{"file": path.name, "field": "code"}])
    geoms = wgs84_geometries(frame, layer, crs, source.crs, list(source.notes))
    if geoms is None:
        raise ValidationFailed(f"{path.name} has no geometries", [{"file": path.name}])
    out, problems = [], []
    for row, (record, geom) in enumerate(zip(frame.to_dict("records"), geoms, strict=True)):
        grid, problem = _feature(record, geom, community)
        if problem:
            problems.append({"row": row + 1, "field": "code", "value": record.get("code"),
                             "problem": problem})
        elif grid is not None:
            out.append(grid)
    if problems:
        raise ValidationFailed(f"{len(problems)} feature(s) of {path.name} are unusable",
                               problems)
    return out


def _feature(record: Mapping[Any, Any], geom: BaseGeometry, community: str
             ) -> tuple[WorkingGrid | None, str | None]:
    code = record.get("code")
    if not isinstance(code, str) or not code.strip().isdigit():
        return None, "code must be digits stored as text (a number loses leading zeros)"
    code = code.strip()
    parent = str(record.get("parent_code") or community).strip()
    if not code.startswith(parent) or not parent.startswith(community):
        return None, f"code {code} / parent {parent} is not inside community {community}"
    if geom is None or geom.is_empty:
        return None, "feature has no geometry"
    level = "grid" if len(parent) == len(community) else "micro"
    return WorkingGrid(code=code, name=str(record.get("name") or f"grid {code[-3:]}"),
                       level=level, kind="urban", parent_code=parent, community_code=community,
                       previous_code=None, base_version=None, geom=polygonal(geom)), None


def _same(a: WorkingGrid, b: WorkingGrid, noise_m2: float) -> bool:
    moved = to_metric(shapely.symmetric_difference(polygonal(a.geom), b.geom)).area
    return bool(a.name == b.name and a.parent_code == b.parent_code and moved <= noise_m2)


def import_draft(session: Session, community: str, path: Path, author: str,
                 reason: str | None = None, encoding: str | None = None,
                 crs: str | None = None) -> PlanChangeset:
    """A draft changeset turning the community's published grids into the file's.

    The changeset's ``report`` counts added, changed, unchanged and retired grids.
    Raises NotFound (community), UnreadableFile, ValidationFailed (codes, empty file).
    """
    grids = read_grids(Path(path), community, encoding, crs)
    if not grids:
        raise ValidationFailed(f"{Path(path).name} holds no grid", [{"file": Path(path).name}])
    changeset = open_changeset(session, community, reason or f"import of {Path(path).name}",
                               author, kind="import")
    published = {g.code: g for g in working(
        session, changeset.id, "(@community_code = :c AND @kind <> 'dedicated')",
        {"c": community})}
    noise = get_settings().plan_noise_area_m2
    counts = {"added": 0, "changed": 0, "unchanged": 0, "retired": 0}
    for grid in grids:
        old = published.get(grid.code)
        if old is not None and _same(old, grid, noise):
            counts["unchanged"] += 1
            continue
        counts["added" if old is None else "changed"] += 1
        put(session, changeset.id, grid if old is None else replace(
            old, name=grid.name, parent_code=grid.parent_code, geom=grid.geom))
    for code in sorted(set(published) - {g.code for g in grids}):
        counts["retired"] += 1
        retire_row(session, changeset.id, published[code],
                   _successor(published[code], [g for g in grids
                                                if g.level == published[code].level]))
    changeset.report = {"file": Path(path).name, **counts}
    session.flush()
    return changeset


def _successor(old: WorkingGrid, candidates: list[WorkingGrid]) -> str | None:
    best = max(((shapely.intersection(old.geom, g.geom).area, g.code) for g in candidates),
               default=(0.0, None))
    return best[1] if best[0] > 0 else None
