"""The change feed replays to an identical layer: a GeoPackage kept by GDAL (``ogrinfo``
deletes, ``ogr2ogr -append`` upserts) from ``GET /changes`` equals a full export after
creates, edits, publishes and a retire made over HTTP on a real uvicorn; the events feed
likewise after reports, case actions and a close, for callers with a key only."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyogrio
import pytest
import shapely
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from geo.keys import create_key
from tests.live_server import Live, live_database, serving

SPLIT_OFF = "140213001002003"


@pytest.fixture(scope="module")
def feed_live(database_url: str) -> Iterator[Live]:
    server = make_url(database_url).set(database="postgres").render_as_string(
        hide_password=False)
    with live_database(server, f"gridlink_feed_{os.getpid()}") as url:
        engine = create_engine(url)
        with Session(engine) as session, session.begin():
            keys = {role: create_key(session, f"feed {role}", role)
                    for role in ("planner", "dispatcher", "viewer")}
        engine.dispose()
        with serving(url, keys) as running:
            yield running


def _call(live: Live, method: str, path: str, role: str = "planner", **kwargs: Any) -> Any:
    response = httpx.request(method, f"{live.url}{path}", headers=live.headers(role),
                             timeout=60, **kwargs)
    assert response.status_code in (200, 201), response.text
    return response.json()


def _replay(live: Live, gpkg: Path, since: int, seen: list[dict[str, Any]]) -> int:
    """Apply the feed after ``since`` to ``gpkg`` in pages of 3; the new cursor."""
    more = True
    while more:
        page = _call(live, "GET", "/changes", "viewer",
                     params={"layer": "grids", "since": since, "limit": 3})
        seen.extend(page["changes"])
        codes = ", ".join(f"'{c['id']}'" for c in page["changes"])  # digits from the feed
        if gpkg.exists() and codes:
            subprocess.run(["ogrinfo", str(gpkg), "-sql", f"DELETE FROM grids WHERE code IN "
                            f"({codes})"], check=True, capture_output=True)
        features = [c["feature"] for c in page["changes"] if c["op"] == "upsert"]
        if features:
            batch = gpkg.with_suffix(".page.geojson")
            batch.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
            append = ["-append"] if gpkg.exists() else []
            subprocess.run(["ogr2ogr", "-f", "GPKG", *append, "-nln", "grids", "-oo",
                            "DATE_AS_STRING=YES", str(gpkg), str(batch)],
                           check=True, capture_output=True)
        since, more = page["next"], page["more"]
    return since


def _rows(path: Path) -> list[tuple[Any, ...]]:
    """The layer's rows, by code: every property as text (dates as the feed wrote them),
    and the geometry as WKT."""
    options = {"DATE_AS_STRING": "YES"} if path.suffix == ".geojson" else {}
    frame = pyogrio.read_dataframe(path, **options).sort_values("code")
    columns = ["code", "name", "parent_code", "kind", "households", "population",
               "responsible_party", "management_level", "start_date", "end_date"]
    return [(*(None if v is None or v != v else str(v) for v in row[columns]),
             shapely.to_wkt(row.geometry, rounding_precision=7))
            for _, row in frame.iterrows()]


def _export(live: Live, folder: Path) -> Path:
    out = folder / "export.geojson"
    out.write_bytes(httpx.get(f"{live.url}/export/grids", headers=live.headers("viewer"),
                              timeout=60).content)
    return out


def _publish(live: Live, area: str, operation: str, body: dict[str, Any]) -> None:
    changeset = _call(live, "POST", "/planning/changesets",
                      json={"area_code": area, "reason": f"feed test: {operation}"})["id"]
    _call(live, "POST", f"/planning/changesets/{changeset}/{operation}", json=body)
    _call(live, "POST", f"/planning/changesets/{changeset}/publish")


def test_replaying_the_feed_gives_the_exported_layer(feed_live: Live, tmp_path: Path) -> None:
    gpkg, seen = tmp_path / "copy.gpkg", []  # type: ignore[var-annotated]
    cursor = _replay(feed_live, gpkg, 0, seen)
    assert len(_rows(gpkg)) == 7 and _rows(gpkg) == _rows(_export(feed_live, tmp_path))

    _publish(feed_live, "140213001002", "split", {  # a created grid, a reshaped one
        "code": "140213001002001", "new_code": SPLIT_OFF, "line": {
            "type": "LineString", "coordinates": [[113.3125, 40.079], [113.3125, 40.091]]}})
    # an edit by import: a new version with a new name
    renamed = _call(feed_live, "GET", "/ogc/collections/grids/items/140213001002002", "viewer")
    upload = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "geometry": renamed["geometry"], "properties": {
            "code": "140213001002002", "name": "东风二网格(改)", "parent_code": "140213001002"}}]}
    _call(feed_live, "POST", "/import/grids", files={"file": (
        "edit.geojson", json.dumps(upload).encode(), "application/geo+json")})
    seen.clear()
    cursor = _replay(feed_live, gpkg, cursor, seen)
    assert sorted((c["id"], c["op"]) for c in seen) == [
        ("140213001002001", "upsert"), ("140213001002002", "upsert"), (SPLIT_OFF, "upsert")]
    assert len(_rows(gpkg)) == 8 and _rows(gpkg) == _rows(_export(feed_live, tmp_path))

    _publish(feed_live, "140213001002", "retire",
             {"code": SPLIT_OFF, "successor": "140213001002001"})
    seen.clear()
    after = _replay(feed_live, gpkg, cursor, seen)
    assert sorted((c["id"], c["op"]) for c in seen) == [
        ("140213001002001", "upsert"), (SPLIT_OFF, "delete")]
    assert len(_rows(gpkg)) == 7 and _rows(gpkg) == _rows(_export(feed_live, tmp_path))
    assert _call(feed_live, "GET", "/changes", "viewer", params={
        "layer": "grids", "since": after}) == {"layer": "grids", "since": after,
                                               "next": after, "more": False, "changes": []}


def test_roads_are_in_the_feed(feed_live: Live) -> None:
    """Roads imported over HTTP, then re-imported with one width changed, come back from
    ``/changes?layer=roads`` as upserts, each with its feature drawn in its own direction."""
    def roads(width: float) -> bytes:
        return json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"code": code, "kind": "支路", "width_m": w},
             "geometry": {"type": "LineString", "coordinates": [[113.3, lat], [113.31, lat]]}}
            for code, lat, w in (("R1", 40.081, 8.0), ("R2", 40.082, width))]}).encode()

    start = _call(feed_live, "GET", "/changes", "viewer", params={"layer": "roads"})["next"]
    _call(feed_live, "POST", "/import/roads", files={"file": ("r.geojson", roads(6.0))})
    page = _call(feed_live, "GET", "/changes", "viewer",
                 params={"layer": "roads", "since": start})
    assert [(c["id"], c["op"]) for c in page["changes"]] == [("R1", "upsert"), ("R2", "upsert")]
    assert page["changes"][1]["feature"]["geometry"]["coordinates"] == [
        [[113.3, 40.082], [113.31, 40.082]]]
    _call(feed_live, "POST", "/import/roads", files={"file": ("r.geojson", roads(12.0))})
    again = _call(feed_live, "GET", "/changes", "viewer",
                  params={"layer": "roads", "since": page["next"]})
    # an import upserts every row of its file: R1 comes again, unchanged
    assert [(c["id"], c["feature"]["properties"]["width_m"]) for c in again["changes"]] == [
        ("R1", 8.0), ("R2", 12.0)]


def test_feed_errors_name_the_field(feed_live: Live) -> None:
    for params, status, field in (({"layer": "events", "since": "5"}, 422, "since"),
                                  ({"layer": "grids", "since": "1:2:"}, 422, "since"),
                                  ({"layer": "rivers"}, 404, "layer"),
                                  ({"layer": "grids", "since": -1}, 422, "since")):
        response = httpx.get(f"{feed_live.url}/changes", params=params,
                             headers=feed_live.headers("viewer"))
        assert response.status_code == status
        assert response.json()["details"][0]["field"] == field


EVENT_COLUMNS = ["client_id", "category", "description", "reported_at", "reporter", "source",
                 "status", "priority", "department", "due_at", "dispatched_at", "closed_at",
                 "postponements", "reworks", "first_time"]


def _replay_events(live: Live, gpkg: Path, since: str, seen: list[dict[str, Any]]) -> str:
    """Apply the events feed after ``since`` to ``gpkg`` in pages of 2 (the feature id is
    the event id, kept as the GeoPackage's fid); the new cursor."""
    more = True
    while more:
        page = _call(live, "GET", "/changes", "viewer",
                     params={"layer": "events", "since": since, "limit": 2})
        seen.extend(page["changes"])
        ids = ", ".join(str(int(c["id"])) for c in page["changes"])
        if gpkg.exists() and ids:
            subprocess.run(["ogrinfo", str(gpkg), "-sql", f"DELETE FROM events WHERE fid IN "
                            f"({ids})"], check=True, capture_output=True)
        features = [c["feature"] for c in page["changes"] if c["op"] == "upsert"]
        if features:
            batch = gpkg.with_suffix(".page.geojson")
            batch.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
            append = ["-append"] if gpkg.exists() else []
            subprocess.run(["ogr2ogr", "-f", "GPKG", *append, "-preserve_fid", "-nln", "events",
                            "-oo", "DATE_AS_STRING=YES", str(gpkg), str(batch)],
                           check=True, capture_output=True)
        since, more = page["next"], page["more"]
    return str(since)


def _event_rows(path: Path) -> list[tuple[Any, ...]]:
    """Every event's properties as text (counts and the 0/1 flag as integers: GeoJSON reads a
    flag column with nulls as floats, GeoPackage as integers) and its point as WKT, sorted."""
    options = {"DATE_AS_STRING": "YES"} if path.suffix == ".geojson" else {}
    frame = pyogrio.read_dataframe(path, **options)

    def cell(name: str, v: Any) -> str | None:
        if v is None or v != v:
            return None
        return str(int(float(v))) if name in ("postponements", "reworks", "first_time") else str(v)
    return sorted((*(cell(n, row[n]) for n in EVENT_COLUMNS),
                   shapely.to_wkt(row.geometry, rounding_precision=7))
                  for _, row in frame.iterrows())


def test_replaying_the_events_feed_gives_the_exported_events(feed_live: Live,
                                                             tmp_path: Path) -> None:
    gpkg, seen = tmp_path / "events.gpkg", []  # type: ignore[var-annotated]
    export = tmp_path / "events.geojson"

    def exported() -> list[tuple[Any, ...]]:
        export.write_bytes(httpx.get(f"{feed_live.url}/export/events", timeout=60,
                                     headers=feed_live.headers("viewer")).content)
        return _event_rows(export)

    cursor = _replay_events(feed_live, gpkg, "0", seen)
    assert len(_event_rows(gpkg)) == len(exported()) > 0 and _event_rows(gpkg) == exported()
    made = [_call(feed_live, "POST", "/events", "dispatcher", json={
        "client_id": f"FEED-{i}", "category": "占道经营", "lon": 113.3025 + i * 0.001,
        "lat": 40.0868}) for i in range(3)]
    for action in ("dispatch", "start", "resolve", "close"):  # one case closed
        _call(feed_live, "POST", f"/events/{made[0]['id']}/actions", "dispatcher",
              json={"action": action})
    _call(feed_live, "POST", f"/events/{made[1]['id']}/actions", "dispatcher",
          json={"action": "dispatch"})
    seen.clear()
    cursor = _replay_events(feed_live, gpkg, cursor, seen)
    assert sorted((c["id"], c["op"], c["feature"]["properties"]["status"]) for c in seen) == [
        (made[0]["id"], "upsert", "closed"), (made[1]["id"], "upsert", "dispatched"),
        (made[2]["id"], "upsert", "reported")]
    assert _event_rows(gpkg) == exported()
    again = _call(feed_live, "GET", "/changes", "viewer",
                  params={"layer": "events", "since": cursor})
    assert (again["changes"], again["more"]) == ([], False)


def test_the_events_feed_is_for_callers_with_a_key(feed_live: Live) -> None:
    anonymous = httpx.get(f"{feed_live.url}/changes", params={"layer": "events"})
    assert anonymous.status_code == 401
