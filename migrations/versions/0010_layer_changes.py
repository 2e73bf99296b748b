"""The change feed: ``layer_changes``, one row per written feature, numbered in commit order.

Deferred constraint triggers on admin_areas, grids, buildings, sites, cameras and workers
record the layer (docs/catalog.md names; a grids row is ``grids`` or ``micro_grids`` by its
level) and key of every inserted, updated or deleted row **at commit**, each transaction
holding one advisory lock from its first change row until its commit ends. So ids are given
in commit order: a reader that has seen id N never later sees a new row below N, and a
cursor (the last id read) survives restarts and skips nothing. An update that changes only
the derived ``grid_code``/``micro_grid_code`` of a unit (re-assignment) is not a change of the
layer: the update trigger watches the other columns (``UPDATE OF``), so such a statement
queues nothing. ``layer_changes_watch(table, layer, derived)`` (re)creates a table's
triggers; a migration that adds a column to one of these tables calls it again.

The rows present when the migration runs are recorded once, so ``since=0`` replays a full
copy. Events are not in the feed (their lifecycle is ``event_transitions``; a feed row per
case action would put a lock on every report).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 10:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = {"admin_areas": ("areas", ""), "workers": ("workers", ""),
          "buildings": ("buildings", "grid_code,micro_grid_code"),
          "sites": ("sites", "grid_code"), "cameras": ("cameras", "grid_code")}
"""Tables whose rows are one layer each (grids: by level, their own trigger): the layer, and
the derived columns whose update alone is no change (re-assignment writes them; a worker's
``grid_code`` is its own field)."""

UPGRADE = """
CREATE TABLE layer_changes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    layer text NOT NULL,
    key text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ix_layer_changes_layer_id ON layer_changes (layer, id);

CREATE FUNCTION layer_changes_record(layer text, old_key text, new_key text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- held until this transaction's commit ends: ids are handed out in commit order
    PERFORM pg_advisory_xact_lock(hashtext('gridlink_layer_changes'));
    IF old_key IS NOT NULL THEN
        INSERT INTO layer_changes (layer, key) VALUES (layer, old_key);
    END IF;
    IF new_key IS NOT NULL AND new_key IS DISTINCT FROM old_key THEN
        INSERT INTO layer_changes (layer, key) VALUES (layer, new_key);
    END IF;
END $$;

CREATE FUNCTION layer_changes_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM layer_changes_record(TG_ARGV[0], NULL, NEW.code);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM layer_changes_record(TG_ARGV[0], OLD.code, NULL);
    ELSE
        PERFORM layer_changes_record(TG_ARGV[0], OLD.code, NEW.code);
    END IF;
    RETURN NULL;
END $$;

-- (Re)creates the feed's triggers on a layer table; the update trigger watches every column
-- but the derived ones, so a statement that only re-assigns queues nothing. A migration
-- that adds a column to such a table calls it again.
CREATE FUNCTION layer_changes_watch(tab regclass, layer text, derived text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    watched text;
BEGIN
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO watched
    FROM pg_attribute WHERE attrelid = tab AND attnum > 0 AND NOT attisdropped
      AND attname <> ALL (derived);
    EXECUTE format('DROP TRIGGER IF EXISTS layer_changes_write ON %s', tab);
    EXECUTE format('DROP TRIGGER IF EXISTS layer_changes_update ON %s', tab);
    EXECUTE format('CREATE CONSTRAINT TRIGGER layer_changes_write AFTER INSERT OR DELETE ON %s '
                   'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW '
                   'EXECUTE FUNCTION layer_changes_row(%L)', tab, layer);
    EXECUTE format('CREATE CONSTRAINT TRIGGER layer_changes_update AFTER UPDATE OF %s ON %s '
                   'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW '
                   'EXECUTE FUNCTION layer_changes_row(%L)', watched, tab, layer);
END $$;

CREATE FUNCTION layer_changes_grid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM layer_changes_record(
            CASE OLD.level WHEN 'micro' THEN 'micro_grids' ELSE 'grids' END, OLD.code, NULL);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM layer_changes_record(
            CASE NEW.level WHEN 'micro' THEN 'micro_grids' ELSE 'grids' END, NULL, NEW.code);
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER layer_changes_write AFTER INSERT OR UPDATE OR DELETE ON grids
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION layer_changes_grid();

INSERT INTO layer_changes (layer, key)
SELECT CASE level WHEN 'micro' THEN 'micro_grids' ELSE 'grids' END, code
FROM grids WHERE valid_to IS NULL ORDER BY level, code;
"""

DOWNGRADE = """
DROP FUNCTION IF EXISTS layer_changes_grid();
DROP FUNCTION IF EXISTS layer_changes_watch(regclass, text, text[]);
DROP FUNCTION IF EXISTS layer_changes_row();
DROP FUNCTION IF EXISTS layer_changes_record(text, text, text);
DROP TABLE IF EXISTS layer_changes;
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    for table, (layer, derived) in TABLES.items():  # constant names from TABLES
        op.execute(f"SELECT layer_changes_watch('{table}', '{layer}', '{{{derived}}}')")
        op.execute(f"INSERT INTO layer_changes (layer, key) "  # noqa: S608
                   f"SELECT '{layer}', code FROM {table} ORDER BY code")


def downgrade() -> None:
    for table in (*TABLES, "grids"):
        op.execute(f"DROP TRIGGER IF EXISTS layer_changes_write ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS layer_changes_update ON {table}")
    op.execute(DOWNGRADE)
