"""Answers of the tile routes that are JSON: the tile matrix set and TileJSON."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from api.schemas import Answer, Row


class TileMatrixSet(Answer):
    """An OGC Two Dimensional Tile Matrix Set (2.0 JSON): WebMercatorQuad, EPSG:3857."""

    id: str = Field(examples=["WebMercatorQuad"])
    title: str
    uri: str
    crs: str = Field(description="EPSG:3857 as an OGC URI")
    orderedAxes: list[str]
    tileMatrices: list[Row] = Field(description="one per zoom: scale, 256-pixel tiles, "
                                    "cellSize in metres")


class TileJSON(Answer):
    """TileJSON 3.0.0 of a layer: where its Mapbox Vector Tiles are and what they hold."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"tilejson": "3.0.0", "name": "grids", "description": "网格 (grids)",
         "tiles": ["https://gridlink.example/tiles/grids/WebMercatorQuad/{z}/{y}/{x}"],
         "scheme": "xyz", "minzoom": 0, "maxzoom": 18,
         "bounds": [-180.0, -85.0511287798066, 180.0, 85.0511287798066],
         "vector_layers": [{"id": "grids", "fields": {"code": "String"}}]}]})

    tilejson: str
    name: str
    tiles: list[str] = Field(description="tile URL templates")
    minzoom: int
    maxzoom: int
    bounds: list[float] = Field(description="west, south, east, north (degrees, EPSG:4326)")
    vector_layers: list[Row]
