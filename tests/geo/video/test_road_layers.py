"""The roads and entrances layers (issue #16): import with register headers and OSM words,
every bad row refused naming its row and field (nothing written), export round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shapely.geometry import LineString, MultiLineString, Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ValidationFailed
from geo.exporter import ExportFilter, export_file
from geo.importer import import_file
from tests.geo.importer_files import COMMUNITY, WEST_GRID, two_grids_geojson, write_geojson

MAIN_STREET = LineString([(113.300, 40.080), (113.310, 40.080)])
FORKED_PATH = MultiLineString([[(113.300, 40.081), (113.301, 40.081)],
                               [(113.301, 40.081), (113.301, 40.082)]])
SCHOOL = "S_SCHOOL"


def roads_file(tmp: Path) -> Path:
    """A register with Chinese headers: 道路编码, 道路名称, 道路等级 (an OSM word), 路宽."""
    return write_geojson(tmp / "roads.geojson", [
        {"道路编码": "R001", "道路名称": "和平路", "道路等级": "primary", "路宽": 24},
        {"道路编码": "R002", "道路名称": None, "道路等级": "步行道", "路宽": None}],
        [MAIN_STREET, FORKED_PATH])


def add_school(db: Session) -> None:
    db.execute(text("INSERT INTO sites (code, name, category, geom) VALUES (:c, '一小',"
                    " 'primary_school', ST_SetSRID(ST_MakePoint(113.305, 40.0805), 4326))"),
               {"c": SCHOOL})


def test_roads_import_with_register_headers(db: Session, tmp_path: Path) -> None:
    report = import_file(db, "roads", roads_file(tmp_path))
    assert (report.inserted, report.rejected) == (2, 0)
    rows = db.execute(text("SELECT code, name, kind, width_m, ST_AsText(geom) FROM roads"
                           " ORDER BY code")).all()
    assert [tuple(r) for r in rows] == [
        ("R001", "和平路", "主干道", 24.0, "MULTILINESTRING((113.3 40.08,113.31 40.08))"),
        ("R002", None, "步行道", None, "MULTILINESTRING((113.3 40.081,113.301 40.081),"
                                        "(113.301 40.081,113.301 40.082))")]


def test_entrances_import_and_export(db: Session, tmp_path: Path) -> None:
    add_school(db)
    path = write_geojson(tmp_path / "gates.geojson", [
        {"出入口编码": "G1", "出入口名称": "一小南门", "所属场所": SCHOOL, "出入口类型": "校门"}],
        [Point(113.305, 40.0801)])
    assert import_file(db, "entrances", path).inserted == 1
    out = tmp_path / "out.geojson"
    assert export_file(db, "entrances", out) == 1
    (feature,) = json.loads(out.read_text("utf-8"))["features"]
    assert feature["properties"] == {"code": "G1", "name": "一小南门", "site_code": SCHOOL,
                                     "kind": "校门"}
    assert feature["geometry"] == {"type": "Point", "coordinates": [113.305, 40.0801]}


def test_bad_rows_are_named_and_nothing_is_written(db: Session, tmp_path: Path) -> None:
    add_school(db)
    roads = write_geojson(tmp_path / "bad_roads.geojson", [
        {"code": "R1", "kind": "支路", "width_m": -3},
        {"code": "R2", "kind": "支路"},
        {"code": "R3", "kind": None}],
        [MAIN_STREET, Point(113.3, 40.08), MAIN_STREET])
    with pytest.raises(ValidationFailed) as caught:
        import_file(db, "roads", roads)
    found = {(d["row"], d["field"]) for d in caught.value.details}
    assert found == {(1, "width_m"), (2, "geometry"), (3, "kind")}
    gates = write_geojson(tmp_path / "bad_gates.geojson", [
        {"code": "G1", "site_code": "S_NOWHERE", "kind": "校门"},
        {"code": "G2", "site_code": SCHOOL, "kind": "校门"}],
        [Point(113.305, 40.0801), Point(113.305, 40.0802)])
    with pytest.raises(ValidationFailed) as caught:
        import_file(db, "entrances", gates)
    (detail,) = caught.value.details
    assert (detail["row"], detail["id"], detail["field"]) == (1, "G1", "site_code")
    assert "S_NOWHERE" in detail["problem"]
    assert db.scalar(text("SELECT count(*) FROM roads")) == 0
    assert db.scalar(text("SELECT count(*) FROM entrances")) == 0


def test_exports_limited_to_an_area_or_a_site(db: Session, tmp_path: Path) -> None:
    """A key limited to community 140213001001 exports the roads crossing its grids (not
    R002 north of them) and the entrances of its sites; ``parent`` picks one site's."""
    import_file(db, "grids", two_grids_geojson(tmp_path))  # 113.30–113.32, 40.08–40.09
    add_school(db)
    db.execute(text("UPDATE sites SET grid_code = :g"), {"g": WEST_GRID})
    far_road = LineString([(113.300, 40.095), (113.310, 40.095)])
    import_file(db, "roads", write_geojson(tmp_path / "r.geojson", [
        {"code": "R001", "kind": "支路"}, {"code": "R002", "kind": "支路"}],
        [MAIN_STREET, far_road]))
    import_file(db, "entrances", write_geojson(tmp_path / "g.geojson", [
        {"code": "G1", "site_code": SCHOOL}], [Point(113.305, 40.0801)]))

    def codes(layer: str, flt: ExportFilter) -> list[str]:
        out = tmp_path / f"{layer}.geojson"
        export_file(db, layer, out, flt=flt)
        return [f["id"] for f in json.loads(out.read_text("utf-8"))["features"]]

    assert codes("roads", ExportFilter(area=COMMUNITY)) == ["R001"]
    assert codes("roads", ExportFilter(area="140213002")) == []
    assert codes("entrances", ExportFilter(area=COMMUNITY)) == ["G1"]
    assert codes("entrances", ExportFilter(parent=SCHOOL)) == ["G1"]
    assert codes("entrances", ExportFilter(parent="S_OTHER")) == []
