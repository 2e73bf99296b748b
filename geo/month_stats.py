"""The ``/stats`` rows of a month so far, and of any period holding whole months
(:func:`period_unit_stats`, what ``GET /stats`` answers), from the monthly rollups (0027).

``unit_stats(level, since=<first instant of the CST month of now>, until=now)`` reads every
event of the month with its assignment. :func:`month_unit_stats` answers the same rows, to
the unit, from three reads:

1. ``event_monthly_counts`` of the month (kept on write from the daily rollups): per unit,
   the counts that depend on the event's own columns only - accepted, valid, handled, and
   the closed cases (closed, closed on time, postponed, first time): a closed valid case is
   due in any period (``due`` = valid and (``due_at`` before the end, or closed));
2. minus the same counts of the month's events reported at or after ``now`` (none when
   ``now`` is the present; the rest of the month for a past instant);
3. plus, from the events, the cases of ``[month start, now)`` that are due only because of
   the period's end: valid, not closed, ``due_at`` before ``now`` (and which of them were
   postponed). This is the instant-based part: it is read at each call, so it is exact for
   any ``now``.

Then ``due = closed + (3)``, ``postponed = closed_postponed + (3, postponed)``, and the
rates and score are those of :func:`geo.stats.with_rates`. Reads 2 and 3 go through the
month's partition of ``events`` only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.codes import prefix_pattern
from geo.errors import ValidationFailed
from geo.event_partitions import add_months
from geo.rollups import ASSIGNED_IN_AREA, LOCAL_TZ, local_day, monthly_source
from geo.settings import Settings, get_settings
from geo.stats import ROLLUP_LEVELS, UNIT_COLUMNS, UNIT_NAME, unit_stats, with_rates

_STATE_COUNTS = """count(*) AS events, count(*) FILTER (WHERE e.valid) AS valid,
  count(*) FILTER (WHERE e.valid AND e.status IN ('resolved', 'closed')) AS handled,
  count(*) FILTER (WHERE e.valid AND e.status = 'closed') AS closed,
  count(*) FILTER (WHERE e.valid AND e.status = 'closed' AND e.closed_at <= e.due_at)
      AS closed_on_time,
  count(*) FILTER (WHERE e.valid AND e.status = 'closed' AND e.postponements > 0)
      AS closed_postponed,
  count(*) FILTER (WHERE e.valid AND e.status = 'closed'
                   AND coalesce(e.first_time, e.reworks = 0)) AS closed_first_time"""
"""The monthly rollups' counts (migration 0027) over rows ``e`` of events_with_assignment."""

_IN_AREA = ("e.grid_code LIKE :prefix AND :area IN (e.district_code, e.street_code,"
            " e.community_code, e.grid_code)")

_UNIT_ROWS = """
SELECT s.*, coalesce(a.name, g.name) AS name FROM (
  SELECT unit, sum(events)::int AS accepted, sum(valid)::int AS valid,
         sum(handled)::int AS handled, (sum(closed) + sum(open_due))::int AS due,
         sum(closed)::int AS closed, sum(closed_on_time)::int AS closed_on_time,
         (sum(closed_postponed) + sum(open_postponed))::int AS postponed,
         sum(closed_first_time)::int AS first_time
    FROM parts WHERE unit IS NOT NULL GROUP BY unit HAVING sum(events) > 0) s""" + UNIT_NAME + """
ORDER BY s.unit
"""  # noqa: S608 (constant SQL fragments)
"""The /stats rows from ``parts`` (per unit: the state counts, and the open cases due by the
clock ``open_due``, ``open_postponed``): due = closed + open due (a closed case is due in
any period), postponed = closed postponed + open postponed."""

_ARCHIVED_OPEN = """
  UNION ALL
  SELECT e.{col}, 0, 0, 0, 0, 0, 0, 0, count(*), count(*) FILTER (WHERE e.postponements > 0)
    FROM archived_open_cases e
   WHERE e.reported_at >= :since AND e.reported_at < :until AND e.due_at < :until
   GROUP BY 1"""
"""The cases of archived months still open when archived (geo.event_archive) due by the
clock, counted like the open cases of the events (they left ``events``, not the period).
Only periods of whole months read them: the month of ``now`` is never archived."""

_MONTH_SQL = """
WITH parts AS (
  SELECT e.{col} AS unit, events, valid, handled, closed, closed_on_time, closed_postponed,
         closed_first_time, 0 AS open_due, 0 AS open_postponed
    FROM """ + monthly_source(":month", ":month_after", assigned=ASSIGNED_IN_AREA) + """ e
   WHERE month = :month AND """ + _IN_AREA + """
  UNION ALL
  SELECT unit, -events, -valid, -handled, -closed, -closed_on_time, -closed_postponed,
         -closed_first_time, 0, 0
    FROM (SELECT e.{col} AS unit, """ + _STATE_COUNTS + """
            FROM events_with_assignment e
           WHERE e.reported_at >= :now AND e.reported_at < :month_end
             AND e.status <> 'duplicate' AND """ + _IN_AREA + """ GROUP BY 1) later
  UNION ALL
  SELECT e.{col}, 0, 0, 0, 0, 0, 0, 0, count(*), count(*) FILTER (WHERE e.postponements > 0)
    FROM events_with_assignment e
   WHERE e.reported_at >= :month_start AND e.reported_at < :now AND e.valid
     AND e.status NOT IN ('closed', 'duplicate') AND e.due_at < :now AND """ + _IN_AREA + """
   GROUP BY 1)
""" + _UNIT_ROWS  # noqa: S608 (constant SQL fragments; {col} from UNIT_COLUMNS)
"""Per unit: the month's rollups, minus the events after ``now``, plus the cases due by the
clock; the columns of ``geo.stats._STATS_SQL``."""


def month_start(now: datetime) -> datetime:
    """The instant the China Standard Time month of ``now`` began."""
    return datetime.combine(local_day(now).replace(day=1), datetime.min.time(), LOCAL_TZ)


def next_month_start(now: datetime) -> datetime:
    """The instant the China Standard Time month after that of ``now`` begins."""
    first = add_months(local_day(now).replace(day=1), 1)
    return datetime.combine(first, datetime.min.time(), LOCAL_TZ)


def month_unit_stats(session: Session, level: str, area: str, now: datetime, *,
                     settings: Settings | None = None) -> list[dict[str, Any]]:
    """The rows of :func:`geo.stats.unit_stats` at ``level`` from the first instant of the
    China Standard Time month of ``now`` to ``now`` (timezone-aware), for the units of
    ``level`` inside admin area or grid ``area`` (the rows whose unit code starts with it),
    without deductions: equal to them to the unit, read from the monthly rollups.

    Raises :class:`ValidationFailed` for a level the rollups do not hold (department).
    Never writes.
    """
    settings = settings or get_settings()
    if level not in ROLLUP_LEVELS:
        raise ValidationFailed(f"no monthly rollups for level {level!r}",
                               [{"field": "level", "allowed": list(ROLLUP_LEVELS)}])
    start, end = month_start(now), next_month_start(now)
    rows = session.execute(text(_MONTH_SQL.format(col=UNIT_COLUMNS[level])), {
        "month": start.date(), "month_after": end.date(), "month_start": start,
        "month_end": end,
        "now": now, "area": area, "prefix": prefix_pattern(area)}).mappings().all()
    return [with_rates(dict(r), 0.0, settings.score_weights) for r in rows]


_PERIOD_SQL = """
WITH parts AS (
  SELECT e.{col} AS unit, events, valid, handled, closed, closed_on_time, closed_postponed,
         closed_first_time, 0 AS open_due, 0 AS open_postponed
    FROM """ + monthly_source(":first_month", ":end_month") + """ e
   WHERE month >= :first_month AND month < :end_month
  UNION ALL
  SELECT * FROM (SELECT e.{col} AS unit, """ + _STATE_COUNTS + """, 0, 0
                   FROM events_with_assignment e
                  WHERE ((e.reported_at >= :since AND e.reported_at < :months_start)
                      OR (e.reported_at >= :months_end AND e.reported_at < :until))
                    AND e.status <> 'duplicate' GROUP BY 1) edges
  UNION ALL
  SELECT e.{col}, 0, 0, 0, 0, 0, 0, 0, count(*), count(*) FILTER (WHERE e.postponements > 0)
    FROM events_with_assignment e
   WHERE e.reported_at >= :since AND e.reported_at < :until AND e.valid
     AND e.status NOT IN ('closed', 'duplicate') AND e.due_at < :until
   GROUP BY 1""" + _ARCHIVED_OPEN + ")" + _UNIT_ROWS  # noqa: S608 (constant SQL fragments)
"""Per unit over ``[since, until)``: the whole months' rollups, the events of the partial
months at either end, and the open cases of the whole period due by ``until`` (also those
archived); ``{col}`` from UNIT_COLUMNS."""


def period_unit_stats(session: Session, level: str, since: datetime, until: datetime, *,
                      attribution: str = "assigned", settings: Settings | None = None
                      ) -> list[dict[str, Any]]:
    """The rows of :func:`geo.stats.unit_stats` (no deductions), with the whole China
    Standard Time months inside ``[since, until)`` read from the monthly rollups instead of
    their events: the events of the partial months at either end and the cases still open
    and due by ``until`` are read from ``events`` (and, of archived months, from
    ``archived_open_cases``: /stats over an archived month is what it was). A year at
    10^7 events thus reads one month of events and the open cases, not every event
    (bench/RESULTS.md, issue #18).

    Periods without a whole month, levels the rollups do not hold (department) and other
    attributions than ``assigned`` are answered by ``unit_stats`` itself (which also
    refuses what it refuses). Never writes.
    """
    settings = settings or get_settings()
    months_start = month_start(since)
    if months_start < since:
        months_start = next_month_start(since)
    months_end = month_start(until)
    if (attribution != "assigned" or level not in ROLLUP_LEVELS
            or not months_start < months_end):
        return unit_stats(session, level, since, until, attribution=attribution,
                          settings=settings)
    rows = session.execute(text(_PERIOD_SQL.format(col=UNIT_COLUMNS[level])), {
        "since": since, "until": until, "months_start": months_start,
        "months_end": months_end, "first_month": months_start.date(),
        "end_month": months_end.date()}).mappings().all()
    return [with_rates(dict(r), 0.0, settings.score_weights) for r in rows]
