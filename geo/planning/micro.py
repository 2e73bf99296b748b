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
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.planning.kernel import (
    GRID_DEG,
    WorkingGrid,
    clean,
    give_away,
    is_noise,
    polygonal,
    put,
    retire_row,
    working,
)


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


def _homes(micros: list[WorkingGrid], grids: dict[str, WorkingGrid]
           ) -> dict[str, tuple[str, dict[str, Any]]]:
    """Micro code -> (home grid code, {grid code: its part in that grid})."""
    out = {}
    for m in micros:
        parts = {g.code: clean(shapely.intersection(m.geom, g.geom, grid_size=GRID_DEG))
                 for g in grids.values() if m.geom.intersects(g.geom)}
        parts = {c: p for c, p in parts.items() if not p.is_empty}
        if parts:
            home = max(parts, key=lambda c: (parts[c].area, c == m.parent_code))
            out[m.code] = (home, parts)
    return out


def carry_micro_grids(session: Session, cs: int, codes: list[str]) -> list[str]:
    """Re-tile the micro-grids of grids ``codes`` into their draft shapes; returns changed."""
    grids = {g.code: g for g in working(session, cs, "@code = ANY(:codes) AND @level = 'grid'",
                                         {"codes": codes})}
    micros = working(session, cs, "@level = 'micro' AND @parent_code = ANY(:codes)",
                      {"codes": codes})
    if not micros:
        return []
    homes = _homes(micros, grids)
    tiles: dict[str, dict[str, WorkingGrid]] = {g: {} for g in grids}
    taken: set[str] = set()
    for m in micros:
        if m.code not in homes:
            retire_row(session, cs, m, successor=None)
            continue
        home, parts = homes[m.code]
        code = m.code if home == m.parent_code else fresh_code(session, cs, home, taken)
        if code != m.code:
            session.execute(text("DELETE FROM plan_draft_grids WHERE changeset_id = :cs "
                                 "AND code = :c"), {"cs": cs, "c": m.code})
        tiles[home][code] = replace(m, code=code, parent_code=home, geom=parts[home])
    for m in micros:
        for owner, part in (homes[m.code][1].items() if m.code in homes else ()):
            if owner != homes[m.code][0]:
                _place(session, cs, grids[owner], tiles[owner], part, taken)
    for owner, shape in grids.items():
        covered = shapely.union_all([t.geom for t in tiles[owner].values()], grid_size=GRID_DEG)
        _place(session, cs, shape, tiles[owner],
               shapely.difference(shape.geom, covered, grid_size=GRID_DEG), taken)
    before = {m.code: m for m in micros}
    changed = {m.code for m in micros if m.code not in homes}
    for tile in (t for per in tiles.values() for t in per.values()):
        old = before.get(tile.code)
        if old is None or old.parent_code != tile.parent_code or not is_noise(
                shapely.symmetric_difference(polygonal(old.geom), tile.geom)):
            put(session, cs, tile)
            changed |= {tile.code} | ({old.code} if old else set())
    moved = {c for c in before if c in homes and c not in
             {t.code for per in tiles.values() for t in per.values()}}
    return sorted(changed | moved)


def _place(session: Session, cs: int, grid: WorkingGrid, tiles: dict[str, WorkingGrid],
           piece: BaseGeometry, taken: set[str]) -> None:
    """Add ``piece`` (in ``grid``) to the adjacent micro-grid, or make it a new one."""
    for part in (p for p in polygonal(piece).geoms if not is_noise(p)):
        grown = give_away(part, {c: t.geom for c, t in tiles.items()}) if tiles else {}
        for code, geom in grown.items():
            tiles[code] = replace(tiles[code], geom=polygonal(geom))
        if not grown:
            code = fresh_code(session, cs, grid.code, taken)
            tiles[code] = WorkingGrid(
                code=code, name=f"micro {code[-2:]}", level="micro", kind="urban",
                parent_code=grid.code, community_code=grid.community_code,
                previous_code=None, base_version=None, geom=polygonal(part))
