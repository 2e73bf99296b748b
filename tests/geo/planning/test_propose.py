"""Proposals: gerrychain partition of building cells into balanced, contiguous grids."""

from __future__ import annotations

from shapely import wkb
from shapely.geometry import box
from sqlalchemy import text
from sqlalchemy.orm import Session

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
    # 300 households / 50 = 6 micro-grids, or 5 where 25-household buildings cannot pair up
    assert {g["micro_grids"] for g in grids} <= {5, 6}
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
