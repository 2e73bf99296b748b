"""The one table mapping geo errors to HTTP, and the handlers that render error bodies.

Bodies are ``{"error": code, "message": ..., "details": [...]}``; never a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo import errors as ge
from geo.db import database_error

log = logging.getLogger("gridlink.api")
ModelT = TypeVar("ModelT", bound=BaseModel)

STATUS: dict[type[ge.GridlinkError], int] = {
    ge.ValidationFailed: 422,
    ge.UnreadableFile: 400,
    ge.InvalidQuery: 400,
    ge.UnknownLayer: 404,
    ge.UnknownCRS: 400,
    ge.OutOfArea: 422,
    ge.NotFound: 404,
    ge.Conflict: 409,
    ge.TooLarge: 413,
    ge.AuthRequired: 401,
    ge.Forbidden: 403,
    ge.DatabaseUnavailable: 503,
}

_HTTP_CODES = {400: "bad_request", 401: "auth_required", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "too_large",
               415: "unsupported_media_type", 422: "validation_failed"}


RETRY_AFTER_S = 5
"""``Retry-After`` (seconds) of every 503: the database is away or busy."""


def status_for(exc: ge.GridlinkError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def error_body(code: str, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    return {"error": code, "message": message, "details": details or []}


def validation_details(errors: Sequence[Any], prefix: tuple[str, ...] = ()
                       ) -> list[dict[str, Any]]:
    """Pydantic's errors as error-body details: ``{"field": "query.lon", "problem": ...}``.
    The one translation of pydantic errors: FastAPI's (the 422 handler below), bodies and
    queries read by hand (:func:`validated`) and the CLI's settings check."""
    return [{"field": ".".join((*prefix, *(str(p) for p in err.get("loc", ())))),
             "problem": err.get("msg")} for err in errors]


def validated(model: type[ModelT], data: Any, what: str, prefix: tuple[str, ...] = ()
              ) -> ModelT:
    """``data`` (parsed JSON, a query's pairs) validated as ``model``; ValidationFailed (422,
    "<what> is invalid") naming each bad field (after ``prefix``, e.g. ``query``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ge.ValidationFailed(f"{what} is invalid",
                                  validation_details(exc.errors(), prefix)) from None


def _wants_page(request: Request) -> bool:
    """A browser navigating to a page (not a script or API client)."""
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


async def gridlink_error_response(request: Request, exc: ge.GridlinkError) -> Response:
    """The response to a :class:`geo.errors.GridlinkError`: its JSON body and status; a
    browser page that needs a key is sent to /login instead."""
    if isinstance(exc, ge.AuthRequired) and _wants_page(request):
        return RedirectResponse(f"/login?{urlencode({'next': request.url.path})}", 303)
    headers = {"WWW-Authenticate": "ApiKey"} if isinstance(exc, ge.AuthRequired) else None
    if isinstance(exc, ge.DatabaseUnavailable):
        headers = {"Retry-After": str(RETRY_AFTER_S)}
    return JSONResponse(error_body(exc.code, exc.message, exc.details),
                        status_code=status_for(exc), headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ge.GridlinkError, gridlink_error_response)  # type: ignore[arg-type]

    async def _database(request: Request, exc: Exception) -> Response:
        mapped = database_error(exc)
        if mapped is None:
            return await _unexpected(request, exc)
        log.warning("database error answered %s: %s", status_for(mapped), exc)
        return await gridlink_error_response(request, mapped)

    app.add_exception_handler(sa_exc.SQLAlchemyError, _database)
    app.add_exception_handler(psycopg.Error, _database)

    @app.exception_handler(RequestValidationError)
    async def _request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("validation_failed", "the request is invalid",
                                       validation_details(exc.errors())), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        # a backstop: inputs are validated by type (geo.fields, api.params) before any query
        log.warning("input reached the database unvalidated: %s", exc.orig)
        return JSONResponse(error_body(
            "validation_failed", "a value does not fit the database (out of range, or text "
            f"with a NUL character): {type(exc.orig).__name__}"), status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return JSONResponse(error_body("internal_error", "unexpected server error; see the log"),
                            status_code=500)
