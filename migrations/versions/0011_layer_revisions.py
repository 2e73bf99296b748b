"""Layer revisions: a counter per table that vector tiles are built from, kept by triggers.

``layer_revisions`` holds one row per table (``grids``, ``cameras``, ``buildings``): its
``revision`` goes up by one and ``changed_at`` is set on every statement that inserts,
updates, deletes or truncates rows of that table, inside the writing transaction (so a
reader sees the revision that goes with the rows it sees). The tile routes
(``api/routers/tiles.py``) build their ETag from it: a publish (new grid versions), an
import or an edit changes the ETag of every tile of the layers built from that table, and a
revisited tile whose ETag still matches is answered 304 without building it.

The counter is bumped at commit time (a deferred constraint trigger, once per transaction and
table: the first changed row sets a transaction-local flag naming the transaction and the
statement, the COMMIT, that fired it; later rows return at once), so
its row is locked only while the writing transaction commits: two planners publishing at the
same time never wait on each other for the length of a publish. TRUNCATE bumps at once.
Events have no counter (far more concurrent writers); their tiles carry an ETag of their
content instead.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 09:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('grids', 'cameras', 'buildings')

UPGRADE = """
CREATE TABLE layer_revisions (
    layer text PRIMARY KEY,
    revision bigint NOT NULL DEFAULT 0,
    changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO layer_revisions (layer) VALUES ('grids'), ('cameras'), ('buildings');

CREATE FUNCTION bump_layer_revision() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    flag text := 'gridlink.layer_bumped_' || TG_TABLE_NAME;
    stamp text := txid_current()::text || ' ' || statement_timestamp()::text;
BEGIN
    IF TG_LEVEL = 'ROW' AND current_setting(flag, true) IS NOT DISTINCT FROM stamp THEN
        RETURN NULL;
    END IF;
    UPDATE layer_revisions SET revision = revision + 1, changed_at = clock_timestamp()
    WHERE layer = TG_TABLE_NAME;
    PERFORM set_config(flag, stamp, true);
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    for table in TABLES:
        op.execute(f"""
CREATE CONSTRAINT TRIGGER layer_revision_{table} AFTER INSERT OR UPDATE OR DELETE ON {table}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_layer_revision();
CREATE TRIGGER layer_revision_{table}_truncate AFTER TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION bump_layer_revision();
""")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f'DROP TRIGGER IF EXISTS layer_revision_{table} ON {table}')
        op.execute(f'DROP TRIGGER IF EXISTS layer_revision_{table}_truncate ON {table}')
    op.execute('DROP FUNCTION IF EXISTS bump_layer_revision()')
    op.execute('DROP TABLE IF EXISTS layer_revisions')
