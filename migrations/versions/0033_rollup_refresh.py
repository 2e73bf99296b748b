"""Rollups pending refresh: a first bulk assignment commits its rows first, the rollups after.

A bulk write that moves most rollup keys (a first assignment of every event, a city-wide
redraw) no longer rebuilds ``event_daily_counts`` and its derived tables (0027) inside its own
transaction: it writes the assignments with the rollup triggers standing aside (0026) and, in
the same transaction, records the local days whose counts it changed in ``rollup_refresh``.
The same command then refreshes them in a second transaction (geo.rollup_refresh) and sets
``done_at``. Until then the readers of the rollups count those days from the events
(``rollup_pending_days``; geo.rollup_sources), so no answer is ever wrong, and a refresh
interrupted by a crash is finished by the next bulk job, ``gridlink rollups refresh`` or the
API's start-up.

The rollups' insert trigger on ``event_assignments`` becomes a row trigger (:data:`ROW_TRIGGER`):
the bulk insert no longer pays for a transition table its ``WHEN`` never reads.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06 22:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0033'
down_revision: str | None = '0032'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE TABLE rollup_refresh (
    id bigserial PRIMARY KEY,
    job text NOT NULL,
    days date[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    done_at timestamptz
);
CREATE INDEX rollup_refresh_pending ON rollup_refresh (id) WHERE done_at IS NULL;
COMMENT ON TABLE rollup_refresh IS 'Bulk writes whose rollups (event_daily_counts and the '
    'tables derived from it) are still to be refreshed for their local days (done_at NULL)';
CREATE VIEW rollup_pending_days AS
SELECT DISTINCT unnest(days) AS day FROM rollup_refresh WHERE done_at IS NULL;
"""

KEY = "day, district_code, street_code, community_code, grid_code, category, status"
COUNTS = ("events", "valid", "due", "closed_on_time", "closed_postponed", "closed_first_time")
ROW_TRIGGER = f"""
CREATE FUNCTION event_assignments_roll_up_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_daily_counts AS c ({KEY}, {', '.join(COUNTS)})
    SELECT gridlink_local_day(e.reported_at), d.district_code, d.street_code,
           d.community_code, d.grid_code, e.category, e.status,
           {', '.join(f'sum(x.{n})' for n in COUNTS)}
      FROM (SELECT NULL::text AS district_code, NULL::text AS street_code,
                   NULL::text AS community_code, NULL::text AS grid_code, -1 AS delta
            UNION ALL SELECT NEW.district_code, NEW.street_code, NEW.community_code,
                             NEW.grid_code, 1) d
      JOIN events e ON e.id = NEW.event_id,
      LATERAL (SELECT d.delta AS events, d.delta * gridlink_valid_flag(e.valid) AS valid,
                      d.delta * gridlink_day_due(e.reported_at, e.due_at, e.valid, e.status) AS due,
                      d.delta * gridlink_on_time(e.due_at, e.closed_at, e.valid, e.status)
                          AS closed_on_time,
                      d.delta * gridlink_closed_postponed(e.postponements, e.valid, e.status)
                          AS closed_postponed,
                      d.delta * gridlink_closed_first_time(e.first_time, e.reworks, e.valid,
                                                           e.status) AS closed_first_time) x
     GROUP BY 1, 2, 3, 4, 5, 6, 7
    HAVING {' OR '.join(f'sum(x.{n}) <> 0' for n in COUNTS)}
     ORDER BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT ({KEY}) DO UPDATE SET {', '.join(f'{n} = c.{n} + EXCLUDED.{n}' for n in COUNTS)};
    RETURN NULL;
END $$;
DROP TRIGGER event_assignments_roll_up_insert ON event_assignments;
CREATE TRIGGER event_assignments_roll_up_insert AFTER INSERT ON event_assignments
    FOR EACH ROW WHEN (current_setting('gridlink.assignment_rollups', true)
                       IS DISTINCT FROM 'bulk')
    EXECUTE FUNCTION event_assignments_roll_up_row();
"""  # noqa: S608 (constant SQL)
"""The rollups' insert trigger on ``event_assignments`` per row instead of per statement
with a transition table: PostgreSQL captures a statement trigger's transition table even
when its ``WHEN`` skips it, so the bulk writer's 10^6-row insert (which moves the rollups
itself, ``gridlink.assignment_rollups = bulk``) paid ~2 s of 12 for rows nobody read
(bench/RESULTS.md, branch firstwrite). A row trigger's ``WHEN`` is checked per row and
captures nothing. Single-row inserts (a report's assignment, geo.event_assignments.write_one)
move the same counts as before: the insert branch of ``event_assignments_roll_up`` (0017)
for one row."""

ROW_TRIGGER_DOWN = """
DROP TRIGGER event_assignments_roll_up_insert ON event_assignments;
DROP FUNCTION event_assignments_roll_up_row();
CREATE TRIGGER event_assignments_roll_up_insert AFTER INSERT ON event_assignments
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT WHEN (current_setting('gridlink.assignment_rollups', true)
                             IS DISTINCT FROM 'bulk')
    EXECUTE FUNCTION event_assignments_roll_up();
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    op.execute(ROW_TRIGGER)


DOWNGRADE = """
DO $$ BEGIN
    IF EXISTS (SELECT FROM rollup_refresh WHERE done_at IS NULL) THEN
        RAISE EXCEPTION 'rollups pending refresh: run gridlink rollups refresh first';
    END IF;
END $$;
DROP VIEW rollup_pending_days;
DROP TABLE rollup_refresh;
"""
"""Refused while a refresh is pending: before 0033 nothing would count those days."""


def downgrade() -> None:
    op.execute(DOWNGRADE)
    op.execute(ROW_TRIGGER_DOWN)
