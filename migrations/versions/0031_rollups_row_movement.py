"""Deleted events leave the daily rollups by a statement trigger, so a row moved to another
month's partition is counted out once (#18).

An UPDATE of ``events.reported_at`` into another month's partition moves the row: PostgreSQL
deletes it from one partition and inserts it into the other, firing the **row-level** DELETE
and INSERT triggers of the partitions but only the UPDATE's **statement** triggers. The
daily rollups' row-level ``BEFORE DELETE`` trigger (0007) therefore took the event's count
from its old key, and then the UPDATE's statement trigger (``events_roll_up``) moved it
again, -1 from the old key and +1 to the new: the old key was decremented twice.

The row trigger is replaced by a statement trigger ``AFTER DELETE`` with the deleted rows as
a transition table: one grouped upsert per DELETE statement (the counts of 0017/0027, -1 per
event, keys in order), which a row movement does not fire. It needs the deleted events'
assignments, which ``events_delete_assignments`` (0003) removes in an AFTER DELETE statement
trigger too: AFTER triggers of one event fire in name order, so it is named
``events_count_deleted`` (before ``events_delete_assignments`` and
``events_delete_references``). Like the other statement triggers on ``events`` it fires for
a DELETE on ``events`` (all partitions), not for one naming a partition directly
(``drop_partition`` of geo.event_archive detaches first: the rollups keep archived months).

Downgrade restores the row trigger and its function (0027's generator).

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06 18:40:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = '0031'
down_revision: str | None = '0030'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "day, district_code, street_code, community_code, grid_code, category, status"
COUNTS = {
    "events": "count(*)",
    "valid": "sum(gridlink_valid_flag(o.valid))",
    "due": "sum(gridlink_day_due(o.reported_at, o.due_at, o.valid, o.status))",
    "closed_on_time": "sum(gridlink_on_time(o.due_at, o.closed_at, o.valid, o.status))",
    "closed_postponed": "sum(gridlink_closed_postponed(o.postponements, o.valid, o.status))",
    "closed_first_time": "sum(gridlink_closed_first_time(o.first_time, o.reworks, o.valid,"
                         " o.status))",
}
"""The daily rollups' counts of a group of deleted event rows ``o`` (0017, 0027)."""

UPGRADE = f"""
DROP TRIGGER events_roll_up_delete ON events;
DROP FUNCTION events_roll_up_delete();
CREATE FUNCTION events_roll_up_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_daily_counts AS c ({KEY}, {', '.join(COUNTS)})
    SELECT gridlink_local_day(o.reported_at), a.district_code, a.street_code,
           a.community_code, a.grid_code, o.category, o.status,
           {', '.join(f'-{expr}' for expr in COUNTS.values())}
      FROM old_rows o LEFT JOIN event_assignments a ON a.event_id = o.id
     GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT ({KEY}) DO UPDATE SET
       {', '.join(f'{n} = c.{n} + EXCLUDED.{n}' for n in COUNTS)};
    RETURN NULL;
END $$;
CREATE TRIGGER events_count_deleted AFTER DELETE ON events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION events_roll_up_delete();
"""  # noqa: S608 (constant SQL)


def _migration_0027_functions() -> str:
    """The daily rollups' trigger functions as migration 0027 created them."""
    path = Path(__file__).with_name("0027_month_rollups.py")
    spec = importlib.util.spec_from_file_location("gridlink_migration_0027", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.daily_functions(with_closed_counts=True))


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TRIGGER events_count_deleted ON events;"
               " DROP FUNCTION events_roll_up_delete()")
    op.execute(_migration_0027_functions())
    op.execute("CREATE TRIGGER events_roll_up_delete BEFORE DELETE ON events"
               " FOR EACH ROW EXECUTE FUNCTION events_roll_up_delete()")
