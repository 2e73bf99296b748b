"""geo.exporter: RFC 7946 output, filters, streaming, and export → import round trips."""

from __future__ import annotations

import json
import re
import types
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import Point, Polygon, shape
from sqlalchemy import text
from sqlalchemy.orm import Session

import geo.exporter
from geo.errors import ValidationFailed
from geo.exporter import ExportFilter, export_file, export_geojson, parse_bbox
from geo.importer import import_file
from tests.geo.importer_files import (
    COMMUNITY,
    EAST_GRID,
    WEST_GRID,
    WEST_SQUARE,
    sites_frame,
    two_grids_geojson,
    write_geojson,
)

CLOCKWISE_SQUARE = Polygon([(113.33, 40.08), (113.33, 40.09), (113.34, 40.09),
                            (113.34, 40.08), (113.33, 40.08)])
DEDICATED = "140213001001901"


def load_city(db: Session, tmp_path: Path) -> None:
    """Two grids, one clockwise dedicated grid, two sites, two events, one camera."""
    import_file(db, "grids", two_grids_geojson(tmp_path))
    import_file(db, "grids", write_geojson(tmp_path / "dedicated.geojson", [
        {"code": DEDICATED, "name": "第一小学专属网格", "parent_code": COMMUNITY,
         "kind": "dedicated", "responsible_party": "校长", "end_date": "2026-12-31"}],
        [CLOCKWISE_SQUARE]))
    gpkg = tmp_path / "sites.gpkg"
    sites_frame().to_file(gpkg, engine="pyogrio")
    import_file(db, "sites", gpkg)
    events = tmp_path / "events.csv"
    events.write_text("client_id,category,reported_at,lon,lat,description,reporter\n"
                      "E1,garbage,2024-05-01T08:30:00+08:00,113.30123456789,40.081,垃圾,张三\n"
                      "E2,street_light,2024-05-02 21:15:30,113.315,40.085,,\n", encoding="utf-8")
    import_file(db, "events", events)
    cams = write_geojson(tmp_path / "cams.geojson", [
        {"code": "14021300081310000001", "name": "东门", "camera_type": "ptz",
         "height_m": 6.5, "azimuth_deg": 45.0, "fov_deg": 90.0, "range_m": 120.0,
         "status": "offline", "stream_url": "rtsp://10.0.0.1/1", "site_code": "S001"}],
        [Point(113.3012, 40.0815)])
    import_file(db, "cameras", cams)
    workers = tmp_path / "workers.csv"
    workers.write_text(f"code,name,role,phone,grid_code\nW1,李四,grid_worker,,{WEST_GRID}\n",
                       encoding="utf-8")
    import_file(db, "workers", workers)
    import_file(db, "areas", write_geojson(tmp_path / "areas.geojson", [
        {"code": "140213", "name": "平城区", "level": "district", "population": 500000},
        {"code": "140213001", "name": "南关街道", "level": "street", "parent_code": "140213"},
    ], [WEST_SQUARE, WEST_SQUARE]))


def collection(db: Session, layer: str, flt: ExportFilter | None = None) -> dict[str, Any]:
    return json.loads("".join(export_geojson(db, layer, flt)))  # type: ignore[no-any-return]


def test_rfc7946_feature_collection(db: Session, tmp_path: Path) -> None:
    load_city(db, tmp_path)
    body = "".join(export_geojson(db, "grids"))
    fc = json.loads(body)
    assert set(fc) == {"type", "features"}  # no crs member
    assert [f["id"] for f in fc["features"]] == [WEST_GRID, EAST_GRID, DEDICATED]
    for feature in fc["features"]:
        geom = shape(feature["geometry"])
        for poly in geom.geoms:  # type: ignore[attr-defined]
            assert poly.exterior.is_ccw
        assert feature["properties"]["code"] == feature["id"]
    assert fc["features"][2]["properties"] == {
        "code": DEDICATED, "name": "第一小学专属网格", "parent_code": COMMUNITY,
        "kind": "dedicated", "households": 0, "population": 0, "responsible_party": "校长",
        "management_level": None, "start_date": None, "end_date": "2026-12-31"}
    decimals = [len(m) for m in re.findall(r"\d+\.(\d+)", body.split('"geometry"', 1)[1])]
    assert max(decimals) <= 7


def test_coordinates_are_rounded_to_seven_decimals(db: Session, tmp_path: Path) -> None:
    load_city(db, tmp_path)
    fc = collection(db, "events")
    assert fc["features"][0]["geometry"] == {"type": "Point",
                                             "coordinates": [113.3012346, 40.081]}


def test_filters_bbox_parent_kind(db: Session, tmp_path: Path) -> None:
    load_city(db, tmp_path)
    ids = lambda flt: [f["id"] for f in collection(db, "grids", flt)["features"]]  # noqa: E731
    assert ids(ExportFilter(bbox=(113.301, 40.081, 113.305, 40.085))) == [WEST_GRID]
    assert ids(ExportFilter(kind="dedicated")) == [DEDICATED]
    assert ids(ExportFilter(parent=COMMUNITY, kind="rural")) == [EAST_GRID]
    assert ids(ExportFilter(parent="140213001002")) == []
    sites = collection(db, "sites", ExportFilter(kind="market"))
    assert [f["id"] for f in sites["features"]] == ["S002"]


def test_events_filter_on_the_grid_of_their_assignment(db: Session, tmp_path: Path) -> None:
    load_city(db, tmp_path)  # E1 in the west grid, E2 in the east grid, neither assigned
    db.execute(text(
        "INSERT INTO event_assignments (event_id, grid_code, assignment)"
        " SELECT id, :g, 'covered' FROM events WHERE client_id = 'E1'"), {"g": WEST_GRID})
    ids = lambda flt: [f["id"] for f in collection(db, "events", flt)["features"]]  # noqa: E731
    assert ids(ExportFilter(parent=WEST_GRID)) == ["E1"]
    assert ids(ExportFilter(parent=EAST_GRID)) == []  # E2 was never assigned
    csv = tmp_path / "west_events.csv"
    assert export_file(db, "events", csv, "csv", ExportFilter(parent=WEST_GRID)) == 1
    assert [line.split(",")[0] for line in csv.read_text().splitlines()] == ["client_id", "E1"]


def test_bad_filters_are_validation_errors() -> None:
    assert parse_bbox("113.3,40.0,113.4,40.1") == (113.3, 40.0, 113.4, 40.1)
    with pytest.raises(ValidationFailed) as info:
        parse_bbox("113.4,40.0,113.3")
    assert info.value.details == [{"field": "bbox", "value": "113.4,40.0,113.3"}]
    with pytest.raises(ValidationFailed):
        parse_bbox("40.0,113.3,40.1,113.4")


def test_export_streams_in_batches(db: Session, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    load_city(db, tmp_path)
    monkeypatch.setattr(geo.exporter, "BATCH_ROWS", 1)
    stream = export_geojson(db, "grids")
    assert isinstance(stream, types.GeneratorType)
    chunks = list(stream)
    assert len(chunks) == 5  # header, one chunk per row (batch of 1), footer
    assert len(json.loads("".join(chunks))["features"]) == 3


def test_empty_layer_is_an_empty_collection(db: Session) -> None:
    assert collection(db, "workers") == {"type": "FeatureCollection", "features": []}


SNAPSHOTS = {
    "grids": "SELECT code, name, kind, level, parent_code, community_code, households, "
             "population, responsible_party, management_level, start_date, end_date, "
             "ST_AsText(ST_ForcePolygonCCW(geom), 7) FROM grids ORDER BY code",
    "sites": "SELECT code, name, category, ST_AsText(ST_ForcePolygonCCW(geom), 7) FROM sites "
             "ORDER BY code",
    "events": "SELECT client_id, category, description, reported_at, reporter, source, status, "
              "priority, ST_AsText(geom, 7) FROM events ORDER BY client_id",
    "workers": "SELECT code, name, role, phone, grid_code FROM workers ORDER BY code",
    "admin_areas": "SELECT code, name, level, parent_code, households, population, "
                   "ST_AsText(geom, 7) FROM admin_areas ORDER BY code",
    "cameras": "SELECT code, name, camera_type, height_m, azimuth_deg, fov_deg, range_m, "
               "status, stream_url, site_code, ST_AsText(geom, 7) FROM cameras ORDER BY code",
}


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "csv"])
@pytest.mark.parametrize("layer", sorted(SNAPSHOTS))
def test_round_trip_export_then_import(db: Session, tmp_path: Path, layer: str,
                                       fmt: str) -> None:
    load_city(db, tmp_path)
    before = [tuple(r) for r in db.execute(text(SNAPSHOTS[layer]))]
    path = tmp_path / f"out.{fmt}"
    name = "areas" if layer == "admin_areas" else layer
    assert export_file(db, name, path, fmt) == len(before)  # type: ignore[arg-type]
    db.execute(text(f"DELETE FROM {layer}"))
    report = import_file(db, name, path)
    assert (report.inserted, report.rejected) == (len(before), 0)
    assert [tuple(r) for r in db.execute(text(SNAPSHOTS[layer]))] == before


def test_reimport_of_export_updates_in_place(db: Session, tmp_path: Path) -> None:
    load_city(db, tmp_path)
    path = tmp_path / "grids.geojson"
    export_file(db, "grids", path, "geojson")
    report = import_file(db, "grids", path)
    # unchanged to 1e-7° (CCW rings, 7 decimals): no new versions (geo.planning.grid_imports)
    assert (report.inserted, report.updated) == (0, 0)
    assert shapely.equals(WEST_SQUARE, shapely.from_wkt(db.scalar(text(
        "SELECT ST_AsText(ST_GeometryN(geom, 1)) FROM grids WHERE code = :c"),
        {"c": WEST_GRID})))


@pytest.mark.parametrize("fmt", ["gpkg", "csv"])
def test_empty_layer_file_export(db: Session, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"grids.{fmt}"
    assert export_file(db, "grids", path, fmt) == 0  # type: ignore[arg-type]
    assert path.is_file()
    if fmt == "csv":
        assert path.read_text().strip() == ("code,name,parent_code,kind,households,population,"
                                            "responsible_party,management_level,start_date,"
                                            "end_date,wkt")
