"""The grid-code index of ``event_assignments`` (``ix_event_assignments_grid_code``,
migration 0004) off a large first assignment's COPY, built concurrently after its commit.

Maintaining that btree row by row is about half of a 10^6-row first assignment's insert;
built once after the commit it takes about a second (bench/RESULTS.md). So, before the
assignment's transaction and outside it (:func:`before_bulk_assignment`), when the job is a
city's first assignment (scope ``all`` or ``unassigned``, no stored assignment, at least
:data:`OFF_FROM_EVENTS` events) the index is recorded in ``pending_indexes``
(:mod:`geo.importer.pending_indexes`) and dropped concurrently; after the commit
(:func:`after_bulk_assignment`) it is built concurrently. Neither blocks readers or
writers. A process that dies in between leaves the row: ``gridlink db indexes``, the API's
start-up, or the next bulk assignment (its :func:`before_bulk_assignment`) builds it.

While the index is missing, the area filters on ``grid_code`` (geo.events.AREA_FILTER, the
maps' ``grid_code LIKE '<prefix>%'``) scan ``event_assignments`` instead (measured in
bench/RESULTS.md). Such a job also leaves the rollups' secondary indexes to after its commit
(:func:`builds_after_commit`, geo.first_assignment_rollups): it commits the rollup tables
with their unique keys, the three others are built with the grid-code index.

The callers: ``gridlink assign`` (:func:`grid_code_index_off` around its
transaction) and the API's assign job (its work's first step, its ``after_commit``, and
its ``on_rollback`` step when the job fails or is cancelled: geo.jobs).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.importer.pending_indexes import (
    build_pending_indexes,
    indexes_built_after_commit,
    pending,
    record_pending,
)

GRID_CODE_INDEX = "ix_event_assignments_grid_code"
TABLE = "event_assignments"
FIRST_SCOPES = ("all", "unassigned")
"""Scopes whose job assigns every never-assigned event (a first assignment when none is)."""
OFF_FROM_EVENTS = 100_000
"""From this many events on, a first assignment runs without the grid-code index."""


def _first_assignment_ahead(engine: Engine, scope: str) -> bool:
    """Whether a bulk assignment of ``scope`` is a first assignment of at least
    :data:`OFF_FROM_EVENTS` events (no stored assignment at all)."""
    if scope not in FIRST_SCOPES:
        return False
    with engine.connect() as conn:
        return bool(conn.scalar(text(
            "SELECT NOT EXISTS (SELECT FROM event_assignments)"
            " AND (SELECT count(*) FROM (SELECT FROM events LIMIT :n) x) >= :n"),
            {"n": OFF_FROM_EVENTS}))


def before_bulk_assignment(engine: Engine, scope: str) -> bool:
    """Outside (before) the transaction of a bulk assignment of ``scope``: drop the
    grid-code index concurrently, recorded pending first, when the job is a large first
    assignment; otherwise build it if an earlier job left it pending. Whether it is off."""
    if not _first_assignment_ahead(engine, scope):
        with engine.connect() as conn:
            left = pending(conn, TABLE)
        if left:
            build_pending_indexes(engine)
        return False
    with Session(engine) as session, session.begin():
        definition = session.scalar(text("SELECT pg_get_indexdef(to_regclass(:n))"),
                                    {"n": GRID_CODE_INDEX})
        if definition is None:  # already off: a dead job's leftover, pending
            return bool(pending(session, TABLE))
        record_pending(session, GRID_CODE_INDEX, TABLE, str(definition), None)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {GRID_CODE_INDEX}"))
    return True


def builds_after_commit(session: Session) -> bool:
    """In a bulk assignment's transaction: whether its caller builds the pending indexes
    after the commit (:func:`after_bulk_assignment`: the grid-code index went off for it, or
    a dead job's is still pending and the next build takes it along), so what the job
    leaves pending besides is built then too (geo.first_assignment_rollups)."""
    return bool(pending(session, TABLE))


def after_bulk_assignment(engine: Engine) -> dict[str, Any]:
    """After the commit: build the pending indexes (:func:`indexes_built_after_commit`)."""
    return indexes_built_after_commit(engine)


@contextmanager
def grid_code_index_off(engine: Engine, scope: str) -> Iterator[bool]:
    """Around (outside) a bulk assignment's transaction: :func:`before_bulk_assignment`
    before, :func:`after_bulk_assignment` after when the index went off (also when the job
    failed: the index comes back either way)."""
    off = before_bulk_assignment(engine, scope)
    try:
        yield off
    finally:
        if off:
            after_bulk_assignment(engine)
