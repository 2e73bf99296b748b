"""Bulk event imports are audited once per import: ``events.import_id`` names the import.

A streamed import of 10^6 events wrote 10^6 jsonb rows into ``audit_log`` (the statement
trigger of 0005, one row per inserted event). An event an import *inserts* carries no
"before", and its "after" is the file's row: the import now switches the row audit off for
its INSERT and writes one ``audit_log`` row instead (action ``import``, entity
``event_imports``, entity_id the import's number; ``after``: file, layer, rows, inserted,
updated, rejected, job). Each inserted or updated event keeps the number of the import that
last wrote it in ``events.import_id``, so "who created event X, when, from which file" stays
one lookup: ``events.import_id`` → ``audit_log (entity, entity_id)`` (indexed). Events an
import *updates* keep their per-row before/after audit rows (their "before" is nowhere
else). Events written by the API keep ``import_id`` NULL and their own audit rows.

``event_import_ids`` hands out the numbers. The column has no default and no index (no
table rewrite; nothing reads events by import).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 12:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE event_import_ids AS bigint")
    op.execute("ALTER TABLE events ADD COLUMN import_id bigint")


def downgrade() -> None:
    op.execute("ALTER TABLE events DROP COLUMN import_id")
    op.execute("DROP SEQUENCE event_import_ids")
