"""The OpenAPI document lists each operation's error statuses with the one error body."""

from __future__ import annotations

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
     ["200", "400", "401", "403", "404", "409", "413", "415", "422", "503"]),
    ("get", "/admin/keys", ["200", "401", "403", "503"]),
    ("post", "/logout", ["200", "303"]),
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
    assert sorted(paths["/events"]["post"]["requestBody"]["content"]) == [
        "application/geo+json", "application/json"]
    assert list(paths["/import/{layer}"]["post"]["requestBody"]["content"]) == [
        "multipart/form-data"]
