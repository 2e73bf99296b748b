"""Static files built with compressed copies (``scripts/build_assets.mjs``: ``name.br``,
``name.gz`` beside ``name``): a browser that accepts brotli or gzip gets the copy with its
``Content-Encoding``, any other the plain file. The built names never change content without
a new ``?v=`` in the page (layers.assets.built_asset), so every answer may be cached for a
year (``immutable``)."""

from __future__ import annotations

import mimetypes

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

ENCODINGS = (("br", ".br"), ("gzip", ".gz"))
"""Content codings offered, preferred first, with the suffix of their copies."""
CACHE_CONTROL = "public, max-age=31536000, immutable"


class PrecompressedFiles(StaticFiles):
    """:class:`StaticFiles` that answers with the ``.br`` / ``.gz`` copy the request accepts."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        accepted = Headers(scope=scope).get("accept-encoding", "")
        response: Response | None = None
        for coding, suffix in ENCODINGS:
            if coding not in accepted:
                continue
            try:
                response = await super().get_response(path + suffix, scope)
            except HTTPException:  # no compressed copy: try the next, then the plain file
                continue
            response.headers["Content-Encoding"] = coding
            response.headers["Content-Type"] = (mimetypes.guess_type(path)[0]
                                                or "application/octet-stream")
            break
        if response is None:
            response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = CACHE_CONTROL
        response.headers["Vary"] = "Accept-Encoding"
        return response
