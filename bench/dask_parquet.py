"""Benchmark: the Dask path with GeoParquet in and out, beside its PostGIS path, in one run.

    nice -n 19 ionice -c3 .venv/bin/python bench/dask_parquet.py --load \\
        --grids 10000 --cameras 100000 --events 1000000           # build and load the city
    nice -n 19 ionice -c3 .venv/bin/python bench/dask_parquet.py  # the runs, on that city

``--load`` builds the demo city (data/demo.py) into the scratch database ``--database`` on
the test cluster (or the server of ``--url``). Without it, on that database, each run on a
new LocalCluster of ``--workers`` single-threaded processes (so each run's worker peak
memory is its own):

1. **PostGIS → PostGIS**: every assignment deleted, then ``assign_events_dask`` (spatial
   partitions of ``--target`` events) writes them all: the reference rows;
2. the events with their assignment (the columns of the retention archive) exported to
   ``--files`` GeoParquet files, in id order (as reported: each file spans the whole city,
   as a month of the archive does);
3. **GeoParquet → GeoParquet**: the same job from those files to one file per partition,
   no database write; the files compared with the reference rows on every event;
4. **GeoParquet, spatially shuffled → GeoParquet**: the same with ``spatial_shuffle``
   (events regrouped along a Hilbert curve first), compared the same way;
5. **GeoParquet → PostGIS**: assignments deleted again, the job from the files to
   ``event_assignments``; the stored rows compared with the reference rows;
6. **statistics from GeoParquet**: ``geo.distributed.stats.month_stats`` per grid and month,
   its rows for the first month compared with ``geo.stats.unit_stats`` over PostgreSQL.

Prints per-partition times, worker peak RSS and ``uptime`` for each run; figures are merged
into ``bench/dask_results.json`` (key ``parquet_<database>``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.assign_city import load_city
from bench.common import city_database_url, scratch_database
from bench.dask_assign import differing, merged, stored
from data.demo import generate_city
from geo.db import transaction
from geo.distributed.assign import DaskAssignSummary, assign_events_dask, dask_client
from geo.distributed.stats import month_stats
from geo.distributed.targets import Targets
from geo.event_assignments import COLUMNS
from geo.stats import FIELDS, unit_stats

ROOT = Path(__file__).resolve().parent.parent


def uptime() -> str:
    """The 1/5/15-minute load averages, as ``uptime`` prints them."""
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def figures(summary: DaskAssignSummary) -> dict[str, Any]:
    """One run's figures: wall time, steps, per-partition times and worker peak RSS."""
    secs = [p["seconds"] for p in summary.partitions] or [0.0]
    return {"seconds": round(summary.seconds, 2), "steps": summary.steps,
            "events": summary.events, "changed": summary.changed,
            "partitions": len(summary.partitions),
            "events_per_partition": [min(p["events"] for p in summary.partitions),
                                     max(p["events"] for p in summary.partitions)],
            "partition_s": {"min": min(secs), "median": statistics.median(secs),
                            "max": max(secs), "sum": round(sum(secs), 2)},
            "worker_peak_rss_mib": round(max(p["peak_rss_mb"] for p in summary.partitions)),
            "loadavg": uptime(), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def timed_run(name: str, args: argparse.Namespace, url: str, targets: Targets
              ) -> dict[str, Any]:
    """One Dask run on a new LocalCluster; prints and returns its figures."""
    with dask_client(args.scheduler, args.workers) as client:
        summary = assign_events_dask(client, url, k=3, cell_deg=args.cell,
                                     target_events=args.target, targets=targets)
    got = figures(summary)
    print(f"{name}: {got}", flush=True)
    return got


def export(engine: Engine, folder: Path, files: int) -> float:
    """The events with their assignment as ``files`` GeoParquet files in id order; seconds."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    with engine.connect() as conn:
        low, high = conn.execute(text("SELECT min(id), max(id) FROM events")).one()
        bounds = np.linspace(low, high + 1, files + 1).astype(int)
        for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
            gpd.read_postgis(text(
                "SELECT * FROM events_with_assignment WHERE id >= :a AND id < :b ORDER BY id"),
                conn, geom_col="geom", params={"a": int(a), "b": int(b)}).to_parquet(
                folder / f"events_{i:03d}.parquet", index=False, compression="zstd")
    return time.perf_counter() - started


def files_differing(folder: Path, reference: Any) -> int:
    """Events whose row in the assignment files differs from ``reference`` (by event id)."""
    frame = pd.read_parquet(folder, columns=["id", *COLUMNS]).set_index("id").sort_index()
    frame.index.name = "event_id"
    return differing(frame, reference)


def stats_check(args: argparse.Namespace, engine: Engine, folder: Path) -> dict[str, Any]:
    """``month_stats`` from the files, timed; its first month against ``unit_stats``."""
    with dask_client(args.scheduler, args.workers) as client:
        started = time.perf_counter()
        rows = month_stats(client, str(folder))
        seconds = time.perf_counter() - started
    first = min(r["month"] for r in rows)
    year, month = (int(v) for v in first.split("-"))
    since = datetime(year, month, 1, tzinfo=UTC) - timedelta(hours=8)
    until = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC) - timedelta(hours=8)
    with transaction(engine) as session:
        started = time.perf_counter()
        expected = unit_stats(session, "grid", since, until)
        sql_seconds = time.perf_counter() - started
    mine = [{f: r[f] for f in FIELDS if f != "name"} for r in rows if r["month"] == first]
    same = mine == [{f: e[f] for f in FIELDS if f != "name"} for e in expected]
    got = {"seconds": round(seconds, 2), "rows": len(rows),
           "months": len({r["month"] for r in rows}), "first_month": first,
           "first_month_equal_to_unit_stats": same,
           "unit_stats_first_month_s": round(sql_seconds, 2), "loadavg": uptime()}
    print(f"statistics from GeoParquet: {got}", flush=True)
    return got


def runs(args: argparse.Namespace) -> None:
    url = city_database_url(args.url, args.database)
    engine = create_engine(url)
    key = f"parquet_{args.database}"
    with engine.connect() as conn:
        events = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
    merged(args.out, key, {"events": events, "workers": args.workers, "target": args.target,
                           "cell": args.cell, "files": args.files})
    print(f"{args.database}: {events:,} events, load {uptime()}", flush=True)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM event_assignments"))
    merged(args.out, key, {"postgis_to_postgis": timed_run("PostGIS -> PostGIS", args, url,
                                                           Targets())})
    reference = stored(engine)
    source, out = args.dir / "events", args.dir / "assignments"
    seconds = export(engine, source, args.files)
    print(f"exported {events:,} events to {args.files} files in {seconds:.1f} s", flush=True)
    shutil.rmtree(out, ignore_errors=True)
    to_files = timed_run("GeoParquet -> GeoParquet", args, url, Targets(
        from_parquet=str(source), to_parquet=str(out), to_database=False))
    to_files["differing_from_postgis_path"] = files_differing(out, reference)
    print(f"  files differing from the PostGIS path: {to_files['differing_from_postgis_path']}")
    merged(args.out, key, {"export_s": round(seconds, 1), "parquet_to_parquet": to_files})
    shutil.rmtree(out, ignore_errors=True)
    shuffled = timed_run("GeoParquet, spatially shuffled -> GeoParquet", args, url, Targets(
        from_parquet=str(source), to_parquet=str(out), to_database=False,
        spatial_shuffle=True))
    shuffled["differing_from_postgis_path"] = files_differing(out, reference)
    print(f"  files differing from the PostGIS path: {shuffled['differing_from_postgis_path']}")
    merged(args.out, key, {"parquet_shuffled_to_parquet": shuffled})
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM event_assignments"))
    to_db = timed_run("GeoParquet -> PostGIS", args, url, Targets(from_parquet=str(source)))
    to_db["differing_from_postgis_path"] = differing(stored(engine), reference)
    print(f"  stored rows differing from the PostGIS path: {to_db['differing_from_postgis_path']}")
    merged(args.out, key, {"parquet_to_postgis": to_db})
    merged(args.out, key, {"stats_from_parquet": stats_check(args, engine, source)})
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--load", action="store_true", help="build and load the city first")
    parser.add_argument("--grids", type=int, default=10_000)
    parser.add_argument("--cameras", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database", default="gridlink_dask_parquet")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster processes")
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address")
    parser.add_argument("--cell", type=float, default=0.02, help="partition cell, degrees")
    parser.add_argument("--target", type=int, default=100_000, help="events per partition")
    parser.add_argument("--files", type=int, default=10, help="GeoParquet files of events")
    parser.add_argument("--url", default=None, help="server URL (default: test cluster)")
    parser.add_argument("--dir", type=Path, default=ROOT / ".gridlink" / "bench" / "parquet",
                        help="folder of the GeoParquet files (a shared path for a cluster)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "dask_results.json")
    args = parser.parse_args()
    if args.load:
        started = time.perf_counter()
        city = generate_city(seed=42, grids=args.grids, cameras=args.cameras,
                             events=args.events)
        load_city(create_engine(scratch_database(args.url, args.database)), city)
        print(f"loaded the city in {time.perf_counter() - started:.0f} s", flush=True)
        return
    runs(args)


if __name__ == "__main__":
    main()
