"""Edit operations on a draft changeset: reshape, split by a line, merge, create, retire, rename.

Each operation reads the *working* state (the draft's rows where it has them, the published
grids elsewhere), computes new shapes with shapely in lon/lat (EPSG:4326; overlay operations
are topological, so shared edges stay exactly shared) and writes draft rows. Lengths used to
choose a neighbour are measured in metres (``settings.metric_srid``). Nothing is published;
:func:`geo.planning.validate.validate_area` with the changeset shows the result's problems.

The same operations work on micro-grids (level ``micro``, parent = their grid). A grid-level
operation re-tiles the micro-grids of the grids it changed (:mod:`geo.planning.micro`).
Households of a draft grid are the buildings whose point-on-surface it covers. Overlays use
snap-rounding at ``GRID_DEG`` (~1 mm) and drop noise pieces (:func:`is_noise`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely import wkb
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import split
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import NotFound, ValidationFailed
from geo.planning.changesets import editable
from geo.planning.validate import NOISE_WIDTH_M, scope_of
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


def _working(session: Session, cs: int, where: str, params: dict[str, Any]) -> list[WorkingGrid]:
    sql = _WORKING.format(where_d=where.replace("@", "d."), where_g=where.replace("@", "g."))
    rows = session.execute(text(sql), {"cs": cs, **params}).mappings().all()
    return [WorkingGrid(code=r["code"], name=r["name"], level=r["level"], kind=r["kind"],
                        parent_code=r["parent_code"], community_code=r["community_code"],
                        previous_code=r["previous_code"], base_version=r["base_version"],
                        geom=wkb.loads(bytes(r["wkb"]))) for r in rows]


def working_grid(session: Session, cs: int, code: str) -> WorkingGrid:
    """The grid ``code`` as the draft has it; NotFound if it does not exist (or is retired)."""
    found = _working(session, cs, "@code = :code", {"code": code})
    if not found:
        raise NotFound(f"no current grid {code} in this draft",
                       [{"field": "code", "value": code}])
    return found[0]


def siblings(session: Session, cs: int, grid: WorkingGrid) -> list[WorkingGrid]:
    """The other ordinary grids sharing ``grid``'s parent and level, as the draft has them."""
    where = "@parent_code = :parent AND @level = :level AND @kind <> 'dedicated' AND @code <> :code"
    return _working(session, cs, where, {"parent": grid.parent_code, "level": grid.level,
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


@lru_cache(maxsize=8)
def _transformer(source: int, target: int) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


def to_metric(geom: BaseGeometry) -> BaseGeometry:
    """A lon/lat (EPSG:4326) geometry in ``settings.metric_srid`` (metres)."""
    tr = _transformer(4326, get_settings().metric_srid)
    return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def to_lonlat(geom: BaseGeometry) -> BaseGeometry:
    """A ``settings.metric_srid`` geometry back in lon/lat (EPSG:4326)."""
    tr = _transformer(get_settings().metric_srid, 4326)
    return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def metric_length(geom: BaseGeometry) -> float:
    """Length in metres of a lon/lat geometry, measured in ``settings.metric_srid``."""
    return float(to_metric(geom).length)


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
    return bool(area <= get_settings().plan_noise_area_m2
                or 2 * area / max(perimeter, 1e-12) < NOISE_WIDTH_M)


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


def with_micro_grids(session: Session, cs: int, level: str, codes: list[str]) -> list[str]:
    """``codes`` plus the micro-grids re-tiled into the grids' new shapes (grid level)."""
    if level != "grid":
        return codes
    from geo.planning.micro import carry_micro_grids  # micro builds on this module

    return sorted(set(codes) | set(carry_micro_grids(session, cs, codes)))


def reshape(session: Session, cs: int, author: str, code: str, geometry: dict[str, Any],
            admin: bool = False) -> list[str]:
    """Give grid ``code`` a new shape (GeoJSON, lon/lat), clipped to its parent.

    Neighbours give up what the new shape takes, and take what it gives up (each piece goes
    to the neighbour with the longest shared edge). Returns the codes changed.
    """
    grid = editable_grid(session, cs, author, admin, code)
    new = clean(shapely.intersection(read_geojson(geometry, "geometry"), parent_shape(
        session, cs, grid.level, grid.parent_code), grid_size=GRID_DEG))
    if new.is_empty:
        raise ValidationFailed(f"the new shape of {code} lies outside its parent",
                               [{"field": "geometry", "grid": code}])
    others = {s.code: s for s in siblings(session, cs, grid)}
    shrunk = {c: clean(shapely.difference(s.geom, new, grid_size=GRID_DEG))
              for c, s in others.items()
              if s.geom.intersects(new) and not s.geom.touches(new)}
    given = give_away(shapely.difference(grid.geom, new, grid_size=GRID_DEG),
                      {c: shrunk.get(c, s.geom)
                                                 for c, s in others.items()})
    put(session, cs, replace(grid, geom=new))
    for c in sorted(set(shrunk) | set(given)):
        put(session, cs, replace(others[c], geom=given[c] if c in given else shrunk[c]))
    return with_micro_grids(session, cs, grid.level, sorted({code, *shrunk, *given}))


def split_by_line(session: Session, cs: int, author: str, code: str, line: dict[str, Any],
                  new_code: str, new_name: str | None = None, admin: bool = False) -> list[str]:
    """Split grid ``code`` in two by a drawn line (GeoJSON LineString crossing it).

    The larger part keeps ``code``; the other becomes ``new_code``. ValidationFailed when the
    line does not cut the grid into exactly two parts.
    """
    grid = editable_grid(session, cs, author, admin, code)
    cutter = read_geojson(line, "line")
    if cutter.geom_type not in ("LineString", "MultiLineString"):
        raise ValidationFailed("line must be a GeoJSON LineString", [{"field": "line"}])
    parts = sorted(clean(split(polygonal(grid.geom), cutter)).geoms, key=lambda p: -p.area)
    if len(parts) != 2:
        raise ValidationFailed(
            f"the line must cut {code} into exactly two parts, not {len(parts)}",
            [{"field": "line", "grid": code, "parts": len(parts)}])
    _require_new_code(session, cs, new_code, grid)
    put(session, cs, replace(grid, geom=parts[0]))
    put(session, cs, replace(grid, code=new_code, name=new_name or f"{grid.name} (split)",
                             previous_code=None, base_version=None, geom=parts[1]))
    return with_micro_grids(session, cs, grid.level, sorted([code, new_code]))


def _require_new_code(session: Session, cs: int, new_code: str, parent_of: WorkingGrid) -> None:
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


def merge(session: Session, cs: int, author: str, codes: list[str], into: str | None = None,
          admin: bool = False) -> list[str]:
    """Merge adjacent grids of one parent into ``into`` (default: the first code).

    The others are retired with ``into`` as successor (their workers move to it).
    ValidationFailed when fewer than two codes, different parents, or not one connected area.
    """
    if len(set(codes)) < 2:
        raise ValidationFailed("merge needs at least two grid codes", [{"field": "codes"}])
    into = into or codes[0]
    grids = [editable_grid(session, cs, author, admin, c) for c in dict.fromkeys([into, *codes])]
    if len({(g.parent_code, g.level) for g in grids}) > 1:
        raise ValidationFailed("merged grids must share one parent and level",
                               [{"grid": g.code, "parent_code": g.parent_code} for g in grids])
    union = clean(shapely.union_all([g.geom for g in grids], grid_size=GRID_DEG))
    if len(union.geoms) != 1:
        raise ValidationFailed("merged grids must form one connected area",
                               [{"field": "codes", "value": codes, "parts": len(union.geoms)}])
    put(session, cs, replace(grids[0], geom=union))
    for grid in grids[1:]:
        retire_row(session, cs, grid, successor=into)
    return with_micro_grids(session, cs, grids[0].level, sorted(g.code for g in grids))


def create(session: Session, cs: int, author: str, code: str, name: str, parent_code: str,
           geometry: dict[str, Any], admin: bool = False) -> list[str]:
    """Create a grid (parent = community) or micro-grid (parent = grid) from GeoJSON.

    The shape is clipped to the parent; neighbours give up what it covers.
    """
    changeset = editable(session, cs, author, admin)
    level = "grid" if len(parent_code) == 12 else "micro"
    community = parent_code[:12]
    grid = WorkingGrid(code=code, name=name, level=level, kind="urban", parent_code=parent_code,
                       community_code=community, previous_code=None, base_version=None,
                       geom=read_geojson(geometry, "geometry"))
    require_in_area(session, changeset.area_code, grid)
    _require_new_code(session, cs, code, grid)
    new = clean(shapely.intersection(grid.geom, parent_shape(session, cs, level, parent_code),
                                     grid_size=GRID_DEG))
    if new.is_empty:
        raise ValidationFailed(f"grid {code} lies outside its parent {parent_code}",
                               [{"field": "geometry"}])
    changed = [code]
    for s in siblings(session, cs, grid):
        if s.geom.intersects(new) and not s.geom.touches(new):
            put(session, cs, replace(s, geom=clean(shapely.difference(s.geom, new,
                                                                      grid_size=GRID_DEG))))
            changed.append(s.code)
    put(session, cs, replace(grid, geom=new))
    return with_micro_grids(session, cs, level, sorted(changed))


def retire(session: Session, cs: int, author: str, code: str, successor: str,
           admin: bool = False) -> list[str]:
    """Retire grid ``code``; the adjacent ``successor`` takes its area and its workers."""
    return merge(session, cs, author, [successor, code], into=successor, admin=admin)


def rename(session: Session, cs: int, author: str, code: str, new_code: str | None = None,
           new_name: str | None = None, admin: bool = False) -> list[str]:
    """Change a grid's code and/or name. A new code keeps the grid's micro-grids' suffixes.

    The old code is closed at publish (never reused); workers follow the grid.
    """
    grid = editable_grid(session, cs, author, admin, code)
    if not new_code or new_code == code:
        put(session, cs, replace(grid, name=new_name or grid.name))
        return [code]
    _require_new_code(session, cs, new_code, grid)
    session.execute(text("DELETE FROM plan_draft_grids WHERE changeset_id = :cs AND code = :c"),
                    {"cs": cs, "c": code})
    put(session, cs, replace(grid, code=new_code, name=new_name or grid.name))
    changed = [code, new_code]
    for micro in _working(session, cs, "@parent_code = :p AND @level = 'micro'", {"p": code}):
        session.execute(text("DELETE FROM plan_draft_grids WHERE changeset_id = :cs "
                             "AND code = :c"), {"cs": cs, "c": micro.code})
        put(session, cs, replace(micro, code=new_code + micro.code[len(code):],
                                 parent_code=new_code))
        changed.append(micro.code)
    return sorted(changed)
