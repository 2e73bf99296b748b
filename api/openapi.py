"""The OpenAPI document: FastAPI's, plus the error statuses each operation can answer.

Every error is one body, ``{"error", "message", "details"}`` (:mod:`api.errors`), declared
once as the component ``ErrorBody``. Which statuses an operation lists follows from what
it is: 401 unless public, 403 when its rule admits only some roles or it reads figures a key
limited to one area may be refused (:data:`AREA_READS`), 400/404/409/422 when it takes
parameters or a body, 409 for writes, 413/415 when it reads a body, 503 when it needs the
database. Schemathesis (tests/api/test_schemathesis.py) checks that every status met is
listed and every body matches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi.routing import APIRoute
from pydantic.json_schema import models_json_schema

from api.auth import READ_ROLES
from api.bodies import HAND_READ_MODELS

ERROR_BODY: dict[str, Any] = {
    "title": "ErrorBody",
    "type": "object",
    "required": ["error", "message", "details"],
    "properties": {
        "error": {"type": "string", "description": "machine-readable code, e.g. too_large"},
        "message": {"type": "string", "description": "what went wrong and how to fix it"},
        "details": {"type": "array", "items": {"type": "object"},
                    "description": "where: field, row, feature, file; limits"},
    },
}

DESCRIPTIONS = {
    400: "Unreadable body or file, unknown CRS or code format",
    401: "No API key, or an unknown or revoked one",
    403: "The key's role (or the area it is limited to) may not do this",
    404: "No such entity (id or code)",
    409: "Conflicts with the current state (illegal transition, concurrent edit)",
    413: "Body over GRIDLINK_MAX_UPLOAD_MB, or a zip that would unpack too large",
    415: "Unsupported media type of the body",
    422: "Invalid parameter or body: details name each field",
    503: "The database is unavailable; retry later",
}
STATIC_OPERATIONS = frozenset({("get", "/login"), ("post", "/logout")})
"""Operations that never touch the database."""
AREA_READS = frozenset({"/dashboard", "/dashboard/data", "/dashboard/csv/{panel}",
                        "/dashboard/report.xlsx", "/stats", "/stats/daily", "/stats/assessment",
                        "/events", "/events/{event_id}", "/maps/grids", "/maps/coverage",
                        "/maps/events", "/maps/alarms", "/maps/events/{event_id}",
                        "/tiles/{layer}/WebMercatorQuad",
                        "/tiles/{layer}/WebMercatorQuad/{z}/{y}/{x}"})
"""Reads a key limited to one area may be refused (403: another area, an event outside it,
department figures; geo.roles.readable_area, geo.roles.check_event_readable)."""
PAGE_RESPONSES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/login"): {
        "303": {"description": "Signed in: on to `next`"},
        "401": {"description": "Unknown or revoked key: the sign-in page again",
                "content": {"text/html": {"schema": {"type": "string"}}}}},
    ("post", "/logout"): {"303": {"description": "Signed out: on to /login"}},
}
"""The browser sign-in's answers, which are pages and redirects rather than JSON."""
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def also_answers(*media_types: str, json: bool = True) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route whose 200 may also be a file (``format=csv``, a report):
    the OpenAPI lists each media type beside JSON (its schema is the route's
    ``response_model``), so clients and Schemathesis expect it; ``json=False`` for a route
    that answers only files."""
    content: dict[str, Any] = {"application/json": {}} if json else {}
    content |= {kind: {"schema": {"type": "string", "format": "binary"}} for kind in media_types}
    return {200: {"content": content}}


def api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, looking inside included routers (FastAPI >= 0.160)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)


def route_roles(route: APIRoute) -> frozenset[str] | None:
    """The roles named by the route's auth dependency, None when it has none (public)."""
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        roles = getattr(dep.call, "gridlink_roles", None)
        if roles is not None:
            return frozenset(roles)
        stack.extend(dep.dependencies)
    return None


def error_statuses(method: str, path: str, operation: dict[str, Any],
                   roles: frozenset[str] | None) -> list[int]:
    """The error statuses an operation can answer (see the module docstring)."""
    statuses = set()
    if roles is not None:
        statuses.add(401)
        if roles != READ_ROLES or path in AREA_READS:
            statuses.add(403)
    if operation.get("parameters") or "requestBody" in operation:
        statuses |= {400, 404, 409, 422}  # 409: e.g. the diff of a draft, not a published set
    if method != "get" and roles is not None:
        statuses.add(409)
    if "requestBody" in operation:
        statuses |= {413, 415}
    if (method, path) not in STATIC_OPERATIONS:
        statuses.add(503)
    return sorted(statuses)


def document_errors(schema: dict[str, Any], routes: Iterable[Any]) -> dict[str, Any]:
    """Add ``ErrorBody`` and each operation's error statuses to ``schema`` (in place)."""
    roles = {(method.lower(), route.path): route_roles(route)
             for route in api_routes(routes) for method in route.methods or ()}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorBody"] = ERROR_BODY
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422, not ours
        components.pop(name, None)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in error_statuses(method, path, operation, roles.get((method, path))):
                responses[str(status)] = {"description": DESCRIPTIONS[status],
                                          "content": {"application/json": {
                                              "schema": ERROR_REF}}}
            if (method, path) in PAGE_RESPONSES:  # a redirect or a page, never a 200 JSON
                responses.pop("200", None)
                responses.update(PAGE_RESPONSES[(method, path)])
    return schema


def document_bodies(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the schemas of the bodies read by hand (:data:`api.bodies.HAND_READ_MODELS`) and
    the models they refer to as components of ``schema`` (in place)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    _, top = models_json_schema([(model, "validation") for model in HAND_READ_MODELS.values()],
                                ref_template="#/components/schemas/{model}")
    for name, body in top.get("$defs", {}).items():
        components.setdefault(name, body)
    return schema
