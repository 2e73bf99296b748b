"""Auto-repair: snap, clip, remove overlaps, fill sliver gaps; a draft with a report."""

from __future__ import annotations

import pytest
from shapely.geometry import box
from sqlalchemy.orm import Session

from geo.planning.changesets import publish
from geo.planning.repair import repair
from geo.planning.validate import validate_area
from tests.geo.planning import cases
from tests.geo.planning.cases import COMMUNITY, code


def actions(changeset: object) -> list[tuple[str, list[str], float]]:
    report = changeset.report
    return [(a["action"], a["grids"], a["area_m2"]) for a in report["actions"]]


def test_a_1m_gap_goes_to_the_neighbour_and_validates(db: Session) -> None:
    cases.two_grids_with_a_1m_gap(db)
    draft = repair(db, COMMUNITY, "planner-li")
    assert draft.kind == "repair" and draft.status == "draft"
    assert actions(draft) == [("fill_gap", [code(1)], pytest.approx(100, abs=0.05))]
    assert validate_area(db, COMMUNITY, changeset_id=draft.id).ok
    assert not validate_area(db, COMMUNITY).ok  # nothing published yet
    publish(db, draft.id, "planner-li")
    assert validate_area(db, COMMUNITY).ok


def test_overlap_is_kept_by_the_lower_code(db: Session) -> None:
    cases.overlapping_grids(db)
    draft = repair(db, COMMUNITY, "planner-li")
    assert actions(draft) == [("remove_overlap", [code(2)], pytest.approx(200, abs=0.05))]
    assert validate_area(db, COMMUNITY, changeset_id=draft.id).ok


def test_vertices_within_half_a_metre_are_snapped(db: Session) -> None:
    cases.community(db)
    cases.add_grid(db, code(1), box(0, 0, 100, 100))
    cases.add_grid(db, code(2), box(100.3, 0, 200, 100))  # 0.3 m gap: within tolerance
    draft = repair(db, COMMUNITY, "planner-li")
    assert [(a, g) for a, g, _ in actions(draft)] == [("snap", [code(2)])]
    assert validate_area(db, COMMUNITY, changeset_id=draft.id).ok


def test_outside_part_is_clipped_and_large_gap_left(db: Session) -> None:
    cases.grid_poking_outside(db)
    cases.add_grid(db, code(1, code(1)), box(0, 0, 50, 100), parent=code(1))
    cases.add_grid(db, code(2, code(1)), box(60, 0, 100, 100), parent=code(1))
    draft = repair(db, COMMUNITY, "planner-li")
    assert actions(draft) == [
        ("clip", [code(2)], pytest.approx(1000, abs=0.5)),
        ("gap_left", [], pytest.approx(1000, abs=0.5))]
    report = validate_area(db, COMMUNITY, changeset_id=draft.id)
    assert [(p.kind, p.level) for p in report.errors] == [("gap", "micro")]
