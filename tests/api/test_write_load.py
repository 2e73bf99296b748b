"""Writes do not starve the hot read (issue #12, the concurrency test).

25 clients (a process of their own) post unique events to a real uvicorn process while two
client threads ask /locate in a loop. No /locate answer may stall (over 2 s), every answer
is a 2xx (no pool exhaustion, no 503), and afterwards no session of the service is left idle
in a transaction. The run is bounded by time (4 s of load). Figures for p50/p99 alone and
under load, at larger sizes, are made by bench/write_load.py (bench/RESULTS.md).
"""

from __future__ import annotations

import multiprocessing
import time

import numpy as np
import psycopg

from tests.api.load import post_events, read_locate
from tests.live_server import Live

WRITERS = 25
LOAD_S = 4.0
STALL_S = 2.0


def test_locate_does_not_stall_while_25_clients_post_events(live: Live) -> None:
    results: multiprocessing.Queue[tuple[list[float], dict[int, int]]] = multiprocessing.Queue()
    writers = multiprocessing.Process(target=post_events,
                                      args=(live, WRITERS, LOAD_S + 1.0, "load", results))
    writers.start()
    time.sleep(0.5)
    locate_s, locate_statuses = read_locate(live, readers=2, seconds=LOAD_S)
    write_s, write_statuses = results.get(timeout=120)
    writers.join(timeout=30)
    p50, p99 = np.percentile(locate_s, [50, 99]) * 1000
    print(f"/locate under {WRITERS} writers: {len(locate_s)} answers, p50 {p50:.1f} ms, "
          f"p99 {p99:.1f} ms, max {locate_s.max() * 1000:.0f} ms; "
          f"{sum(write_statuses.values())} events posted, max {max(write_s):.2f} s")
    assert dict(locate_statuses) == {200: len(locate_s)}
    assert set(write_statuses) == {201}
    assert locate_s.max() < STALL_S
    assert len(locate_s) >= LOAD_S and sum(write_statuses.values()) >= WRITERS
    with psycopg.connect(live.dsn()) as conn:
        stuck = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s"
            " AND state LIKE %s", ("gridlink-%", "idle in transaction%")).fetchone()
    assert stuck == (0,)
