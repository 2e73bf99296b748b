"""Field mapping (#13 item 1-3): accepted names, --map, unknown and look-alike columns, no
default over a stored value, dry run, derived parents, rows as people count them."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.catalog import get_layer
from geo.errors import ValidationFailed
from geo.field_names import alias_names, canonical_names, dbf_cuts
from geo.importer import import_file
from geo.importer.fields import looks_like, map_fields, parse_map, text_column
from geo.importer.problems import Problems, without_paths
from tests.geo.importer_files import (
    COMMUNITY,
    EAST_GRID,
    EAST_SQUARE,
    WEST_GRID,
    WEST_SQUARE,
    write_geojson,
    write_zipped_shapefile,
)

CAM_1 = "14021300081310000001"
CAM_2 = "14021300081310000002"


def mapped(columns: list[str], layer: str, explicit: dict[str, str] | None = None
           ) -> tuple[dict[str, str], list[str], list[str]]:
    problems = Problems([])
    mapping = map_fields(columns, get_layer(layer), explicit or {}, problems)
    return mapping.columns, mapping.unknown, [str(p["problem"]) for p in problems.items]


def test_shapefile_ten_character_names_map_to_their_fields() -> None:
    assert dbf_cuts("parent_code") == {"parent_cod"}
    assert mapped(["CODE", "NAME", "parent_cod", "households"], "grids")[0] == {
        "code": "CODE", "name": "NAME", "parent_code": "parent_cod", "households": "households"}
    assert mapped(["code", "name", "camera_typ", "azimuth_de", "fov_deg"], "cameras")[0] == {
        "code": "code", "name": "name", "camera_type": "camera_typ", "azimuth_deg": "azimuth_de",
        "fov_deg": "fov_deg"}


def test_chinese_headers_and_vendor_names_map() -> None:
    columns, unknown, problems = mapped(
        ["国标编码", "设备名称", "类型", "方位角", "视场角", "可视距离", "状态", "备注"], "cameras")
    assert columns == {"code": "国标编码", "name": "设备名称", "camera_type": "类型",
                       "azimuth_deg": "方位角", "fov_deg": "视场角", "range_m": "可视距离",
                       "status": "状态"}
    assert (unknown, problems) == (["备注"], [])
    assert mapped(["device_id", "name"], "cameras")[0] == {"code": "device_id", "name": "name"}
    # a GBK DBF keeps 10 bytes of a field name: 5 Chinese characters
    assert "视频流地址" in alias_names("cameras") and "code" in canonical_names("grids")


def test_own_name_wins_over_an_alias_and_the_alias_is_listed() -> None:
    columns, unknown, problems = mapped(["id", "code", "name"], "cameras")
    assert (columns, unknown, problems) == ({"code": "code", "name": "name"}, ["id"], [])


def test_lookalike_columns_are_refused_with_the_suggestion() -> None:
    columns, unknown, problems = mapped(["code", "name", "azimuth", "fov", "kind"], "cameras")
    assert columns == {"code": "code", "name": "name"}
    assert unknown == ["kind"]
    assert problems == [
        "column 'azimuth' looks like field 'azimuth_deg': rename it, or pass --map "
        "azimuth=azimuth_deg (or --map azimuth= to leave it out)",
        "column 'fov' looks like field 'fov_deg': rename it, or pass --map fov=fov_deg (or "
        "--map fov= to leave it out)"]
    assert looks_like("stauts", ["status", "name"]) == "status"
    assert looks_like("kind", ["camera_type", "status"]) is None


def test_explicit_map_feeds_and_leaves_out() -> None:
    columns, unknown, problems = mapped(["code", "name", "azimuth", "fov"], "cameras",
                                        parse_map(["azimuth=azimuth_deg", "fov="]))
    assert (columns, unknown, problems) == (
        {"azimuth_deg": "azimuth", "code": "code", "name": "name"}, [], [])
    assert mapped(["code"], "cameras", {"x": "name", "code": "size"})[2] == [
        "--map names column 'x', which the file does not have (columns: code)",
        "--map code=size: 'size' is not a field of cameras (code, name, camera_type, "
        "height_m, azimuth_deg, fov_deg, range_m, status, stream_url, site_code, "
        "tilt_min_deg, tilt_max_deg, fov_tele_deg)"]
    with pytest.raises(ValidationFailed, match="'azimuth' is not SRC=DST"):
        parse_map(["azimuth"])
    assert parse_map("a=b, c=") == {"a": "b", "c": ""}


def test_two_columns_for_one_field_are_refused() -> None:
    assert mapped(["国标编码", "设备编码", "name"], "cameras")[2] == [
        "columns '国标编码' and '设备编码' both feed field 'code': leave one out with "
        "--map 设备编码="]


def cameras_csv(tmp: Path, header: str, *rows: str) -> Path:
    path = tmp / "cameras.csv"
    path.write_text("\n".join((header, *rows)) + "\n", encoding="utf-8-sig")
    return path


def camera_rows(db: Session) -> list[tuple[object, ...]]:
    return [tuple(r) for r in db.execute(text(
        "SELECT code, name, camera_type, azimuth_deg, fov_deg, range_m, status FROM cameras "
        "ORDER BY code"))]


def test_chinese_camera_register_imports_with_value_aliases(db: Session,
                                                            tmp_path: Path) -> None:
    path = cameras_csv(tmp_path,
                       "国标编码,设备名称,类型,方位角,视场角,监控半径,状态,经度,纬度,备注",
                       f"{CAM_1},东门枪机,枪机,90,60,80,在线,113.30,40.08,新装",
                       f"{CAM_2},广场球机,球机,0,360,150,故障,113.31,40.09,")
    report = import_file(db, "cameras", path)
    assert (report.inserted, report.unknown_columns) == (2, ["备注"])
    assert report.mapping == {"code": "国标编码", "name": "设备名称", "camera_type": "类型",
                              "azimuth_deg": "方位角", "fov_deg": "视场角", "range_m": "监控半径",
                              "status": "状态"}
    assert "not imported (no such field): 备注; use --map COLUMN=FIELD to import one" \
        in report.notes
    assert camera_rows(db) == [(CAM_1, "东门枪机", "fixed", 90.0, 60.0, 80.0, "online"),
                               (CAM_2, "广场球机", "ptz", 0.0, 360.0, 150.0, "fault")]


def test_upsert_never_writes_defaults_over_stored_values(db: Session, tmp_path: Path) -> None:
    full = cameras_csv(tmp_path, "code,name,camera_type,azimuth_deg,fov_deg,range_m,status,lon,lat",
                       f"{CAM_1},东门,dome,135,90,120,maintenance,113.30,40.08")
    import_file(db, "cameras", full)
    names_only = tmp_path / "names.csv"
    names_only.write_text(f"code,name,azimuth_deg,lon,lat\n{CAM_1},东门新名,,113.30,40.08\n",
                          encoding="utf-8")
    report = import_file(db, "cameras", names_only)
    assert (report.inserted, report.updated) == (0, 1)
    assert camera_rows(db) == [(CAM_1, "东门新名", "dome", 135.0, 90.0, 120.0, "maintenance")]


def test_lookalike_column_refuses_the_file_and_writes_nothing(db: Session,
                                                            tmp_path: Path) -> None:
    path = cameras_csv(tmp_path, "code,name,azimuth,lon,lat", f"{CAM_1},东门,45,113.30,40.08")
    with pytest.raises(ValidationFailed) as info:
        import_file(db, "cameras", path)
    assert info.value.details == [{"row": None, "id": None, "field": "azimuth", "problem":
                                   "column 'azimuth' looks like field 'azimuth_deg': rename "
                                   "it, or pass --map azimuth=azimuth_deg (or --map azimuth= "
                                   "to leave it out)"}]
    assert db.scalar(text("SELECT count(*) FROM cameras")) == 0
    import_file(db, "cameras", path, field_map={"azimuth": "azimuth_deg"})
    assert camera_rows(db) == [(CAM_1, "东门", "fixed", 45.0, 60.0, 100.0, "online")]


def test_dry_run_reports_everything_and_writes_nothing(db: Session, tmp_path: Path) -> None:
    import_file(db, "cameras", cameras_csv(tmp_path, "code,name,lon,lat",
                                           f"{CAM_1},old,113.30,40.08"))
    path = tmp_path / "dry.csv"
    path.write_text(f"code,name,fov,lon,lat\n{CAM_1},new,60,113.30,40.08\n"
                    f"{CAM_2},\"two\nlines\",60,40.09,113.31\n", encoding="utf-8")
    report = import_file(db, "cameras", path, dry_run=True)
    assert (report.dry_run, report.rows, report.inserted, report.updated) == (True, 2, 0, 1)
    assert report.mapping == {"code": "code", "name": "name"}
    assert report.problems == [
        {"row": None, "id": None, "field": "fov", "problem":
         "column 'fov' looks like field 'fov_deg': rename it, or pass --map fov=fov_deg (or "
         "--map fov= to leave it out)"},
        {"row": 2, "id": CAM_2, "field": "geometry", "line": 3, "problem":
         "coordinates outside the valid range (lon -180..180, lat -90..90): (40.090000, "
         "113.310000); latitude and longitude look swapped: did you mean lon 113.310000, "
         "lat 40.090000?"}]
    assert camera_rows(db) == [(CAM_1, "old", "fixed", 0.0, 60.0, 100.0, "online")]


def test_grid_parent_comes_from_the_code(db: Session, tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "grids.geojson",
                         [{"网格编码": WEST_GRID, "网格名称": "西一"},
                          {"网格编码": EAST_GRID, "网格名称": "东二", "所属社区": COMMUNITY}],
                         [WEST_SQUARE, EAST_SQUARE])
    report = import_file(db, "grids", path)
    assert report.inserted == 2
    assert db.execute(text("SELECT code, parent_code, community_code FROM grids ORDER BY code")
                      ).all() == [(WEST_GRID, COMMUNITY, COMMUNITY),
                                  (EAST_GRID, COMMUNITY, COMMUNITY)]


def test_non_standard_grid_code_still_needs_its_parent(db: Session, tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "g14.geojson", [{"code": "14021300100101", "name": "x"}],
                         [WEST_SQUARE])
    with pytest.raises(ValidationFailed) as info:
        import_file(db, "grids", path)
    assert info.value.details == [{"row": 1, "id": "14021300100101", "field": "parent_code",
                                   "problem": "parent_code is empty and code '14021300100101' "
                                   "does not say its parent (not the 15-digit standard): "
                                   "give it"}]


def test_events_state_is_checked(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("编号,类别,上报时间,状态,结案时间,经度,纬度\n"
                    "E1,垃圾,2026-11-02 09:00,bogus,,113.3,40.08\n"
                    "E2,垃圾,2026-11-02 09:00,已结案,2026-11-03 10:00,113.3,40.08\n"
                    "E3,垃圾,2026-11-02 09:00,已结案,,113.3,40.08\n"
                    "E4,垃圾,2026-11-02 09:00,处置中,2026-11-01 10:00,113.3,40.08\n",
                    encoding="utf-8")
    with pytest.raises(ValidationFailed) as info:
        import_file(db, "events", path)
    assert info.value.details == [
        {"row": 1, "line": 2, "id": "E1", "field": "status",
         "problem": "status 'bogus' is not one of closed, dispatched, in_progress, rejected, "
                    "reported, resolved"},
        {"row": 4, "line": 5, "id": "E4", "field": "closed_at",
         "problem": "closed_at 2026-11-01 10:00 is before reported_at 2026-11-02 09:00"},
        {"row": 4, "line": 5, "id": "E4", "field": "status",
         "problem": "status 'in_progress' but closed_at 2026-11-01 10:00 is given"}]


def test_shapefile_with_cut_names_and_gbk_imports(db: Session, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"code": [WEST_GRID], "name": ["西一网格"], "parent_code": [COMMUNITY],
         "responsible_party": ["王芳"]}, geometry=[WEST_SQUARE], crs="EPSG:4326")
    report = import_file(db, "grids", write_zipped_shapefile(tmp_path, frame, "grids"))
    assert report.mapping == {"code": "code", "name": "name", "parent_code": "parent_cod",
                              "responsible_party": "responsibl"}
    assert db.execute(text("SELECT name, responsible_party FROM grids")).one() == (
        "西一网格", "王芳")


def test_messages_carry_no_server_paths() -> None:
    assert without_paths("'/tmp/gridlink-upload-k2/a.gpkg' not recognized") == \
        "'a.gpkg' not recognized"
    assert without_paths("see https://example.org/x/y") == "see https://example.org/x/y"


def test_single_swapped_point_in_area_gets_a_hint(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text("code,name,category,lon,lat\nA,a,school,113.3,40.08\n"
                    "B,b,school,40.08,113.3\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as info:
        import_file(db, "sites", path)
    assert [d["problem"] for d in info.value.details] == [
        "coordinates outside the valid range (lon -180..180, lat -90..90): (40.080000, "
        "113.300000); latitude and longitude look swapped: did you mean lon 113.300000, "
        "lat 40.080000?"]


def test_closing_time_alone_closes_an_existing_case(db: Session, tmp_path: Path) -> None:
    first = tmp_path / "reported.csv"
    first.write_text("编号,类别,上报时间,经度,纬度\nE9,垃圾,2026-11-02 09:00,113.3,40.08\n",
                     encoding="utf-8")
    import_file(db, "events", first)
    later = tmp_path / "closed.csv"
    later.write_text("编号,类别,上报时间,结案时间,一次性完成,经度,纬度\n"
                     "E9,垃圾,2026-11-02 09:00,2026-11-03 10:00,否,113.3,40.08\n",
                     encoding="utf-8")
    report = import_file(db, "events", later)
    assert (report.inserted, report.updated) == (0, 1)
    assert db.execute(text("SELECT status, closed_at::text, first_time, priority FROM events "
                           "WHERE client_id = 'E9'")).one() == (
        "closed", "2026-11-03 02:00:00+00", False, "normal")


def test_qgis_shapefile_draft_keeps_its_cut_parent_field(db: Session, tmp_path: Path) -> None:
    from geo.planning.changesets import draft_rows
    from geo.planning.imports import import_draft
    from tests.geo.planning import cases
    from tests.geo.planning.cases import COMMUNITY as PLAN_COMMUNITY
    from tests.geo.planning.cases import code

    cases.community(db, width=200)
    cases.add_grid(db, code(1), box(0, 0, 100, 100))
    cases.add_grid(db, code(2), box(100, 0, 200, 100))
    micro = code(1, parent=code(1))
    frame = gpd.GeoDataFrame(
        {"网格编码": [code(1), code(2), micro], "网格名称": ["一", "二", "一甲"],
         "parent_code": [PLAN_COMMUNITY, PLAN_COMMUNITY, code(1)]},
        geometry=[cases.lonlat(box(0, 0, 100, 100)), cases.lonlat(box(100, 0, 200, 100)),
                  cases.lonlat(box(0, 0, 100, 100))], crs="EPSG:4326")
    archive = write_zipped_shapefile(tmp_path, frame, "redrawn")  # parent_code → parent_cod
    draft = import_draft(db, PLAN_COMMUNITY, archive, "planner-li")
    rows = [(r["code"], r["level"], r["parent_code"], r["name"]) for r in draft_rows(db, draft.id)]
    assert (micro, "micro", code(1), "一甲") in rows


def test_text_read_by_arrow_is_trimmed_as_str_strip_trims() -> None:
    """A text column read by Arrow (pandas' ``str``) is trimmed in Arrow, of exactly what
    ``str.strip`` removes (ideographic and no-break spaces, the 0x1C-0x1F separators);
    blank or missing values are None, as for a column of Python strings."""
    raw = ["a", " b ", "\u3000c\u3000", "\x1cd\x1f", "\x85e", "   ", "", None, "广场 ", "f\u00a0"]
    expected = ["a", "b", "c", "d", "e", None, None, None, "广场", "f"]
    assert text_column(pd.Series(raw, dtype="str")) == expected
    assert text_column(pd.Series(raw, dtype=object)) == expected
