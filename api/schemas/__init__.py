"""Response models of the JSON routes, one module per router (``api.schemas.dispatch``...).

Handlers keep returning the dicts ``geo`` builds; the route's ``response_model`` documents
the answer in the OpenAPI and FastAPI checks each answer against it. Every model is an
:class:`Answer`: the fields it names are checked and described, other fields pass through
unchanged (``extra="allow"``), so a new column never breaks an answer. Times are ISO 8601:
a datetime from ``geo`` is written as before (UTC as ``Z``), a string ``geo`` wrote already
passes unchanged.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

DateTimeText = Annotated[datetime | str, WithJsonSchema({"type": "string",
                                                          "format": "date-time"})]
"""An ISO 8601 instant with its offset, e.g. ``2026-11-03T08:15:00Z``."""
DateText = Annotated[date | str, WithJsonSchema({"type": "string", "format": "date"})]
"""A calendar day, ``YYYY-MM-DD`` (China Standard Time unless said otherwise)."""


class Answer(BaseModel):
    """A JSON answer (or part of one): named fields checked, the rest passed through."""

    model_config = ConfigDict(extra="allow")


class Row(Answer):
    """One row of a table in an answer (its columns are listed where it is described)."""


class Geometry(Answer):
    """A GeoJSON geometry (RFC 7946), lon/lat EPSG:4326 unless the answer says otherwise."""

    type: str = Field(description="Point, LineString, Polygon, MultiPolygon...")


class Feature(Answer):
    """A GeoJSON Feature (RFC 7946 §3.2)."""

    type: Literal["Feature"]
    geometry: Geometry | None = Field(description="lon/lat EPSG:4326; null when none")
    properties: dict[str, Any] | None


class FeatureCollection(Answer):
    """A GeoJSON FeatureCollection (RFC 7946 §3.3), lon/lat EPSG:4326."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "type": "FeatureCollection", "features": [{
            "type": "Feature", "geometry": {"type": "Point", "coordinates": [112.55, 37.87]},
            "properties": {"code": "140213001001001", "name": "第一网格 (grid 1)"}}]}]})

    type: Literal["FeatureCollection"]
    features: list[Feature]


class Changed(Answer):
    """The grid codes a planning operation changed in its draft."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"changed": ["140213001001001", "140213001001002"]}]})

    changed: list[str] = Field(description="grid codes whose draft rows changed")
