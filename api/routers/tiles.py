"""Vector tiles (OGC API – Tiles shape, Mapbox Vector Tiles in WebMercatorQuad).

    GET /tiles                                         the tilesets (one per layer) with links
    GET /tiles/WebMercatorQuad                         the tile matrix set (OGC 2D TMS JSON)
    GET /tiles/{layer}/WebMercatorQuad                 the layer's TileJSON 3.0.0
    GET /tiles/{layer}/WebMercatorQuad/{z}/{y}/{x}     one tile, z = tileMatrix, y = tileRow,
                                                       x = tileCol (MVT)

Tiles are reads: a reader key (``X-API-Key``) or the map pages' session cookie; a key limited
to an area gets that area's features when no ``area`` is asked, and 403 for an area outside
it (geo.roles.readable_area). Every tile
answer carries ``Cache-Control: private, max-age=GRIDLINK_VECTOR_TILE_MAX_AGE_S`` and an
``ETag``; a request whose ``If-None-Match`` matches gets 304 with no body. The ETag of the
grids, micro-grids, cameras and coverage layers follows the layer's revision (bumped by every
committed write to the tables it is built from, e.g. a publish), so a 304 costs one small
query and the tile is not built, and a tile built once is kept by its ETag for every other
reader (``api/tile_cache.py``, 64 MB per process); the events layer's ETag is a digest of the
tile itself (built every time: events change by the second). The SQL is in ``geo/tiles.py``.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from api.auth import Reader
from api.deps import ReadSessionDep, SettingsDep
from api.schemas.tiles import TileJSON, TileMatrixSet
from api.settings import ApiSettings
from api.tile_cache import TileCache
from geo import tiles
from geo.fields import Text, Timestamp
from geo.roles import readable_area
from layers.events import period_of
from layers.tiles import tile_url

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
TILE_MATRIX_SET = "WebMercatorQuad"
TILE_FORMAT_VERSION = "1"
"""Part of every ETag: bump it when the tile SQL changes what a tile holds."""
TILE_CACHE_BYTES = 64 * 1024 * 1024
"""Built tiles kept per server process (api/tile_cache.py), by ETag."""
WEB_MERCATOR_HALF = 20037508.3427892
"""Half the side of the WebMercatorQuad square (EPSG:3857 metres)."""

Zoom = Annotated[int, Path(ge=0, le=tiles.WORLD_ZOOM_LIMIT, description="tileMatrix (zoom)")]
TileIndex = Annotated[int, Path(ge=0, le=2**tiles.WORLD_ZOOM_LIMIT,
                                description="tileRow (y, from the north) or tileCol (x)")]
Area = Annotated[Text | None, Query(description="only features under this admin area or "
                                    "grid code (code prefix)", max_length=40)]


class Link(BaseModel):
    href: str
    rel: str
    type: str | None = None
    title: str | None = None
    templated: bool | None = None


class Tileset(BaseModel):
    id: str = Field(examples=["grids"])
    title: str = Field(examples=["网格（户数、偏差）"])
    dataType: str = "vector"
    crs: str = "http://www.opengis.net/def/crs/EPSG/0/3857"
    tileMatrixSetURI: str = (
        "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad")
    links: list[Link]


class TilesetList(BaseModel):
    tilesets: list[Tileset]


def tiles_router() -> APIRouter:
    """The /tiles router: tilesets, the tile matrix set, TileJSON and MVT tiles."""
    router = APIRouter(prefix="/tiles", tags=["tiles"])
    cache = TileCache(TILE_CACHE_BYTES)

    @router.get("", summary="Vector tilesets (one per layer)", response_model=TilesetList)
    def tilesets(request: Request, _: Reader) -> TilesetList:
        return TilesetList(tilesets=[_tileset(request, layer)
                                     for layer in tiles.TILE_LAYERS.values()])

    @router.get(f"/{TILE_MATRIX_SET}", summary="The WebMercatorQuad tile matrix set (OGC TMS)",
                response_model=TileMatrixSet)
    def tile_matrix_set(settings: SettingsDep, _: Reader) -> dict[str, Any]:
        return web_mercator_quad(settings.vector_tile_max_zoom)

    @router.get(f"/{{layer}}/{TILE_MATRIX_SET}", summary="TileJSON 3.0.0 of a layer",
                response_model=TileJSON)
    def tilejson(layer: str, request: Request, settings: SettingsDep, caller: Reader,
                 area: Area = None) -> dict[str, Any]:
        return tilejson_of(tiles.tile_layer(layer), _base_url(request), settings,
                           readable_area(caller.area_code, area))

    @router.get(f"/{{layer}}/{TILE_MATRIX_SET}/{{z}}/{{y}}/{{x}}",
                summary="One Mapbox Vector Tile (z = tileMatrix, y = tileRow, x = tileCol)",
                response_class=Response,
                responses={200: {"content": {MVT_MEDIA_TYPE: {}}},
                           304: {"description": "the tile has not changed (If-None-Match)"}})
    def tile(layer: str, z: Zoom, y: TileIndex, x: TileIndex, request: Request,
             session: ReadSessionDep, settings: SettingsDep, caller: Reader, area: Area = None,
             start: Timestamp | None = None, end: Timestamp | None = None,
             category: Annotated[Text | None, Query(max_length=100)] = None) -> Response:
        found = tiles.tile_layer(layer)
        tiles.check_tile_address(z, x, y, settings.vector_tile_max_zoom)
        query = tile_query(found, settings, readable_area(caller.area_code, area), start, end,
                           category)
        revision = tiles.layer_revision(session, found)
        if revision is not None:
            tag = _etag(revision, found.name, query, z, x, y)
            if _matches(request, tag):
                return _not_modified(tag, settings)
            body = cache.get(tag) or tiles.vector_tile(session, found, z, x, y, query)
            cache.put(tag, body)
        else:
            body = tiles.vector_tile(session, found, z, x, y, query)
            tag = _etag(hashlib.sha256(body).hexdigest(), found.name)
            if _matches(request, tag):
                return _not_modified(tag, settings)
        return Response(body, media_type=MVT_MEDIA_TYPE, headers=_cache_headers(tag, settings))

    return router


def tile_query(layer: tiles.TileLayer, settings: ApiSettings, area: str | None,
               start: Timestamp | None, end: Timestamp | None,
               category: str | None) -> tiles.TileQuery:
    """What a tile of ``layer`` shows: the period (default: the last 30 days) and category
    only for the events layer, so the other layers' ETags do not move with the clock."""
    if layer.name != "events":
        return tiles.TileQuery(area, settings.plan_households_target)
    period = period_of(start, end, None)
    return tiles.TileQuery(area, settings.plan_households_target, period.start, period.end,
                           category, settings.vector_tile_event_points_zoom)


def _etag(*parts: object) -> str:
    digest = hashlib.sha256(repr((TILE_FORMAT_VERSION, *parts)).encode()).hexdigest()
    return f'"{digest[:32]}"'


def _matches(request: Request, tag: str) -> bool:
    sent = request.headers.get("if-none-match", "")
    return any(t.strip().removeprefix("W/") in (tag, "*") for t in sent.split(","))


def _cache_headers(tag: str, settings: ApiSettings) -> dict[str, str]:
    return {"ETag": tag, "Cache-Control": f"private, max-age={settings.vector_tile_max_age_s}",
            "Vary": "Cookie, X-API-Key"}


def _not_modified(tag: str, settings: ApiSettings) -> Response:
    return Response(status_code=304, headers=_cache_headers(tag, settings))


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def tilejson_of(layer: tiles.TileLayer, base: str, settings: ApiSettings,
                area: str | None) -> dict[str, Any]:
    """TileJSON 3.0.0 of ``layer`` with absolute tile URLs under ``base``."""
    return {
        "tilejson": "3.0.0", "name": layer.name, "description": layer.title,
        "tiles": [base + tile_url(layer.name, area)], "scheme": "xyz",
        "minzoom": 0, "maxzoom": settings.vector_tile_max_zoom,
        "bounds": [-180.0, -85.0511287798066, 180.0, 85.0511287798066],
        "vector_layers": [{"id": layer.name, "description": layer.title,
                           "minzoom": 0, "maxzoom": settings.vector_tile_max_zoom,
                           "fields": layer.fields}],
    }


def _tileset(request: Request, layer: tiles.TileLayer) -> Tileset:
    base = _base_url(request)
    return Tileset(id=layer.name, title=layer.title, links=[
        Link(href=f"{base}/tiles/{layer.name}/{TILE_MATRIX_SET}", rel="self",
             type="application/vnd.mapbox.tile+json", title="TileJSON"),
        Link(href=f"{base}/tiles/{TILE_MATRIX_SET}",
             rel="http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
             type="application/json"),
        Link(href=base + tile_url(layer.name), rel="item", type=MVT_MEDIA_TYPE,
             templated=True)])


def web_mercator_quad(max_zoom: int) -> dict[str, Any]:
    """The WebMercatorQuad tile matrix set (OGC Two Dimensional Tile Matrix Set 2.0 JSON),
    zooms 0..``max_zoom``: 256-pixel tiles, 2^z × 2^z of them, top-left origin."""
    matrices = [{
        "id": str(z), "scaleDenominator": 559082264.0287178 / 2**z,
        "cellSize": 156543.03392804097 / 2**z, "cornerOfOrigin": "topLeft",
        "pointOfOrigin": [-WEB_MERCATOR_HALF, WEB_MERCATOR_HALF],
        "tileWidth": 256, "tileHeight": 256, "matrixWidth": 2**z, "matrixHeight": 2**z}
        for z in range(max_zoom + 1)]
    return {"id": TILE_MATRIX_SET, "title": "Google Maps Compatible for the World",
            "uri": "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad",
            "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
            "orderedAxes": ["X", "Y"], "tileMatrices": matrices}
