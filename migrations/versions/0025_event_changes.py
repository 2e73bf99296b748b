"""Events in the change feed: ``event_changes``, one row per written event, ordered by the
writing transaction's id (xid8) and read with a visibility rule instead of a lock.

The feed of the other layers (migration 0010) numbers its rows in commit order by holding one
advisory lock from a transaction's first change row until its commit ends; events are written
by every report, case action and alarm at once, and that lock would queue them all. Here a
statement trigger on ``events`` (``AFTER INSERT / UPDATE / DELETE``, transition tables: one
``INSERT ... SELECT`` per statement, so a bulk import adds one set-based insert) records each
written event's id with ``pg_current_xact_id()`` of the writing (top-level) transaction,
taking no lock. A reader (geo/event_feed.py) reads in batches between two snapshots, the rule
of PgQ: the rows of transactions that had ended at the later snapshot but not at the earlier
one. A transaction that started before a reader's snapshot and commits after it is listed as
in progress in that snapshot, so its events come in a later batch: nothing is skipped, and a
long-running transaction holds back only its own events.

``event_changes_watch(tab)`` (re)creates the triggers on a table: a migration that replaces
``events`` (for instance by a partitioned table: statement triggers with transition tables on
a partitioned parent see the rows of every partition written through the parent) calls it.
The events present when the migration runs are recorded once, so ``since=0`` replays a copy.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 13:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0025'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE TABLE event_changes (
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    id bigint GENERATED ALWAYS AS IDENTITY,
    event_id bigint NOT NULL,
    PRIMARY KEY (xid, id)
);

CREATE FUNCTION event_changes_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_changes (event_id) SELECT id FROM new_rows ORDER BY id;
    RETURN NULL;
END $$;

CREATE FUNCTION event_changes_old() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_changes (event_id) SELECT id FROM old_rows ORDER BY id;
    RETURN NULL;
END $$;

CREATE FUNCTION event_changes_watch(tab regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DROP TRIGGER IF EXISTS event_changes_insert ON %s', tab);
    EXECUTE format('DROP TRIGGER IF EXISTS event_changes_update ON %s', tab);
    EXECUTE format('DROP TRIGGER IF EXISTS event_changes_delete ON %s', tab);
    EXECUTE format('CREATE TRIGGER event_changes_insert AFTER INSERT ON %s REFERENCING NEW '
                   'TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION event_changes_new()',
                   tab);
    EXECUTE format('CREATE TRIGGER event_changes_update AFTER UPDATE ON %s REFERENCING NEW '
                   'TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION event_changes_new()',
                   tab);
    EXECUTE format('CREATE TRIGGER event_changes_delete AFTER DELETE ON %s REFERENCING OLD '
                   'TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION event_changes_old()',
                   tab);
END $$;

SELECT event_changes_watch('events');
INSERT INTO event_changes (event_id) SELECT id FROM events ORDER BY id;
"""

DOWNGRADE = """
DROP TRIGGER IF EXISTS event_changes_insert ON events;
DROP TRIGGER IF EXISTS event_changes_update ON events;
DROP TRIGGER IF EXISTS event_changes_delete ON events;
DROP FUNCTION IF EXISTS event_changes_watch(regclass);
DROP FUNCTION IF EXISTS event_changes_new();
DROP FUNCTION IF EXISTS event_changes_old();
DROP TABLE IF EXISTS event_changes;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
