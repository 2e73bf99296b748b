"""Benchmark: every reader of the rollups with nothing pending and with every day pending
refresh (geo.rollup_refresh), on the 10^6 city of bench/assign.py.

    .venv/bin/python bench/assign.py --rounds 0          # build the city (minutes)
    .venv/bin/python bench/rollup_readers.py             # assigned, refreshed, then timed

Each reader is run once to warm the caches, then timed ``--repeat`` times (the best and the
median shown, ms), first with nothing pending, then inside a transaction that marks every
local day of the events pending (a row of ``rollup_refresh``) and is rolled back: the stored
rollups are up to date, so every answer with every day pending must equal the answer with
nothing pending (checked; a difference is printed and makes the exit status 1).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.assign_city import DATABASE
from bench.common import city_database_url
from geo.area_rollups import area_trend_counts
from geo.grid_counts import stored_grid_counts
from geo.month_stats import month_unit_stats, period_unit_stats
from geo.rollup_refresh import pending_refreshes, refresh_rollups
from geo.rollups import LOCAL_TZ, daily_counts, trend_counts
from geo.stats import unit_daily_rates

Reader = Callable[[Session], Any]


def readers(session: Session) -> dict[str, Reader]:
    """The readers of the table in bench/RESULTS.md: 30 days and "this month" up to the
    city's last local day (its month partly), whole months before it."""
    last = session.execute(text(
        "SELECT gridlink_local_day(max(reported_at)) FROM events")).scalar_one()
    district, street = session.execute(text(
        "SELECT district_code, street_code FROM event_assignments"
        " WHERE street_code IS NOT NULL ORDER BY event_id LIMIT 1")).one()
    grids = list(session.execute(text(
        "SELECT code FROM grids WHERE valid_to IS NULL ORDER BY code LIMIT 1000")).scalars())
    month = _months_before(last.replace(day=1), 1)  # the last whole month
    now = datetime.combine(last, datetime.min.time(), LOCAL_TZ) + timedelta(hours=12)
    since = datetime.combine(_months_before(month, 2), datetime.min.time(), LOCAL_TZ)
    until = datetime.combine(last.replace(day=1), datetime.min.time(), LOCAL_TZ)
    first = last - timedelta(days=29)
    month_end = last.replace(day=1) - timedelta(days=1)
    return {
        "daily_counts of a whole month by day (/stats/daily)":
            lambda s: daily_counts(s, None, month, month_end, ("day",)),
        "trend_counts, a district's 30 days (dashboard)":
            lambda s: trend_counts(s, district, first, last, "street_code"),
        "area_trend_counts, a district's 30 days (dashboard)":
            lambda s: area_trend_counts(s, district, "district", first, last),
        "area_trend_counts, a street's 30 days":
            lambda s: area_trend_counts(s, street, "street", first, last),
        "unit_daily_rates, a street's 30 days (dashboard)":
            lambda s: unit_daily_rates(s, "street", street, first, last),
        "month_unit_stats, grids of a district (/stats this month)":
            lambda s: month_unit_stats(s, "grid", district, now),
        "period_unit_stats, streets over 3 whole months (/stats)":
            lambda s: period_unit_stats(s, "street", since, until),
        "stored_grid_counts of 1,000 grids (/stats?level=grid)":
            lambda s: stored_grid_counts(s, grids),
    }


def _months_before(month: date, n: int) -> date:
    total = month.year * 12 + month.month - 1 - n
    return date(total // 12, total % 12 + 1, 1)


def timed(session: Session, reader: Reader, repeat: int) -> tuple[Any, list[float]]:
    """The reader's answer and its times (ms) after one warm-up run."""
    answer = reader(session)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        reader(session)
        times.append((time.perf_counter() - start) * 1000)
    return answer, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=None, help="server URL (default: test cluster)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    engine = create_engine(city_database_url(args.url, DATABASE))
    with Session(engine) as session, session.begin():
        if pending_refreshes(session):
            refresh_rollups(session)
    results: dict[str, dict[bool, tuple[Any, list[float]]]] = {}
    for pending in (False, True):
        with Session(engine) as session, session.begin():
            if pending:
                session.execute(text(
                    "INSERT INTO rollup_refresh (job, days) SELECT 'bench', array_agg(DISTINCT"
                    " gridlink_local_day(reported_at)) FROM events"))
            for name, reader in readers(session).items():
                answer, times = timed(session, reader, args.repeat)
                results.setdefault(name, {})[pending] = (answer, times)
                print(f"{'pending' if pending else 'nothing pending'}: {name}:"
                      f" best {min(times):,.0f} ms, median {statistics.median(times):,.0f} ms;"
                      f" load {os.getloadavg()[0]:.1f}", flush=True)
            session.rollback()
    print(f"\n| reader (10^6 events, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC) | nothing pending"
          " ms | every day pending ms | equal |\n|---|---:|---:|---|")
    differing = 0
    for name, by in results.items():
        equal = by[False][0] == by[True][0]
        differing += not equal
        print(f"| {name} | {min(by[False][1]):,.0f} | {min(by[True][1]):,.0f} |"
              f" {'yes' if equal else 'NO'} |")
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
