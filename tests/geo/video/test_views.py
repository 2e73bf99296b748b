"""Stored visibility: views and shadows in PostGIS, versions, presets, affected cameras."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.importer import import_file
from geo.locate import locate
from geo.video.views import cameras_near, refresh_views
from tests.geo.importer_files import write_geojson
from tests.geo.video.scene import add_building, add_camera, at, footprint

CAM = "14021300081310000001"
PTZ = "14021300081320000002"
QUARTER_DISC = math.pi / 4 * 100**2


def covered_by(db: Session, table: str, point: object, camera: str) -> list[str]:
    """Rows of ``table`` (views: 'view'; shadows: building codes) of ``camera`` at a point."""
    column = "'view'" if table == "camera_views" else "building_code"
    current = " AND valid_to IS NULL AND preset IS NULL" if table == "camera_views" else ""
    return list(db.scalars(text(
        f"SELECT {column} FROM {table} WHERE camera_code = :c{current}"
        " AND ST_Covers(geom, ST_GeomFromText(:p, 4326))"), {"c": camera, "p": point.wkt}))  # type: ignore[attr-defined]


def test_building_in_front_of_a_stored_camera(db: Session) -> None:
    add_camera(db, CAM, at(0, 0))
    add_building(db, "B_FRONT", footprint(-5, 20, 5, 30))
    summary = refresh_views(db, [CAM])
    assert (summary.cameras, summary.views, summary.shadows) == (1, 1, 1)
    area, near = db.execute(text(
        "SELECT v.area_m2, s.near_m FROM camera_views v JOIN camera_shadows s"
        " ON s.camera_code = v.camera_code WHERE v.valid_to IS NULL AND v.camera_code = :c"),
        {"c": CAM}).one()
    theta = 2 * math.atan(5 / 20)
    assert area == pytest.approx(QUARTER_DISC - (0.5 * 100**2 * theta - 100), rel=0.01)
    assert near == pytest.approx(20.0, abs=0.05)
    assert covered_by(db, "camera_views", at(0, 10), CAM) == ["view"]
    assert covered_by(db, "camera_views", at(0, 50), CAM) == []
    assert covered_by(db, "camera_shadows", at(0, 50), CAM) == ["B_FRONT"]


def test_true_north_azimuth_is_turned_into_grid_north(db: Session) -> None:
    # a 0.5° camera pointing due north (true): EPSG:4547's grid north is ~0.45° off at
    # 113.3°E, so a spot due north on the ellipsoid is inside its view only when corrected
    add_camera(db, CAM, at(0, 0), fov=0.5, range_m=100.0)
    refresh_views(db, [CAM], resolution_deg=0.05)
    north = db.scalar(text(
        "SELECT ST_AsText(ST_Project(geography(geom), 95, 0)::geometry) FROM cameras"))
    assert db.scalar(text("SELECT ST_Covers(geom, ST_GeomFromText(:p, 4326)) FROM camera_views"
                          " WHERE valid_to IS NULL AND camera_code = :c"),
                     {"p": north, "c": CAM}) is True


def test_a_new_computation_closes_the_old_version(db: Session) -> None:
    add_camera(db, CAM, at(0, 0))
    refresh_views(db, [CAM])
    add_building(db, "B_FRONT", footprint(-5, 20, 5, 30), floors=10)
    assert cameras_near(db, footprint(-5, 20, 5, 30).wkt) == [CAM]
    assert cameras_near(db, footprint(-5, 200, 5, 230).wkt) == []
    refresh_views(db, cameras_near(db, footprint(-5, 20, 5, 30).wkt))
    rows = db.execute(text("SELECT valid_to IS NULL AS current, area_m2 FROM camera_views"
                           " WHERE camera_code = :c ORDER BY id"), {"c": CAM}).all()
    assert [r.current for r in rows] == [False, True]
    assert rows[0].area_m2 == pytest.approx(QUARTER_DISC, rel=1e-3)
    assert rows[1].area_m2 < rows[0].area_m2


def test_ptz_presets_get_their_own_views(db: Session) -> None:
    add_camera(db, PTZ, at(0, 0), kind="ptz", fov=360.0, height_m=None)
    db.execute(text("INSERT INTO camera_presets VALUES (:c, '大门', 90, 40),"
                    " (:c, '路口', 270, 60)"), {"c": PTZ})
    add_building(db, "B_EAST", footprint(20, -50, 30, 50))
    refresh_views(db, [PTZ])
    rows = {r.preset: r.area_m2 for r in db.execute(text(
        "SELECT preset, area_m2 FROM camera_views WHERE valid_to IS NULL AND camera_code = :c"),
        {"c": PTZ})}
    assert set(rows) == {None, "大门", "路口"}
    assert rows["路口"] == pytest.approx(math.pi * 100**2 * 60 / 360, rel=1e-3)
    assert rows["大门"] < math.pi * 100**2 * 40 / 360 * 0.3  # the east building fills it
    west = at(-50, 5)
    (ptz,) = locate(db, west.x, west.y).cameras
    assert (ptz.code, ptz.preset) == (PTZ, "路口")
    north = at(0, 50)
    assert locate(db, north.x, north.y).cameras[0].preset is None


def test_a_removed_camera_loses_its_view(db: Session) -> None:
    add_camera(db, CAM, at(0, 0))
    add_building(db, "B_FRONT", footprint(-5, 20, 5, 30))
    refresh_views(db, [CAM])
    db.execute(text("DELETE FROM cameras WHERE code = :c"), {"c": CAM})  # the trigger
    assert db.scalar(text("SELECT count(*) FROM camera_views WHERE valid_to IS NULL"
                          " AND camera_code = :c"), {"c": CAM}) == 0
    assert db.scalar(text("SELECT count(*) FROM camera_shadows WHERE camera_code = :c"),
                     {"c": CAM}) == 0
    refresh_views(db, [CAM])  # a code that is gone: nothing to compute, nothing left
    assert db.scalar(text("SELECT count(*) FROM camera_views WHERE camera_code = :c"),
                     {"c": CAM}) == 1


def test_imports_refresh_the_views_they_affect(db: Session, tmp_path: Path) -> None:
    cams = write_geojson(tmp_path / "cams.geojson", [
        {"code": CAM, "name": "north", "azimuth_deg": 0, "fov_deg": 90, "range_m": 100}],
        [at(0, 0)])
    import_file(db, "cameras", cams)
    assert db.scalar(text("SELECT area_m2 FROM camera_views WHERE valid_to IS NULL"
                          " AND camera_code = :c"), {"c": CAM}) == pytest.approx(QUARTER_DISC,
                                                                               rel=1e-3)
    houses = write_geojson(tmp_path / "b.geojson", [{"code": "B_FRONT", "floors": 20}],
                           [footprint(-5, 20, 5, 30)])
    import_file(db, "buildings", houses)
    assert db.scalar(text("SELECT count(*) FROM camera_views WHERE camera_code = :c"),
                     {"c": CAM}) == 2
    assert list(db.scalars(text("SELECT building_code FROM camera_shadows"
                                " WHERE camera_code = :c"), {"c": CAM})) == ["B_FRONT"]


def test_a_building_moved_away_frees_the_view(db: Session, tmp_path: Path) -> None:
    add_camera(db, CAM, at(0, 0))
    add_building(db, "B_FRONT", footprint(-5, 20, 5, 30))
    refresh_views(db, [CAM])
    moved = write_geojson(tmp_path / "b.geojson", [{"code": "B_FRONT"}],
                          [footprint(-5, 520, 5, 530)])
    import_file(db, "buildings", moved)
    assert db.scalar(text("SELECT count(*) FROM camera_shadows WHERE camera_code = :c"),
                     {"c": CAM}) == 0
    assert db.scalar(text("SELECT area_m2 FROM camera_views WHERE valid_to IS NULL"
                          " AND camera_code = :c"), {"c": CAM}) == pytest.approx(QUARTER_DISC,
                                                                               rel=1e-3)
