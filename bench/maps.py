"""Benchmark: size and render time of the map pages on the demo district, offline Chromium.

    .venv/bin/python bench/maps.py                 # default demo city (1,200 grids)
    .venv/bin/python bench/maps.py --grids 300     # a smaller city, quicker
    .venv/bin/python bench/maps.py --city 10000    # the city figures (COPY load, below)
    .venv/bin/python bench/maps.py --city 10000 --reuse   # same database, not reloaded

Loads the demo city (data/demo.py, through the importer) into a scratch database
``gridlink_bench_maps`` on the test cluster (or ``--url``), serves the app with uvicorn on
127.0.0.1 and opens each map page in headless Debian Chromium with every non-local request
blocked. For each page: server time (HTTP GET, s), HTML size (bytes) and render time (s: the
fetched page handed to Chromium, from navigation - static assets and vector tiles from the
local server included - to features drawn plus one animation frame), median of ``--runs``
(each run listed: the first render of a tiled page builds its tiles, later ones find them in
the server's tile cache).
The planner and coverage pages of a whole district draw their grids and wedges from vector
tiles (/tiles); they are also measured with ``tiles=false`` (every feature in the page, as
before vector tiles) for the before/after ratio. A fresh browser context per render: no tile
comes from the browser cache.

``--city N``: the demo city of N grids written with COPY (bench/planning.py's loader, ~4 min
for 10,000 grids instead of ~30 through the importer) into ``gridlink_bench_city_N``; then the
whole-city planner and coverage pages (bytes, server time, Chromium render, and the time until
the planner's lazily loaded validation problems are drawn), the problems request itself (cold:
validated; warm: from the per-revision cache) and the vector tiles of the city at a few zooms
(tiles touching the district, bytes, build time cold and from cache). ``--reuse`` keeps the
loaded database.

Baseline, same process: the planner page of the whole district rendered *without* coverage
simplification (tolerance ~3 cm) and with 6-decimal coordinates. Simplified and baseline pages
are rendered alternately ``2 × --runs`` times (same machine load for both); medians compared.
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from playwright.sync_api import Browser, Page, Route, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.settings import ApiSettings
from bench.common import scratch_database
from geo.settings import get_settings

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SIZE_BUDGET = 1.5 * 1024 * 1024
DRAWN = """() => { const m = Object.values(window).find(v => v && window.L && v instanceof L.Map);
    if (!m) return document.querySelector('form') !== null;
    let n = 0, busy = false;
    m.eachLayer(l => {
        if (l instanceof L.Path) n++;
        if (L.VectorGrid && l instanceof L.VectorGrid && l.isLoading()) busy = true; });
    Object.values(window.glTileFeatures || {}).forEach(k => { n += k; });
    return !busy && n > 0; }"""
"""JS: true once the page's map holds at least one drawn vector and every vector-tile layer on
it has drawn the tiles in view (or the index form is there)."""
MAP_READY = """() => !!Object.values(window).find(v => v && window.L && v instanceof L.Map)"""
"""JS: the map exists (the alarm board of a quiet district has nothing to draw yet)."""
RENDER_BUDGET_S = 2.0


def load_city(grids: int | None, events: int | None = None) -> tuple[str, float]:
    """Import the demo city (``events``: default for its size) and make a viewer key;
    (key, seconds)."""
    from data.demo import load_demo
    from geo.db import transaction
    from geo.keys import create_key

    start = time.perf_counter()
    with transaction() as session:
        counts = load_demo(session, 42, grids=grids, events=events)
        key = create_key(session, "bench viewer", "viewer")
    print("loaded:", ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    return key, time.perf_counter() - start


def load_city_by_copy(grids: int) -> tuple[str, float]:
    """Write the demo city of ``grids`` grids with COPY (bench/planning.py's loader: every
    layer, buildings included; no importer, no assignment) and make a viewer key;
    (key, seconds). The 10,000-grid city takes ~2 min this way, ~30 min through the importer."""
    from bench.planning import load
    from geo.db import get_engine, transaction
    from geo.keys import create_key

    start = time.perf_counter()
    city = load(get_engine(), grids, events=0, cameras=round(grids * 3066 / 1200))
    print("loaded by COPY:", ", ".join(f"{k} {len(v):,}" for k, v in city.items()))
    with transaction() as session:
        key = create_key(session, "bench viewer", "viewer")
    return key, time.perf_counter() - start


def serve() -> tuple[str, uvicorn.Server, threading.Thread]:
    from api.app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def render_s(browser: Browser, url: str, key: str, serve_html: str | None = None,
             ready: str = DRAWN, then: str | None = None
             ) -> tuple[float, list[str], list[str]]:
    """Seconds from navigation to all features drawn (+1 frame); blocked URLs; console errors.
    With ``then`` (JS condition), the seconds until it holds too are printed."""
    context = browser.new_context(viewport={"width": 1200, "height": 800},
                                  extra_http_headers={"X-API-Key": key})
    page: Page = context.new_page()
    blocked: list[str] = []
    errors: list[str] = []

    def gate(route: Route) -> None:
        if serve_html is not None and route.request.url == url:
            route.fulfill(body=serve_html, content_type="text/html; charset=utf-8")
        elif route.request.url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", gate)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    start = time.perf_counter()
    page.goto(url, wait_until="load", timeout=60_000)
    page.wait_for_function(ready, timeout=60_000)
    page.evaluate("new Promise(r => requestAnimationFrame(() => r()))")
    took = time.perf_counter() - start
    if then is not None:
        page.wait_for_function(then, timeout=600_000, polling=100)
        print(f"    {then[:40]}... after {time.perf_counter() - start:.2f} s", flush=True)
    context.close()
    return took, blocked, errors


def measure(browser: Browser, base: str, key: str, path: str, runs: int,
            then: str | None = None) -> dict[str, Any]:
    """Server time, bytes and render time (medians) of one page (``then``: see render_s)."""
    server_times, size = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        response = httpx.get(base + path, headers={"X-API-Key": key}, timeout=120)
        server_times.append(time.perf_counter() - start)
        response.raise_for_status()
        size = len(response.content)
    renders = []
    for _ in range(runs):
        took, blocked, errors = render_s(browser, base + path, key, response.text,
                                         MAP_READY if "/alarms" in path else DRAWN, then)
        assert not blocked and not errors, (path, blocked, errors)
        renders.append(took)
    row = {"path": path, "bytes": size, "server_s": statistics.median(server_times),
           "render_s": statistics.median(renders)}
    print(f"  {path}: {size / 1024:,.0f} kB, server {row['server_s']:.2f} s, "
          f"render {row['render_s']:.2f} s (runs: {[round(t, 2) for t in renders]})",
          flush=True)
    return row


def baseline_html(area: str) -> str:
    """The district planner page with (almost) no simplification, 6-decimal coordinates."""
    import layers.grids as lg
    from api.routers import maps
    from geo.db import transaction
    from layers.assets import page_html

    original = lg.rounded_geojson
    lg.rounded_geojson = lambda gdf, cols, decimals=6: original(gdf, cols, 6)  # type: ignore
    try:
        lg_zoom = lg.zoom_for_bounds
        lg.zoom_for_bounds = lambda *_a, **_k: 22  # type: ignore[assignment]
        with transaction() as session:
            html = page_html(maps.planner_page(session, ApiSettings(), area, tiles=False))
        lg.zoom_for_bounds = lg_zoom  # type: ignore[assignment]
    finally:
        lg.rounded_geojson = original  # type: ignore[assignment]
    return html


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=None, help="default: 1,200")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--url", default=None, help="server URL where a database may be made")
    parser.add_argument("--city", type=int, default=None,
                        help="grids of a city loaded by COPY: the city figures only")
    parser.add_argument("--reuse", action="store_true", help="--city: keep the loaded city")
    args = parser.parse_args()
    if args.city:
        city_main(args.city, args.runs, args.url, args.reuse)
        return
    os.environ["GRIDLINK_DATABASE_URL"] = scratch_database(args.url, "gridlink_bench_maps")
    get_settings.cache_clear()
    key, load_s = load_city(args.grids)
    print(f"demo city loaded in {load_s:.1f} s", flush=True)
    from geo import mapdata
    from geo.db import transaction

    with transaction() as session:
        district = mapdata.default_area(session)
        grids = mapdata.grids_under(session, district)
        grids = grids[grids["level"] == "grid"]
        spot = grids.geometry.iloc[len(grids) // 3].representative_point()
    base, server, thread = serve()
    paths = [f"/maps/grids?area={district}", f"/maps/coverage?area={district}",
             f"/maps/events?area={district}", f"/maps/alarms?area={district}",
             f"/maps/locate?lon={spot.x:.6f}&lat={spot.y:.6f}", "/maps?q=1",
             # before vector tiles: the same two pages with every feature in the page
             f"/maps/grids?area={district}&tiles=false",
             f"/maps/coverage?area={district}&tiles=false"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        rows = [measure(browser, base, key, p, args.runs) for p in paths]
        html = baseline_html(district)
        planner = httpx.get(base + paths[0], headers={"X-API-Key": key}, timeout=120).text
        fake = base + "/bench/page"
        simple_runs, base_runs = [], []
        for _ in range(2 * args.runs):  # interleaved, so both see the same machine load
            simple_runs.append(render_s(browser, fake, key, planner)[0])
            base_runs.append(render_s(browser, fake, key, html)[0])
        rows[0]["render_s"] = statistics.median(simple_runs)
        base_render = statistics.median(base_runs)
        print(f"planner render runs (s): simplified {[round(t, 2) for t in simple_runs]}, "
              f"baseline {[round(t, 2) for t in base_runs]}")
        browser.close()
    server.should_exit = True
    thread.join(timeout=10)
    report(rows, len(html.encode()), base_render)
    print(f"load average during the run (1/5/15 min): {os.getloadavg()}")


def report(rows: list[dict[str, Any]], base_bytes: int, base_render: float) -> None:
    print(f"\n{'page':<48} {'HTML':>10} {'server':>8} {'render':>8}")
    for r in rows:
        print(f"{r['path'][:48]:<48} {r['bytes'] / 1024:>8.0f} kB {r['server_s']:>7.2f}s "
              f"{r['render_s']:>7.2f}s")
    planner = rows[0]
    print(f"\nbaseline (planner, unsimplified): {base_bytes / 1024:,.0f} kB, "
          f"render {base_render:.2f} s")
    print(f"simplified / baseline: size {planner['bytes'] / base_bytes:.2f}x, "
          f"render {planner['render_s'] / base_render:.2f}x")
    for page, row in (("planner", planner), ("coverage", rows[1])):
        ok_size = row["bytes"] <= SIZE_BUDGET
        ok_time = row["render_s"] <= RENDER_BUDGET_S
        print(f"{page} page budget: size {'OK' if ok_size else 'OVER'} (<= 1.5 MB), "
              f"render {'OK' if ok_time else 'OVER'} (<= 2 s)")
    for page, tiled, full in (("planner", planner, rows[-2]), ("coverage", rows[1], rows[-1])):
        print(f"{page} with vector tiles / all features in the page: size "
              f"{tiled['bytes'] / full['bytes']:.2f}x, render "
              f"{tiled['render_s'] / full['render_s']:.2f}x")


PROBLEMS_DRAWN = "() => document.querySelector('.gl-problems-done') !== null"
"""JS: the planner page's validation problems have arrived (or failed)."""
CITY_ZOOMS = (10, 11, 12)
CITY_TILE_LAYERS = ("grids", "micro_grids", "coverage", "cameras")


def city_main(grids: int, runs: int, url: str | None, reuse: bool) -> None:
    """The city figures: load (or reuse) the city, then pages, problems and tiles."""
    from bench.common import city_database_url
    from geo import mapdata
    from geo.db import transaction
    from geo.keys import create_key

    if reuse:
        from geo.schema import upgrade

        os.environ["GRIDLINK_DATABASE_URL"] = city_database_url(url, f"gridlink_bench_city_{grids}")
        upgrade(os.environ["GRIDLINK_DATABASE_URL"])  # migrations added since the load
        get_settings.cache_clear()
        with transaction() as session:
            key = create_key(session, "bench viewer", "viewer")
    else:
        os.environ["GRIDLINK_DATABASE_URL"] = scratch_database(url, f"gridlink_bench_city_{grids}")
        get_settings.cache_clear()
        key, load_s = load_city_by_copy(grids)
        print(f"city of {grids:,} grids loaded by COPY in {load_s:.1f} s", flush=True)
    with transaction() as session:
        district = mapdata.default_area(session)
        bounds = mapdata.area_bounds(session, district)
        print("features:", mapdata.feature_counts(session, district), flush=True)
    base, server, thread = serve()
    try:
        problems_request(base, key, district)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            measure(browser, base, key, f"/maps/grids?area={district}", runs, PROBLEMS_DRAWN)
            measure(browser, base, key, f"/maps/coverage?area={district}", runs)
            browser.close()
        for z in CITY_ZOOMS:
            city_tiles(base, key, district, bounds, z)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    print(f"load average during the run (1/5/15 min): {os.getloadavg()}")


def problems_request(base: str, key: str, area: str) -> None:
    """Time the planner page's problems request twice: validated, then from the cache."""
    path = f"/planning/validate?area={area}&format=geojson"
    for label in ("cold (validates the city)", "warm (cached for this revision)"):
        start = time.perf_counter()
        response = httpx.get(base + path, headers={"X-API-Key": key}, timeout=900)
        response.raise_for_status()
        print(f"  problems {label}: {time.perf_counter() - start:.2f} s, "
              f"{len(response.content) / 1024:,.0f} kB, "
              f"{len(response.json()['features'])} problems", flush=True)


def tile_range(bounds: tuple[float, float, float, float], z: int) -> list[tuple[int, int]]:
    """(x, y) of the WebMercatorQuad tiles at zoom ``z`` touching lon/lat ``bounds``."""
    def xy(lon: float, lat: float) -> tuple[int, int]:
        n, phi = 2**z, math.radians(lat)
        return (int((lon + 180) / 360 * n),
                int((1 - math.asinh(math.tan(phi)) / math.pi) / 2 * n))
    (x0, y0), (x1, y1) = xy(bounds[0], bounds[3]), xy(bounds[2], bounds[1])
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def city_tiles(base: str, key: str, area: str, bounds: tuple[float, float, float, float],
               z: int) -> None:
    """Per layer at zoom ``z``: tiles touching the district, their bytes, the seconds to
    fetch them all one after another when built (cold) and again (server cache)."""
    cells = tile_range(bounds, z)
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=600) as client:
        for layer in CITY_TILE_LAYERS:
            took, size, biggest = [], 0, 0
            for _ in ("cold", "warm"):
                start, size, biggest = time.perf_counter(), 0, 0
                for x, y in cells:
                    body = client.get(f"/tiles/{layer}/WebMercatorQuad/{z}/{y}/{x}",
                                      params={"area": area}).raise_for_status().content
                    size, biggest = size + len(body), max(biggest, len(body))
                took.append(time.perf_counter() - start)
            print(f"  z{z} {layer:<12} {len(cells):>3} tiles {size / 1024:>8,.0f} kB "
                  f"(largest {biggest / 1024:,.0f} kB)  cold {took[0]:6.2f} s  "
                  f"warm {took[1]:5.2f} s", flush=True)


if __name__ == "__main__":
    main()
