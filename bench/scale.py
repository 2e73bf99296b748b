"""Benchmark: growth curves — how /locate, bulk assignment, validation, /stats and export
times grow with the number of grids and events (issue #18 part 5).

    .venv/bin/python bench/scale.py                                 # 10^3/10^4 grids
    .venv/bin/python bench/scale.py --sizes 100000x1000000          # one more point
    .venv/bin/python bench/scale.py --sizes 10000x1000000 --only stats,locate --reuse
    .venv/bin/python bench/scale.py --report                        # table + chart only

A size ``GRIDSxEVENTS`` is one demo city (data/demo.py: ``GRIDS`` grids, cameras and
micro-grids in the demo's proportions, ``EVENTS`` events spread over the 12 months before
2026-12-01) in a scratch database of its own, ``gridlink_scale_<grids>_<events>`` on the test
cluster (or the server of ``--url``), loaded with COPY (bench/assign.py's loader; the
importer is measured by bench/import_export.py). ``--reuse`` keeps a database loaded by an
earlier run. Each step (bench/scale_steps.py) is timed with the database's block reads, cache
hits and temporary-file bytes (``pg_stat_database``) over the step; figures are merged into
``bench/scale_results.json`` (one entry per size and step, so a 10^7 point can be added
later), from which ``bench/scale.md`` (the table) and ``bench/scale.png`` (the chart) are
drawn (bench/scale_report.py).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.assign_city import (  # noqa: E402
    LOADED_TABLES,
    copy_events,
    load_layers,
    vacuum_analyze,
)
from bench.common import indexes_deferred, scratch_database  # noqa: E402
from bench.scale_lifecycle import closed_and_recounted  # noqa: E402
from bench.scale_report import write_report  # noqa: E402
from bench.scale_steps import AS_OF, PERIODS, STEPS, export, locate, plans, stats  # noqa: E402
from cli.cluster import test_server_url  # noqa: E402
from data.city import City  # noqa: E402
from data.demo import city_without_events, stream_city  # noqa: E402
from data.scale import (  # noqa: E402
    COMMUNITIES_PER_STREET,
    GRIDS_PER_COMMUNITY,
    CityScale,
    city_scale,
)
from geo.assign import assign_units  # noqa: E402
from geo.db import libpq_url  # noqa: E402
from geo.event_partitions import ensure_partitions  # noqa: E402
from geo.schema import upgrade  # noqa: E402
from geo.settings import get_settings  # noqa: E402

DEFAULT_SIZES = "1000x100000,10000x1000000"
EVENT_BATCH = 1_000_000
"""Events generated and copied at a time (bench/scale.py's memory: the city plus one batch,
~1 GB of frames at 10^6)."""
MAX_STREETS = 599
"""The demo's 3-digit street codes (data/scale.py): larger cities get more communities per
street instead."""


def parse_sizes(value: str) -> list[tuple[int, int]]:
    """``"1000x100000,10000x1000000"`` → [(1000, 100000), (10000, 1000000)]; SystemExit
    naming the bad item otherwise."""
    sizes = []
    for item in value.split(","):
        grids, _, events = item.strip().lower().partition("x")
        if not (grids.isdigit() and events.isdigit() and int(grids) >= 10):
            raise SystemExit(f"--sizes: {item!r} is not GRIDSxEVENTS (e.g. 1000x100000, "
                             "at least 10 grids)")
        sizes.append((int(grids), int(events)))
    return sizes


def database_name(prefix: str, grids: int, events: int) -> str:
    return f"{prefix}_{grids}_{events}"


def year_of_events(events: pd.DataFrame) -> None:
    """Stretch the demo's six months of events to the 12 months before AS_OF (in place), so
    one month holds ~1/12 of them and one year all of them."""
    reported = pd.to_datetime(events["reported_at"], utc=True)
    end = pd.Timestamp(AS_OF)
    events["reported_at"] = end - (end - reported) * 2


def build(server_url: str, name: str, grids: int, events: int) -> dict[str, Any]:
    """(Re)create database ``name`` and load the city with COPY, its events streamed in
    batches of :data:`EVENT_BATCH` (generated and copied one at a time, so memory is the
    city's plus one batch) and moved along their lifecycle (bench.scale_lifecycle: most
    cases closed), the secondary indexes built once after the rows, then the buildings',
    sites' and cameras' grid codes set as an import sets them (``assign_units``); figures
    of the load (seconds per phase, peak RSS of this process in MiB)."""
    start = time.perf_counter()
    communities = max(1, round(grids / GRIDS_PER_COMMUNITY))
    streets = min(MAX_STREETS, max(1, round(communities / COMMUNITIES_PER_STREET)))
    scale = city_scale(42, grids, None, events, streets, None, AS_OF.date())
    layers, batches = stream_city(scale, batch=EVENT_BATCH, layers=kept_city(scale))
    figures: dict[str, Any] = {"generate_s": time.perf_counter() - start, "copy_s": 0.0,
                               "batch": EVENT_BATCH,
                               "rows": {layer: len(frame) for layer, frame in layers.items()}}
    engine = create_engine(scratch_database(server_url, name))
    with Session(engine) as session, session.begin():  # the year's months, not the default
        ensure_partitions(session, ahead=12, today=(AS_OF - timedelta(days=365)).date())
    with indexes_deferred(engine, LOADED_TABLES):
        start = time.perf_counter()
        load_layers(engine, layers)
        figures["copy_s"] += time.perf_counter() - start
        del layers
        start = time.perf_counter()
        for batch in batches:
            year_of_events(batch)
            figures["generate_s"] += time.perf_counter() - start
            start = time.perf_counter()
            copy_events(engine, batch)
            figures["copy_s"] += time.perf_counter() - start
            figures["rows"]["events"] += len(batch)
            print(f"  events {figures['rows']['events']:,} of {events:,}: {_short(figures)}",
                  flush=True)
            start = time.perf_counter()
        closed = closed_and_recounted(engine, AS_OF)  # COPYed as reported
        figures["lifecycle_s"], figures["rollups_s"] = closed["seconds"], closed["rollups_s"]
        start = time.perf_counter()
    figures["index_s"] = time.perf_counter() - start
    start = time.perf_counter()
    with Session(engine) as session, session.begin():  # as an import does (assign_on_import)
        assign_units(session)
    figures["units_s"] = time.perf_counter() - start
    start = time.perf_counter()
    vacuum_analyze(engine)
    engine.dispose()
    return {**figures, "vacuum_s": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()}


def kept_city(scale: CityScale) -> tuple[City, dict[str, Any]]:
    """The city of ``scale`` without events, built once per seed and size and kept as a
    pickle under ``<GRIDLINK_HOME>/bench-cities/`` (the 10^5-grid city takes minutes of
    CPU; the events are always drawn anew). The pickle is this machine's own scratch."""
    plain = replace(scale, events=0)
    path = get_settings().home / "bench-cities" / f"{plain.key}.pickle"
    if path.is_file():
        with path.open("rb") as file:
            kept, city, layers = pickle.load(file)  # written below, on this machine
        if kept == plain:
            return city, layers
    city, layers = city_without_events(plain)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_suffix(".partial")
    with staged.open("wb") as file:
        pickle.dump((plain, city, layers), file, protocol=5)
    staged.replace(path)
    return city, layers


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def existing(server_url: str, name: str, events: int) -> str | None:
    """The URL of database ``name`` (migrated to head) if it exists and holds ``events``
    events (a complete earlier load), else None."""
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if found is None:
        return None
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(libpq_url(url)) as conn:
        loaded = conn.execute("SELECT to_regclass('events') IS NOT NULL AND"
                              " (SELECT count(*) FROM events) = %s", (events,)).fetchone()
    if not (loaded and loaded[0]):
        return None
    upgrade(url)
    return url


COUNTERS = ("blks_read", "blks_hit", "temp_files", "temp_bytes")


def counters(url: str) -> dict[str, int]:
    """This database's cumulative block reads, cache hits and temporary files/bytes.

    Read on a new connection after the step's own connections closed (a closing backend
    flushes its statistics), so the difference over a step is the step's.
    """
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute("SELECT blks_read, blks_hit, temp_files, temp_bytes"
                           " FROM pg_stat_database WHERE datname = current_database()"
                           ).fetchone()
    assert row is not None
    return dict(zip(COUNTERS, (int(v) for v in row), strict=True))


def measured(url: str, step: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """Run ``step`` on ``url``: its figures, the database counters over it, load average."""
    before = counters(url)
    time.sleep(1.0)  # statistics of closed backends are flushed at most once a second
    figures = step(url)
    time.sleep(1.0)
    after = counters(url)
    return {**figures, "db": {k: after[k] - before[k] for k in COUNTERS},
            "loadavg": os.getloadavg(), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def sizes_of(url: str) -> dict[str, Any]:
    """Table and index sizes (bytes) against the cache and sort memory of the server."""
    with psycopg.connect(libpq_url(url)) as conn:
        tables: dict[str, int] = dict(conn.execute(  # a partitioned table: its partitions'
            "SELECT relname, coalesce((SELECT sum(pg_total_relation_size(t.relid))"
            " FROM pg_partition_tree(oid) t)::bigint, pg_total_relation_size(oid))"
            " FROM pg_class WHERE relname IN"
            " ('events', 'event_assignments', 'grids', 'cameras', 'buildings')").fetchall())
        settings: dict[str, str] = dict(conn.execute(
            "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name IN"
            " ('shared_buffers', 'work_mem', 'effective_cache_size',"
            " 'max_parallel_workers_per_gather')").fetchall())
    return {"tables": tables, "settings": settings}


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "loadavg": os.getloadavg()}


def run_size(server_url: str, grids: int, events: int, steps: list[str],
             options: argparse.Namespace) -> None:
    """Build (or reuse) the size's database and run ``steps`` on it, merging each figure
    into the results file as soon as it is measured (a run stopped later keeps them)."""
    name = database_name(options.prefix, grids, events)
    key, path = f"{grids}x{events}", options.out / "scale_results.json"
    merged(path, key, {"grids": grids, "events": events, "database": name})
    url = existing(server_url, name, events) if options.reuse else None
    if url is None:
        print(f"[{key}] generating and loading ...", flush=True)
        load = build(server_url, name, grids, events)
        merged(path, key, {"load": load})
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        print(f"[{key}] load: {_short(load)}", flush=True)
        if "stats" in steps and "assign" not in steps:  # /stats counts assigned events
            STEPS["assign"](url)
    for step in steps:
        print(f"[{key}] {step} ...", flush=True)
        run = {"locate": partial(locate, calls=options.calls),
               "stats": partial(stats, runs=options.stats_runs, periods=options.periods),
               "export": partial(export, events_kind=options.export_kind),
               }.get(step, STEPS[step])
        figures = measured(url, run)
        if step == "assign" and figures["mode"] == "rerun":  # not a first write: apart
            step = "assign_rerun"
        merged(path, key, {step: figures}, keep=step == "stats")  # a period run alone
        print(f"[{key}] {step}: {_short(figures)}", flush=True)
    merged(path, key, {"sizes": sizes_of(url), "machine": machine()})
    if not options.no_explain:
        merged(path, key, {"plans": plans(url)})


def _short(figures: dict[str, Any]) -> str:
    return json.dumps(figures, default=str)[:400]


def merged(path: Path, key: str, figures: dict[str, Any], keep: bool = False) -> None:
    """Merge ``figures`` into size ``key`` of the results file (what other runs measured is
    kept; with ``keep``, also the entries of each step not measured again, e.g. /stats of a
    year when only the month ran) and write it back whole (a new file renamed over)."""
    results = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    entry = results.setdefault("sizes", {}).setdefault(key, {})
    for name, value in figures.items():
        entry[name] = {**entry.get(name, {}), **value} if keep else value
    staged = path.with_suffix(".json.partial")
    staged.write_text(json.dumps(results, indent=1, sort_keys=True, default=str) + "\n",
                      encoding="utf-8")
    staged.replace(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="GRIDSxEVENTS,... "
                        f"(default {DEFAULT_SIZES})")
    parser.add_argument("--only", default=",".join(STEPS),
                        help=f"steps to run, comma-separated, of {','.join(STEPS)}")
    parser.add_argument("--reuse", action="store_true",
                        help="keep each size's database if an earlier run loaded it")
    parser.add_argument("--no-explain", action="store_true",
                        help="skip the EXPLAIN ANALYZE plans of /stats and /locate")
    parser.add_argument("--calls", type=int, default=2000, help="/locate calls per mode")
    parser.add_argument("--stats-runs", type=int, default=3,
                        help="timed /stats calls per period after the warm-up (0: cold only)")
    parser.add_argument("--periods", default=",".join(PERIODS),
                        type=lambda v: tuple(p for p in v.split(",") if p in PERIODS),
                        help="/stats periods, comma-separated, of month,year")
    parser.add_argument("--export-kind", default=None,
                        help="export only the events of this category (a bounded export)")
    parser.add_argument("--report", action="store_true",
                        help="only draw the table and chart from the results file")
    parser.add_argument("--out", type=Path, default=ROOT / "bench",
                        help="folder of scale_results.json, scale.md and scale.png")
    parser.add_argument("--prefix", default="gridlink_scale", help="database name prefix")
    parser.add_argument("--url", default=None, help="server URL (default: the test cluster "
                        "on GRIDLINK_TEST_DB_PORT)")
    args = parser.parse_args(argv)
    steps = [s.strip() for s in args.only.split(",") if s.strip()]
    if unknown := [s for s in steps if s not in STEPS]:
        raise SystemExit(f"--only: unknown step(s) {unknown}; steps are {list(STEPS)}")
    results_path = args.out / "scale_results.json"
    if not args.report:
        server_url = args.url or test_server_url(
            int(os.environ.get("GRIDLINK_TEST_DB_PORT", "55433")))
        for grids, events in parse_sizes(args.sizes):
            run_size(server_url, grids, events, steps, args)
    table, chart = write_report(results_path, args.out)
    print(f"wrote {table} and {chart}")


if __name__ == "__main__":
    main()
