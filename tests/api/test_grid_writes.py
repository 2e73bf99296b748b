"""Grid writes per role: only a planner's import or a changeset changes grid geometry.

Community 140213001001 of tests/geo/planning/cases: west grid 0..100 m and east grid
100..200 m (``two_grids_sharing_an_edge``). The redrawn file moves their shared edge to
x = 120 m.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.keys import ROLES
from geo.roles import IMPORT_ROLES
from tests.conftest import auth
from tests.geo.planning import cases
from tests.geo.planning.cases import COMMUNITY, code

WEST, EAST = code(1), code(2)


def _file(shapes: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": c, "name": c[-3:], "parent_code": COMMUNITY},
         "geometry": mapping(cases.lonlat(g))} for c, g in shapes.items()]}).encode()
    return {"file": ("redrawn.geojson", io.BytesIO(body))}


REDRAWN = {WEST: box(0, 0, 120, 100), EAST: box(120, 0, 200, 100)}


def _versions(db: Session) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in db.execute(text(
        "SELECT code, version, valid_to IS NULL, changed_by, change_reason, "
        "round(ST_Area(geom::geography) / 100) * 100 FROM grids ORDER BY code, version"))]


@pytest.fixture
def city(client: TestClient, db: Session) -> TestClient:
    cases.two_grids_sharing_an_edge(db)
    db.commit()
    return client


@pytest.mark.parametrize("layer", sorted(IMPORT_ROLES))
def test_imports_per_layer_and_role(client: TestClient, keys: dict[str, str],
                                    layer: str) -> None:
    """Allowed roles reach the file check (400: no file); the others get 403 first."""
    answers = {role: client.post(f"/import/{layer}", headers=auth(keys, role),
                                 data={"x": "1"}, files={"other": ("a.txt", b"1")}).status_code
               for role in ROLES}
    assert answers == {role: 400 if role in IMPORT_ROLES[layer] else 403 for role in ROLES}


def test_import_roles_name_the_job() -> None:
    assert {layer for layer, roles in IMPORT_ROLES.items() if "dispatcher" in roles} == {
        "sites", "cameras", "workers", "roads", "entrances", "events"}
    assert {layer for layer, roles in IMPORT_ROLES.items() if "planner" in roles} == {
        "areas", "grids", "micro_grids", "buildings", "sites", "cameras", "workers", "roads",
        "entrances"}


def test_dispatcher_cannot_overwrite_grids(city: TestClient, db: Session,
                                           keys: dict[str, str]) -> None:
    before = _versions(db)
    response = city.post("/import/grids", headers=auth(keys, "dispatcher"), files=_file(REDRAWN))
    assert response.status_code == 403
    assert response.json()["details"] == [{"layer": "grids", "role": "dispatcher",
                                           "required_roles": ["admin", "planner"]}]
    assert _versions(db) == before


def test_planner_import_opens_versions_with_author_and_reason(
        city: TestClient, db: Session, keys: dict[str, str]) -> None:
    response = city.post("/import/grids", headers=auth(keys, "planner"),
                         params={"reason": "新小区"}, files=_file(REDRAWN))
    assert response.status_code == 200, response.text
    assert (response.json()["inserted"], response.json()["updated"]) == (0, 2)
    assert _versions(db) == [
        (WEST, 1, False, "test", None, 10000), (WEST, 2, True, "test planner", "新小区", 12000),
        (EAST, 1, False, "test", None, 10000), (EAST, 2, True, "test planner", "新小区", 8000)]
    same = city.post("/import/grids", headers=auth(keys, "planner"), files=_file(REDRAWN))
    assert (same.json()["inserted"], same.json()["updated"]) == (0, 0)


def test_import_without_reason_names_the_file(city: TestClient, db: Session,
                                              keys: dict[str, str]) -> None:
    city.post("/import/grids", headers=auth(keys, "planner"), files=_file(REDRAWN))
    assert db.scalar(text("SELECT DISTINCT change_reason FROM grids WHERE version = 2")) == (
        "import of redrawn.geojson")


def test_import_touching_an_open_draft_is_409(city: TestClient, db: Session,
                                              keys: dict[str, str]) -> None:
    planner = auth(keys, "planner")
    cs = city.post("/planning/changesets", json={"area_code": COMMUNITY, "reason": "学校"},
                   headers=planner).json()["id"]
    city.post(f"/planning/changesets/{cs}/rename", json={"code": WEST, "new_name": "西"},
              headers=planner)
    before = _versions(db)
    response = city.post("/import/grids", headers=planner, files=_file(REDRAWN))
    assert response.status_code == 409
    assert response.json()["message"] == (
        f"grid {WEST} is in open draft changeset {cs} ('学校' by test planner); publish or "
        "discard that draft before importing")
    assert response.json()["details"] == [
        {"changeset": cs, "grid": WEST, "author": "test planner", "reason": "学校"}]
    assert _versions(db) == before


def test_publish_after_an_import_is_409(city: TestClient, db: Session,
                                        keys: dict[str, str]) -> None:
    """Draft opened, grids imported, then the draft edited: publishing would undo the
    import, so it answers 409 naming the import's version."""
    planner = auth(keys, "planner")
    cs = city.post("/planning/changesets", json={"area_code": COMMUNITY, "reason": "学校"},
                   headers=planner).json()["id"]
    imported = city.post("/import/grids", headers=planner, params={"reason": "新小区"},
                         files=_file(REDRAWN))
    assert imported.status_code == 200, imported.text
    city.post(f"/planning/changesets/{cs}/reshape", headers=planner,
              json={"code": WEST, "geometry": cases.geojson(box(0, 0, 100, 100))})
    published = city.post(f"/planning/changesets/{cs}/publish", headers=planner)
    assert published.status_code == 409, published.text
    assert published.json()["message"].endswith(
        f"grid {WEST} was changed since by test planner ('新小区'). Open a new draft on the "
        "current data.")
    assert {(d["grid"], d["version"], d["reason"]) for d in published.json()["details"]} >= {
        (WEST, 2, "新小区")}
    assert [v[:3] for v in _versions(db)] == [(WEST, 1, False), (WEST, 2, True),
                                              (EAST, 1, False), (EAST, 2, True)]
