"""Early inserts: a streamed events import inserts each batch's new events while the next
batch is read and validated.

The streaming pass (:mod:`geo.importer.streaming`) is Python work on one core; inserting
the events with their statement triggers (client-id claims, change feed, rollups) is
PostgreSQL work on another. One after the other they add up; here a worker thread inserts
the validated batches while the next ones are read and validated: the streaming pass queues
each batch (:meth:`EarlyInserts.add`), the worker takes everything queued, inserts it as one
``INSERT`` and comes back for more until the queue is empty, so the database never waits
for the end of the batch being validated. Batches wait in memory up to :data:`QUEUED_ROWS`
rows, then the streaming pass waits for the worker. The session's connection is used by the
worker only while it drains the queue; the streaming pass touches it only after
:meth:`EarlyInserts.finish`.

Used only where any problem fails the whole import (no ``skip_invalid``, no dry run): a
problem found in a later batch then fails it, and the caller's transaction rolls the early
inserts back with everything else. A row whose client id is already claimed
(``event_client_ids``: an event stored before the import, or the same id earlier in the
file, which the streaming pass reports at its end) is not inserted early: it goes to the
stage table for the final upsert (:func:`geo.importer.writing.apply_stage`), which updates
the stored event as before. The secondary indexes are dropped before the first batch when the
file brings more rows than the table holds (:mod:`geo.importer.indexes`): those readers need
at once are built again after the final upsert, the others after the commit
(:attr:`EarlyInserts.deferred_indexes`); the row audit is off for the inserts
(:mod:`geo.importer.audit`), and the daily rollups are moved once at the end
(:mod:`geo.importer.deferred_rollups`). Measured in bench/RESULTS.md (fourth import session).

A client id repeated across batches always ends in the stage (the later row finds the id
claimed by the earlier one, or both are inserted together and the later one is set aside),
so when nothing was staged and no problem was found, the streaming pass skips its whole-file
query for repeats (:attr:`EarlyInserts.staged`).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, suppress
from threading import Lock
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from geo.catalog import Layer
from geo.db import local_settings
from geo.importer.audit import without_insert_audit
from geo.importer.deferred_rollups import rollups_deferred
from geo.importer.indexes import Rebuild, secondary_indexes_rebuilt
from geo.importer.seen_ids import SeenIds
from geo.importer.writing import (
    KEYS,
    STAGE,
    copy_rows,
    create_stage,
    database_refusals,
    insert_select_sql,
)

log = logging.getLogger(__name__)
"""Each drain's rows and seconds (COPY, claimed-row probe, INSERT) at DEBUG level: where an
import's time goes as the table grows (bench/RESULTS.md, seventh import session)."""

BATCH = "gridlink_import_batch"
"""The temp table holding the rows being inserted (same columns as the stage)."""
QUEUED_ROWS = 30_000
"""Validated rows that may wait in memory for the worker (~6 MiB of Arrow text) before
the streaming pass waits for it (the worker may hold as many again while it COPYs them:
50,000 took a 10^6 import's peak to 296 MiB). While the database is slower than the
validation, the waiting batches go in as one INSERT: fewer statements, so fewer runs of
each statement trigger (the daily roll-ups upsert the (day, area, category, status) keys of
each statement's rows)."""

_MOVE_CLAIMED = (
    f"WITH claimed AS (DELETE FROM {BATCH} b WHERE (SELECT c.event_id FROM event_client_ids c "  # noqa: S608
    f"WHERE c.client_id = b.client_id) IS NOT NULL RETURNING b.*) "
    f"INSERT INTO {STAGE} SELECT * FROM claimed")
"""Move the batch's rows whose client id is claimed to the stage. A scalar sub-select, not
``EXISTS``: it stays one primary-key probe per batch row, where the semi-join was planned as
a hash join over every claim (the claims' statistics say "empty" during a first load):
250 ms a batch, growing with the import, 25 s of a 10^6-row import."""
UNCLAIMED_SETTING = "gridlink.claims_unclaimed"
"""Set to ``on``, it tells the claims trigger that the statement's ids are not claimed yet
(migration 0034)."""
_MOVE_CLAIMED_ROWS = _MOVE_CLAIMED.replace(" WHERE (SELECT", " WHERE b.row_no = ANY(CAST(:rows AS "
                                           "integer[])) AND (SELECT", 1)
"""The same for the rows ``:rows`` only (those whose id this first load may have inserted:
:mod:`geo.importer.seen_ids`)."""
CUSTOM_PLANS = {"plan_cache_mode": "force_custom_plan"}
"""Planned with each batch's own values (the import's transaction): psycopg prepares a
statement from its fifth run on, and PostgreSQL may then keep a generic plan, where
``row_no = ANY($1)`` searches the array linearly for each batch row instead of hashing it:
122 ms against 5.5 ms for 30,000 rows and 900 ids (a 10^6-row import: 5.1 s of probes
instead of 0.5 s, bench/RESULTS.md, sixth import session)."""


class EarlyInserts:
    """Insert each validated batch of an events import while the next one validates (see
    the module docstring); a context manager around the streaming pass and the final
    upsert. ``inserted``: events inserted early, once the block has ended."""

    def __init__(self, session: Session, layer: Layer, points: bool, import_id: int,
                 defer_indexes: bool = False) -> None:
        if layer.table != "events":
            raise ValueError(f"early inserts are for events, not {layer.table}")
        self.session, self.layer, self.import_id = session, layer, import_id
        self.defer_indexes = defer_indexes
        """A first load leaves the indexes readers do not need at once for after the
        commit (the caller builds them: geo.importer.pending_indexes)."""
        self.inserted = 0
        self.staged = 0
        """Rows sent to the stage instead (a claimed client id, or a repeat)."""
        self._insert = insert_select_sql(layer, points, BATCH)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gridlink-import")
        self._pending: Future[None] | None = None
        self._queue: list[tuple[pa.Table, pa.Table | None]] = []
        self._queued = 0
        self._lock = Lock()
        """Guards the queue: the streaming pass appends, the worker takes."""
        self._busy = False
        """Whether the worker is draining the queue (set by ``add``, cleared by the worker)."""
        self._expected = 0
        self._seen: SeenIds | None = None
        """A first load's ids so far (claims were empty as it began): only rows whose id
        it may have inserted are looked up among the claims."""
        self._stack = ExitStack()
        self._started = False
        self._indexes = Rebuild()

    def __enter__(self) -> EarlyInserts:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            self._settle(error is None)
        except BaseException as failed:
            self._unwind(failed)
            raise
        finally:
            self._pool.shutdown(wait=True)
        if error is None:
            self._stack.close()  # indexes built again, row audit as before
        else:
            self._unwind(error)

    @property
    def deferred_indexes(self) -> list[str]:
        """Indexes left for after the commit (``pending_indexes``), once the block has
        ended: :func:`geo.importer.pending_indexes.build_pending_indexes` builds them."""
        return list(self._indexes.deferred)

    def wait(self) -> None:
        """Wait until the worker has inserted everything handed to it (its database refusal
        raised as a gridlink error: :func:`geo.importer.writing.database_refusals`)."""
        if self._pending is None:
            return
        pending, self._pending = self._pending, None
        with database_refusals(self.layer):
            pending.result()

    def add(self, keys: pa.Table, rows: pa.Table | None, expected: int) -> None:
        """Queue a validated batch: its ``keys`` (for the streaming pass's repeat check)
        and its good ``rows`` (as :func:`geo.importer.writing.stage_table` makes them;
        None: none). The worker takes it as soon as it is free (it drains the queue until
        it is empty); once :data:`QUEUED_ROWS` rows wait, the streaming pass waits for it.
        ``expected``: rows in the file (whether to rebuild the secondary indexes, read when
        the first rows go in)."""
        self._expected = expected
        with self._lock:
            self._queue.append((keys, rows))
            self._queued += 0 if rows is None else rows.num_rows
            start, self._busy = not self._busy, True
            full = self._queued >= QUEUED_ROWS
        if start:
            self.wait()  # the last drain has ended (or failed: raised here)
            self._pending = self._pool.submit(self._drain)
        elif full:
            self.wait()

    def finish(self) -> None:
        """Wait until everything queued is inserted."""
        self.wait()

    def _drain(self) -> None:
        """The worker: take what is queued and insert it, until the queue is empty."""
        while True:
            with self._lock:
                queue, self._queue, self._queued = self._queue, [], 0
                if not queue:
                    self._busy = False
                    return
            try:
                self._insert_queued(queue)
            except BaseException:
                with self._lock:  # the next add or finish raises it (wait)
                    self._busy = False
                raise

    def _insert_queued(self, queue: list[tuple[pa.Table, pa.Table | None]]) -> None:
        """COPY the keys and rows of ``queue`` (emptied then), move the rows with a
        claimed client id to the stage, and INSERT the others."""
        started = time.perf_counter()
        batches = [rows for _, rows in queue if rows is not None and rows.num_rows]
        if batches and not self._started:
            self._start(batches[0].column_names, self._expected)
        elif batches:
            self.session.execute(text(f"TRUNCATE {BATCH}"))
        for keys, _ in queue:
            copy_rows(self.session, KEYS, keys)
        if not batches:
            return
        rows = pa.concat_tables(batches)
        repeats = pa.array(_repeated_ids(rows))
        if repeats.true_count:  # a repeat across batches, which fails the import at its end
            copy_rows(self.session, STAGE, rows.filter(repeats))
            rows = rows.filter(pc.invert(repeats))
            self.staged += repeats.true_count
        maybe = None if self._seen is None else np.asarray(rows.column("row_no"))[
            self._seen.add(rows.column("client_id"))]
        copy_rows(self.session, BATCH, rows)
        queue.clear()  # the rows are in the database: not held in memory during the INSERT
        count = rows.num_rows
        del rows, batches
        copied = time.perf_counter()
        if maybe is None:
            moved = self.session.execute(text(_MOVE_CLAIMED))
            self.staged += int(moved.rowcount)  # type: ignore[attr-defined]
        elif maybe.size:
            moved = self.session.execute(text(_MOVE_CLAIMED_ROWS), {"rows": maybe.tolist()})
            self.staged += int(moved.rowcount)  # type: ignore[attr-defined]
        probed = time.perf_counter()
        self.inserted += self._insert_batch()
        log.debug("rows %d (%d in) copy %.3f s probe %.3f s insert %.3f s", count,
                  self.inserted, copied - started, probed - copied,
                  time.perf_counter() - probed)

    def _insert_batch(self) -> int:
        """The ``INSERT`` of the batch table. In a first load its rows' ids were looked up
        (none is claimed), so the claims trigger may insert them plainly (migration 0034)."""
        unclaimed = {UNCLAIMED_SETTING: "on"} if self._seen is not None else {}
        with local_settings(self.session, unclaimed):
            done = self.session.execute(text(self._insert), {"import_id": self.import_id})
        return int(done.rowcount)  # type: ignore[attr-defined]

    def _start(self, columns: list[str], expected: int) -> None:
        create_stage(self.session, columns)
        self.session.execute(text(f"DROP TABLE IF EXISTS {BATCH}"))  # an earlier import's
        self.session.execute(text(f"CREATE TEMP TABLE {BATCH} (LIKE {STAGE}) ON COMMIT DROP"))
        self._stack.enter_context(local_settings(self.session, CUSTOM_PLANS))
        self._stack.enter_context(without_insert_audit(self.session))
        self._indexes = self._stack.enter_context(secondary_indexes_rebuilt(
            self.session, self.layer.table, expected, defer=self.defer_indexes,
            import_id=self.import_id))
        self._stack.enter_context(rollups_deferred(self.session))
        self._seen = SeenIds(expected) if self.session.scalar(text(
            "SELECT NOT EXISTS (SELECT 1 FROM event_client_ids)")) else None
        self._started = True

    def _settle(self, raise_error: bool) -> None:
        """Wait for the worker; its error is raised only when no other one is under way."""
        if raise_error:
            self.wait()
            return
        with suppress(Exception):
            self.wait()

    def _unwind(self, error: BaseException) -> None:
        """Leave the index and audit blocks as failed (nothing built again). The caller
        rolls the transaction back, so restoring a setting in an aborted transaction may
        fail and does not matter."""
        with suppress(SQLAlchemyError):
            self._stack.__exit__(type(error), error, error.__traceback__)


def _repeated_ids(rows: pa.Table) -> np.ndarray:
    """Which rows repeat the client id of an earlier row of ``rows`` (batches queued
    together: each batch was checked alone). Such a row goes to the stage like a claimed
    one, so that the end of the streaming pass reports it with its row instead of the
    claims trigger refusing the INSERT."""
    ids = rows.column("client_id").to_pandas()
    return (ids.duplicated(keep="first") & ids.notna()).to_numpy(dtype=bool)
