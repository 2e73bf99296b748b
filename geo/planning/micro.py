"""Carry micro-grids along when their grids are reshaped, split, merged, created or retired.

After a grid-level operation the micro-grids of the grids it touched must tile the grids'
new shapes again. For each such micro-grid, the new grid holding the largest part of it is
its *home*: it keeps its code there (or, when the home is another grid, gets a fresh code
under that grid, like a rename - the old code is closed and its helpers follow). Its other
parts go to the home grid's micro-grid sharing the longest edge with them, or become a new
micro-grid when that grid has none. Area of a grid no micro-grid covers is handled the same
way. A micro-grid left with no part in any grid is retired. Lon/lat (EPSG:4326) throughout,
like :mod:`geo.planning.kernel`.
"""

from __future__ import annotations

from dataclasses import replace

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import metric_length, to_metric
from geo.planning.arrangement import Arrangement, arrange, assemble, components, union_of
from geo.planning.kernel import WorkingGrid, is_noise, put, retire_row, snap_degrees, working


def fresh_code(session: Session, cs: int, parent: str, taken: set[str]) -> str:
    """A micro-grid code under ``parent`` never used (published, in the draft or ``taken``);
    it is added to ``taken``."""
    used = taken | set(session.scalars(text(
        "SELECT code FROM grids WHERE starts_with(code, :p) UNION "
        "SELECT code FROM plan_draft_grids WHERE changeset_id = :cs AND starts_with(code, :p)"),
        {"p": parent, "cs": cs}).all())
    code = next(f"{parent}{n:02d}" for n in range(1, 1000) if f"{parent}{n:02d}" not in used)
    taken.add(code)
    return code


def _micro_of_faces(arr: Arrangement, micros: list[WorkingGrid]) -> list[str | None]:
    """For each face of ``arr``: the micro-grid that held it before (None: none did)."""
    out: list[str | None] = [None] * len(arr.faces)
    if arr.faces:
        tree = shapely.STRtree([m.geom for m in micros])
        points = [f.point_on_surface() for f in arr.faces]
        for face_i, micro_i in zip(*tree.query(points, predicate="within"), strict=True):
            out[int(face_i)] = micros[int(micro_i)].code
    return out


def _homes(arr: Arrangement, held: list[str | None]) -> dict[str, str]:
    """Micro code -> the new grid holding the largest part of it (ties: its own grid)."""
    areas: dict[str, dict[str, float]] = {}
    for face, micro, grid in zip(arr.faces, held, arr.owners, strict=True):
        if micro is not None and grid is not None:
            per = areas.setdefault(micro, {})
            per[grid] = per.get(grid, 0.0) + to_metric(face).area
    return {m: max(per, key=lambda g: (round(per[g], 3), g == m[:-2])) for m, per in
            areas.items()}


def carry_micro_grids(session: Session, cs: int, codes: list[str]) -> list[str]:
    """Re-tile the micro-grids of grids ``codes`` into their draft shapes; returns changed.

    Exact: the micro-grids' edges are noded into the arrangement of the new grid shapes
    (:mod:`geo.planning.arrangement`), so the micro-grids tile each grid with shared edges.
    """
    grids = {g.code: g for g in working(session, cs, "@code = ANY(:codes) AND @level = 'grid'",
                                        {"codes": codes})}
    micros = working(session, cs, "@level = 'micro' AND @parent_code = ANY(:codes)",
                     {"codes": codes})
    if not micros or not grids:
        return []
    arr = arrange({c: g.geom for c, g in grids.items()},
                  shapely.union_all([shapely.boundary(m.geom) for m in micros]),
                  snap=snap_degrees())
    held = _micro_of_faces(arr, micros)
    homes = _homes(arr, held)
    taken: set[str] = set()
    tiles: dict[str, WorkingGrid] = {}
    origin: dict[str, str] = {}  # carried micro-grid's code -> its code before
    for m in micros:
        if m.code in homes:
            home = homes[m.code]
            code = m.code if home == m.parent_code else fresh_code(session, cs, home, taken)
            tiles[code], origin[code] = replace(m, code=code, parent_code=home), m.code
    now = {old: new for new, old in origin.items()}
    owners = [now[m] if m is not None and homes.get(m) == g else None
              for m, g in zip(held, arr.owners, strict=True)]
    for grid in grids.values():
        owners = _place_left(session, cs, arr, owners, grid, tiles, taken)
    for m in micros:
        if m.code not in homes:
            retire_row(session, cs, m, successor=None)
    written = _write_micros(session, cs, arr, owners, tiles, origin, micros)
    return sorted(written | {m.code for m in micros if m.code not in homes})


def _place_left(session: Session, cs: int, arr: Arrangement, owners: list[str | None],
                grid: WorkingGrid, tiles: dict[str, WorkingGrid], taken: set[str]
                ) -> list[str | None]:
    """Faces of ``grid`` no micro-grid holds go, per connected piece, to the micro-grid of
    ``grid`` sharing the longest edge with the piece, else to a new micro-grid."""
    left = [i for i, (o, g) in enumerate(zip(owners, arr.owners, strict=True))
            if o is None and g == grid.code]
    for piece in components(arr.faces, left):
        shape = union_of(arr.faces, piece)
        best, best_len = None, 0.0
        for code in sorted(c for c, t in tiles.items() if t.parent_code == grid.code):
            mine = union_of(arr.faces, [i for i, o in enumerate(owners) if o == code])
            shared = round(metric_length(shapely.intersection(shape.boundary, mine.boundary)), 3)
            if shared > best_len:
                best, best_len = code, shared
        if best is None:
            best = fresh_code(session, cs, grid.code, taken)
            tiles[best] = WorkingGrid(
                code=best, name=f"micro {best[-2:]}", level="micro", kind="urban",
                parent_code=grid.code, community_code=grid.community_code,
                previous_code=None, base_version=None, geom=shape)
        for i in piece:
            owners[i] = best
    return owners


def _write_micros(session: Session, cs: int, arr: Arrangement, owners: list[str | None],
                  tiles: dict[str, WorkingGrid], origin: dict[str, str],
                  micros: list[WorkingGrid]) -> set[str]:
    """Write the micro-grids whose faces changed (a micro-grid that moved grid under its new
    code, its old draft row dropped); returns the codes changed, old codes included."""
    old_shape = {m.code: m.geom for m in micros}
    kept = {c: old_shape[c] for c, o in origin.items() if c == o}
    changed: set[str] = set()
    for code, shape in sorted(assemble(arr, owners, kept).items()):
        if code in kept and is_noise(shapely.symmetric_difference(kept[code], shape)):
            continue  # only nodes moved along its edges: the stored shape stays as it is
        if code in origin and origin[code] != code:
            session.execute(text("DELETE FROM plan_draft_grids WHERE changeset_id = :cs "
                                 "AND code = :c"), {"cs": cs, "c": origin[code]})
            changed.add(origin[code])
        if not shape.is_empty:
            put(session, cs, replace(tiles[code], geom=shape))
        changed.add(code)
    return changed
