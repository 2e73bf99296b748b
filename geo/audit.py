"""The audit trail: who changed what, when, through which route, in an append-only table.

Two ways rows get written, both inside the caller's transaction (they commit or roll back
with the write they describe):

* :func:`record` - one row, called by code that changes something the triggers do not see
  (API keys, sign-in sessions, changesets) and, once per write request, by ``api.audit``;
* row triggers on ``grids``, ``cameras`` and ``events`` (migration 0005) - the before and
  after of every changed row, set-based, tagged with the actor declared by :func:`act_as`.

``audit_log`` refuses UPDATE, DELETE and TRUNCATE (a trigger raises); nothing here ever
changes a row once written. Times are ``timestamptz`` (UTC in answers).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Actor:
    """Who writes: the key's prefix, role and name (None/None for the command line), and
    ``route``, how they came in (``"POST /events/{event_id}/actions"`` or ``"cli import"``)."""

    actor: str
    key_prefix: str | None = None
    role: str | None = None
    route: str | None = None


def act_as(session: Session, actor: Actor) -> None:
    """Declare ``actor`` for the rest of the transaction: the row triggers tag their rows
    with it (``set_config(..., is_local => true)``, so it ends with the transaction)."""
    session.execute(text("SELECT set_config('gridlink.actor', :who, true)"),
                    {"who": json.dumps(asdict(actor), ensure_ascii=False)})


def without_row_audit(session: Session) -> None:
    """Switch the row triggers off for the rest of the transaction - only for loading the
    generated demo city (up to millions of rows), which records one summary row instead."""
    session.execute(text("SELECT set_config('gridlink.audit_rows', 'off', true)"))


def record(session: Session, actor: Actor, action: str, entity: str,
           entity_id: str | int | None = None, before: Any = None, after: Any = None) -> None:
    """Append one audit row (``before``/``after``: anything JSON can hold, or None)."""
    session.execute(text(
        "INSERT INTO audit_log (key_prefix, role, actor, route, action, entity, entity_id,"
        " before, after) VALUES (:key_prefix, :role, :actor, :route, :action, :entity,"
        " :entity_id, CAST(:before AS jsonb), CAST(:after AS jsonb))"),
        {**asdict(actor), "action": action, "entity": entity,
         "entity_id": None if entity_id is None else str(entity_id),
         "before": _json(before), "after": _json(after)})


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class AuditFilter:
    """Filters of :func:`audit_rows`, combined with AND; ``until`` is exclusive."""

    since: datetime | None = None
    until: datetime | None = None
    key_prefix: str | None = None
    entity: str | None = None
    entity_id: str | None = None
    route: str | None = None
    limit: int = 100
    offset: int = 0


_CONDITIONS = {
    "since": "at >= :since", "until": "at < :until", "key_prefix": "key_prefix = :key_prefix",
    "entity": "entity = :entity", "entity_id": "entity_id = :entity_id",
    "route": "route = :route",
}


def audit_rows(session: Session, flt: AuditFilter) -> tuple[list[dict[str, Any]], int]:
    """Audit rows matching ``flt``, newest first, and how many match in all."""
    params = {k: v for k, v in asdict(flt).items() if v is not None}
    where = " AND ".join(["true"] + [c for k, c in _CONDITIONS.items() if k in params])
    total = session.execute(text(f"SELECT count(*) FROM audit_log WHERE {where}"),  # noqa: S608
                            params).scalar_one()
    rows = session.execute(text(
        "SELECT id, at, key_prefix, role, actor, route, action, entity, entity_id, before,"  # noqa: S608
        f" after FROM audit_log WHERE {where} ORDER BY at DESC, id DESC"
        " LIMIT :limit OFFSET :offset"), params).mappings()
    return [dict(r) for r in rows], int(total)
