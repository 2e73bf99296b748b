"""Grid lineage recorded on publish: kinds, shares of area and households, ancestors and
descendants. Community 0..200 x 0..100 m: west 0..100, east 100..200; buildings at x=50
(120 households), x=110 (80) and x=150 (200)."""

from __future__ import annotations

from typing import Any

import pytest
from shapely.geometry import LineString, box
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import NotFound
from geo.planning import operations as ops
from geo.planning.changesets import open_changeset, publish
from geo.planning.history import undo
from geo.planning.lineage import lineage
from tests.geo.planning import cases
from tests.geo.planning.cases import COMMUNITY, code

WEST, EAST, NEW = code(1), code(2), code(3)
Row = tuple[str, str, str, float, float, int, float | None]


@pytest.fixture
def town(db: Session) -> None:
    cases.two_grids_sharing_an_edge(db)
    for name, x, households in (("B-west", 50, 120), ("B-edge", 110, 80), ("B-east", 150, 200)):
        cases.add_building(db, name, x, 50, households)


def links(db: Session, changeset: int) -> list[Row]:
    """(from, to, kind, area m², area share, households, household share) of a changeset."""
    rows = db.execute(text(
        "SELECT predecessor_code, successor_code, kind, area_m2, area_share, households,"
        " household_share FROM grid_lineage WHERE changeset_id = :cs"
        " ORDER BY predecessor_code, successor_code"), {"cs": changeset}).all()
    return [(r[0], r[1], r[2], round(r[3], 1), round(r[4], 6), r[5],
             None if r[6] is None else round(r[6], 6)) for r in rows]


def published(db: Session, reason: str, edit: Any) -> int:
    cs = open_changeset(db, COMMUNITY, reason, "planner-li").id
    edit(cs)
    publish(db, cs, "planner-li")
    return cs


def share_sums(rows: list[Row], side: int, share: int) -> dict[str, float]:
    sums: dict[str, float] = {}
    for row in rows:
        sums[row[side]] = round(sums.get(row[side], 0.0) + (row[share] or 0.0), 6)
    return sums


def test_a_split_records_one_to_many_with_area_and_household_shares(
        db: Session, town: None) -> None:
    line = cases.geojson(LineString([(160, -10), (160, 110)]))
    cs = published(db, "split the east grid", lambda cs: ops.split_by_line(
        db, cs, "planner-li", EAST, line, NEW, "East 2"))
    assert links(db, cs) == [(EAST, EAST, "split", 6000.0, 0.6, 280, 1.0),
                             (EAST, NEW, "split", 4000.0, 0.4, 0, 0.0)]


def test_a_merge_records_many_to_one_and_its_shares_add_up_to_one(
        db: Session, town: None) -> None:
    cs = published(db, "merge", lambda cs: ops.merge(db, cs, "planner-li", [WEST, EAST]))
    rows = links(db, cs)
    assert rows == [(WEST, WEST, "merge", 10000.0, 1.0, 120, 1.0),
                    (EAST, WEST, "retire", 10000.0, 1.0, 280, 1.0)]
    successor = lineage(db, WEST)["ancestors"]
    assert [(k["from"]["code"], k["successor_area_share"]) for k in successor] == [
        (WEST, 0.5), (EAST, 0.5)]
    assert sum(k["successor_area_share"] for k in successor) == 1.0


def test_a_reshape_moves_area_and_households_and_each_grids_shares_add_up_to_one(
        db: Session, town: None) -> None:
    cs = published(db, "new compound east of the edge", lambda cs: ops.reshape(
        db, cs, "planner-li", WEST, cases.geojson(box(0, 0, 120, 100))))
    rows = links(db, cs)
    assert rows == [(WEST, WEST, "reshape", 10000.0, 1.0, 120, 1.0),
                    (EAST, WEST, "reshape", 2000.0, 0.2, 80, 0.285714),
                    (EAST, EAST, "reshape", 8000.0, 0.8, 200, 0.714286)]
    assert share_sums(rows, 0, 4) == {WEST: 1.0, EAST: 1.0}
    assert share_sums(rows, 0, 6) == {WEST: 1.0, EAST: 1.0}


def test_a_created_grid_takes_area_from_its_neighbours(db: Session, town: None) -> None:
    cs = published(db, "school grid", lambda cs: ops.create(
        db, cs, "planner-li", NEW, "School", COMMUNITY, cases.geojson(box(80, 0, 120, 100))))
    assert links(db, cs) == [(WEST, WEST, "reshape", 8000.0, 0.8, 120, 1.0),
                             (WEST, NEW, "create", 2000.0, 0.2, 0, 0.0),
                             (EAST, EAST, "reshape", 8000.0, 0.8, 200, 0.714286),
                             (EAST, NEW, "create", 2000.0, 0.2, 80, 0.285714)]


def test_retire_and_rename_and_the_reason_and_time_are_kept(db: Session, town: None) -> None:
    retired = published(db, "east grid absorbed", lambda cs: ops.retire(
        db, cs, "planner-li", EAST, successor=WEST))
    renamed = published(db, "renumbered", lambda cs: ops.rename(
        db, cs, "planner-li", WEST, new_code=NEW))
    assert [r[:3] for r in links(db, retired)] == [(WEST, WEST, "merge"), (EAST, WEST, "retire")]
    assert links(db, renamed) == [(WEST, NEW, "rename", 20000.0, 1.0, 400, 1.0)]
    stored = db.execute(text(
        "SELECT DISTINCT l.reason, l.published_at = c.published_at FROM grid_lineage l"
        " JOIN plan_changesets c ON c.id = l.changeset_id WHERE l.changeset_id = :cs"),
        {"cs": renamed}).all()
    assert [tuple(r) for r in stored] == [("renumbered", True)]


def test_lineage_walks_ancestors_and_descendants_transitively(db: Session, town: None) -> None:
    line = cases.geojson(LineString([(160, -10), (160, 110)]))
    published(db, "split the east grid", lambda cs: ops.split_by_line(
        db, cs, "planner-li", EAST, line, NEW, "East 2"))
    published(db, "merge west and east", lambda cs: ops.merge(db, cs, "planner-li",
                                                              [WEST, EAST]))
    def path(items: list[dict[str, Any]]) -> list[tuple[str, int, str, int, str, str]]:
        return [(k["from"]["code"], k["from"]["version"], k["to"]["code"], k["to"]["version"],
                 k["kind"], k["reason"]) for k in items]

    of_east = lineage(db, EAST)
    assert of_east["current"] is False and [v["version"] for v in of_east["versions"]] == [1, 2]
    assert path(of_east["ancestors"]) == [(EAST, 1, EAST, 2, "split", "split the east grid")]
    assert path(of_east["descendants"]) == [
        (EAST, 1, EAST, 2, "split", "split the east grid"),
        (EAST, 1, NEW, 1, "split", "split the east grid"),
        (EAST, 2, WEST, 2, "retire", "merge west and east")]  # not west's own link
    assert path(lineage(db, WEST)["ancestors"]) == [
        (EAST, 1, EAST, 2, "split", "split the east grid"),
        (WEST, 1, WEST, 2, "merge", "merge west and east"),
        (EAST, 2, WEST, 2, "retire", "merge west and east")]
    assert lineage(db, NEW)["descendants"] == []


def test_lineage_of_an_unknown_code_is_not_found(db: Session) -> None:
    with pytest.raises(NotFound, match="no grid 140213001001999"):
        lineage(db, code(999))


def test_undoing_a_split_records_the_way_back(db: Session, town: None) -> None:
    line = cases.geojson(LineString([(160, -10), (160, 110)]))
    split = published(db, "split the east grid", lambda cs: ops.split_by_line(
        db, cs, "planner-li", EAST, line, NEW, "East 2"))
    back = undo(db, split, "planner-li").id
    publish(db, back, "planner-li")
    assert links(db, back) == [(EAST, EAST, "merge", 6000.0, 1.0, 280, 1.0),
                               (NEW, EAST, "retire", 4000.0, 1.0, 0, None)]
