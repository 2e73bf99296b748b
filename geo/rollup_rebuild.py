"""The rollups built afresh and swapped in, for the refresh of a bulk write that moved most of
their keys (geo.rollup_refresh).

A first bulk assignment moves every event from the "no grid" key to its grid's: at 10^6
events over 72,263 grids that is ~970,000 new ``event_daily_counts`` rows and, through the
statement triggers of migration 0027, ~70,000 monthly and ~1.1 M per-area rows. Upserting
them through their indexes and the triggers took 75–80 s (load 6–11); building each table
without indexes, one ``GROUP BY`` each, then indexing it, 39–49 s in the same rounds
(bench/RESULTS.md, "First persisted bulk assignment: rollups rebuilt and swapped").

:func:`rebuild_rollups` makes ``<table>_rebuilt`` for each of :data:`TABLES` (same columns,
``NOT NULL``, defaults and storage options): the daily rollups from the rows the caller
gives (geo.rollup_refresh: the stored rows of the days not pending, so counts of archived
months, which no event holds any more, are kept, and a recount of the pending days), the
derived ones summed from the new daily rows (the triggers' sums of migration 0027), each
then given the old table's indexes (from the catalogue, built after the load) and
statistics. Then, in the caller's transaction, it drops the old tables, renames the new
ones and their indexes into their place and recreates the old tables' triggers and grants.

Locks: the build takes none (readers and writers go on). ``before_swap`` (the refresh:
:func:`lock_for_rebuild`, ``EXCLUSIVE`` on ``event_daily_counts``, then the writers' moves
since the build's snapshot) runs once the new tables are indexed; every writer of the
rollups then waits until the commit and writes into the new tables (PostgreSQL looks the
name up again after the wait), so no count is lost. The swap (drop, renames, triggers:
milliseconds) takes ``ACCESS EXCLUSIVE`` on the three tables: readers wait from the swap
to the commit. Never commits.
"""

# ruff: noqa: S608 (every SQL below is built from this module's constant names and fragments)

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.db import local_settings
from geo.importer.pending_indexes import record_pending

DAILY, MONTHLY, AREA = "event_daily_counts", "event_monthly_counts", "event_area_daily_counts"
TABLES = (DAILY, MONTHLY, AREA)
"""The rollups swapped together: the daily ones and the two derived from them (0027)."""

DAILY_KEY = "day, district_code, street_code, community_code, grid_code, category, status"
DAILY_COUNTS = ("events", "valid", "due", "closed_on_time", "closed_postponed",
                "closed_first_time")

HANDLED = "CASE WHEN r.status IN ('resolved', 'closed') THEN r.valid ELSE 0 END"
DERIVED_SQL = {
    MONTHLY: (
        "month, district_code, street_code, community_code, grid_code, events, valid, handled,"
        " closed, closed_on_time, closed_postponed, closed_first_time",
        "SELECT date_trunc('month', r.day)::date, r.district_code, r.street_code,"
        " r.community_code, r.grid_code, sum(r.events), sum(r.valid), sum(" + HANDLED + "),"
        " sum(CASE WHEN r.status = 'closed' THEN r.valid ELSE 0 END), sum(r.closed_on_time),"
        " sum(r.closed_postponed), sum(r.closed_first_time) FROM {daily} r"
        " WHERE r.status <> 'duplicate' GROUP BY 1, 2, 3, 4, 5"),
    AREA: (
        "area_code, day, category, parent_code, events, valid, handled, due, closed_on_time",
        "SELECT l.area_code, r.day, r.category, l.parent_code, sum(r.events), sum(r.valid),"
        " sum(" + HANDLED + "), sum(r.due), sum(r.closed_on_time) FROM {daily} r"
        " CROSS JOIN LATERAL (VALUES (NULL::text, r.district_code),"
        " (r.district_code, r.street_code), (r.street_code, r.community_code))"
        " l(parent_code, area_code) WHERE r.status <> 'duplicate' AND l.area_code IS NOT NULL"
        " GROUP BY 1, 2, 3, 4"),
}
"""The derived rollups summed from daily rows ``{daily}`` (what the statement triggers of
migration 0027 add up row set by row set; status ``duplicate`` left out). Not ordered: a
hash aggregate, the indexes are built afterwards (the per-area rows: 9.7 s instead of
13.9 s sorted, 1.1 M rows at 10^6 events, load ~5)."""

REBUILD_WORK_MEM = "256MB"
"""``work_mem`` and ``maintenance_work_mem`` of the rebuild's statements (sorts of ~10^6
rollup rows in memory)."""
REBUILD_MEMORY = dict.fromkeys(("work_mem", "maintenance_work_mem"), REBUILD_WORK_MEM)


def lock_for_rebuild(session: Session) -> None:
    """Make every writer of the rollups wait until this transaction ends (readers go on)."""
    session.execute(text(f"LOCK TABLE {DAILY} IN EXCLUSIVE MODE"))


def rebuild_rollups(session: Session, daily_rows: str, params: dict[str, Any],
                    step: Callable[[str], None] = lambda name: None, *, with_sql: str = "",
                    before_swap: Callable[[], None] = lambda: None) -> None:
    """Build the rollups afresh from ``daily_rows`` and swap them in.

    Parameters
    ----------
    daily_rows : a query (SQL generated by the caller, never input) giving every daily
        rollup row of the new table, one per key, in the columns ``day`` + the key +
        :data:`DAILY_COUNTS`; ``params`` are its bound values.
    step : called with the name of each step done (``daily``, the derived tables, ``swap``).
    with_sql : a ``WITH`` clause of the daily rows' statement (e.g. a data-modifying one
        that must see the same snapshot), or empty.
    before_swap : called once the new tables are indexed, before the swap's lock.
    """
    with local_settings(session, REBUILD_MEMORY):
        create_rebuilt(session, DAILY)
        session.execute(text(f"{with_sql} INSERT INTO {DAILY}_rebuilt ({DAILY_KEY},"
                             f" {', '.join(DAILY_COUNTS)}) {daily_rows}"), params)
        step("daily")
        for table, (columns, select) in DERIVED_SQL.items():
            create_rebuilt(session, table)
            session.execute(text(f"INSERT INTO {table}_rebuilt ({columns}) "
                                 + select.format(daily=f"{DAILY}_rebuilt")))
            step(table)
        swap_rebuilt(session, before_swap)
    step("swap")


def create_rebuilt(session: Session, table: str) -> None:
    """``<table>_rebuilt``: ``table``'s columns, NOT NULLs, defaults and storage options,
    without its indexes and triggers (one left by a job that died after building it on a
    side connection, geo.first_assignment_rollups, dropped first: the caller holds
    :data:`geo.rollup_refresh.REFRESH_LOCK`, so no job is building it now)."""
    options = session.execute(text(
        "SELECT array_to_string(reloptions, ', ') FROM pg_class WHERE oid = to_regclass(:t)"),
        {"t": table}).scalar_one()
    with_options = f" WITH ({options})" if options else ""
    session.execute(text(f"DROP TABLE IF EXISTS {table}_rebuilt"))  # a dead job's, built aside
    session.execute(text(f"CREATE TABLE {table}_rebuilt (LIKE {table} INCLUDING DEFAULTS"
                         f" INCLUDING CONSTRAINTS INCLUDING STORAGE){with_options}"))


_INDEXES_SQL = """
SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisunique FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass(:t)
"""

_TRIGGERS_AND_GRANTS_SQL = """
SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = to_regclass(:t) AND NOT tgisinternal
UNION ALL
SELECT format('GRANT %s ON %I TO %s', a.privilege_type, :t,
              CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END)
  FROM pg_class c, aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
 WHERE c.oid = to_regclass(:t) AND a.grantee <> c.relowner
"""
"""The statements that give a table its triggers and grants again."""


@dataclass(frozen=True)
class RebuiltIndex:
    """One index of a rollup table, as built on its ``_rebuilt`` table: its name, its
    definition on the table (``pg_get_indexdef``), the statement that builds it on
    ``<table>_rebuilt`` (named ``<name>_rebuilt``) and the rename that gives it its name after
    the swap; ``unique``: a key the rollups' writers upsert through (``ON CONFLICT``)."""

    name: str
    table: str
    definition: str
    build: str
    rename: str
    unique: bool


def rebuilt_indexes(session: Session, table: str) -> list[RebuiltIndex]:
    """``table``'s indexes as built on ``<table>_rebuilt`` (from the catalogue: no bind
    parameters)."""
    indexes = []
    for name, definition, unique in session.execute(text(_INDEXES_SQL), {"t": table}).all():
        old = f"INDEX {name} ON public.{table} "
        new = f"INDEX {name}_rebuilt ON public.{table}_rebuilt "
        if old not in definition:
            raise RuntimeError(f"unexpected definition of index {name}: {definition}")
        indexes.append(RebuiltIndex(name, table, definition, definition.replace(old, new, 1),
                                    f"ALTER INDEX {name}_rebuilt RENAME TO {name}", unique))
    return indexes


def swap_rebuilt(session: Session, before_swap: Callable[[], None], *,
                 built: Collection[RebuiltIndex] | None = None,
                 deferred: Collection[RebuiltIndex] = ()) -> None:
    """Replace each of :data:`TABLES` by its ``_rebuilt`` table, indexed and analysed
    first, and then ``before_swap`` is called; then, under ``ACCESS EXCLUSIVE`` (readers
    wait until the commit), the old tables dropped, the new ones renamed and given the old
    ones' triggers and grants. ``built``: the indexes built (and the tables analysed) on side
    connections already, or None to build every index here. The indexes ``deferred``, and
    any other an index builder added to the old tables since ``built`` was listed, are not
    built: they are recorded in ``pending_indexes``, to be built concurrently after the
    commit (geo.importer.pending_indexes)."""
    renames = []
    for table in TABLES:
        for index in rebuilt_indexes(session, table):
            if built is not None and index in built:
                renames.append(index.rename)
            elif index in deferred or built is not None:
                record_pending(session, index.name, table, index.definition, None)
            else:
                session.connection().exec_driver_sql(index.build)
                renames.append(index.rename)
    if built is None:
        session.execute(text(f"ANALYZE {', '.join(f'{t}_rebuilt' for t in TABLES)}"))
    before_swap()
    recreate = [statement for table in TABLES for statement in session.execute(
        text(_TRIGGERS_AND_GRANTS_SQL), {"t": table}).scalars()]
    session.execute(text(f"LOCK TABLE {', '.join(TABLES)} IN ACCESS EXCLUSIVE MODE"))
    session.execute(text(f"DROP TABLE {', '.join(TABLES)}"))
    for table in TABLES:
        session.execute(text(f"ALTER TABLE {table}_rebuilt RENAME TO {table}"))
    for statement in renames + recreate:  # from the catalogue: no bind parameters
        session.connection().exec_driver_sql(statement)
