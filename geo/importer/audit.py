"""Audit room: an events import leaves one audit row, and each event it wrote its number.

The row triggers of :mod:`geo.audit` write one jsonb row per inserted event; for an import
that is 10^6 rows saying what the file says. An events import instead takes a number from
``event_import_ids`` (migration 0021), stamps it on every event it inserts or updates
(``events.import_id``), switches the row audit off for its INSERT only (updated events keep
their before/after rows) and appends one row: action ``import``, entity ``event_imports``,
entity_id the number, ``after`` what the import did (file, layer, rows, inserted, updated,
rejected, job). Who created event X and when: ``events.import_id`` → that row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.db import local_settings

ENTITY = "event_imports"
"""``audit_log.entity`` of the one row an events import writes."""


def next_import_id(session: Session) -> int:
    """A new import number (``event_import_ids``; never reused, gaps on rollback)."""
    return int(session.scalar(text("SELECT nextval('event_import_ids')")) or 0)


@contextmanager
def without_insert_audit(session: Session) -> Iterator[None]:
    """Switch the row audit triggers off for the statements of the ``with`` block; the
    transaction's previous setting (e.g. the demo loader's ``off``) is restored after."""
    with local_settings(session, {"gridlink.audit_rows": "off"}):
        yield


def record_import(session: Session, import_id: int, what: dict[str, Any]) -> None:
    """Append the import's audit row, tagged with the actor the transaction declared
    (:func:`geo.audit.act_as`; else the database user), like the row triggers."""
    session.execute(text(
        "INSERT INTO audit_log (key_prefix, role, actor, route, action, entity, entity_id, "
        "after) SELECT w->>'key_prefix', w->>'role', w->>'actor', w->>'route', 'import', "
        ":entity, :id, CAST(:after AS jsonb) FROM (SELECT COALESCE(NULLIF(current_setting("
        "'gridlink.actor', true), '')::jsonb, jsonb_build_object('actor', 'database user ' "
        "|| current_user)) AS w) who"),
        {"entity": ENTITY, "id": str(import_id),
         "after": json.dumps(what, ensure_ascii=False, default=str)})
