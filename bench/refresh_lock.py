"""Benchmark: how long API-like writers wait on the rollup refresh's lock (geo.rollup_refresh),
on the 10^6 city of bench/assign.py.

    .venv/bin/python bench/rollup_readers.py      # or bench/assign.py: the city assigned
    .venv/bin/python bench/refresh_lock.py

Every local day of the events is marked pending (committed, as a first assignment leaves
it), then :func:`geo.rollup_refresh.refresh_rollups` runs while a writer thread reports one
event every ``--every`` seconds, each in its own transaction with the API's
``lock_timeout`` (geo.settings ``db_lock_timeout_ms``): printed, the refresh's length, how
long each report waited and how many were refused (the API's 409). The reported events are
deleted afterwards and the stored rollups compared with a recount (0 rows may differ).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.assign_city import DATABASE
from bench.common import city_database_url
from geo import rollup_refresh
from geo.rollup_refresh import refresh_rollups
from geo.rollups import RECOUNT_SQL, STORED_SQL
from geo.settings import get_settings

REPORT = """
INSERT INTO events (client_id, category, reported_at, status, priority, geom, handling_level,
                    postponements, reworks, valid, due_at)
SELECT 'lock-bench-' || :n, 'garbage', now(), 'reported', 'normal', geom, 'grid', 0, 0, true,
       now() + interval '1 day' FROM events ORDER BY id LIMIT 1
"""
"""One report (the insert's rollup trigger is what waits on the refresh's lock)."""


def writer(engine_url: str, every: float, stop: threading.Event,
           waits: list[tuple[float, bool]]) -> None:
    """Report an event every ``every`` s until ``stop``; (seconds, refused) of each."""
    engine = create_engine(engine_url, connect_args={
        "options": f"-c lock_timeout={get_settings().db_lock_timeout_ms}"})
    n = 0
    while not stop.is_set():
        n += 1
        start = time.perf_counter()
        try:
            with Session(engine) as session, session.begin():
                session.execute(text(REPORT), {"n": n})
            waits.append((time.perf_counter() - start, False))
        except OperationalError:
            waits.append((time.perf_counter() - start, True))
        time.sleep(every)
    engine.dispose()


def _timed_lock() -> list[float]:
    """The instant the refresh locks the writers out (filled when it does)."""
    locked: list[float] = []
    moves = getattr(rollup_refresh, "_writers_moves", None)
    if moves is None:  # the code before the change: locked for the whole refresh
        return locked

    def timed_moves(session: Session, xmin: int) -> None:
        locked.append(time.perf_counter())
        moves(session, xmin)

    rollup_refresh._writers_moves = timed_moves  # type: ignore[assignment]
    return locked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=None, help="server URL (default: test cluster)")
    parser.add_argument("--every", type=float, default=0.2, help="seconds between reports")
    args = parser.parse_args()
    url = city_database_url(args.url, DATABASE)
    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        session.execute(text(
            "INSERT INTO rollup_refresh (job, days) SELECT 'bench', array_agg(DISTINCT"
            " gridlink_local_day(reported_at)) FROM events"))
    waits: list[tuple[float, bool]] = []
    stop = threading.Event()
    thread = threading.Thread(target=writer, args=(url, args.every, stop, waits))
    locked = _timed_lock()
    thread.start()
    try:
        time.sleep(2)
        before = len(waits)
        with Session(engine) as session, session.begin():
            summary = refresh_rollups(session)
        lock_s = time.perf_counter() - locked[0] if locked else summary.seconds
        during = len(waits) - before
        time.sleep(2)
    finally:
        stop.set()
        thread.join()
    refused = sum(1 for _, r in waits if r)
    worst = max(s for s, _ in waits)
    print(f"refresh {summary.seconds:.1f} s ({summary.days} days), writers locked out for the"
          f" last {lock_s:.2f} s of it; {len(waits)} reports"
          f" ({during} ended during the refresh): {refused} refused (409), longest wait"
          f" {worst:.2f} s, waits over 0.5 s: {sum(1 for s, _ in waits if s > 0.5)};"
          f" load {os.getloadavg()[0]:.1f}")
    with Session(engine) as session, session.begin():
        session.execute(text("DELETE FROM events WHERE client_id LIKE 'lock-bench-%'"))
    with Session(engine) as session:
        stored = set(session.execute(text(STORED_SQL)).all())
        recount = set(session.execute(text(RECOUNT_SQL.format(where=""))).all())
    print(f"stored rollups differing from a recount: {len(stored ^ recount)} rows")
    sys.exit(1 if stored ^ recount else 0)


if __name__ == "__main__":
    main()
