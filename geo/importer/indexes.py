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

**Built after the commit.** Of the indexes dropped, the early-insert path
(:mod:`geo.importer.early_inserts`, ``defer=True``) builds again in its transaction only
those readers need at once: the dispatchers' open-case indexes (``ix_events_open_due``: the
overdue list; ``ix_events_open_category``: the duplicates proposed for every new report).
The others (:data:`AFTER_COMMIT`: the GiST indexes behind maps, bbox exports and per-grid
counts, and the btrees on category, status, reported time and client id behind filters and
re-imports) are written to ``pending_indexes`` in the same transaction and built after the
commit (a load of at most :data:`SMALL_LOAD` rows leaves them all, the dispatchers' too),
without blocking readers or writers, by
:func:`geo.importer.pending_indexes.build_pending_indexes` (the import's command or job runs
it; ``gridlink db indexes`` too). Meanwhile the planner reads without them: answers are the
same, only slower. A process stopped before they are built leaves the rows; the next events
import builds them in its transaction first (:func:`pending_indexes.built_in_transaction`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from geo.db import local_settings
from geo.importer.pending_indexes import built_in_transaction, record_pending

LOCK_WAIT = "2s"
"""How long the import waits for the table's lock before keeping the indexes."""
AFTER_COMMIT: dict[str, frozenset[str]] = {"events": frozenset({
    "idx_events_geom", "ix_events_open_geom", "ix_events_category", "ix_events_status",
    "ix_events_reported_at", "ix_events_client_id"})}
"""Per table, the dropped indexes a deferring first load builds after its commit (see the
module docstring); an index not named here (e.g. a new one) is built before the commit."""
SMALL_LOAD = 200_000
"""A deferring load of at most this many rows leaves every dropped index for after its
commit, the dispatchers' two as well: the table then holds fewer than twice as many rows,
which their queries scan in tens of milliseconds until the builds after the commit end,
while building the two before the commit was ~10 % of a 10^5-row import (0.3 s of ~3 s
under load 4, bench/RESULTS.md, "A GeoPackage read without GDAL")."""


@dataclass
class Rebuild:
    """What :func:`secondary_indexes_rebuilt` did: whether it dropped the indexes, and which
    it left for after the commit (``pending_indexes``), known once its block has ended."""

    dropped: bool = False
    deferred: list[str] = field(default_factory=list)


@contextmanager
def secondary_indexes_rebuilt(session: Session, table: str, rows: int, *,
                              defer: bool = False, import_id: int | None = None
                              ) -> Iterator[Rebuild]:
    """Around the insert of ``rows`` rows into ``table`` (a name from the catalogue):
    yields what was done: whether its secondary indexes were dropped (and are created again
    after the block), and, with ``defer``, which of them (:data:`AFTER_COMMIT`; all of them
    for at most :data:`SMALL_LOAD` rows) are left for after the commit instead
    (``pending_indexes``, tagged with ``import_id``). Indexes an earlier import left
    pending are built first. Nothing is recreated when the block raises: the transaction
    rolls back."""
    built_in_transaction(session, table)
    definitions = _secondary_indexes(session, table) if _small_enough(session, table, rows) \
        else {}
    done = Rebuild(bool(definitions) and _dropped(session, list(definitions)))
    yield done
    if not done.dropped:
        return
    later = frozenset() if not defer else frozenset(definitions) if rows <= SMALL_LOAD \
        else AFTER_COMMIT.get(table, frozenset())
    for name, definition in definitions.items():
        if name in later:
            record_pending(session, name, table, definition, import_id)
            done.deferred.append(name)
        else:
            session.execute(text(definition.replace(" ON ONLY ", " ON ", 1)))


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
    """Valid indexes of ``table`` not behind a constraint: name → ``pg_get_indexdef`` (for
    a partitioned table ``ON ONLY``: replaced by ``ON`` to build it on every partition)."""
    found = session.execute(text(
        "SELECT x.indexrelid::regclass::text, pg_get_indexdef(x.indexrelid) FROM pg_index x "
        "WHERE x.indrelid = CAST(:t AS regclass) AND x.indisvalid AND NOT EXISTS ("
        "SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
        "ORDER BY x.indexrelid"), {"t": table}).all()
    return {str(name): str(definition) for name, definition in found}


def _dropped(session: Session, names: list[str]) -> bool:
    """Drop the indexes ``names`` if the table's lock comes within :data:`LOCK_WAIT`."""
    try:
        with session.begin_nested(), local_settings(session, {"lock_timeout": LOCK_WAIT}):
            session.execute(text(f"DROP INDEX {', '.join(names)}"))
        return True
    except OperationalError:  # lock not granted in time (or a deadlock): keep them
        return False
