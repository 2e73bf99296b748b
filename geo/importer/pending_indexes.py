"""Pending indexes: what a first load left for after its commit, and how it gets built.

A deferring first load (:mod:`geo.importer.indexes`) writes each index it did not build
again into ``pending_indexes`` (migration 0034: name, table, ``pg_get_indexdef``) in its own
transaction. After the commit, :func:`build_pending_indexes` builds them without blocking
readers or writers: ``CREATE INDEX CONCURRENTLY`` cannot run on a partitioned table, so, as
the PostgreSQL manual describes, the parent's index is created ``ON ONLY`` the parent
(invalid, instantly), each partition's copy concurrently, then attached; the parent's index
turns valid when every partition's is attached. The row is deleted then.

A process stopped half way (killed after the commit) leaves the rows, maybe an invalid
parent index and a partition's invalid copy: :func:`build_pending_indexes` drops such
leftovers and goes on; the next events import, if it comes first, builds them in its own
transaction (:func:`built_in_transaction`). One builder at a time (an advisory lock); an
import that finds a builder at work leaves the rows to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

BUILD_LOCK = 1_820_034
"""Advisory lock id: one builder of pending indexes at a time."""
_COPY_NAME = "quote_ident(left(r.relname || '_' || :i, 63))"
"""SQL: the name of partition ``r``'s copy of index ``:i`` (``<partition>_<index>``, quoted)."""
_DEFINITION = re.compile(r"^CREATE (?:UNIQUE )?INDEX \S+ ON ONLY \S+ (USING .+)$")
"""A partitioned index's ``pg_get_indexdef``: group 1 is what follows the table."""


def record_pending(session: Session, name: str, table: str, definition: str,
                   import_id: int | None) -> None:
    """Note that index ``name`` of ``table`` (``definition`` as ``pg_get_indexdef`` gives it)
    is to be built after the commit of the caller's transaction (never commits)."""
    session.execute(text(
        "INSERT INTO pending_indexes (name, table_name, definition, import_id) "
        "VALUES (:n, :t, :d, :i) ON CONFLICT (name) DO UPDATE SET definition = :d"),
        {"n": name, "t": table, "d": definition, "i": import_id})


def pending(session: Session | Connection, table: str | None = None) -> list[str]:
    """Names of the indexes waiting to be built (of ``table``; None: all), oldest first."""
    return [str(n) for n in session.scalars(text(
        "SELECT name FROM pending_indexes WHERE table_name = COALESCE(:t, table_name) "
        "ORDER BY since, name"), {"t": table})]


def built_in_transaction(session: Session, table: str) -> list[str]:
    """Build, in the caller's transaction, the indexes of ``table`` still pending (a process
    stopped before building them), unless a builder is at work; returns their names. Locks
    ``table`` against writers while building (as any ``CREATE INDEX``). Never commits."""
    rows = session.execute(text(
        "SELECT name, definition FROM pending_indexes WHERE table_name = :t ORDER BY name"),
        {"t": table}).all()
    if not rows or not session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"),
                                      {"k": BUILD_LOCK}):
        return []
    for name, definition in rows:
        if not _valid(session, name):
            session.execute(text(f"DROP INDEX IF EXISTS {name}"))
            for child in _leftover_copies(session, name, table):
                session.execute(text(f"DROP INDEX IF EXISTS {child}"))
            session.execute(text(str(definition).replace(" ON ONLY ", " ON ", 1)))
    session.execute(text("DELETE FROM pending_indexes WHERE table_name = :t"), {"t": table})
    return [str(name) for name, _ in rows]


BUILDERS = 2
"""Tables whose pending indexes are built at once, each on a connection of its own (a
table's own indexes one after the other: a concurrent build holds ``SHARE UPDATE
EXCLUSIVE`` on its table, which another build of the same table would wait for)."""


def build_pending_indexes(engine: Engine, progress: Callable[[str], None] | None = None
                          ) -> list[str]:
    """Build every pending index without blocking readers or writers (``CREATE INDEX
    CONCURRENTLY``, outside any transaction), each deleted from ``pending_indexes`` once
    valid, :data:`BUILDERS` tables at a time; ``progress`` is called with each name when
    its table's turn comes. Returns the names built (oldest first); none when another
    builder is at work (it builds them)."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        if not conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": BUILD_LOCK}):
            return []
        try:
            rows = conn.execute(text("SELECT name, table_name, definition FROM pending_indexes"
                                     " ORDER BY since, name")).all()
            by_table: dict[str, list[tuple[str, str]]] = {}
            for name, table, definition in rows:
                by_table.setdefault(str(table), []).append((str(name), str(definition)))

            def build_table(table: str) -> list[str]:
                done = []
                with engine.connect() as own:
                    own = own.execution_options(isolation_level="AUTOCOMMIT")
                    for name, definition in by_table[table]:
                        if progress is not None:
                            progress(name)
                        if _built_concurrently(own, name, table, definition):
                            own.execute(text("DELETE FROM pending_indexes WHERE name = :n"),
                                        {"n": name})
                            done.append(name)
                return done

            with ThreadPoolExecutor(BUILDERS) as pool:
                built = {name for names in pool.map(build_table, by_table) for name in names}
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": BUILD_LOCK})
    return [str(name) for name, _, _ in rows if name in built]


def indexes_built_after_commit(engine: Engine) -> dict[str, Any]:
    """:func:`build_pending_indexes`, as an import job's result says it: the indexes built,
    those still pending (another builder's, or none) and when it ended (UTC, ISO 8601)."""
    built = build_pending_indexes(engine)
    with engine.connect() as conn:
        left = pending(conn)
    return {"indexes_built": built, "indexes_pending": left,
            "indexes_done_at": datetime.now(UTC).isoformat(timespec="seconds")}


def _built_concurrently(conn: Connection, name: str, table: str, definition: str) -> bool:
    """Build index ``name`` of ``table`` concurrently (see the module docstring); whether it
    is valid at the end. Only catalogue identifiers are formatted into the statements."""
    if _valid(conn, name):
        return True
    shape = _DEFINITION.match(definition)
    if shape is None:  # a plain table's index: one concurrent build
        conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {name}"))
        conn.execute(text(definition.replace("CREATE INDEX", "CREATE INDEX CONCURRENTLY", 1)))
        return _valid(conn, name)
    if not conn.scalar(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}):
        conn.execute(text(definition))  # ON ONLY the parent: invalid until all are attached
    for partition, child in _partitions_without(conn, name, table):
        conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {child}"))
        conn.execute(text(f"CREATE INDEX CONCURRENTLY {child} ON {partition} {shape[1]}"))
        conn.execute(text(f"ALTER INDEX {name} ATTACH PARTITION {child}"))
    return _valid(conn, name)


def _valid(conn: Session | Connection, name: str) -> bool:
    """Whether index ``name`` exists and is valid."""
    return bool(conn.scalar(text("SELECT indisvalid FROM pg_index "
                                 "WHERE indexrelid = to_regclass(:n)"), {"n": name}))


def _partitions_without(conn: Connection, name: str, table: str) -> list[tuple[str, str]]:
    """(partition, name of its copy) for each partition of ``table`` without a copy of
    index ``name`` attached; the copy is named ``<partition>_<index>`` (quoted)."""
    return [(str(p), str(c)) for p, c in conn.execute(text(
        f"SELECT p.inhrelid::regclass::text, {_COPY_NAME} "  # noqa: S608 (constant SQL)
        "FROM pg_inherits p JOIN pg_class r ON r.oid = p.inhrelid "
        "WHERE p.inhparent = CAST(:t AS regclass) AND NOT EXISTS (SELECT 1 FROM pg_inherits a "
        "JOIN pg_index x ON x.indexrelid = a.inhrelid WHERE a.inhparent = to_regclass(:i) "
        "AND x.indrelid = p.inhrelid) ORDER BY 1"), {"i": name, "t": table})]


def _leftover_copies(session: Session, name: str, table: str) -> list[str]:
    """Partition copies of index ``name`` a stopped builder left unattached."""
    return [str(c) for c in session.scalars(text(
        f"SELECT {_COPY_NAME} FROM pg_inherits p "  # noqa: S608 (constant SQL)
        "JOIN pg_class r ON r.oid = p.inhrelid WHERE p.inhparent = CAST(:t AS regclass) "
        f"AND to_regclass({_COPY_NAME}) IS NOT NULL"),
        {"i": name, "t": table})]
