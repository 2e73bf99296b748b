"""geo.importer validation: every problem reported at once, exact details, nothing written."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import shapely
from shapely.geometry import Point, box
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import UnknownLayer, UnreadableFile, ValidationFailed
from geo.importer import import_file
from tests.geo.importer_files import (
    BOWTIE_WKT,
    COMMUNITY,
    EAST_GRID,
    EAST_SQUARE,
    WEST_GRID,
    WEST_SQUARE,
    two_grids_geojson,
    write_geojson,
)

GOOD_CAMERA = "14021300081310000001"


def counts(db: Session) -> dict[str, int]:
    return {t: int(db.scalar(text(f"SELECT count(*) FROM {t}")))
            for t in ("grids", "cameras", "sites", "events")}


def refused(db: Session, layer: str, path: Path, **kw: object) -> ValidationFailed:
    """Import expecting ValidationFailed; also checks nothing was written."""
    before = counts(db)
    with pytest.raises(ValidationFailed) as info:
        import_file(db, layer, path, **kw)  # type: ignore[arg-type]
    assert counts(db) == before
    return info.value


def grid(code: str, parent: str = COMMUNITY, name: str | None = "网格") -> dict[str, object]:
    return {"code": code, "name": name, "parent_code": parent}


def test_every_grid_problem_is_reported_at_once(db: Session, tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "bad_grids.geojson", [
        grid(WEST_GRID),                              # 0 fine
        grid("14021300100100X"),                      # 1 not digits
        grid("140213002001003"),                      # 2 wrong community prefix
        grid(EAST_GRID, name=None),                   # 3 missing name
        grid(WEST_GRID),                              # 4 duplicate of row 0
        grid("140213001001005"),                      # 5 bow-tie
        grid("140213001001006"),                      # 6 a point, not a polygon
        grid("140213001001007"),                      # 7 no geometry
    ], [WEST_SQUARE, EAST_SQUARE, EAST_SQUARE, EAST_SQUARE, WEST_SQUARE,
        shapely.from_wkt(BOWTIE_WKT), Point(113.3, 40.08), None])
    error = refused(db, "grids", path)
    assert error.message == "7 problems in 7 of 8 rows; nothing was imported"
    assert error.details == [
        {"row": 2, "id": "14021300100100X", "field": "code",
         "problem": "code '14021300100100X' must contain digits only"},
        {"row": 3, "id": "140213002001003", "field": "parent_code",
         "problem": "parent_code '140213001001' contradicts code '140213002001003', whose "
                    "prefix says '140213002001'"},
        {"row": 4, "id": EAST_GRID, "field": "name", "problem": "required field 'name' is empty"},
        {"row": 5, "id": WEST_GRID, "field": "code",
         "problem": f"duplicate code '{WEST_GRID}' (also row 1)"},
        {"row": 6, "id": "140213001001005", "field": "geometry",
         "problem": "invalid geometry: Self-intersection[113.305 40.085]"},
        {"row": 7, "id": "140213001001006", "field": "geometry",
         "problem": "geometry is a Point, expected MultiPolygon or Polygon"},
        {"row": 8, "id": "140213001001007", "field": "geometry",
         "problem": "no geometry (empty, or lon/lat/WKT not parseable)"},
    ]


def test_failed_import_leaves_existing_rows_unchanged(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    before = db.execute(text("SELECT code, name, households FROM grids ORDER BY code")).all()
    path = write_geojson(tmp_path / "half_bad.geojson",
                         [grid(WEST_GRID, name="改名"), grid("1402130010010")],
                         [WEST_SQUARE, EAST_SQUARE])
    refused(db, "grids", path)
    assert db.execute(text("SELECT code, name, households FROM grids ORDER BY code")).all() \
        == before


def test_missing_required_column_is_one_file_level_problem(db: Session, tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "no_name.geojson", [{"code": WEST_GRID}], [WEST_SQUARE])
    error = refused(db, "grids", path)
    assert error.details == [{"row": None, "id": None, "field": "name",
                              "problem": "required field 'name' is missing from the file "
                                         "(accepted names: see docs/import-export.md)"}]


def camera(code: str = GOOD_CAMERA, **fields: object) -> dict[str, object]:
    return {"code": code, "name": "cam", **fields}


def test_camera_fields_out_of_range(db: Session, tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "cams.geojson", [
        camera(azimuth_deg=360.0),
        camera("14021300081310000002", fov_deg=0.0, range_m=-5.0),
        camera("14021300081310000003", camera_type="zoom", status="broken"),
        camera("14021300081110000004"),
        camera("14021300081310000005", height_m="high"),
    ], [Point(113.3, 40.08)] * 5)
    error = refused(db, "cameras", path)
    assert error.details == [
        {"row": 1, "id": GOOD_CAMERA, "field": "azimuth_deg",
         "problem": "azimuth_deg 360 is above the exclusive maximum 360"},
        {"row": 2, "id": "14021300081310000002", "field": "fov_deg",
         "problem": "fov_deg 0 is below the exclusive minimum 0"},
        {"row": 2, "id": "14021300081310000002", "field": "range_m",
         "problem": "range_m -5 is below the exclusive minimum 0"},
        {"row": 3, "id": "14021300081310000003", "field": "camera_type",
         "problem": "camera_type 'zoom' is not one of dome, fixed, ptz"},
        {"row": 3, "id": "14021300081310000003", "field": "status",
         "problem": "status 'broken' is not one of fault, maintenance, offline, online"},
        {"row": 4, "id": "14021300081110000004", "field": "code",
         "problem": "camera id '14021300081110000004' has device type 111 (digits 11-13); "
                    "a camera is 131 or 132 in GB/T 28181"},
        {"row": 5, "id": "14021300081310000005", "field": "height_m",
         "problem": "height_m 'high' is not a number"},
    ]


def test_coordinates_out_of_range_and_out_of_area(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text("code,name,category,lon,lat\nA,a,school,113.3,95\nB,b,school,2.35,48.85\n"
                    "C,c,school,113.3,40.1\n", encoding="utf-8")
    error = refused(db, "sites", path)
    assert error.details == [
        {"row": 1, "line": 2, "id": "A", "field": "geometry", "problem":
         "coordinates outside the valid range (lon -180..180, lat -90..90): "
         "(113.300000, 95.000000)"},
        {"row": 2, "line": 3, "id": "B", "field": "geometry", "problem":
         "coordinates (2.350000, 48.850000) outside the service area lon 73..136, lat 3..54"},
    ]


def test_excel_mangled_codes_are_refused(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "grids.csv"
    path.write_text(f"code,name,parent_code,wkt\n1.40213E+14,W,{COMMUNITY},\"{WEST_SQUARE.wkt}\"\n"
                    f"{EAST_GRID},E,1.40213E+11,\"{EAST_SQUARE.wkt}\"\n", encoding="utf-8")
    error = refused(db, "grids", path)
    assert error.details == [
        {"row": 1, "line": 2, "id": "1.40213E+14", "field": "code", "problem":
         "code '1.40213E+14' is in scientific notation (Excel damage): the digits are lost; "
         "format the column as text in the source and export again"},
        {"row": 2, "line": 3, "id": EAST_GRID, "field": "parent_code", "problem":
         "parent code '1.40213E+11' is in scientific notation (Excel damage): the digits are "
         "lost; format the column as text in the source and export again"},
    ]


def test_numeric_codes_lose_leading_zeros_and_are_refused(db: Session, tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "num.geojson",
                         [{"code": 140213001001001, "name": "W", "parent_code": COMMUNITY}],
                         [WEST_SQUARE])
    error = refused(db, "grids", path)
    assert error.details == [{"row": 1, "id": 140213001001001, "field": "code", "problem":
                              "code 140213001001001 is stored as a number (Excel?): leading "
                              "zeros and digits may be lost; store codes as text"}]


def test_bad_dates_and_mojibake(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("client_id,category,reported_at,lon,lat\nE1,garbage,yesterday,113.3,40.1\n"
                    "E2,\ufffd\ufffd,2024-05-01,113.3,40.1\n", encoding="utf-8")
    error = refused(db, "events", path)
    assert error.details == [
        {"row": 1, "line": 2, "id": "E1", "field": "reported_at", "problem":
         "reported_at 'yesterday' is not a datetime (use ISO 8601, e.g. "
         "2024-05-01T08:30:00+08:00)"},
        {"row": 2, "line": 3, "id": "E2", "field": "category", "problem":
         "category holds undecodable characters (wrong encoding? pass --encoding GB18030 or "
         "UTF-8)"},
    ]


def test_skip_invalid_imports_good_rows_and_writes_rejects(db: Session, tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "mixed.geojson",
                         [grid(WEST_GRID), grid("1402130010010"), grid(EAST_GRID)],
                         [WEST_SQUARE, EAST_SQUARE, EAST_SQUARE])
    rejects = tmp_path / "rejects.csv"
    report = import_file(db, "grids", path, skip_invalid=True, rejects_path=rejects)
    assert (report.rows, report.inserted, report.rejected) == (3, 2, 1)
    assert db.scalars(text("SELECT code FROM grids ORDER BY code")).all() == [WEST_GRID,
                                                                             EAST_GRID]
    with open(rejects, encoding="utf-8-sig", newline="") as fh:
        assert list(csv.DictReader(fh)) == [{
            "row": "2", "id": "1402130010010", "field": "code",
            "problem": "code '1402130010010' has 13 digits, expected 14 or 15 or 20"}]


def test_skip_invalid_cannot_skip_file_level_problems(db: Session, tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "no_name.geojson",
                         [{"code": WEST_GRID, "parent_code": COMMUNITY}], [WEST_SQUARE])
    refused(db, "grids", path, skip_invalid=True)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.geojson", b"", "empty.geojson is empty"),
    ("truncated.geojson", b'{"type": "FeatureCollection", "features": [{"type": "Fea',
     "truncated.geojson could not be read as GeoJSON (malformed or truncated?)"),
    ("notes.docx", b"PK\x03\x04 something", "notes.docx: unsupported file type .docx"),
    ("broken.zip", b"PK\x03\x04 not really a zip", "broken.zip is not a readable zip"),
    ("bad.gpkg", b"SQLite format 3\x00 truncated", "bad.gpkg could not be read as GPKG"),
])
def test_unreadable_files(db: Session, tmp_path: Path, name: str, content: bytes,
                          message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnreadableFile) as info:
        import_file(db, "grids", path)
    assert info.value.message.startswith(message)


def test_feature_collection_without_features(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "none.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises((ValidationFailed, UnreadableFile)) as info:
        import_file(db, "grids", path)
    assert "no features" in info.value.message or "could not be read" in info.value.message


def test_unknown_layer(db: Session, tmp_path: Path) -> None:
    with pytest.raises(UnknownLayer) as info:
        import_file(db, "parks", two_grids_geojson(tmp_path))
    assert info.value.message.startswith("unknown layer 'parks': one of areas, grids")


def test_wrong_geometry_for_grid_in_zip_with_two_datasets(db: Session, tmp_path: Path) -> None:
    import zipfile
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.geojson", "{}")
        zf.writestr("b.csv", "x")
    with pytest.raises(UnreadableFile) as info:
        import_file(db, "grids", archive)
    assert "exactly one dataset" in info.value.message


def test_areas_need_their_parent(db: Session, tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "areas.geojson", [
        {"code": "140213", "name": "平城区", "level": "district"},
        {"code": "140213001", "name": "南关街道", "level": "street", "parent_code": "140213"},
        {"code": "140213002001", "name": "x", "level": "community", "parent_code": "140213002"},
    ], [box(113.2, 40.0, 113.4, 40.2)] * 3)
    error = refused(db, "areas", path)
    assert error.details == [{"row": 3, "id": "140213002001", "field": "parent_code",
                              "problem": "parent area '140213002' does not exist (import it "
                                         "first, or in the same file)"}]


def test_integer_too_large_for_its_column(db: Session, tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "huge.geojson",
                         [{**grid(WEST_GRID), "households": 10**12}], [WEST_SQUARE])
    assert refused(db, "grids", path).details == [{
        "row": 1, "id": WEST_GRID, "field": "households",
        "problem": "households 1000000000000 is above the maximum 2147483647"}]
