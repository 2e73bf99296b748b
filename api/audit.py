"""The one place that audits every write request (called by the auth rule of each route).

For a POST/PUT/PATCH/DELETE that passed its auth rule, :func:`audited_write` declares the
caller as the transaction's actor before the handler runs (the row triggers on grids, cameras
and events tag their before/after rows with it) and, when the handler returns, appends one
``request`` row naming the route and its path parameters - in the request's transaction, so
a write and its audit rows commit or roll back together. Handlers that change other things
(keys, sessions, changesets) add their own rows with :func:`geo.audit.record` and
:func:`actor_of`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from geo.audit import Actor, act_as, record

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class KeyHolder(Protocol):
    """What the audit needs to know of a caller (api.auth.Caller)."""

    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str | None: ...
    @property
    def key_prefix(self) -> str | None: ...


def route_of(request: Request) -> str:
    """``"POST /events/{event_id}/actions"``: the method and the route's path template."""
    path = getattr(request.scope.get("route"), "path", request.url.path)
    return f"{request.method} {path}"


def actor_of(request: Request, caller: KeyHolder) -> Actor:
    return Actor(actor=caller.name, key_prefix=caller.key_prefix, role=caller.role,
                 route=route_of(request))


@asynccontextmanager
async def audited_write(request: Request, session: Session,
                        caller: KeyHolder) -> AsyncIterator[None]:
    """Around a handler: declare the actor, then record the request row (writes only)."""
    if request.method not in WRITE_METHODS:
        yield
        return
    actor = actor_of(request, caller)
    await run_in_threadpool(act_as, session, actor)
    yield
    ids = ",".join(str(v) for v in request.path_params.values()) or None
    await run_in_threadpool(record, session, actor, "request", "request", ids)
