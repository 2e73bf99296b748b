"""Benchmark: re-assigning every event on Dask (geo.distributed) vs the single-machine path.

    .venv/bin/python bench/dask_assign.py --events 50000 --workers 2      # small, here
    .venv/bin/python bench/dask_assign.py --grids 100000 --cameras 1000000 --events 10000000 \\
        --scheduler tcp://scheduler:8786 --url postgresql+psycopg://gridlink@db:5432/postgres

Builds the demo city (data/demo.py), loads it into a scratch database ``gridlink_dask`` on
the test cluster (or the server of ``--url``), then times

* **single machine**: ``geo.assign.assign_events(session, "all")`` + COMMIT (the oracle);
* **Dask, re-run**: ``geo.distributed.assign.assign_events_dask`` over the same stored
  assignments: ``changed`` counts the events on which the two paths differ (all columns);
* **Dask, fresh**: the same after deleting every assignment (all rows written), then the
  stored rows compared with the oracle's on every event;

and prints the per-partition times (events, seconds, worker). Dask runs on a LocalCluster of
``--workers`` single-threaded processes, or on the cluster of ``--scheduler``. At 10^7 events
the oracle itself takes minutes and the city ~20 GB of memory to generate: run it on a
machine of its own (docs/scale.md), never on the shared development machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.assign_city import load_city
from bench.common import scratch_database
from data.demo import generate_city
from geo.assign import assign_events
from geo.distributed.assign import DaskAssignSummary, assign_events_dask, dask_client
from geo.event_assignments import COLUMNS


def stored(engine: Engine) -> pd.DataFrame:
    """Every stored assignment (``event_id`` + the assignment columns), by event id."""
    with engine.connect() as conn:
        frame = pd.read_sql(text(
            f"SELECT event_id, {', '.join(COLUMNS)} FROM event_assignments"), conn)  # noqa: S608
    return frame.set_index("event_id").sort_index()


def differing(a: pd.DataFrame, b: pd.DataFrame) -> int:
    """Events whose stored rows differ in any column (missing on one side included)."""
    if not a.index.equals(b.index):
        return len(a.index.symmetric_difference(b.index))
    same = [[_norm(x) for x in row] == [_norm(y) for y in other]
            for row, other in zip(a.itertuples(index=False), b.itertuples(index=False),
                                  strict=True)]
    return same.count(False)


def _norm(value: object) -> object:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return list(value) if hasattr(value, "__len__") and not isinstance(value, str) else value


def report(name: str, summary: DaskAssignSummary) -> None:
    parts = pd.DataFrame(summary.partitions)
    secs = parts.seconds.tolist() or [0.0]
    print(f"{name}: {summary.seconds:.2f} s ({summary.steps}), {summary.changed:,} rows "
          f"written; {len(parts)} partitions on {parts.worker.nunique()} workers, "
          f"events per partition {parts.events.min():,}-{parts.events.max():,}, seconds per "
          f"partition min {min(secs):.2f} median {statistics.median(secs):.2f} "
          f"max {max(secs):.2f}, sum {sum(secs):.2f}; worker peak RSS "
          f"{parts.peak_rss_mb.max():.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, default=1_000)
    parser.add_argument("--cameras", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster processes")
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address")
    parser.add_argument("--cell", type=float, default=0.02, help="partition cell, degrees")
    parser.add_argument("--target", type=int, default=20_000, help="events per partition")
    parser.add_argument("--url", default=None, help="server URL (default: test cluster)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    city = generate_city(seed=42, grids=args.grids, cameras=args.cameras, events=args.events)
    print(f"generated city in {time.perf_counter() - t0:.1f} s: "
          + ", ".join(f"{k} {len(v):,}" for k, v in city.items()))
    url = scratch_database(args.url, "gridlink_dask")
    engine = create_engine(url)
    load_city(engine, city)
    t0 = time.perf_counter()
    with Session(engine) as session, session.begin():
        single = assign_events(session, "all")
    t_single = time.perf_counter() - t0
    print(f"single machine (geo.assign, persisted): {t_single:.2f} s, {single.events:,} events")
    oracle = stored(engine)
    with dask_client(args.scheduler, args.workers) as client:
        rerun = assign_events_dask(client, url, cell_deg=args.cell, target_events=args.target)
        report("Dask re-run over the oracle's rows", rerun)
        print(f"  events differing from the single-machine path: {rerun.changed:,}")
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM event_assignments"))
        fresh = assign_events_dask(client, url, cell_deg=args.cell, target_events=args.target)
        report("Dask fresh (every row written)", fresh)
    print(f"  stored rows differing from the oracle's: {differing(stored(engine), oracle):,} "
          f"of {len(oracle):,}")
    print(f"ratio Dask fresh / single machine = {fresh.seconds / t_single:.2f}")
    engine.dispose()


if __name__ == "__main__":
    main()
