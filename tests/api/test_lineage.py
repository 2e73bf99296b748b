"""Over HTTP: GET /grids/{code}/lineage and /stats both ways on a split grid's history
(tests/geo/planning/cases.py ``split_grid_history``)."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping
from sqlalchemy.orm import Session

from tests.geo.planning import cases
from tests.geo.planning.cases import COMMUNITY, code

WEST, EAST, NEW = code(1), code(2), code(3)


@pytest.fixture
def split_at(db: Session) -> datetime:
    at: datetime = cases.split_grid_history(db)
    db.commit()  # a savepoint: the requests read it through the test's transaction
    return at


def viewer(keys: dict[str, str]) -> dict[str, str]:
    return {"X-API-Key": keys["viewer"]}


def test_lineage_of_a_split_grid(client: TestClient, keys: dict[str, str],
                                 split_at: datetime) -> None:
    answer = client.get(f"/grids/{NEW}/lineage", headers=viewer(keys))
    assert answer.status_code == 200
    body = answer.json()
    assert (body["code"], body["current"], body["descendants"]) == (NEW, True, [])
    [link] = body["ancestors"]
    assert link == {
        "kind": "split", "published_at": split_at.isoformat().replace("+00:00", "Z"),
        "reason": "split the east grid", "changeset_id": link["changeset_id"],
        "from": {"code": EAST, "version": 1, "name": "grid 002"},
        "to": {"code": NEW, "version": 1, "name": "East 2"},
        "area_m2": 4000.0, "area_share": 0.4, "successor_area_share": 1.0,
        "households": 0, "household_share": None}
    east = client.get(f"/grids/{EAST}/lineage", headers=viewer(keys)).json()
    assert [(k["to"]["code"], k["area_share"]) for k in east["descendants"]] == [
        (EAST, 0.6), (NEW, 0.4)]


def test_lineage_of_an_unknown_grid_is_404(client: TestClient, keys: dict[str, str]) -> None:
    answer = client.get(f"/grids/{code(999)}/lineage", headers=viewer(keys))
    assert answer.status_code == 404
    assert answer.json()["details"] == [{"field": "code", "value": code(999)}]


def test_stats_both_ways_say_which_and_their_sums_match(
        client: TestClient, keys: dict[str, str], split_at: datetime) -> None:
    period = {"level": "grid", "since": "2026-05-01T00:00:00Z",
              "until": (split_at + timedelta(days=1)).isoformat()}
    answers = {a: client.get("/stats", params={**period, "attribution": a},
                             headers=viewer(keys)).json() for a in ("current", "historical")}
    default = client.get("/stats", params=period, headers=viewer(keys)).json()
    assert {a: [(u["unit"], u["accepted"]) for u in b["units"]] for a, b in answers.items()} == {
        "current": [(WEST, 1), (EAST, 1), (NEW, 3)],
        "historical": [(WEST, 1), (EAST, 3), (NEW, 1)]}
    assert [(b["attribution"], b["events"], b["unattributed"]) for b in answers.values()] == [
        ("current", 5, 0), ("historical", 5, 0)]
    assert (default["attribution"], [(u["unit"], u["accepted"]) for u in default["units"]]) == (
        "assigned", [(WEST, 1), (EAST, 2), (NEW, 2)])
    csv = client.get("/stats", params={**period, "attribution": "historical", "format": "csv"},
                     headers=viewer(keys))
    assert csv.headers["x-gridlink-attribution"] == "historical"
    assert 'filename="stats_grid_historical.csv"' in csv.headers["content-disposition"]
    assert [line.split(",")[:3] for line in csv.text.splitlines()[1:]] == [
        [WEST, "grid 001", "1"], [EAST, "grid 002", "3"], [NEW, "East 2", "1"]]


def test_an_attribution_other_levels_do_not_take_is_422(
        client: TestClient, keys: dict[str, str]) -> None:
    answer = client.get("/stats", params={"level": "community", "attribution": "current"},
                        headers=viewer(keys))
    assert answer.status_code == 422
    assert answer.json()["details"] == [{"field": "attribution", "value": "current",
                                         "level": "community", "allowed": ["assigned"]}]


def test_a_grids_import_that_moves_an_edge_records_reshape_links(
        client: TestClient, keys: dict[str, str], db: Session) -> None:
    cases.two_grids_sharing_an_edge(db)
    db.commit()
    redrawn = {WEST: box(0, 0, 120, 100), EAST: box(120, 0, 200, 100)}  # edge 100 m -> 120 m
    body = json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": c, "name": c[-3:], "parent_code": COMMUNITY},
         "geometry": mapping(cases.lonlat(g))} for c, g in redrawn.items()]}).encode()
    answer = client.post("/import/grids", params={"reason": "新小区"},
                         headers={"X-API-Key": keys["planner"]},
                         files={"file": ("redrawn.geojson", io.BytesIO(body))})
    assert answer.status_code == 200, answer.text
    west = client.get(f"/grids/{WEST}/lineage", headers=viewer(keys)).json()
    assert [(k["from"]["code"], k["kind"], k["area_m2"], k["area_share"],
             k["successor_area_share"], k["changeset_id"], k["reason"])
            for k in west["ancestors"]] == [
        (WEST, "reshape", 10000.0, 1.0, 0.833333, None, "新小区"),
        (EAST, "reshape", 2000.0, 0.2, 0.166667, None, "新小区")]
