"""The API's settings: the HTTP server, auth, request limits and map tiles.

:class:`ApiSettings` extends the domain settings (:class:`geo.settings.Settings`: database,
codes, planning, locate defaults) with what only the served API needs, so the one object the
app is built with (``create_app(settings)``, kept on ``app.state.settings``) carries both.
Every value can be set with a ``GRIDLINK_*`` environment variable.
"""

from __future__ import annotations

import os

from pydantic import Field

from geo.settings import Settings


class ApiSettings(Settings):
    """The domain settings plus the HTTP server's, auth's and the map pages' configuration."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1,
        description="uvicorn processes serving the API (default: one per CPU core).")
    public_read: bool = Field(default=False, description="Allow reads without an API key.")
    key_cache_seconds: float = Field(
        default=10.0, description="How long a valid API key is remembered (0 = check every "
        "request). A revocation empties the cache of every process at once (LISTEN "
        "gridlink_keys); a process not listening caches nothing.")
    session_hours: float = Field(
        default=12.0, gt=0, description="How long a map page sign-in (/login) lasts.")
    max_upload_mb: float = Field(
        default=200.0, description="Largest uploaded file (multipart or CSV body, streamed to "
        "disk), counted while it streams (413 above; docs/operations.md, Limits).")
    max_body_mb: float = Field(
        default=20.0, description="Largest other request body (JSON, forms: parsed in memory) "
        "on any route (413 above).")
    bulk_event_limit: int = Field(default=100_000, description="Most events per bulk request.")

    tile_url: str | None = Field(default=None, description="XYZ tile URL for maps; none = offline.")
    tile_attribution: str = ""
    tianditu_key: str | None = None

    vector_tile_max_age_s: int = Field(
        default=30, ge=0, description="Cache-Control max-age of vector tiles (/tiles): how long "
        "a browser reuses a tile before asking again (with If-None-Match: 304 when unchanged).")
    vector_tile_max_zoom: int = Field(
        default=20, ge=0, le=24, description="Deepest zoom of the vector tiles (/tiles).")
    vector_tile_event_points_zoom: int = Field(
        default=15, ge=0, le=24, description="From this zoom the events tile layer carries the "
        "events as points; below it, one polygon per grid with its number of events.")
