"""Daily rollups of events per area × grid × category × status, kept by triggers.

``event_daily_counts`` holds, for every China Standard Time day (UTC+8, the day an event was
reported), the number of events per (district, street, community, grid, category, status) of
their stored assignment (NULL codes: not assigned). It is maintained **on write** by
triggers, inside the writing transaction, so it is exact at every commit:

- ``events``: per statement (transition tables, one grouped upsert however many rows): +1
  per inserted event; -1 old key / +1 new key per updated event (keys that did not change
  cancel out); per row BEFORE DELETE, -1 (while the assignment still exists); TRUNCATE
  empties the rollups;
- ``event_assignments``, per statement: moves each event's count from the old area codes
  (or "not assigned") to the new ones; a DELETE cascaded from a deleted event changes
  nothing (already counted).

The dashboard and ``/stats/daily`` read only this table (``geo.rollups``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 07:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE TABLE event_daily_counts (
    day date NOT NULL,
    district_code text, street_code text, community_code text, grid_code text,
    category text NOT NULL,
    status text NOT NULL,
    events integer NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX ux_event_daily_counts_key ON event_daily_counts (day, district_code, street_code, community_code, grid_code, category, status) NULLS NOT DISTINCT;
CREATE INDEX ix_event_daily_counts_grid ON event_daily_counts (grid_code text_pattern_ops, day);
CREATE INDEX ix_event_daily_counts_category ON event_daily_counts (category, day);

CREATE FUNCTION gridlink_local_day(at timestamptz) RETURNS date
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT (at AT TIME ZONE 'Asia/Shanghai')::date $$;

CREATE FUNCTION event_daily_counts_add(p_day date, p_district text, p_street text,
        p_community text, p_grid text, p_category text, p_status text, p_delta integer)
    RETURNS void LANGUAGE sql AS $$
    INSERT INTO event_daily_counts AS c (day, district_code, street_code, community_code, grid_code, category, status, events)
    VALUES (p_day, p_district, p_street, p_community, p_grid, p_category, p_status, p_delta)
    ON CONFLICT (day, district_code, street_code, community_code, grid_code, category, status) DO UPDATE SET events = c.events + EXCLUDED.events
$$;

-- Statement-level: one grouped upsert per statement, whatever the number of rows. Keys are
-- upserted in key order, so concurrent writers lock rollup rows in the same order (no deadlock).
CREATE FUNCTION events_roll_up() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO event_daily_counts AS c (day, district_code, street_code, community_code, grid_code, category, status, events)
        SELECT gridlink_local_day(n.reported_at), a.district_code, a.street_code,
               a.community_code, a.grid_code, n.category, n.status, count(*)
          FROM new_rows n LEFT JOIN event_assignments a ON a.event_id = n.id
         GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7
        ON CONFLICT (day, district_code, street_code, community_code, grid_code, category, status) DO UPDATE SET events = c.events + EXCLUDED.events;
    ELSE
        INSERT INTO event_daily_counts AS c (day, district_code, street_code, community_code, grid_code, category, status, events)
        SELECT day, district_code, street_code, community_code, grid_code, category, status,
               sum(delta)
          FROM (SELECT gridlink_local_day(o.reported_at) AS day, o.category, o.status,
                       -1 AS delta, o.id FROM old_rows o
                UNION ALL
                SELECT gridlink_local_day(n.reported_at), n.category, n.status, 1, n.id
                  FROM new_rows n) d
          LEFT JOIN event_assignments a ON a.event_id = d.id
         GROUP BY 1, 2, 3, 4, 5, 6, 7 HAVING sum(delta) <> 0 ORDER BY 1, 2, 3, 4, 5, 6, 7
        ON CONFLICT (day, district_code, street_code, community_code, grid_code, category, status) DO UPDATE SET events = c.events + EXCLUDED.events;
    END IF;
    RETURN NULL;
END $$;

-- Row-level BEFORE DELETE: the event's assignment still exists (the cascade comes later).
CREATE FUNCTION events_roll_up_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE a record;
BEGIN
    SELECT district_code, street_code, community_code, grid_code INTO a
      FROM event_assignments WHERE event_id = OLD.id;
    PERFORM event_daily_counts_add(gridlink_local_day(OLD.reported_at), a.district_code,
        a.street_code, a.community_code, a.grid_code, OLD.category, OLD.status, -1);
    RETURN OLD;
END $$;

-- Statement-level: moves each event's count from its old area codes (NULL: not assigned)
-- to its new ones. Rows of a deleted event no longer join ``events``: nothing moves.
CREATE FUNCTION event_assignments_roll_up() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO event_daily_counts AS c (day, district_code, street_code, community_code, grid_code, category, status, events)
        SELECT gridlink_local_day(e.reported_at), d.district_code, d.street_code,
               d.community_code, d.grid_code, e.category, e.status, sum(delta)
          FROM (SELECT n.event_id, NULL::text AS district_code, NULL::text AS street_code,
                       NULL::text AS community_code, NULL::text AS grid_code, -1 AS delta
                  FROM new_rows n
                UNION ALL
                SELECT n.event_id, n.district_code, n.street_code, n.community_code,
                       n.grid_code, 1 FROM new_rows n) d
          JOIN events e ON e.id = d.event_id
         GROUP BY 1, 2, 3, 4, 5, 6, 7 HAVING sum(delta) <> 0 ORDER BY 1, 2, 3, 4, 5, 6, 7
        ON CONFLICT (day, district_code, street_code, community_code, grid_code, category, status) DO UPDATE SET events = c.events + EXCLUDED.events;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO event_daily_counts AS c (day, district_code, street_code, community_code, grid_code, category, status, events)
        SELECT gridlink_local_day(e.reported_at), d.district_code, d.street_code,
               d.community_code, d.grid_code, e.category, e.status, sum(delta)
          FROM (SELECT o.event_id, o.district_code, o.street_code, o.community_code,
                       o.grid_code, -1 AS delta FROM old_rows o
                UNION ALL
                SELECT n.event_id, n.district_code, n.street_code, n.community_code,
                       n.grid_code, 1 FROM new_rows n) d
          JOIN events e ON e.id = d.event_id
         GROUP BY 1, 2, 3, 4, 5, 6, 7 HAVING sum(delta) <> 0 ORDER BY 1, 2, 3, 4, 5, 6, 7
        ON CONFLICT (day, district_code, street_code, community_code, grid_code, category, status) DO UPDATE SET events = c.events + EXCLUDED.events;
    ELSE
        INSERT INTO event_daily_counts AS c (day, district_code, street_code, community_code, grid_code, category, status, events)
        SELECT gridlink_local_day(e.reported_at), d.district_code, d.street_code,
               d.community_code, d.grid_code, e.category, e.status, sum(delta)
          FROM (SELECT o.event_id, o.district_code, o.street_code, o.community_code,
                       o.grid_code, -1 AS delta FROM old_rows o
                UNION ALL
                SELECT o.event_id, NULL, NULL, NULL, NULL, 1 FROM old_rows o) d
          JOIN events e ON e.id = d.event_id
         GROUP BY 1, 2, 3, 4, 5, 6, 7 HAVING sum(delta) <> 0 ORDER BY 1, 2, 3, 4, 5, 6, 7
        ON CONFLICT (day, district_code, street_code, community_code, grid_code, category, status) DO UPDATE SET events = c.events + EXCLUDED.events;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION events_truncate_roll_up() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE event_daily_counts;
    RETURN NULL;
END $$;

CREATE TRIGGER events_roll_up_insert AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION events_roll_up();
CREATE TRIGGER events_roll_up_update AFTER UPDATE ON events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION events_roll_up();
CREATE TRIGGER events_roll_up_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_roll_up_delete();
CREATE TRIGGER events_roll_up_truncate AFTER TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_truncate_roll_up();
CREATE TRIGGER event_assignments_roll_up_insert AFTER INSERT ON event_assignments
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION event_assignments_roll_up();
CREATE TRIGGER event_assignments_roll_up_update AFTER UPDATE ON event_assignments
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION event_assignments_roll_up();
CREATE TRIGGER event_assignments_roll_up_delete AFTER DELETE ON event_assignments
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION event_assignments_roll_up();

INSERT INTO event_daily_counts (day, district_code, street_code, community_code, grid_code, category, status, events)
SELECT gridlink_local_day(e.reported_at), a.district_code, a.street_code, a.community_code,
       a.grid_code, e.category, e.status, count(*)
  FROM events e LEFT JOIN event_assignments a ON a.event_id = e.id
 GROUP BY 1, 2, 3, 4, 5, 6, 7;
"""

DOWNGRADE = """
DROP TRIGGER event_assignments_roll_up_delete ON event_assignments;
DROP TRIGGER event_assignments_roll_up_update ON event_assignments;
DROP TRIGGER event_assignments_roll_up_insert ON event_assignments;
DROP TRIGGER events_roll_up_truncate ON events;
DROP TRIGGER events_roll_up_delete ON events;
DROP TRIGGER events_roll_up_update ON events;
DROP TRIGGER events_roll_up_insert ON events;
DROP FUNCTION events_truncate_roll_up();
DROP FUNCTION event_assignments_roll_up();
DROP FUNCTION events_roll_up_delete();
DROP FUNCTION events_roll_up();
DROP FUNCTION event_daily_counts_add(date, text, text, text, text, text, text, integer);
DROP FUNCTION gridlink_local_day(timestamptz);
DROP TABLE event_daily_counts;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
