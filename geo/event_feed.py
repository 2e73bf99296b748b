"""The change feed of events: which events were written between two snapshots, read without
any lock on the writers (migration 0025, ``event_changes``).

Each written event leaves a row ``(xid, id, event_id)``: the id of the writing (top-level)
transaction and a row number. A **batch** is every row whose transaction had ended when the
snapshot ``upto`` was taken but not yet when ``prev`` was (``pg_visible_in_snapshot``), the
rule PgQ uses for its batches: a transaction that started before ``prev`` and commits after
it is in ``prev``'s in-progress list, so its events come in a later batch, never skipped, and
a long-running transaction holds back only its own events, not everybody's.

Cursor (text, opaque to clients): ``0`` (nothing read yet); a snapshot ``xmin:xmax:xip,…``
(every batch up to it read); or ``prev;upto;xid-id`` (inside the batch from ``prev`` to
``upto``, read up to row (xid, id); entries come in (xid, id) order).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ValidationFailed

NOTHING_SEEN = "1:1:"
"""A snapshot in which no transaction has ended: the ``prev`` of cursor ``0``."""
_SNAPSHOT = r"\d{1,20}:\d{1,20}:(?:\d{1,20}(?:,\d{1,20})*)?"
_CURSOR = re.compile(
    rf"^(?:0|({_SNAPSHOT})|({_SNAPSHOT});({_SNAPSHOT});(\d{{1,20}})-(\d{{1,19}}))$")

_BATCH = """
WITH batch AS (
    SELECT event_id, xid, id FROM event_changes
    WHERE xid >= pg_snapshot_xmin(CAST(:prev AS pg_snapshot))
      AND NOT pg_visible_in_snapshot(xid, CAST(:prev AS pg_snapshot))
      AND pg_visible_in_snapshot(xid, CAST(:upto AS pg_snapshot))
      AND (xid, id) > (CAST(:xid AS xid8), :id)
), latest AS (
    SELECT DISTINCT ON (event_id) event_id, xid, id FROM batch
    ORDER BY event_id, xid DESC, id DESC)
SELECT event_id AS key, xid::text AS xid, id FROM latest ORDER BY xid, id LIMIT :limit
"""


@dataclass(frozen=True)
class EventCursor:
    """Where a reader is: the batch from ``prev`` to ``upto`` (None: the next batch ends at
    the reader's current snapshot), read up to row (``xid``, ``row``)."""

    prev: str
    upto: str | None = None
    xid: str = "0"
    row: int = 0


def parse_event_cursor(since: str) -> EventCursor:
    """The cursor ``since`` (see the module); ValidationFailed naming ``since`` when it is
    not one a page gave (or ``0``)."""
    found = _CURSOR.match(since)
    if found is None or not all(_snapshot_ok(s) for s in found.groups()[:3] if s):
        raise ValidationFailed("since must be 0 or the next of the last events page",
                               [{"field": "since", "value": since[:200]}])
    if since == "0":
        return EventCursor(NOTHING_SEEN)
    if found.group(1):
        return EventCursor(found.group(1))
    return EventCursor(found.group(2), found.group(3), found.group(4), int(found.group(5)))


def _snapshot_ok(snapshot: str) -> bool:
    """xmin <= every in-progress xid < xmax, xmin >= 1 (what PostgreSQL accepts)."""
    xmin, xmax, xip = snapshot.split(":")
    listed = [int(x) for x in xip.split(",") if x]
    return 1 <= int(xmin) <= int(xmax) and all(int(xmin) <= x < int(xmax) for x in listed)


def event_batch(session: Session, cursor: EventCursor, limit: int
                ) -> tuple[list[Any], str, bool]:
    """Rows (``key`` = event id, ``seq`` = its position ``xid-id``) after ``cursor``, one per
    event (its latest change), at most ``limit``; the next cursor; whether the batch goes on."""
    upto = cursor.upto or str(session.scalar(text("SELECT pg_current_snapshot()::text")))
    rows = session.execute(text(_BATCH), {"prev": cursor.prev, "upto": upto, "xid": cursor.xid,
                                          "id": cursor.row, "limit": limit + 1}).all()
    more, rows = len(rows) > limit, rows[:limit]
    found = [_Row(r.key, f"{r.xid}-{r.id}") for r in rows]
    if not more:
        return found, upto, False
    return found, f"{cursor.prev};{upto};{rows[-1].xid}-{rows[-1].id}", True


@dataclass(frozen=True)
class _Row:
    key: int
    seq: str
