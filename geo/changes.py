"""The change feed: which features of a layer changed since a cursor, and how they are now.

``layer_changes`` (migration 0010) gets one row per written feature, numbered in commit
order, so the last id a client has read is a cursor that survives restarts and never skips
a later commit. :func:`changes_since` folds the rows after a cursor to one entry per
feature (its latest id) and gives each its current state: the feature exactly as
``/export/{layer}`` writes it (``upsert``), or ``delete`` when the layer no longer has it
(a retired grid, a deleted camera, a renamed code's old key). Applying the entries in
order to a copy made from the same feed (or from an export) gives the layer as it is.

Events have a feed of their own kind (``event_changes``, migration 0025, read by
:mod:`geo.event_feed`): rows are recorded without a lock, each with the id of its writing
transaction, and read in batches between two snapshots; their cursor is text. An event's
entry is keyed by the event's id (a client id is optional), and its feature
is the event as ``/export/events`` writes it with the event's id as the feature id. Only
callers with a key read it, as the OGC ``events`` collection.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.catalog import Layer, get_layer
from geo.errors import ValidationFailed
from geo.event_feed import event_batch, parse_event_cursor
from geo.exporter import ExportFilter, feature_sql
from geo.ogc.collections import get_collection

FEED_LAYERS = ("areas", "grids", "micro_grids", "buildings", "sites", "cameras", "workers",
               "roads", "entrances", "events")
MAX_CHANGES = 10_000
_LATEST = """
WITH latest AS (
    SELECT DISTINCT ON (event_id) event_id, xid, id FROM event_changes
    WHERE (xid, id) > (CAST(:xid AS xid8), :id)
      AND xid < pg_snapshot_xmin(pg_current_snapshot())  -- only ended transactions
    ORDER BY event_id, xid DESC, id DESC)
SELECT event_id AS key, xid::text || '-' || id AS seq FROM latest ORDER BY xid, id LIMIT :limit
"""

_LATEST = """
SELECT key, max(id) AS seq FROM layer_changes
WHERE layer = :layer AND id > :since
GROUP BY key ORDER BY seq LIMIT :limit
"""


@dataclass(frozen=True)
class ChangePage:
    """Entries ``{"seq", "op", "id", "feature"}`` in cursor order; ``next`` is the cursor to
    ask from next time (the last ``seq``, or ``since`` when nothing changed); ``more`` says
    whether entries beyond this page exist now."""

    layer: str
    since: int | str
    next: int | str
    more: bool
    changes: list[dict[str, Any]]


def changes_since(session: Session, layer: str, since: int | str, limit: int = 1000,
                  role: str | None = "viewer") -> ChangePage:
    """The features of ``layer`` changed after cursor ``since`` (at most ``limit``), for a
    caller of ``role`` (None: an anonymous public read).

    Raises UnknownLayer (404) for a layer not in the catalog, NotFound (404) for ``events``
    when ``role`` may not read events, ValidationFailed (422) for a malformed or negative
    cursor or a limit outside 1..MAX_CHANGES.
    """
    spec = get_layer(layer)
    if not 1 <= limit <= MAX_CHANGES:
        raise ValidationFailed(f"limit must be 1..{MAX_CHANGES}", [{"field": "limit"}])
    if layer == "events":
        get_collection("events", role)  # readers with a key only, as the OGC collection
        return _event_changes(session, str(since), limit)
    if layer not in FEED_LAYERS:
        raise ValidationFailed(f"layer {layer!r} has no change feed: one of "
                               f"{', '.join(FEED_LAYERS)}", [{"field": "layer", "value": layer}])
    cursor = _layer_cursor(since)
    rows = session.execute(text(_LATEST), {"layer": layer, "since": cursor,
                                           "limit": limit + 1}).all()
    more, rows = len(rows) > limit, rows[:limit]
    changes = _entries(session, spec, rows)
    return ChangePage(layer, cursor, rows[-1].seq if rows else cursor, more, changes)


def _layer_cursor(since: int | str) -> int:
    """The integer cursor of a feature layer; ValidationFailed naming ``since`` otherwise."""
    try:
        cursor = int(since)
    except ValueError:
        cursor = -1
    if cursor < 0:
        raise ValidationFailed("since must be an integer >= 0 (the next of the last answer)",
                               [{"field": "since", "value": str(since)}])
    return cursor


def _event_changes(session: Session, since: str, limit: int) -> ChangePage:
    """The events feed after cursor ``since`` (geo/event_feed.py)."""
    rows, next_cursor, more = event_batch(session, parse_event_cursor(since), limit)
    spec = replace(get_layer("events"), key="id")  # keyed by event id: client ids are optional
    return ChangePage("events", since, next_cursor, more, _entries(session, spec, rows))


def _entries(session: Session, spec: Layer, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """One entry per (key, seq) row: upsert with the current feature, or delete."""
    sql, params = feature_sql(spec, ExportFilter(keys=tuple(r.key for r in rows)))
    current = {f["id"]: f for f in (json.loads(t) for t in session.scalars(text(sql), params))}
    return [{"seq": r.seq, "op": "upsert" if r.key in current else "delete", "id": r.key,
             "feature": current.get(r.key)} for r in rows]


def latest_cursor(session: Session) -> int:
    """The highest change id committed so far (0 when none): a cursor to start from."""
    return int(session.scalar(text("SELECT coalesce(max(id), 0) FROM layer_changes")) or 0)
