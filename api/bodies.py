"""Reading request bodies: the one media-type check, JSON parser and uploaded-file saver.

Sizes are bounded before these run (:mod:`api.request_guard`); here bad bodies become clear
4xx answers: 415 for another media type, 400 for an empty or unparseable body (invalid
JSON, nesting deeper than Python's parser allows), 400 for an unusable file name.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Literal

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile
from starlette.requests import HTTPConnection, Request

from geo.errors import UnreadableFile

JSON_TYPES = ("application/json", "application/geo+json")
CSV_TYPES = ("text/csv", "application/csv")
FILE_TYPES = ("multipart/form-data", *CSV_TYPES)
"""Bodies streamed to disk (held to GRIDLINK_MAX_UPLOAD_MB, not GRIDLINK_MAX_BODY_MB)."""
MAX_NAME_CHARS = 200
"""Longest accepted upload file name (characters); file systems stop at 255 bytes."""
CHUNK_BYTES = 1024 * 1024


class PointGeometry(BaseModel):
    """A GeoJSON Point: ``[lon, lat]`` in EPSG:4326 (or the body's ``crs``)."""

    type: Literal["Point"]
    coordinates: list[float] = Field(min_length=2, description="[lon, lat], degrees")


class PointFeature(BaseModel):
    """A GeoJSON Point Feature (RFC 7946): an event's fields in ``properties``, its
    ``id`` taken as ``client_id`` when that is not given."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "type": "Feature", "id": "app-20261103-0007",
        "geometry": {"type": "Point", "coordinates": [112.5501, 37.8702]},
        "properties": {"category": "占道经营 (street vending)",
                       "description": "人行道上有流动摊贩 (a vendor blocks the pavement)"}}]})

    type: Literal["Feature"]
    id: str | int | None = None
    geometry: PointGeometry
    properties: dict[str, Any] | None = None


HAND_READ_MODELS: dict[str, type[BaseModel]] = {"PointFeature": PointFeature}
"""The models of bodies read by hand, by name: :func:`api.openapi.document_bodies` puts
their schemas in the OpenAPI's components (``#/components/schemas/<name>``)."""
POINT_FEATURE = {"$ref": "#/components/schemas/PointFeature"}
BULK_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/geo+json": {"schema": {
        "type": "object", "required": ["type", "features"],
        "properties": {"type": {"const": "FeatureCollection"},
                       "features": {"type": "array", "items": POINT_FEATURE}}}},
    "text/csv": {"schema": {"type": "string",
                            "description": "client_id,category,reported_at,lon,lat,..."}}}}}
FILE_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary",
                                "description": ".geojson, .gpkg, .zip (Shapefile), .csv"}}}}}}}


def json_request_body(model: type[BaseModel], *alternatives: dict[str, Any]
                      ) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON body read by hand (not a FastAPI body model):
    a reference to ``model``'s schema (a component, so generated clients get a class),
    or any of it and ``alternatives``. Only ``application/json`` is listed (the body may
    also be sent as ``application/geo+json``): openapi-python-client 0.29 writes clients
    that do not import for a body listed under two media types."""
    HAND_READ_MODELS[model.__name__] = model
    schema: dict[str, Any] = {"$ref": f"#/components/schemas/{model.__name__}"}
    if alternatives:
        schema = {"anyOf": [schema, *alternatives]}
    return {"requestBody": {"required": True, "description": "JSON (application/json or "
                            "application/geo+json)",
                            "content": {"application/json": {"schema": schema}}}}


def media_type(request: HTTPConnection) -> str:
    """The request's media type, lower case, without parameters ('' when absent)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def require_media_type(request: HTTPConnection, allowed: tuple[str, ...], hint: str) -> str:
    """The request's media type if in ``allowed``; 415 saying what to send otherwise."""
    kind = media_type(request)
    if kind not in allowed:
        raise HTTPException(415, f"send {hint} ({', '.join(allowed)}), not {kind or 'nothing'}")
    return kind


def parse_json(raw: bytes) -> Any:
    """``raw`` parsed as JSON; UnreadableFile (400) naming the body when it is not JSON."""
    if not raw.strip():
        raise UnreadableFile("the request body is empty", [{"field": "body"}])
    try:
        return json.loads(raw)
    except RecursionError:
        raise UnreadableFile("the body nests arrays or objects too deeply",
                             [{"field": "body"}]) from None
    except ValueError as exc:
        raise UnreadableFile(f"the body is not valid JSON: {exc}", [{"field": "body"}]) from None


async def json_body(request: Request) -> Any:
    """The request's JSON body; 415 for another content type, 400 for empty/invalid JSON."""
    require_media_type(request, JSON_TYPES, "JSON")
    return parse_json(await request.body())


def upload_name(filename: str | None, field: str = "file") -> str:
    """The base name of an uploaded file; UnreadableFile (400) for '', '.', '..', a NUL or a
    name over ``MAX_NAME_CHARS`` characters (it is written to disk under this name)."""
    raw = filename or ""
    name = Path(raw.replace("\\", "/")).name
    if name in ("", ".", "..") or "\x00" in name or len(name) > MAX_NAME_CHARS:
        raise UnreadableFile(
            f"unusable file name {raw[:MAX_NAME_CHARS]!r}: give a name of 1 to "
            f"{MAX_NAME_CHARS} characters, such as grids.geojson", [{"field": field}])
    return name


def save_upload(upload: UploadFile, folder: Path, field: str = "file") -> Path:
    """Copy an uploaded file under ``folder`` with its own base name, 1 MiB at a time
    (blocking: call from the thread pool or a sync route)."""
    target = folder / upload_name(upload.filename, field)
    upload.file.seek(0)
    with open(target, "wb") as out:
        shutil.copyfileobj(upload.file, out, CHUNK_BYTES)
    return target
