"""PTZ presets: replace and read, the best preset in /locate and the camera commands, the
file import (all or nothing, problems with row, line and field)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.audit import Actor
from geo.errors import NotFound, ValidationFailed
from geo.locate import locate
from geo.video.commands import point_cameras_here
from geo.video.preset_file import import_presets
from geo.video.presets import Preset, presets_of, replace_presets
from tests.geo.video.scene import add_camera, at

PTZ = "14021300081320000002"
FIXED = "14021300081310000001"
ACTOR = Actor("测试", route="test")


def preset_views(db: Session, camera: str) -> dict[str | None, float]:
    return {r.preset: r.area_m2 for r in db.execute(text(
        "SELECT preset, area_m2 FROM camera_views WHERE valid_to IS NULL"
        " AND camera_code = :c"), {"c": camera})}


@pytest.fixture
def ptz_at_origin(db: Session) -> str:
    """A PTZ camera (360°, reach 100 m, 60° lens, zoom 20) at the origin, no buildings."""
    add_camera(db, PTZ, at(0, 0), kind="ptz", fov=360.0, height_m=None)
    return PTZ


def test_replace_stores_presets_and_their_views(db: Session, ptz_at_origin: str) -> None:
    stored = replace_presets(db, PTZ, [
        Preset(name="大门", pan_deg=90, tilt_deg=-10, fov_deg=40),
        Preset(name="路口", pan_deg=270, zoom=2, range_m=50)], ACTOR)
    assert [(p.name, p.pan_deg, p.tilt_deg, p.fov_deg, p.zoom, p.range_m)
            for p in stored.presets] == [("大门", 90.0, -10.0, 40.0, None, None),
                                         ("路口", 270.0, None, 30.0, 2.0, 50.0)]
    assert presets_of(db, PTZ) == stored
    areas = preset_views(db, PTZ)
    assert set(areas) == {None, "大门", "路口"}
    assert areas["大门"] == pytest.approx(math.pi * 100**2 * 40 / 360, rel=1e-3)
    assert areas["路口"] == pytest.approx(math.pi * 50**2 * 30 / 360, rel=1e-3)  # 60° / zoom 2


def test_replace_again_drops_old_presets_and_audits(db: Session, ptz_at_origin: str) -> None:
    replace_presets(db, PTZ, [Preset(name="大门", pan_deg=90, fov_deg=40)], ACTOR)
    replace_presets(db, PTZ, [], ACTOR)
    assert presets_of(db, PTZ).presets == []
    assert set(preset_views(db, PTZ)) == {None}
    rows = db.execute(text("SELECT actor, action, entity_id, jsonb_array_length(before),"
                           " jsonb_array_length(after) FROM audit_log WHERE entity ="
                           " 'camera_presets' AND entity_id = :ptz ORDER BY id"),
                      {"ptz": PTZ}).all()  # other tests commit presets of other cameras
    assert [tuple(r) for r in rows] == [("测试", "replace", PTZ, 0, 1),
                                        ("测试", "replace", PTZ, 1, 0)]


def test_bad_presets_name_index_and_field_and_change_nothing(db: Session,
                                                             ptz_at_origin: str) -> None:
    replace_presets(db, PTZ, [Preset(name="大门", pan_deg=90, fov_deg=40)], ACTOR)
    with pytest.raises(ValidationFailed) as failed:
        replace_presets(db, PTZ, [Preset(name="甲", pan_deg=0, fov_deg=30),
                                  Preset(name="甲", pan_deg=10),
                                  Preset(name="乙", pan_deg=20, fov_deg=30, range_m=150)], ACTOR)
    assert failed.value.details == [
        {"row": 2, "field": "name", "problem": "preset '甲' twice"},
        {"row": 2, "field": "fov_deg", "problem": "give fov_deg or zoom"},
        {"row": 3, "field": "range_m", "problem": "150 m is beyond the camera's range 100 m"}]
    assert [p.name for p in presets_of(db, PTZ).presets] == ["大门"]


def test_only_ptz_cameras_have_presets(db: Session) -> None:
    add_camera(db, FIXED, at(0, 0))
    with pytest.raises(ValidationFailed) as failed:
        replace_presets(db, FIXED, [Preset(name="甲", pan_deg=0, fov_deg=30)], ACTOR)
    assert failed.value.details == [{
        "camera_code": FIXED, "field": "camera_type",
        "problem": f"only PTZ cameras have presets; {FIXED} is fixed"}]
    with pytest.raises(NotFound):
        presets_of(db, "nope")


def test_locate_and_commands_name_the_narrowest_preset_seeing_the_spot(
        db: Session, ptz_at_origin: str) -> None:
    """Two presets both see a spot 50 m east: the narrower one (more pixels) is named."""
    replace_presets(db, PTZ, [Preset(name="A宽", pan_deg=90, fov_deg=90),
                              Preset(name="B窄", pan_deg=95, fov_deg=20),
                              Preset(name="C西", pan_deg=270, fov_deg=60)], ACTOR)
    east, north = at(50, 0), at(0, 50)
    assert locate(db, east.x, east.y).cameras[0].preset == "B窄"
    assert locate(db, north.x, north.y).cameras[0].preset is None
    (command,) = point_cameras_here(db, east.x, east.y)
    assert (command.code, command.preset) == (PTZ, "B窄")


def write(tmp_path: Path, name: str, body: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(body.encode(encoding))
    return path


def test_import_a_chinese_register_in_gbk(db: Session, tmp_path: Path,
                                          ptz_at_origin: str) -> None:
    path = write(tmp_path, "预置位.csv", f"国标编码,预置位名称,水平角,俯仰角,变倍,可视距离\n"
                 f"{PTZ},大门,90,-10,3,80\n{PTZ},路口,270,,1,\n", "gb18030")
    report = import_presets(db, path, ACTOR)
    assert (report.cameras, report.presets) == (1, 2)
    assert report.notes == ["预置位.csv is not UTF-8: read as GB18030 (GBK)"]
    assert [(p.name, p.pan_deg, p.tilt_deg, p.fov_deg, p.zoom, p.range_m)
            for p in presets_of(db, PTZ).presets] == [("大门", 90.0, -10.0, 20.0, 3.0, 80.0),
                                                      ("路口", 270.0, None, 60.0, 1.0, None)]


def test_import_geojson_ignores_geometry(db: Session, tmp_path: Path,
                                         ptz_at_origin: str) -> None:
    path = write(tmp_path, "presets.geojson", '{"type": "FeatureCollection", "features": ['
                 '{"type": "Feature", "geometry": null, "properties": {"camera_code": "'
                 + PTZ + '", "name": "大门", "pan_deg": 90, "fov_deg": 40}}]}')
    assert import_presets(db, path, ACTOR).presets == 1
    assert [p.name for p in presets_of(db, PTZ).presets] == ["大门"]


def test_a_bad_file_names_row_line_and_field_and_changes_nothing(
        db: Session, tmp_path: Path, ptz_at_origin: str) -> None:
    add_camera(db, FIXED, at(10, 0))
    replace_presets(db, PTZ, [Preset(name="旧", pan_deg=0, fov_deg=30)], ACTOR)
    path = write(tmp_path, "presets.csv", "camera_code,name,pan_deg,fov_deg\n"
                 f"{PTZ},大门,90,40\n{PTZ},路口,360,40\n,空,10,10\n"
                 f"14021300081320009999,无,10,10\n{FIXED},枪机,10,10\n")
    with pytest.raises(ValidationFailed) as failed:
        import_presets(db, path, ACTOR)
    assert failed.value.message == "4 problems in presets.csv"
    assert failed.value.details == [
        {"row": 2, "id": PTZ, "field": "pan_deg", "line": 3,
         "problem": "Input should be less than 360 (got '360')"},
        {"row": 3, "id": "", "field": "camera_code", "line": 4, "problem": "empty"},
        {"row": 4, "id": "14021300081320009999", "field": "camera_code", "line": 5,
         "problem": "no camera 14021300081320009999"},
        {"row": 5, "id": FIXED, "field": "camera_type", "line": 6,
         "problem": f"only PTZ cameras have presets; {FIXED} is fixed"}]
    assert [p.name for p in presets_of(db, PTZ).presets] == ["旧"]


def test_a_file_without_the_camera_column_is_refused(db: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "presets.csv", "name,pan_deg,remark\n大门,90,x\n")
    with pytest.raises(ValidationFailed) as failed:
        import_presets(db, path, ACTOR)
    assert failed.value.details == [
        {"row": None, "field": "camera_code",
         "problem": "presets.csv has no column camera_code (or camera, 摄像机编码, 设备编码, "
                    "国标编码)"},
        {"row": None, "field": "remark", "problem": "column 'remark' feeds no preset field"}]
