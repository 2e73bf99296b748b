"""Benchmark: patrol task generation, the per-grid figures and a grid's route on the demo city.

    .venv/bin/python bench/patrols.py                  # 300 grids (~5,400 buildings)
    .venv/bin/python bench/patrols.py --grids 1200     # the default district (~21,700 buildings)

Loads the demo city (data/demo.py, few events) into a scratch database
``gridlink_bench_patrols`` on the test cluster (or ``--url``) and times, in one process:
generating the tasks of a day (first run, then the idempotent second run), the same for the
following day (only the daily tasks are new), ``patrol_stats`` and ``overdue_grids`` for the
district a month later (every task overdue), and ``day_route`` for the grid with the most
due units (medians of ``--runs``). The baseline ratio is the route's tour against a plain
``ORDER BY`` of the same units (what the route costs beyond reading them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import scratch_database
from geo.settings import get_settings

DAY = date(2026, 12, 9)


def timed(fn: Callable[[], Any], runs: int = 1) -> tuple[Any, float]:
    """(last result, median seconds over ``runs``)."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--url", default=None, help="server URL where a database may be made")
    args = parser.parse_args()
    os.environ["GRIDLINK_DATABASE_URL"] = scratch_database(args.url, "gridlink_bench_patrols")
    get_settings.cache_clear()
    from sqlalchemy import text

    from data.demo import load_demo
    from geo import mapdata
    from geo.db import transaction
    from geo.patrols.overdue import overdue_grids, patrol_stats
    from geo.patrols.route import day_route
    from geo.patrols.tasks import generate_tasks

    with transaction() as session:
        counts = load_demo(session, 42, grids=args.grids, events=1000)
    print("loaded:", ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    for label, day in (("first", DAY), ("again", DAY), ("next day", DAY + timedelta(1))):
        with transaction() as session:
            made, s = timed(lambda d=day: generate_tasks(session, d))  # type: ignore[misc]
        print(f"generate {label:8s} {s * 1000:8.1f} ms  created {made.created:,} "
              f"existed {made.existed:,} outside {made.outside:,}")
    later = DAY + timedelta(40)
    with transaction() as session:
        district = mapdata.default_area(session)
        rows, s = timed(lambda: patrol_stats(session, later, district), args.runs)
        print(f"stats {len(rows):,} grids {s * 1000:.1f} ms (median of {args.runs})")
        grids, s = timed(lambda: overdue_grids(session, later), args.runs)
        print(f"overdue_grids {len(grids):,} grids {s * 1000:.1f} ms")
        busiest = session.execute(text(
            "SELECT grid_code FROM patrol_tasks GROUP BY grid_code ORDER BY count(*) DESC, "
            "grid_code LIMIT 1")).scalar_one()
        route, s = timed(lambda: day_route(session, busiest, DAY), args.runs)
        _, base = timed(lambda: session.execute(text(
            "SELECT unit_code FROM patrol_tasks WHERE grid_code = :g ORDER BY unit_code"),
            {"g": busiest}).all(), args.runs)
        print(f"route of {busiest}: {len(route.stops)} stops, {route.length_m:,.0f} m, "
              f"{s * 1000:.1f} ms (plain read {base * 1000:.1f} ms, ratio {s / base:.0f}x)")


if __name__ == "__main__":
    main()
