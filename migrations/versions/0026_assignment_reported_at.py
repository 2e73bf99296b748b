"""``event_assignments.reported_at``: the event's ``reported_at`` beside its assignment, so
reads join events ⇄ assignments on ``(event_id, reported_at)`` and the planner prunes the
monthly partitions of ``events`` (#18); bulk writers maintain the daily rollups themselves.

* ``reported_at`` is filled from ``events`` for every existing row (the rollup triggers off
  for that UPDATE: no assignment moves), then ``NOT NULL``; the table is then rewritten
  compactly (CLUSTER on its primary key). Every writer
  (geo.event_assignments) fills it; a row trigger fills it from ``events`` for any other
  INSERT that leaves it out (``WHEN (NEW.reported_at IS NULL)``: a writer that fills it pays
  nothing). A row that names no event cannot be given one: the upgrade stops and names
  how many, changing nothing.
* It follows the event: a row trigger ``BEFORE UPDATE OF reported_at ON events`` (before, so
  it also fires when the row moves to another month's partition) copies the new instant.
* ``events_with_assignment`` joins on ``(event_id, reported_at)``: a read that starts from
  the assignments (a grid's events) probes one partition per event instead of every one.
* The rollup triggers on ``event_assignments`` (0007/0017) fire unless the writing
  transaction set ``gridlink.assignment_rollups`` to ``bulk``: the bulk writer
  (geo.event_assignments.write_staged) then moves the rollups once for the whole statement.

``event_assignments`` stays one heap (docs/scale.md says why). Downgrade drops the column and
gives back the view and triggers as before.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0026'
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLLUP_TRIGGERS = {
    "insert": "INSERT ON event_assignments REFERENCING NEW TABLE AS new_rows",
    "update": "UPDATE ON event_assignments REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "DELETE ON event_assignments REFERENCING OLD TABLE AS old_rows"}
"""The statement triggers of 0007 on ``event_assignments``, by name suffix."""

OLD_JOIN = "ON ((a.event_id = e.id)))"
NEW_JOIN = "ON (((a.event_id = e.id) AND (a.reported_at = e.reported_at))))"
"""The view's join as ``pg_get_viewdef`` prints it, before and after."""

FILL = """
ALTER TABLE event_assignments DISABLE TRIGGER event_assignments_roll_up_update;
UPDATE event_assignments a SET reported_at = e.reported_at FROM events e WHERE e.id = a.event_id;
ALTER TABLE event_assignments ENABLE TRIGGER event_assignments_roll_up_update;
DO $$
DECLARE orphans bigint;
BEGIN
    SELECT count(*) INTO orphans FROM event_assignments WHERE reported_at IS NULL;
    IF orphans > 0 THEN
        RAISE EXCEPTION '% rows of event_assignments name no event (event_id with no row in'
                        ' events); delete them, then upgrade again', orphans
            USING ERRCODE = 'foreign_key_violation', TABLE = 'event_assignments',
                  COLUMN = 'event_id';
    END IF;
END $$;
ALTER TABLE event_assignments ALTER COLUMN reported_at SET NOT NULL;
CLUSTER event_assignments USING pk_event_assignments;
ANALYZE event_assignments;
"""
"""The UPDATE leaves every row's old version behind (the table doubles: 128 → 256 MB at 10^6,
and a month's /stats scans it); CLUSTER writes it again compactly in id order (7 s at 10^6).
"""

TRIGGERS = """
CREATE FUNCTION event_assignments_fill_reported_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT e.reported_at INTO NEW.reported_at FROM events e WHERE e.id = NEW.event_id;
    RETURN NEW;
END $$;
CREATE TRIGGER event_assignments_fill_reported_at BEFORE INSERT ON event_assignments
    FOR EACH ROW WHEN (NEW.reported_at IS NULL)
    EXECUTE FUNCTION event_assignments_fill_reported_at();

CREATE FUNCTION events_move_assignment_reported_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE event_assignments SET reported_at = NEW.reported_at
     WHERE event_id = NEW.id;
    RETURN NEW;
END $$;
CREATE TRIGGER events_move_assignment_reported_at BEFORE UPDATE OF reported_at ON events
    FOR EACH ROW WHEN (OLD.reported_at IS DISTINCT FROM NEW.reported_at)
    EXECUTE FUNCTION events_move_assignment_reported_at();
"""


def _rollup_triggers(when: str) -> str:
    """The rollup triggers of 0007, recreated with the statement condition ``when``."""
    return "\n".join(
        f"DROP TRIGGER event_assignments_roll_up_{suffix} ON event_assignments;\n"
        f"CREATE TRIGGER event_assignments_roll_up_{suffix} AFTER {event}\n"
        f"    FOR EACH STATEMENT {when}EXECUTE FUNCTION event_assignments_roll_up();"
        for suffix, event in ROLLUP_TRIGGERS.items())


def _replace_view(old: str, new: str) -> None:
    """Recreate ``events_with_assignment`` with its join ``old`` replaced by ``new``."""
    bind = op.get_bind()
    definition = bind.execute(sa.text(
        "SELECT pg_get_viewdef('events_with_assignment'::regclass)")).scalar_one()
    if definition.count(old) != 1:
        raise RuntimeError(f"events_with_assignment does not join {old!r} once: {definition}")
    op.execute("CREATE OR REPLACE VIEW events_with_assignment AS "
               + definition.replace(old, new))


def upgrade() -> None:
    op.execute("ALTER TABLE event_assignments ADD COLUMN reported_at timestamptz")
    op.execute(FILL)
    op.execute(TRIGGERS)
    op.execute(_rollup_triggers(
        "WHEN (current_setting('gridlink.assignment_rollups', true) IS DISTINCT FROM 'bulk')\n"
        "    "))
    _replace_view(OLD_JOIN, NEW_JOIN)


def downgrade() -> None:
    _replace_view(NEW_JOIN, OLD_JOIN)
    op.execute(_rollup_triggers(""))
    op.execute("DROP TRIGGER events_move_assignment_reported_at ON events;"
               " DROP FUNCTION events_move_assignment_reported_at();"
               " DROP TRIGGER event_assignments_fill_reported_at ON event_assignments;"
               " DROP FUNCTION event_assignments_fill_reported_at()")
    op.execute("ALTER TABLE event_assignments DROP COLUMN reported_at")
