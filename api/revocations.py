"""Revocations reach every API process at once: one LISTEN connection per process.

:func:`geo.keys.revoke_key` and logout send ``NOTIFY gridlink_keys`` in their transaction;
PostgreSQL delivers it to every listener when that transaction commits, before the revoking
request is answered. Each process runs :func:`listen` for its lifetime and counts the
notifications in a *generation*; the key cache (api.auth) only answers from entries of the
current generation, so a notification invalidates every cached key of the process. While
the listening connection is down, :func:`generation` is None and every request looks its key
up in the database (never a stale answer).
"""

from __future__ import annotations

import asyncio
import logging

import psycopg

from geo.keys import REVOCATION_CHANNEL

log = logging.getLogger(__name__)
_state: dict[str, int | None] = {"generation": None}


def generation() -> int | None:
    """How many revocations this process has heard of; None while it is not listening."""
    return _state["generation"]


def _bump() -> None:
    current = _state["generation"]
    _state["generation"] = 0 if current is None else current + 1


async def listen(dsn: str, retry_s: float = 1.0) -> None:
    """Listen on ``gridlink_keys`` until cancelled, reconnecting after ``retry_s`` seconds.

    ``dsn`` is a libpq connection string (geo.db.libpq_url).
    """
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                await conn.execute(f"LISTEN {REVOCATION_CHANNEL}")
                _bump()  # listening from now on: older cache entries are not trusted
                async for _ in conn.notifies():
                    _bump()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database went away: no cache until we listen again
            log.warning("revocation listener lost its connection: %s", exc)
        finally:
            _state["generation"] = None
        await asyncio.sleep(retry_s)
