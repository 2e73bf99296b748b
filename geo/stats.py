"""Statistics and the assessment score per responsible unit over a period.

Counted over the events **reported** in ``[since, until)`` and attributed to the unit's code
in the event's assignment (``grid_code``, ``community_code``, ``street_code``,
``district_code`` of ``event_assignments``, read through the ``events_with_assignment`` view;
never-assigned events count for no unit) or to its ``department`` (escalated events). A case
a dispatcher reassigned counts for its final grid; events closed as duplicates (status
``duplicate``, merged into a case: geo.duplicates) are not counted, their case counts once.
Grids may instead be today's grids or the grids as they were, by the event's point
(:data:`ATTRIBUTIONS`):

=====================  ==============================================================
accepted               every event reported in the period (受理数)
valid                  not rejected (有效数)
handled                valid and resolved or closed (处置数); handling rate = handled/valid
due                    应结案数: valid and (due before ``until`` or already closed)
closed                 结案数: due and closed
closed_on_time         due, closed, ``closed_at <= due_at`` (after postponements)
postponed              due and postponed at least once
first_time             一次性完成数: closed (as above) and completed the first time: the
                       recorded ``first_time`` of a migrated case, else never sent back
                       for rework (``reworks = 0``)
=====================  ==============================================================

Rates (None when the base is 0)::

    按期结案率 on_time_rate      = closed_on_time / due
    结案率     closure_rate      = closed / due
    延期率     postponement_rate = postponed / due
    一次性完成率 first_time_rate  = first_time / closed      (not / due)
    handling_rate                = handled / valid

Score (Taiyuan default weights ``settings.score_weights``)::

    w0·按期结案率 + w1·结案率 + w2·(1 − 延期率) + w3·一次性完成率 + w4 − deduction

None when nothing was due; the first-time term is 0 when nothing was closed. Deductions
(媒体督办扣分) are given per unit code (geo.assessment stores them per unit and month).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Literal, get_args

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.codes import prefix_pattern
from geo.errors import ValidationFailed
from geo.grid_counts import COUNT_KINDS, stored_grid_counts
from geo.rollups import ASSIGNED_IN_AREA, daily_source
from geo.settings import Settings, get_settings

UNIT_COLUMNS = {"grid": "grid_code", "community": "community_code", "street": "street_code",
                "district": "district_code", "department": "department"}
FIELDS = ("unit", "name", "accepted", "valid", "handled", "handling_rate", "due", "closed",
          "closed_on_time", "postponed", "first_time", "on_time_rate", "closure_rate",
          "postponement_rate", "first_time_rate", "deduction", "score")
REASSIGNMENT_FIELDS = ("reassigned_in", "reassigned_out")
GRID_FIELDS = FIELDS + REASSIGNMENT_FIELDS + COUNT_KINDS
"""Columns of ``/stats?level=grid``: the figures, the reassignments of the period's cases
(:func:`with_reassignments`) and the grid's counts by the stored rule
(geo.grid_counts.stored_grid_counts)."""


Attribution = Literal["assigned", "current", "historical"]
ATTRIBUTIONS: tuple[str, ...] = get_args(Attribution)
"""Which grid an event counts for at ``level="grid"`` (the default, ``assigned``, first):

* ``assigned``: the grid of the event's stored assignment - the grid dispatch used (a closed
  case keeps the grid that handled it; an open one follows publishes and re-assignments);
* ``current``: today's grid covering the event's point (events re-attributed to today's
  grids, e.g. last year's figures on this year's map);
* ``historical``: the grid version valid at the event's ``reported_at`` covering its point
  (the grids as they were).

``current`` and ``historical`` take ordinary grids only (not dedicated ones); a point on an
edge shared by two grids counts for the lower code (as /locate); an event no grid covers
counts for no grid. A grid version that no recorded change produced (the layer as first
imported, a grid drawn on empty ground) stands for the time before it was recorded too, so
events older than the first import count for the first layer. Both count every event of
the period once, so their sums agree whenever the grids' union covers the same ground then
and now (publishing keeps it so).
"""

_ATTRIBUTED = """
WITH versions AS (
    SELECT g.code, g.geom, {since_at} AS since_at, COALESCE(g.valid_to, 'infinity') AS until_at
    FROM grids g WHERE g.level = 'grid' AND g.kind <> 'dedicated' AND {which}),
attributed AS (
    SELECT DISTINCT ON (e.id) e.id, v.code
    FROM versions v JOIN events e ON v.geom && e.geom AND ST_Covers(v.geom, e.geom)
     AND e.reported_at >= v.since_at AND e.reported_at < v.until_at
    WHERE e.reported_at >= :since AND e.reported_at < :until
    ORDER BY e.id, v.code)
"""
"""The grid each event of the period counts for, driven from the grids (each polygon is
prepared once for the events under it: 10x faster than a look-up per event, measured)."""

_VERSIONS = {
    "current": {"since_at": "'-infinity'::timestamptz", "which": "g.valid_to IS NULL"},
    "historical": {
        "since_at": "CASE WHEN EXISTS (SELECT 1 FROM grid_lineage l WHERE l.successor_id = g.id)"
                    " THEN g.valid_from ELSE '-infinity' END",
        "which": "true"},
}
"""Which grid versions an attribution takes, and since when each stands (constant SQL): a
version no change produced (the first layer recorded) stands for the time before it too."""


def _source(attribution: str, col: str) -> tuple[str, str, str]:
    """(WITH clause, FROM clause, unit expression) of the events' units (constant SQL)."""
    if attribution == "assigned":
        return "", "events_with_assignment e", f"e.{col}"
    return (_ATTRIBUTED.format(**_VERSIONS[attribution]),
            "events_with_assignment e LEFT JOIN attributed t ON t.id = e.id", "t.code")


def unit_stats(session: Session, level: str, since: datetime, until: datetime, *,
               attribution: str = "assigned", deductions: dict[str, float] | None = None,
               settings: Settings | None = None) -> list[dict[str, Any]]:
    """One row per unit of ``level`` (grid, community, street, district, department).

    ``attribution`` (:data:`ATTRIBUTIONS`) says which grid an event counts for; other
    levels than ``grid`` take ``assigned`` only. Raises :class:`ValidationFailed` for an
    unknown level or attribution, an attribution other levels do not take, or an
    empty/reversed period. Units without events in the period are not listed. Never writes.
    """
    settings = settings or get_settings()
    _check(level, since, until, attribution)
    with_clause, source, unit = _source(attribution, UNIT_COLUMNS[level])
    sql = with_clause + _STATS_SQL.format(source=source, unit=unit)
    rows = session.execute(text(sql), {"since": since, "until": until}).mappings().all()
    cuts = deductions or {}
    return [with_rates(dict(r), cuts.get(r["unit"], 0.0), settings.score_weights)
            for r in rows]


def _check(level: str, since: datetime, until: datetime, attribution: str) -> None:
    if level not in UNIT_COLUMNS:
        raise ValidationFailed(f"unknown level {level!r}",
                               [{"field": "level", "allowed": list(UNIT_COLUMNS)}])
    if attribution not in ATTRIBUTIONS or (attribution != "assigned" and level != "grid"):
        raise ValidationFailed(
            f"attribution {attribution!r} is not one for level {level!r}: grids take "
            "assigned, current or historical, other levels assigned",
            [{"field": "attribution", "value": attribution, "level": level,
              "allowed": list(ATTRIBUTIONS) if level == "grid" else ["assigned"]}])
    if not since < until:
        raise ValidationFailed("the period is empty: since must be before until",
                               [{"field": "since", "value": since.isoformat()},
                                {"field": "until", "value": until.isoformat()}])


def events_in_period(session: Session, since: datetime, until: datetime) -> int:
    """How many events were reported in ``[since, until)``, whatever unit they count for.

    Merged duplicates are left out, as in :func:`unit_stats`: their case counts once.
    """
    return int(session.execute(text(
        "SELECT count(*) FROM events WHERE reported_at >= :since AND reported_at < :until"
        " AND status <> 'duplicate'"),
        {"since": since, "until": until}).scalar_one())


PERIOD_COUNTS = """
    count(*) AS accepted,
    count(*) FILTER (WHERE valid) AS valid,
    count(*) FILTER (WHERE valid AND status IN ('resolved', 'closed')) AS handled,
    count(*) FILTER (WHERE due) AS due,
    count(*) FILTER (WHERE due AND status = 'closed') AS closed,
    count(*) FILTER (WHERE due AND status = 'closed' AND closed_at <= due_at) AS closed_on_time,
    count(*) FILTER (WHERE due AND postponements > 0) AS postponed,
    count(*) FILTER (WHERE due AND status = 'closed'
                     AND coalesce(first_time, reworks = 0)) AS first_time"""
"""The counts of the table above over rows of events with their ``due`` flag (one place;
also run by DuckDB on Dask workers over GeoParquet archives: geo.distributed.stats)."""

DUE_FLAG = "(valid AND (due_at < {until} OR status = 'closed')) AS due"
"""The ``due`` flag (应结案) of an event reported in a period ending at ``{until}``."""


UNIT_NAME = """
LEFT JOIN admin_areas a ON a.code = s.unit
LEFT JOIN LATERAL (SELECT g.name FROM grids g WHERE g.code = s.unit
                   ORDER BY g.version DESC LIMIT 1) g ON true"""
"""The unit's name: its admin area's, else its grid's latest version's."""

_STATS_SQL = """
SELECT s.*, coalesce(a.name, g.name) AS name FROM (
  SELECT unit,""" + PERIOD_COUNTS + """
  FROM (SELECT e.*, {unit} AS unit, """ + DUE_FLAG.format(until=":until") + """
        FROM {source} WHERE e.reported_at >= :since AND e.reported_at < :until
          AND e.status <> 'duplicate') ev
  WHERE unit IS NOT NULL GROUP BY unit) s""" + UNIT_NAME + """
ORDER BY s.unit
"""  # noqa: S608 (constant SQL fragments; {source}, {unit} from _source)


def unit_stats_per_period(session: Session, level: str, unit: str,
                          bounds: Sequence[datetime], *,
                          settings: Settings | None = None) -> list[dict[str, Any] | None]:
    """The :func:`unit_stats` row of ``unit`` for each period ``[bounds[i], bounds[i+1])``,
    in one query: element ``i`` equals the row of ``unit`` that ``unit_stats(session, level,
    bounds[i], bounds[i+1])`` answers (None when the unit had no event then).

    Raises :class:`ValidationFailed` for an unknown level, fewer than two bounds or bounds
    not strictly increasing. Never writes.
    """
    settings = settings or get_settings()
    if level not in UNIT_COLUMNS:
        raise ValidationFailed(f"unknown level {level!r}",
                               [{"field": "level", "allowed": list(UNIT_COLUMNS)}])
    if len(bounds) < 2 or any(not a < b for a, b in zip(bounds, bounds[1:], strict=False)):
        raise ValidationFailed("the periods are empty: bounds must be strictly increasing",
                               [{"field": "bounds", "value": [b.isoformat() for b in bounds]}])
    rows = session.execute(text(_PERIODS_SQL.format(col=UNIT_COLUMNS[level])),
                           {"bounds": list(bounds), "first": bounds[0], "last": bounds[-1],
                            "unit": unit}).mappings().all()
    by_period = {r["period"]: r for r in rows}  # width_bucket: period i + 1 is [b[i], b[i+1])
    return [with_rates(dict(by_period[i]), 0.0, settings.score_weights)
            if i in by_period else None for i in range(1, len(bounds))]


_PERIODS_SQL = """
SELECT s.*, coalesce(a.name, g.name) AS name FROM (
  SELECT ev.period, ev.unit,""" + PERIOD_COUNTS + """
  FROM (SELECT b.*, """ + DUE_FLAG.format(until="b.period_end") + """
          FROM (SELECT e.*, e.{col} AS unit, w.period,
                       (CAST(:bounds AS timestamptz[]))[w.period + 1] AS period_end
                  FROM events_with_assignment e
                 CROSS JOIN LATERAL (SELECT width_bucket(e.reported_at,
                                            CAST(:bounds AS timestamptz[])) AS period) w
                 WHERE e.reported_at >= :first AND e.reported_at < :last
                   AND e.{col} = :unit AND e.status <> 'duplicate') b) ev
  GROUP BY ev.period, ev.unit) s""" + UNIT_NAME + """
ORDER BY s.period
"""  # noqa: S608 (constant SQL fragments; {col} from UNIT_COLUMNS)
"""Like ``_STATS_SQL`` for one unit over several periods, each with its own ``until``."""


def unit_daily_rates(session: Session, level: str, unit: str, first_day: date,
                     last_day: date) -> dict[date, dict[str, Any]]:
    """The handling and on-time rates of ``unit`` for each China Standard Time day from
    ``first_day`` to ``last_day`` (both included) with an event, read from the daily rollups
    (geo.rollups, migration 0017): for day ``d`` they equal the ``handling_rate`` and
    ``on_time_rate`` of ``unit_stats(session, level, start of d, start of d + 1)`` for
    ``unit`` (``due`` of a day's event is counted against the end of its report day).

    Returns ``{day: {"handling_rate", "on_time_rate"}}``; a day without events is absent.
    Raises :class:`ValidationFailed` for a level the rollups do not hold (department).
    Never writes.
    """
    if level not in ROLLUP_LEVELS:
        raise ValidationFailed(f"no daily rates for level {level!r}",
                               [{"field": "level", "allowed": list(ROLLUP_LEVELS)}])
    rows = session.execute(text(_DAILY_RATES_SQL.format(col=UNIT_COLUMNS[level])),
                           {"area": unit, "prefix": prefix_pattern(unit), "first": first_day,
                            "last": last_day}).all()
    return {day: day_rates(valid, handled, due, on_time)
            for day, valid, handled, due, on_time in rows}


def day_rates(valid: int, handled: int, due: int, closed_on_time: int) -> dict[str, Any]:
    """``handling_rate`` and ``on_time_rate`` of one day from its rollup rate counts
    (geo.rollups.RATE_COUNTS): handled / valid and closed on time / due, None when the base
    is 0 - the rates of the single-day /stats row (see :func:`unit_daily_rates`)."""
    return {"handling_rate": _ratio(handled, valid),
            "on_time_rate": _ratio(closed_on_time, due)}


ROLLUP_LEVELS = ("grid", "community", "street", "district")
"""The levels whose codes the daily rollups carry."""

_DAILY_RATES_SQL = """
SELECT day, sum(valid)::int,
       coalesce(sum(valid) FILTER (WHERE status IN ('resolved', 'closed')), 0)::int,
       sum(due)::int, sum(closed_on_time)::int
  FROM """ + daily_source(":first", ":last", assigned=ASSIGNED_IN_AREA) + """ c
 WHERE {col} = :area AND day BETWEEN :first AND :last AND status <> 'duplicate'
 GROUP BY day HAVING sum(events) > 0
"""
"""Per day: valid, handled (valid, resolved or closed), due and closed-on-time events (the
counts of the table above with ``until`` the end of the day; closed implies due)."""


def _ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 6)


def with_rates(row: dict[str, Any], deduction: float,
                weights: tuple[float, float, float, float, float]) -> dict[str, Any]:
    due = row["due"]
    row["handling_rate"] = _ratio(row["handled"], row["valid"])
    row["on_time_rate"] = _ratio(row["closed_on_time"], due)
    row["closure_rate"] = _ratio(row["closed"], due)
    row["postponement_rate"] = _ratio(row["postponed"], due)
    row["first_time_rate"] = _ratio(row["first_time"], row["closed"])
    row["deduction"] = deduction
    row["score"] = None
    if due:
        w0, w1, w2, w3, w4 = weights
        first_time = row["first_time"] / row["closed"] if row["closed"] else 0.0
        row["score"] = round(
            w0 * row["closed_on_time"] / due + w1 * row["closed"] / due
            + w2 * (1 - row["postponed"] / due) + w3 * first_time + w4
            - deduction, 4)
    return {f: row.get(f) for f in FIELDS}


def with_grid_counts(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The grid rows of :func:`unit_stats` with the grid's counts (:data:`GRID_FIELDS`).

    Counts come from :func:`geo.grid_counts.stored_grid_counts` (the units and open events
    whose stored grid it is, the rule the figures count events by; the planner map, preview
    and validation count what the grid's shape covers); a code that is no current grid any
    more gets empty (None) counts. Never writes.
    """
    counts = stored_grid_counts(session, [r["unit"] for r in rows])
    empty = dict.fromkeys(COUNT_KINDS)
    return [{**r, **counts.get(r["unit"], empty)} for r in rows]


def with_reassignments(session: Session, rows: list[dict[str, Any]], since: datetime,
                       until: datetime) -> list[dict[str, Any]]:
    """The grid rows of :func:`unit_stats` with ``reassigned_in`` (reassignments of cases
    reported in ``[since, until)`` to the grid) and ``reassigned_out`` (from it). A grid
    whose cases are often moved away has a boundary that misleads (geo.reassignments lists
    every grid by reassignments). Never writes."""
    counts = session.execute(text(
        "SELECT code, sum(i)::int AS reassigned_in, sum(o)::int AS reassigned_out FROM ("
        " SELECT r.to_grid_code AS code, 1 AS i, 0 AS o FROM event_reassignments r"
        "  JOIN events e ON e.id = r.event_id"
        "  WHERE e.reported_at >= :since AND e.reported_at < :until"
        " UNION ALL SELECT r.from_grid_code, 0, 1 FROM event_reassignments r"
        "  JOIN events e ON e.id = r.event_id"
        "  WHERE e.reported_at >= :since AND e.reported_at < :until) x GROUP BY code"),
        {"since": since, "until": until}).mappings().all()
    found = {c["code"]: {f: c[f] for f in REASSIGNMENT_FIELDS} for c in counts}
    empty = dict.fromkeys(REASSIGNMENT_FIELDS, 0)
    return [{**r, **found.get(r["unit"], empty)} for r in rows]


def stats_csv(rows: list[dict[str, Any]], fields: tuple[str, ...] = FIELDS) -> str:
    """The rows as CSV text (UTF-8, header line ``fields``, empty cell for None)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()
