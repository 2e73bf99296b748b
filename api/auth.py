"""API-key authentication and role checks.

Clients send ``X-API-Key: <key>`` (or ``Authorization: Bearer <key>``, or HTTP Basic with
the key as password, for desktop GIS such as QGIS); browsers signed in
at ``/login`` send a session cookie (an opaque ``gls_`` id, never the key), accepted for reads
only. Missing or unknown key → 401; a valid key without the needed role → 403. ``admin`` may
do everything. Every route declares its rule with one of :func:`require_roles` /
:data:`Reader`; a test walks the app's routes so that a route without a rule fails.

Every write route's rule is also where its audit row is written (:mod:`api.audit`), so a new
write route cannot forget it.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from api import revocations
from api.audit import audited_write
from api.deps import SessionDep, SettingsDep
from api.settings import ApiSettings
from geo.errors import AuthRequired, Forbidden
from geo.keys import SESSION_PREFIX, hash_key, key_for
from geo.models import ApiKey


@dataclass(frozen=True)
class Caller:
    """Who is calling: ``role`` is None for anonymous public reads."""

    name: str
    role: str | None
    key_id: int | None = None
    worker_code: str | None = None
    key_prefix: str | None = None
    area_code: str | None = None
    """The only area the key may read (geo.roles: dashboard, stats, events, maps, exports, OGC
    events, tiles); None: all."""


SESSION_COOKIE = "gridlink_session"
"""Cookie set by /login for browsers: a session id; honoured for reads (GET/HEAD) only."""


def _plain_key(request: HTTPConnection) -> str | None:
    """The key of the request's headers, or the session id of its cookie on a read.

    A session id in a header, or anything but a session id in the cookie, is refused (401):
    a session id never authorises a write.
    """
    key = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:]
    if not key and auth.lower().startswith("basic "):
        key = _basic_password(auth[6:])
    if key:
        if key.strip().startswith(SESSION_PREFIX):
            raise AuthRequired("a browser session id is not an API key")
        return key.strip()
    if request.scope.get("method") in ("GET", "HEAD"):
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie is not None and not cookie.startswith(SESSION_PREFIX):
            raise AuthRequired("the session cookie is not valid: sign in again at /login")
        return cookie
    return None


def _basic_password(credentials: str) -> str:
    """The key sent as HTTP Basic credentials ``user:key`` (any user name), as QGIS and GDAL
    send it (they cannot add an ``X-API-Key`` header); 401 when not base64 ``user:key``."""
    try:
        _, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise AuthRequired("HTTP Basic credentials must be base64 of user:key") from None
    if not password:
        raise AuthRequired("HTTP Basic credentials must carry the API key as the password")
    return password


_KEYS_SEEN: dict[str, tuple[Caller, float, int]] = {}
"""Valid keys recently seen, by hash: (caller, expiry on the monotonic clock, revocation
generation when looked up)."""


def forget_cached_keys() -> None:
    """Drop the key cache (after a revocation in this process)."""
    _KEYS_SEEN.clear()


KeyLookup = Callable[[str], Awaitable[ApiKey | None]]
"""Finds the active stored key for a plain key (None when unknown or revoked)."""


def session_lookup(session: Session) -> KeyLookup:
    """Key lookups in ``session``, run in the thread pool (only on a key-cache miss)."""

    async def lookup(plain: str) -> ApiKey | None:
        return await run_in_threadpool(key_for, session, plain)

    return lookup


async def caller_of(request: HTTPConnection, lookup: KeyLookup,
                    settings: ApiSettings) -> Caller | None:
    """The caller named by the request's key, None without a key; 401 for a bad key.

    A valid key is remembered for ``GRIDLINK_KEY_CACHE_SECONDS`` (default 10 s), so most
    requests check it without a database round trip or a thread hop - but only while this
    process listens for revocations (:mod:`api.revocations`), which empties the cache of
    every process when a revocation commits; while not listening, every request looks its
    key up. A revoked key therefore stops working at once on every worker.
    """
    plain = _plain_key(request)
    if plain is None:
        return None
    digest = hash_key(plain)
    now = time.monotonic()
    seen = _KEYS_SEEN.get(digest)
    generation = revocations.generation()
    if seen is not None and seen[1] > now and seen[2] == generation:
        return seen[0]
    key = await lookup(plain)
    if key is None:
        raise AuthRequired("the API key is unknown or revoked")
    caller = Caller(name=key.name, role=key.role, key_id=key.id, worker_code=key.worker_code,
                    key_prefix=key.prefix, area_code=key.area_code)
    if (settings.key_cache_seconds > 0 and generation is not None
            and generation == revocations.generation()):
        _KEYS_SEEN[digest] = (caller, now + settings.key_cache_seconds, generation)
    return caller


async def reader_of(request: HTTPConnection, lookup: KeyLookup,
                    settings: ApiSettings) -> Caller:
    """The rule of every read: any valid key, or anyone with ``GRIDLINK_PUBLIC_READ``."""
    caller = await caller_of(request, lookup, settings)
    if caller is not None:
        return caller
    if settings.public_read:
        return Caller(name="anonymous", role=None)
    raise AuthRequired("reading needs an API key (header X-API-Key), or GRIDLINK_PUBLIC_READ")


READ_ROLES = frozenset({"admin", "planner", "dispatcher", "worker", "viewer"})


def require_roles(*roles: str) -> Callable[..., AsyncIterator[Caller]]:
    """A dependency admitting keys whose role is in ``roles`` (admin always)."""
    allowed = frozenset(roles) | {"admin"}

    async def dependency(request: Request, session: SessionDep,
                         settings: SettingsDep) -> AsyncIterator[Caller]:
        caller = await caller_of(request, session_lookup(session), settings)
        if caller is None:
            raise AuthRequired("this request needs an API key (header X-API-Key)")
        if caller.role not in allowed:
            raise Forbidden(
                f"role {caller.role!r} may not do this",
                [{"required_roles": sorted(allowed), "role": caller.role}],
            )
        async with audited_write(request, session, caller):
            yield caller

    dependency.gridlink_roles = allowed  # type: ignore[attr-defined]
    return dependency


async def _reader(request: Request, session: SessionDep, settings: SettingsDep) -> Caller:
    return await reader_of(request, session_lookup(session), settings)


_reader.gridlink_roles = READ_ROLES  # type: ignore[attr-defined]

Reader = Annotated[Caller, Depends(_reader)]
# scope="function": the rule's audit step (api.audit) ends right after the handler, inside
# the request's transaction, whenever the session commits.
Admin = Annotated[Caller, Depends(require_roles("admin"), scope="function")]
Planner = Annotated[Caller, Depends(require_roles("planner"), scope="function")]
Dispatcher = Annotated[Caller, Depends(require_roles("dispatcher"), scope="function")]
Reporter = Annotated[Caller, Depends(require_roles("dispatcher", "worker"), scope="function")]
Importer = Annotated[Caller, Depends(require_roles("planner", "dispatcher"), scope="function")]
