"""Benchmark: the dashboard's payload and render time, and what the daily rollups cost per
written event.

    .venv/bin/python bench/dashboard.py                              # 300 grids, 20,000 events
    .venv/bin/python bench/dashboard.py --grids 1200 --events 1000000 --db gridlink_bench_1m
                                        # 10^6 events (slow: generating + importing, ~8 min)
    .venv/bin/python bench/dashboard.py --db gridlink_bench_1m --reuse  # measure it again

Loads the demo city (data/demo.py, six months of events up to today, through the importer)
into a scratch database ``gridlink_bench_dashboard`` on the test cluster (or ``--url``), serves
the app with uvicorn on 127.0.0.1 and, for the district and its first street, measures:
``/dashboard/data`` (server time, JSON bytes), the page's HTML bytes, its scripts and styles
(bytes as sent to a browser accepting brotli/gzip, and uncompressed), and the render time in
headless Debian Chromium (every non-local request blocked; navigation to all charts drawn,
the ECharts bundle loaded from /static/build included), medians of ``--runs``.

Rollup cost: ``--write`` events copied from the loaded ones are inserted, their status changed
and their assignment rewritten, each step timed with every rollup trigger enabled, with the
derived rollups' (monthly, per area: migration 0027) disabled, and with all disabled (``ALTER
TABLE ... DISABLE TRIGGER``), interleaved, every run rolled back; the differences divided by
the rows written are the cost per written event of all rollups and of the derived ones.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import scratch_database
from bench.maps import ARGS, CHROMIUM, load_city, render_s, serve
from cli.cluster import test_server_url
from geo.settings import get_settings

CHARTS_DRAWN = """() => document.body.dataset.loaded === '1'"""
"""JS: the figures arrived and every chart was drawn (synchronously: no animation)."""
ROLLUP_TRIGGERS: dict[str, tuple[str, ...]] = {
    "events": ("events_roll_up_insert", "events_roll_up_update"),
    "event_assignments": ("event_assignments_roll_up_insert", "event_assignments_roll_up_update")}
"""The daily rollups' triggers; off, the rollups derived from them are not written either."""
DERIVED_TRIGGERS: dict[str, tuple[str, ...]] = {"event_daily_counts": (
    "event_daily_counts_derive_insert", "event_daily_counts_derive_update",
    "event_daily_counts_derive_delete")}
"""The triggers of the rollups derived from the daily ones (monthly, per area: 0027)."""
WRITES = {
    "insert": "INSERT INTO events (category, reported_at, status, priority, handling_level,"
              " postponements, reworks, valid, geom) SELECT category, reported_at, status,"
              " priority, handling_level, 0, 0, true, geom FROM events ORDER BY id LIMIT :n",
    "status": "UPDATE events SET status = CASE status WHEN 'closed' THEN 'resolved'"
              " ELSE 'closed' END WHERE id IN (SELECT id FROM events ORDER BY id LIMIT :n)",
    "reassign": "UPDATE event_assignments SET grid_code = grid_code || 'x' WHERE event_id IN"
                " (SELECT event_id FROM event_assignments ORDER BY event_id LIMIT :n)",
}
"""Each write, on ``n`` events (names come from code; ``n`` is bound)."""


def page_row(browser: Any, base: str, key: str, area: str, at: str,
             runs: int) -> dict[str, Any]:
    """Server time and bytes of /dashboard/data, HTML bytes and render time (medians), with
    the figures computed at instant ``at``."""
    server, size = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        response = httpx.get(base + "/dashboard/data", params={"area": area, "at": at},
                             headers={"X-API-Key": key}, timeout=300)
        server.append(time.perf_counter() - start)
        response.raise_for_status()
        size = len(response.content)
    page = httpx.get(base + "/dashboard", params={"area": area, "at": at},
                     headers={"X-API-Key": key})
    assets = sent_bytes(base, page.text)
    renders = []
    for _ in range(runs):
        took, blocked, errors = render_s(browser, str(page.url), key, ready=CHARTS_DRAWN)
        assert not blocked and not errors, (blocked, errors)
        renders.append(took)
    row = {"area": area, "json_bytes": size, "html_bytes": len(page.content),
           "asset_bytes": assets, "server_s": statistics.median(server),
           "render_s": statistics.median(renders)}
    print(f"  {area}: data {size / 1024:,.1f} kB in {statistics.median(server):.2f} s, page "
          f"{len(page.content) / 1024:.1f} kB, scripts and styles "
          f"{sum(a['sent'] for a in assets.values()) / 1024:,.1f} kB as sent "
          f"({sum(a['bytes'] for a in assets.values()) / 1024:,.1f} kB), "
          f"render {statistics.median(renders):.2f} s", flush=True)
    return row


def sent_bytes(base: str, page: str) -> dict[str, dict[str, int]]:
    """Per script and stylesheet of ``page``: bytes as sent to a browser accepting brotli and
    gzip (``sent``), and bytes as sent uncompressed (``bytes``)."""
    found = {}
    for url in re.findall(r'(?:src|href)="(/static/[^"]+)"', page):
        address = base + html.unescape(url)
        packed = httpx.get(address, headers={"Accept-Encoding": "br, gzip"})
        plain = httpx.get(address, headers={"Accept-Encoding": "identity"})
        packed.raise_for_status()
        found[url] = {"sent": packed.num_bytes_downloaded, "bytes": len(plain.content)}
    return found


def write_s(kind: str, n: int, disabled: dict[str, tuple[str, ...]]) -> float:
    """Seconds to run write ``kind`` on ``n`` events with the triggers ``disabled`` (per
    table) off; rolled back."""
    from sqlalchemy import text

    from geo.db import engine_for

    with engine_for(os.environ["GRIDLINK_DATABASE_URL"]).connect() as conn:
        for table, names in disabled.items():
            for name in names:
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {name}"))
        start = time.perf_counter()
        conn.execute(text(WRITES[kind]), {"n": n})
        took = time.perf_counter() - start
        conn.rollback()
    return took


def rollup_costs(n: int, runs: int) -> list[dict[str, Any]]:
    """Per write kind: medians with every rollup trigger, without the derived rollups'
    (daily only) and without any; µs per event of all rollups and of the derived ones."""
    rows = []
    variants: dict[str, dict[str, tuple[str, ...]]] = {
        "all": {}, "daily": DERIVED_TRIGGERS, "none": ROLLUP_TRIGGERS}
    for kind in WRITES:
        took: dict[str, list[float]] = {v: [] for v in variants}
        for _ in range(runs):  # interleaved: every variant sees the same machine load
            for variant, disabled in variants.items():
                took[variant].append(write_s(kind, n, disabled))
        with_s, daily_s, without_s = (statistics.median(took[v]) for v in variants)
        cost_us = (with_s - without_s) / n * 1e6
        derived_us = (with_s - daily_s) / n * 1e6
        print(f"  {kind}: {with_s:.2f} s with all rollups, {daily_s:.2f} s with the daily "
              f"ones only, {without_s:.2f} s without: {cost_us:.0f} µs per event, of which "
              f"the derived rollups {derived_us:.0f} µs", flush=True)
        rows.append({"write": kind, "events": n, "with_s": with_s, "daily_only_s": daily_s,
                     "without_s": without_s, "us_per_event": cost_us,
                     "derived_us_per_event": derived_us})
    return rows


def reused_database(server_url: str, name: str) -> str:
    """The URL of database ``name`` (loaded by an earlier run), migrated to head."""
    from sqlalchemy.engine import make_url

    from geo.schema import upgrade

    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


def viewer_key() -> str:
    """A new viewer key in the current database."""
    from geo.db import transaction
    from geo.keys import create_key

    with transaction() as session:
        return create_key(session, "bench viewer", "viewer")


def loaded_city(grids: int, events: int) -> str:
    """Load the demo city, assign every event, give each month its partition, ANALYZE; a
    viewer key."""
    from sqlalchemy import text

    from geo.assign import assign_events
    from geo.db import transaction
    from geo.event_partitions import ensure_partitions

    key, load_s = load_city(grids, events)
    print(f"demo city loaded in {load_s:.1f} s", flush=True)
    start = time.perf_counter()
    with transaction() as session:
        assigned = assign_events(session, "all")
    print(f"{assigned.events:,} events assigned in {time.perf_counter() - start:.1f} s "
          "(rollups moved by the triggers included)", flush=True)
    with transaction() as session:  # as `gridlink events partitions` does monthly
        created = ensure_partitions(session, 0)
    print(f"{len(created)} monthly partitions created for the loaded events", flush=True)
    with transaction() as session:
        session.execute(text("ANALYZE"))  # as autovacuum would after a bulk load
    return key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=300)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--write", type=int, default=5_000, help="events per rollup write "
                        "(0: do not measure the rollups' cost)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", default="gridlink_bench_dashboard",
                        help="scratch database name")
    parser.add_argument("--reuse", action="store_true", help="keep the database --db as "
                        "loaded by an earlier run (migrated to head, a new viewer key)")
    parser.add_argument("--url", default=None, help="server URL where a database may be made "
                        "(default: the test cluster on GRIDLINK_TEST_DB_PORT)")
    args = parser.parse_args()
    server_url = args.url or test_server_url(int(os.environ.get("GRIDLINK_TEST_DB_PORT", 55433)))
    if args.reuse:
        os.environ["GRIDLINK_DATABASE_URL"] = reused_database(server_url, args.db)
        get_settings.cache_clear()
        key = viewer_key()
    else:
        os.environ["GRIDLINK_DATABASE_URL"] = scratch_database(server_url, args.db)
        get_settings.cache_clear()
        key = loaded_city(args.grids, args.events)
    from sqlalchemy import text

    from geo import mapdata
    from geo.db import transaction

    with transaction() as session:
        district = mapdata.default_area(session)
        street = session.scalar(text("SELECT min(code) FROM admin_areas WHERE parent_code = :d"),
                                {"d": district})
        at = session.scalar(text("SELECT max(reported_at) FROM events")).isoformat()
    print(f"figures at {at} (the last event of the demo city)")
    base, server, thread = serve()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        pages = [page_row(browser, base, key, area, at, args.runs)
                 for area in (district, street)]
        browser.close()
    server.should_exit = True
    thread.join(timeout=10)
    costs = rollup_costs(args.write, args.runs) if args.write else []
    print(f"\npages: {pages}\nrollups: {costs}")
    print(f"load average during the run (1/5/15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main()
