"""End-to-end map tests: the real app served by uvicorn on 127.0.0.1, driven by headless
Chromium (Debian's /usr/bin/chromium through playwright, no browser download).

Every request leaving 127.0.0.1 is blocked and recorded; a page with a blocked request, a
console error or no drawn feature fails. Screenshots go to tests/e2e/output/ (CI artifacts).
If Chromium is missing the tests fail: they are never skipped.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import uvicorn
from PIL import Image
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.app import create_app
from geo.keys import create_key
from tests.e2e.city import clear_small_city, draft_moving_edge, seed_small_city

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
OUTPUT = Path(__file__).resolve().parent / "output"
VIEWPORT = {"width": 1200, "height": 800}
LOCAL_HOSTS = {"127.0.0.1"}


@dataclass
class Server:
    url: str
    key: str
    changeset_id: int
    planner_key: str
    dispatcher_key: str
    worker_key: str


@dataclass
class Visit:
    """One loaded map page: the page, what went wrong, the screenshot and render time (s)."""

    page: Page
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    screenshot: Image.Image | None = None
    render_s: float = 0.0
    html_bytes: int = 0

    def shot(self, name: str) -> Image.Image:
        """A new screenshot saved as tests/e2e/output/<name>.png."""
        return Image.open(io.BytesIO(self.page.screenshot(path=str(OUTPUT / f"{name}.png"))))

    def pixel_at(self, lon: float, lat: float, dx: int = 0, dy: int = 0) -> tuple[int, int, int]:
        """Screenshot RGB at the container point of (lon, lat), shifted by (dx, dy) px."""
        x, y = self.page.evaluate(
            "([lon, lat]) => { const m = window.glMap(), p = m.latLngToContainerPoint([lat, lon]);"
            " const box = m.getContainer().getBoundingClientRect();"
            " return [Math.round(box.left + p.x), Math.round(box.top + p.y)]; }", [lon, lat])
        assert self.screenshot is not None
        r, g, b = self.screenshot.convert("RGB").getpixel((x + dx, y + dy))  # type: ignore[misc]
        return int(r), int(g), int(b)


DRAWN = """() => { const m = Object.values(window).find(v => v && window.L && v instanceof L.Map);
    if (!m) return false;
    let n = 0; m.eachLayer(l => { if (l instanceof L.Path) n++; }); return n; }"""
"""JS: the number of vector features (SVG or canvas) on the page's map."""

FIND_MAP = """() => { window.glMap = () => Object.values(window).find(
    v => v && typeof L !== 'undefined' && v instanceof L.Map); return !!window.glMap(); }"""


@contextmanager
def app_on_free_port() -> Iterator[str]:
    """The app served by uvicorn on a free 127.0.0.1 port; yields its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning",
                            timeout_graceful_shutdown=2)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert uv.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(engine: Engine) -> Iterator[Server]:
    """The app on a free 127.0.0.1 port, over the committed small city (removed afterwards)."""
    with engine.begin() as conn:
        clear_small_city(conn)
        seed_small_city(conn)
    with Session(engine) as session, session.begin():
        key = create_key(session, "e2e viewer", "viewer")
        planner_key = create_key(session, "e2e planner", "planner")
        dispatcher_key = create_key(session, "e2e dispatcher", "dispatcher")
        worker_key = create_key(session, "e2e worker", "worker", worker_code="W002")
        changeset_id = draft_moving_edge(session)
    with app_on_free_port() as url:
        yield Server(url, key, changeset_id, planner_key, dispatcher_key, worker_key)
    with engine.begin() as conn:
        clear_small_city(conn)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium; fails (never skips) when it is not installed."""
    assert Path(CHROMIUM).exists(), f"Chromium is required for the map tests: {CHROMIUM}"
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def visit(browser: Browser, server: Server, path: str, name: str,
          ready: str | None = None, key: str | None = None,
          viewport: dict[str, int] | None = None) -> Visit:
    """Open ``path`` with every non-local request blocked; wait until the map holds a drawn
    feature (or the CSS selector ``ready`` exists); screenshot into tests/e2e/output/."""
    context = browser.new_context(viewport=viewport or VIEWPORT,  # type: ignore[arg-type]
                                  extra_http_headers={"X-API-Key": key or server.key})
    page = context.new_page()
    result = Visit(page)

    def gate(route: Any) -> None:
        if urlparse(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            result.blocked.append(route.request.url)
            route.abort()

    context.route("**/*", gate)
    page.on("console", lambda m: result.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: result.errors.append(str(exc)))
    start = time.perf_counter()
    response = page.goto(server.url + path, wait_until="load")
    assert response is not None and response.status == 200, path
    result.html_bytes = len(response.body())
    if ready:
        page.wait_for_selector(ready, state="attached", timeout=15_000)
    else:
        page.wait_for_function(DRAWN, timeout=15_000)
    result.render_s = time.perf_counter() - start
    page.evaluate(FIND_MAP)
    page.wait_for_timeout(300)  # let fitBounds/tooltips settle before the screenshot
    OUTPUT.mkdir(parents=True, exist_ok=True)
    png = page.screenshot(path=str(OUTPUT / f"{name}.png"))
    result.screenshot = Image.open(io.BytesIO(png))
    return result


def assert_clean(v: Visit) -> None:
    """No blocked (non-local) request, no console error, something drawn, and the common
    controls: scale bar, measure, fullscreen and legend."""
    assert v.blocked == [], f"non-local requests: {v.blocked}"
    assert v.errors == [], f"console errors: {v.errors}"
    assert v.page.evaluate(DRAWN) > 0, "empty map"
    for control in (".leaflet-control-scale", ".leaflet-control-measure",
                    ".leaflet-control-zoom-fullscreen", ".gl-legend"):
        assert v.page.locator(control).count() == 1, f"{control} missing"


def reddish(rgb: tuple[int, int, int]) -> bool:
    r, g, b = rgb
    return r > 170 and r - g > 60 and r - b > 60


def bluish(rgb: tuple[int, int, int]) -> bool:
    r, g, b = rgb
    return b - r > 40
