"""The measurements of bench/scale.py, each a function of a database URL.

Every step takes the SQLAlchemy URL of a loaded scratch database (bench/scale.py builds one
per size) and returns a plain dict of figures (seconds, milliseconds, rows/s), so a step can
be re-run on another schema (e.g. events partitioned by month) by calling it with that
database's URL. The /locate and /stats steps go over real HTTP to a uvicorn process started
the way bench/locate.py starts it; the others call gridlink's functions in this process.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from bench.locate import KEY, Http, Raw, run_load, start_server
from bench.planning import timed
from bench.scale_lifecycle import lifecycle
from geo.assign import assign_events
from geo.db import libpq_url
from geo.exporter import ExportFilter, export_file
from geo.keys import hash_key
from geo.locate import LOCATE_RAW_SQL
from geo.month_stats import period_unit_stats
from geo.planning.validate import validate_area
from geo.stats import events_in_period, with_grid_counts, with_reassignments

K = 3
"""Cameras per event, as bench/assign.py."""
AS_OF = datetime(2026, 12, 1, tzinfo=UTC)
"""The end of the demo events' year (bench/scale.py generates them up to this day)."""
PERIODS = {"month": (AS_OF - timedelta(days=30), AS_OF),
           "year": (AS_OF - timedelta(days=365), AS_OF)}
"""The /stats periods measured: the last 30 days and the last 365 days before AS_OF."""


def assignment(url: str) -> dict[str, Any]:
    """Bulk assignment of every event (grid chain + K FOV-aware cameras), persisted and
    committed: the one call site of gridlink's bulk path (``geo.assign.assign_events``).

    ``mode`` is ``first`` when no event had an assignment yet (every row written), else
    ``rerun`` (recomputed, only changes written). Seconds are wall time.
    """
    engine = create_engine(url)
    with engine.connect() as conn:
        first = conn.scalar(text("SELECT NOT EXISTS (SELECT 1 FROM event_assignments)"))
    start = time.perf_counter()
    with Session(engine) as session, session.begin():
        summary = assign_events(session, "all", k=K)
    seconds = time.perf_counter() - start
    engine.dispose()
    return {"mode": "first" if first else "rerun", "seconds": seconds,
            "events": summary.events, "events_per_s": summary.events / seconds,
            "written": summary.changed, "steps": summary.steps}


def stored_points(dsn: str, n: int) -> list[tuple[float, float]]:
    """About ``n`` positions (lon, lat) of stored events, a repeatable Bernoulli sample
    (every size, even a tiny one, gives points; bench/locate.py samples 5 % of pages)."""
    with psycopg.connect(dsn) as conn:
        total = conn.execute("SELECT count(*) FROM events").fetchone()
        share = min(100.0, 200.0 * n / max(1, total[0] if total else 1))
        rows = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM events TABLESAMPLE"
                            " BERNOULLI (%s) REPEATABLE (42) LIMIT %s", (share, n)).fetchall()
        if not rows:  # a tiny table's sample can come out empty
            rows = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM events ORDER BY id"
                                " LIMIT %s", (n,)).fetchall()
    if not rows:
        raise SystemExit("the database has no events: load it first (bench/scale.py)")
    return [(float(x), float(y)) for x, y in rows]


@contextmanager
def serving(url: str) -> Iterator[str]:
    """uvicorn (one process) serving ``url`` with bench/locate.py's viewer key; the base URL."""
    dsn = libpq_url(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM api_keys WHERE name = 'bench scale'")
        conn.execute("INSERT INTO api_keys (name, role, prefix, key_hash) VALUES"
                     " ('bench scale', 'viewer', %s, %s)", (KEY[:7], hash_key(KEY)))
    proc, base = start_server(url, workers=1)
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def locate(url: str, calls: int = 2000) -> dict[str, Any]:
    """/locate p50/p99 (ms) over HTTP, one client after a warm-up, on points of stored
    events; and the same statement prepared over one psycopg connection (the floor)."""
    dsn = libpq_url(url)
    points = stored_points(dsn, 2000)
    figures: dict[str, Any] = {"calls": calls, "points": len(points)}
    with serving(url) as base:
        for name, worker in (("http", Http(base)), ("sql", Raw(dsn))):
            run_load(worker, points, 1, min(calls, 200))  # warm-up: prepares, caches
            latencies, wall = run_load(worker, points, 1, calls)
            p50, p99 = np.percentile(latencies, [50, 99]) * 1e3
            figures[name] = {"p50_ms": float(p50), "p99_ms": float(p99),
                             "per_s": calls / wall}
    return figures


def stats(url: str, runs: int = 3, periods: tuple[str, ...] = tuple(PERIODS)
          ) -> dict[str, Any]:
    """``GET /stats?level=grid`` over HTTP for each of ``periods`` (names of
    :data:`PERIODS`): best and median seconds of ``runs`` calls (after one warm-up), grids
    listed and events counted; ``runs=0``: the warm-up call alone is the figure."""
    figures: dict[str, Any] = {}
    with serving(url) as base, httpx.Client(base_url=base, headers={"X-API-Key": KEY},
                                            timeout=3600) as client:
        for name in periods:
            since, until = PERIODS[name]
            params = {"level": "grid", "since": since.isoformat(), "until": until.isoformat()}
            times, body = [], {}
            for _ in range(runs + 1):
                start = time.perf_counter()
                response = client.get("/stats", params=params)
                times.append(time.perf_counter() - start)
                response.raise_for_status()
                body = response.json()
            timed = times[1:] or times  # runs=0: the cold call alone (minutes at 10^7)
            figures[name] = {"best_s": min(timed), "median_s": float(np.median(timed)),
                             "cold_s": times[0], "units": len(body["units"]),
                             "events": body["events"]}
    return figures


def validation(url: str) -> dict[str, Any]:
    """``validate_area`` of the whole district (every grid and micro-grid), rolled back."""
    engine = create_engine(url)
    with Session(engine) as session:
        district = session.scalar(text(
            "SELECT code FROM admin_areas WHERE level = 'district' ORDER BY code LIMIT 1"))
        seconds, report = timed(lambda: validate_area(session, district))
        session.rollback()
    engine.dispose()
    grids = sum(g.level == "grid" for g in report.grids)
    return {"seconds": seconds, "grids": grids, "micro_grids": len(report.grids) - grids,
            "problems": report.counts()}


def export(url: str, events_kind: str | None = None) -> dict[str, Any]:
    """``export_file`` of events and grids as GeoJSON (streamed) and GeoPackage (batched):
    rows, seconds and rows/s of each, in this process, into a temporary directory.
    ``events_kind``: only the events of that category (a bounded export: at 10^7 events
    the whole GeoPackage would take ~half an hour here)."""
    engine = create_engine(url)
    figures: dict[str, Any] = {"events_kind": events_kind}
    with tempfile.TemporaryDirectory(prefix="gridlink-scale-") as tmp:
        for layer in ("events", "grids"):
            for fmt in ("geojson", "gpkg"):
                path = Path(tmp) / f"{layer}.{fmt}"
                flt = ExportFilter(kind=events_kind if layer == "events" else None)
                with Session(engine) as session, session.begin():
                    seconds, rows = timed(partial(export_file, session, layer, path, fmt,
                                                  flt))
                figures[f"{layer}_{fmt}"] = {"rows": rows, "seconds": seconds,
                                             "rows_per_s": rows / seconds,
                                             "bytes": path.stat().st_size}
                path.unlink()
    engine.dispose()
    return figures


STEPS: dict[str, Callable[[str], dict[str, Any]]] = {
    "lifecycle": lifecycle, "assign": assignment, "locate": locate, "stats": stats,
    "validate": validation, "export": export}
"""Measured steps by name, in the order bench/scale.py runs them (the cases' lifecycle
first: a database loaded before the generator closed cases gets them closed; then assign:
/stats counts assigned events)."""


def plans(url: str) -> dict[str, str]:
    """EXPLAIN (ANALYZE, BUFFERS) text of the statements behind /stats (month, year) and of
    /locate's statement for one stored event's point: where the time and the pages go.

    The /stats plans are captured with auto_explain at NOTICE level while the geo.stats
    functions that ``GET /stats?level=grid`` calls run, so they are the statements the route
    really issues (each plan starts with its duration).
    """
    found: dict[str, str] = {}
    engine = create_engine(url)
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        notices: list[str] = []
        raw.add_notice_handler(lambda d: notices.append(d.message_primary or ""))  # type: ignore[union-attr]
        for setting in ("LOAD 'auto_explain'", "SET auto_explain.log_min_duration = 0",
                        "SET auto_explain.log_analyze = on", "SET auto_explain.log_buffers = on",
                        "SET auto_explain.log_level = notice"):
            conn.execute(text(setting))
        with Session(bind=conn) as session:
            for name, (since, until) in PERIODS.items():
                notices.clear()
                rows = period_unit_stats(session, "grid", since, until)  # as GET /stats
                with_grid_counts(session, with_reassignments(session, rows, since, until))
                events_in_period(session, since, until)
                session.execute(text("SELECT 1"))  # the last plan's notice arrives with this
                found[f"stats_{name}"] = trimmed("\n\n".join(notices[:-1]))  # not SELECT 1's
        conn.execute(text("SET auto_explain.log_min_duration = -1"))
        conn.rollback()
    found["locate"] = _locate_plan(libpq_url(url))
    engine.dispose()
    return found


PLAN_LINE = 400
"""Characters kept of a plan line: a grid's code list bound as a parameter (10^5 codes at
a province's size) would otherwise make each /stats plan ~10 MB."""


def trimmed(plan: str) -> str:
    """``plan`` with every line cut to :data:`PLAN_LINE` characters (marked with …)."""
    return "\n".join(line if len(line) <= PLAN_LINE else line[:PLAN_LINE] + "…"
                     for line in plan.splitlines())


def _locate_plan(dsn: str) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of geo.locate's statement for one stored event's point."""
    lon, lat = stored_points(dsn, 1)[0]
    with psycopg.connect(dsn) as conn, psycopg.RawCursor(conn) as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + LOCATE_RAW_SQL,
                       (lon, lat, 200.0, K, 15.0))
        return "\n".join(str(row[0]) for row in cursor.fetchall())
