"""Indexes a first load builds after its commit (``pending_indexes``); cheaper client-id claims.

A first load of events (an import bringing at least as many rows as ``events`` holds) drops
the secondary indexes, inserts, and builds again in its transaction only those readers need
at once (the dispatchers' open-case indexes); the others are built after the commit with
``CREATE INDEX CONCURRENTLY`` (geo.importer.indexes). Their definitions are written here in
the import's transaction, so they are durable exactly when the import is: a process stopped
after the commit leaves its rows, and the next events import, or ``gridlink db indexes``,
builds them. A row is deleted once its index is valid again.

The client-id claims of a statement (``events_claim_client_ids``, migrations 0020/0032) are a
plain ``INSERT`` into ``event_client_ids`` when the transaction says that none of the new
rows' ids is claimed yet (``gridlink.claims_unclaimed = on``: a first load's early inserts,
which look claimed ids up before inserting: geo.importer.early_inserts), without ``ON
CONFLICT``'s speculative insertion per row and without a second pass over the new rows to
count them; a clash (a concurrent writer) is then a unique violation of
``event_client_ids_pkey``. Every other insert (a single report, which claims its id first;
an append) takes 0032's path unchanged. No sub-transaction either way (an ``EXCEPTION``
block would add one per statement: past 64, every other session's snapshots overflow).
On 10^5 new events (indexes dropped, the other statement triggers off, load ~5): the
INSERT 1.83-2.37 s with 0032's path, 0.78-1.63 s with a plain insert (measured as a plain
insert in an ``EXCEPTION`` block), 0.89-1.07 s without the trigger.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-06 21:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0034'
down_revision: str | None = '0033'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


CHECK = """
    INSERT INTO event_client_ids (client_id, event_id)
        SELECT client_id, id FROM new_rows WHERE client_id IS NOT NULL
        ON CONFLICT (client_id) DO NOTHING;
    GET DIAGNOSTICS claimed = ROW_COUNT;
    SELECT count(client_id) INTO carried FROM new_rows;
    IF claimed = carried THEN
        RETURN NULL;
    END IF;

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

CLAIMS = """
CREATE OR REPLACE FUNCTION events_claim_client_ids() RETURNS trigger LANGUAGE plpgsql AS $$
-- The new rows claim their client ids. When the transaction says none is claimed yet
-- (gridlink.claims_unclaimed: an import that looked them up), a plain insert. Else one
-- claimed by another event (committed, or earlier in this statement) is a unique
-- violation; a claim geo.events made just before the insert is the event's own.
DECLARE taken text; claimed bigint; carried bigint;
BEGIN
    IF current_setting('gridlink.claims_unclaimed', true) = 'on' THEN
        INSERT INTO event_client_ids (client_id, event_id)
            SELECT client_id, id FROM new_rows WHERE client_id IS NOT NULL;
        RETURN NULL;
    END IF;
""" + CHECK  # noqa: S608 (constant text)

CLAIMS_0032 = """
CREATE OR REPLACE FUNCTION events_claim_client_ids() RETURNS trigger LANGUAGE plpgsql AS $$
-- The new rows claim their client ids. One claimed by another event (committed, or earlier
-- in this statement) is a unique violation; a claim geo.events made just before the insert
-- is the event's own. When every id was claimed here, no row can clash: no join.
DECLARE taken text; claimed bigint; carried bigint;
BEGIN
""" + CHECK


def upgrade() -> None:
    op.execute(CLAIMS)
    op.execute("""
CREATE TABLE pending_indexes (
    name text PRIMARY KEY,
    table_name text NOT NULL,
    definition text NOT NULL,
    import_id bigint,
    since timestamptz NOT NULL DEFAULT now()
)""")
    op.execute("COMMENT ON TABLE pending_indexes IS 'Indexes dropped by a first load and built "
               "after its commit (geo.importer.indexes): name, table, pg_get_indexdef.'")


def downgrade() -> None:
    # the indexes still pending are built here (in the migration's transaction), so that the
    # schema without this table has every index again
    op.execute("""
DO $$ DECLARE r record; BEGIN
    FOR r IN SELECT name, definition FROM pending_indexes LOOP
        EXECUTE format('DROP INDEX IF EXISTS %s', r.name);
        EXECUTE replace(r.definition, ' ON ONLY ', ' ON ');
    END LOOP;
END $$""")
    op.execute("DROP TABLE pending_indexes")
    op.execute(CLAIMS_0032)
