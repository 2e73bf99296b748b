"""The one session factory. Callers own the transaction: geo functions never commit."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import orjson
import psycopg
from psycopg.pq import TransactionStatus
from psycopg.types.json import set_json_loads
from sqlalchemy import Engine, create_engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from geo.errors import Conflict, DatabaseUnavailable, GridlinkError
from geo.settings import Settings, get_settings

set_json_loads(orjson.loads)
"""psycopg decodes json columns with orjson: the standard library's decoder was ~10 % of a
/locate request (whose answer arrives as JSON columns)."""


def database_url(settings: Settings | None = None) -> str:
    """``GRIDLINK_DATABASE_URL`` if set, else the project-managed cluster's URL."""
    settings = settings or get_settings()
    if settings.database_url:
        return _psycopg_url(settings.database_url)
    return f"postgresql+psycopg://postgres@127.0.0.1:{settings.db_port}/{settings.db_name}"


def read_database_url(settings: Settings | None = None) -> str | None:
    """``GRIDLINK_READ_DATABASE_URL`` (a streaming standby of the primary), None if unset."""
    url = (settings or get_settings()).read_database_url
    return _psycopg_url(url) if url else None


def _psycopg_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


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


def service_options(settings: Settings | None = None) -> str:
    """libpq ``options`` for the API's connections: ``lock_timeout``, ``statement_timeout``
    and ``idle_in_transaction_session_timeout`` from the settings (milliseconds).

    Only the service's connections get them; the CLI's long imports and assignments run
    without a statement timeout.
    """
    settings = settings or get_settings()
    return (f"-c lock_timeout={settings.db_lock_timeout_ms}"
            f" -c statement_timeout={settings.db_statement_timeout_ms}"
            " -c idle_in_transaction_session_timeout="
            f"{settings.db_idle_in_transaction_timeout_ms}")


def connect_timeout_s(settings: Settings | None = None) -> int:
    """libpq ``connect_timeout`` (whole seconds, at least 2) of the service's connections."""
    return max(2, math.ceil((settings or get_settings()).db_pool_timeout_s))


def service_engine(settings: Settings | None = None, *, standby: bool = False) -> Engine:
    """The API's engine: ``db_pool_size`` connections (+ as many overflow for the /locate
    fallbacks and key lookups), checkout wait ``db_pool_timeout_s``, and the timeouts of
    :func:`service_options` on every connection. ``standby``: the same on the read replica
    (:func:`read_database_url`, which must be set), named ``gridlink-read`` in
    ``pg_stat_activity``."""
    settings = settings or get_settings()
    url = read_database_url(settings) if standby else database_url(settings)
    if url is None:
        raise ValueError("no standby configured (GRIDLINK_READ_DATABASE_URL)")
    return _service_engine(url, settings.db_pool_size, settings.db_pool_timeout_s,
                           service_options(settings), connect_timeout_s(settings),
                           "gridlink-read" if standby else "gridlink-api")


@lru_cache
def _service_engine(url: str, pool_size: int, timeout_s: float, options: str,
                    connect_timeout: int, application_name: str) -> Engine:
    # pool_pre_ping: after a database restart a pooled connection is stale. Without the ping
    # each one failed one request (503) after the database was back; the ping (one round
    # trip, ~0.1 ms, on a write of several ms) replaces it unseen. /locate has its own pool.
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size,
                         pool_timeout=timeout_s, pool_recycle=1800, pool_pre_ping=True,
                         connect_args={"options": options, "connect_timeout": connect_timeout,
                                       "application_name": application_name})


CONFLICT_STATES = {"40001": "a concurrent request changed the same data (serialization "
                   "failure)", "40P01": "a deadlock with a concurrent request",
                   "55P03": "a row or table it needs is locked by another request "
                   "(lock_timeout)"}
"""SQLSTATEs answered as a conflict: the request changed nothing and may be retried."""


def database_error(exc: BaseException) -> GridlinkError | None:
    """The :mod:`geo.errors` type for a database failure, None if it is not one we map.

    ``exc`` is a SQLAlchemy or psycopg exception. Conflicts (integrity violations,
    serialization failures, deadlocks, lock timeouts) become :class:`Conflict`; a pool
    checkout timeout, a cancelled statement (statement_timeout), a lost or refused
    connection or a server shutting down become :class:`DatabaseUnavailable`. Either way
    the transaction was rolled back: nothing was written.
    """
    if isinstance(exc, sa_exc.TimeoutError):
        return DatabaseUnavailable("no database connection came free in time; retry",
                                   [{"reason": "pool_timeout"}])
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    if not isinstance(orig, psycopg.Error):
        return None
    state = orig.sqlstate or ""
    if state in CONFLICT_STATES or state.startswith("23"):
        reason = CONFLICT_STATES.get(state, "it conflicts with stored data")
        return Conflict(f"nothing was written: {reason}; retry or check the data",
                        [{"sqlstate": state, "problem": _first_line(orig)}])
    if state == "57014":
        return DatabaseUnavailable("the database cancelled a statement that ran too long "
                                   "(statement_timeout); nothing was written",
                                   [{"sqlstate": state}])
    lost = isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
    if lost or isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError) or (
            state[:2] in ("08", "57")):
        return DatabaseUnavailable("the database is unavailable; nothing was written, retry",
                                   [{"sqlstate": state or None}])
    return None


def _first_line(exc: BaseException) -> str:
    return str(exc).split("\n", 1)[0][:300]


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


def psycopg_connection(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under ``session`` (same transaction), for COPY."""
    conn = session.connection().connection.driver_connection
    assert isinstance(conn, psycopg.Connection)
    return conn


@contextmanager
def local_settings(session: Session, values: Mapping[str, str]) -> Iterator[None]:
    """Server settings ``values`` (name → value, e.g. ``{"work_mem": "256MB"}``) for the
    statements of the ``with`` block, transaction-local (``set_config(name, value, true)``);
    each setting's previous value in the transaction is restored after the block, also when
    it raises while the transaction is still usable (an aborted transaction or savepoint
    undoes its settings itself when rolled back). The one way gridlink sets a
    transaction-local setting and puts it back; a custom setting that was never set (e.g.
    ``gridlink.audit_rows``) is restored as the empty string."""
    before = {}
    for name, value in values.items():
        before[name] = session.execute(text("SELECT current_setting(:n, true)"),
                                       {"n": name}).scalar_one()
        session.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})
    try:
        yield
    finally:
        if psycopg_connection(session).info.transaction_status != TransactionStatus.INERROR:
            for name, was in before.items():
                session.execute(text("SELECT set_config(:n, :v, true)"),
                                {"n": name, "v": was or ""})
