"""Audit trail (append-only) and server-side browser sessions.

``audit_log`` gets one row per write: who (key prefix, role, name), when, through which route
or command, what (entity, id, before/after). It is append-only: a trigger refuses UPDATE,
DELETE and TRUNCATE, and PUBLIC has no UPDATE/DELETE right. Statement-level triggers on
``grids``, ``cameras`` and ``events`` write the before/after of every changed row in the same
transaction (set-based, from the transition tables), with the actor the transaction declared
through ``set_config('gridlink.actor', <json>, true)`` (geo.audit.act_as).

``browser_sessions`` holds the sign-in sessions of map pages: the cookie carries a random id,
the table only its SHA-256 hash, the key it acts for, an expiry and a revocation time.

Revision ID: MIGNUM
Revises: 0004
Create Date: 2026-12-06 07:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'MIGNUM'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDITED = ('grids', 'cameras', 'events')

_TABLES = """
CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    tx bigint NOT NULL DEFAULT txid_current(),
    key_prefix text,
    role text,
    actor text NOT NULL,
    route text,
    action text NOT NULL,
    entity text NOT NULL,
    entity_id text,
    before jsonb,
    after jsonb
);
CREATE INDEX ix_audit_log_at ON audit_log (at);
CREATE INDEX ix_audit_log_key_prefix ON audit_log (key_prefix, at);
CREATE INDEX ix_audit_log_entity ON audit_log (entity, entity_id);
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;

CREATE TABLE browser_sessions (
    id serial PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,
    key_id integer NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX ix_browser_sessions_key_id ON browser_sessions (key_id);
"""

_APPEND_ONLY = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"""

# One function for the three audited tables: rows as jsonb with the geometry as GeoJSON.
# TG_ARGV[0] is the row key joining old and new rows (the version id for grids, the code for
# cameras, the id for events); entity_id is the code where the table has one, else the id.
_ROW_TRIGGER = r"""
CREATE FUNCTION audit_row_json(r jsonb, geom geometry) RETURNS jsonb LANGUAGE sql IMMUTABLE AS
$$ SELECT (r - 'geom') || jsonb_build_object('geom', ST_AsGeoJSON(geom, 7)::jsonb) $$;

CREATE FUNCTION audit_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    who jsonb := NULLIF(current_setting('gridlink.actor', true), '')::jsonb;
    id_column text := TG_ARGV[0];
BEGIN
    IF current_setting('gridlink.audit_rows', true) = 'off' THEN
        RETURN NULL;
    END IF;
    who := COALESCE(who, jsonb_build_object('actor', 'database user ' || current_user));
    IF TG_OP = 'INSERT' THEN
        INSERT INTO audit_log (key_prefix, role, actor, route, action, entity, entity_id,
                               before, after)
        SELECT who->>'key_prefix', who->>'role', who->>'actor', who->>'route', 'insert',
               TG_TABLE_NAME, COALESCE(to_jsonb(n)->>'code', to_jsonb(n)->>'id'), NULL, audit_row_json(to_jsonb(n), n.geom)
        FROM new_rows n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO audit_log (key_prefix, role, actor, route, action, entity, entity_id,
                               before, after)
        SELECT who->>'key_prefix', who->>'role', who->>'actor', who->>'route', 'update',
               TG_TABLE_NAME, COALESCE(to_jsonb(n)->>'code', to_jsonb(n)->>'id'), audit_row_json(to_jsonb(o), o.geom),
               audit_row_json(to_jsonb(n), n.geom)
        FROM new_rows n JOIN old_rows o ON to_jsonb(o)->id_column = to_jsonb(n)->id_column;
    ELSE
        INSERT INTO audit_log (key_prefix, role, actor, route, action, entity, entity_id,
                               before, after)
        SELECT who->>'key_prefix', who->>'role', who->>'actor', who->>'route', 'delete',
               TG_TABLE_NAME, COALESCE(to_jsonb(o)->>'code', to_jsonb(o)->>'id'),
               audit_row_json(to_jsonb(o), o.geom), NULL
        FROM old_rows o;
    END IF;
    RETURN NULL;
END $$;
"""


def _table_triggers(table: str, id_column: str) -> str:
    return f"""
CREATE TRIGGER audit_{table}_insert AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows('{id_column}');
CREATE TRIGGER audit_{table}_update AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows('{id_column}');
CREATE TRIGGER audit_{table}_delete AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows('{id_column}');
"""


ID_COLUMNS = {'grids': 'id', 'cameras': 'code', 'events': 'id'}


def upgrade() -> None:
    op.execute(_TABLES)
    op.execute(_APPEND_ONLY)
    op.execute(_ROW_TRIGGER)
    for table in AUDITED:
        op.execute(_table_triggers(table, ID_COLUMNS[table]))


def downgrade() -> None:
    for table in AUDITED:
        for op_name in ('insert', 'update', 'delete'):
            op.execute(f'DROP TRIGGER IF EXISTS audit_{table}_{op_name} ON {table}')
    op.execute('DROP FUNCTION IF EXISTS audit_rows()')
    op.execute('DROP FUNCTION IF EXISTS audit_row_json(jsonb, geometry)')
    op.execute('DROP TABLE IF EXISTS browser_sessions')
    op.execute('DROP TABLE IF EXISTS audit_log')
    op.execute('DROP FUNCTION IF EXISTS audit_log_append_only()')

