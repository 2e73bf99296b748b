"""The camera model: new fields import with their aliases, missing ones get the documented
per-kind default, and the import report says so (never silently)."""

from __future__ import annotations

from pathlib import Path

from shapely.geometry import Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.importer import import_file
from geo.video.model import camera_height, tele_fov
from tests.geo.importer_files import write_geojson

PTZ = "14021300081320000001"
FIXED = "14021300081310000002"


def test_camera_register_with_tilt_and_zoom_and_a_missing_height(db: Session,
                                                                 tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "cams.geojson", [
        {"国标编码": PTZ, "设备名称": "球机", "类型": "球机", "安装高度": 8.5, "俯仰下限": -80,
         "俯仰上限": 10, "长焦视场角": 3.0, "视场角": 60},
        {"国标编码": FIXED, "设备名称": "枪机", "类型": "枪机", "视场角": 70},
    ], [Point(113.3, 40.08), Point(113.301, 40.08)])
    report = import_file(db, "cameras", path)
    assert report.inserted == 2
    assert [n for n in report.notes if "camera rows without" in n] == [
        "1 camera rows without height_m (rows 2): the per-kind default applies (fixed 4)",
        "1 camera rows without tilt_min_deg (rows 2): the per-kind default applies (fixed -30)",
        "1 camera rows without tilt_max_deg (rows 2): the per-kind default applies (fixed -30)",
        "1 camera rows without fov_tele_deg (rows 2): the per-kind default applies "
        "(fixed wide FOV)"]
    rows = db.execute(text("SELECT code, height_m, tilt_min_deg, tilt_max_deg, fov_tele_deg"
                           " FROM cameras ORDER BY code")).all()
    assert [tuple(r) for r in rows] == [(FIXED, None, None, None, None),
                                        (PTZ, 8.5, -80.0, 10.0, 3.0)]


def test_building_floors_and_height_import(db: Session, tmp_path: Path) -> None:
    square = Point(113.3, 40.08).buffer(0.0001)
    path = write_geojson(tmp_path / "b.geojson", [
        {"建筑编码": "B1", "层数": 6}, {"建筑编码": "B2", "建筑高度": 22.5}], [square, square])
    import_file(db, "buildings", path)
    rows = db.execute(text("SELECT code, floors, height_m FROM buildings ORDER BY code")).all()
    assert [tuple(r) for r in rows] == [("B1", 6, None), ("B2", None, 22.5)]


def test_per_kind_defaults() -> None:
    assert camera_height(None, "ptz") == 6.0
    assert camera_height(None, "dome") == 3.0
    assert camera_height(12.0, "ptz") == 12.0
    assert tele_fov(60.0, None, "ptz") == 3.0
    assert tele_fov(60.0, 5.0, "ptz") == 5.0
    assert tele_fov(70.0, None, "fixed") == 70.0
    assert tele_fov(360.0, None, "ptz") == 3.0  # a 60° lens that turns anywhere
