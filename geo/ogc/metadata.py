"""What ``/collections`` says about each collection: its extent in space and time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from geo.ogc.collections import Collection

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
]
"""The conformance classes declared: each is exercised by tests/api/test_ogc*.py."""


def spatial_extent(session: Session) -> list[float] | None:
    """[minlon, minlat, maxlon, maxlat] (CRS84) of the loaded districts, None when none:
    the extent every collection states (one cheap query, not one scan per collection)."""
    row = session.execute(text(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) "
        "AS e FROM admin_areas WHERE level = 'district') x")).one()
    return None if row[0] is None else [round(float(v), 7) for v in row]


def temporal_extent(session: Session, collection: Collection) -> list[str | None] | None:
    """[first, last] instant (RFC 3339; None = open) of a versioned or temporal collection:
    versions from the first ``valid_from`` on, events from first to last report."""
    if collection.versioned:
        first = session.scalar(select(func.min(collection.table.c.valid_from))
                               .where(collection.where(collection.table)))
        return None if first is None else [first.isoformat(), None]
    if collection.temporal is None:
        return None
    column = collection.table.c[collection.temporal]
    first, last = session.execute(select(func.min(column), func.max(column))).one()
    return None if first is None else [first.isoformat(), last.isoformat()]


def queryables(collection: Collection, base_url: str) -> dict[str, Any]:
    """The JSON Schema of ``collection``'s queryable properties (Part 3) and geometry."""
    types = {"code": {"type": "string"}, "text": {"type": "string"},
             "int": {"type": "integer"}, "float": {"type": "number"},
             "date": {"type": "string", "format": "date"},
             "datetime": {"type": "string", "format": "date-time"},
             "bool": {"type": "boolean"}}
    props: dict[str, Any] = {name: {"title": name, **types[kind]}
                             for name, kind in collection.properties.items()}
    props["geometry"] = {"format": "geometry-any"}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{base_url}/collections/{collection.id}/queryables",
            "type": "object", "title": collection.title, "properties": props,
            "additionalProperties": False}
