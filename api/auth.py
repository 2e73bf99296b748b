"""API-key authentication and role checks.

Clients send ``X-API-Key: <key>`` (or ``Authorization: Bearer <key>``); browsers signed in
at ``/login`` send a cookie, accepted for reads only. Missing or unknown
key → 401; a valid key without the needed role → 403. ``admin`` may do everything.
Every route declares its rule with one of :func:`require_roles` / :data:`Reader`; a test
walks the app's routes so that a route without a rule fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from api.deps import SessionDep, SettingsDep
from geo.errors import AuthRequired, Forbidden
from geo.keys import key_for


@dataclass(frozen=True)
class Caller:
    """Who is calling: ``role`` is None for anonymous public reads."""

    name: str
    role: str | None
    key_id: int | None = None
    worker_code: str | None = None


KEY_COOKIE = "gridlink_key"
"""Cookie set by /login for browsers; honoured for reads (GET/HEAD) only."""


def _plain_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    if request.method in ("GET", "HEAD"):
        return request.cookies.get(KEY_COOKIE)
    return None


def _caller(request: Request, session: SessionDep) -> Caller | None:
    plain = _plain_key(request)
    if plain is None:
        return None
    key = key_for(session, plain)
    if key is None:
        raise AuthRequired("the API key is unknown or revoked")
    return Caller(name=key.name, role=key.role, key_id=key.id, worker_code=key.worker_code)


def require_roles(*roles: str) -> Callable[..., Caller]:
    """A dependency admitting keys whose role is in ``roles`` (admin always)."""
    allowed = frozenset(roles) | {"admin"}

    def dependency(request: Request, session: SessionDep) -> Caller:
        caller = _caller(request, session)
        if caller is None:
            raise AuthRequired("this request needs an API key (header X-API-Key)")
        if caller.role not in allowed:
            raise Forbidden(
                f"role {caller.role!r} may not do this",
                [{"required_roles": sorted(allowed), "role": caller.role}],
            )
        return caller

    dependency.gridlink_roles = allowed  # type: ignore[attr-defined]
    return dependency


def _reader(request: Request, session: SessionDep, settings: SettingsDep) -> Caller:
    caller = _caller(request, session)
    if caller is not None:
        return caller
    if settings.public_read:
        return Caller(name="anonymous", role=None)
    raise AuthRequired("reading needs an API key (header X-API-Key), or GRIDLINK_PUBLIC_READ")


_reader.gridlink_roles = frozenset({"admin", "planner", "dispatcher", "worker", "viewer"})  # type: ignore[attr-defined]

Reader = Annotated[Caller, Depends(_reader)]
Admin = Annotated[Caller, Depends(require_roles("admin"))]
Planner = Annotated[Caller, Depends(require_roles("planner"))]
Dispatcher = Annotated[Caller, Depends(require_roles("dispatcher"))]
Reporter = Annotated[Caller, Depends(require_roles("dispatcher", "worker"))]
Importer = Annotated[Caller, Depends(require_roles("planner", "dispatcher"))]
