"""Benchmark: building every camera's visibility polygon (geo.video.views) on the demo city.

    .venv/bin/python bench/visibility.py --grids 120            # small: ~300 cameras
    .venv/bin/python bench/visibility.py                        # the demo city: 3,066 cameras

Loads the demo city of the given scale through the importer (data/demo.py) into a scratch
database ``gridlink_bench_visibility`` on the test cluster (or ``--url``), then times
``refresh_views`` for all cameras (one transaction, committed; the import computed them
once already, that time is part of "loaded") and prints the total, the
per-camera compute cost (mean, p50, p99) and how it grows with the number of building
footprints within a camera's reach, plus the stored rows. ``--resolution`` sets the angular
cell width (degrees).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import scratch_database
from data.demo import load_demo
from geo.video.views import refresh_views


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=None, help="default: the demo city")
    parser.add_argument("--events", type=int, default=None,
                        help="default: the demo city's (bench/locate.py samples them)")
    parser.add_argument("--resolution", type=float, default=0.5)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    engine = create_engine(scratch_database(args.url, "gridlink_bench_visibility"))
    scale = ({"grids": args.grids} if args.grids else {}) | (
        {"events": args.events} if args.events is not None else {})
    with TemporaryDirectory() as tmp, Session(engine) as session:
        start = time.perf_counter()
        load_demo(session, directory=Path(tmp) / "demo", **scale)
        session.commit()
        print(f"loaded in {time.perf_counter() - start:.1f} s")
        session.execute(text("DELETE FROM camera_shadows; UPDATE camera_views"
                             " SET valid_to = now() WHERE valid_to IS NULL"))
        summary = refresh_views(session, resolution_deg=args.resolution)
        clock = time.perf_counter()
        session.commit()
        commit_s = time.perf_counter() - clock
        stored = session.execute(text(
            "SELECT count(*) FILTER (WHERE valid_to IS NULL), avg(ST_NPoints(geom)),"
            " (SELECT count(*) FROM camera_shadows) FROM camera_views")).one()
    cost = np.asarray(summary.per_camera_s) * 1000
    near = np.asarray(summary.buildings_near)
    print(f"cameras {summary.cameras}, views {summary.views}, shadows {summary.shadows};"
          f" refresh {summary.seconds:.1f} s + commit {commit_s:.1f} s;"
          f" resolution {args.resolution}°")
    print(f"per camera: mean {cost.mean():.1f} ms, p50 {np.percentile(cost, 50):.1f} ms,"
          f" p99 {np.percentile(cost, 99):.1f} ms; compute total {cost.sum() / 1000:.1f} s")
    print(f"stored: {stored[0]} current views, {stored[1]:.0f} vertices on average,"
          f" {stored[2]} shadows")
    print("buildings in reach | cameras | mean ms")
    for lo, hi in ((0, 1), (1, 5), (5, 20), (20, 50), (50, 100), (100, 10**9)):
        mine = (near >= lo) & (near < hi)
        if mine.any():
            print(f"{lo:>6}-{min(hi, 10**4) - 1:<6} | {int(mine.sum()):>7} |"
                  f" {statistics.fmean(cost[mine]):7.1f}")


if __name__ == "__main__":
    main()
