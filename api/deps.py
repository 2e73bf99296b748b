"""Request dependencies: the database session (one transaction per request) and settings.

Both are cheap to create, so they are ``async`` dependencies that run on the event loop:
FastAPI sends every *sync* dependency through the thread pool, and on a 2-core server those
hops, not the SQL, dominated a /locate request (bench/RESULTS.md, Dispatch).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from geo.db import session_factory
from geo.settings import Settings, get_settings


async def get_session() -> AsyncIterator[Session]:
    """One session per request: committed if the handler returns, rolled back if it raises.

    Creating a session does no I/O (it connects on first use); only the commit or rollback
    and close at the end go to the thread pool, in one hop, and only if it was used.
    """
    session = session_factory()()
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


async def current_settings() -> Settings:
    return get_settings()


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(current_settings)]
