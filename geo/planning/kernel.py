"""The planning kernel: a draft's working grids, and writing them back as draft rows.

A *working grid* is a grid as a draft changeset currently has it: the draft's row where it
has one, the published grid elsewhere (:func:`working`). Edit operations
(:mod:`geo.planning.operations`, :mod:`geo.planning.units`, :mod:`geo.planning.micro`, repair,
proposals, imports) read working grids, compute new shapes with shapely in lon/lat
(EPSG:4326) and write them with :func:`put` / :func:`retire_row`. Metric lengths and noise
thresholds use :func:`geo.crs.to_metric` (``settings.metric_srid``, metres).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import shapely
from shapely import wkb
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import metric_length, to_metric
from geo.errors import NotFound, ValidationFailed
from geo.planning.changesets import editable
from geo.planning.validate import scope_of
from geo.settings import get_settings


@dataclass(frozen=True)
class WorkingGrid:
    """A grid as the draft currently has it; ``previous_code`` is the published code it
    replaces (None for a grid new in this draft), ``base_version`` that code's version."""

    code: str
    name: str
    level: str
    kind: str
    parent_code: str
    community_code: str
    previous_code: str | None
    base_version: int | None
    geom: BaseGeometry


_WORKING = """
SELECT d.code, d.name, d.level, d.kind, d.parent_code, d.community_code, d.previous_code,
       d.base_version, ST_AsBinary(d.geom) AS wkb
FROM plan_draft_grids d WHERE d.changeset_id = :cs AND d.action = 'put' AND {where_d}
UNION ALL
SELECT g.code, g.name, g.level, g.kind, g.parent_code, g.community_code, g.code, g.version,
       ST_AsBinary(g.geom)
FROM grids g WHERE g.valid_to IS NULL AND {where_g}
  AND NOT EXISTS (SELECT 1 FROM plan_draft_grids d WHERE d.changeset_id = :cs
                  AND g.code IN (d.code, d.previous_code))
ORDER BY 1
"""


def working(session: Session, cs: int, where: str, params: dict[str, Any]) -> list[WorkingGrid]:
    """The working grids matching ``where`` (SQL over the grid columns written ``@column``,
    e.g. ``"@parent_code = :p"``; values only as bound ``params``), ordered by code."""
    sql = _WORKING.format(where_d=where.replace("@", "d."), where_g=where.replace("@", "g."))
    rows = session.execute(text(sql), {"cs": cs, **params}).mappings().all()
    return [WorkingGrid(code=r["code"], name=r["name"], level=r["level"], kind=r["kind"],
                        parent_code=r["parent_code"], community_code=r["community_code"],
                        previous_code=r["previous_code"], base_version=r["base_version"],
                        geom=wkb.loads(bytes(r["wkb"]))) for r in rows]


def working_grid(session: Session, cs: int, code: str) -> WorkingGrid:
    """The grid ``code`` as the draft has it; NotFound if it does not exist (or is retired)."""
    found = working(session, cs, "@code = :code", {"code": code})
    if not found:
        raise NotFound(f"no current grid {code} in this draft",
                       [{"field": "code", "value": code}])
    return found[0]


def siblings(session: Session, cs: int, grid: WorkingGrid) -> list[WorkingGrid]:
    """The other ordinary grids sharing ``grid``'s parent and level, as the draft has them."""
    where = "@parent_code = :parent AND @level = :level AND @kind <> 'dedicated' AND @code <> :code"
    return working(session, cs, where, {"parent": grid.parent_code, "level": grid.level,
                                         "code": grid.code})


def require_in_area(session: Session, area_code: str, grid: WorkingGrid) -> None:
    """ValidationFailed unless ``grid`` lies in the changeset's area (its communities, or the
    grid the changeset is about and its micro-grids)."""
    communities, grids = scope_of(session, area_code)
    if not (grid.community_code in communities or grid.code in grids
            or grid.parent_code in grids):
        raise ValidationFailed(f"grid {grid.code} is outside the changeset's area {area_code}",
                               [{"field": "code", "value": grid.code, "area": area_code}])


def editable_grid(session: Session, cs: int, author: str, admin: bool, code: str
                  ) -> WorkingGrid:
    """The working grid ``code`` of a draft ``author`` may edit, inside the draft's area."""
    changeset = editable(session, cs, author, admin)
    grid = working_grid(session, cs, code)
    require_in_area(session, changeset.area_code, grid)
    return grid


def parent_shape(session: Session, cs: int, level: str, parent_code: str) -> BaseGeometry:
    """The community (for a grid) or the grid as the draft has it (for a micro-grid)."""
    if level == "micro":
        return working_grid(session, cs, parent_code).geom
    raw = session.execute(text("SELECT ST_AsBinary(geom) FROM admin_areas WHERE code = :c"),
                          {"c": parent_code}).scalar()
    if raw is None:
        raise NotFound(f"no community {parent_code}", [{"field": "parent_code",
                                                        "value": parent_code}])
    return wkb.loads(bytes(raw))


def polygonal(geom: BaseGeometry) -> MultiPolygon:
    """The polygonal part of ``geom`` as a MultiPolygon (empty if none)."""
    parts = shapely.get_parts(shapely.make_valid(geom))
    polys: list[Polygon] = []
    for part in parts:
        if isinstance(part, Polygon):
            polys.append(part)
        elif isinstance(part, MultiPolygon):
            polys.extend(part.geoms)
        elif part.geom_type == "GeometryCollection":
            polys.extend(polygonal(part).geoms)
    return MultiPolygon([p for p in polys if not p.is_empty])


def read_geojson(geometry: dict[str, Any], field: str) -> BaseGeometry:
    """A shapely geometry from GeoJSON (lon/lat); ValidationFailed naming ``field`` if bad."""
    try:
        geom = shape(geometry)
    except Exception as exc:  # shapely raises several types for bad GeoJSON
        raise ValidationFailed(f"{field} is not a GeoJSON geometry: {exc}",
                               [{"field": field}]) from exc
    if geom.is_empty:
        raise ValidationFailed(f"{field} is empty", [{"field": field}])
    return geom


def put(session: Session, cs: int, grid: WorkingGrid) -> None:
    """Write ``grid`` as a draft row (upsert); households counted from buildings."""
    session.execute(text("""
        INSERT INTO plan_draft_grids (changeset_id, code, previous_code, base_version, action,
            name, kind, level, parent_code, community_code, households, population, geom)
        SELECT :cs, :code, :prev, :ver, 'put', :name, :kind, :level, :parent, :community,
               s.households, s.population, g.geom
        FROM (SELECT ST_Multi(ST_GeomFromWKB(:wkb, 4326)) AS geom) g
        CROSS JOIN LATERAL (
            SELECT COALESCE(sum(b.households), 0) AS households,
                   COALESCE(sum(b.population), 0) AS population
            FROM buildings b
            WHERE b.geom && g.geom AND ST_Covers(g.geom, ST_PointOnSurface(b.geom))) s
        ON CONFLICT (changeset_id, code) DO UPDATE SET name = EXCLUDED.name,
            geom = EXCLUDED.geom, households = EXCLUDED.households,
            population = EXCLUDED.population, parent_code = EXCLUDED.parent_code,
            action = 'put'
    """), {"cs": cs, "code": grid.code, "prev": grid.previous_code, "ver": grid.base_version,
           "name": grid.name, "kind": grid.kind, "level": grid.level,
           "parent": grid.parent_code, "community": grid.community_code,
           "wkb": polygonal(grid.geom).wkb})


def retire_row(session: Session, cs: int, grid: WorkingGrid, successor: str | None) -> None:
    """Mark ``grid`` retired in the draft (a grid new in this draft is simply dropped)."""
    session.execute(text("DELETE FROM plan_draft_grids WHERE changeset_id = :cs AND code = :c"),
                    {"cs": cs, "c": grid.code})
    if grid.previous_code is None:
        return
    session.execute(text("""
        INSERT INTO plan_draft_grids (changeset_id, code, previous_code, base_version, action,
            successor_code, name, kind, level, parent_code, community_code, households,
            population)
        VALUES (:cs, :prev, :prev, :ver, 'retire', :succ, :name, :kind, :level, :parent,
                :community, 0, 0)
    """), {"cs": cs, "prev": grid.previous_code, "ver": grid.base_version, "succ": successor,
           "name": grid.name, "kind": grid.kind, "level": grid.level,
           "parent": grid.parent_code, "community": grid.community_code})


def is_noise_m(geom_m: BaseGeometry) -> bool:
    """True for a metric-CRS piece too small or too thin to be real (settings thresholds)."""
    area, perimeter = geom_m.area, geom_m.length
    settings = get_settings()
    return bool(area <= settings.plan_noise_area_m2
                or 2 * area / max(perimeter, 1e-12) < settings.plan_hairline_width_m)


def is_noise(geom: BaseGeometry) -> bool:
    """:func:`is_noise_m` for a lon/lat piece (e.g. the spikes a T-junction leaves)."""
    return is_noise_m(to_metric(geom))


GRID_DEG = 1e-8
"""Overlay precision in degrees (~1 mm): snap-rounding removes the sub-millimetre spikes a
vertex lying (almost) on another grid's edge would otherwise leave."""


def clean(geom: BaseGeometry) -> MultiPolygon:
    """The polygonal part of a lon/lat ``geom`` without noise pieces (see :func:`is_noise`)."""
    return MultiPolygon([p for p in polygonal(geom).geoms if not is_noise(p)])


def give_away(pieces: BaseGeometry, neighbours: dict[str, BaseGeometry],
              length: Callable[[BaseGeometry], float] = metric_length,
              noise: Callable[[BaseGeometry], bool] = is_noise,
              grid_size: float | None = None) -> dict[str, Any]:
    """Add each polygon of ``pieces`` to the neighbour sharing the longest edge with it.

    ``length`` measures the shared edge and ``noise`` says which pieces to ignore (defaults:
    metres from lon/lat); ``grid_size`` is the overlay precision (default: GRID_DEG, for
    lon/lat). Returns the neighbours' new shapes (only those that changed). A piece
    touching no neighbour is left out (a gap that validation reports).
    """
    grid_size = GRID_DEG if grid_size is None else grid_size
    grown: dict[str, Any] = {}
    for piece in (p for p in polygonal(pieces).geoms if not noise(p)):
        best, best_len = "", 0.0
        for code, geom in sorted(neighbours.items()):  # ties (to the mm) go to the lower code
            shared = round(length(shapely.intersection(piece.boundary, geom.boundary)), 3)
            if shared > best_len:
                best, best_len = code, shared
        if best:
            grown[best] = shapely.union(grown.get(best, neighbours[best]), piece,
                                        grid_size=grid_size)
    return grown


def require_new_code(session: Session, cs: int, new_code: str, parent_of: WorkingGrid) -> None:
    """ValidationFailed unless ``new_code`` is unused and starts with the parent's code."""
    used = session.scalar(text(
        "SELECT 1 FROM grids WHERE code = :c UNION ALL SELECT 1 FROM plan_draft_grids "
        "WHERE changeset_id = :cs AND code = :c LIMIT 1"), {"c": new_code, "cs": cs})
    if used:
        raise ValidationFailed(f"code {new_code} is (or was) already used; codes are never "
                               "reused", [{"field": "new_code", "value": new_code}])
    if not new_code.startswith(parent_of.parent_code):
        raise ValidationFailed(f"code {new_code} must start with its parent's code "
                               f"{parent_of.parent_code}", [{"field": "new_code",
                                                             "value": new_code}])


METRES_PER_DEGREE = 111_320.0
"""Metres per degree of latitude: converts the snapping tolerance to degrees (lon/lat)."""


def snap_degrees() -> float:
    """``settings.plan_snap_tolerance_m`` in degrees (of latitude; shorter in longitude)."""
    return get_settings().plan_snap_tolerance_m / METRES_PER_DEGREE
