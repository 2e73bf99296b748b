"""The one session factory. Callers own the transaction: geo functions never commit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import orjson
from psycopg.types.json import set_json_loads
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from geo.settings import Settings, get_settings

set_json_loads(orjson.loads)
"""psycopg decodes json columns with orjson: the standard library's decoder was ~10 % of a
/locate request (whose answer arrives as JSON columns)."""


def database_url(settings: Settings | None = None) -> str:
    """``GRIDLINK_DATABASE_URL`` if set, else the project-managed cluster's URL."""
    settings = settings or get_settings()
    if settings.database_url:
        url = settings.database_url
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url
    return f"postgresql+psycopg://postgres@127.0.0.1:{settings.db_port}/{settings.db_name}"


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL ``url`` as a libpq URL (``postgresql://``, password kept), for
    psycopg connections made outside SQLAlchemy (the /locate pool, LISTEN for alarms)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@lru_cache
def engine_for(url: str) -> Engine:
    # No pool_pre_ping: it costs a round trip per request (bench/RESULTS.md, /locate). A
    # connection broken by a database restart fails one request, then the pool is renewed.
    return create_engine(url, pool_size=10, max_overflow=10, pool_recycle=1800)


def get_engine() -> Engine:
    return engine_for(database_url())


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    """Sessions bound to ``engine`` (default: the configured database)."""
    return _factory_for(engine or get_engine())


@lru_cache
def _factory_for(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine | None = None) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error."""
    with session_factory(engine)() as session, session.begin():
        yield session
