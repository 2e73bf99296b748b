"""The query parameters of OGC API Features as the standard writes them in OpenAPI.

The items routes read their parameters from the query string themselves (an invalid value
is 400 naming it, as the standard requires, not FastAPI's 422) and document them here, in
the fragments of OGC API Features Part 1 (``style: form``, ``explode: false``; ``bbox`` an
array of 4 or 6 numbers) that the OGC test suite checks, plus Parts 2 and 3.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import QueryParams

from geo.errors import InvalidQuery
from geo.ogc.items import DEFAULT_LIMIT, MAX_LIMIT


def _parameter(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "style": "form", "explode": False,
            "schema": schema, "description": description}


_CRS = {"type": "string", "format": "uri"}
_DATETIME = _parameter("datetime", {"type": "string"}, "grids: the instant to show them as "
                       "of (RFC 3339, e.g. 2025-12-31T16:00:00Z); events: an instant or "
                       "interval of reported_at (a/b, ../b, a/..)")
_OUTPUT_CRS = _parameter("crs", _CRS, "output CRS URI (default CRS84; see the collection's "
                         "crs list)")

ITEMS_OPENAPI: dict[str, Any] = {"parameters": [
    _parameter("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                         "default": DEFAULT_LIMIT}, "page size"),
    _parameter("offset", {"type": "integer", "minimum": 0, "default": 0},
               "features to skip (the next link sets it)"),
    _parameter("bbox", {"type": "array", "minItems": 4, "maxItems": 6,
                        "items": {"type": "number"}},
               "minx,miny,maxx,maxy in bbox-crs (CRS84: lon/lat degrees)"),
    _parameter("bbox-crs", _CRS, "CRS of bbox (default CRS84)"),
    _DATETIME,
    _parameter("properties", {"type": "array", "items": {"type": "string"}},
               "the properties to return, comma-separated"),
    _OUTPUT_CRS,
    _parameter("filter", {"type": "string"}, "CQL2 text, e.g. households > 300 AND "
               "S_INTERSECTS(geometry, BBOX(113.30,40.08,113.31,40.09))"),
    _parameter("filter-lang", {"type": "string", "enum": ["cql2-text"]}, "cql2-text"),
    _parameter("filter-crs", _CRS, "CRS of the filter's geometries (default CRS84)"),
]}
ITEM_OPENAPI: dict[str, Any] = {"parameters": [_OUTPUT_CRS, _DATETIME]}


def query_int(params: QueryParams, name: str, default: int, lo: int, hi: int) -> int:
    """Integer query parameter ``name`` within ``lo..hi``; InvalidQuery (400) naming it."""
    value = params.get(name)
    if value is None:
        return default
    if not value.strip().isdigit() or not lo <= int(value) <= hi:
        raise InvalidQuery(f"{name} must be an integer from {lo} to {hi}, not {value!r}",
                           [{"field": name, "value": value}])
    return int(value)
