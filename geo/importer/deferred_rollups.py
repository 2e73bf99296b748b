"""Deferred rollups: an events import moves the daily rollups once, at its end.

Each ``INSERT`` into ``events`` moves the daily rollups (``event_daily_counts``) by its rows'
keys (a statement trigger). An import inserts its rows in hundreds of statements in one
transaction, and each statement's upsert walks every version the earlier ones left of the
same keys: the n-th upsert costs n times the first (migration 0036 has the figures). Inside
:func:`rollups_deferred` the trigger stands aside and another one appends each statement's
grouped counts to a temp table instead; on leaving the block they are summed and upserted
into the rollups once (``gridlink_flush_event_roll_ups()``, migration 0036), in the same
transaction: readers see the same counts as before, at the same commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.db import local_settings

TABLE = "gridlink_event_roll_ups"
"""The temp table of the deferred counts (the columns of ``event_daily_counts``)."""
DEFERRED = {"gridlink.event_rollups": "deferred"}
"""The transaction-local setting that routes the rollups of ``events`` INSERTs to
:data:`TABLE` (the triggers' ``WHEN``, migration 0036)."""


@contextmanager
def rollups_deferred(session: Session) -> Iterator[None]:
    """Inside the block, the rollups of events inserted in ``session``'s transaction are
    collected; when the block ends without error, they are added to ``event_daily_counts``
    in one upsert. On an error nothing is added: the caller rolls the transaction back."""
    session.execute(text(f"DROP TABLE IF EXISTS pg_temp.{TABLE}"))  # an earlier import's
    session.execute(text(f"CREATE TEMP TABLE {TABLE} (LIKE event_daily_counts) "
                         "ON COMMIT DROP"))
    with local_settings(session, DEFERRED):
        yield
    session.execute(text("SELECT gridlink_flush_event_roll_ups()"))
