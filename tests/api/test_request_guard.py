"""api.request_guard in the app (TestClient): key before body, NUL in the URL, DB down."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from api.app import create_app
from api.settings import ApiSettings
from geo.keys import key_for
from geo.models import ApiKey

UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=1"


class UnreachableKeys:
    """Key lookups on a real engine whose server does not exist (port 9)."""

    def __init__(self) -> None:
        self.engine = create_engine(UNREACHABLE)

    async def key(self, plain: str) -> ApiKey | None:
        with Session(self.engine) as session:
            return key_for(session, plain)

    async def close(self) -> None:
        self.engine.dispose()


@pytest.fixture
def down_client(database_url: str) -> Iterator[TestClient]:
    app = create_app(ApiSettings())
    with TestClient(app) as client:
        app.state.locate_source = UnreachableKeys()
        yield client


def test_key_check_with_the_database_down_is_503(down_client: TestClient) -> None:
    response = down_client.post("/events", json={"category": "x", "lon": 113.3, "lat": 40.1},
                                headers={"X-API-Key": "gl_not_cached"})
    assert response.status_code == 503, response.text
    assert response.json() == {
        "error": "database_unavailable", "details": [],
        "message": "the database did not answer the key check (OperationalError)"}


def test_write_without_key_is_401_without_reading_the_body(down_client: TestClient) -> None:
    """No key: answered from the headers alone (the unreachable database is never asked)."""
    response = down_client.post("/admin/keys", content=b"x" * 100_000,
                                headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert response.json()["message"] == "this request needs an API key (header X-API-Key)"


def test_write_without_body_reaches_the_route(down_client: TestClient) -> None:
    """A bodiless POST has nothing to protect: the route answers (here 405)."""
    response = down_client.post("/locate")
    assert response.status_code == 405
