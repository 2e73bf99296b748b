"""Test infrastructure: a real PostGIS, a real FastAPI app, no mocks.

The suite starts (or reuses) a project-managed test cluster under ``.gridlink/test`` on port
``GRIDLINK_TEST_DB_PORT`` (default 55433), or uses ``GRIDLINK_TEST_DATABASE_URL`` (a server
where it may create databases). Each pytest process gets a database of its own, migrated with
Alembic and dropped at the end. If PostGIS cannot be reached the whole run fails: no test is
ever skipped for missing infrastructure.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from api.app import create_app
from api.deps import get_session
from api.settings import ApiSettings
from cli.cluster import fresh_database, test_server_url
from geo.districts import forget_service_area
from geo.keys import ROLES, create_key, key_for
from geo.locate import locate
from geo.models import ApiKey
from geo.schema import upgrade
from geo.settings import Settings, get_settings

TEST_HOME = get_settings().home / "test"


def _server_url() -> str:
    """URL of a server (database ``postgres``) where the test database can be created."""
    if url := os.environ.get("GRIDLINK_TEST_DATABASE_URL"):
        return url
    port = int(os.environ.get("GRIDLINK_TEST_DB_PORT", "55433"))
    TEST_HOME.mkdir(parents=True, exist_ok=True)
    with open(TEST_HOME / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return test_server_url(port)


def _create_test_database() -> str:
    try:
        server_url = _server_url()
    except Exception as exc:  # any failure here must stop the run loudly
        pytest.exit(f"PostGIS for the tests could not be started: {exc}", returncode=3)
    return fresh_database(server_url, f"gridlink_test_{os.getpid()}")


def _drop_database(url: str) -> None:
    target = make_url(url)
    dsn = target.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = _create_test_database()
    os.environ["GRIDLINK_DATABASE_URL"] = url
    get_settings.cache_clear()
    upgrade(url)
    yield url
    _drop_database(url)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = create_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that is rolled back after the test."""
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def db(connection: Connection) -> Iterator[Session]:
    """A session whose commits are savepoints inside the test's rolled-back transaction."""
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        yield session


@pytest.fixture
def keys(db: Session) -> dict[str, str]:
    """One API key per role, by role name."""
    made = {role: create_key(db, f"test {role}", role) for role in ROLES}
    db.commit()  # a savepoint release: the keys survive a rolled-back request
    return made


@pytest.fixture
def client(db: Session, keys: dict[str, str]) -> Iterator[TestClient]:
    """The real app over HTTP (TestClient), using the test's transaction."""
    with client_in_transaction(db, ApiSettings()) as test_client:
        yield test_client


@contextmanager
def client_in_transaction(db: Session, settings: ApiSettings) -> Iterator[TestClient]:
    """The app built once with ``settings``, over HTTP, reading and writing through the
    test's transaction (``db``), /locate included."""
    app = create_app(settings)

    def session_in_test_transaction() -> Iterator[Session]:
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise

    app.dependency_overrides[get_session] = session_in_test_transaction
    app.state.locate_source = TransactionSource(db)
    with TestClient(app) as test_client:
        yield test_client


class TransactionSource:
    """The /locate source reading through the test's transaction (api.locate_pool)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    async def key(self, plain: str) -> ApiKey | None:
        return key_for(self.session, plain)

    async def answer(self, lon: float, lat: float, k: int | None, radius_m: float | None,
                     settings: Settings) -> str:
        return locate(self.session, lon, lat, k=k, radius_m=radius_m,
                      settings=settings).model_dump_json()

    async def close(self) -> None:
        return None


def auth(keys: dict[str, str], role: str) -> dict[str, str]:
    """Headers carrying the test key of ``role``."""
    return {"X-API-Key": keys[role]}


@pytest.fixture(autouse=True)
def _fresh_service_area() -> Iterator[None]:
    """Each test starts without a cached district extent (its data is rolled back)."""
    forget_service_area()
    yield
    forget_service_area()
