"""One metric CRS per district (#13 item 4): chosen at first import, stored, used by planning
validation; areas within 0.1 % of geodesic across China; the service area setting."""

from __future__ import annotations

from pathlib import Path

import pyproj
import pytest
from shapely.geometry import Polygon, box
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import metric_crs_for, normalise_gk, parse_crs, plain_gk_epsg
from geo.districts import loaded_extent, metric_srid_for, service_area
from geo.importer import import_file
from geo.planning.validate import validate_area
from geo.settings import Settings, parse_bounds
from tests.geo.importer_files import write_geojson

GEOD = pyproj.Geod(ellps="WGS84")
CELL_DEG = 0.01
"""Grid cells of 0.01° (about 1.1 km north-south)."""

CITIES = {  # district code, name, south-west corner of its first community (lon, lat)
    "urumqi": ("650102", "天山区", 87.60, 43.79, 4538),
    "harbin": ("230102", "道里区", 126.60, 45.75, 4551),
    "sanya": ("460202", "海棠区", 109.50, 18.30, 4546),
    "datong": ("140213", "平城区", 113.30, 40.08, 4547),
}


def geodesic_m2(polygon: Polygon) -> float:
    """Area on the WGS 84 ellipsoid (m²)."""
    return abs(GEOD.geometry_area_perimeter(polygon)[0])


def import_district(db: Session, tmp: Path, district: str, name: str, lon: float,
                    lat: float) -> tuple[str, dict[str, Polygon]]:
    """A district, one street, one community of 2×2 grids; returns (community, grids)."""
    street, community = district + "001", district + "001001"
    whole = box(lon, lat, lon + 2 * CELL_DEG, lat + 2 * CELL_DEG)
    areas = write_geojson(tmp / f"{district}_areas.geojson", [
        {"code": district, "name": name, "level": "district"},
        {"code": street, "name": "一街道", "level": "street"},
        {"code": community, "name": "一社区", "level": "community"}], [whole] * 3)
    grids = {f"{community}{i + 1:03d}": box(lon + (i % 2) * CELL_DEG, lat + (i // 2) * CELL_DEG,
                                            lon + (i % 2 + 1) * CELL_DEG,
                                            lat + (i // 2 + 1) * CELL_DEG) for i in range(4)}
    grid_file = write_geojson(tmp / f"{district}_grids.geojson",
                              [{"code": c, "name": f"网格{c[-1]}"} for c in grids],
                              list(grids.values()))
    import_file(db, "areas", areas)
    import_file(db, "grids", grid_file)
    return community, grids


@pytest.mark.parametrize("city", sorted(CITIES))
def test_grid_areas_match_geodesic_in_every_zone(db: Session, tmp_path: Path,
                                                 city: str) -> None:
    district, name, lon, lat, srid = CITIES[city]
    community, grids = import_district(db, tmp_path, district, name, lon, lat)
    assert db.scalar(text("SELECT srid FROM district_crs WHERE district_code = :d"),
                     {"d": district}) == srid
    assert metric_srid_for(db, community, Settings()) == srid
    report = validate_area(db, community, settings=Settings())
    measured = {g.code: g.area_m2 for g in report.grids}
    assert sorted(measured) == sorted(grids)
    for code, polygon in grids.items():
        truth = geodesic_m2(polygon)
        assert abs(measured[code] - truth) / truth < 0.001, (code, measured[code], truth)


def test_override_still_wins_and_shows_why_a_local_zone_matters(db: Session,
                                                                tmp_path: Path) -> None:
    district, name, lon, lat, _ = CITIES["urumqi"]
    community, grids = import_district(db, tmp_path, district, name, lon, lat)
    forced = Settings(metric_srid=4547)  # CM 114°E, ~26° of longitude away
    assert metric_srid_for(db, community, forced) == 4547
    report = validate_area(db, community, settings=forced)
    code = sorted(grids)[0]
    error = next(g.area_m2 for g in report.grids if g.code == code) / geodesic_m2(grids[code])
    assert error - 1 > 0.05  # more than 5 % too large in a zone far away


def test_first_choice_is_kept_when_the_district_grows(db: Session, tmp_path: Path) -> None:
    district, name, lon, lat, srid = CITIES["datong"]
    import_district(db, tmp_path, district, name, lon, lat)
    far = write_geojson(tmp_path / "far.geojson",
                        [{"code": "140213002001001", "name": "远", "parent_code":
                          "140213002001"}], [box(115.6, 40.0, 115.61, 40.01)])
    report = import_file(db, "grids", far)
    assert report.notes == []
    assert db.scalar(text("SELECT srid FROM district_crs WHERE district_code = '140213'")) \
        == srid


def test_outside_china_uses_utm_from_pyproj() -> None:
    assert metric_crs_for([24.94], [60.17]).to_epsg() == 32635  # Helsinki
    assert metric_crs_for([87.6], [43.79]).to_epsg() == 4538
    assert metric_crs_for([151.2], [-33.87]).to_epsg() == 32756  # Sydney


@pytest.mark.parametrize(("epsg", "easting", "plain"), [
    (4547, 38_512_345.6, 4547),  # 3° zone 38 with prefix, declared plain
    (None, 38_512_345.6, 4547),  # 3° prefix, nothing declared
    (4526, 512_345.6, 4547),     # 3° prefixed CRS declared, eastings without prefix
    (None, 20_512_345.6, 4509),  # 6° zone 20 (CM 117°E) with prefix
    (4498, 512_345.6, 4509),     # 6° zone-20 CRS declared, eastings without prefix
    (4498, 20_512_345.6, 4509),  # 6° zone-20 CRS declared, eastings with prefix
])
def test_gauss_kruger_zones_3_and_6_degrees(epsg: int | None, easting: float,
                                            plain: int) -> None:
    declared = parse_crs(epsg) if epsg else None
    x, crs, note = normalise_gk([easting], [4_400_000.0], declared)
    assert crs is not None and crs.epsg == plain
    assert x[0] == pytest.approx(512_345.6) and note is not None
    assert plain_gk_epsg(20) == (4509, 117.0) and plain_gk_epsg(38) == (4547, 114.0)


def test_service_area_setting_accepts_plain_bounds() -> None:
    assert parse_bounds("20,58,30,62") == (20.0, 58.0, 30.0, 62.0)
    assert parse_bounds("[20, 58, 30, 62]") == (20.0, 58.0, 30.0, 62.0)
    assert Settings(service_area="20,58,30,62").service_area == (20.0, 58.0, 30.0, 62.0)
    with pytest.raises(ValueError, match="GRIDLINK_SERVICE_AREA must be minlon,minlat,"):
        parse_bounds("20,58,30")
    with pytest.raises(ValueError, match="need -180 <= minlon < maxlon"):
        parse_bounds("30,58,20,62")


def test_service_area_defaults_to_loaded_districts(db: Session, tmp_path: Path) -> None:
    assert loaded_extent(db) == (73.0, 3.0, 136.0, 54.0)  # nothing loaded yet
    district, name, lon, lat, _ = CITIES["harbin"]
    import_district(db, tmp_path, district, name, lon, lat)
    assert loaded_extent(db) == pytest.approx((126.1, 45.25, 127.12, 46.27))
    assert service_area(db, Settings()) == pytest.approx((126.1, 45.25, 127.12, 46.27))
    assert service_area(db, Settings(service_area=(1, 2, 3, 4))) == (1, 2, 3, 4)


def test_cli_names_a_bad_service_area_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from cli.main import app
    from geo.settings import get_settings

    monkeypatch.setenv("GRIDLINK_SERVICE_AREA", "20,58,30")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["db", "status"])
    finally:
        monkeypatch.delenv("GRIDLINK_SERVICE_AREA")
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert " ".join(result.output.split()) == (
        "error: GRIDLINK_SERVICE_AREA: Value error, GRIDLINK_SERVICE_AREA must be "
        "minlon,minlat,maxlon,maxlat in degrees (e.g. 112.9,39.8,113.6,40.3), got '20,58,30'")


@pytest.mark.parametrize(("crs", "prefix"), [("EPSG:4498", 20_000_000), ("EPSG:4509", 0),
                                             ("EPSG:4509", 20_000_000)])
def test_six_degree_zone_points_import_within_a_centimetre(db: Session, tmp_path: Path,
                                                           crs: str, prefix: int) -> None:
    lon, lat = 117.2001234, 39.0851234  # Tianjin, 6° zone 20 (CM 117°E)
    x, y = pyproj.Transformer.from_crs(4326, 4509, always_xy=True).transform(lon, lat)
    path = tmp_path / "sites.csv"
    path.write_text(f"code,name,category,x,y\nS1,学校,school,{x + prefix:.4f},{y:.4f}\n",
                    encoding="utf-8")
    report = import_file(db, "sites", path, crs=crs)
    assert report.inserted == 1
    got = db.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM sites")).one()
    assert abs(GEOD.inv(got[0], got[1], lon, lat)[2]) < 0.01


def test_district_loaded_before_the_choice_was_stored(db: Session, tmp_path: Path) -> None:
    district, name, lon, lat, srid = CITIES["harbin"]
    community, _ = import_district(db, tmp_path, district, name, lon, lat)
    db.execute(text("DELETE FROM district_crs"))  # as after migrating an older database
    assert metric_srid_for(db, community, Settings()) == srid
    assert metric_srid_for(db, "999999001001", Settings()) == 4547  # nothing known: default
