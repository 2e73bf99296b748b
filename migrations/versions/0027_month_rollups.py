"""Monthly rollups per assigned grid: the dashboard's month ranking without reading events.

The month's assessment ranking (``/stats`` of the child units from the first of the China
Standard Time month to now) read every event of the month with its assignment. This
migration keeps, per CST month of ``reported_at`` × district × street × community × grid
(of the stored assignment; NULL codes: not assigned), the counts of ``/stats`` that depend on
the event's own columns only (``event_monthly_counts``):

- ``events`` (受理数), ``valid``, ``handled`` (valid, resolved or closed);
- ``closed`` (valid and closed: closed implies due, whatever the period's end),
  ``closed_on_time`` (and ``closed_at <= due_at``), ``closed_postponed`` (and postponed at
  least once), ``closed_first_time`` (and ``coalesce(first_time, reworks = 0)``).

What depends on the period's end (``due`` of a case not yet closed: ``due_at`` before it) is
not kept: the reader adds those cases from the events (geo.month_stats).

The daily rollups (``event_daily_counts``, 0007/0017) gain ``closed_postponed`` and
``closed_first_time`` per key, moved by the same triggers (regenerated here with
0017's generator). The monthly table is maintained **from the daily one**: statement
triggers on ``event_daily_counts`` (insert, update, delete: transition tables, one grouped
upsert per statement; truncate empties it) sum each written daily key into its month's
key, leaving out status ``duplicate`` (merged duplicates are never counted). So every writer
that keeps the daily rollups (the row triggers, a bulk writer upserting daily deltas) keeps
the monthly ones, as long as it fills the daily rollups' two new counts.

Revision ID: 0027
Revises: 0025
Create Date: 2026-12-06 16:00:00
"""

# ruff: noqa: S608 (every SQL below is built from this module's constant fragments only)

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = '0027'
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CODES = "district_code, street_code, community_code, grid_code"
MONTH_KEY = f"month, {CODES}"
MONTH_COUNTS = ("events", "valid", "handled", "closed", "closed_on_time", "closed_postponed",
                "closed_first_time")
FROM_DAILY = {
    "events": "{d} * r.events",
    "valid": "{d} * r.valid",
    "handled": "{d} * CASE WHEN r.status IN ('resolved', 'closed') THEN r.valid ELSE 0 END",
    "closed": "{d} * CASE WHEN r.status = 'closed' THEN r.valid ELSE 0 END",
    "closed_on_time": "{d} * r.closed_on_time",
    "closed_postponed": "{d} * r.closed_postponed",
    "closed_first_time": "{d} * r.closed_first_time",
}
"""Each monthly count's contribution of one daily rollup row ``r`` moved by ``{d}``."""

NEW_PER_ROW = {
    "closed_postponed": "{d} * gridlink_closed_postponed({e}postponements, {e}valid,"
                        " {e}status)",
    "closed_first_time": "{d} * gridlink_closed_first_time({e}first_time, {e}reworks,"
                         " {e}valid, {e}status)",
}
"""The daily rollups' two new counts per event row (columns prefixed ``{e}``), as 0017's."""

FLAGS = """
CREATE FUNCTION gridlink_closed_postponed(postponements integer, valid boolean, status text)
    RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(valid AND status = 'closed' AND postponements > 0, false)::int $$;
CREATE FUNCTION gridlink_closed_first_time(first_time boolean, reworks integer, valid boolean,
        status text) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(valid AND status = 'closed' AND coalesce(first_time, reworks = 0),
                    false)::int $$;
"""
"""Per event, 1 or 0: valid, closed and postponed; valid, closed and first-time (the
``/stats`` expressions of geo.stats for a closed case, which is due in any period)."""


def daily_generator() -> ModuleType:
    """Migration 0017's module (its trigger generator), loaded afresh."""
    path = Path(__file__).with_name("0017_daily_rate_counts.py")
    spec = importlib.util.spec_from_file_location("gridlink_migration_0017", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def daily_functions(with_closed_counts: bool) -> str:
    """The daily rollups' trigger functions with (or without) the two new counts."""
    module = daily_generator()
    if with_closed_counts:
        module.PER_ROW = {**module.PER_ROW, **NEW_PER_ROW}
    return str(module.functions(rates=True))


def month_delta(rows: str, sign: str) -> str:
    """The monthly counts of daily rows ``rows`` times ``sign`` (constant SQL)."""
    counts = ", ".join(FROM_DAILY[n].format(d=sign) + f" AS {n}" for n in MONTH_COUNTS)
    return (f"SELECT date_trunc('month', r.day)::date AS month, r.district_code,"
            f" r.street_code, r.community_code, r.grid_code, {counts}"
            f" FROM {rows} r WHERE r.status <> 'duplicate'")


def month_upsert(parts: list[str]) -> str:
    """One grouped upsert of the union of ``parts`` into ``event_monthly_counts``."""
    sums = ", ".join(f"sum(d.{n})" for n in MONTH_COUNTS)
    changed = " OR ".join(f"sum(d.{n}) <> 0" for n in MONTH_COUNTS)
    return (f"INSERT INTO event_monthly_counts AS c ({MONTH_KEY}, {', '.join(MONTH_COUNTS)})"
            f" SELECT {MONTH_KEY}, {sums} FROM ({' UNION ALL '.join(parts)}) d"
            f" GROUP BY {MONTH_KEY} HAVING {changed} ORDER BY {MONTH_KEY}"
            f" ON CONFLICT ({MONTH_KEY}) DO UPDATE SET "
            + ", ".join(f"{n} = c.{n} + EXCLUDED.{n}" for n in MONTH_COUNTS))


MONTHLY_TABLE = f"""
CREATE TABLE event_monthly_counts (
    month date NOT NULL,
    district_code text, street_code text, community_code text, grid_code text,
    {', '.join(f'{n} integer NOT NULL DEFAULT 0' for n in MONTH_COUNTS)}
);
CREATE UNIQUE INDEX ux_event_monthly_counts_key ON event_monthly_counts ({MONTH_KEY})
    NULLS NOT DISTINCT;
"""

MONTHLY_TRIGGERS = f"""
CREATE FUNCTION event_monthly_counts_roll_up() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {month_upsert([month_delta('new_rows', '1')])};
    ELSIF TG_OP = 'UPDATE' THEN
        {month_upsert([month_delta('old_rows', '-1'), month_delta('new_rows', '1')])};
    ELSE
        {month_upsert([month_delta('old_rows', '-1')])};
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION event_monthly_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE event_monthly_counts;
    RETURN NULL;
END $$;

CREATE TRIGGER event_daily_counts_month_insert AFTER INSERT ON event_daily_counts
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION event_monthly_counts_roll_up();
CREATE TRIGGER event_daily_counts_month_update AFTER UPDATE ON event_daily_counts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION event_monthly_counts_roll_up();
CREATE TRIGGER event_daily_counts_month_delete AFTER DELETE ON event_daily_counts
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION event_monthly_counts_roll_up();
CREATE TRIGGER event_daily_counts_month_truncate AFTER TRUNCATE ON event_daily_counts
    FOR EACH STATEMENT EXECUTE FUNCTION event_monthly_counts_truncate();
"""

RECOUNT = f"""
TRUNCATE event_daily_counts;
INSERT INTO event_daily_counts (day, {CODES}, category, status, events, valid, due,
                                closed_on_time, closed_postponed, closed_first_time)
SELECT gridlink_local_day(e.reported_at), {CODES}, e.category, e.status, count(*),
       sum(gridlink_valid_flag(e.valid)),
       sum(gridlink_day_due(e.reported_at, e.due_at, e.valid, e.status)),
       sum(gridlink_on_time(e.due_at, e.closed_at, e.valid, e.status)),
       sum(gridlink_closed_postponed(e.postponements, e.valid, e.status)),
       sum(gridlink_closed_first_time(e.first_time, e.reworks, e.valid, e.status))
  FROM events e LEFT JOIN event_assignments a ON a.event_id = e.id
 GROUP BY 1, 2, 3, 4, 5, 6, 7;
INSERT INTO event_monthly_counts ({MONTH_KEY}, {', '.join(MONTH_COUNTS)})
SELECT {MONTH_KEY}, {', '.join(f'sum({n})' for n in MONTH_COUNTS)}
  FROM ({month_delta('event_daily_counts', '1')}) d GROUP BY {MONTH_KEY};
"""
"""The daily rollups recounted with the two new counts (as 0017 recounted them; before the
monthly triggers exist), then the monthly table summed from the daily one."""

OLD_ADD = "integer, integer, integer, integer"


def upgrade() -> None:
    op.execute("ALTER TABLE event_daily_counts"
               " ADD COLUMN closed_postponed integer NOT NULL DEFAULT 0,"
               " ADD COLUMN closed_first_time integer NOT NULL DEFAULT 0")
    op.execute(FLAGS)
    op.execute("DROP FUNCTION event_daily_counts_add(date, text, text, text, text, text, text,"
               f" {OLD_ADD})")
    op.execute(daily_functions(with_closed_counts=True))
    op.execute(MONTHLY_TABLE)
    op.execute(RECOUNT)
    op.execute(MONTHLY_TRIGGERS)


def downgrade() -> None:
    op.execute("DROP TRIGGER event_daily_counts_month_insert ON event_daily_counts;"
               " DROP TRIGGER event_daily_counts_month_update ON event_daily_counts;"
               " DROP TRIGGER event_daily_counts_month_delete ON event_daily_counts;"
               " DROP TRIGGER event_daily_counts_month_truncate ON event_daily_counts;"
               " DROP FUNCTION event_monthly_counts_roll_up();"
               " DROP FUNCTION event_monthly_counts_truncate();"
               " DROP TABLE event_monthly_counts")
    op.execute("DROP FUNCTION event_daily_counts_add(date, text, text, text, text, text, text,"
               f" {OLD_ADD}, integer, integer)")
    op.execute(daily_functions(with_closed_counts=False))
    op.execute("DROP FUNCTION gridlink_closed_first_time(boolean, integer, boolean, text);"
               " DROP FUNCTION gridlink_closed_postponed(integer, boolean, text)")
    op.execute("ALTER TABLE event_daily_counts DROP COLUMN closed_postponed,"
               " DROP COLUMN closed_first_time")
