"""Browser sign-in for the map pages: a key typed once, an opaque session id in the cookie.

Browsers cannot add an ``X-API-Key`` header to a page load, so ``/login`` checks the key and
opens a server-side session (geo.keys.open_browser_session): the ``gridlink_session`` cookie
(HttpOnly, SameSite=Strict) holds a random ``gls_`` id whose hash is stored with the key it
acts for and an expiry (``GRIDLINK_SESSION_HOURS``). The key itself never leaves the form.
The session is honoured for reads only (GET/HEAD, see api/auth.py): every write still needs
the header, so a forged cross-site form can change nothing. Logout and revoking the key end
the session at once on every API process. The page is ``layers/templates/login.html``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.auth import SESSION_COOKIE
from api.deps import SessionDep, SettingsDep
from geo.audit import Actor, record
from geo.keys import SESSION_PREFIX, end_browser_session, key_for, open_browser_session
from layers.assets import render_page


def _safe_next(target: str) -> str:
    """Only same-site relative paths: never redirect to another host."""
    return target if target.startswith("/") and not target.startswith("//") else "/maps"


def _login_page(target: str, error: str | None = None,
                status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(render_page("login.html", next=_safe_next(target), error=error),
                        status_code=status_code)


def _end(session: Session, token: str) -> None:
    """End the browser session ``token`` and record who signed out (nothing if not live)."""
    key = key_for(session, token)
    if key is not None and end_browser_session(session, token):
        record(session, Actor(key.name, key.prefix, key.role, "POST /logout"), "logout",
               "browser_session")


def session_router() -> APIRouter:
    router = APIRouter(tags=["admin"])

    @router.get("/", include_in_schema=False)
    def home() -> Response:
        return RedirectResponse("/maps", status_code=307)

    @router.get("/login", response_class=HTMLResponse, summary="Sign-in page for the maps")
    def login_page(next: Annotated[str, Query()] = "/maps") -> HTMLResponse:
        return _login_page(next)

    @router.post("/login", summary="Check a key and open a read-only browser session")
    async def login(request: Request, session: SessionDep, settings: SettingsDep,
                    key: Annotated[str, Form()], next: Annotated[str, Form()] = "/maps",
                    ) -> Response:
        plain = key.strip()
        stored = None if plain.startswith(SESSION_PREFIX) else await run_in_threadpool(
            key_for, session, plain)
        if stored is None:
            return _login_page(next, "密钥无效 (unknown or revoked key)", 401)
        token = await run_in_threadpool(open_browser_session, session, stored,
                                        settings.session_hours)
        actor = Actor(stored.name, stored.prefix, stored.role, "POST /login")
        await run_in_threadpool(record, session, actor, "login", "browser_session")
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                            max_age=int(settings.session_hours * 3600))
        return response

    @router.post("/logout", summary="End the browser session and forget its cookie")
    async def logout(request: Request, session: SessionDep) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        if token and token.startswith(SESSION_PREFIX):
            await run_in_threadpool(_end, session, token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    return router
