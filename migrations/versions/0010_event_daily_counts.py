"""Daily rollups of events per area × grid × category × status, kept by triggers.

``event_daily_counts`` holds, for every China Standard Time day (UTC+8, the day an event was
reported), the number of events per (district, street, community, grid, category, status) of
their stored assignment (NULL codes: not assigned). It is maintained **on write** by row
triggers, inside the writing transaction, so it is exact at every commit:

- ``events``: +1 on INSERT; -1 old key / +1 new key when ``status``, ``category`` or
  ``reported_at`` change; -1 BEFORE DELETE (while the assignment still exists);
  TRUNCATE empties the rollups;
- ``event_assignments``: moves the event's count from the old area codes (or "not assigned")
  to the new ones; a DELETE cascaded from a deleted event changes nothing (already counted).

The dashboard and ``/stats/daily`` read only this table (``geo.rollups``).

Revision ID: 0010
Revises: 0004
Create Date: 2026-12-06 07:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0010'
down_revision: str | None = '0004'
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

CREATE FUNCTION gridlink_local_day(at timestamptz) RETURNS date
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT (at AT TIME ZONE 'Asia/Shanghai')::date $$;

CREATE FUNCTION event_daily_counts_add(p_day date, p_district text, p_street text,
        p_community text, p_grid text, p_category text, p_status text, p_delta integer)
    RETURNS void LANGUAGE sql AS $$
    INSERT INTO event_daily_counts AS c (day, district_code, street_code, community_code, grid_code, category, status, events)
    VALUES (p_day, p_district, p_street, p_community, p_grid, p_category, p_status, p_delta)
    ON CONFLICT (day, district_code, street_code, community_code, grid_code, category, status) DO UPDATE SET events = c.events + EXCLUDED.events
$$;

CREATE FUNCTION events_roll_up() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE a record;
BEGIN
    SELECT district_code, street_code, community_code, grid_code INTO a
      FROM event_assignments WHERE event_id = COALESCE(NEW.id, OLD.id);
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM event_daily_counts_add(gridlink_local_day(OLD.reported_at), a.district_code,
            a.street_code, a.community_code, a.grid_code, OLD.category, OLD.status, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM event_daily_counts_add(gridlink_local_day(NEW.reported_at), a.district_code,
            a.street_code, a.community_code, a.grid_code, NEW.category, NEW.status, 1);
        RETURN NEW;
    END IF;
    RETURN OLD;
END $$;

CREATE FUNCTION event_assignments_roll_up() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE e record;
BEGIN
    SELECT gridlink_local_day(reported_at) AS day, category, status INTO e
      FROM events WHERE id = COALESCE(NEW.event_id, OLD.event_id);
    IF NOT FOUND THEN
        RETURN NULL;  -- the event itself is being deleted: its BEFORE DELETE trigger counted
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM event_daily_counts_add(e.day, NULL, NULL, NULL, NULL, e.category, e.status, -1);
    ELSE
        PERFORM event_daily_counts_add(e.day, OLD.district_code, OLD.street_code,
            OLD.community_code, OLD.grid_code, e.category, e.status, -1);
    END IF;
    IF TG_OP = 'DELETE' THEN
        PERFORM event_daily_counts_add(e.day, NULL, NULL, NULL, NULL, e.category, e.status, 1);
    ELSE
        PERFORM event_daily_counts_add(e.day, NEW.district_code, NEW.street_code,
            NEW.community_code, NEW.grid_code, e.category, e.status, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION events_truncate_roll_up() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE event_daily_counts;
    RETURN NULL;
END $$;

CREATE TRIGGER events_roll_up_insert AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_roll_up();
CREATE TRIGGER events_roll_up_update AFTER UPDATE OF status, category, reported_at ON events
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.category IS DISTINCT FROM NEW.category
                       OR gridlink_local_day(OLD.reported_at)
                          IS DISTINCT FROM gridlink_local_day(NEW.reported_at))
    EXECUTE FUNCTION events_roll_up();
CREATE TRIGGER events_roll_up_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_roll_up();
CREATE TRIGGER events_roll_up_truncate AFTER TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_truncate_roll_up();
CREATE TRIGGER event_assignments_roll_up AFTER INSERT OR DELETE ON event_assignments
    FOR EACH ROW EXECUTE FUNCTION event_assignments_roll_up();
CREATE TRIGGER event_assignments_roll_up_update AFTER UPDATE ON event_assignments
    FOR EACH ROW WHEN ((OLD.district_code, OLD.street_code, OLD.community_code, OLD.grid_code)
                       IS DISTINCT FROM
                       (NEW.district_code, NEW.street_code, NEW.community_code, NEW.grid_code))
    EXECUTE FUNCTION event_assignments_roll_up();

INSERT INTO event_daily_counts (day, district_code, street_code, community_code, grid_code, category, status, events)
SELECT gridlink_local_day(e.reported_at), a.district_code, a.street_code, a.community_code,
       a.grid_code, e.category, e.status, count(*)
  FROM events e LEFT JOIN event_assignments a ON a.event_id = e.id
 GROUP BY 1, 2, 3, 4, 5, 6, 7;
"""

DOWNGRADE = """
DROP TRIGGER event_assignments_roll_up_update ON event_assignments;
DROP TRIGGER event_assignments_roll_up ON event_assignments;
DROP TRIGGER events_roll_up_truncate ON events;
DROP TRIGGER events_roll_up_delete ON events;
DROP TRIGGER events_roll_up_update ON events;
DROP TRIGGER events_roll_up_insert ON events;
DROP FUNCTION events_truncate_roll_up();
DROP FUNCTION event_assignments_roll_up();
DROP FUNCTION events_roll_up();
DROP FUNCTION event_daily_counts_add(date, text, text, text, text, text, text, integer);
DROP FUNCTION gridlink_local_day(timestamptz);
DROP TABLE event_daily_counts;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
