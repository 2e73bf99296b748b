"""The bench events' lifecycle: close the generated cases at a realistic rate.

bench/scale.py COPYs its demo events as ``reported`` (the loader of bench/assign_city.py);
a real platform's year is mostly closed cases. :func:`close_cases` moves each event along
the workflow of ``geo.events`` (reported → dispatched → in_progress → resolved → closed,
or rejected) to where it stands at ``as_of``, with one SQL ``UPDATE`` per id range, so the
rollup triggers keep ``event_daily_counts`` and its derived tables exact as they go. Each
event's fate and delays are drawn from hashes of its id (the same event gets the same
lifecycle in every run and on every database, whatever the batch size):

==================  =========  ==========================================================
fate                share      timeline (hours after ``reported_at``)
==================  =========  ==========================================================
rejected            12 %       rejected at 0.25-4 h (``valid = false``)
stuck (overdue)     1 %        dispatched, started, never resolved: open and overdue
postponed           5 %        postponed once when started (``due_at`` +72 h), resolved
                               72-132 h after the start: on time after the postponement
reworked            4 %        resolved, sent back once (``reworks = 1``), resolved 24 h later
late                8 %        resolved 72-240 h after the start: closed after ``due_at``
on time             70 %       resolved 2-48 h after the start
==================  =========  ==========================================================

Every valid case: dispatched 0.25-4 h after the report, started 0.5-12 h after that,
closed (verified) 1-8 h after it is resolved, ``due_at`` = report + 72 h
(``Settings.event_due_hours``). Stages still ahead of ``as_of`` are not reached: their
timestamps stay NULL and the status is the last stage reached. Source of the shares:
/work/shared/DOMAIN.md's figures (6,635 accepted, 5,839 valid in half a year: 12 %
rejected; 94.75 % of a month's cases closed). So of a year of events ~87 % end closed,
12 % rejected and ~1-2 % open (the stuck ones and the last few days'). The case history
(``event_transitions``) is not written: neither /stats nor the assessment reads it.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from geo.rollups import GROUP_COLUMNS, RECOUNT_SQL, STORED_COUNTS

BATCH = 1_000_000
"""Events per UPDATE (one transaction each): the transition tables of the rollup trigger
hold one batch."""

_DRAW = "(hashint8extended(e.id, {k}) & 4294967295)::float8 / 4294967296.0"
"""A uniform draw in [0, 1) for event ``e`` from hash seed ``{k}`` (constant SQL)."""

_PLAN = f"""
SELECT e.id, e.reported_at, p.fate,
       e.reported_at + make_interval(secs => 3600 * h.dispatch) AS dispatched_at,
       e.reported_at + make_interval(secs => 3600 * h.start) AS started_at,
       e.reported_at + make_interval(secs => 3600 * (h.start + h.resolve)) AS resolved_at,
       e.reported_at + make_interval(secs => 3600 * (h.start + h.resolve + h.verify))
           AS closed_at
  FROM events e
 CROSS JOIN LATERAL (SELECT CASE WHEN u < 0.12 THEN 'rejected' WHEN u < 0.13 THEN 'stuck'
                                 WHEN u < 0.18 THEN 'postponed' WHEN u < 0.22 THEN 'reworked'
                                 WHEN u < 0.30 THEN 'late' ELSE 'on_time' END AS fate
                       FROM (SELECT {_DRAW.format(k=1)} AS u) d) p
 CROSS JOIN LATERAL (SELECT 0.25 + 3.75 * {_DRAW.format(k=2)} AS dispatch,
                            0.25 + 3.75 * {_DRAW.format(k=2)}
                              + 0.5 + 11.5 * {_DRAW.format(k=3)} AS start,
                            CASE p.fate WHEN 'postponed' THEN 72 + 60 * {_DRAW.format(k=4)}
                                        WHEN 'late' THEN 72 + 168 * {_DRAW.format(k=4)}
                                        WHEN 'reworked' THEN 26 + 46 * {_DRAW.format(k=4)}
                                        ELSE 2 + 46 * {_DRAW.format(k=4)} END AS resolve,
                            1 + 7 * {_DRAW.format(k=5)} AS verify) h
 WHERE e.id >= :first AND e.id < :last AND e.status = 'reported' AND e.due_at IS NULL
"""  # noqa: S608 (constant SQL: _DRAW with literal seeds)
"""Each not-yet-moved generated event of ids ``[first, last)`` with its fate and the time
it would reach each stage."""

CLOSE_SQL = f"""
UPDATE events e SET
  status = CASE WHEN p.fate = 'rejected' THEN
                  CASE WHEN p.dispatched_at <= :as_of THEN 'rejected' ELSE 'reported' END
                WHEN p.closed_at <= :as_of AND p.fate <> 'stuck' THEN 'closed'
                WHEN p.resolved_at <= :as_of AND p.fate <> 'stuck' THEN 'resolved'
                WHEN p.started_at <= :as_of THEN 'in_progress'
                WHEN p.dispatched_at <= :as_of THEN 'dispatched'
                ELSE 'reported' END,
  valid = NOT (p.fate = 'rejected' AND p.dispatched_at <= :as_of),
  due_at = p.reported_at + interval '72 hours'
           + CASE WHEN p.fate = 'postponed' AND p.started_at <= :as_of
                  THEN interval '72 hours' ELSE interval '0' END,
  postponements = CASE WHEN p.fate = 'postponed' AND p.started_at <= :as_of THEN 1 ELSE 0 END,
  reworks = CASE WHEN p.fate = 'reworked' AND p.resolved_at <= :as_of THEN 1 ELSE 0 END,
  dispatched_at = CASE WHEN p.fate <> 'rejected' AND p.dispatched_at <= :as_of
                       THEN p.dispatched_at END,
  started_at = CASE WHEN p.fate <> 'rejected' AND p.started_at <= :as_of THEN p.started_at END,
  resolved_at = CASE WHEN p.fate NOT IN ('rejected', 'stuck') AND p.resolved_at <= :as_of
                     THEN p.resolved_at END,
  closed_at = CASE WHEN p.fate NOT IN ('rejected', 'stuck') AND p.closed_at <= :as_of
                   THEN p.closed_at END
FROM ({_PLAN}) p
WHERE e.id = p.id AND e.reported_at = p.reported_at
"""  # noqa: S608 (constant SQL)
"""Move the events of ids ``[first, last)`` (still as generated: reported, no ``due_at``) to
their stage at ``as_of``; events moved already are left alone, so a re-run changes nothing."""


def close_cases(engine: Engine, as_of: datetime, batch: int = BATCH, *,
                triggers: bool = True) -> dict[str, Any]:
    """Apply the lifecycle above to every generated event, :data:`BATCH` ids per committed
    UPDATE; figures: seconds, events moved, per status.

    ``as_of`` is the bench's "now" (aware datetime): every event was reported before it.
    With ``triggers`` the events' triggers run in each UPDATE (rollups moved row by row, the
    change feed written); without, none runs (``session_replication_role = replica``) and
    the caller must rebuild the rollups (:func:`rebuilt_rollups`); each batch is then
    followed by a VACUUM of the events, so the table grows by about one batch, not doubles.
    """
    start = time.perf_counter()
    with engine.connect() as conn:
        low, high = conn.execute(text("SELECT min(id), max(id) FROM events")).one()
    moved = 0
    for first in range(low or 0, (high or -1) + 1, batch):
        with engine.begin() as conn:
            if not triggers:
                conn.execute(text("SET LOCAL session_replication_role = replica"))
            moved += conn.execute(text(CLOSE_SQL), {"first": first, "last": first + batch,
                                                    "as_of": as_of}).rowcount
        if not triggers:  # the next batch's new row versions fill this batch's old ones
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM events"))
        print(f"  lifecycle: {moved:,} events moved, {time.perf_counter() - start:.0f} s",
              flush=True)
    with engine.connect() as conn:
        statuses = dict(conn.execute(text(
            "SELECT status, count(*) FROM events GROUP BY status ORDER BY status")).all())
    return {"seconds": time.perf_counter() - start, "moved": moved,
            "statuses": {k: int(v) for k, v in statuses.items()}}


REBUILD_SQL = (f"INSERT INTO event_daily_counts ({', '.join(GROUP_COLUMNS + STORED_COUNTS)}) "
               + RECOUNT_SQL.format(where=""))
"""The daily rollups counted afresh from every event (geo.rollups.RECOUNT_SQL); their
statement trigger derives the monthly and per-area rollups from the rows it inserts."""


def rebuilt_rollups(engine: Engine) -> float:
    """Empty the daily rollups (their TRUNCATE trigger empties the monthly and per-area
    ones) and count them afresh from the events, in one transaction; seconds."""
    start = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL work_mem = '256MB'"))
        conn.execute(text("TRUNCATE event_daily_counts"))
        conn.execute(text(REBUILD_SQL))
    return time.perf_counter() - start


def closed_and_recounted(engine: Engine, as_of: datetime) -> dict[str, Any]:
    """:func:`close_cases` without triggers, then :func:`rebuilt_rollups`: the figures of
    the first with ``rollups_s``."""
    figures = close_cases(engine, as_of, triggers=False)
    figures["rollups_s"] = rebuilt_rollups(engine)
    return figures


def lifecycle(url: str, as_of: datetime | None = None) -> dict[str, Any]:
    """The bench step on a kept database: the cases moved without triggers, with the
    events' secondary indexes dropped for the updates and built again after
    (``indexes_deferred``) and the rollups rebuilt (:func:`closed_and_recounted`), then VACUUM
    ANALYZE of the events. At 10^7 events the triggered UPDATE took ~9 min per 10^6 events
    (the rollups' upserts and their derived tables); this path writes the events once and
    counts the rollups once. The change feed gets no rows for these bench updates. Nothing
    to move (a database loaded by bench/scale.py, or moved already) does nothing."""
    from bench.common import indexes_deferred
    from bench.scale_steps import AS_OF

    engine = create_engine(url)
    with engine.connect() as conn:
        pending = conn.scalar(text(
            "SELECT EXISTS (SELECT 1 FROM events WHERE status = 'reported' AND due_at IS NULL)"))
    figures: dict[str, Any] = {"moved": 0}
    if pending:
        start = time.perf_counter()
        with indexes_deferred(engine, ["events"]):
            figures = closed_and_recounted(engine, as_of or AS_OF)
        figures["with_indexes_s"] = time.perf_counter() - start
    start = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE events"))
    figures["vacuum_s"] = time.perf_counter() - start
    engine.dispose()
    return figures
