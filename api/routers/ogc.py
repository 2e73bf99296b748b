"""OGC API - Features (Parts 1, 2 and 3) under ``/ogc``: the landing page, conformance,
collections, queryables, items and single features, read with any reader's key (header,
HTTP Basic password, or the browser's session cookie). The queries are geo/ogc/; this
module parses the parameters and adds the links. docs/ogc.md says how QGIS and GDAL
connect.

Invalid or unknown query parameters are 400 (the standard asks for it; the items routes
parse their parameters themselves and document them in api/routers/ogc_openapi.py); a
collection the caller's role may not read (events without a key) is 404, as if it did not
exist.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from api.auth import Reader
from api.deps import ReadSessionDep, SettingsDep
from api.routers.ogc_openapi import ITEM_OPENAPI, ITEMS_OPENAPI, query_int
from api.schemas import Feature
from api.schemas.ogc import Collection as CollectionBody
from api.schemas.ogc import Collections, Conformance, FeaturePage, LandingPage, Queryables
from api.settings import ApiSettings
from geo.errors import InvalidQuery
from geo.ogc.collections import Collection, get_collection, readable_collections
from geo.ogc.cql2 import cql2_filter
from geo.ogc.crs import CRS84, offered_crs, parse_ogc_crs
from geo.ogc.items import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    ItemsQuery,
    check_properties,
    items_page,
    one_item,
    parse_bbox,
    parse_datetime,
)
from geo.ogc.metadata import CONFORMANCE, queryables, spatial_extent, temporal_extent

PREFIX = "/ogc"
JSON_TYPE = "application/json"
GEOJSON = "application/geo+json"
ITEMS_PARAMETERS = frozenset({"limit", "offset", "bbox", "bbox-crs", "datetime", "properties",
                              "crs", "filter", "filter-lang", "filter-crs", "f"})
FEATURE_PARAMETERS = frozenset({"crs", "datetime", "f"})


class JSONTextResponse(JSONResponse):
    """A JSON body written already (text from PostGIS or ``json.dumps``), sent unchanged; a
    JSON response class, so the OpenAPI shows the route's ``response_model`` for it."""

    def render(self, content: Any) -> bytes:
        return content.encode("utf-8") if isinstance(content, str) else super().render(content)


class GeoJSONResponse(JSONTextResponse):
    """A GeoJSON body (``application/geo+json``), as the items routes answer."""

    media_type = GEOJSON


class SchemaResponse(JSONTextResponse):
    """A JSON Schema body (``application/schema+json``): the queryables."""

    media_type = "application/schema+json"


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


def _link(href: str, rel: str, media: str = JSON_TYPE, title: str | None = None
          ) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": media} | ({"title": title} if title else {})


def _json(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), media_type=JSON_TYPE)


def _check_parameters(request: Request, allowed: frozenset[str]) -> None:
    """400 for a parameter the route does not know (/req/core/query-param-unknown)."""
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise InvalidQuery(f"unknown query parameter {unknown[0]!r}: one of "
                           f"{', '.join(sorted(allowed))}",
                           [{"field": name, "problem": "unknown parameter"} for name in unknown])
    if request.query_params.get("f", "json") not in ("json", "geojson"):
        raise InvalidQuery("f must be json or geojson (the only encodings)", [{"field": "f"}])


def _collection_body(session: Session, collection: Collection, base: str,
                     crs: list[str], extent: list[float] | None) -> dict[str, Any]:
    url = f"{base}/collections/{collection.id}"
    body: dict[str, Any] = {
        "id": collection.id, "title": collection.title, "description": collection.description,
        "itemType": "feature", "crs": crs, "storageCrs": CRS84,
        "links": [_link(url, "self"), _link(f"{url}/items", "items", GEOJSON, "features"),
                  _link(f"{url}/queryables", "http://www.opengis.net/def/rel/ogc/1.0/"
                        "queryables", "application/schema+json", "queryables")]}
    if extent is not None:
        body["extent"] = {"spatial": {"bbox": [extent], "crs": CRS84}}
        if (period := temporal_extent(session, collection)) is not None:
            body["extent"]["temporal"] = {"interval": [period]}
    return body


def _items_query(request: Request, session: Session, settings: ApiSettings,
                 collection: Collection, area: str | None) -> ItemsQuery:
    params = request.query_params
    offered = offered_crs(session, settings)
    bbox_crs = parse_ogc_crs(params.get("bbox-crs"), offered, "bbox-crs")
    filter_crs = parse_ogc_crs(params.get("filter-crs"), offered, "filter-crs")
    if params.get("filter-lang", "cql2-text") != "cql2-text":
        raise InvalidQuery("filter-lang must be cql2-text", [{"field": "filter-lang"}])
    names = params.get("properties")
    text = params.get("filter")
    return ItemsQuery(
        limit=query_int(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=query_int(params, "offset", 0, 0, 10**9),
        bbox=parse_bbox(params.get("bbox"), bbox_crs), bbox_crs=bbox_crs,
        when=parse_datetime(params.get("datetime")),
        properties=None if names is None else check_properties(
            collection, [n for n in names.split(",") if n]),
        condition=None if text is None else cql2_filter(
            text, collection.table, collection.properties, filter_crs),
        crs=parse_ogc_crs(params.get("crs"), offered, "crs"), area=area)


def _page_links(request: Request, query: ItemsQuery, returned: int, matched: int
                ) -> list[dict[str, str]]:
    links = [_link(str(request.url), "self", GEOJSON)]
    if query.offset + returned < matched:
        links.append(_link(str(request.url.include_query_params(
            offset=query.offset + query.limit, limit=query.limit)), "next", GEOJSON))
    if query.offset > 0:
        links.append(_link(str(request.url.include_query_params(
            offset=max(0, query.offset - query.limit), limit=query.limit)), "prev", GEOJSON))
    return links


def _features_response(features: list[str], head: dict[str, Any], crs_uri: str) -> Response:
    """A FeatureCollection from PostGIS's Feature texts, without parsing them."""
    tail = json.dumps(head, ensure_ascii=False)[1:]
    body = '{"type": "FeatureCollection", "features": [' + ",".join(features) + "], " + tail
    return GeoJSONResponse(body, headers={"Content-Crs": f"<{crs_uri}>"})


def ogc_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["OGC API Features"])

    @router.get("", summary="OGC API Features landing page", response_model=LandingPage)
    def landing(request: Request, _: Reader) -> Response:
        base, root = _base(request), str(request.base_url).rstrip("/")
        return _json({"title": "gridlink OGC API Features", "description": "Grids, "
                      "micro-grids, admin areas, cameras, sites, buildings and events.",
                      "links": [
                          _link(base, "self"),
                          _link(f"{root}/openapi.json", "service-desc",
                                "application/vnd.oai.openapi+json;version=3.0"),
                          _link(f"{root}/docs", "service-doc", "text/html"),
                          _link(f"{base}/conformance", "conformance"),
                          _link(f"{base}/collections", "data")]})

    @router.get("/conformance", summary="The conformance classes gridlink implements",
                response_model=Conformance)
    def conformance(request: Request, _: Reader) -> Response:
        _check_parameters(request, frozenset({"f"}))
        return _json({"conformsTo": CONFORMANCE})

    @router.get("/collections", summary="The feature collections the caller may read",
                response_model=Collections)
    def collections(request: Request, session: ReadSessionDep, settings: SettingsDep,
                    caller: Reader) -> Response:
        _check_parameters(request, frozenset({"f"}))
        base, crs = _base(request), offered_crs(session, settings)
        extent = spatial_extent(session)
        return _json({"links": [_link(f"{base}/collections", "self")], "crs": crs,
                      "collections": [_collection_body(session, c, base, crs, extent)
                                      for c in readable_collections(caller.role)]})

    @router.get("/collections/{collection_id}", summary="One feature collection (the items' "
                "parameters are accepted and ignored: GDAL opens a collection URL carrying them)",
                response_model=CollectionBody)
    def collection(collection_id: str, request: Request, session: ReadSessionDep,
                   settings: SettingsDep, caller: Reader) -> Response:
        _check_parameters(request, ITEMS_PARAMETERS)
        found = get_collection(collection_id, caller.role)
        return _json(_collection_body(session, found, _base(request),
                                      offered_crs(session, settings), spatial_extent(session)))

    @router.get("/collections/{collection_id}/queryables", response_class=SchemaResponse,
                response_model=Queryables,
                summary="The properties a CQL2 filter may use (JSON Schema)")
    def collection_queryables(collection_id: str, request: Request, caller: Reader
                              ) -> Response:
        _check_parameters(request, frozenset({"f"}))
        found = get_collection(collection_id, caller.role)
        return SchemaResponse(json.dumps(queryables(found, _base(request)), ensure_ascii=False))

    @router.get("/collections/{collection_id}/items", response_class=GeoJSONResponse,
                openapi_extra=ITEMS_OPENAPI, response_model=FeaturePage,
                summary="Features of a collection "
                "(paged; bbox, datetime as-of for grids, properties, crs, CQL2 filter)")
    def items(collection_id: str, request: Request, session: ReadSessionDep,
              settings: SettingsDep, caller: Reader    ) -> Response:
        _check_parameters(request, ITEMS_PARAMETERS)
        found = get_collection(collection_id, caller.role)
        query = _items_query(request, session, settings, found, caller.area_code)
        page = items_page(session, found, query)
        head = {"numberMatched": page.matched, "numberReturned": len(page.features),
                "timeStamp": datetime.now(UTC).isoformat(timespec="seconds"),
                "links": _page_links(request, query, len(page.features), page.matched)}
        return _features_response(page.features, head, query.crs.uri)

    @router.get("/collections/{collection_id}/items/{feature_id}",
                response_class=GeoJSONResponse, openapi_extra=ITEM_OPENAPI,
                response_model=Feature,
                summary="One feature (grids: the version valid at datetime, else current)")
    def item(collection_id: str, feature_id: str, request: Request, session: ReadSessionDep,
             settings: SettingsDep, caller: Reader) -> Response:
        _check_parameters(request, FEATURE_PARAMETERS)
        found = get_collection(collection_id, caller.role)
        params = request.query_params
        output = parse_ogc_crs(params.get("crs"), offered_crs(session, settings), "crs")
        when = parse_datetime(params.get("datetime"))
        text = one_item(session, found, feature_id,
                        ItemsQuery(crs=output, when=when, area=caller.area_code))
        base = f"{_base(request)}/collections/{found.id}"
        links = json.dumps([_link(str(request.url), "self", GEOJSON),
                            _link(base, "collection")])
        return GeoJSONResponse(text[:-1] + f', "links": {links}}}',
                               headers={"Content-Crs": f"<{output.uri}>"})

    return router
