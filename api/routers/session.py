"""Browser sign-in for the map pages: a key typed once, kept in an HttpOnly cookie.

Browsers cannot add an ``X-API-Key`` header to a page load, so ``/login`` stores the key in a
``gridlink_key`` cookie (HttpOnly, SameSite=Strict). The cookie is honoured for reads only
(GET/HEAD, see api/auth.py): every write still needs the header, so a forged cross-site
form can change nothing.
"""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import KEY_COOKIE
from api.deps import SessionDep
from geo.keys import key_for

LOGIN_PAGE = """<!doctype html><html lang="zh"><head><meta charset="utf-8">
<title>gridlink 登录</title>
<style>body{{font-family:sans-serif;max-width:28em;margin:4em auto}}
input{{width:100%;padding:.5em;margin:.3em 0}}.err{{color:#b00}}</style></head>
<body><h1>gridlink</h1><p>请输入 API 密钥 (API key) 以查看地图。</p>{error}
<form method="post" action="/login"><input type="hidden" name="next" value="{next}">
<input type="password" name="key" placeholder="gl_..." autofocus required>
<input type="submit" value="登录 Sign in"></form></body></html>"""


def _safe_next(target: str) -> str:
    """Only same-site relative paths: never redirect to another host."""
    return target if target.startswith("/") and not target.startswith("//") else "/maps"


def session_router() -> APIRouter:
    router = APIRouter(tags=["admin"])

    @router.get("/", include_in_schema=False)
    def home() -> Response:
        return RedirectResponse("/maps", status_code=307)

    @router.get("/login", response_class=HTMLResponse, summary="Sign-in page for the maps")
    def login_page(next: Annotated[str, Query()] = "/maps") -> HTMLResponse:
        return HTMLResponse(LOGIN_PAGE.format(error="", next=escape(_safe_next(next))))

    @router.post("/login", summary="Check a key and keep it in a read-only session cookie")
    def login(session: SessionDep, key: Annotated[str, Form()],
              next: Annotated[str, Form()] = "/maps") -> Response:
        target = _safe_next(next)
        if key_for(session, key.strip()) is None:
            page = LOGIN_PAGE.format(error='<p class="err">密钥无效 (unknown or revoked key)</p>',
                                     next=escape(target))
            return HTMLResponse(page, status_code=401)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(KEY_COOKIE, key.strip(), httponly=True, samesite="strict",
                            max_age=12 * 3600)
        return response

    @router.post("/logout", summary="Forget the session cookie")
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(KEY_COOKIE)
        return response

    return router
