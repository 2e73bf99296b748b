"""Proposals: gerrychain partition of building cells into balanced, contiguous grids."""

from __future__ import annotations

import pytest
from shapely import wkb
from shapely.geometry import box
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ValidationFailed
from geo.planning.changesets import draft_rows, publish
from geo.planning.propose import propose
from geo.planning.validate import validate_area
from tests.geo.planning import cases
from tests.geo.planning.cases import COMMUNITY, code


def community_of_60_buildings(db: Session) -> None:
    """Community 0..400 x 0..300 m: 10 x 6 buildings of 25 households (1,500 in all), and two
    published grids (west 0..200, east 200..400) with a micro-grid each."""
    cases.community(db, width=400, height=300)
    cases.add_grid(db, code(1), box(0, 0, 200, 300))
    cases.add_grid(db, code(2), box(200, 0, 400, 300))
    cases.add_grid(db, code(1, code(1)), box(0, 0, 200, 300), parent=code(1))
    cases.add_grid(db, code(1, code(2)), box(200, 0, 400, 300), parent=code(2))
    for i in range(10):
        for j in range(6):
            cases.add_building(db, f"B{i}{j}", 20 + 40 * i, 25 + 50 * j, 25)


def test_proposal_is_balanced_contiguous_and_valid(db: Session) -> None:
    community_of_60_buildings(db)
    draft = propose(db, COMMUNITY, "planner-li")
    assert draft.kind == "proposal"
    grids = draft.report["grids"]
    assert len(grids) == 5  # 1,500 households / 300
    assert all(250 <= g["households"] <= 350 for g in grids)
    assert sum(g["households"] for g in grids) == 1500
    # 300 households / 50 = 6 micro-grids, or 4-5 (each in the 30-70 band) where
    # 25-household buildings cannot pair up
    assert {g["micro_grids"] for g in grids} <= {3, 4, 5, 6}
    assert [g["big_buildings"] for g in grids] == [[]] * 5
    for g in grids:  # fewer micro-grids where none in the band exists, and the note says so
        assert g["micro_note"] is None or (g["micro_note"].startswith("no balanced plan of")
                                           and g["code"] in g["micro_note"])
    assert all(abs(g["deviation"]) <= 1 / 6 for g in grids)
    assert sorted(g["code"] for g in grids if g["kept_code"]) == [code(1), code(2)]
    rows = draft_rows(db, draft.id)
    put_grids = [r for r in rows if r["level"] == "grid" and r["action"] == "put"]
    assert len(put_grids) == 5
    for row in put_grids:  # each grid is one connected polygon
        assert row["geometry"]["type"] == "MultiPolygon"
        assert len(row["geometry"]["coordinates"]) == 1
    retired = {r["code"]: r["successor_code"] for r in rows if r["action"] == "retire"}
    assert set(retired) == {code(1, code(1)), code(1, code(2))}
    new_micro = {r["code"] for r in rows if r["level"] == "micro" and r["action"] == "put"}
    assert set(retired.values()) <= new_micro  # helpers go to a new micro-grid
    report = validate_area(db, COMMUNITY, changeset_id=draft.id)
    assert report.ok, [p.message for p in report.errors]
    balance = [g for g in report.grids if g.level == "grid"]
    assert all(g.status == "ok" for g in balance)
    publish(db, draft.id, "planner-li")
    micro = sum(g["micro_grids"] for g in grids)
    assert db.execute(text("SELECT count(*) FROM grids WHERE valid_to IS NULL "
                           "AND level = 'micro'")).scalar() == micro
    owners = db.execute(text("SELECT count(DISTINCT grid_code), count(*) FILTER "
                             "(WHERE micro_grid_code IS NULL) FROM buildings")).one()
    assert tuple(owners) == (5, 0)


def test_new_codes_are_never_reused(db: Session) -> None:
    community_of_60_buildings(db)
    first = propose(db, COMMUNITY, "planner-li")
    publish(db, first.id, "planner-li")
    old_micro = db.execute(text("SELECT ST_AsBinary(geom) FROM grids WHERE code = :c"),
                           {"c": code(1, code(1))}).scalar()
    assert old_micro is not None and not wkb.loads(bytes(old_micro)).is_empty
    new_micro = {r["code"] for r in draft_rows(db, first.id) if r["level"] == "micro"
                 and r["action"] == "put"}
    assert code(1, code(1)) not in new_micro and code(1, code(2)) not in new_micro


def test_a_tower_above_the_band_is_its_own_grid_and_named(db: Session) -> None:
    """The 60-building community plus one tower of 520 households (above 200-400)."""
    community_of_60_buildings(db)
    cases.add_building(db, "TOWER", 390, 290, 520)
    draft = propose(db, COMMUNITY, "planner-li")
    towers = draft.report["big_buildings"]
    assert [(t["buildings"], t["households"]) for t in towers] == [(["TOWER"], 520)]
    own = [g for g in draft.report["grids"] if g["code"] == towers[0]["grid"]]
    assert [(g["households"], g["buildings"], g["big_buildings"]) for g in own] == [
        (520, 1, [])]
    others = [g for g in draft.report["grids"] if g["code"] != towers[0]["grid"]]
    assert sum(g["households"] for g in others) == 1500
    assert all(200 <= g["households"] <= 400 for g in others)
    assert validate_area(db, COMMUNITY, changeset_id=draft.id).ok


def test_a_truly_impossible_plan_names_the_community_and_level(db: Session) -> None:
    """Three buildings in a row, 390, 20 and 390 households: two grids give 390 + 410 and
    three give a 20-household grid, both outside 200-400."""
    cases.community(db, width=300, height=100)
    cases.add_grid(db, code(1), box(0, 0, 300, 100))
    for name, x, households in (("W", 50, 390), ("M", 150, 20), ("E", 250, 390)):
        cases.add_building(db, name, x, 50, households)
    with pytest.raises(ValidationFailed) as err:
        propose(db, COMMUNITY, "planner-li")
    assert err.value.message == (f"no balanced grid plan for {COMMUNITY}: tried 3, 2 part(s) "
                                 "of 800 households in the band 200-400")
    assert err.value.details == [{"area": COMMUNITY, "level": "grid", "parts_tried": [3, 2],
                                  "households": 800}]
