"""The /planning API over HTTP: validate, drafts, operations, preview, publish, 409, history."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from shapely.geometry import LineString, box, mapping
from sqlalchemy.orm import Session

from geo.keys import create_key
from tests.conftest import auth
from tests.geo.planning import cases
from tests.geo.planning.cases import COMMUNITY, code

WEST, EAST = code(1), code(2)


def test_validate_reports_a_gap_as_json_and_geojson(
        client: TestClient, db: Session, keys: dict[str, str]) -> None:
    cases.two_grids_with_a_1m_gap(db)
    body = client.get("/planning/validate", params={"area": COMMUNITY},
                      headers=auth(keys, "viewer")).json()
    assert body["ok"] is False
    assert body["counts"] == {"gap": 1, "households_out_of_band": 2}
    gap = body["problems"][0]
    assert (gap["kind"], gap["codes"], round(gap["area_m2"])) == ("gap", [WEST, EAST], 100)
    fc = client.get("/planning/validate", params={"area": COMMUNITY, "format": "geojson"},
                    headers=auth(keys, "viewer")).json()
    assert [f["properties"]["kind"] for f in fc["features"]] == ["gap"]


def test_validate_unknown_area_is_404(client: TestClient, keys: dict[str, str]) -> None:
    response = client.get("/planning/validate", params={"area": "000"},
                          headers=auth(keys, "viewer"))
    assert response.status_code == 404
    assert response.json()["details"] == [{"field": "area", "value": "000"}]


def test_draft_preview_publish_history_and_undo(
        client: TestClient, db: Session, keys: dict[str, str]) -> None:
    cases.two_grids_sharing_an_edge(db)
    cases.add_building(db, "B-edge", 110, 50, 80)
    planner = auth(keys, "planner")
    opened = client.post("/planning/changesets", json={"area_code": COMMUNITY,
                                                       "reason": "compound"}, headers=planner)
    assert opened.status_code == 201, opened.text
    cs = opened.json()["id"]
    assert opened.json()["status"] == "draft" and opened.json()["author"] == "test planner"

    assert client.post(f"/planning/changesets/{cs}/reshape", headers=auth(keys, "viewer"),
                       json={"code": WEST, "geometry": {}}).status_code == 403
    bad = client.post(f"/planning/changesets/{cs}/reshape", headers=planner,
                      json={"code": WEST, "geometry": {"type": "Polygon"}})
    assert bad.status_code == 422 and bad.json()["details"] == [{"field": "geometry"}]
    done = client.post(f"/planning/changesets/{cs}/reshape", headers=planner,
                       json={"code": WEST, "geometry": cases.geojson(box(0, 0, 120, 100))})
    assert done.json() == {"changed": [WEST, EAST]}

    view = client.get(f"/planning/changesets/{cs}/preview", headers=auth(keys, "viewer")).json()
    assert [(t["kind"], t["from"], t["to"], t["households"]) for t in view["transfers"]] == [
        ("buildings", EAST, WEST, 80)]
    shapes = client.get(f"/planning/changesets/{cs}/preview", params={"format": "geojson"},
                        headers=auth(keys, "viewer")).json()
    assert sorted((f["properties"]["state"], f["properties"]["code"])
                  for f in shapes["features"]) == [("after", WEST), ("after", EAST),
                                                   ("before", WEST), ("before", EAST)]
    assert client.get(f"/planning/changesets/{cs}/validate",
                      headers=planner).json()["ok"] is True

    published = client.post(f"/planning/changesets/{cs}/publish", headers=planner)
    assert published.status_code == 200, published.text
    assert (published.json()["closed"], published.json()["opened"]) == (2, 2)
    assert published.json()["reassigned"]["buildings"] == 1
    again = client.post(f"/planning/changesets/{cs}/publish", headers=planner)
    assert again.status_code == 409

    versions = client.get(f"/planning/grids/{WEST}/history", headers=planner).json()
    assert [v["version"] for v in versions] == [1, 2]
    diff = client.get(f"/planning/changesets/{cs}/diff", headers=planner).json()
    assert [f["properties"]["change"] for f in diff["features"]] == ["changed", "changed"]
    before = (published.json()["published_at"])
    layer = client.get("/planning/history", params={"area": COMMUNITY, "at": before},
                       headers=planner).json()
    assert [f["properties"]["version"] for f in layer["features"]] == [2, 2]

    undone = client.post(f"/planning/changesets/{cs}/undo", headers=planner)
    assert undone.status_code == 201 and undone.json()["inverse_of"] == cs
    assert client.post(f"/planning/changesets/{undone.json()['id']}/publish",
                       headers=planner).status_code == 200
    assert [v["version"] for v in client.get(f"/planning/grids/{WEST}/history",
                                             headers=planner).json()] == [1, 2, 3]


def test_publish_conflict_is_409_naming_the_other_changeset(
        client: TestClient, db: Session, keys: dict[str, str]) -> None:
    cases.two_grids_sharing_an_edge(db)
    other = {"X-API-Key": create_key(db, "planner wang", "planner")}
    db.commit()
    planner = auth(keys, "planner")
    first = client.post("/planning/changesets", json={"area_code": COMMUNITY, "reason": "a"},
                        headers=planner).json()["id"]
    second = client.post("/planning/changesets", json={"area_code": COMMUNITY, "reason": "b"},
                         headers=other).json()["id"]
    line = cases.geojson(LineString([(50, -5), (50, 105)]))
    assert client.post(f"/planning/changesets/{first}/split", headers=planner, json={
        "code": WEST, "line": line, "new_code": code(3)}).status_code == 200
    assert client.post(f"/planning/changesets/{second}/merge", headers=other, json={
        "codes": [WEST, EAST]}).status_code == 200
    assert client.post(f"/planning/changesets/{second}/merge", headers=planner, json={
        "codes": [WEST, EAST]}).status_code == 403  # someone else's draft
    assert client.post(f"/planning/changesets/{first}/publish", headers=planner).status_code == 200
    clash = client.post(f"/planning/changesets/{second}/publish", headers=other)
    assert clash.status_code == 409
    assert clash.json()["error"] == "conflict"
    assert f"changeset {first} ('a' by test planner)" in clash.json()["message"]
    listed = client.get("/planning/changesets", params={"area": COMMUNITY},
                        headers=auth(keys, "viewer")).json()
    assert [(c["id"], c["status"]) for c in listed] == [(second, "draft"), (first, "published")]
    assert client.delete(f"/planning/changesets/{second}", headers=other).json()["status"] == (
        "discarded")


def test_diff_between_two_times(client: TestClient, db: Session, keys: dict[str, str]) -> None:
    cases.two_grids_sharing_an_edge(db)
    planner = auth(keys, "planner")
    cs = client.post("/planning/changesets", json={"area_code": COMMUNITY, "reason": "m"},
                     headers=planner).json()["id"]
    client.post(f"/planning/changesets/{cs}/merge", headers=planner, json={"codes": [WEST, EAST]})
    at = client.post(f"/planning/changesets/{cs}/publish", headers=planner).json()["published_at"]
    t = datetime.fromisoformat(at)
    fc = client.get("/planning/diff", params={"area": COMMUNITY,
                                              "from": (t - timedelta(microseconds=1)).isoformat(),
                                              "to": t.isoformat()}, headers=planner).json()
    assert [(f["properties"]["code"], f["properties"]["change"]) for f in fc["features"]] == [
        (WEST, "changed"), (EAST, "retired")]


def test_repair_propose_and_import_draft_routes(
        client: TestClient, db: Session, keys: dict[str, str], tmp_path: Path) -> None:
    cases.two_grids_with_a_1m_gap(db)
    for i in range(4):
        cases.add_building(db, f"B{i}", 25 + 50 * i, 50, 150)
    planner = auth(keys, "planner")
    repaired = client.post("/planning/repair", json={"area_code": COMMUNITY}, headers=planner)
    assert repaired.status_code == 201, repaired.text
    assert repaired.json()["validation"]["ok"] is True
    assert [a["action"] for a in repaired.json()["changeset"]["report"]["actions"]] == [
        "fill_gap"]
    proposed = client.post("/planning/propose", json={"area_code": COMMUNITY}, headers=planner)
    assert proposed.status_code == 201, proposed.text
    assert [g["households"] for g in proposed.json()["changeset"]["report"]["grids"]] == [
        300, 300]
    assert proposed.json()["validation"]["ok"] is True
    layer = tmp_path / "redrawn.geojson"
    layer.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": WEST, "name": "west"},
         "geometry": mapping(cases.lonlat(box(0, 0, 100, 100)))},
        {"type": "Feature", "properties": {"code": EAST, "name": "east"},
         "geometry": mapping(cases.lonlat(box(100, 0, 200, 100)))}]}))
    with layer.open("rb") as fh:
        imported = client.post("/planning/import-draft", headers=planner,
                               data={"area_code": COMMUNITY}, files={"file": fh})
    assert imported.status_code == 201, imported.text
    assert imported.json()["changeset"]["report"]["changed"] == 2
    assert imported.json()["validation"]["ok"] is True
    assert client.post("/planning/propose", json={"area_code": COMMUNITY},
                       headers=auth(keys, "viewer")).status_code == 403


def test_split_balanced_and_move_buildings_routes(
        client: TestClient, db: Session, keys: dict[str, str]) -> None:
    cases.two_grids_sharing_an_edge(db)
    for i, x in enumerate((20, 50, 80)):
        cases.add_building(db, f"W{i}", x, 50, 100)
    planner = auth(keys, "planner")
    cs = client.post("/planning/changesets", json={"area_code": COMMUNITY, "reason": "r"},
                     headers=planner).json()["id"]
    moved = client.post(f"/planning/changesets/{cs}/move-buildings", headers=planner,
                        json={"from_code": WEST, "to_code": EAST, "buildings": ["W2"]})
    assert moved.status_code == 200, moved.text
    assert moved.json() == {"changed": [WEST, EAST]}
    split = client.post(f"/planning/changesets/{cs}/split-balanced", headers=planner,
                        json={"code": WEST, "parts": 2, "new_codes": [code(3)]})
    assert split.json() == {"changed": [WEST, code(3)]}
    view = client.get(f"/planning/changesets/{cs}/preview", headers=planner).json()
    assert {g["code"]: g["after"]["households"] for g in view["grids"]} == {
        WEST: 100, EAST: 100, code(3): 100}
    bad = client.post(f"/planning/changesets/{cs}/split-balanced", headers=planner,
                      json={"code": WEST, "parts": 1})
    assert bad.status_code == 422


def test_a_draft_is_handed_over_over_http(
        client: TestClient, db: Session, keys: dict[str, str]) -> None:
    cases.two_grids_sharing_an_edge(db)
    planner = auth(keys, "planner")
    cs = client.post("/planning/changesets", json={"area_code": COMMUNITY, "reason": "school"},
                     headers=planner).json()["id"]
    assert client.post(f"/planning/changesets/{cs}/handover", json={"to": ""},
                       headers=planner).status_code == 422
    given = client.post(f"/planning/changesets/{cs}/handover", json={"to": "planner wang"},
                        headers=planner)
    assert given.status_code == 200, given.text
    assert given.json()["author"] == "planner wang"
    assert [(h["from"], h["to"], h["by"]) for h in given.json()["report"]["handovers"]] == [
        ("test planner", "planner wang", "test planner")]
    again = client.post(f"/planning/changesets/{cs}/reshape", headers=planner,
                        json={"code": WEST, "geometry": cases.geojson(box(0, 0, 120, 100))})
    assert again.status_code == 403  # the draft is someone else's now
