"""Events partitioned by month of ``reported_at`` (#18 part 1).

``events`` becomes a RANGE-partitioned table: one partition per local month (Asia/Shanghai,
the day of ``gridlink_local_day``) named ``events_YYYY_MM``, and ``events_default`` for any
month without one, so a report is never refused. ``events_month_partition(month)`` creates
a month's partition (moving that month's rows out of the default partition if any); it is
called here for every month with rows and the next :data:`AHEAD` months, and later by
``gridlink events partitions`` (geo.event_partitions).

What a partitioned table cannot keep, and what replaces it:

* The primary key must hold the partition key: ``pk_events`` is ``(id, reported_at)``;
  ``id`` stays unique because only ``events_id_seq`` gives ids.
* ``UNIQUE (client_id)`` (idempotent reports) cannot span partitions: ``event_client_ids``
  (client_id primary key → event id) holds it. The insert path claims a client id there
  first (geo.events); statement triggers on ``events`` keep it in step with every other
  insert, update and delete, and refuse a client id stored for another event.
* ``REFERENCES events(id)`` is impossible without ``reported_at`` in the referencing row:
  the foreign keys of ``event_transitions``, ``event_camera_views``,
  ``event_reassignments`` and ``event_duplicates`` become statement triggers, like the
  one that already removes ``event_assignments`` (0003): deleting events deletes their
  rows; inserting or updating a row naming no event fails with ``foreign_key_violation``.

The rows move in this transaction (new table, INSERT ... SELECT, indexes built after the
load, names swapped); indexes, triggers (audit, rollups, assignments) and dependent views
(``events_with_assignment``) are read from the catalogue before and recreated after, so a
trigger or view added by another migration follows. Downgrade moves the rows back to one
heap with its constraints. ``event_assignments`` stays one heap (docs/scale.md).

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-06 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0020'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AHEAD = 3
"""Months after the current one created at upgrade (``gridlink events partitions`` later)."""

LOCAL_MONTH = "date_trunc('month', reported_at AT TIME ZONE 'Asia/Shanghai')::date"

REFERENCES = (  # (table, column, constraint) of every former REFERENCES events(id)
    ("event_transitions", "event_id", "fk_event_transitions_event_id_events"),
    ("event_camera_views", "event_id", "fk_event_camera_views_event_id_events"),
    ("event_reassignments", "event_id", "event_reassignments_event_id_fkey"),
    ("event_duplicates", "event_id", "event_duplicates_event_id_fkey"),
    ("event_duplicates", "case_id", "event_duplicates_case_id_fkey"),
)

ADDED_TRIGGERS = ("events_client_ids_insert", "events_client_ids_update",
                  "events_client_ids_delete", "events_delete_references",
                  "events_truncate_references")

MONTH_PARTITION = """
CREATE FUNCTION events_month_partition(p_month date) RETURNS text LANGUAGE plpgsql AS $$
-- The partition of events for the local month of p_month (created if missing; that
-- month's rows in events_default move into it, bypassing the triggers on events: rows
-- that only move are not new, changed nor deleted). Its name, events_YYYY_MM.
DECLARE
    lo date := date_trunc('month', p_month)::date;
    name text := 'events_' || to_char(lo, 'YYYY_MM');
    lo_at timestamptz := lo::timestamp AT TIME ZONE 'Asia/Shanghai';
    hi_at timestamptz := (lo + interval '1 month')::timestamp AT TIME ZONE 'Asia/Shanghai';
BEGIN
    IF to_regclass(format('public.%I', name)) IS NOT NULL THEN
        RETURN name;
    END IF;
    IF EXISTS (SELECT 1 FROM events_default WHERE reported_at >= lo_at
                                              AND reported_at < hi_at) THEN
        ALTER TABLE events DETACH PARTITION events_default;
        EXECUTE format('CREATE TABLE public.%I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                       name, lo_at, hi_at);
        EXECUTE format('INSERT INTO public.%I SELECT * FROM events_default'
                       ' WHERE reported_at >= %L AND reported_at < %L', name, lo_at, hi_at);
        DELETE FROM events_default WHERE reported_at >= lo_at AND reported_at < hi_at;
        ALTER TABLE events ATTACH PARTITION events_default DEFAULT;
    ELSE
        EXECUTE format('CREATE TABLE public.%I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                       name, lo_at, hi_at);
    END IF;
    RETURN name;
END $$;
"""

CLIENT_IDS = """
CREATE TABLE event_client_ids (
    client_id text PRIMARY KEY,
    event_id bigint NOT NULL
);
INSERT INTO event_client_ids (client_id, event_id)
    SELECT client_id, id FROM events WHERE client_id IS NOT NULL;

CREATE FUNCTION events_claim_client_ids() RETURNS trigger LANGUAGE plpgsql AS $$
-- The new rows claim their client ids. One claimed by another event (committed, or earlier
-- in this statement) is a unique violation; a claim geo.events made just before the insert
-- is the event's own.
DECLARE taken text;
BEGIN
    INSERT INTO event_client_ids (client_id, event_id)
        SELECT client_id, id FROM new_rows WHERE client_id IS NOT NULL
        ON CONFLICT (client_id) DO NOTHING;
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

CREATE FUNCTION events_release_client_ids() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM event_client_ids c USING old_rows o
     WHERE c.client_id = o.client_id AND c.event_id = o.id;
    RETURN NULL;
END $$;

CREATE FUNCTION events_change_client_id() RETURNS trigger LANGUAGE plpgsql AS $$
-- One event's client id changed (rare: imports match events by it): move its claim.
BEGIN
    DELETE FROM event_client_ids WHERE client_id = OLD.client_id AND event_id = OLD.id;
    IF NEW.client_id IS NOT NULL THEN
        INSERT INTO event_client_ids (client_id, event_id) VALUES (NEW.client_id, NEW.id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER events_client_ids_insert AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION events_claim_client_ids();
CREATE TRIGGER events_client_ids_update AFTER UPDATE ON events FOR EACH ROW
    WHEN (OLD.client_id IS DISTINCT FROM NEW.client_id) EXECUTE FUNCTION events_change_client_id();
CREATE TRIGGER events_client_ids_delete AFTER DELETE ON events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION events_release_client_ids();
"""


def _references_sql() -> str:
    """Functions and triggers that stand for the foreign keys of :data:`REFERENCES`."""
    deletes = "\n".join(f"    DELETE FROM {table} r USING gone g WHERE r.{column} = g.id;"  # noqa: S608
                        for table, column, _ in REFERENCES)
    truncates = ", ".join(sorted({table for table, _, _ in REFERENCES} | {"event_client_ids"}))
    checks = "\n".join(
        f"CREATE TRIGGER {table}_{column}_exists_{op_name.lower()} AFTER {op_name} ON {table}\n"
        f"    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT\n"
        f"    EXECUTE FUNCTION events_referenced('{column}');"
        for table, column, _ in REFERENCES for op_name in ("INSERT", "UPDATE"))
    return f"""
CREATE FUNCTION events_delete_references() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
{deletes}
    RETURN NULL;
END $$;
CREATE FUNCTION events_truncate_references() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE {truncates};
    RETURN NULL;
END $$;
CREATE TRIGGER events_delete_references AFTER DELETE ON events
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION events_delete_references();
CREATE TRIGGER events_truncate_references AFTER TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_truncate_references();

CREATE FUNCTION events_referenced() RETURNS trigger LANGUAGE plpgsql AS $$
-- The rows' TG_ARGV[0] column must name an event (the former foreign key); the events
-- are locked FOR KEY SHARE as a foreign key would, so a concurrent delete waits.
DECLARE missing bigint;
BEGIN
    EXECUTE format('SELECT n.id FROM (SELECT DISTINCT %I AS id FROM new_rows) n'
                   ' WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = n.id) LIMIT 1',
                   TG_ARGV[0]) INTO missing;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'insert or update on table "%" violates the reference to events: '
                        'no event %', TG_TABLE_NAME, missing
            USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME, COLUMN = TG_ARGV[0];
    END IF;
    EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM events e WHERE e.id IN'
                   ' (SELECT %I FROM new_rows) FOR KEY SHARE OF e) locked', TG_ARGV[0]);
    RETURN NULL;
END $$;
{checks}
"""  # noqa: S608 (names from REFERENCES, no input)


def _drop_references_sql() -> str:
    checks = "\n".join(f"DROP TRIGGER {table}_{column}_exists_{op_name} ON {table};"
                       for table, column, _ in REFERENCES for op_name in ("insert", "update"))
    return checks + """
DROP FUNCTION events_referenced();
DROP TRIGGER events_delete_references ON events;
DROP TRIGGER events_truncate_references ON events;
DROP FUNCTION events_delete_references();
DROP FUNCTION events_truncate_references();
"""


def _column(sql: str, **params: object) -> list[str]:
    return [row[0] for row in op.get_bind().execute(sa.text(sql), params)]


def _saved_definitions(skip_triggers: tuple[str, ...]) -> dict[str, list[str]]:
    """The definitions of what hangs on ``events``: its own indexes (not constraints), its
    user triggers (but ``skip_triggers``), and the views over it (dependency order)."""
    indexes = _column(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = 'events'::regclass"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
        " ORDER BY i.indexrelid")
    triggers = _column(
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'events'::regclass"
        " AND NOT tgisinternal AND tgname::text <> ALL(CAST(:skip AS text[])) ORDER BY oid",
        skip=list(skip_triggers))
    views = _column("""
        WITH RECURSIVE deps(oid, depth) AS (
            SELECT DISTINCT r.ev_class, 1 FROM pg_rewrite r JOIN pg_depend d
                ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
             WHERE d.refobjid = 'events'::regclass AND r.ev_class <> 'events'::regclass
            UNION
            SELECT DISTINCT r.ev_class, deps.depth + 1 FROM pg_rewrite r
              JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
              JOIN deps ON d.refobjid = deps.oid
             WHERE r.ev_class <> deps.oid)
        SELECT format('CREATE VIEW %s AS %s', oid::regclass, pg_get_viewdef(oid))
          FROM (SELECT oid, max(depth) AS depth FROM deps GROUP BY oid) v ORDER BY depth, oid""")
    names = _column("""
        WITH RECURSIVE deps(oid) AS (
            SELECT r.ev_class FROM pg_rewrite r JOIN pg_depend d
                ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
             WHERE d.refobjid = 'events'::regclass AND r.ev_class <> 'events'::regclass)
        SELECT DISTINCT oid::regclass::text FROM deps""")
    return {"indexes": [i.replace(" ON ONLY ", " ON ") for i in indexes],
            "triggers": triggers, "views": views, "view_names": names}


def _recreate(saved: dict[str, list[str]]) -> None:
    for statement in saved["indexes"] + saved["triggers"] + saved["views"]:
        op.execute(statement)


def _local_months() -> list[str]:
    """Every local month with events, and the current one to :data:`AHEAD` months on."""
    return _column(f"""
        SELECT DISTINCT m::text FROM (
            SELECT {LOCAL_MONTH} AS m FROM events
            UNION ALL
            SELECT (date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai')
                    + make_interval(months => n))::date FROM generate_series(0, {AHEAD}) n) x
         ORDER BY 1""")  # noqa: S608


def upgrade() -> None:
    saved = _saved_definitions(())
    for name in saved["view_names"]:
        op.execute(f"DROP VIEW IF EXISTS {name} CASCADE")
    for table, _, constraint in REFERENCES:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}")
    op.execute("CREATE TABLE events_partitioned (LIKE events INCLUDING DEFAULTS"
               " INCLUDING CONSTRAINTS INCLUDING STORAGE) PARTITION BY RANGE (reported_at)")
    op.execute("CREATE TABLE events_default PARTITION OF events_partitioned DEFAULT")
    for month in _local_months():
        op.execute(sa.text(f"""DO $$ DECLARE lo date := '{month}';
            BEGIN EXECUTE format('CREATE TABLE public.%I PARTITION OF events_partitioned'
                ' FOR VALUES FROM (%L) TO (%L)', 'events_' || to_char(lo, 'YYYY_MM'),
                lo::timestamp AT TIME ZONE 'Asia/Shanghai',
                (lo + interval '1 month')::timestamp AT TIME ZONE 'Asia/Shanghai'); END $$"""))
    op.execute("INSERT INTO events_partitioned SELECT * FROM events")
    op.execute("ALTER SEQUENCE events_id_seq OWNED BY NONE")
    op.execute("DROP TABLE events")
    op.execute("ALTER TABLE events_partitioned RENAME TO events")
    op.execute("ALTER SEQUENCE events_id_seq OWNED BY events.id")
    op.execute("ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY (id, reported_at)")
    op.execute("CREATE INDEX ix_events_client_id ON events (client_id)")
    _recreate(saved)
    op.execute(MONTH_PARTITION)
    op.execute(CLIENT_IDS)
    op.execute(_references_sql())
    op.execute("ANALYZE events")


def downgrade() -> None:
    saved = _saved_definitions(ADDED_TRIGGERS)
    saved["indexes"] = [i for i in saved["indexes"] if " ix_events_client_id " not in i]
    for name in saved["view_names"]:
        op.execute(f"DROP VIEW IF EXISTS {name} CASCADE")
    op.execute(_drop_references_sql())
    op.execute("CREATE TABLE events_heap (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
               " INCLUDING STORAGE)")
    op.execute("INSERT INTO events_heap SELECT * FROM events ORDER BY id")
    op.execute("ALTER SEQUENCE events_id_seq OWNED BY NONE")
    op.execute("DROP TABLE events CASCADE")
    op.execute("DROP TABLE event_client_ids")
    op.execute("DROP FUNCTION events_month_partition(date)")
    op.execute("DROP FUNCTION events_claim_client_ids(); DROP FUNCTION events_release_client_ids();"
               " DROP FUNCTION events_change_client_id()")
    op.execute("ALTER TABLE events_heap RENAME TO events")
    op.execute("ALTER SEQUENCE events_id_seq OWNED BY events.id")
    op.execute("ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY (id)")
    op.execute("ALTER TABLE events ADD CONSTRAINT uq_events_client_id UNIQUE (client_id)")
    _recreate(saved)
    for table, column, constraint in REFERENCES:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {constraint} FOREIGN KEY ({column})"
                   " REFERENCES events(id) ON DELETE CASCADE")
    op.execute("ANALYZE events")
