"""Benchmark: /locate latency alone and while clients post events (issue #12).

    .venv/bin/python bench/write_load.py --writers 25 --seconds 10

Makes a scratch database ``gridlink_bench_write`` on the test cluster (or ``--database-url``'s
server) holding the small map city of tests/e2e/city.py, serves it with uvicorn
(``--workers`` processes, default one per core as ``gridlink serve`` does), then measures
``GET /locate`` from ``--readers`` keep-alive clients (threads) for ``--seconds``:

1. **alone**;
2. **under write load**: ``--writers`` concurrent clients (asyncio, in a separate process so
   their CPU is not the readers') post unique events for the same time.

Prints p50/p99/max latency (ms) and requests/s of /locate in both phases, events/s and the
statuses seen. Loopback only; the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np
import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.cluster import test_server_url
from geo.db import libpq_url
from tests.api.load import post_events, read_locate
from tests.live_server import committed_keys, live_database, serving

DB_NAME = "gridlink_bench_write"


def report(name: str, latencies: np.ndarray, seconds: float, statuses: object) -> None:
    p50, p99 = np.percentile(latencies, [50, 99]) * 1000
    print(f"{name:<28} {len(latencies) / seconds:8.1f} req/s  p50 {p50:7.1f} ms  "
          f"p99 {p99:7.1f} ms  max {latencies.max() * 1000:7.0f} ms  {statuses}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=25)
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--database-url", help="server where the scratch database is made")
    args = parser.parse_args()
    port = int(os.environ.get("GRIDLINK_TEST_DB_PORT", "55433"))  # as tests/conftest.py
    server = make_url(args.database_url or test_server_url(port)).set(database="postgres")
    with live_database(server.render_as_string(hide_password=False), DB_NAME) as url:
        with serving(url, committed_keys(url), workers=args.workers) as live:
            read_locate(live, args.readers, 1.0)  # warm up pools and caches
            alone, alone_statuses = read_locate(live, args.readers, args.seconds)
            results: multiprocessing.Queue[tuple[list[float], dict[int, int]]] = (
                multiprocessing.Queue())
            load = multiprocessing.Process(target=post_events, args=(
                live, args.writers, args.seconds + 1.0, "bench", results))
            load.start()
            time.sleep(0.5)
            loaded, loaded_statuses = read_locate(live, args.readers, args.seconds)
            write_s, write_statuses = results.get()
            load.join()
            with psycopg.connect(libpq_url(url)) as conn:
                stored = conn.execute("SELECT count(*) FROM events WHERE client_id LIKE %s",
                                      ("bench-%",)).fetchone()
    print(f"uvicorn workers {args.workers}, /locate readers {args.readers}, "
          f"writers {args.writers}, {args.seconds:g} s per phase")
    report("/locate alone", alone, args.seconds, dict(alone_statuses))
    report(f"/locate, {args.writers} writers", loaded, args.seconds, dict(loaded_statuses))
    report("POST /events (writers)", np.array(write_s), args.seconds + 1.0, write_statuses)
    print(f"events stored {stored[0] if stored else 0} of {sum(write_statuses.values())} "
          "posted")


if __name__ == "__main__":
    main()
