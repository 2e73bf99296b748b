"""The app is built with its settings once (``create_app(settings)``) and every route reads
them from ``app.state.settings``: the FastAPI dependencies and the plain-ASGI /locate alike."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.auth import READ_ROLES
from api.settings import ApiSettings
from tests.api.test_auth import _routes
from tests.conftest import auth, client_in_transaction
from tests.e2e.city import INCIDENT, seed_small_city

CUSTOM = ApiSettings(public_read=True, locate_k=1, locate_radius_m=10.0, max_upload_mb=0.001,
                     bulk_event_limit=1, tile_url="https://tiles.example.test/{z}/{x}/{y}.png",
                     tile_attribution="example tiles")
"""Settings no environment variable sets in the tests: each one is seen by some route."""


def test_every_read_route_sees_public_read(db: Session, keys: dict[str, str]) -> None:
    """Without a key, every read route (FastAPI's and /locate) answers as a public read:
    no 401 anywhere, so each one read the app's ``public_read``."""
    reads = [path for method, path, roles in _routes() if method == "GET" and roles == READ_ROLES]
    assert "/locate" in reads and "/maps/events/1" in reads
    with client_in_transaction(db, CUSTOM) as client:
        statuses = {path: client.get(path).status_code for path in reads}
    assert {path: status for path, status in statuses.items() if status == 401} == {}


def test_locate_defaults_come_from_the_app_settings(db: Session, keys: dict[str, str]) -> None:
    seed_small_city(db.connection())
    db.commit()
    lon, lat = INCIDENT
    with client_in_transaction(db, CUSTOM) as client:
        answer = client.get("/locate", params={"lon": lon, "lat": lat}).json()
        page = client.get("/maps/locate", params={"lon": lon, "lat": lat}).text
    assert (answer["cameras_wanted"], [s["code"] for s in answer["sites"]]) == (1, [])
    assert "https://tiles.example.test/{z}/{x}/{y}.png" in page and "example tiles" in page


def test_limits_come_from_the_app_settings(db: Session, keys: dict[str, str]) -> None:
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(INCIDENT)},
               "properties": {"category": "x", "reported_at": "2026-11-01T00:00:00Z"}}
    with client_in_transaction(db, CUSTOM) as client:
        bulk = client.post("/events/bulk", headers=auth(keys, "dispatcher"),
                           json={"type": "FeatureCollection", "features": [feature] * 2})
        upload = client.post("/import/grids", headers=auth(keys, "planner"),
                             files={"file": ("g.geojson", b" " * 2000)})
    assert (bulk.status_code, bulk.json()["details"]) == (413, [{"limit": 1, "rows": 2}])
    assert (upload.status_code, upload.json()["details"][0]["limit_bytes"]) == (413, 1048)
    assert db.scalar(text("SELECT count(*) FROM events")) == 0


def test_import_checks_the_app_settings_service_area(db: Session, keys: dict[str, str]) -> None:
    """A camera outside the app's GRIDLINK_SERVICE_AREA is refused by /import, although the
    process's own settings would accept it (mainland China)."""
    near_datong = ApiSettings(service_area=(113.2, 40.0, 113.4, 40.2))
    body = "code,name,lon,lat\n14021300081310000009,西口,116.40,39.90\n"
    with client_in_transaction(db, near_datong) as client:
        answer = client.post("/import/cameras", headers=auth(keys, "dispatcher"),
                             files={"file": ("cams.csv", body.encode())})
    assert answer.status_code == 422, answer.text
    assert [(d["row"], d["field"]) for d in answer.json()["details"]] == [(1, "geometry")]
