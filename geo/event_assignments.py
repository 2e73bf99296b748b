"""The one writer of ``event_assignments``: where each event belongs (grid chain, nearest
grid, cameras), one narrow row per event, kept apart from the event's own row.

:func:`write_one` stores one :func:`geo.locate.locate` answer (a new event);
:func:`write_staged` stores a bulk run's results (:mod:`geo.assign`, :mod:`geo.assign_memory`,
:mod:`geo.distributed`), writing only the rows that changed; :func:`write_first_assignment`
COPYs a first assignment's rows built in memory (:mod:`geo.first_assignment_rows`);
:func:`write_changed` stores a re-assignment's changed rows, compared in memory
(:mod:`geo.assign_compare`), through a small stage applied by one statement. All stamp
``assigned_at = now()`` and copy the event's ``reported_at`` (migration 0026: reads join on
``(event_id, reported_at)`` so the planner prunes the monthly partitions of ``events``).
Readers use the view ``events_with_assignment`` (:data:`geo.events.EVENT_COLUMNS`).

The daily rollups (:mod:`geo.rollups`): a single-row write moves them through the statement
triggers on ``event_assignments``; :func:`write_staged` sets ``gridlink.assignment_rollups``
to ``bulk`` for its statements (the triggers then stand aside) and moves them once, one
``GROUP BY`` over its changed rows and one upsert (:data:`_ROLLUP_DELTA`), or, when it
changes most rollup keys (a redraw, a first assignment of the SQL steps), marks their days
pending refresh in the same transaction (:mod:`geo.rollup_refresh`; the caller refreshes
them after committing). :func:`write_first_assignment` and, when it moves most rollup keys,
:func:`write_changed` write the rollups counted in memory (:mod:`geo.first_assignment_rollups`)
with their rows. Never commits.
"""

from __future__ import annotations

import re
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, NamedTuple

import psycopg
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.db import local_settings
from geo.errors import Conflict, NotFound
from geo.first_assignment_rollups import (
    CountedRollups,
    RollupInputs,
    RollupWriter,
    rollup_base,
    staged_rollup_inputs,
)
from geo.first_assignment_rows import FirstAssignmentRows, copy_binary
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
          FROM {rows}) f
 CROSS JOIN LATERAL (VALUES (-1, {was_f}), (1, {key_f}))
       m(delta, district_code, street_code, community_code, grid_code)
"""
"""Per changed row (a relation of generated SQL), two daily rollup rows: -1 from the
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


def event_moves(rows: str) -> str:
    """:data:`_EVENT_MOVES` for the changed rows ``rows`` (a table or an aliased subquery,
    generated SQL: the new key, the stored one as ``was_*``, the event's ``reported_at`` and
    :data:`ROLLUP_EVENT_COLUMNS`)."""
    return _EVENT_MOVES.format(key=", ".join(ROLLUP_KEY), rows=rows,
                               was=", ".join(f"was_{c}" for c in ROLLUP_KEY),
                               key_f=", ".join(f"f.{c}" for c in ROLLUP_KEY),
                               was_f=", ".join(f"f.was_{c}" for c in ROLLUP_KEY))


def move_rollups(session: Session, rows: str) -> None:
    """Move the daily rollups for the changed rows ``rows`` (see :func:`event_moves`) in
    place, one grouped upsert (:data:`_ROLLUP_DELTA`)."""
    with local_settings(session, {"work_mem": DELTA_WORK_MEM}):
        session.execute(text(_ROLLUP_DELTA.format(key=", ".join(ROLLUP_KEY),
                                                  moves=event_moves(rows))))


REBUILD_FROM_SHARE = 0.15
"""A bulk write leaves the rollups pending refresh (:mod:`geo.rollup_refresh`: rebuilt and
swapped by the command after it commits) instead of upserting its move when its changed rows
are at least this share of the stored daily rollup rows: a first assignment (every event
leaves the few "no grid" keys) or a redraw moving a fifth of a city's events. Measured at
10^6 events (1.16 M rollup rows, load ~6): the grouped upsert of 2 × 10^5 changed rows took
57 s, about what the refresh of every day takes after the commit (63 s); 10^4 rows ~3 s."""


ESTIMATE_FROM_ROWS = 50_000
"""From this many rows on (as of the table's statistics), the daily rollup rows are taken
from the statistics (:data:`_DAILY_ROWS`); below, counted (a few milliseconds)."""
_DAILY_ROWS = text(
    "SELECT CASE WHEN c.reltuples >= :rows THEN c.reltuples"
    " ELSE (SELECT count(*) FROM event_daily_counts) END"
    " FROM pg_class c WHERE c.oid = 'event_daily_counts'::regclass")
"""The stored daily rollup rows: ``reltuples`` of the last ``ANALYZE`` or ``VACUUM`` (the
refresh's, geo.rollup_rebuild, or autovacuum's, which follows every 10 % of rows changed),
instead of a ``count(*)`` (0.35 s at 1.16 M rows, load ~5); a small or never analysed table
(``reltuples`` -1) is counted. Not scaled by the pages now, as the planner does: the
triggers' upserts leave dead rows, and after a 20 % move the pages had grown 30 % since the
last ``ANALYZE``, so the scaled figure (1.5 M for 1.16 M rows) sent a 20 % redraw to the
grouped upsert in place (28.7 s of write instead of ~3 s; bench/RESULTS.md)."""


def stored_daily_rows(session: Session) -> float:
    """The stored daily rollup rows, counted or from the statistics (:data:`_DAILY_ROWS`)."""
    return float(session.execute(_DAILY_ROWS, {"rows": ESTIMATE_FROM_ROWS}).scalar_one())


def rebuilds_rollups(session: Session, changed: int) -> bool:
    """Whether a bulk write of ``changed`` rows leaves the rollups pending refresh
    (:data:`REBUILD_FROM_SHARE` of the stored daily rollup rows, :func:`stored_daily_rows`:
    a share of an estimate, so the choice near the threshold may go either way; both are
    exact)."""
    return changed >= REBUILD_FROM_SHARE * stored_daily_rows(session)


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
                move_rollups(session, f"(SELECT * FROM {result} WHERE NOT same) r")  # noqa: S608
    session.execute(text(f"DROP TABLE {result}"))
    return StagedCounts(row.n, changed - kept, row.covered, row.snapped, row.unassigned,
                        row.cams, pending, kept)


_STAGE_SET = ", ".join(f"{c} = s.{c}" for c in COLUMNS)
_UPDATE_SEEN = (f"UPDATE event_assignments a SET {_STAGE_SET}, reported_at = s.reported_at,"  # noqa: S608
                " assigned_at = now() FROM {stage} s{was_join}"
                " WHERE a.event_id = s.event_id AND a.xmin = s.seen_xmin RETURNING {returning}")
"""A stale row updated from the stage only where it still holds the version the run read
(its ``xmin``; rows that match nothing are the superseded ones): a row another writer
rewrote after the statement's snapshot is rechecked against its new version (READ
COMMITTED's recheck) and skipped, so no lock pass is needed. A dispatcher's reassignment
rewrites the row (:func:`write_reassigned`), so it is kept the same way."""
_INSERT_NEW = (f"INSERT INTO event_assignments (event_id, reported_at, {_LIST})"  # noqa: S608
               f" SELECT s.event_id, s.reported_at, {', '.join('s.' + c for c in COLUMNS)}"
               " FROM {stage} s WHERE s.seen_xmin IS NULL AND EXISTS (SELECT FROM events e"
               " WHERE e.id = s.event_id AND e.reported_at = s.reported_at)"
               " ORDER BY s.event_id ON CONFLICT (event_id) DO NOTHING RETURNING {returning}")
"""A new row (none was stored when the run read) inserted in id order while its event still
exists; one another writer inserted meanwhile stays (superseded)."""
_WAS_JOIN = " JOIN event_assignments o ON o.event_id = s.event_id AND o.xmin = s.seen_xmin"
"""The stored row as the run read it, beside the updated one: its key is the rollup key the
update leaves (the ``xmin`` names that version)."""
_KEY = ", ".join(ROLLUP_KEY)
_WRITTEN_UPDATED = ("a.event_id, a.reported_at, " + ", ".join(f"a.{c}" for c in ROLLUP_KEY)
                    + ", " + ", ".join(f"o.{c} AS was_{c}" for c in ROLLUP_KEY))
_WRITTEN_INSERTED = f"event_id, reported_at, {_KEY}"
_WRITTEN = ("(event_id bigint, reported_at timestamptz, "
            + ", ".join([f"{c} text" for c in ROLLUP_KEY] + [f"was_{c} text" for c in ROLLUP_KEY])
            + ")")
"""The columns of the written rows kept for the rollups' move (``was_*`` NULL: none stored)."""


_PROBE_BY_ID = {"enable_hashjoin": "off", "enable_mergejoin": "off"}
"""The stage (in id order) probes the primary key row by row: hashing every stored row
instead took 0.8–1.0 s more at 2 × 10^5 changed rows of 10^6 (load ~5)."""


def _write_stage(session: Session, stage: str, *, keep_written: str | None) -> int:
    """Apply the stage of :func:`write_changed` in one statement: stale rows updated where
    still as read (:data:`_UPDATE_SEEN`), new ones inserted (:data:`_INSERT_NEW`); returns
    the rows written. ``keep_written``: a table (generated name) given each written row's
    ``event_id``, ``reported_at``, rollup key and stored key (:data:`_WRITTEN`), for the
    rollups' move."""
    with local_settings(session, _PROBE_BY_ID):
        return _apply_stage(session, stage, keep_written)


def _apply_stage(session: Session, stage: str, keep_written: str | None) -> int:
    if keep_written is None:
        update = _UPDATE_SEEN.format(stage=stage, was_join="", returning="1")
        insert = _INSERT_NEW.format(stage=stage, returning="1")
        return int(session.execute(text(
            f"WITH up AS ({update}), put AS ({insert})"  # noqa: S608
            " SELECT (SELECT count(*) FROM up) + (SELECT count(*) FROM put)")).scalar_one())
    update = _UPDATE_SEEN.format(stage=stage, was_join=_WAS_JOIN, returning=_WRITTEN_UPDATED)
    insert = _INSERT_NEW.format(stage=stage, returning=_WRITTEN_INSERTED)
    session.execute(text(f"CREATE TEMPORARY TABLE {keep_written} {_WRITTEN}"))
    nulls = ", ".join(["NULL"] * len(ROLLUP_KEY))
    written = session.execute(text(
        f"WITH up AS ({update}), put AS ({insert}) INSERT INTO {keep_written}"  # noqa: S608
        f" SELECT * FROM up UNION ALL SELECT *, {nulls} FROM put"))
    return int(written.rowcount)  # type: ignore[attr-defined]


def write_changed(session: Session, rows: FirstAssignmentRows) -> StagedCounts:
    """Store a re-assignment's changed rows (``rows``: built in memory,
    :func:`geo.first_assignment_rows.first_assignment_rows` with ``only``, ``seen_xmin``
    and ``stored_keys``: each row carries the ``xmin`` of its stored row when the run read
    it, and knows that row's rollup key), COPYed into a small stage and applied by one
    statement (:func:`_write_stage`): a row another writer rewrote, inserted or deleted
    since the run read it is left as that writer left it and counted ``superseded``.

    The daily rollups, the rollup triggers standing aside: when the rows are fewer than
    :data:`REBUILD_FROM_SHARE` of the rollup rows, the written rows' move upserted in place
    (:func:`move_rollups`); from that share on (a redraw), counted in memory as a first
    assignment counts them (:func:`geo.first_assignment_rollups.staged_rollup_inputs`: the
    stored daily rows read, then the changed rows' events' facts; the count runs in a
    second thread while the statement writes) and written with the rows
    (:func:`_rollups_written`), but only when every row was written: any row superseded,
    or an event no longer as read, and the rows' local days are marked pending refresh
    instead (as are they when a mark was pending already). Never commits."""
    if not rows.n:
        return StagedCounts(0, 0, 0, 0, 0, 0)
    stage = f"assign_{uuid.uuid4().hex[:12]}_changed"
    session.execute(text(f"CREATE TEMPORARY TABLE {stage} AS SELECT event_id, reported_at,"  # noqa: S608
                         f" {_LIST}, xmin AS seen_xmin FROM event_assignments WITH NO DATA"))
    copy_binary(session, f"COPY {stage} FROM STDIN (FORMAT binary)", rows.batches())
    if rebuilds_rollups(session, rows.n):
        n, pending = _write_rebuilding(session, stage, rows)
    else:
        n, pending = _write_moving(session, stage), False
    session.execute(text(f"DROP TABLE {stage}"))
    return StagedCounts(rows.n, n, rows.covered, rows.snapped, rows.unassigned,
                        rows.with_cameras, pending, rows.n - n)


def _write_moving(session: Session, stage: str) -> int:
    """Apply ``stage`` (:func:`write_changed`) and upsert the written rows' move of the
    daily rollups in place; returns the rows written."""
    written = f"{stage}_written"
    with _bulk_rollups(session):
        n = _write_stage(session, stage, keep_written=written)
        events = ", ".join(f"e.{c}" for c in ROLLUP_EVENT_COLUMNS)
        move_rollups(session, f"(SELECT w.*, {events} FROM {written} w JOIN events e"  # noqa: S608
                              " ON e.id = w.event_id AND e.reported_at = w.reported_at) r")
    session.execute(text(f"DROP TABLE {written}"))
    return n


def _write_rebuilding(session: Session, stage: str, rows: FirstAssignmentRows
                      ) -> tuple[int, bool]:
    """Apply ``stage`` (:func:`write_changed`, the rows of ``rows``) while a second thread
    counts the rollups (read first: the stored daily rows, then the events' facts), then
    write them if every row was written; returns the rows written and whether days were
    left pending refresh."""
    base = rollup_base(session)
    inputs = staged_rollup_inputs(session, base, rows, stage) if base is not None else None
    with _RollupsBeside(session, inputs) as beside, _bulk_rollups(session):
        n = _write_stage(session, stage, keep_written=None)
        counted = beside.counted()
    return n, _rollups_written(session, rows, counted if n == rows.n else None,
                               beside.writer)


class _RollupsBeside:
    """A bulk write's rollups counted (:meth:`RollupInputs.count`) and their tables built
    aside (:meth:`RollupWriter.build`) in a second thread while the ``with`` block writes
    the rows; the tables built are dropped when the block raises. Without inputs (the
    rollups left pending refresh), nothing."""

    def __init__(self, session: Session, inputs: RollupInputs | None) -> None:
        self.writer = RollupWriter(session) if inputs is not None else None
        self._inputs = inputs
        self._pool = ThreadPoolExecutor(1)
        self._counting: Future[CountedRollups] | None = None

    def __enter__(self) -> _RollupsBeside:
        if self._inputs is not None and self.writer is not None:
            self._counting = self._pool.submit(self.writer.build, self._inputs)
        return self

    def counted(self) -> CountedRollups | None:
        """The counted rollups, their tables built (waits for the second thread)."""
        return self._counting.result() if self._counting is not None else None

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._pool.shutdown(wait=True)
        if kind is not None and self.writer is not None:
            self.writer.discard()


def _rollups_written(session: Session, rows: FirstAssignmentRows,
                     counted: CountedRollups | None, writer: RollupWriter | None) -> bool:
    """Swap in the ``counted`` rollups of ``rows`` (their tables built by ``writer``,
    :meth:`geo.first_assignment_rollups.RollupWriter.write`) and mark pending refresh the
    days other writers moved meanwhile; without ``counted``, drop what ``writer`` built and
    mark every local day of ``rows`` pending (the caller runs
    :func:`geo.rollup_refresh.refresh_rollups` after committing). Returns whether any day
    was left pending."""
    if counted is None or writer is None:
        if writer is not None:
            writer.discard()
        if rows.n:
            _mark_days(session, rows)
        return bool(rows.n)
    moved = writer.write(session, counted)
    if moved:
        mark_pending(session, f"bulk assignment of {rows.n:,} events (days other writers"
                              " moved meanwhile)", "SELECT unnest(CAST(:days AS date[]))",
                     {"days": moved})
    return bool(moved)


def _mark_days(session: Session, rows: FirstAssignmentRows) -> None:
    """Mark the local days of ``rows`` pending refresh (:func:`mark_pending`; the days come
    from the rows, computed in memory: no statement reads them back)."""
    mark_pending(session, f"bulk assignment of {rows.n:,} events",
                 "SELECT unnest(CAST(:days AS date[])) UNION ALL"
                 " SELECT gridlink_local_day(unnest(CAST(:early AS timestamptz[])))",
                 {"days": rows.days, "early": rows.early})


_COPY_FIRST = (f"COPY event_assignments (event_id, reported_at, {_LIST})"
               " FROM STDIN (FORMAT binary)")
_DUPLICATE = re.compile(r"\(event_id\)=\((\d+)\)")


def write_first_assignment(session: Session, rows: FirstAssignmentRows,
                           rollups: RollupInputs | None = None) -> StagedCounts:
    """COPY ``rows`` (:func:`geo.first_assignment_rows.first_assignment_rows`: the final
    rows of events that have no stored assignment, built in memory, id order) straight
    into ``event_assignments``, the rollup triggers standing aside, while a second thread
    counts ``rollups`` (:meth:`geo.first_assignment_rollups.RollupInputs.count`: numpy,
    which mostly releases the GIL, while this thread mostly waits on the socket) and builds
    their tables on side connections (:class:`geo.first_assignment_rollups.RollupWriter`:
    two more server processes while this one inserts the rows); then swap them in and mark
    pending refresh only the days other writers moved meanwhile, or, without
    ``rollups``, mark all their local days pending (the caller runs
    :func:`geo.rollup_refresh.refresh_rollups` after committing). Raises :class:`Conflict`
    naming the event when another job assigned one of them meanwhile (a duplicate key: the
    COPY fails whole, nothing is written; the transaction is then aborted). Never
    commits."""
    try:
        with _RollupsBeside(session, rollups) as beside:
            with _bulk_rollups(session):
                copy_binary(session, _COPY_FIRST, rows.batches())
            counted = beside.counted()
    except psycopg.errors.UniqueViolation as exc:
        found = _DUPLICATE.search(str(exc.diag.message_detail or ""))
        event = int(found[1]) if found else None
        raise Conflict(f"event {event} was assigned by another job meanwhile: nothing written",
                       [{"field": "event_id", "value": event}]) from exc
    return StagedCounts(rows.n, rows.n, rows.covered, rows.snapped, rows.unassigned,
                        rows.with_cameras, _rollups_written(session, rows, counted,
                                                            beside.writer))


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
