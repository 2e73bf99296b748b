"""Small hand-made layer files for the importer/exporter tests (named, near Datong)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
from shapely.geometry import Point, box, mapping

COMMUNITY = "140213001001"
WEST_GRID = "140213001001001"
EAST_GRID = "140213001001002"
# Two 0.01° squares sharing an edge at lon 113.31, inside community 140213001001.
WEST_SQUARE = box(113.30, 40.08, 113.31, 40.09)
EAST_SQUARE = box(113.31, 40.08, 113.32, 40.09)
BOWTIE_WKT = "POLYGON ((113.30 40.08, 113.31 40.09, 113.31 40.08, 113.30 40.09, 113.30 40.08))"


def two_grids_rows() -> list[dict[str, Any]]:
    return [
        {"code": WEST_GRID, "name": "西一网格", "parent_code": COMMUNITY, "kind": "urban",
         "households": 310, "population": 820, "start_date": "2024-01-01"},
        {"code": EAST_GRID, "name": "东二网格", "parent_code": COMMUNITY, "kind": "rural",
         "households": 290, "population": 700, "start_date": None},
    ]


def grid_row(code: str, parent: str = COMMUNITY, name: str | None = "网格") -> dict[str, Any]:
    """A grid's file fields (code, name, parent community)."""
    return {"code": code, "name": name, "parent_code": parent}


def feature_collection(rows: list[dict[str, Any]], geoms: list[Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": None if g is None else mapping(g), "properties": r}
        for r, g in zip(rows, geoms, strict=True)]}


def write_geojson(path: Path, rows: list[dict[str, Any]], geoms: list[Any]) -> Path:
    path.write_text(json.dumps(feature_collection(rows, geoms), ensure_ascii=False),
                    encoding="utf-8")
    return path


def two_grids_geojson(tmp: Path) -> Path:
    return write_geojson(tmp / "two_grids.geojson", two_grids_rows(), [WEST_SQUARE, EAST_SQUARE])


def write_zipped_shapefile(tmp: Path, frame: gpd.GeoDataFrame, name: str, *,
                           encoding: str = "GB18030", keep_cpg: bool = False,
                           keep_prj: bool = True) -> Path:
    """Write a Shapefile in ``encoding`` and zip it, dropping the .cpg (and .prj) on request."""
    folder = tmp / f"{name}_parts"
    folder.mkdir()
    frame.to_file(folder / f"{name}.shp", encoding=encoding, engine="pyogrio")
    archive = tmp / f"{name}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in sorted(folder.iterdir()):
            if part.suffix == ".cpg" and not keep_cpg:
                continue
            if part.suffix == ".prj" and not keep_prj:
                continue
            zf.write(part, part.name)
    return archive


def sites_frame(crs: str = "EPSG:4326", points_only: bool = False) -> gpd.GeoDataFrame:
    """A school (point) and a market (square, or a point when ``points_only``)."""
    market = Point(113.311, 40.081) if points_only else box(113.311, 40.081, 113.312, 40.082)
    return gpd.GeoDataFrame(
        {"code": ["S001", "S002"], "name": ["平城区第一小学", "红旗广场农贸市场"],
         "category": ["school", "market"]},
        geometry=[Point(113.301, 40.081), market], crs=crs)
