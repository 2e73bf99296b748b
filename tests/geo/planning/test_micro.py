"""Grid-level operations carry the micro-grids along so they tile the new grids."""

from __future__ import annotations

from typing import Any

import pytest
from shapely.geometry import LineString, box
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.planning import operations as ops
from geo.planning.changesets import draft_rows, open_changeset, publish
from geo.planning.validate import validate_area
from tests.geo.planning import cases
from tests.geo.planning.cases import COMMUNITY, code

WEST, EAST, NEW = code(1), code(2), code(3)


@pytest.fixture
def quartered(db: Session) -> None:
    """Grids west 0..100 / east 100..200, each with two micro-grids 50 m wide; a helper on
    the east's second micro-grid."""
    cases.two_grids_sharing_an_edge(db)
    for grid, x0 in ((WEST, 0), (EAST, 100)):
        cases.add_grid(db, code(1, grid), box(x0, 0, x0 + 50, 100), parent=grid)
        cases.add_grid(db, code(2, grid), box(x0 + 50, 0, x0 + 100, 100), parent=grid)
    db.execute(text("INSERT INTO workers (code, name, role, grid_code) "
                    "VALUES ('H1', 'helper', 'helper', :g)"), {"g": code(2, EAST)})


def micro_extents(db: Session, cs: int) -> dict[str, Any]:
    """Micro code -> (parent, x-extent in metres) of the draft's put rows."""
    out = {}
    for row in draft_rows(db, cs):
        if row["level"] == "micro" and row["action"] == "put":
            from shapely.geometry import shape

            minx, _, maxx, _ = cases.metres(shape(row["geometry"])).bounds
            out[row["code"]] = (row["parent_code"], round(minx), round(maxx))
    return out


def test_reshape_gives_the_strip_to_the_adjacent_micro_grid(db: Session, quartered: None) -> None:
    cs = open_changeset(db, COMMUNITY, "grow west", "li").id
    changed = ops.reshape(db, cs, "li", WEST, cases.geojson(box(0, 0, 120, 100)))
    assert changed == sorted([WEST, EAST, code(2, WEST), code(1, EAST)])
    assert micro_extents(db, cs) == {code(2, WEST): (WEST, 50, 120),
                                     code(1, EAST): (EAST, 120, 150)}
    assert validate_area(db, COMMUNITY, changeset_id=cs).ok


def test_split_moves_whole_micro_grids_to_the_new_grid(db: Session, quartered: None) -> None:
    cs = open_changeset(db, COMMUNITY, "split east", "li").id
    ops.split_by_line(db, cs, "li", EAST, cases.geojson(LineString([(160, -5), (160, 105)])),
                      NEW)
    assert micro_extents(db, cs) == {code(1, EAST): (EAST, 100, 160),
                                     code(1, NEW): (NEW, 160, 200)}
    assert validate_area(db, COMMUNITY, changeset_id=cs).ok
    publish(db, cs, "li")
    assert db.execute(text("SELECT grid_code FROM workers WHERE code = 'H1'")).scalar() == (
        code(1, NEW))


def test_merge_renumbers_the_absorbed_micro_grids(db: Session, quartered: None) -> None:
    cs = open_changeset(db, COMMUNITY, "merge", "li").id
    ops.merge(db, cs, "li", [WEST, EAST])
    assert micro_extents(db, cs) == {code(3, WEST): (WEST, 100, 150),
                                     code(4, WEST): (WEST, 150, 200)}
    assert validate_area(db, COMMUNITY, changeset_id=cs).ok
