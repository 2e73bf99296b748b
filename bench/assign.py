"""Benchmark: gridlink's persisted bulk assignment against the single-machine engines a data
team would reach for, in one process, on the same data.

    .venv/bin/python bench/assign.py                       # build the 10^6 city, then run
    .venv/bin/python bench/assign.py --skip-load --rounds 2

The city (bench/assign_city.py: demo city seed 42, 10,000 grids, 100,000 cameras, 10^6
events, buildings, and the visibility of ``--views`` cameras) is loaded once into a scratch
database and reused with ``--skip-load``. Every engine is given the same inputs read from it
(events, current grids, online cameras, building shadows) and does the same job: grid chain
(grid, micro-grid, dedicated grids; nearest grid within the GPS tolerance for points
outside, ties by code) and the top-3 cameras that see the event (range, FOV, building
shadows; nearest first, ties by code):

* **geopandas** (the oracle, bench/peers/geopandas_oracle.py), one core;
* **DuckDB spatial** and **SedonaDB** (bench/peers/sql_job.py), every core;
* **gridlink**: ``geo.assign.assign_events(session, "all")`` + COMMIT — reading the events
  from PostGIS, computing, and writing the results to ``event_assignments``, where
  dispatchers read them, with the daily rollups moved. "fresh" starts from never-assigned
  events (assignments emptied and the rollups recounted, not timed; 10^6 rows written and
  ~10^6 rollup rows moved), "re-run" recomputes everything over stored results (nothing
  changes, nothing written; compared in memory, then staged for the server to compare: the
  path before), "moved" re-runs after ``--moved`` shares of the stored rows were given
  another grid chain (a redraw as the re-run sees it; not timed, the triggers move the
  rollups). After each persisted run the rollups are compared with a recount (not timed).
  ``--paths`` adds rolled-back fresh runs that maintain the rollups
  another way (a breakdown, not a result): ``triggers`` (the statement triggers on
  ``event_assignments``, the path before the bulk delta), ``recount`` (the touched days
  deleted and recounted from the events), ``upsert`` (the grouped delta upserted in place,
  the path before the rebuild of geo.rollup_rebuild), ``off`` (no rollup work: the floor).

Printed: seconds, rows/s, peak resident memory above the process's baseline (sampled every
20 ms), ratio to the fastest peer, and the events on which each engine differs from the
oracle (per field, with examples).
"""

# ruff: noqa: S608 (every SQL below is built from this module's constant fragments only)

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.assign_city import CitySize, EngineInputs, engine_inputs, scratch_city
from bench.peers import duckdb_spatial, geopandas_oracle, sedona
from geo import assign as assign_mod
from geo import assign_memory, event_assignments
from geo.assign import AssignSummary, assign_events
from geo.assignment_index import after_bulk_assignment, before_bulk_assignment
from geo.rollup_refresh import RefreshSummary, refresh_rollups
from geo.rollups import GROUP_COLUMNS, RECOUNT_SQL, STORED_COUNTS, STORED_SQL
from geo.schema import upgrade
from geo.settings import get_settings

K = 3
PEERS = {"geopandas": geopandas_oracle, "duckdb": duckdb_spatial, "sedona": sedona}
FIELDS = ("grid_code", "micro_grid_code", "dedicated", "assignment", "nearest_grid_code",
          "camera_codes")


# --------------------------------------------------------------------------- measuring


class PeakMemory:
    """Peak resident set size (MiB) of this process above its size at the start, sampled
    from /proc every 20 ms while the ``with`` block runs."""

    def __init__(self) -> None:
        self.peak_mb = 0.0

    @staticmethod
    def rss_mb() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    @contextmanager
    def watch(self) -> Iterator[PeakMemory]:
        base, done = self.rss_mb(), threading.Event()
        peak = [base]

        def sample() -> None:
            while not done.wait(0.02):
                peak[0] = max(peak[0], self.rss_mb())

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            done.set()
            thread.join()
            self.peak_mb = max(peak[0], self.rss_mb()) - base


def timed(run: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, peak MiB above baseline) of ``run()``."""
    memory = PeakMemory()
    with memory.watch():
        start = time.perf_counter()
        result = run()
        seconds = time.perf_counter() - start
    return result, seconds, memory.peak_mb


ROLLUP_COLUMNS = ", ".join(GROUP_COLUMNS + STORED_COUNTS)
"""The daily rollups' key and counts, as :data:`geo.rollups.RECOUNT_SQL` selects them."""

RECOUNT_DAYS = """
CREATE TEMPORARY TABLE bench_days ON COMMIT DROP AS
SELECT day, day::timestamp AT TIME ZONE 'Asia/Shanghai' AS lo,
       (day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai' AS hi
  FROM (SELECT DISTINCT gridlink_local_day(reported_at) AS day FROM {results}
         WHERE NOT same) d;
DELETE FROM event_daily_counts c USING bench_days d WHERE c.day = d.day;
INSERT INTO event_daily_counts (""" + ROLLUP_COLUMNS + """)
""" + RECOUNT_SQL.replace("{where}", "JOIN bench_days d ON e.reported_at >= d.lo"
                                   " AND e.reported_at < d.hi")
"""Path (b): the days the run touched deleted from the rollups and recounted."""


def recount_touched_days(session: Session, results: str) -> None:
    """Path (b) in place of :func:`geo.event_assignments.move_rollups`."""
    for statement in RECOUNT_DAYS.format(results=results).split(";"):
        session.execute(text(statement))


@contextmanager
def rollups_path(path: str) -> Iterator[None]:
    """Run the bulk writer with the rollups maintained by ``path`` for the ``with`` block:
    ``delta`` as gridlink does (rebuilt and swapped when the run moves most keys, else the
    grouped upsert), ``upsert`` the grouped upsert always, ``triggers``, ``recount``, ``off``.
    """
    keep_value, keep_move = event_assignments.BULK_ROLLUPS, event_assignments.move_rollups
    keep_share = event_assignments.REBUILD_FROM_SHARE
    keep_compare = assign_memory.COMPARE_IN_MEMORY
    if path != "delta":  # every other path moves the rollups in place, rows staged
        event_assignments.REBUILD_FROM_SHARE = float("inf")
        assign_memory.COMPARE_IN_MEMORY = False
    if path == "triggers":
        event_assignments.BULK_ROLLUPS = "triggers"  # not 'bulk': the triggers fire
    if path in ("triggers", "off"):
        event_assignments.move_rollups = lambda session, results: None
    if path == "recount":
        event_assignments.move_rollups = recount_touched_days
    try:
        yield
    finally:
        event_assignments.BULK_ROLLUPS, event_assignments.move_rollups = keep_value, keep_move
        event_assignments.REBUILD_FROM_SHARE = keep_share
        assign_memory.COMPARE_IN_MEMORY = keep_compare


def never_assigned(engine: Engine) -> None:
    """Empty ``event_assignments`` and recount the rollups: every event in the "no grid"
    key, as before a first assignment, nothing pending refresh."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE event_assignments, event_daily_counts, rollup_refresh"))
        conn.execute(text(f"INSERT INTO event_daily_counts ({ROLLUP_COLUMNS}) "
                          + RECOUNT_SQL.format(where="")))


SETTLED_TABLES = ("event_assignments", "event_daily_counts", "event_monthly_counts",
                  "event_area_daily_counts", "rollup_refresh")
"""The tables a run writes: vacuumed and analysed before each timed run (:func:`settle`)."""


def settle(engine: Engine, wait_s: float = 60.0) -> None:
    """Start each timed run (gridlink's and each peer's) on a settled database: the tables
    the previous run wrote vacuumed and analysed, dirty pages written by a ``CHECKPOINT``,
    no autovacuum worker running (waits up to ``wait_s``). Otherwise the previous run's
    ~700 MB of WAL and 10^6 new rows set off a checkpoint or an autovacuum in the middle of
    the next timed run, whichever engine it is (runs differed by up to 2 s)."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text(f"VACUUM ANALYZE {', '.join(SETTLED_TABLES)}"))
        try:
            conn.execute(text("CHECKPOINT"))
        except DBAPIError as error:  # a role without pg_checkpoint: settle without it
            print(f"  settle: no CHECKPOINT ({error.orig})", flush=True)
        deadline = time.perf_counter() + wait_s
        while conn.execute(text("SELECT EXISTS (SELECT FROM pg_stat_activity"
                                " WHERE backend_type = 'autovacuum worker')")).scalar_one():
            if time.perf_counter() > deadline:
                break
            time.sleep(0.2)


def rollups_differing(engine: Engine) -> int:
    """Rollup rows that differ from a recount of the events (0: exact)."""
    recount = RECOUNT_SQL.format(where="")
    with engine.connect() as conn:
        return int(conn.execute(text(
            f"SELECT count(*) FROM (({STORED_SQL} EXCEPT {recount})"
            f" UNION ALL ({recount} EXCEPT {STORED_SQL})) x")).scalar_one())


def time_gridlink(engine: Engine, k: int = K, *, fresh: bool = True, in_memory: bool = True,
                  rollups: bool = True, path: str = "delta", compare_in_memory: bool = True
                  ) -> tuple[AssignSummary, float, float]:
    """Time ``assign_events(session, "all")`` + COMMIT on the database of ``engine``:
    (summary, wall seconds, peak MiB of this process) - the assignments committed, where
    dispatchers read them; the rollups a first assignment leaves pending are refreshed
    after (:func:`time_refresh`). ``fresh`` starts from never-assigned events
    (:func:`never_assigned`, not timed); ``in_memory`` False forces the SQL steps; ``path``
    maintains the rollups another way (:func:`rollups_path`) and, unless it is ``delta``,
    rolls the run back (a breakdown, not a result); ``rollups`` False is ``path="off"``;
    ``compare_in_memory`` False: a re-run stages every row for the server to compare (the
    path before geo.assign_compare)."""
    path = path if rollups else "off"
    if fresh:
        never_assigned(engine)
    settle(engine)
    threshold, compare = assign_mod.MEMORY_FROM_EVENTS, assign_memory.COMPARE_IN_MEMORY
    assign_mod.MEMORY_FROM_EVENTS = threshold if in_memory else 10**12
    assign_memory.COMPARE_IN_MEMORY = compare_in_memory

    def run() -> AssignSummary:
        if path == "delta":  # as `gridlink assign` does, outside its transaction
            before_bulk_assignment(engine, "all")
        with Session(engine) as session, session.begin(), rollups_path(path):
            summary = assign_events(session, "all", k=k)
            if path != "delta":
                session.rollback()
            return summary

    try:
        return timed(run)
    finally:
        assign_mod.MEMORY_FROM_EVENTS = threshold
        assign_memory.COMPARE_IN_MEMORY = compare


MOVE_STORED = """
UPDATE event_assignments a
   SET (district_code, street_code, community_code, grid_code, micro_grid_code) =
       (b.district_code, b.street_code, b.community_code, b.grid_code, b.micro_grid_code)
  FROM event_assignments b
 WHERE a.event_id % :every = 0 AND b.event_id = a.event_id + 1
   AND b.grid_code IS DISTINCT FROM a.grid_code
"""
"""A redraw as the next re-run sees it: every ``every``-th event's stored row given the grid
chain of the next event (another grid of the city), as single-row writers would leave it
(the statement triggers move the rollups); the re-run moves them back."""


def move_stored(engine: Engine, share: float) -> int:
    """Make about ``share`` of the stored rows stale (:data:`MOVE_STORED`, committed, not
    timed); returns the rows changed."""
    with engine.begin() as conn:
        return int(conn.execute(text(MOVE_STORED), {"every": round(1 / share)}).rowcount)


def time_refresh(engine: Engine) -> tuple[RefreshSummary, float]:
    """Time the refresh of the rollups a committed run left pending, in a second
    transaction + COMMIT (geo.rollup_refresh): (summary, wall seconds)."""
    start = time.perf_counter()
    with Session(engine) as session, session.begin():
        summary = refresh_rollups(session)
    return summary, time.perf_counter() - start


def stored(engine: Engine) -> pd.DataFrame:
    """gridlink's stored answer, in the peers' columns."""
    with engine.connect() as conn:
        frame = pd.read_sql(text(
            "SELECT event_id AS id, grid_code, micro_grid_code, dedicated_grid_codes AS"
            " dedicated, assignment, nearest_grid_code, nearest_distance_m, camera_codes"
            " FROM event_assignments ORDER BY event_id"), conn)
    frame["dedicated"] = [list(v) if v is not None else None for v in frame.dedicated]
    frame["camera_codes"] = [list(v) if v is not None else [] for v in frame.camera_codes]
    return frame


# --------------------------------------------------------------------------- comparing


def differences(result: pd.DataFrame, oracle: pd.DataFrame) -> tuple[int, dict[str, int],
                                                                       list[str]]:
    """(events differing on any field, per-field counts, up to 3 examples per field)."""
    both = oracle.merge(result, on="id", how="left", suffixes=("_o", "_r"))
    bad_any = np.zeros(len(both), dtype=bool)
    counts: dict[str, int] = {}
    examples: list[str] = []
    for name in FIELDS:
        a, b = both[f"{name}_o"].to_numpy(dtype=object), both[f"{name}_r"].to_numpy(dtype=object)
        bad = np.array([_norm(x) != _norm(y) for x, y in zip(a, b, strict=True)])
        counts[name] = int(bad.sum())
        bad_any |= bad
        examples += [f"{name} id {both.id.iloc[i]}: oracle {a[i]!r}, engine {b[i]!r}"
                     for i in np.flatnonzero(bad)[:3]]
    return int(bad_any.sum()), counts, examples


def _norm(value: Any) -> Any:
    if isinstance(value, list | tuple | np.ndarray):
        return tuple(value) or None
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value


# --------------------------------------------------------------------------- main


GRIDLINK_RUNS = {
    "delta": "gridlink persisted, first assignment (committed with its rollups; any days"
             " left pending refreshed after)",
    "upsert": "gridlink fresh, rollups by the grouped delta upsert (path before; rolled back)",
    "triggers": "gridlink fresh, rollups by the statement triggers (path before; rolled back)",
    "recount": "gridlink fresh, rollups by recounting the touched days (rolled back)",
    "off": "gridlink fresh, staged path, no rollup work (rolled back; the floor before)",
    "re-run": "gridlink persisted, re-run (nothing changes; compared in memory)",
    "re-run-staged": "gridlink persisted, re-run, every row staged and compared by the server"
                     " (path before)",
}


def run_gridlink(engine: Engine, paths: list[str], moved: list[float]
                 ) -> list[dict[str, Any]]:
    """gridlink fresh with each rollup path of ``paths``, then persisted fresh, re-run
    (in memory, then staged: the path before), and re-run after each share of ``moved``
    events was moved (:func:`move_stored`)."""
    rows = []
    for path in [*(p for p in paths if p != "delta"), "delta", "re-run", "re-run-staged",
                 *(f"moved {share:g}" for share in moved)]:
        fresh = not path.startswith(("re-run", "moved"))
        if path.startswith("moved"):
            stale = move_stored(engine, float(path.split()[1]))
            GRIDLINK_RUNS[path] = (f"gridlink persisted, re-run after {stale:,} stored rows"
                                   f" moved ({float(path.split()[1]):.0%}; compared in memory)")
        summary, seconds, peak = time_gridlink(engine, fresh=fresh,
                                               path="delta" if not fresh else path,
                                               compare_in_memory=path != "re-run-staged")
        persisted = not fresh or path == "delta"
        start = time.perf_counter()
        built = after_bulk_assignment(engine)["indexes_built"]
        index_s = time.perf_counter() - start
        refreshed = time_refresh(engine) if persisted else None
        exact = f"; rollups differing from a recount: {rollups_differing(engine)}" if (
            persisted) else ""
        rows.append({"engine": GRIDLINK_RUNS[path], "s": seconds, "peak": peak,
                     "peer": False,
                     "result": stored(engine) if path.startswith(("delta", "moved")) else None,
                     "refresh": refreshed[1] + index_s if refreshed else None,
                     "note": f"{summary.changed:,} rows written; steps {summary.steps}{exact};"
                             f" indexes built after the commit {built} in {index_s:.2f} s"})
        after = (f", then rollups refreshed in {refreshed[1]:.2f} s ({refreshed[0].days:,}"
                 f" local days; sum {seconds + refreshed[1]:.2f} s)") if refreshed else ""
        print(f"  {GRIDLINK_RUNS[path]}: {seconds:.2f} s committed{after}, peak {peak:.0f} MiB,"
              f" {rows[-1]['note']}; load {os.getloadavg()}", flush=True)
    return rows


def run_round(engine: Engine, inputs: EngineInputs, peers: list[str], srid: int,
              tolerance_m: float, paths: list[str], gridlink_first: bool,
              moved: list[float]) -> list[dict[str, Any]]:
    """One round: every peer and gridlink (fresh per rollup path, re-runs), in the order
    asked; rows of the table."""
    rows = run_gridlink(engine, paths, moved) if gridlink_first else []
    for name in peers:
        module = PEERS[name]
        settle(engine)
        result, seconds, peak = timed(lambda m=module: m.run(inputs, K, tolerance_m, srid))
        rows.append({"engine": module.NAME, "s": seconds, "peak": peak, "result": result,
                     "peer": True})
        print(f"  {module.NAME}: {seconds:.2f} s, peak {peak:.0f} MiB;"
              f" load {os.getloadavg()}", flush=True)
    return rows if gridlink_first else rows + run_gridlink(engine, paths, moved)


def print_table(rows: list[dict[str, Any]], events: int, oracle: pd.DataFrame) -> None:
    fastest = min(r["s"] for r in rows if r["peer"])
    print("\n| engine | s (assignments committed) | rows/s | peak MiB | ratio to fastest peer"
          " | after the commit: indexes built, rollups refreshed, s | sum s | ratio of the sum"
          " | events differing from the oracle |\n|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        diff = "—"
        if r["result"] is not None and r["engine"] != geopandas_oracle.NAME:
            n, per_field, examples = differences(r["result"], oracle)
            diff = f"{n:,} {per_field if n else ''}".strip()
            for example in examples[:6]:
                print(f"    {r['engine']} differs on {example}")
        elif r["engine"] == geopandas_oracle.NAME:
            diff = "(oracle)"
        refresh = r.get("refresh")
        after = (f" {refresh:.2f} | {r['s'] + refresh:.2f} | {(r['s'] + refresh) / fastest:.2f} |"
                 if refresh is not None else " — | — | — |")
        print(f"| {r['engine']} | {r['s']:.2f} | {events / r['s']:,.0f} | {r['peak']:.0f} |"
              f" {r['s'] / fastest:.2f} |{after} {diff} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, default=CitySize.grids)
    parser.add_argument("--cameras", type=int, default=CitySize.cameras)
    parser.add_argument("--events", type=int, default=CitySize.events)
    parser.add_argument("--views", type=int, default=CitySize.views,
                        help="cameras given visibility polygons and shadows (-1: all)")
    parser.add_argument("--resolution", type=float, default=CitySize.resolution)
    parser.add_argument("--url", default=None, help="server URL (default: test cluster)")
    parser.add_argument("--skip-load", action="store_true", help="reuse gridlink_bench")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--peers", default="geopandas,duckdb,sedona")
    parser.add_argument("--paths", default="delta",
                        help="rollup paths of the fresh runs: delta,upsert,triggers,recount,off")
    parser.add_argument("--moved", default="0.01,0.2",
                        help="shares of events moved before a re-run each ('' for none)")
    parser.add_argument("--gridlink-first", action="store_true",
                        help="run gridlink before the peers (alternate between rounds)")
    parser.add_argument("--sql-path", action="store_true",
                        help="also time gridlink's SQL steps (the path before the engine)")
    args = parser.parse_args()
    size = CitySize(args.grids, args.cameras, args.events, args.views, args.resolution)
    engine = scratch_city(size, args.url, reuse=args.skip_load)
    upgrade(engine.url.render_as_string(hide_password=False))  # a reused city: to head
    settings = get_settings()
    inputs = engine_inputs(engine)
    print(f"inputs: {len(inputs.events):,} events, {len(inputs.grids):,} grids,"
          f" {len(inputs.cameras):,} online cameras, {len(inputs.shadows):,} shadows;"
          f" load average {os.getloadavg()}")
    peers = args.peers.split(",")
    oracle = None
    for n in range(args.rounds):
        print(f"round {n + 1} ({time.strftime('%H:%M:%S')} UTC, load {os.getloadavg()})")
        rows = run_round(engine, inputs, peers, settings.metric_srid,
                         settings.gps_tolerance_m, args.paths.split(","),
                         args.gridlink_first != (n % 2 == 1),
                         [float(m) for m in args.moved.split(",") if m])
        oracle = next((r["result"] for r in rows if r["engine"] == geopandas_oracle.NAME),
                      oracle)
        if oracle is not None:
            print_table(rows, len(inputs.events), oracle)
    if args.sql_path:
        summary, seconds, peak = time_gridlink(engine, fresh=True, in_memory=False)
        print(f"gridlink SQL steps, fresh: {seconds:.2f} s, peak {peak:.0f} MiB,"
              f" steps {summary.steps}")
    engine.dispose()


if __name__ == "__main__":
    main()
