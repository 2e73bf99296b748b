"""Files as ArcGIS/QGIS and registers write them (#13 done-when), through both the CLI and
POST /import/{layer}: a zipped GBK Shapefile with Chinese field names and no .cpg, one in
EPSG:4547 without .prj (--crs), a GeoPackage in EPSG:4490, a camera CSV with Chinese
headers. Names arrive intact and coordinates within 0.01 m."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import geopandas as gpd
import pyproj
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely import wkb
from shapely.geometry import box
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from tests.conftest import auth
from tests.geo.importer_files import write_zipped_shapefile

runner = CliRunner()
GEOD = pyproj.Geod(ellps="WGS84")
COMMUNITY = "140213003002"
GRIDS = {COMMUNITY + "001": ("鼓楼东街网格", box(113.3012345, 40.0912345, 113.3087654, 40.0987654)),
         COMMUNITY + "002": ("鼓楼西街网格", box(113.2937036, 40.0912345, 113.3012345, 40.0987654))}
CAMERAS = {"14021300081320000101": ("鼓楼东口球机", 113.3051234, 40.0951234),
           "14021300081320000102": ("鼓楼西口枪机", 113.2971234, 40.0941234)}


def grid_frame(crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    """The two grids with the Chinese field names a district register uses."""
    frame = gpd.GeoDataFrame(
        {"网格编码": list(GRIDS), "网格名称": [n for n, _ in GRIDS.values()],
         "户数": [310, 295]}, geometry=[g for _, g in GRIDS.values()], crs="EPSG:4326")
    return frame.to_crs(crs)


def gbk_shapefile_without_cpg(tmp: Path) -> tuple[Path, list[str]]:
    return write_zipped_shapefile(tmp, grid_frame(), "grids_gbk", encoding="GBK"), []


def gk_shapefile_without_prj(tmp: Path) -> tuple[Path, list[str]]:
    archive = write_zipped_shapefile(tmp, grid_frame("EPSG:4547"), "grids_4547",
                                     encoding="GBK", keep_prj=False)
    return archive, ["--crs", "EPSG:4547"]


def cgcs2000_geopackage(tmp: Path) -> tuple[Path, list[str]]:
    path = tmp / "grids_4490.gpkg"
    grid_frame("EPSG:4490").to_file(path, driver="GPKG", engine="pyogrio")
    return path, []


GRID_FILES: dict[str, Callable[[Path], tuple[Path, list[str]]]] = {
    "gbk_shapefile_without_cpg": gbk_shapefile_without_cpg,
    "gk_shapefile_without_prj": gk_shapefile_without_prj,
    "cgcs2000_geopackage": cgcs2000_geopackage,
}


def camera_csv(tmp: Path) -> Path:
    lines = ["国标编码,设备名称,类型,方位角,视场角,可视距离,状态,经度,纬度"]
    lines += [f"{code},{name},{'球机' if '球' in name else '枪机'},45,90,120,在线,{lon},{lat}"
              for code, (name, lon, lat) in CAMERAS.items()]
    path = tmp / "摄像机台账.csv"
    path.write_text("\n".join(lines) + "\n", encoding="gbk")
    return path


def farthest_m(stored: shapely.Geometry, original: shapely.Geometry) -> float:
    """Largest distance (m, on the ellipsoid) between matching vertices."""
    a = shapely.get_coordinates(shapely.normalize(stored))
    b = shapely.get_coordinates(shapely.normalize(original))
    assert a.shape == b.shape
    _, _, dist = GEOD.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    return float(max(abs(dist)))


def check_grids(conn: Connection | Session) -> None:
    rows = conn.execute(text(
        "SELECT code, name, parent_code, households, ST_AsBinary(geom) FROM grids "
        "WHERE parent_code = :c AND valid_to IS NULL ORDER BY code"), {"c": COMMUNITY}).all()
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (COMMUNITY + "001", "鼓楼东街网格", COMMUNITY, 310),
        (COMMUNITY + "002", "鼓楼西街网格", COMMUNITY, 295)]
    for code, *_, geom in rows:
        assert farthest_m(wkb.loads(bytes(geom)), GRIDS[code][1]) < 0.01


def check_cameras(conn: Connection | Session) -> None:
    rows = conn.execute(text(
        "SELECT code, name, camera_type, status, ST_X(geom), ST_Y(geom) FROM cameras "
        "WHERE code = ANY(:c) ORDER BY code"), {"c": list(CAMERAS)}).all()
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("14021300081320000101", "鼓楼东口球机", "ptz", "online"),
        ("14021300081320000102", "鼓楼西口枪机", "fixed", "online")]
    for code, *_, lon, lat in rows:
        _, _, dist = GEOD.inv(lon, lat, CAMERAS[code][1], CAMERAS[code][2])
        assert abs(dist) < 0.01


@pytest.fixture
def committed(engine: Engine) -> Iterator[Engine]:
    """Remove what the CLI committed."""
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM grids WHERE parent_code = :c"), {"c": COMMUNITY})
        conn.execute(text("DELETE FROM cameras WHERE code = ANY(:c)"), {"c": list(CAMERAS)})
        conn.execute(text("DELETE FROM district_crs WHERE district_code = '140213'"))


@pytest.mark.parametrize("kind", sorted(GRID_FILES))
def test_grid_files_through_the_cli(committed: Engine, tmp_path: Path, kind: str) -> None:
    path, options = GRID_FILES[kind](tmp_path)
    if options:  # metres without a .prj: refused, naming the option to give
        refused = runner.invoke(app, ["import", "grids", str(path)])
        assert refused.exit_code == 1 and "give the CRS with --crs" in refused.output
    result = runner.invoke(app, ["import", "grids", str(path), *options])
    assert result.exit_code == 0, result.output
    with committed.connect() as conn:
        check_grids(conn)


@pytest.mark.parametrize("kind", sorted(GRID_FILES))
def test_grid_files_through_the_api(client: TestClient, keys: dict[str, str], db: Session,
                                    tmp_path: Path, kind: str) -> None:
    path, options = GRID_FILES[kind](tmp_path)
    params = {"crs": options[1]} if options else {}
    r = client.post("/import/grids", params=params, headers=auth(keys, "planner"),
                    files={"file": (path.name, path.read_bytes())})
    assert r.status_code == 200, r.text
    assert r.json()["mapping"] == {"code": "网格编码", "name": "网格名称", "households": "户数"}
    check_grids(db)


def test_chinese_camera_register_through_the_cli(committed: Engine, tmp_path: Path) -> None:
    dry = runner.invoke(app, ["import", "cameras", str(camera_csv(tmp_path)), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "dry run: 2 row(s), 0 problem(s); would insert 2, update 0" in dry.output
    assert "国标编码" in dry.output and "azimuth_deg" in dry.output
    with committed.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM cameras WHERE code = ANY(:c)"),
                           {"c": list(CAMERAS)}) == 0
    result = runner.invoke(app, ["import", "cameras", str(camera_csv(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "fields: code ← 国标编码, name ← 设备名称, camera_type ← 类型" in result.output
    with committed.connect() as conn:
        check_cameras(conn)


def test_chinese_camera_register_through_the_api(client: TestClient, keys: dict[str, str],
                                                 db: Session, tmp_path: Path) -> None:
    path = camera_csv(tmp_path)
    dry = client.post("/import/cameras", params={"dry_run": "true"},
                      headers=auth(keys, "planner"), files={"file": (path.name, path.read_bytes())})
    assert dry.status_code == 200 and (dry.json()["dry_run"], dry.json()["inserted"]) == (True, 2)
    assert db.scalar(text("SELECT count(*) FROM cameras")) == 0
    r = client.post("/import/cameras", headers=auth(keys, "planner"),
                    files={"file": (path.name, path.read_bytes())})
    assert r.status_code == 200, r.text
    check_cameras(db)


def test_map_parameter_and_refused_lookalike_over_http(client: TestClient, keys: dict[str, str],
                                                       db: Session) -> None:
    body = ("code,name,azimuth,lon,lat\n14021300081320000101,东口,45,113.305,40.095\n").encode()
    refused = client.post("/import/cameras", headers=auth(keys, "planner"),
                          files={"file": ("c.csv", body)})
    assert refused.status_code == 422
    assert refused.json()["details"][0]["field"] == "azimuth"
    ok = client.post("/import/cameras", params={"map": "azimuth=azimuth_deg"},
                     headers=auth(keys, "planner"), files={"file": ("c.csv", body)})
    assert ok.status_code == 200, ok.text
    assert db.scalar(text("SELECT azimuth_deg FROM cameras")) == 45.0


def test_garbage_upload_names_no_server_path(client: TestClient, keys: dict[str, str]) -> None:
    r = client.post("/import/grids", headers=auth(keys, "planner"),
                    files={"file": ("grids.gpkg", b"not a geopackage at all" * 10)})
    assert r.status_code == 400, r.text
    body = r.text
    assert "grids.gpkg" in body and "/tmp" not in body and "gridlink-upload" not in body


def test_bulk_events_list_unknown_columns_and_keep_stored_values(
        client: TestClient, keys: dict[str, str], db: Session) -> None:
    first = ("client_id,category,reported_at,status,closed_at,priority,备注,lon,lat\n"
             "B1,垃圾,2026-11-02 09:00,closed,2026-11-03 10:00,high,老系统,113.3,40.08\n")
    r = client.post("/events/bulk", headers={**auth(keys, "dispatcher"),
                                             "content-type": "text/csv"},
                    content=first.encode())
    assert r.status_code == 200, r.text
    assert (r.json()["inserted"], r.json()["unknown_columns"]) == (1, ["备注"])
    again = "client_id,category,reported_at,lon,lat\nB1,垃圾,2026-11-02 09:00,113.3,40.08\n"
    r = client.post("/events/bulk", headers={**auth(keys, "dispatcher"),
                                             "content-type": "text/csv"},
                    content=again.encode())
    assert (r.json()["updated"], r.json()["mapping"]) == (1, {
        "client_id": "client_id", "category": "category", "reported_at": "reported_at"})
    assert db.execute(text("SELECT status, priority, closed_at::text, postponements FROM "
                           "events WHERE client_id = 'B1'")).one() == (
        "closed", "high", "2026-11-03 02:00:00+00", 0)
    bad = client.post("/events/bulk", headers={**auth(keys, "dispatcher"),
                                               "content-type": "text/csv"},
                      content=b"client_id,category\n\"unclosed,x\n")
    assert bad.status_code == 400, bad.text
    assert bad.json()["message"] == ("events.csv is not a readable CSV: Error tokenizing "
                                     "data. C error: EOF inside string starting at row 1")
