"""Where ``GET /locate`` reads: a psycopg connection pool in autocommit.

:class:`LocateSource` is the interface the endpoint (:mod:`api.routers.locate`) reads through,
kept on ``app.state.locate_source``: :class:`PooledSource` in production, the test's
transaction in tests. One prepared statement per request; PostgreSQL builds the JSON.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from geo.db import connect_timeout_s, libpq_url, service_engine, service_options, session_factory
from geo.errors import DatabaseUnavailable
from geo.keys import key_for
from geo.locate import locate, locate_json_async
from geo.models import ApiKey
from geo.settings import Settings

GENERIC_PLANS = " -c plan_cache_mode=force_generic_plan"
"""The /locate statement's plan does not depend on the point, but from about 10^4 grids
PostgreSQL's estimate keeps it re-planning every call (0 of 200 calls on the generic plan):
p50 10.6 ms instead of 0.94 ms at 10^4 grids, 11–15 ms instead of 0.9–1.5 ms at 10^5
(bench/scale.py, bench/RESULTS.md "Growth curves"). Only the pool's connections force it."""


class LocateSource(Protocol):
    """Where /locate reads: API keys (on a key-cache miss) and answers."""

    async def key(self, plain: str) -> ApiKey | None: ...

    async def answer(self, lon: float, lat: float, k: int | None, radius_m: float | None,
                     settings: Settings) -> str:
        """The :class:`LocateResult` of a WGS 84 point as JSON text (``k`` and ``radius_m``
        None: the defaults of ``settings``)."""
        ...

    async def close(self) -> None: ...


class PooledSource:
    """The production source: a psycopg pool (autocommit) opened on the serving event loop
    at the first request and closed at shutdown. The rare point inside no grid, and key
    lookups, run :mod:`geo` on the service engine in the thread pool.

    Its connections carry the service's timeouts (:func:`geo.db.service_options`); a
    checkout waits ``settings.db_pool_timeout_s`` at most. After a connection fails (the
    database restarted), the pool checks its idle connections at once, so one request,
    not one per pooled connection, sees the 503; the fast path pays nothing for this.
    """

    def __init__(self, database_url: str, settings: Settings, max_size: int = 10, *,
                 standby: bool = False) -> None:
        # standby: reading from the read replica (api.standby), its fallbacks included
        self._conninfo = libpq_url(database_url)
        self._sessions = session_factory(service_engine(settings, standby=standby))
        self._max_size = max_size
        self._timeout_s = settings.db_pool_timeout_s
        self._kwargs: dict[str, Any] = {
            "autocommit": True, "options": service_options(settings) + GENERIC_PLANS,
            "connect_timeout": connect_timeout_s(settings),
            "application_name": "gridlink-locate-read" if standby else "gridlink-locate"}
        self._pool: AsyncConnectionPool[Any] | None = None
        self._opening = asyncio.Lock()

    async def _open_pool(self) -> AsyncConnectionPool[Any]:
        async with self._opening:
            if self._pool is None:
                pool = AsyncConnectionPool(
                    self._conninfo, min_size=2, max_size=self._max_size, open=False,
                    timeout=self._timeout_s, kwargs=self._kwargs, name="locate")
                await pool.open()
                self._pool = pool
            return self._pool

    async def key(self, plain: str) -> ApiKey | None:
        return await run_in_threadpool(_stored_key, self._sessions, plain)

    async def answer(self, lon: float, lat: float, k: int | None, radius_m: float | None,
                     settings: Settings) -> str:
        pool = self._pool or await self._open_pool()
        try:
            async with pool.connection() as conn:
                found = await locate_json_async(conn, lon, lat, k=k, radius_m=radius_m,
                                                settings=settings)
        except (PoolTimeout, psycopg.OperationalError) as exc:
            if isinstance(exc, psycopg.OperationalError):
                await pool.check()  # drop the other stale connections now
            raise DatabaseUnavailable(
                f"the database did not answer /locate ({type(exc).__name__}); retry",
                [{"reason": type(exc).__name__}]) from None
        if found is not None:
            return found
        return await run_in_threadpool(_locate_outside, self._sessions, lon, lat, k, radius_m,
                                      settings)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def _stored_key(sessions: sessionmaker[Session], plain: str) -> ApiKey | None:
    with sessions() as session:
        return key_for(session, plain)


def _locate_outside(sessions: sessionmaker[Session], lon: float, lat: float, k: int | None,
                    radius_m: float | None, settings: Settings) -> str:
    with sessions() as session:
        return locate(session, lon, lat, k=k, radius_m=radius_m,
                      settings=settings).model_dump_json()
