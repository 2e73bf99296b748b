"""Benchmark: events partitioned by month (migration 0020, issue #18 part 1).

    .venv/bin/python bench/partitions.py --events 1000000

Makes a scratch database ``gridlink_bench_partitions`` at revision 0018 (one heap), fills it
with ``--events`` events over twelve months (one assignment, one transition and a client id
each; triggers off while filling, so no rollups/audit), then:

1. times the hot reads on the heap (EXPLAIN ANALYZE of the statements the real functions
   send: /events of one grid, of one grid in one month, /stats of grids for one month,
   events in one month, the dashboard's overdue cases);
2. upgrades to 0020 (timed) and checks that the row count and an order-free checksum of
   every row of ``events``, ``event_assignments`` and ``event_transitions`` are unchanged
   and that the id sequence goes on;
3. the same reads on the partitioned table, with the partitions each plan scans;
4. archives the oldest month to GeoParquet and restores it (timed, rows checked);
5. downgrades to 0018 (timed) and checks the checksums again.

``--reported-at`` measures migration 0026 instead (``event_assignments.reported_at``): the
same fill, upgraded to 0025 (partitioned), the hot reads; upgrade to 0026 (timed: every
assignment gets its event's ``reported_at``), the checksums (of the columns before 0026)
and every ``reported_at`` equal to its event's; the hot reads again; downgrade to 0025
(timed), checksums again.

The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.cluster import fresh_database, test_server_url
from geo.dashboard import Scope, overdue_cases
from geo.event_archive import archive_month, restore_archive
from geo.event_partitions import month_partitions
from geo.events import EventFilter, list_events
from geo.schema import alembic_config, upgrade
from geo.stats import events_in_period, unit_stats

DB_NAME = "gridlink_bench_partitions"
MONTH = (datetime(2026, 5, 31, 16, tzinfo=UTC), datetime(2026, 6, 30, 16, tzinfo=UTC))
"""June 2026 in Beijing time (UTC bounds)."""
GRID = "140213001001007"

FILL = """
INSERT INTO events (client_id, category, reported_at, reporter, source, status, priority, geom,
                    handling_level, due_at, postponements, reworks, valid)
SELECT 'bench-' || g, (ARRAY['garbage', 'vending', 'parking', 'road'])[1 + g % 4],
       ts, 'W' || (g % 500), 'app',
       (ARRAY['reported', 'dispatched', 'in_progress', 'resolved', 'closed', 'closed'])[1 + g % 6],
       'normal',
       ST_SetSRID(ST_MakePoint(113.2 + (g * 13 % 10000) / 50000.0,
                               40.0 + (g * 17 % 10000) / 62500.0), 4326),
       'grid', ts + interval '3 days', 0, 0, true
  FROM generate_series(1, :n) g,
       LATERAL (SELECT timestamptz '2025-11-30 16:00:00+00'
                       + (g::bigint * 7919 % 31536000) * interval '1 second' AS ts) t;
INSERT INTO event_assignments (event_id, district_code, street_code, community_code, grid_code,
                               assignment, camera_codes)
SELECT id, '140213', '140213001', '140213001001',
       '140213001001' || lpad((id % 100)::text, 3, '0'), 'covered', '{}' FROM events;
INSERT INTO event_transitions (event_id, to_status, actor, at)
SELECT id, 'reported', reporter, reported_at FROM events;
"""
CHECKSUM = ("SELECT count(*), sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint)::text"
            " FROM {table} t")
TABLES = {"events": "events", "event_transitions": "event_transitions",
          "event_assignments": "(SELECT event_id, district_code, street_code, community_code,"
                               " grid_code, micro_grid_code, dedicated_grid_codes, assignment,"
                               " nearest_grid_code, nearest_distance_m, camera_codes,"
                               " assigned_at FROM event_assignments)"}
"""Each table's rows, as of migration 0003's columns (0026 adds one to the assignments)."""


def checksums(engine: Engine) -> dict[str, tuple[int, str]]:
    """(rows, order-free checksum of every row's text) of each table of :data:`TABLES`."""
    with engine.connect() as conn:
        return {t: tuple(conn.execute(text(CHECKSUM.format(table=rows))).one())  # type: ignore[misc]
                for t, rows in TABLES.items()}


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The statements (and parameters) sent through ``engine`` inside the block."""
    sent: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        sent.append((statement, parameters))
    event.listen(engine, "before_cursor_execute", keep)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", keep)


def _relations(plan: dict[str, Any]) -> Iterator[str]:
    """The relations a plan scanned (pruned at run time or never executed: left out)."""
    if (name := plan.get("Relation Name")) and plan.get("Actual Loops", 1) > 0:
        yield name
    for child in plan.get("Plans", []):
        yield from _relations(child)


HOT_READS: dict[str, Callable[[Session], object]] = {
    "/events of one grid (newest 100)": lambda s: list_events(s, EventFilter(area=GRID)),
    "/events of one grid in one month": lambda s: list_events(
        s, EventFilter(area=GRID, since=MONTH[0], until=MONTH[1])),
    "/stats of grids for one month": lambda s: unit_stats(s, "grid", *MONTH),
    "events in one month": lambda s: events_in_period(s, *MONTH),
    "dashboard overdue cases (community)": lambda s: overdue_cases(
        s, Scope("140213001001", "振华南街社区", "community"), datetime(2025, 12, 5, tzinfo=UTC)),
}


def explain_hot_reads(engine: Engine) -> dict[str, tuple[float, int]]:
    """Per hot read: (ms of its statements under EXPLAIN ANALYZE, event partitions scanned)."""
    results = {}
    for name, read in HOT_READS.items():
        with Session(engine) as session, captured(engine) as sent:
            read(session)
        total_ms, scanned = 0.0, set()
        with engine.connect() as conn:
            for statement, parameters in sent:
                if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                    continue
                plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement,
                                            parameters).scalar_one()[0]
                total_ms += plan["Planning Time"] + plan["Execution Time"]
                scanned |= {r for r in _relations(plan["Plan"]) if r.startswith("events")}
        results[name] = (total_ms, len(scanned))
    return results


def timed(label: str, work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    seconds = time.perf_counter() - start
    print(f"{label}: {seconds:.1f} s", flush=True)
    return seconds


def report_reads(label: str, reads: dict[str, tuple[float, int]]) -> None:
    print(f"hot reads, {label}:")
    for name, (ms, scanned) in reads.items():
        print(f"  {name:<36} {ms:8.1f} ms  {scanned:>2} event relation(s) scanned")


def archive_round_trip(engine: Engine) -> None:
    """Archive the oldest month and restore it (each committed), timed and counted."""
    with Session(engine) as session:
        oldest = month_partitions(session)[0]
        rows = session.execute(text(
            f"SELECT count(*) FROM {oldest.name}")).scalar_one()  # noqa: S608
    with tempfile.TemporaryDirectory() as directory:
        def archive() -> None:
            with Session(engine) as session, session.begin():
                archive_month(session, oldest, Path(directory))
        timed(f"archive {oldest.name} ({rows} events) to GeoParquet, verify, drop", archive)
        path = Path(directory) / f"{oldest.name}.parquet"
        print(f"  file {path.stat().st_size / 1e6:.1f} MB")

        def restore() -> None:
            with Session(engine) as session, session.begin():
                assert restore_archive(session, path) == rows
        timed(f"restore {oldest.name}", restore)


def drop_database(url: str) -> None:
    server = make_url(url).set(drivername="postgresql", database="postgres")
    with psycopg.connect(server.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def reported_at_round_trip(url: str, engine: Engine) -> None:
    """Migration 0026 on the filled database: reads at 0025, upgrade (timed, rows checked),
    reads at 0026, downgrade (timed, rows checked)."""
    timed("upgrade 0018 → 0025 (partitioned)", lambda: upgrade(url, "0025"))
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    before = checksums(engine)
    reads_before = explain_hot_reads(engine)
    timed("upgrade 0025 → 0026 (event_assignments.reported_at filled, view, triggers)",
          lambda: upgrade(url, "0026"))
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("VACUUM ANALYZE event_assignments"))
        differing = conn.execute(text(
            "SELECT count(*) FROM event_assignments a JOIN events e ON e.id = a.event_id"
            " WHERE a.reported_at <> e.reported_at")).scalar_one()
    print(f"rows and checksums equal after upgrade: {checksums(engine) == before} {before};"
          f" reported_at differing from the event's: {differing}")
    report_reads("partitioned, assignments without reported_at (0025)", reads_before)
    report_reads("partitioned, joined on (event_id, reported_at) (0026)",
                 explain_hot_reads(engine))
    timed("downgrade 0026 → 0025", lambda: command.downgrade(alembic_config(url), "0025"))
    print(f"rows and checksums equal after downgrade: {checksums(engine) == before}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--url", default=None, help="a server where databases may be made")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--reported-at", action="store_true",
                        help="measure migration 0026 (event_assignments.reported_at)")
    args = parser.parse_args()
    url = fresh_database(args.url or test_server_url(
        int(os.environ.get("GRIDLINK_TEST_DB_PORT", "55433"))), DB_NAME)
    upgrade(url, "0018")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            timed(f"fill {args.events} events (triggers off)", lambda: [
                conn.execute(text(part), {"n": args.events}) for part in FILL.split(";")
                if part.strip()])
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        if args.reported_at:
            reported_at_round_trip(url, engine)
            return
        before = checksums(engine)
        heap_reads = explain_hot_reads(engine)
        with engine.connect() as conn:
            last_id = conn.execute(text("SELECT last_value FROM events_id_seq")).scalar_one()
        timed("upgrade 0018 → 0020 (partition, move rows, indexes, triggers)",
              lambda: upgrade(url, "0020"))
        after = checksums(engine)
        print(f"rows and checksums equal after upgrade: {after == before} {after}")
        with engine.connect() as conn:
            parts = conn.execute(text("SELECT count(*) FROM pg_inherits WHERE inhparent ="
                                      " 'events'::regclass")).scalar_one()
            next_id = conn.execute(text("SELECT nextval('events_id_seq')")).scalar_one()
        print(f"partitions: {parts}; next id {next_id} (last before {last_id})")
        report_reads("one heap (0018)", heap_reads)
        report_reads("partitioned (0020)", explain_hot_reads(engine))
        archive_round_trip(engine)
        print(f"rows and checksums equal after archive + restore: {checksums(engine) == before}")
        timed("downgrade 0020 → 0018 (back to one heap)",
              lambda: command.downgrade(alembic_config(url), "0018"))
        print(f"rows and checksums equal after downgrade: {checksums(engine) == before}")
    finally:
        engine.dispose()
        if not args.keep:
            drop_database(url)


if __name__ == "__main__":
    main()
