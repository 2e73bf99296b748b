"""Request dependencies: the database session (one transaction per request) and the app's
settings (``app.state.settings``, set once by :func:`api.app.create_app`).

Both are cheap to create, so they are ``async`` dependencies that run on the event loop:
FastAPI sends every *sync* dependency through the thread pool, and on a 2-core server those
hops, not the SQL, dominated a /locate request (bench/RESULTS.md, Dispatch).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.settings import ApiSettings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request on the app's database (``app.state.sessions``): committed if
    the handler returns, rolled back if it raises.

    Creating a session does no I/O (it connects on first use); only the commit or rollback
    and close at the end go to the thread pool, in one hop, and only if it was used.
    """
    session: Session = request.app.state.sessions()
    try:
        yield session
    except BaseException:
        await _finish(session, commit=False)
        raise
    await _finish(session, commit=True)


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


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[ApiSettings, Depends(current_settings)]
