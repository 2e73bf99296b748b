"""Daily event counts per area × grid × category × status: the one source of the case figures
shown by ``/dashboard`` and answered by ``/stats/daily``.

The table ``event_daily_counts`` (migration 0007) is maintained **on write** by row triggers
on ``events`` and ``event_assignments``: every insert, status/category change, re-assignment
or delete moves one count inside the writing transaction, so the rollups equal a direct count
of ``events_with_assignment`` at every commit (tests/geo/test_rollups.py), except on the days
a first bulk assignment left pending refresh (geo.rollup_refresh, until the command that ran
it refreshes them): readers therefore read :func:`daily_source` (and its monthly and
per-area forms), which count those days from the events. Days are China
Standard Time (UTC+8) calendar days of ``reported_at`` (SQL ``gridlink_local_day``).
Events with no assignment count only for the whole city (``area=None``). Each key also counts
its valid, due (against the end of the report day) and closed-on-time events (migration 0017),
read by :func:`geo.stats.unit_daily_rates` for the dashboard's daily rates. Events merged into
a case as duplicates (status ``duplicate``, geo.duplicates) are kept in the table but never
counted by :func:`daily_counts` nor :func:`geo.stats.unit_daily_rates`: the case counts once,
as in ``/stats`` (geo.stats).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.codes import prefix_pattern
from geo.errors import ValidationFailed
from geo.rollup_rebuild import AREA, DAILY, DERIVED_SQL, MONTHLY

LOCAL_TZ = timezone(timedelta(hours=8), "CST")
"""China Standard Time: the day boundary of the rollups (no daylight saving)."""

GROUP_COLUMNS = ("day", "district_code", "street_code", "community_code", "grid_code",
                 "category", "status")
"""What the counts may be grouped by (validated against this list before use in SQL)."""

AREA_CLAUSE = ("grid_code LIKE :prefix AND :area IN (district_code, street_code,"
               " community_code, grid_code)")

STORED_COUNTS = ("events", "valid", "due", "closed_on_time", "closed_postponed",
                 "closed_first_time")
"""The counts each key of ``event_daily_counts`` holds (migrations 0007, 0017, 0027)."""

RECOUNT_SQL = """
SELECT gridlink_local_day(e.reported_at) AS day, a.district_code, a.street_code,
       a.community_code, a.grid_code, e.category, e.status, count(*)::int AS events,
       sum(gridlink_valid_flag(e.valid))::int AS valid,
       sum(gridlink_day_due(e.reported_at, e.due_at, e.valid, e.status))::int AS due,
       sum(gridlink_on_time(e.due_at, e.closed_at, e.valid, e.status))::int AS closed_on_time,
       sum(gridlink_closed_postponed(e.postponements, e.valid, e.status))::int
           AS closed_postponed,
       sum(gridlink_closed_first_time(e.first_time, e.reworks, e.valid, e.status))::int
           AS closed_first_time
  FROM events e LEFT JOIN event_assignments a ON a.event_id = e.id
  {where}
 GROUP BY 1, 2, 3, 4, 5, 6, 7"""
"""The daily rollups counted afresh from the events, in the columns of ``GROUP_COLUMNS`` +
:data:`STORED_COUNTS` (``{where}``: a constant join/filter or empty). Joined on the event id
alone, so a stale ``reported_at`` in ``event_assignments`` cannot hide an assignment. What
tests and benchmarks compare the stored rollups with."""

STORED_SQL = (f"SELECT {', '.join(GROUP_COLUMNS + STORED_COUNTS)} FROM event_daily_counts"  # noqa: S608
              f" WHERE {' OR '.join(c + ' <> 0' for c in STORED_COUNTS)}")
"""The stored daily rollups with any non-zero count, in :data:`RECOUNT_SQL`'s columns."""

PENDING_DAYS = "ARRAY(SELECT day FROM rollup_pending_days)"
PENDING_MONTHS = ("ARRAY(SELECT DISTINCT date_trunc('month', day)::date"
                  " FROM rollup_pending_days)")
ANY_PENDING = "(SELECT EXISTS (SELECT FROM rollup_refresh WHERE done_at IS NULL))"
"""Constant SQL over ``rollup_refresh`` (migration 0033): the local days (and their months)
whose rollups a bulk write left to refresh (geo.rollup_refresh), and whether there are any.
The branches below that count from the events are filtered by :data:`ANY_PENDING` at their
outermost level: PostgreSQL does not push a sub-select into a subquery, so it becomes a
one-time filter above the branch, evaluated once, and with nothing pending the branch is
never executed (no scan, no parallel workers started: an area's 30-day trend took 40-80 ms
with the filter inside the recount, where the workers started, 10 ms before, at 10^6)."""


def day_start(day: str) -> str:
    """SQL of the instant (``timestamptz``) local day ``day`` (SQL of a ``date``) begins: the
    inverse of ``gridlink_local_day`` (migration 0007), in the same zone."""
    return f"(CAST({day} AS timestamp) AT TIME ZONE 'Asia/Shanghai')"


ASSIGNED_IN_AREA = ("a.grid_code LIKE :prefix AND :area IN (a.district_code, a.street_code,"
                    " a.community_code, a.grid_code)")
"""A reader's ``assigned``: the events assigned inside area ``:area`` (``:prefix``: its
codes' LIKE pattern, geo.codes.prefix_pattern), through ``ix_event_assignments_grid_code``."""


def _pending_recount(first: str | None, last: str | None, assigned: str | None) -> str:
    """The daily rollups of the pending days from ``first`` to ``last`` (SQL of ``date``
    values, both included; None: unbounded) counted from the events (:data:`RECOUNT_SQL`),
    only those whose assignment ``a`` meets ``assigned`` (constant SQL) if given.

    The period bounds ``reported_at`` (local midnights, bound values in the plan), so
    PostgreSQL prunes the partitions outside it, estimates the rows from the column's
    statistics and reads an area's events through ``ix_event_assignments_grid_code``; the
    pending days are then picked from the counted days (through a ``CASE``, not estimated
    like ``day = ANY(...)`` over an array the planner cannot see: a small share of the
    rows; no gain measurable at load 3-5). ``OFFSET 0`` keeps the
    reader's own filters out of the recount: pushed in, its ``day BETWEEN`` became a filter
    on the computed local day, estimated at 0.5 % of the rows, so a street's 30 days were
    joined in nested loops over every event of the city (0.9-1.2 s instead of ~0.1 s).
    Joining each pending day to its ``reported_at`` range instead pruned more precisely but
    was estimated at one day of a few rows: a street's 30 days 1.0-1.7 s (bench/RESULTS.md,
    issue #18)."""
    where = [assigned] if assigned else []
    if first:
        where.append(f"e.reported_at >= {day_start(first)}")
    if last:
        where.append(f"e.reported_at < {day_start(f'CAST({last} AS date) + 1')}")
    recount = RECOUNT_SQL.format(where=f"WHERE {' AND '.join(where)}" if where else "")
    return (f"SELECT * FROM ({recount} OFFSET 0) r"  # noqa: S608
            f" WHERE CASE WHEN day = ANY({PENDING_DAYS}) THEN true ELSE false END"
            f" AND {ANY_PENDING}")


_DAILY_COLUMNS = ", ".join(GROUP_COLUMNS + STORED_COUNTS)


def daily_source(first: str | None = None, last: str | None = None, *,
                 assigned: str | None = None) -> str:
    """What a reader of the days ``first`` to ``last`` (SQL of ``date`` values, e.g. its
    bound parameters ``:first``, ``:last``; both included; None: unbounded) reads instead of
    ``event_daily_counts`` (same columns; add an alias): the stored rows, except on the days
    pending refresh, which are counted from the events (only those of the reader's period).
    The reader still filters its period itself (the same bounds: the plan is unchanged). In
    one statement, so one snapshot: a bulk write committing its assignments and its pending
    days together is seen whole or not at all. With nothing pending it reads the stored
    rows only. ``assigned``: what the reader reads of the assignments (constant SQL over
    ``a``, e.g. :data:`ASSIGNED_IN_AREA`; the reader filters its rows itself too): only
    those events are recounted."""
    period = "".join([f" AND day >= CAST({first} AS date)" if first else "",
                      f" AND day <= CAST({last} AS date)" if last else ""])
    return (f"(SELECT {_DAILY_COLUMNS} FROM {DAILY} WHERE day <> ALL({PENDING_DAYS})"  # noqa: S608
            f"{period} UNION ALL {_pending_recount(first, last, assigned)})")


def monthly_source(first_month: str | None = None, end_month: str | None = None, *,
                   assigned: str | None = None) -> str:
    """What a reader of the months from ``first_month`` to before ``end_month`` (SQL of the
    first ``date`` of a month; None: unbounded) reads instead of ``event_monthly_counts``:
    the stored rows, and the months holding a pending day summed from
    :func:`daily_source` (of those months only; ``assigned`` as there) as migration 0027's
    triggers sum them."""
    last = f"CAST({end_month} AS date) - 1" if end_month else None
    daily = daily_source(first_month, last, assigned=assigned)
    pending_months_daily = (f"(SELECT * FROM {daily} d"  # noqa: S608
                            f" WHERE date_trunc('month', d.day)::date = ANY({PENDING_MONTHS}))")
    columns, select = DERIVED_SQL[MONTHLY]
    return (f"(SELECT {columns} FROM {MONTHLY} WHERE month <> ALL({PENDING_MONTHS})"  # noqa: S608
            f" UNION ALL SELECT * FROM ({select.format(daily=pending_months_daily)})"
            f" m({columns}) WHERE {ANY_PENDING})")


def area_source(first: str | None = None, last: str | None = None, *,
                assigned: str | None = None) -> str:
    """What a reader of the days ``first`` to ``last`` (``assigned`` as
    :func:`daily_source`) reads instead of ``event_area_daily_counts``: the stored rows, and
    the pending days of the period summed from their recount as migration 0027's triggers
    sum them."""
    columns, select = DERIVED_SQL[AREA]
    recount = f"({_pending_recount(first, last, assigned)})"
    return (f"(SELECT {columns} FROM {AREA} WHERE day <> ALL({PENDING_DAYS})"  # noqa: S608
            f" UNION ALL SELECT * FROM ({select.format(daily=recount)})"
            f" a({columns}) WHERE {ANY_PENDING})")


def local_day(at: datetime) -> date:
    """The China Standard Time calendar day of ``at`` (a timezone-aware instant)."""
    return at.astimezone(LOCAL_TZ).date()


def today() -> date:
    """Today in China Standard Time."""
    return local_day(datetime.now(UTC))


def daily_counts(session: Session, area: str | None, first_day: date, last_day: date,
                 by: Sequence[str], category: str | None = None) -> list[dict[str, Any]]:
    """Events reported from ``first_day`` to ``last_day`` (both included, CST days) in
    ``area`` (any admin area or grid code; None: the whole city), counted per ``by``;
    merged duplicates are left out (their case counts once).

    Parameters
    ----------
    by : columns of :data:`GROUP_COLUMNS`, e.g. ``("day", "category")``; empty: one total.
    category : only events of this category (None: all).

    Returns
    -------
    One dict per group with the ``by`` columns and ``events`` (> 0), ordered by ``by``.

    Raises
    ------
    ValidationFailed
        For an unknown ``by`` column or ``last_day`` before ``first_day``.
    """
    unknown = [c for c in by if c not in GROUP_COLUMNS]
    if unknown:
        raise ValidationFailed(f"cannot group by {', '.join(unknown)}",
                               [{"field": "by", "value": c, "allowed": list(GROUP_COLUMNS)}
                                for c in unknown])
    if last_day < first_day:
        raise ValidationFailed("the period is empty: until is before since",
                               [{"field": "since", "value": first_day.isoformat()},
                                {"field": "until", "value": last_day.isoformat()}])
    cols = ", ".join(by)
    where = ("day BETWEEN :first AND :last AND status <> 'duplicate'"
             + (f" AND {AREA_CLAUSE}" if area else "")
             + (" AND category = :category" if category is not None else ""))
    source = daily_source(":first", ":last", assigned=ASSIGNED_IN_AREA if area else None)
    sql = (f"SELECT {cols + ', ' if cols else ''}sum(events)::int AS events"  # noqa: S608
           f" FROM {source} c WHERE {where}"
           + (f" GROUP BY {cols} HAVING sum(events) > 0 ORDER BY {cols}" if cols
              else " HAVING sum(events) > 0"))
    params: dict[str, Any] = {"first": first_day, "last": last_day, "category": category}
    if area:
        params.update(area=area, prefix=prefix_pattern(area))
    return [dict(r) for r in session.execute(text(sql), params).mappings().all()]


RATE_COUNTS = ("valid", "handled", "due", "closed_on_time")
"""The rate counts of a rollup key (migration 0017): valid events, handled (valid, resolved or
closed), due against the end of the report day, closed on time."""

_TREND_SQL = """
WITH keys AS (
  SELECT day, category, {unit} AS unit, sum(events) AS events, sum(valid) AS valid,
         sum(valid) FILTER (WHERE status IN ('resolved', 'closed')) AS handled,
         sum(due) AS due, sum(closed_on_time) AS closed_on_time
    FROM {daily} c
   WHERE day BETWEEN :first AND :last AND status <> 'duplicate' AND """ + AREA_CLAUSE + """
   GROUP BY day, category, {unit})
SELECT GROUPING(day, category, unit) AS grouping, day, category, unit,
       sum(events)::int AS events, sum(valid)::int AS valid,
       coalesce(sum(handled), 0)::int AS handled, sum(due)::int AS due,
       sum(closed_on_time)::int AS closed_on_time
  FROM keys GROUP BY GROUPING SETS ((day, category), (unit), (day))
HAVING sum(events) > 0
 ORDER BY 1, 2, 3, 4
"""  # noqa: S608 (constant SQL; {unit} checked against GROUP_COLUMNS)
"""Three groupings of one read of the rollups (first summed per day × category × unit, then
rolled up); ``GROUPING`` tells them apart: 1 = (day, category), 6 = (unit), 3 = (day)."""


def trend_counts(session: Session, area: str, first_day: date, last_day: date,
                 unit_column: str) -> dict[str, list[dict[str, Any]]]:
    """In one pass over the rollups of ``area`` from ``first_day`` to ``last_day`` (CST days,
    both included), what three :func:`daily_counts` calls would answer: ``by_day_category``
    (rows of day, category, events), ``by_unit`` (``unit_column``, events) and ``by_day``
    (day, events and the :data:`RATE_COUNTS`). Groups with no event are left out, as in
    :func:`daily_counts`. Raises ValidationFailed for a ``unit_column`` not in
    :data:`GROUP_COLUMNS`."""
    if unit_column not in GROUP_COLUMNS:
        raise ValidationFailed(f"cannot group by {unit_column}",
                               [{"field": "by", "value": unit_column,
                                 "allowed": list(GROUP_COLUMNS)}])
    sql = _TREND_SQL.format(unit=unit_column,
                            daily=daily_source(":first", ":last", assigned=ASSIGNED_IN_AREA))
    rows = session.execute(text(sql), {
        "first": first_day, "last": last_day, "area": area,
        "prefix": prefix_pattern(area)}).mappings().all()
    by_grouping: dict[int, list[dict[str, Any]]] = {1: [], 6: [], 3: []}
    for r in rows:
        by_grouping[r["grouping"]].append(dict(r))
    return {
        "by_day_category": [{"day": r["day"], "category": r["category"], "events": r["events"]}
                            for r in by_grouping[1]],
        "by_unit": [{unit_column: r["unit"], "events": r["events"]} for r in by_grouping[6]],
        "by_day": [{"day": r["day"], "events": r["events"], **{c: r[c] for c in RATE_COUNTS}}
                   for r in by_grouping[3]],
    }


def counts_csv(rows: Sequence[dict[str, Any]], by: Sequence[str]) -> str:
    """``rows`` of :func:`daily_counts` as CSV text (header: the ``by`` columns, events)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*by, "events"], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()
