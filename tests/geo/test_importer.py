"""geo.importer: each format, encodings, CRSs, upsert semantics (real PostGIS)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import Point, box
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from geo.errors import ValidationFailed
from geo.importer import import_file, import_frame
from tests.geo.importer_files import (
    COMMUNITY,
    EAST_GRID,
    EAST_SQUARE,
    WEST_GRID,
    WEST_SQUARE,
    sites_frame,
    two_grids_geojson,
    write_geojson,
    write_zipped_shapefile,
)


def grid_rows(db: Session) -> list[tuple[object, ...]]:
    return [tuple(r) for r in db.execute(text(
        "SELECT code, name, kind, level, parent_code, community_code, households, population, "
        "start_date::text, ST_AsText(geom) FROM grids WHERE valid_to IS NULL ORDER BY code"))]


def test_geojson_grids_import(db: Session, tmp_path: Path) -> None:
    report = import_file(db, "grids", two_grids_geojson(tmp_path))
    assert (report.rows, report.inserted, report.updated, report.rejected) == (2, 2, 0, 0)
    assert grid_rows(db) == [
        (WEST_GRID, "西一网格", "urban", "grid", COMMUNITY, COMMUNITY, 310, 820, "2024-01-01",
         "MULTIPOLYGON(((113.31 40.08,113.31 40.09,113.3 40.09,113.3 40.08,113.31 40.08)))"),
        (EAST_GRID, "东二网格", "rural", "grid", COMMUNITY, COMMUNITY, 290, 700, None,
         "MULTIPOLYGON(((113.32 40.08,113.32 40.09,113.31 40.09,113.31 40.08,113.32 40.08)))"),
    ]


def test_reimport_is_an_idempotent_upsert(db: Session, tmp_path: Path) -> None:
    """Grids equal to their current version get no new version (geo.planning.grid_imports)."""
    path = two_grids_geojson(tmp_path)
    import_file(db, "grids", path)
    before = grid_rows(db)
    again = import_file(db, "grids", path)
    assert (again.inserted, again.updated) == (0, 0)
    assert grid_rows(db) == before
    assert db.scalar(text("SELECT count(*) FROM grids")) == 2


def test_micro_grids_take_community_from_parent_grid(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    micro = write_geojson(tmp_path / "micro.geojson", [
        {"code": WEST_GRID + "01", "name": "西一-1", "parent_code": WEST_GRID}],
        [box(113.30, 40.08, 113.305, 40.09)])
    assert import_file(db, "micro_grids", micro).inserted == 1
    assert db.execute(text("SELECT level, kind, parent_code, community_code FROM grids "
                           "WHERE code = :c"), {"c": WEST_GRID + "01"}).one() == (
        "micro", "urban", WEST_GRID, COMMUNITY)


def test_micro_grid_without_parent_grid_is_refused(db: Session, tmp_path: Path) -> None:
    micro = write_geojson(tmp_path / "micro.geojson", [
        {"code": WEST_GRID + "01", "name": "西一-1", "parent_code": WEST_GRID}],
        [box(113.30, 40.08, 113.305, 40.09)])
    with pytest.raises(ValidationFailed) as info:
        import_file(db, "micro_grids", micro)
    assert info.value.details == [{
        "row": 1, "id": WEST_GRID + "01", "field": "parent_code",
        "problem": f"parent grid '{WEST_GRID}' does not exist (import it first, or in the "
                   "same file)"}]


def test_gpkg_sites_in_cgcs2000(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "sites.gpkg"
    sites_frame("EPSG:4490").to_file(path, engine="pyogrio")
    report = import_file(db, "sites", path)
    assert report.inserted == 2
    rows = db.execute(text("SELECT code, name, category, ST_AsText(geom) FROM sites "
                           "ORDER BY code")).all()
    assert [tuple(r) for r in rows] == [
        ("S001", "平城区第一小学", "school", "POINT(113.301 40.081)"),
        ("S002", "红旗广场农贸市场", "market",
         "POLYGON((113.312 40.081,113.312 40.082,113.311 40.082,113.311 40.081,113.312 40.081))"),
    ]


def test_zipped_shapefile_gbk_without_cpg(db: Session, tmp_path: Path) -> None:
    archive = write_zipped_shapefile(tmp_path, sites_frame(points_only=True), "sites_gbk",
                                     encoding="GB18030")
    report = import_file(db, "sites", archive)
    assert report.inserted == 2
    assert any("GB18030" in n for n in report.notes)
    assert db.scalars(text("SELECT name FROM sites ORDER BY code")).all() == [
        "平城区第一小学", "红旗广场农贸市场"]


def test_zipped_shapefile_utf8_with_cpg(db: Session, tmp_path: Path) -> None:
    archive = write_zipped_shapefile(tmp_path, sites_frame(points_only=True), "sites_utf8",
                                     encoding="UTF-8", keep_cpg=True)
    import_file(db, "sites", archive)
    assert db.scalar(text("SELECT name FROM sites WHERE code = 'S001'")) == "平城区第一小学"


def test_shapefile_without_prj_needs_crs(db: Session, tmp_path: Path) -> None:
    frame = sites_frame().to_crs(4547).iloc[:1]
    archive = write_zipped_shapefile(tmp_path, frame, "no_prj", keep_prj=False)
    with pytest.raises(ValidationFailed) as info:
        import_file(db, "sites", archive)
    assert info.value.details[0]["field"] == "crs"
    assert "declares no CRS" in info.value.message and "--crs" in info.value.message
    assert db.scalar(text("SELECT count(*) FROM sites")) == 0
    import_file(db, "sites", archive, crs="EPSG:4547")
    assert db.scalar(text("SELECT ST_Distance(geom::geography, "
                          "ST_MakePoint(113.301, 40.081)::geography) FROM sites")) < 0.01


def test_csv_lonlat_events(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("client_id,category,reported_at,lon,lat,description\n"
                    "E1,garbage,2024-05-01T08:30:00+08:00,113.301,40.081,垃圾暴露\n"
                    "E2,street_light,2024-05-01 09:00,113.302,40.082,\n", encoding="utf-8")
    assert import_file(db, "events", path).inserted == 2
    rows = db.execute(text(
        "SELECT client_id, category, status, priority, description, "
        "to_char(reported_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), ST_AsText(geom) "
        "FROM events ORDER BY client_id")).all()
    assert [tuple(r) for r in rows] == [
        ("E1", "garbage", "reported", "normal", "垃圾暴露", "2024-05-01 00:30",
         "POINT(113.301 40.081)"),
        ("E2", "street_light", "reported", "normal", None, "2024-05-01 01:00",
         "POINT(113.302 40.082)"),
    ]


def test_csv_wkt_grids(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "grids.csv"
    path.write_text(f"code,name,parent_code,wkt\n{WEST_GRID},West,{COMMUNITY},"
                    f"\"{WEST_SQUARE.wkt}\"\n", encoding="utf-8")
    assert import_file(db, "grids", path).inserted == 1
    assert db.scalar(text("SELECT ST_Equals(geom, ST_Multi(ST_GeomFromText(:w, 4326))) "
                          "FROM grids"), {"w": WEST_SQUARE.wkt})


def test_gbk_csv_without_bom(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "sites_gbk.csv"
    path.write_bytes("code,name,category,经度,纬度\nS009,大同市第三中学,school,113.3,40.1\n"
                     .encode("gbk"))
    report = import_file(db, "sites", path)
    assert report.inserted == 1 and any("GB18030" in n for n in report.notes)
    assert db.scalar(text("SELECT name FROM sites")) == "大同市第三中学"


def test_csv_encoding_option_wins(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "sites_big5.csv"
    path.write_bytes("code,name,category,lon,lat\nS010,學校,school,113.3,40.1\n".encode("big5"))
    import_file(db, "sites", path, encoding="big5")
    assert db.scalar(text("SELECT name FROM sites")) == "學校"


def _point_csv(tmp_path: Path, x: float, y: float, name: str = "pt.csv") -> Path:
    path = tmp_path / name
    path.write_text(f"code,name,category,x,y\nP1,点,school,{x!r},{y!r}\n", encoding="utf-8")
    return path


def _distance_to(db: Session, lon: float, lat: float) -> float:
    return float(db.scalar(text("SELECT ST_Distance(geom::geography, ST_MakePoint(:x, :y)"
                                "::geography) FROM sites"), {"x": lon, "y": lat}))


def test_gauss_kruger_4547_with_and_without_zone_prefix(db: Session, tmp_path: Path) -> None:
    x, y = gpd.GeoSeries([Point(113.301, 40.081)], crs=4326).to_crs(4547).iloc[0].coords[0]
    import_file(db, "sites", _point_csv(tmp_path, x, y), crs="EPSG:4547")
    assert _distance_to(db, 113.301, 40.081) < 0.01
    report = import_file(db, "sites", _point_csv(tmp_path, 38_000_000 + x, y, "pre.csv"),
                         crs="EPSG:4547")
    assert report.updated == 1 and any("zone prefix 38" in n for n in report.notes)
    assert _distance_to(db, 113.301, 40.081) < 0.01


def test_gk_prefixed_crs_4526_declared_in_gpkg(db: Session, tmp_path: Path) -> None:
    frame = sites_frame().iloc[:1].to_crs(4526)  # zone 38 with prefix in the easting
    path = tmp_path / "prefixed.gpkg"
    frame.to_file(path, engine="pyogrio")
    import_file(db, "sites", path)
    assert _distance_to(db, 113.301, 40.081) < 0.01


@pytest.mark.parametrize(("system", "forward"), [("gcj02", wgs84_to_gcj02),
                                                  ("bd09", wgs84_to_bd09)])
def test_offset_coordinates_are_converted_under_one_metre(
        db: Session, tmp_path: Path, system: str, forward: object) -> None:
    lon, lat = forward(113.301, 40.081)  # type: ignore[operator]
    import_file(db, "sites", _point_csv(tmp_path, float(lon), float(lat)), crs=system)
    assert _distance_to(db, 113.301, 40.081) < 1.0


def test_swapped_lonlat_is_detected(db: Session, tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as info:
        import_file(db, "sites", _point_csv(tmp_path, 40.081, 113.301))
    assert "swap the columns" in info.value.message
    assert info.value.details[0]["field"] == "geometry"


def test_swapped_easting_northing_is_detected(db: Session, tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as info:
        import_file(db, "sites", _point_csv(tmp_path, 4_437_000.0, 525_000.0), crs="4547")
    assert "easting and northing look swapped" in info.value.message


def test_import_frame_from_geodataframe(db: Session) -> None:
    frame = gpd.GeoDataFrame(
        {"code": ["34020000001320000001"], "name": ["东门"], "azimuth_deg": [90.0],
         "fov_deg": [60.0], "range_m": [80.0], "camera_type": ["dome"]},
        geometry=[Point(113.30, 40.08)], crs=4326)
    frame["code"] = ["14021300081310000001"]
    report = import_frame(db, "cameras", frame)
    assert report.inserted == 1
    assert db.execute(text("SELECT code, camera_type, azimuth_deg, fov_deg, range_m, status "
                           "FROM cameras")).one() == (
        "14021300081310000001", "dome", 90.0, 60.0, 80.0, "online")


def test_workers_have_no_geometry(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "workers.csv"
    path.write_text(f"code,name,role,phone,grid_code\nW1,张三,grid_leader,13800000000,"
                    f"{WEST_GRID}\n", encoding="utf-8")
    assert import_file(db, "workers", path).inserted == 1
    assert db.execute(text("SELECT code, name, role, phone, grid_code FROM workers")).one() == (
        "W1", "张三", "grid_leader", "13800000000", WEST_GRID)


def test_valid_polygon_with_z_is_stored_2d(db: Session, tmp_path: Path) -> None:
    square_z = shapely.force_3d(EAST_SQUARE, 12.5)
    path = write_geojson(tmp_path / "z.geojson", [
        {"code": EAST_GRID, "name": "东", "parent_code": COMMUNITY}], [square_z])
    import_file(db, "grids", path)
    assert db.scalar(text("SELECT ST_NDims(geom) FROM grids")) == 2


def test_plain_shp_path_gbk_without_cpg(db: Session, tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    sites_frame(points_only=True).to_file(folder / "sites.shp", encoding="GB18030",
                                          engine="pyogrio")
    (folder / "sites.cpg").unlink()
    report = import_file(db, "sites", folder / "sites.shp")
    assert report.inserted == 2
    assert db.scalars(text("SELECT name FROM sites ORDER BY code")).all() == [
        "平城区第一小学", "红旗广场农贸市场"]
