"""The auth matrix: every route declares who may call it, and 401/403 are distinct."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Route

from api.app import PUBLIC_PATHS, create_app
from api.openapi import api_routes, route_roles
from geo.keys import ROLES


def asgi_routes(routes: list[Any]) -> Iterator[Route]:
    """Plain Starlette routes whose ASGI endpoint states its own rule (GET /locate)."""
    for route in routes:
        if type(route) is Route and hasattr(route.endpoint, "gridlink_roles"):
            yield route


def _routes() -> list[tuple[str, str, frozenset[str]]]:
    app = create_app()
    rules: list[tuple[str, set[str], frozenset[str] | None]] = [
        (route.path, route.methods, route_roles(route)) for route in api_routes(app.routes)]
    rules += [(route.path, route.methods or set(), route.endpoint.gridlink_roles)
              for route in asgi_routes(app.routes)]
    rows = []
    for route_path, methods, roles in rules:
        if route_path in PUBLIC_PATHS:
            continue
        assert roles is not None, f"{route_path} declares no auth rule"
        path = re.sub(r"\{[^}]+\}", "1", route_path)
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            rows.append((method, path, roles))
    return rows


def test_every_route_declares_an_auth_rule() -> None:
    paths = {path for _, path, _ in _routes()}
    assert {"/admin/keys", "/locate"} <= paths


def test_public_paths_need_no_key(client: TestClient) -> None:
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize(("method", "path", "roles"), _routes())
def test_route_without_key_is_401(
    client: TestClient, method: str, path: str, roles: frozenset[str]
) -> None:
    response = client.request(method, path)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "auth_required"


@pytest.mark.parametrize(("method", "path", "roles"), _routes())
def test_route_with_wrong_role_is_403(
    client: TestClient, keys: dict[str, str], method: str, path: str, roles: frozenset[str]
) -> None:
    for role in ROLES:
        if role in roles:
            continue
        response = client.request(method, path, headers={"X-API-Key": keys[role]})
        assert response.status_code == 403, (role, response.text)
        assert response.json()["error"] == "forbidden"


@pytest.mark.parametrize(("method", "path", "roles"), _routes())
def test_route_with_unknown_key_is_401(
    client: TestClient, method: str, path: str, roles: frozenset[str]
) -> None:
    response = client.request(method, path, headers={"X-API-Key": "gl_not_a_real_key"})
    assert response.status_code == 401
