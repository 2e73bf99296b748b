"""Split a grid into N balanced parts; move buildings between adjacent grids."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from geo.errors import ValidationFailed
from geo.planning.changesets import open_changeset, publish
from geo.planning.preview import preview
from geo.planning.units import move_buildings, split_balanced
from geo.planning.validate import validate_area
from tests.geo.planning import cases
from tests.geo.planning.cases import COMMUNITY, code

WEST, EAST = code(1), code(2)


@pytest.fixture
def west_with_six_buildings(db: Session) -> dict[str, Any]:
    """Two grids at x=100; the west one has buildings at x = 15, 50, 85 on two rows
    (y = 25, 75), 100 households each (600 in all); the east one a single building."""
    case = cases.two_grids_sharing_an_edge(db)
    for i, x in enumerate((15, 50, 85)):
        for j, y in enumerate((25, 75)):
            cases.add_building(db, f"W{i}{j}", x, y, 100)
    cases.add_building(db, "E", 150, 50, 300)
    return case


def households(db: Session, cs: int) -> dict[str, int]:
    return {g["code"]: g["after"]["households"] for g in preview(db, cs).grids}


def test_split_into_two_balanced_parts(db: Session, west_with_six_buildings: Any) -> None:
    cs = open_changeset(db, COMMUNITY, "west grew", "li").id
    assert split_balanced(db, cs, "li", WEST, 2) == [WEST, code(3)]
    assert households(db, cs) == {WEST: 300, code(3): 300}
    report = validate_area(db, COMMUNITY, changeset_id=cs)
    assert report.ok, [p.message for p in report.errors]
    publish(db, cs, "li")


def test_split_checks_parts_and_codes(db: Session, west_with_six_buildings: Any) -> None:
    cs = open_changeset(db, COMMUNITY, "west grew", "li").id
    with pytest.raises(ValidationFailed, match="2 to 6 parts, not 7"):
        split_balanced(db, cs, "li", WEST, 7)
    with pytest.raises(ValidationFailed, match="never"):
        split_balanced(db, cs, "li", WEST, 2, new_codes=[EAST])


def test_move_buildings_to_the_adjacent_grid(db: Session, west_with_six_buildings: Any) -> None:
    cs = open_changeset(db, COMMUNITY, "east takes the riverside", "li").id
    assert move_buildings(db, cs, "li", WEST, EAST, ["W20", "W21"]) == [WEST, EAST]
    assert households(db, cs) == {WEST: 400, EAST: 500}
    assert validate_area(db, COMMUNITY, changeset_id=cs).ok
    with pytest.raises(ValidationFailed, match="does not border"):
        move_buildings(db, cs, "li", WEST, EAST, ["W00"])
    with pytest.raises(ValidationFailed, match="not in grid"):
        move_buildings(db, cs, "li", WEST, EAST, ["E"])
