"""Checks every request passes before any route sees it: no NUL in the URL, the key before the
body, every body bounded and counted while it streams.

:class:`RequestGuard` is pure ASGI middleware in front of every route (``@app.middleware``
costs a task switch per request). For each HTTP request it

0. answers 422 naming the parameter when the path or query string holds a NUL character
   (``?parent=%00``): PostgreSQL text cannot hold one, and a streamed export must fail
   before its first byte, not half-way;
1. answers 401 to a write (any method but GET/HEAD/OPTIONS) with a body, outside the public
   paths, that carries no valid key, **before** one byte of the body is read: a body is
   never parsed for a caller who may not send it (the route's own rule still decides 403);
2. answers 413 when ``Content-Length`` declares more than the body's limit:
   ``GRIDLINK_MAX_UPLOAD_MB`` for files (multipart, CSV; streamed to disk) and
   ``GRIDLINK_MAX_BODY_MB`` for any other body (JSON, forms; parsed in memory);
3. counts the bytes the app reads (chunked bodies have no Content-Length): past the limit
   the app is told the client went away, whatever it was answering is dropped, and the
   client gets the 413 instead. Nothing past the limit is ever held in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import psycopg
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import caller_of
from api.bodies import FILE_TYPES, media_type
from api.errors import error_body, gridlink_error_response
from api.settings import ApiSettings
from geo.errors import AuthRequired, DatabaseUnavailable, GridlinkError, ValidationFailed

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class _Body:
    """What the app has read of one request's body."""

    received: int = 0
    exceeded: bool = False
    started: bool = False


def _check_url(scope: Scope) -> None:
    """ValidationFailed naming the path or the query parameter that holds a NUL."""
    if "\x00" in scope["path"]:
        raise ValidationFailed("the path holds a NUL character", [{"field": "path"}])
    query = scope["query_string"]
    if b"\x00" not in query and b"%00" not in query.lower():
        return
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            raise ValidationFailed("a query parameter holds a NUL character",
                                   [{"field": f"query.{name.strip(chr(0))}",
                                     "problem": "text must not contain NUL characters"}])


def _has_body(headers: dict[bytes, bytes]) -> bool:
    """Whether the request announces a body (a non-zero Content-Length, or chunked)."""
    length = headers.get(b"content-length", b"")
    return (length.isdigit() and int(length) > 0) or b"transfer-encoding" in headers


class RequestGuard:
    """See the module docstring. ``public_paths`` take writes without a key (``/login``)."""

    def __init__(self, app: ASGIApp, settings: ApiSettings, public_paths: frozenset[str]) -> None:
        self.app = app
        self.settings = settings
        self.public_paths = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        try:
            _check_url(scope)
            await self._check_key(scope, headers)
        except GridlinkError as exc:
            response = await gridlink_error_response(Request(scope), exc)
            await response(scope, receive, send)
            return
        limit = body_limit(scope, self.settings)
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit.bytes:
            await _too_large(limit, int(declared))(scope, receive, send)
            return
        await self._counted(scope, receive, send, limit)

    async def _check_key(self, scope: Scope, headers: dict[bytes, bytes]) -> None:
        """401 for a write with a body and no key or an unknown one; 503 when the database
        cannot say. Reads, public paths and bodiless writes are left to the route."""
        if (scope["method"] in READ_METHODS or scope["path"] in self.public_paths
                or not _has_body(headers)):
            return
        lookup = scope["app"].state.locate_source.key
        try:
            caller = await caller_of(HTTPConnection(scope), lookup, self.settings)
        except (OperationalError, psycopg.OperationalError) as exc:
            raise DatabaseUnavailable("the database did not answer the key check "
                                      f"({type(exc).__name__})") from None
        if caller is None:
            raise AuthRequired("this request needs an API key (header X-API-Key)")

    async def _counted(self, scope: Scope, receive: Receive, send: Send,
                       limit: BodyLimit) -> None:
        body = _Body()

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body.received += len(message.get("body", b""))
                if body.received > limit.bytes:
                    body.exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if body.exceeded:
                return  # the app's answer to a cut-off body; the 413 goes out below
            body.started = body.started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not body.exceeded:
                raise
        if body.exceeded and not body.started:
            await _too_large(limit, body.received)(scope, receive, send)


@dataclass(frozen=True)
class BodyLimit:
    """The limit a request's body is held to: bytes, and the setting that sets them."""

    bytes: int
    setting: str
    megabytes: float


def body_limit(scope: Scope, settings: ApiSettings) -> BodyLimit:
    """``GRIDLINK_MAX_UPLOAD_MB`` for files (multipart, CSV), which are streamed to disk;
    ``GRIDLINK_MAX_BODY_MB`` for every other body, which is parsed in memory."""
    if media_type(HTTPConnection(scope)) in FILE_TYPES:
        return BodyLimit(int(settings.max_upload_mb * 2**20), "GRIDLINK_MAX_UPLOAD_MB",
                         settings.max_upload_mb)
    return BodyLimit(int(settings.max_body_mb * 2**20), "GRIDLINK_MAX_BODY_MB",
                     settings.max_body_mb)


def _too_large(limit: BodyLimit, size: int) -> JSONResponse:
    """413 naming the limit, the setting and how much was sent (or read so far)."""
    details: list[dict[str, Any]] = [{"limit_bytes": limit.bytes, "received_bytes": size,
                                      "setting": limit.setting}]
    return JSONResponse(
        error_body("too_large", f"the request body exceeds the limit of {limit.bytes} bytes "
                   f"({limit.setting}={limit.megabytes:g}); received {size} bytes", details),
        status_code=413, headers={"Connection": "close"})
