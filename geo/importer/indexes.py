"""Index room: a bulk load into a table no larger than itself rebuilds the secondary indexes.

Inserting 10^5 events into ``events`` costs ~45 µs per row more with its five secondary
indexes (GiST on geom, category, status, reported_at, open cases) kept up row by row than
inserting without them and building them afterwards (bench/RESULTS.md: 7.6 s against
2.3 s + 1.4 s of ``CREATE INDEX``). A build sorts the whole table, so it only pays while
the table holds no more rows than the load brings: then (a first load, a province moving in)
the import drops those indexes, inserts, and creates them again from their own definitions
(``pg_get_indexdef``), all in its transaction. Indexes behind constraints (primary key,
unique keys) stay: they keep the insert safe against a concurrent import.

Dropping an index locks the table (ACCESS EXCLUSIVE) until the import commits: readers of
the table wait for the apply step. When the lock is not granted within
:data:`LOCK_WAIT` (someone is reading or writing the table), the import keeps the indexes
and inserts row by row instead; the outcome is the same. On a partitioned table (``events``
is partitioned by month, migration 0020) the indexes are the parent's partitioned indexes:
dropping one drops every partition's copy, and creating it again on the parent (``ON``,
not ``pg_get_indexdef``'s ``ON ONLY``) builds one per partition.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from geo.db import local_settings

LOCK_WAIT = "2s"
"""How long the import waits for the table's lock before keeping the indexes."""


@contextmanager
def secondary_indexes_rebuilt(session: Session, table: str, rows: int) -> Iterator[bool]:
    """Around the insert of ``rows`` rows into ``table`` (a name from the catalogue):
    yields whether its secondary indexes were dropped (and are created again after the
    block). Nothing is recreated when the block raises: the transaction rolls back."""
    definitions = _secondary_indexes(session, table) if _small_enough(session, table, rows) \
        else {}
    dropped = bool(definitions) and _dropped(session, list(definitions))
    yield dropped
    if dropped:
        for definition in definitions.values():
            session.execute(text(definition))


def _small_enough(session: Session, table: str, rows: int) -> bool:
    """A table (plain or partitioned) holding fewer rows than ``rows`` (counted up to
    ``rows`` at most)."""
    if rows == 0 or session.scalar(text("SELECT relkind FROM pg_class WHERE oid = "
                                        "CAST(:t AS regclass)"), {"t": table}) not in ("r", "p"):
        return False
    held = session.scalar(text(f"SELECT count(*) FROM (SELECT 1 FROM {table} "  # noqa: S608
                               "LIMIT :n) t"), {"n": rows})
    return int(held or 0) < rows


def _secondary_indexes(session: Session, table: str) -> dict[str, str]:
    """Valid indexes of ``table`` not behind a constraint: qualified name → the statement
    that creates it again (on every partition, for a partitioned table)."""
    found = session.execute(text(
        "SELECT x.indexrelid::regclass::text, pg_get_indexdef(x.indexrelid) FROM pg_index x "
        "WHERE x.indrelid = CAST(:t AS regclass) AND x.indisvalid AND NOT EXISTS ("
        "SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
        "ORDER BY x.indexrelid"), {"t": table}).all()
    return {str(name): str(definition).replace(" ON ONLY ", " ON ", 1)
            for name, definition in found}


def _dropped(session: Session, names: list[str]) -> bool:
    """Drop the indexes ``names`` if the table's lock comes within :data:`LOCK_WAIT`."""
    try:
        with session.begin_nested(), local_settings(session, {"lock_timeout": LOCK_WAIT}):
            session.execute(text(f"DROP INDEX {', '.join(names)}"))
        return True
    except OperationalError:  # lock not granted in time (or a deadlock): keep them
        return False
