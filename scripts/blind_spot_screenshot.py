"""Screenshot of the coverage page with its blind spots, for docs/ (offline Chromium).

    GRIDLINK_DATABASE_URL=postgresql+psycopg://... .venv/bin/python \\
        scripts/blind_spot_screenshot.py --area 140213001001 --out docs/screenshots/x.png

Serves the app on a free 127.0.0.1 port over ``GRIDLINK_DATABASE_URL`` (a database with the
demo city and its views, e.g. after ``gridlink demo load``), makes a viewer key for the run
(revoked afterwards), opens ``/maps/coverage?area=AREA&tiles=false`` in headless Debian
Chromium with every non-local request blocked, ticks the blind-spot layer (盲区) and writes
the screenshot. Fails when the page asked for anything outside 127.0.0.1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import Route, sync_playwright
from sqlalchemy import text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.maps import serve  # the app on a free loopback port, in a thread
from geo.db import get_engine
from geo.keys import create_key

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DRAWN = """() => { const m = Object.values(window).find(v => v && window.L && v instanceof L.Map);
    if (!m) return false; let n = 0; m.eachLayer(l => { if (l instanceof L.Path) n++; });
    return n > 0; }"""


def screenshot(base: str, key: str, area: str, out: Path) -> None:
    """Open the coverage page, tick 盲区, write ``out``; raises on a non-local request."""
    blocked: list[str] = []

    def gate(route: Route) -> None:
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 800},
                                      extra_http_headers={"X-API-Key": key})
        context.route("**/*", gate)
        page = context.new_page()
        page.goto(f"{base}/maps/coverage?area={area}&tiles=false", wait_until="load",
                  timeout=120_000)
        page.wait_for_function(DRAWN, timeout=120_000)
        page.get_by_text("盲区").first.click()
        page.wait_for_timeout(1000)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()
    if blocked:
        raise SystemExit(f"the page asked for non-local addresses: {blocked}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--area", required=True, help="admin area or grid code")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with Session(get_engine()) as session, session.begin():
        key = create_key(session, "docs screenshot", "viewer")
    base, server, thread = serve()
    try:
        screenshot(base, key, args.area, args.out)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        with Session(get_engine()) as session, session.begin():
            session.execute(text("DELETE FROM api_keys WHERE name = 'docs screenshot'"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
