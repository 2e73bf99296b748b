"""Request dependencies: the database session (one transaction per request) and settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from geo.db import session_factory
from geo.settings import Settings, get_settings


def get_session() -> Iterator[Session]:
    """One session per request: committed if the handler returns, rolled back if it raises."""
    with session_factory()() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
