"""Client-id claims of a bulk insert without the per-row check when nothing clashed.

The statement trigger ``events_client_ids_insert`` (migration 0020; ``events`` is partitioned
by month, so ``event_client_ids`` holds the uniqueness of ``client_id``) claimed the new
rows' client ids with ``INSERT ... ON CONFLICT DO NOTHING`` and then joined every new row
to the claims to find one claimed by another event: a second index probe per row, ~40 % of
the trigger's cost on a 10^5-row import (bench/RESULTS.md, fourth import session). Now the
join runs only when the insert claimed fewer ids than the new rows carry: when it claimed
all of them, each new row's id was claimed by that row, so none can clash. A single report
(geo.events claims its id before the insert, so its own claim is a conflict) and any real
duplicate still take the join and are refused as before (``uq_events_client_id``, with the
id in the detail).

Transition tables on PostgreSQL 15 (checked on 15.18): a ROW trigger with one is refused
on a partition ("ROW triggers with transition tables are not supported on partitions") and
on the partitioned parent; a STATEMENT trigger with one is accepted on both. The parent's
(this one, and the change feed's of 0025) sees every row inserted through the parent, in
whichever partition it lands; a partition's own would see only rows inserted straight into
that partition, which gridlink never does (and which fire neither of the parent's).

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06 18:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0032'
down_revision: str | None = '0031'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECK = """
    SELECT n.client_id INTO taken FROM new_rows n JOIN event_client_ids c USING (client_id)
     WHERE c.event_id <> n.id LIMIT 1;
    IF taken IS NOT NULL THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "uq_events_client_id"'
            USING ERRCODE = 'unique_violation',
                  DETAIL = format('Key (client_id)=(%s) already exists.', taken),
                  CONSTRAINT = 'uq_events_client_id', TABLE = 'events';
    END IF;
    RETURN NULL;
END $$;
"""

UPGRADE = """
CREATE OR REPLACE FUNCTION events_claim_client_ids() RETURNS trigger LANGUAGE plpgsql AS $$
-- The new rows claim their client ids. One claimed by another event (committed, or earlier
-- in this statement) is a unique violation; a claim geo.events made just before the insert
-- is the event's own. When every id was claimed here, no row can clash: no join.
DECLARE taken text; claimed bigint; carried bigint;
BEGIN
    INSERT INTO event_client_ids (client_id, event_id)
        SELECT client_id, id FROM new_rows WHERE client_id IS NOT NULL
        ON CONFLICT (client_id) DO NOTHING;
    GET DIAGNOSTICS claimed = ROW_COUNT;
    SELECT count(client_id) INTO carried FROM new_rows;
    IF claimed = carried THEN
        RETURN NULL;
    END IF;
""" + CHECK  # noqa: S608 (constant text)

DOWNGRADE = """
CREATE OR REPLACE FUNCTION events_claim_client_ids() RETURNS trigger LANGUAGE plpgsql AS $$
-- The new rows claim their client ids. One claimed by another event (committed, or earlier
-- in this statement) is a unique violation; a claim geo.events made just before the insert
-- is the event's own.
DECLARE taken text;
BEGIN
    INSERT INTO event_client_ids (client_id, event_id)
        SELECT client_id, id FROM new_rows WHERE client_id IS NOT NULL
        ON CONFLICT (client_id) DO NOTHING;
""" + CHECK  # noqa: S608 (constant text)


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
