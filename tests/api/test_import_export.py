"""POST /import/{layer} and GET /export/{layer} over HTTP: success, errors, limits, roles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from api.app import create_app
from api.settings import ApiSettings
from tests.conftest import auth, client_in_transaction
from tests.geo.importer_files import (
    COMMUNITY,
    EAST_GRID,
    WEST_GRID,
    WEST_SQUARE,
    feature_collection,
    two_grids_rows,
)

EAST_SQUARE = box(113.31, 40.08, 113.32, 40.09)


def grids_body() -> bytes:
    fc = feature_collection(two_grids_rows(), [WEST_SQUARE, EAST_SQUARE])
    return json.dumps(fc, ensure_ascii=False).encode()


def upload(client: TestClient, keys: dict[str, str], layer: str, name: str, body: bytes,
           role: str = "planner", **params: str) -> object:
    return client.post(f"/import/{layer}", params=params, headers=auth(keys, role),
                       files={"file": (name, body)})


def assert_error(response: object, status: int, error: str) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == error
    return body  # type: ignore[no-any-return]


def test_import_then_export(client: TestClient, keys: dict[str, str], db: Session) -> None:
    response = upload(client, keys, "grids", "grids.geojson", grids_body())
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    report = response.json()  # type: ignore[attr-defined]
    assert {k: report[k] for k in ("layer", "rows", "inserted", "updated", "rejected")} == {
        "layer": "grids", "rows": 2, "inserted": 2, "updated": 0, "rejected": 0}
    exported = client.get("/export/grids", headers=auth(keys, "viewer"))
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/geo+json"
    fc = exported.json()
    assert [f["id"] for f in fc["features"]] == [WEST_GRID, EAST_GRID]
    assert "crs" not in fc


def test_export_filters_over_http(client: TestClient, keys: dict[str, str]) -> None:
    upload(client, keys, "grids", "grids.geojson", grids_body())
    response = client.get("/export/grids", headers=auth(keys, "viewer"),
                          params={"bbox": "113.301,40.081,113.305,40.085",
                                  "parent": COMMUNITY, "kind": "urban"})
    assert [f["id"] for f in response.json()["features"]] == [WEST_GRID]


def test_dispatcher_imports_events_with_crs_and_skip_invalid(
        client: TestClient, keys: dict[str, str], db: Session) -> None:
    csv_text = (b"client_id,category,reported_at,lon,lat\nE1,garbage,2024-05-01,113.3,40.1\n"
                b"E2,garbage,not-a-date,113.3,40.1\n")
    response = upload(client, keys, "events", "ev.csv", csv_text, role="dispatcher",
                      crs="gcj02", skip_invalid="true")
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    report = response.json()  # type: ignore[attr-defined]
    assert (report["inserted"], report["rejected"]) == (1, 1)
    assert report["problems"][0]["row"] == 2 and report["problems"][0]["field"] == "reported_at"
    assert db.scalar(text("SELECT count(*) FROM events")) == 1


def test_validation_failure_is_422_with_details(client: TestClient, keys: dict[str, str],
                                                db: Session) -> None:
    rows = two_grids_rows()
    rows[1]["code"] = "1402130010010"
    body = json.dumps(feature_collection(rows, [WEST_SQUARE, EAST_SQUARE])).encode()
    error = assert_error(upload(client, keys, "grids", "g.geojson", body), 422,
                         "validation_failed")
    assert error["details"] == [{"row": 2, "id": "1402130010010", "field": "code",
                                 "problem": "code '1402130010010' has 13 digits, expected "
                                            "14 or 15 or 20"}]
    assert db.scalar(text("SELECT count(*) FROM grids")) == 0


@pytest.mark.parametrize(("name", "body", "status", "error"), [
    ("bad.geojson", b'{"type": "FeatureCollection", "features": [}', 400, "unreadable_file"),
    ("cut.geojson", grids_body()[:120], 400, "unreadable_file"),
    ("empty.geojson", b"", 400, "unreadable_file"),
    ("grids.xlsx", b"PK\x03\x04xx", 400, "unreadable_file"),
    ("grids.csv", b"code,name\n", 400, "unreadable_file"),
    ("header_only.csv", b"code,name,parent_code,wkt\n", 422, "validation_failed"),
])
def test_bad_uploads_are_4xx(client: TestClient, keys: dict[str, str], name: str,
                             body: bytes, status: int, error: str) -> None:
    assert_error(upload(client, keys, "grids", name, body), status, error)


def test_unknown_layer_is_404(client: TestClient, keys: dict[str, str]) -> None:
    body = assert_error(upload(client, keys, "parks", "p.geojson", grids_body()), 404,
                        "unknown_layer")
    assert "one of areas, grids" in str(body["message"])
    assert_error(client.get("/export/parks", headers=auth(keys, "viewer")), 404,
                 "unknown_layer")


def test_unknown_crs_and_bad_bbox(client: TestClient, keys: dict[str, str]) -> None:
    assert_error(upload(client, keys, "grids", "g.geojson", grids_body(), crs="EPSG:999999"),
                 400, "unknown_crs")
    body = assert_error(client.get("/export/grids", headers=auth(keys, "viewer"),
                                   params={"bbox": "1,2,3"}), 422, "validation_failed")
    assert body["details"] == [{"field": "bbox", "value": "1,2,3"}]


def test_not_multipart_and_no_file(client: TestClient, keys: dict[str, str]) -> None:
    assert_error(client.post("/import/grids", content=grids_body(),
                             headers={**auth(keys, "planner"),
                                      "Content-Type": "application/geo+json"}),
                 415, "unsupported_media_type")
    assert_error(client.post("/import/grids", data={"other": "x"}, files={"x": ("a", b"1")},
                             headers=auth(keys, "planner")), 400, "unreadable_file")


def test_roles_for_import_and_export(client: TestClient, keys: dict[str, str]) -> None:
    assert_error(upload(client, keys, "grids", "g.geojson", grids_body(), role="viewer"), 403,
                 "forbidden")
    assert_error(upload(client, keys, "grids", "g.geojson", grids_body(), role="worker"), 403,
                 "forbidden")
    assert_error(client.get("/export/grids"), 401, "auth_required")


@pytest.fixture
def small_client(db: Session, keys: dict[str, str]) -> Iterator[TestClient]:
    """The app with GRIDLINK_MAX_UPLOAD_MB = 0.001 (1,048 bytes)."""
    with client_in_transaction(db, ApiSettings(max_upload_mb=0.001)) as test_client:
        yield test_client


def test_upload_over_the_limit_is_413(small_client: TestClient, keys: dict[str, str],
                                      db: Session) -> None:
    big = grids_body() + b" " * 2000
    body = assert_error(upload(small_client, keys, "grids", "g.geojson", big), 413, "too_large")
    assert body["details"][0]["limit_bytes"] == 1048  # type: ignore[index]
    assert db.scalar(text("SELECT count(*) FROM grids")) == 0


def test_chunked_upload_over_the_limit_is_413(small_client: TestClient,
                                              keys: dict[str, str]) -> None:
    boundary = "gridlinkboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"g.geojson\"\r\n\r\n").encode()

    def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding chunked
        yield head
        for _ in range(10):
            yield b" " * 500
        yield f"\r\n--{boundary}--\r\n".encode()

    response = small_client.post(
        "/import/grids", content=chunks(),
        headers={**auth(keys, "planner"),
                 "Content-Type": f"multipart/form-data; boundary={boundary}"})
    body = assert_error(response, 413, "too_large")
    assert body["details"][0]["limit_bytes"] == 1048  # type: ignore[index]


def test_export_streams_with_the_real_request_session(database_url: str, engine: Engine,
                                                      tmp_path: Path) -> None:
    """No session override: the response streams after the handler returned, so the
    request's session must stay open until the last chunk (committed rows, public read)."""
    from geo.importer import import_file

    with Session(engine) as session, session.begin():
        import_file(session, "grids", _geojson_file(tmp_path))
    try:
        with TestClient(create_app(ApiSettings(public_read=True))) as plain:
            response = plain.get("/export/grids")
        assert response.status_code == 200, response.text
        assert [f["id"] for f in response.json()["features"]] == [WEST_GRID, EAST_GRID]
    finally:
        with Session(engine) as session, session.begin():
            session.execute(text("DELETE FROM grids WHERE code = ANY(:c)"),
                            {"c": [WEST_GRID, EAST_GRID]})


def _geojson_file(tmp_path: Path) -> Path:
    path = tmp_path / "grids.geojson"
    path.write_bytes(grids_body())
    return path


def test_upload_file_name_cannot_escape_the_temp_folder(client: TestClient,
                                                        keys: dict[str, str]) -> None:
    assert_error(upload(client, keys, "grids", "..", grids_body()), 400, "unreadable_file")
    response = upload(client, keys, "grids", "../../etc/grids.geojson", grids_body())
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]


def test_zipped_gbk_shapefile_upload(client: TestClient, keys: dict[str, str], db: Session,
                                     tmp_path: Path) -> None:
    from tests.geo.importer_files import sites_frame, write_zipped_shapefile

    archive = write_zipped_shapefile(tmp_path, sites_frame(points_only=True), "sites")
    response = upload(client, keys, "sites", "sites.zip", archive.read_bytes())
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    assert response.json()["inserted"] == 2  # type: ignore[attr-defined]
    assert db.scalar(text("SELECT name FROM sites WHERE code = 'S001'")) == "平城区第一小学"
