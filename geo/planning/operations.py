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

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from shapely.ops import split
from shapely.prepared import prep
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import metric_length
from geo.errors import ValidationFailed
from geo.planning.arrangement import (
    Arrangement,
    arrange,
    assemble,
    components,
    give_to_neighbours,
    keep_noise,
)
from geo.planning.changesets import editable
from geo.planning.kernel import (
    WorkingGrid,
    clean,
    editable_grid,
    is_noise,
    parent_shape,
    polygonal,
    put,
    read_geojson,
    require_in_area,
    require_new_code,
    retire_row,
    siblings,
    snap_degrees,
    working,
)
from geo.planning.micro import carry_micro_grids


def with_micro_grids(session: Session, cs: int, level: str, codes: list[str]) -> list[str]:
    """``codes`` plus the micro-grids re-tiled into the grids' new shapes (grid level)."""
    if level != "grid":
        return codes
    return sorted(set(codes) | set(carry_micro_grids(session, cs, codes)))


def arranged(session: Session, cs: int, grid: WorkingGrid, cut: BaseGeometry | None = None,
              cut_within: BaseGeometry | None = None, with_grid: bool = True
              ) -> tuple[Arrangement, dict[str, WorkingGrid]]:
    """The arrangement of ``grid``'s parent and siblings (and ``grid`` unless ``with_grid``
    is False, for a grid still to be created) with ``cut`` (lon/lat), and those grids."""
    dedicated = grid.kind == "dedicated"  # may overlap others: it tiles nothing
    tiles = {} if dedicated else {s.code: s for s in siblings(session, cs, grid)}
    if with_grid:
        tiles[grid.code] = grid
    return arrange({c: t.geom for c, t in tiles.items()}, cut, cut_within,
                   snap_degrees()), tiles


def write_faces(session: Session, cs: int, arr: Arrangement, owners: list[str | None],
                tiles: dict[str, WorkingGrid], successor: str,
                new: Mapping[str, WorkingGrid] | None = None) -> list[str]:
    """Write every grid whose faces or vertices changed; returns their codes (lon/lat).

    ``tiles`` are the grids of the arrangement, ``new`` grids created by the edit. A grid
    left without faces is retired into ``successor``.
    """
    owners = keep_noise(arr, owners, is_noise)
    shapes = assemble(arr, owners, {c: t.geom for c, t in tiles.items()})
    every = {**tiles, **(new or {})}
    for code, shape in sorted(shapes.items()):
        if shape.is_empty:
            retire_row(session, cs, every[code], successor=successor)
        else:
            put(session, cs, replace(every[code], geom=shape))
    return sorted(shapes)


def _inside(arr: Arrangement, area: BaseGeometry) -> list[bool]:
    """For each face: does ``area`` contain it (its point on surface)?"""
    region = prep(area)
    return [region.contains(f.point_on_surface()) for f in arr.faces]


def reshape(session: Session, cs: int, author: str, code: str, geometry: dict[str, Any],
            admin: bool = False) -> list[str]:
    """Give grid ``code`` a new shape (GeoJSON, lon/lat), clipped to its parent.

    Neighbours give up what the new shape takes, and take what it gives up (each piece goes
    to the neighbour with the longest shared edge). Shared edges stay bit-identical (see
    :mod:`geo.planning.arrangement`); pieces under 1 cm wide that would change owner only
    through drawing imprecision keep their owner. Returns the codes changed.
    """
    grid = editable_grid(session, cs, author, admin, code)
    drawn = polygonal(read_geojson(geometry, "geometry"))
    if grid.kind == "dedicated":  # overlaps ordinary grids by design: nothing to give or take
        return _reshape_dedicated(session, cs, grid, drawn)
    arr, tiles = arranged(session, cs, grid, shapely.boundary(drawn))
    inside = _inside(arr, drawn)
    owners = [code if i else o for i, o in zip(inside, arr.owners, strict=True)]
    left = [j for j, (i, o) in enumerate(zip(inside, arr.owners, strict=True))
            if o == code and not i]
    owners = give_to_neighbours(arr, owners, left, metric_length, giver=code)
    if code not in keep_noise(arr, owners, is_noise):
        raise ValidationFailed(f"the new shape of {code} lies outside its parent",
                               [{"field": "geometry", "grid": code}])
    changed = write_faces(session, cs, arr, owners, tiles, successor=code)
    return with_micro_grids(session, cs, grid.level, sorted({code, *changed}))


def _reshape_dedicated(session: Session, cs: int, grid: WorkingGrid, drawn: BaseGeometry
                       ) -> list[str]:
    """A dedicated grid's new shape: the drawn one clipped to the parent (lon/lat)."""
    new = polygonal(shapely.intersection(drawn, parent_shape(
        session, cs, grid.level, grid.parent_code)))
    if new.is_empty:
        raise ValidationFailed(f"the new shape of {grid.code} lies outside its parent",
                               [{"field": "geometry", "grid": grid.code}])
    put(session, cs, replace(grid, geom=new))
    return with_micro_grids(session, cs, grid.level, [grid.code])


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
    require_new_code(session, cs, new_code, grid)
    arr, tiles = arranged(session, cs, grid, cutter, cut_within=grid.geom)
    inside = _inside(arr, parts[1])
    owners = [new_code if i and o == code else o
              for i, o in zip(inside, arr.owners, strict=True)]
    created = replace(grid, code=new_code, name=new_name or f"{grid.name} (split)",
                      previous_code=None, base_version=None)
    written = write_faces(session, cs, arr, owners, tiles, successor=code,
                          new={new_code: created})
    return with_micro_grids(session, cs, grid.level, sorted({code, new_code, *written}))


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
    arr, tiles = arranged(session, cs, grids[0])
    merged = {g.code for g in grids}
    owners = [into if o in merged else o for o in arr.owners]
    parts = len(components(arr.faces, [i for i, o in enumerate(owners) if o == into]))
    if parts != 1:
        raise ValidationFailed("merged grids must form one connected area",
                               [{"field": "codes", "value": codes, "parts": parts}])
    written = write_faces(session, cs, arr, owners, tiles, successor=into)
    return with_micro_grids(session, cs, grids[0].level,
                            sorted({g.code for g in grids} | set(written)))


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
    require_new_code(session, cs, code, grid)
    drawn = polygonal(grid.geom)
    if not siblings(session, cs, grid):  # the first of its level here: nothing to arrange
        return _create_alone(session, cs, grid, drawn)
    arr, tiles = arranged(session, cs, grid, shapely.boundary(drawn), with_grid=False)
    owners = [code if i else o for i, o in zip(_inside(arr, drawn), arr.owners, strict=True)]
    if code not in keep_noise(arr, owners, is_noise):
        raise ValidationFailed(f"grid {code} lies outside its parent {parent_code}",
                               [{"field": "geometry"}])
    changed = write_faces(session, cs, arr, owners, tiles, successor=code, new={code: grid})
    return with_micro_grids(session, cs, level, sorted(changed))


def _create_alone(session: Session, cs: int, grid: WorkingGrid, drawn: BaseGeometry
                  ) -> list[str]:
    """The first grid (or micro-grid) under its parent: ``drawn`` clipped to the parent."""
    shape = clean(shapely.intersection(drawn, parent_shape(session, cs, grid.level,
                                                             grid.parent_code)))
    if shape.is_empty or is_noise(shape):
        raise ValidationFailed(f"grid {grid.code} lies outside its parent {grid.parent_code}",
                               [{"field": "geometry"}])
    put(session, cs, replace(grid, geom=shape))
    return with_micro_grids(session, cs, grid.level, [grid.code])


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
    require_new_code(session, cs, new_code, grid)
    session.execute(text("DELETE FROM plan_draft_grids WHERE changeset_id = :cs AND code = :c"),
                    {"cs": cs, "c": code})
    put(session, cs, replace(grid, code=new_code, name=new_name or grid.name))
    changed = [code, new_code]
    for micro in working(session, cs, "@parent_code = :p AND @level = 'micro'", {"p": code}):
        session.execute(text("DELETE FROM plan_draft_grids WHERE changeset_id = :cs "
                             "AND code = :c"), {"cs": cs, "c": micro.code})
        put(session, cs, replace(micro, code=new_code + micro.code[len(code):],
                                 parent_code=new_code))
        changed.append(micro.code)
    return sorted(changed)
