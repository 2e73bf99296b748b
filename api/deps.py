"""Request dependencies: the database session (one transaction per request) and the app's
settings (``app.state.settings``, set once by :func:`api.app.create_app`).

**Commit, then answer.** :data:`SessionDep` is a ``yield`` dependency of scope
``"function"``: FastAPI runs its teardown, and with it the commit, when the handler returns
and *before* the response is sent (a request-scoped teardown runs after sending, so a 2xx
could go out for a commit that then failed). A failed commit raises, and the error table
(:mod:`api.errors`) answers 409 or 503: the client never gets a 2xx for an unwritten change.
Only a streamed read keeps its session open while streaming (:data:`StreamSessionDep`).

**Reads that may lag.** :data:`ReadSessionDep` (and :data:`ReadStreamSessionDep`) is the
session of a read that may come from the streaming standby (``GRIDLINK_READ_DATABASE_URL``):
the standby when one is configured, reachable, and the client wrote nothing just before;
else the request's primary session (:mod:`api.standby` has the rule). Writes and
read-your-writes paths take :data:`SessionDep`.

**Bounded, off the loop.** Each process serves at most ``GRIDLINK_DB_POOL_SIZE`` sessions at
once (the engine's pool size); a request waits on the event loop for a free one, up to
``GRIDLINK_DB_POOL_TIMEOUT_S``, then gets 503. Handlers that use the session are ``def``
(FastAPI runs them in the thread pool) or hand their database work to ``run_in_threadpool``;
the commit or rollback goes to the thread pool as well, so no database call ever runs on
the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
from anyio.lowlevel import RunVar
from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.settings import ApiSettings
from api.standby import reads_from_standby
from geo.errors import DatabaseUnavailable

_SLOTS: RunVar[anyio.Semaphore] = RunVar("gridlink_session_slots")
"""The event loop's session slots (one semaphore per loop, sized by the pool)."""


def _session_slots(size: int) -> anyio.Semaphore:
    try:
        return _SLOTS.get()
    except LookupError:
        slots = anyio.Semaphore(size)
        _SLOTS.set(slots)
        return slots


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request on the app's database (``app.state.sessions``): committed if
    the handler returns, rolled back if it raises.

    Raises :class:`DatabaseUnavailable` (503) when no session slot frees up within
    ``db_pool_timeout_s`` seconds. Creating a session does no I/O (it connects on first
    use); the commit or rollback and close run in the thread pool, in one hop, and only
    if the session was used.
    """
    settings = app_settings(request.app)
    slots = _session_slots(settings.db_pool_size)
    with anyio.move_on_after(settings.db_pool_timeout_s) as waiting:
        await slots.acquire()
    if waiting.cancelled_caught:
        raise DatabaseUnavailable(
            f"all {settings.db_pool_size} database sessions of this process stayed busy for "
            f"{settings.db_pool_timeout_s:g} s; retry", [{"reason": "sessions_busy"}])
    try:
        session: Session = request.app.state.sessions()
        try:
            yield session
        except BaseException:
            await _finish(session, commit=False)
            raise
        await _finish(session, commit=True)
    finally:
        slots.release()


async def _finish(session: Session, commit: bool) -> None:
    """End the request's transaction; a session that never touched the database (e.g. an
    auth check answered from the key cache) closes on the loop, without a thread hop."""
    if session.in_transaction():
        await run_in_threadpool(_end, session, commit)
    else:
        session.close()


def _end(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def current_settings(request: Request) -> ApiSettings:
    """The settings the app was built with (:func:`app_settings`)."""
    return app_settings(request.app)


def app_settings(app: Any) -> ApiSettings:
    """The settings kept on ``app.state.settings``: the one place every route (FastAPI
    dependencies and the plain-ASGI /locate alike) reads them."""
    settings: ApiSettings = app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
"""The request's session, committed before the response is sent."""
StreamSessionDep = Annotated[Session, Depends(get_session, scope="request")]
"""For a streamed read only: the session stays open until the last chunk is sent."""
SettingsDep = Annotated[ApiSettings, Depends(current_settings)]


@asynccontextmanager
async def _standby_or(request: Request, primary: Session) -> AsyncIterator[Session]:
    """A standby session for this read (:func:`api.standby.reads_from_standby`), else
    ``primary``; a standby that cannot be reached leaves the read on ``primary``."""
    standby = reads_from_standby(request.scope)
    session = None if standby is None else await run_in_threadpool(standby.open_session)
    if session is None:
        yield primary
        return
    try:
        yield session
    finally:
        await run_in_threadpool(session.close)


async def get_read_session(request: Request, primary: SessionDep) -> AsyncIterator[Session]:
    """The session of a read that may lag: the standby's or the primary's (module doc)."""
    async with _standby_or(request, primary) as session:
        yield session


async def get_read_stream_session(request: Request,
                                  primary: StreamSessionDep) -> AsyncIterator[Session]:
    """:func:`get_read_session` for a streamed read (open until the last chunk)."""
    async with _standby_or(request, primary) as session:
        yield session


ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
"""A read that may come from the standby (map pages' data); never for a write."""
ReadStreamSessionDep = Annotated[Session, Depends(get_read_stream_session, scope="request")]
"""A streamed read that may come from the standby (exports)."""
