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
``--workers`` single-threaded processes, or on the cluster of ``--scheduler``.

``--database NAME`` runs on a city loaded earlier instead (bench/scale.py's, e.g.
``gridlink_scale_100000_10000000``: 10^7 events, loaded in batches): one Dask run (fresh if
no event has an assignment yet, else a re-run whose ``changed`` counts the events on which
Dask differs from the stored rows), then the single-machine path on the events of one street
(``--sample-area``, default the first street by code; rolled back), compared field by field
with what is stored. Figures are merged into ``bench/dask_results.json`` as they land.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.assign_city import load_city
from bench.common import city_database_url, scratch_database
from data.demo import generate_city
from geo.assign import assign_events
from geo.distributed.assign import DaskAssignSummary, assign_events_dask, dask_client
from geo.event_assignments import COLUMNS

ROOT = Path(__file__).resolve().parent.parent
K = 3
"""Cameras per event (bench/scale.py's and /locate's default)."""
IN_AREA = ("ST_Covers((SELECT geom FROM admin_areas WHERE code = :area), e.geom)")
"""The events of the sample area (``geo.assign``'s scope ``area`` for an admin area)."""


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


def field_differences(a: pd.DataFrame, b: pd.DataFrame) -> dict[str, int]:
    """Per column of :data:`COLUMNS`, the events whose value differs between ``a`` and ``b``
    (both indexed by event id); ``missing``: events with a row on one side only."""
    both = a.index.intersection(b.index)
    counts = {"missing": len(a.index.symmetric_difference(b.index))}
    for column in COLUMNS:
        left, right = a.loc[both, column], b.loc[both, column]
        counts[column] = sum(_norm(x) != _norm(y) for x, y in zip(left, right, strict=True))
    return counts


def area_rows(session: Session, area: str) -> pd.DataFrame:
    """The stored assignments of the events in admin area ``area``, by event id."""
    frame = pd.read_sql(text(
        f"SELECT a.event_id, {', '.join(f'a.{c}' for c in COLUMNS)} FROM event_assignments a"  # noqa: S608
        f" JOIN events e ON e.id = a.event_id WHERE {IN_AREA}"), session.connection(),
        params={"area": area})
    return frame.set_index("event_id").sort_index()


def sample_agreement(engine: Engine, area: str | None) -> dict[str, Any]:
    """The single-machine path (``geo.assign.assign_events``, scope ``area``) on the events of
    one street, compared field by field with the stored rows; rolled back."""
    with Session(engine) as session:
        area = area or session.scalar(text(
            "SELECT min(code) FROM admin_areas WHERE level = 'street'"))
        assert area is not None, "the database has no street"
        stored_rows = area_rows(session, area)
        start = time.perf_counter()
        summary = assign_events(session, "area", area_code=area, k=K)
        seconds = time.perf_counter() - start
        fresh = area_rows(session, area)
        session.rollback()
    return {"area": area, "events": summary.events, "stored": len(stored_rows),
            "single_machine_s": seconds, "changed_by_single_machine": summary.changed,
            "differing": field_differences(stored_rows, fresh)}


def merged(path: Path, key: str, figures: dict[str, Any]) -> None:
    """Merge ``figures`` into entry ``key`` of the results file (a new file renamed over)."""
    results = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    results.setdefault(key, {}).update(figures)
    staged = path.with_suffix(".json.partial")
    staged.write_text(json.dumps(results, indent=1, sort_keys=True, default=str) + "\n",
                      encoding="utf-8")
    staged.replace(path)


def figures_of(summary: DaskAssignSummary) -> dict[str, Any]:
    """A Dask run's figures for the results file, with the load average and time."""
    return {"seconds": summary.seconds, "steps": summary.steps, "events": summary.events,
            "changed": summary.changed, "partitions": summary.partitions,
            "loadavg": os.getloadavg(), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def on_loaded(args: argparse.Namespace) -> None:
    """``--database``: one Dask run on the loaded city, then the sample comparison."""
    url = city_database_url(args.url, args.database)
    engine = create_engine(url)
    with engine.connect() as conn:
        events = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
        first = conn.execute(text("SELECT NOT EXISTS (SELECT 1 FROM event_assignments)")
                             ).scalar_one()
    key, mode = f"{args.database}", "fresh" if first else "rerun"
    merged(args.out, key, {"events": events, "workers": args.workers,
                           "scheduler": args.scheduler, "target": args.target,
                           "cell": args.cell})
    print(f"{args.database}: {events:,} events, Dask {mode} ...", flush=True)
    with dask_client(args.scheduler, args.workers) as client:
        summary = assign_events_dask(client, url, k=K, cell_deg=args.cell,
                                     target_events=args.target)
    merged(args.out, key, {f"dask_{mode}": figures_of(summary)})
    report(f"Dask {mode}", summary)
    agreement = sample_agreement(engine, args.sample_area)
    merged(args.out, key, {f"sample_after_{mode}": agreement})
    print(f"sample: {json.dumps(agreement)}")
    engine.dispose()


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
    parser.add_argument("--database", default=None,
                        help="run on this loaded database instead of a new city")
    parser.add_argument("--sample-area", default=None,
                        help="street code of the sample (default: the first street)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "dask_results.json",
                        help="results file (--database runs)")
    args = parser.parse_args()
    if args.database:
        on_loaded(args)
        return
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
