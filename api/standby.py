"""The read replica: which reads go to the streaming standby, and what happens when it lags
or is down.

With ``GRIDLINK_READ_DATABASE_URL`` set, :func:`api.create_app` keeps a :class:`Standby` on
``app.state.standby``. The rule (docs/scale.md, "A read replica"):

* **Standby**: ``GET /locate`` (its own psycopg pool) and the routes that take
  :data:`api.deps.ReadSessionDep` / ``ReadStreamSessionDep`` — the map pages' data and the
  exports. They show what *others* wrote; a standby a moment behind is acceptable there.
* **Primary**: every write, every key check (a revoked key stops at once), and the reads a
  client makes right after its own write: ``GET /events``, ``/events/{id}``, the alarm
  board, planning, admin, the dashboard (they take ``SessionDep``).
* **Read your writes**: a successful write (any method but GET/HEAD/OPTIONS answered below
  400) sets the cookie ``gridlink_wrote`` for ``GRIDLINK_READ_YOUR_WRITES_S`` seconds
  (:class:`ReadYourWrites`); while a client sends it back, its standby reads go to the
  primary, so it sees its own write even while the standby lags. A client that keeps no
  cookies reads its writes through the primary routes above.
* **Standby down**: a read that cannot connect to the standby (or whose /locate pool times
  out) is answered from the primary, and the standby is left alone for
  ``GRIDLINK_READ_RETRY_S`` seconds; ``/health`` reports it ``unreachable``. Reads keep
  working, at the primary's cost.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.locate_pool import LocateSource, PooledSource
from geo.db import read_database_url, service_engine, session_factory
from geo.errors import DatabaseUnavailable
from geo.settings import Settings

WROTE_COOKIE = "gridlink_wrote"
"""Set on every successful write: the client's reads go to the primary until it expires."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Standby:
    """The streaming standby (read replica): its sessions, its /locate pool, and whether it
    answered lately (after a failure it is skipped for ``read_retry_s`` seconds)."""

    def __init__(self, url: str, settings: Settings) -> None:
        self.sessions: sessionmaker[Session] = session_factory(
            service_engine(settings, standby=True))
        self.locate = PooledSource(url, settings, standby=True)
        self.retry_s = settings.read_retry_s
        self.down_until = 0.0

    @classmethod
    def configured(cls, settings: Settings) -> Standby | None:
        """The standby of ``GRIDLINK_READ_DATABASE_URL``, None when it is unset."""
        url = read_database_url(settings)
        return cls(url, settings) if url else None

    def serves(self, cookies: Mapping[str, str]) -> bool:
        """Whether a read carrying ``cookies`` goes to the standby: it answered lately and
        the client wrote nothing in the read-your-writes window."""
        return time.monotonic() >= self.down_until and not wrote_recently(cookies)

    def mark_down(self) -> None:
        self.down_until = time.monotonic() + self.retry_s

    def open_session(self) -> Session | None:
        """A standby session with its connection checked out (blocking: call it in the
        thread pool), or None when the standby cannot be reached (then marked down)."""
        session = self.sessions()
        try:
            session.connection()
        except (sa_exc.DBAPIError, sa_exc.TimeoutError):
            session.close()
            self.mark_down()
            return None
        return session

    async def locate_answer(self, primary: LocateSource, lon: float, lat: float,
                            k: int | None, radius_m: float | None, settings: Settings) -> str:
        """/locate from the standby's pool; from ``primary`` when it fails to answer."""
        try:
            return await self.locate.answer(lon, lat, k, radius_m, settings)
        except DatabaseUnavailable:
            self.mark_down()
            return await primary.answer(lon, lat, k, radius_m, settings)

    def status(self, primary_lsn: str) -> dict[str, Any]:
        """For /health: reachable, in recovery, replay paused, bytes of WAL behind the
        primary's ``primary_lsn`` and seconds since the last replayed transaction (0 when
        nothing is behind, None when unknown: see :func:`_lag_seconds`). Blocking."""
        try:
            with self.sessions() as session:
                row = session.execute(STANDBY_STATUS, {"lsn": primary_lsn}).one()
        except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
            self.mark_down()  # /health is public: the error's class only, no host or port
            cause = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
            return {"status": "unreachable", "reads_from": "primary",
                    "problem": type(cause).__name__}
        behind = int(row.behind or 0)
        return {"status": "ok" if row.recovery else "not_a_standby",
                "reads_from": "standby" if time.monotonic() >= self.down_until else "primary",
                "in_recovery": row.recovery, "replay_paused": row.paused,
                "replay_lag_bytes": behind,
                "replay_lag_s": _lag_seconds(behind, row.since)}

    async def close(self) -> None:
        await self.locate.close()


def _lag_seconds(behind: int, since: Any) -> float | None:
    """Seconds since the standby's last replayed commit while it is ``behind`` (bytes); 0.0
    when it is not behind; None when it is behind but has replayed no commit since it
    started (PostgreSQL then knows no replay timestamp)."""
    if not behind:
        return 0.0
    return None if since is None else round(float(since), 3)


STANDBY_STATUS = text("""
    SELECT pg_is_in_recovery() AS recovery,
           CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END AS paused,
           greatest(0, pg_wal_lsn_diff(CAST(:lsn AS pg_lsn), pg_last_wal_replay_lsn()))
             AS behind,
           extract(epoch FROM now() - pg_last_xact_replay_timestamp()) AS since""")


def wrote_recently(cookies: Mapping[str, str]) -> bool:
    """Whether ``cookies`` carry an unexpired :data:`WROTE_COOKIE` (a Unix time, s)."""
    value = cookies.get(WROTE_COOKIE)
    try:
        return value is not None and float(value) > time.time()
    except ValueError:
        return False


def reads_from_standby(scope: Scope) -> Standby | None:
    """The app's standby if this request (ASGI ``scope``) should read from it."""
    standby: Standby | None = scope["app"].state.standby
    if standby is None or not standby.serves(HTTPConnection(scope).cookies):
        return None
    return standby


class ReadYourWrites:
    """Pure ASGI middleware: a write answered below 400 sets :data:`WROTE_COOKIE` (its
    expiry, Unix time) for ``seconds``; only installed when a standby is configured."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS or self.seconds <= 0:
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                until = time.time() + self.seconds
                cookie = (f"{WROTE_COOKIE}={until:.3f}; Max-Age={math.ceil(self.seconds)};"
                          " Path=/; HttpOnly; SameSite=Lax")
                message["headers"] = [*message.get("headers", []),
                                      (b"set-cookie", cookie.encode())]
            await send(message)

        await self.app(scope, receive, send_with_cookie)
