"""Answers of OGC API Features (``/ogc``) as OpenAPI describes them.

The routes write their JSON themselves (the standard's member names and links); these
models only document it (a route that returns a Response is not re-validated)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from api.schemas import Answer, FeatureCollection


class OgcLink(Answer):
    href: str
    rel: str = Field(description="self, data, conformance, items, next, prev...")
    type: str | None = Field(None, description="media type of the target")
    title: str | None = None


class LandingPage(Answer):
    """The OGC API Features landing page (/req/core/root-success)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"title": "gridlink OGC API Features", "description": "网格、摄像头、事件 (grids, "
         "cameras, events)", "links": [{"href": "https://gridlink.example/ogc",
                                        "rel": "self", "type": "application/json"}]}]})

    title: str
    description: str
    links: list[OgcLink]


class Conformance(Answer):
    """The conformance classes implemented (URIs of OGC API Features Parts 1-3)."""

    conformsTo: list[str]


class Collection(Answer):
    """One feature collection: id, title, CRS offered, extent (CRS84 lon/lat) and links."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": "grids", "title": "网格 (grids)", "description": "Ordinary grids",
         "itemType": "feature", "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
         "storageCrs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84", "links": [],
         "extent": {"spatial": {"bbox": [[112.5, 37.8, 112.6, 37.9]],
                                "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}}}]})

    id: str
    title: str
    description: str | None = None
    itemType: str
    crs: list[str] = Field(description="output CRS URIs offered")
    storageCrs: str
    links: list[OgcLink]
    extent: dict[str, Any] | None = Field(None, description="spatial bbox (CRS84 lon/lat "
                                          "degrees) and, for events, temporal interval")


class Collections(Answer):
    links: list[OgcLink]
    crs: list[str]
    collections: list[Collection]


class FeaturePage(FeatureCollection):
    """A page of features (GeoJSON, lon/lat CRS84 unless ``crs``): counts and paging links."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "type": "FeatureCollection", "features": [{
            "type": "Feature", "id": "140213001001001",
            "geometry": {"type": "Point", "coordinates": [113.3025, 40.0875]},
            "properties": {"name": "向阳一网格 (Xiangyang grid 1)", "households": 150}}],
        "numberMatched": 1200, "numberReturned": 1, "timeStamp": "2026-11-03T08:15:00+00:00",
        "links": [{"href": "https://gridlink.example/ogc/collections/grids/items?offset=1",
                   "rel": "next", "type": "application/geo+json"}]}]})

    numberMatched: int = Field(description="features matching the query")
    numberReturned: int
    timeStamp: str
    links: list[OgcLink] = Field(description="self, next/prev pages, collection")


class Queryables(Answer):
    """The properties a CQL2 filter may use, as a JSON Schema (OGC API Features Part 3)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"$schema": "https://json-schema.org/draft/2020-12/schema",
         "$id": "https://gridlink.example/ogc/collections/grids/queryables",
         "type": "object", "title": "网格 (grids)", "properties": {
             "households": {"title": "households", "type": "integer"}},
         "additionalProperties": False}]})

    schema_uri: str = Field(alias="$schema")
    id_uri: str = Field(alias="$id")
    type: str
    title: str
    properties: dict[str, Any] = Field(description="name -> JSON Schema of the property; "
                                       "geometry: format geometry-any (CRS84 lon/lat)")
