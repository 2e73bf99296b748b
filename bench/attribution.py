"""Benchmark: statistics per grid by each attribution, and what lineage adds to a publish.

    .venv/bin/python bench/attribution.py                        # 300 grids, 20,000 events
    .venv/bin/python bench/attribution.py --grids 1200 --events 200000

Loads the demo city (six months of events, through the importer) into a scratch database
``gridlink_bench_attribution`` on the test cluster (or ``--url``); then splits the grid with
the most events in two (balanced by households) and publishes it. Prints, as medians of
``--runs``: ``geo.stats.unit_stats(level="grid")`` over the six months with
``attribution`` = assigned (the stored grid: the default), current (point in today's grids)
and historical (point in the version valid at the report), and the sums of each; then the
publish time and the part of it spent recording lineage (``record_lineage`` run again on the
same change: the same queries, nothing left to insert).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import scratch_database
from bench.maps import load_city
from cli.cluster import test_server_url
from geo.settings import get_settings

DATABASE = "gridlink_bench_attribution"


def assign_all() -> float:
    """Assign every event (as ``gridlink up`` does after loading); seconds."""
    from geo.assign import assign_events
    from geo.db import transaction

    start = time.perf_counter()
    with transaction() as session:
        assign_events(session, "all")
    return time.perf_counter() - start


def split_busiest_grid() -> tuple[float, float, int]:
    """Split the grid with most events; (publish s, lineage s, links written)."""
    from sqlalchemy import text

    from geo.db import transaction
    from geo.planning.changesets import open_changeset, publish
    from geo.planning.lineage import record_lineage
    from geo.planning.units import split_balanced

    with transaction() as session:
        grid = session.scalar(text(
            "SELECT grid_code FROM event_assignments WHERE grid_code IS NOT NULL"
            " GROUP BY grid_code ORDER BY count(*) DESC, grid_code LIMIT 1"))
        cs = open_changeset(session, grid[:12], "bench: split the busiest grid", "bench").id
        split_balanced(session, cs, "bench", grid, 2)
        start = time.perf_counter()
        result = publish(session, cs, "bench")
        publish_s = time.perf_counter() - start
    with transaction() as session:
        start = time.perf_counter()
        links = record_lineage(session, result.published_at, cs, "again")
        lineage_s = time.perf_counter() - start
    return publish_s, lineage_s, links


def stats_row(attribution: str, runs: int) -> str:
    from sqlalchemy import text

    from geo.db import transaction
    from geo.stats import unit_stats

    times, rows = [], []
    with transaction() as session:
        until = session.scalar(text("SELECT max(reported_at) FROM events")) + timedelta(days=1)
        since = until - timedelta(days=190)
        for _ in range(runs):
            start = time.perf_counter()
            rows = unit_stats(session, "grid", since, until, attribution=attribution)
            times.append(time.perf_counter() - start)
    total = sum(r["accepted"] for r in rows)
    return (f"{attribution:>10}: {statistics.median(times):6.3f} s (median of {runs}), "
            f"{len(rows)} grids, {total:,} events")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=300)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--url", default=None, help="server URL where a database may be made")
    parser.add_argument("--reuse", action="store_true",
                        help="use the city of an earlier run (with the splits it published)")
    args = parser.parse_args()
    if args.reuse:
        server = args.url or test_server_url(int(os.environ.get("GRIDLINK_TEST_DB_PORT",
                                                                "55433")))
        os.environ["GRIDLINK_DATABASE_URL"] = server.rsplit("/", 1)[0] + "/" + DATABASE
    else:
        os.environ["GRIDLINK_DATABASE_URL"] = scratch_database(args.url, DATABASE)
    get_settings.cache_clear()
    if not args.reuse:
        _, load_s = load_city(args.grids, args.events)
        print(f"demo city loaded in {load_s:.1f} s", flush=True)
    print(f"events assigned in {assign_all():.1f} s", flush=True)
    publish_s, lineage_s, links = split_busiest_grid()
    print(f"split published in {publish_s:.3f} s, of which lineage {lineage_s:.3f} s "
          f"({links} links)")
    for attribution in ("assigned", "current", "historical"):
        print(stats_row(attribution, args.runs), flush=True)
    print(f"load average during the run (1/5/15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main()
