"""Household-unit operations on a draft: split a grid into N balanced parts, move buildings.

Both work on the buildings' Voronoi cells inside the grid (as :mod:`geo.planning.propose`):
a building "carries" the part of the grid nearest to it, so moving buildings moves that area,
and a balanced split cuts the grid along cell edges into connected parts of about equal
households (gerrychain's recursive spanning-tree partition). Buildings at the same point
move together. Micro-grids are re-tiled like after any grid-level operation.
"""

from __future__ import annotations

from dataclasses import replace

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import to_lonlat
from geo.errors import ValidationFailed
from geo.planning.kernel import (
    WorkingGrid,
    editable_grid,
    require_new_code,
    snap_degrees,
)
from geo.planning.operations import arranged, with_micro_grids, write_faces
from geo.planning.propose import (
    Unit,
    adjacency,
    balanced_parts,
    building_units,
    reading_order,
)
from geo.settings import get_settings


def _shape(units: list[Unit], indices: list[int]) -> BaseGeometry:
    """The lon/lat union of the units' cells (approximate: it only says which faces go)."""
    return to_lonlat(shapely.union_all([units[i].cell for i in indices]))


def _faces_to(session: Session, cs: int, grid: WorkingGrid, pieces: dict[str, BaseGeometry],
              new: dict[str, WorkingGrid]) -> list[str]:
    """Give each face of ``grid`` to the code of the piece holding it (most of it), exactly.

    ``pieces`` (code -> approximate lon/lat area) are noded into the arrangement of the
    grid's parent inside ``grid``; faces outside every piece stay with ``grid``. Returns
    the codes written (neighbours that only gained a node on a shared edge included).
    """
    cut = shapely.union_all([shapely.boundary(p) for p in pieces.values()])
    arr, tiles = arranged(session, cs, grid, cut, cut_within=grid.geom)
    tree = shapely.STRtree(list(pieces.values()))
    codes = list(pieces)
    owners = list(arr.owners)
    points = [f.point_on_surface() for f in arr.faces]
    for face_i, piece_i in zip(*tree.query(points, predicate="within"), strict=True):
        if arr.owners[int(face_i)] == grid.code:
            owners[int(face_i)] = codes[int(piece_i)]
    return write_faces(session, cs, arr, owners, tiles, successor=grid.code, new=new)


def _fresh_grid_codes(session: Session, cs: int, community: str, count: int) -> list[str]:
    used = set(session.scalars(text(
        "SELECT code FROM grids WHERE starts_with(code, :p) UNION "
        "SELECT code FROM plan_draft_grids WHERE changeset_id = :cs AND starts_with(code, :p)"),
        {"p": community, "cs": cs}).all())
    free = (f"{community}{n:03d}" for n in range(1, 1000) if f"{community}{n:03d}" not in used)
    return [next(free) for _ in range(count)]


def split_balanced(session: Session, cs: int, author: str, code: str, parts: int,
                   new_codes: list[str] | None = None, admin: bool = False) -> list[str]:
    """Split grid ``code`` into ``parts`` connected parts of about equal households.

    The part read first (west→east, north→south) keeps ``code``; the others take
    ``new_codes`` (never used before) or the community's next free sequence numbers.
    ValidationFailed for fewer than 2 parts, more parts than building positions, or wrong
    number of codes.
    """
    grid = editable_grid(session, cs, author, admin, code)
    units = building_units(session, grid.geom, code)
    if not 2 <= parts <= len(units):
        raise ValidationFailed(f"{code} can be split into 2 to {len(units)} parts, not {parts}",
                               [{"field": "parts", "value": parts}])
    if new_codes is not None and len(new_codes) != parts - 1:
        raise ValidationFailed(f"give {parts - 1} new code(s)", [{"field": "new_codes"}])
    settings = get_settings()
    labels = balanced_parts(adjacency(units, list(range(len(units)))), parts,
                            settings.plan_households_band, settings.plan_households_target)
    groups = [[i for i, p in labels.items() if p == part] for part in range(parts)]
    shapes = [_shape(units, g) for g in groups]
    order = reading_order([s.centroid for s in shapes])
    codes = new_codes or _fresh_grid_codes(session, cs, grid.community_code, parts - 1)
    for new in codes:
        require_new_code(session, cs, new, grid)
    created = {new: replace(grid, code=new, name=f"{grid.name} ({new[-3:]})",
                            previous_code=None, base_version=None) for new in codes}
    written = _faces_to(session, cs, grid, {c: shapes[j] for c, j in zip(
        codes, order[1:], strict=True)}, created)
    return with_micro_grids(session, cs, grid.level, sorted({code, *codes, *written}))


def _borders(piece: BaseGeometry, grid: BaseGeometry, tol: float) -> bool:
    """Does ``piece`` share an edge (not just a corner) with ``grid``? Both lon/lat; the
    piece comes back from metres, so its edge may lie up to ``tol`` degrees off the grid's."""
    shared = shapely.intersection(shapely.boundary(piece), shapely.buffer(grid, tol))
    return float(shared.length) > 4 * tol


def move_buildings(session: Session, cs: int, author: str, from_code: str, to_code: str,
                   buildings: list[str], admin: bool = False) -> list[str]:
    """Move buildings (and the part of ``from_code`` nearest to them) to adjacent ``to_code``.

    ValidationFailed when a building is not in ``from_code``, the moved area does not border
    ``to_code``, or nothing would be left of ``from_code`` (merge instead).
    """
    source = editable_grid(session, cs, author, admin, from_code)
    target = editable_grid(session, cs, author, admin, to_code)
    units = building_units(session, source.geom, from_code)
    wanted = set(buildings)
    chosen = [i for i, u in enumerate(units) if wanted & set(u.codes)]
    missing = wanted - {c for i in chosen for c in units[i].codes}
    if missing:
        raise ValidationFailed(f"not in grid {from_code}: {', '.join(sorted(missing))}",
                               [{"field": "buildings", "value": c} for c in sorted(missing)])
    piece = _shape(units, chosen)
    if len(chosen) == len(units):
        raise ValidationFailed(f"nothing would be left of {from_code}; merge it instead",
                               [{"field": "buildings", "from": from_code}])
    if not _borders(piece, target.geom, snap_degrees()):
        raise ValidationFailed(f"the buildings' area does not border grid {to_code}",
                               [{"field": "buildings", "to": to_code}])
    written = _faces_to(session, cs, source, {to_code: piece}, {to_code: target})
    return with_micro_grids(session, cs, source.level,
                            sorted({from_code, to_code, *written}))
