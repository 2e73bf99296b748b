"""The OpenAPI document lists each operation's error statuses with the one error body, a
described answer for every JSON operation and a body schema for every route that reads one."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


@pytest.mark.parametrize(("method", "path", "statuses"), [
    ("get", "/health", ["200", "503"]),
    ("get", "/locate", ["200", "400", "401", "404", "409", "422", "503"]),
    ("post", "/events/{event_id}/actions",
     ["200", "400", "401", "403", "404", "409", "413", "415", "422", "503"]),
    ("post", "/events", ["201", "400", "401", "403", "404", "409", "413", "415", "422", "503"]),
    ("post", "/import/{layer}",
     ["200", "202", "400", "401", "403", "404", "409", "413", "415", "422", "503"]),
    ("get", "/admin/keys", ["200", "401", "403", "503"]),
    ("post", "/logout", ["303"]),
])
def test_operations_list_their_error_statuses(client: TestClient, method: str, path: str,
                                              statuses: list[str]) -> None:
    operation = client.get("/openapi.json").json()["paths"][path][method]
    assert sorted(operation["responses"]) == statuses
    for status in statuses:
        if status >= "400":
            assert operation["responses"][status]["content"]["application/json"][
                "schema"] == ERROR_REF


def test_error_body_schema_replaces_fastapis(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["ErrorBody"]["required"] == ["error", "message", "details"]
    assert "HTTPValidationError" not in schemas


def test_bodies_read_by_hand_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert sorted(paths["/events/bulk"]["post"]["requestBody"]["content"]) == [
        "application/geo+json", "text/csv"]
    assert paths["/events"]["post"]["requestBody"]["content"]["application/json"] == {
        "schema": {"anyOf": [{"$ref": "#/components/schemas/EventIn"},
                             {"$ref": "#/components/schemas/PointFeature"}]}}
    assert list(paths["/import/{layer}"]["post"]["requestBody"]["content"]) == [
        "multipart/form-data"]


JSON_TYPES = ("application/json", "application/geo+json")
BODYLESS_WRITES = {("post", "/logout"), ("post", "/patrols/generate"),
                   ("post", "/planning/changesets/{changeset_id}/publish"),
                   ("post", "/planning/changesets/{changeset_id}/undo"),
                   ("delete", "/admin/keys/{prefix}"),
                   ("delete", "/planning/changesets/{changeset_id}"),
                   ("delete", "/patrols/rules/{layer}/{category}"),
                   ("post", "/export/{layer}"), ("post", "/jobs/assign"),
                   ("post", "/jobs/validate"), ("delete", "/jobs/{job_id}")}
"""Writes whose input is the path and query only."""


def described(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    """Whether ``schema`` says what the answer holds (not ``{}`` or a bare object)."""
    if "$ref" in schema:
        return described(components[schema["$ref"].rsplit("/", 1)[1]], components)
    if "anyOf" in schema or "oneOf" in schema:
        return all(described(s, components) for s in schema.get("anyOf", schema.get("oneOf")))
    if schema.get("type") == "array":
        return described(schema.get("items", {}), components)
    if schema.get("type") == "object":
        extra = schema.get("additionalProperties")
        return bool(schema.get("properties")) or isinstance(extra, dict) and described(
            extra, components)
    return "type" in schema


def test_every_json_answer_has_a_schema(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    components = document["components"]["schemas"]
    undescribed, json_operations = [], 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                for kind in set(response.get("content", {})) & set(JSON_TYPES):
                    if status.startswith("2"):
                        json_operations += 1
                        if not described(response["content"][kind].get("schema", {}), components):
                            undescribed.append(f"{method.upper()} {path} {status} {kind}")
    assert undescribed == []
    assert json_operations > 60


def test_every_body_route_documents_its_body(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    components = document["components"]["schemas"]
    missing = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method in ("post", "put", "patch", "delete") and (
                    method, path) not in BODYLESS_WRITES:
                content = operation.get("requestBody", {}).get("content", {})
                if not content or not all(described(c.get("schema", {}), components)
                                          for c in content.values()):
                    missing.append(f"{method.upper()} {path}")
    assert missing == []
    assert components["EventIn"]["required"] == ["category", "lon", "lat"]
    assert components["PointFeature"]["required"] == ["type", "geometry"]
