"""The change feed: which features of a layer changed since a cursor, and how they are now.

``layer_changes`` (migration 0010) gets one row per written feature, numbered in commit
order, so the last id a client has read is a cursor that survives restarts and never skips
a later commit. :func:`changes_since` folds the rows after a cursor to one entry per
feature (its latest id) and gives each its current state: the feature exactly as
``/export/{layer}`` writes it (``upsert``), or ``delete`` when the layer no longer has it
(a retired grid, a deleted camera, a renamed code's old key). Applying the entries in
order to a copy made from the same feed (or from an export) gives the layer as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.catalog import get_layer
from geo.errors import ValidationFailed
from geo.exporter import ExportFilter, feature_sql

FEED_LAYERS = ("areas", "grids", "micro_grids", "buildings", "sites", "cameras", "workers")
MAX_CHANGES = 10_000

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
    since: int
    next: int
    more: bool
    changes: list[dict[str, Any]]


def changes_since(session: Session, layer: str, since: int, limit: int = 1000) -> ChangePage:
    """The features of ``layer`` changed after cursor ``since`` (at most ``limit``).

    Raises UnknownLayer (404) for a layer not in the catalog, ValidationFailed (422) for
    ``events`` (not in the feed), a negative cursor or a limit outside 1..MAX_CHANGES.
    """
    spec = get_layer(layer)
    if layer not in FEED_LAYERS:
        raise ValidationFailed(f"layer {layer!r} has no change feed: one of "
                               f"{', '.join(FEED_LAYERS)}", [{"field": "layer", "value": layer}])
    if since < 0 or not 1 <= limit <= MAX_CHANGES:
        raise ValidationFailed(f"since must be >= 0 and limit 1..{MAX_CHANGES}",
                               [{"field": "since" if since < 0 else "limit"}])
    rows = session.execute(text(_LATEST), {"layer": layer, "since": since,
                                           "limit": limit + 1}).all()
    more, rows = len(rows) > limit, rows[:limit]
    sql, params = feature_sql(spec, ExportFilter(keys=tuple(r.key for r in rows)))
    current = {f["id"]: f for f in (json.loads(t) for t in session.scalars(text(sql), params))}
    changes = [{"seq": r.seq, "op": "upsert" if r.key in current else "delete", "id": r.key,
                "feature": current.get(r.key)} for r in rows]
    return ChangePage(layer, since, rows[-1].seq if rows else since, more, changes)


def latest_cursor(session: Session) -> int:
    """The highest change id committed so far (0 when none): a cursor to start from."""
    return int(session.scalar(text("SELECT coalesce(max(id), 0) FROM layer_changes")) or 0)
