"""The one writer of ``event_assignments``: where each event belongs (grid chain, nearest
grid, cameras), one narrow row per event, kept apart from the event's own row.

:func:`write_one` stores one :func:`geo.locate.locate` answer (a new event);
:func:`write_staged` stores a bulk run's results (:mod:`geo.assign`, :mod:`geo.assign_memory`,
:mod:`geo.distributed`), writing only the rows that changed; :func:`write_first_assignment`
COPYs a first assignment's rows built in memory (:mod:`geo.first_assignment_rows`);
:func:`write_changed` stores a re-assignment's changed rows, compared in memory
(:mod:`geo.assign_compare`), through a small stage and :func:`write_staged`. All stamp
``assigned_at = now()`` and copy the event's ``reported_at`` (migration 0026: reads join on
``(event_id, reported_at)`` so the planner prunes the monthly partitions of ``events``).
Readers use the view ``events_with_assignment`` (:data:`geo.events.EVENT_COLUMNS`).

The daily rollups (:mod:`geo.rollups`): a single-row write moves them through the statement
triggers on ``event_assignments``; :func:`write_staged` sets ``gridlink.assignment_rollups``
to ``bulk`` for its statements (the triggers then stand aside) and moves them once, one
``GROUP BY`` over its changed rows and one upsert (:data:`_ROLLUP_DELTA`), or, when it
changes most rollup keys (a redraw, a first assignment of the SQL steps), marks their days
pending refresh in the same transaction (:mod:`geo.rollup_refresh`; the caller refreshes
them after committing). :func:`write_first_assignment` writes the rollups the in-memory
engine counted (:mod:`geo.first_assignment_rollups`) with its rows. Never commits.
"""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any, NamedTuple

import psycopg
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.db import local_settings, psycopg_connection
from geo.errors import Conflict, NotFound
from geo.first_assignment_rollups import RollupInputs, write_rollups
from geo.first_assignment_rows import COPY_HEADER, COPY_TRAILER, FirstAssignmentRows
from geo.locate import LocateResult
from geo.rollup_refresh import mark_pending

COLUMNS = ("district_code", "street_code", "community_code", "grid_code", "micro_grid_code",
           "dedicated_grid_codes", "assignment", "nearest_grid_code", "nearest_distance_m",
           "camera_codes")
"""The assignment of an event, besides ``event_id`` and ``assigned_at`` (migration 0003)."""

KEEP_REASSIGNED = "NOT EXISTS (SELECT FROM event_reassignments r WHERE r.event_id = e.id)"
"""SQL condition on ``events e``: a case a dispatcher reassigned (geo.reassignments) stays in
the grid chosen for it."""

_LIST = ", ".join(COLUMNS)
_SET = ", ".join(f"{c} = x.{c}" for c in COLUMNS)
_UPSERT = text(
    f"INSERT INTO event_assignments (event_id, reported_at, {_LIST}, assigned_at)"  # noqa: S608
    f" SELECT e.id, e.reported_at, {', '.join(':' + c for c in COLUMNS)}, now()"
    " FROM events e WHERE e.id = :id ON CONFLICT (event_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in (*COLUMNS, "reported_at"))
    + ", assigned_at = now()")
"""Constant SQL built from :data:`COLUMNS`; values are bound."""


def unchanged_sql(stored: str, new: str) -> str:
    """SQL condition: the assignment columns of alias ``stored`` equal those of ``new``
    (NULLs equal). Aliases are constant names chosen by the caller, never input."""
    return (f"({', '.join(f'{stored}.{c}' for c in COLUMNS)}) IS NOT DISTINCT FROM"
            f" ({', '.join(f'{new}.{c}' for c in COLUMNS)})")


def values_of(where: LocateResult) -> dict[str, Any]:
    """The :data:`COLUMNS` values of a locate answer (codes; cameras nearest first)."""
    def code(ref: Any) -> str | None:
        return ref.code if ref is not None else None

    return {"district_code": code(where.district), "street_code": code(where.street),
            "community_code": code(where.community), "grid_code": code(where.grid),
            "micro_grid_code": code(where.micro_grid),
            "dedicated_grid_codes": [g.code for g in where.dedicated_grids] or None,
            "assignment": where.assignment, "nearest_grid_code": code(where.nearest_grid),
            "nearest_distance_m": where.nearest_distance_m,
            "camera_codes": [c.code for c in where.cameras]}


def write_one(session: Session, event_id: int, where: LocateResult) -> None:
    """Store the locate answer ``where`` as event ``event_id``'s assignment, replacing any
    earlier one. The table has no foreign key, so the row is written only when the event
    exists; raises :class:`NotFound` naming the id otherwise."""
    written = session.execute(_UPSERT, {"id": event_id, **values_of(where)})
    if written.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"no event {event_id}", [{"field": "id", "value": event_id}])


def _write_changed(session: Session, results: str, *, stale: bool, new: bool) -> int:
    """Update the stale rows of work table ``results`` (generated by :func:`write_staged`),
    insert the new ones in id order (the primary key then grows at its right edge: 1 M rows
    in 3.3 s instead of 5.1 s); ``stale``/``new`` False skip a step known to be empty. A new
    row another writer inserted meanwhile is left as that writer wrote it and marked
    ``same`` in ``results`` (its rollups moved by that writer); returns how many."""
    if stale:
        session.execute(text(
            f"UPDATE event_assignments a SET {_SET}, reported_at = x.reported_at,"  # noqa: S608
            f" assigned_at = now() FROM {results} x"
            " WHERE x.known AND NOT x.same AND a.event_id = x.id"))
    if not new:
        return 0
    kept = session.execute(text(
        f"WITH put AS (INSERT INTO event_assignments (event_id, reported_at, {_LIST})"  # noqa: S608
        f" SELECT x.id, x.reported_at, {', '.join('x.' + c for c in COLUMNS)}"
        f" FROM {results} x WHERE NOT x.known ORDER BY x.id"
        " ON CONFLICT (event_id) DO NOTHING RETURNING event_id)"
        f" UPDATE {results} x SET same = true"
        " WHERE NOT x.known AND NOT EXISTS (SELECT FROM put WHERE put.event_id = x.id)"))
    return int(kept.rowcount)  # type: ignore[attr-defined]


ROLLUP_KEY = ("district_code", "street_code", "community_code", "grid_code")
"""The assignment columns that key the daily rollups (with day, category and status)."""

ROLLUP_EVENT_COLUMNS = ("category", "status", "valid", "due_at", "closed_at", "postponements",
                        "first_time", "reworks")
"""The event columns the daily rollups' counts are computed from (besides ``reported_at``)."""

_EVENT_MOVES = """
SELECT f.day, m.district_code, m.street_code, m.community_code, m.grid_code, f.category,
       f.status, m.delta AS events, m.delta * f.valid AS valid, m.delta * f.due AS due,
       m.delta * f.closed_on_time AS closed_on_time,
       m.delta * f.closed_postponed AS closed_postponed,
       m.delta * f.closed_first_time AS closed_first_time
  FROM (SELECT gridlink_local_day(reported_at) AS day, {key}, {was}, category, status,
               gridlink_valid_flag(valid) AS valid,
               gridlink_day_due(reported_at, due_at, valid, status) AS due,
               gridlink_on_time(due_at, closed_at, valid, status) AS closed_on_time,
               gridlink_closed_postponed(postponements, valid, status) AS closed_postponed,
               gridlink_closed_first_time(first_time, reworks, valid, status)
                   AS closed_first_time
          FROM {results} WHERE NOT same) f
 CROSS JOIN LATERAL (VALUES (-1, {was_f}), (1, {key_f}))
       m(delta, district_code, street_code, community_code, grid_code)
"""
"""Per changed row of a work table (generated names), two daily rollup rows: -1 from the
stored assignment's key (``was_*``; none stored: the "no grid" key), +1 to the new one; the
per-event counts as the triggers of migrations 0017 and 0027 compute them, once per event
(day and flags are time-zone arithmetic: computed twice, 2 × 10^6 rows, they cost seconds).
"""

_ROLLUP_DELTA = """
INSERT INTO event_daily_counts AS c (day, {key}, category, status, events, valid, due,
                                     closed_on_time, closed_postponed, closed_first_time)
SELECT day, {key}, category, status, sum(events), sum(valid), sum(due), sum(closed_on_time),
       sum(closed_postponed), sum(closed_first_time)
  FROM ({moves}) m
 GROUP BY 1, 2, 3, 4, 5, 6, 7
HAVING sum(events) <> 0 OR sum(valid) <> 0 OR sum(due) <> 0 OR sum(closed_on_time) <> 0
    OR sum(closed_postponed) <> 0 OR sum(closed_first_time) <> 0
 ORDER BY 1, 2, 3, 4, 5, 6, 7
ON CONFLICT (day, {key}, category, status) DO UPDATE SET events = c.events + EXCLUDED.events,
   valid = c.valid + EXCLUDED.valid, due = c.due + EXCLUDED.due,
   closed_on_time = c.closed_on_time + EXCLUDED.closed_on_time,
   closed_postponed = c.closed_postponed + EXCLUDED.closed_postponed,
   closed_first_time = c.closed_first_time + EXCLUDED.closed_first_time
"""
"""The daily rollups' move (:data:`_EVENT_MOVES`) summed per key and upserted in key order
(concurrent writers lock rollup rows in the same order); the derived monthly and per-area
rollups follow by 0027's triggers on this table."""


BULK_ROLLUPS = "bulk"
"""The value of ``gridlink.assignment_rollups`` under which the rollup triggers on
``event_assignments`` stand aside (their ``WHEN``, migration 0026)."""


DELTA_WORK_MEM = "256MB"
"""``work_mem`` of the delta's statement: at 10^6 changed rows its GROUP BY holds ~970,000
keys; with the default 64 MB they spill (a 112 MB external sort, 56 MB of hash batches)."""


def event_moves(results: str) -> str:
    """:data:`_EVENT_MOVES` for the work table ``results`` (made by :func:`write_staged`: the
    new columns, the stored key as ``was_*``, the event's ``reported_at``, category, status,
    valid, due and closed instants)."""
    return _EVENT_MOVES.format(key=", ".join(ROLLUP_KEY), results=results,
                               was=", ".join(f"was_{c}" for c in ROLLUP_KEY),
                               key_f=", ".join(f"f.{c}" for c in ROLLUP_KEY),
                               was_f=", ".join(f"f.was_{c}" for c in ROLLUP_KEY))


def move_rollups(session: Session, results: str) -> None:
    """Move the daily rollups for the changed rows of work table ``results`` in place, one
    grouped upsert (:data:`_ROLLUP_DELTA`)."""
    with local_settings(session, {"work_mem": DELTA_WORK_MEM}):
        session.execute(text(_ROLLUP_DELTA.format(key=", ".join(ROLLUP_KEY),
                                                  moves=event_moves(results))))


REBUILD_FROM_SHARE = 0.15
"""A bulk write leaves the rollups pending refresh (:mod:`geo.rollup_refresh`: rebuilt and
swapped by the command after it commits) instead of upserting its move when its changed rows
are at least this share of the stored daily rollup rows: a first assignment (every event
leaves the few "no grid" keys) or a redraw moving a fifth of a city's events. Measured at
10^6 events (1.16 M rollup rows, load ~6): the grouped upsert of 2 × 10^5 changed rows took
57 s, about what the refresh of every day takes after the commit (63 s); 10^4 rows ~3 s."""


def rebuilds_rollups(session: Session, changed: int) -> bool:
    """Whether a bulk write of ``changed`` rows leaves the rollups pending refresh
    (:data:`REBUILD_FROM_SHARE` of the stored daily rollup rows)."""
    stored = session.execute(text("SELECT count(*) FROM event_daily_counts")).scalar_one()
    return changed >= REBUILD_FROM_SHARE * stored


class StagedCounts(NamedTuple):
    """What :func:`write_staged` found: rows, rows changed or new, and per assignment kind;
    whether it left the rollups pending refresh (:mod:`geo.rollup_refresh`)."""

    n: int
    changed: int
    covered: int
    snapped: int
    unassigned: int
    with_cameras: int
    rollups_pending: bool = False
    superseded: int = 0
    """Changed rows not written: another writer rewrote them after this run read them."""


def write_staged(session: Session, stage: str, *, recheck_events: bool = True) -> StagedCounts:
    """Store the rows of ``stage`` (a work table's name or a parenthesised query, with ``id``
    + :data:`COLUMNS`; SQL generated by the caller, never input): changed rows updated, new
    ones inserted, unchanged ones left alone, and the daily rollups moved once for all of
    them, or their days marked pending refresh when they move most rollup keys
    (:func:`rebuilds_rollups`; the caller then runs :func:`geo.rollup_refresh.refresh_rollups`
    after committing). The rollup triggers stand aside for these statements. Rows of events that no
    longer exist are dropped. ``recheck_events``: also drop the rows of events a dispatcher
    reassigned (:data:`KEEP_REASSIGNED`); a caller that selected them in this transaction
    passes False. Never commits."""
    result = f"assign_{uuid.uuid4().hex[:12]}_result"
    where = f" WHERE {KEEP_REASSIGNED}" if recheck_events else ""
    was = ", ".join(f"a.{c} AS was_{c}" for c in ROLLUP_KEY)
    events = ", ".join(f"e.{c}" for c in ROLLUP_EVENT_COLUMNS)
    session.execute(text(
        f"CREATE UNLOGGED TABLE {result} AS SELECT x.*, e.reported_at, {events}, {was},"  # noqa: S608
        " a.event_id IS NOT NULL AS known,"
        f" a.event_id IS NOT NULL AND {unchanged_sql('a', 'x')} AS same"
        f" FROM {stage} x JOIN events e ON e.id = x.id"
        f" LEFT JOIN event_assignments a ON a.event_id = x.id{where}"))
    row = session.execute(text(
        "SELECT count(*) AS n, count(*) FILTER (WHERE known AND NOT same) AS stale,"  # noqa: S608
        " count(*) FILTER (WHERE NOT known) AS new,"
        " count(*) FILTER (WHERE assignment = 'covered') AS covered,"
        " count(*) FILTER (WHERE assignment = 'snapped') AS snapped,"
        " count(*) FILTER (WHERE assignment = 'unassigned') AS unassigned,"
        f" count(*) FILTER (WHERE cardinality(camera_codes) > 0) AS cams FROM {result}")).one()
    changed, pending, kept = int(row.stale) + int(row.new), False, 0
    if changed:
        pending = rebuilds_rollups(session, changed)
        with _bulk_rollups(session):
            kept = _write_changed(session, result, stale=bool(row.stale), new=bool(row.new))
            if pending:
                mark_pending(session, f"bulk assignment of {changed:,} events",
                             f"SELECT gridlink_local_day(reported_at) FROM {result}"  # noqa: S608
                             " WHERE NOT same")
            else:
                move_rollups(session, result)
    session.execute(text(f"DROP TABLE {result}"))
    return StagedCounts(row.n, changed - kept, row.covered, row.snapped, row.unassigned,
                        row.cams, pending, kept)


_SUPERSEDED = """
WITH locked AS MATERIALIZED (
    SELECT a.event_id, a.xmin::text::bigint AS xmin FROM event_assignments a
     WHERE a.event_id IN (SELECT event_id FROM {stage}) ORDER BY a.event_id FOR UPDATE OF a),
stale AS (
    SELECT v.id FROM unnest(CAST(:ids AS bigint[]), CAST(:xmins AS bigint[])) AS v(id, xmin)
      LEFT JOIN locked l ON l.event_id = v.id
     WHERE l.xmin IS DISTINCT FROM nullif(v.xmin, -1))
DELETE FROM {stage} s USING stale WHERE s.event_id = stale.id
"""
"""Lock the stored rows of the stage's events (in id order, as every bulk writer) and drop
from the stage the rows whose stored row is no longer the version read (``xmin``; -1: none
was stored): another writer rewrote, inserted or deleted it meanwhile."""


def write_changed(session: Session, rows: FirstAssignmentRows, ids: list[int],
                  seen_xmin: list[int]) -> StagedCounts:
    """Store a re-assignment's changed rows (``rows``: built in memory,
    :func:`geo.first_assignment_rows.first_assignment_rows` with ``only``), COPYed into a
    small stage and applied by :func:`write_staged` (rollups moved exactly, or their days
    left pending). ``ids``/``seen_xmin``: the events of ``rows`` and the ``xmin`` of their
    stored row when the run read it (-1: none stored); a row another writer rewrote since
    is locked, left as that writer wrote it and counted ``superseded``. Never commits."""
    if not rows.n:
        return StagedCounts(0, 0, 0, 0, 0, 0)
    stage = f"assign_{uuid.uuid4().hex[:12]}_changed"
    session.execute(text(f"CREATE TEMPORARY TABLE {stage} AS SELECT event_id, reported_at,"  # noqa: S608
                         f" {_LIST} FROM event_assignments WITH NO DATA"))
    with psycopg_connection(session).cursor().copy(
            f"COPY {stage} FROM STDIN (FORMAT binary)") as copy:
        copy.write(COPY_HEADER)
        for batch in rows.batches():
            copy.write(batch)
        copy.write(COPY_TRAILER)
    superseded = session.execute(text(_SUPERSEDED.format(stage=stage)),
                                 {"ids": ids, "xmins": seen_xmin}).rowcount  # type: ignore[attr-defined]
    counts = write_staged(session, f"(SELECT event_id AS id, {_LIST} FROM {stage})")  # noqa: S608
    session.execute(text(f"DROP TABLE {stage}"))
    return counts._replace(superseded=counts.superseded + int(superseded))


_COPY_FIRST = (f"COPY event_assignments (event_id, reported_at, {_LIST})"
               " FROM STDIN (FORMAT binary)")
_DUPLICATE = re.compile(r"\(event_id\)=\((\d+)\)")


def write_first_assignment(session: Session, rows: FirstAssignmentRows,
                           rollups: RollupInputs | None = None) -> StagedCounts:
    """COPY ``rows`` (:func:`geo.first_assignment_rows.first_assignment_rows`: the final
    rows of events that have no stored assignment, built in memory, id order) straight
    into ``event_assignments``, the rollup triggers standing aside, while a second thread
    counts ``rollups`` (:meth:`geo.first_assignment_rollups.RollupInputs.count`: numpy,
    which mostly releases the GIL, while this thread mostly waits on the socket); then write
    them (:func:`geo.first_assignment_rollups.write_rollups`) and mark pending refresh
    only the days other writers moved meanwhile, or, without
    ``rollups``, mark all their local days pending (the caller runs
    :func:`geo.rollup_refresh.refresh_rollups` after committing). Raises :class:`Conflict`
    naming the event when another job assigned one of them meanwhile (a duplicate key: the
    COPY fails whole, nothing is written; the transaction is then aborted). Never
    commits."""
    try:
        with ThreadPoolExecutor(1) as pool:
            counting = pool.submit(rollups.count) if rollups is not None else None
            with _bulk_rollups(session), psycopg_connection(session).cursor().copy(
                    _COPY_FIRST) as copy:
                copy.write(COPY_HEADER)
                for batch in rows.batches():
                    copy.write(batch)
                copy.write(COPY_TRAILER)
            counted = counting.result() if counting is not None else None
    except psycopg.errors.UniqueViolation as exc:
        found = _DUPLICATE.search(str(exc.diag.message_detail or ""))
        event = int(found[1]) if found else None
        raise Conflict(f"event {event} was assigned by another job meanwhile: nothing written",
                       [{"field": "event_id", "value": event}]) from exc
    job = f"bulk assignment of {rows.n:,} events"
    if counted is not None:
        moved = write_rollups(session, counted)
        if moved:
            mark_pending(session, f"{job} (days other writers moved meanwhile)",
                         "SELECT unnest(CAST(:days AS date[]))", {"days": moved})
        pending = bool(moved)
    else:
        pending = bool(rows.n)
        if pending:
            mark_pending(session, job, "SELECT unnest(CAST(:days AS date[])) UNION ALL"
                         " SELECT gridlink_local_day(unnest(CAST(:early AS timestamptz[])))",
                         {"days": rows.days, "early": rows.early})
    return StagedCounts(rows.n, rows.n, rows.covered, rows.snapped, rows.unassigned,
                        rows.with_cameras, pending)


def _bulk_rollups(session: Session) -> AbstractContextManager[None]:
    """``gridlink.assignment_rollups`` = :data:`BULK_ROLLUPS` for the statements of the block
    (the rollup triggers stand aside), restored after it."""
    return local_settings(session, {"gridlink.assignment_rollups": BULK_ROLLUPS})


_REASSIGN = text(
    "UPDATE event_assignments a SET grid_code = g.code, micro_grid_code = :micro,"
    " community_code = g.community_code, street_code = c.parent_code,"
    " district_code = s.parent_code, assigned_at = now()"
    " FROM grids g LEFT JOIN admin_areas c ON c.code = g.community_code"
    " LEFT JOIN admin_areas s ON s.code = c.parent_code"
    " WHERE a.event_id = :id AND g.code = :grid AND g.valid_to IS NULL")


def write_reassigned(session: Session, event_id: int, grid_code: str,
                     micro_code: str | None) -> None:
    """Move event ``event_id`` to the current grid ``grid_code`` (and micro-grid
    ``micro_code``): the grid chain follows the grid (community, street, district); the
    spatial answer (``assignment``, nearest grid, cameras) stays as computed. Raises
    :class:`NotFound` when the event has no assignment row or the grid is not current."""
    written = session.execute(_REASSIGN, {"id": event_id, "grid": grid_code,
                                          "micro": micro_code})
    if written.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"event {event_id} has no assignment to change (or grid {grid_code} "
                       "is not current)", [{"field": "id", "value": event_id}])
