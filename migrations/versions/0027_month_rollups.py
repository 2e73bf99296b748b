"""Rollups derived from the daily ones: per month and grid (the month's ranking) and per day,
area and category (the 30-day trend), so the dashboard reads neither events nor grid keys.

**Monthly** (``event_monthly_counts``): per China Standard Time month of ``reported_at`` ×
district × street × community × grid (of the stored assignment; NULL codes: not assigned),
the counts of ``/stats`` that depend on the event's own columns only:

- ``events`` (受理数), ``valid``, ``handled`` (valid, resolved or closed);
- ``closed`` (valid and closed: closed implies due, whatever the period's end),
  ``closed_on_time`` (and ``closed_at <= due_at``), ``closed_postponed`` (and postponed at
  least once), ``closed_first_time`` (and ``coalesce(first_time, reworks = 0)``).

What depends on the period's end (``due`` of a case not yet closed: ``due_at`` before it) is
not kept: the reader adds those cases from the events (geo.month_stats).

**Per area and day** (``event_area_daily_counts``): per CST day × area (each district,
street and community, ``area_code``, with its parent's code ``parent_code``: NULL for a
district) × category, the daily rollups' ``events``, ``valid``, ``handled``, ``due`` and
``closed_on_time`` summed over grids and statuses (geo.area_rollups). A district's 30 days
are ~300 rows here instead of ~146,000 daily keys at 10^6 events.

The daily rollups (``event_daily_counts``, 0007/0017) gain ``closed_postponed`` and
``closed_first_time`` per key, moved by the same triggers (regenerated here with 0017's
generator). Both derived tables are maintained **from the daily one**: statement triggers on
``event_daily_counts`` (insert, update, delete: transition tables, one grouped upsert per
table and statement; truncate empties them) add each written daily key's change to its
derived keys, leaving out status ``duplicate`` (merged duplicates are never counted). So
every writer that keeps the daily rollups (the triggers on events and assignments, a bulk
writer upserting daily deltas) keeps the derived ones, as long as it fills the daily
rollups' two new counts.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 16:00:00
"""

# ruff: noqa: S608 (every SQL below is built from this module's constant fragments only)

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = '0027'
down_revision: str | None = '0026'
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
    "due": "{d} * r.due",
    "closed_on_time": "{d} * r.closed_on_time",
    "closed_postponed": "{d} * r.closed_postponed",
    "closed_first_time": "{d} * r.closed_first_time",
}
"""Each derived count's contribution of one daily rollup row ``r`` moved by ``{d}``."""

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


AREA_COUNTS = ("events", "valid", "handled", "due", "closed_on_time")
DERIVED = {
    "event_monthly_counts": (
        MONTH_KEY, "date_trunc('month', r.day)::date, r.district_code, r.street_code,"
        " r.community_code, r.grid_code", "", MONTH_COUNTS),
    "event_area_daily_counts": (
        "area_code, day, category, parent_code", "l.area_code, r.day, r.category, l.parent_code",
        " CROSS JOIN LATERAL (VALUES (NULL::text, r.district_code),"
        " (r.district_code, r.street_code), (r.street_code, r.community_code))"
        " l(parent_code, area_code)", AREA_COUNTS),
}
"""Each table summed from the daily rollups: (key, key of a daily row ``r``, what a daily row
is joined to, counts). The per-area table counts a daily row once for its district, street
and community (``area_code``, with its parent's code), without grid and status."""


def derived_delta(table: str, rows: str, sign: str) -> str:
    """The counts of ``table`` of daily rows ``rows`` times ``sign`` (constant SQL)."""
    key, key_of_row, joined, counts = DERIVED[table]
    named = ", ".join(f"{FROM_DAILY[n].format(d=sign)} AS {n}" for n in counts)
    area = " AND l.area_code IS NOT NULL" if joined else ""
    return (f"SELECT {key_of_row}, {named} FROM {rows} r{joined}"
            f" WHERE r.status <> 'duplicate'{area}")


def derived_upsert(table: str, parts: list[str]) -> str:
    """One grouped upsert of the union of ``parts`` into ``table``."""
    key, _, _, counts = DERIVED[table]
    sums = ", ".join(f"sum(d.{n})" for n in counts)
    changed = " OR ".join(f"sum(d.{n}) <> 0" for n in counts)
    return (f"INSERT INTO {table} AS c ({key}, {', '.join(counts)})"
            f" SELECT {key}, {sums} FROM ({' UNION ALL '.join(parts)}) d ({key}, {', '.join(counts)})"
            f" GROUP BY {key} HAVING {changed} ORDER BY {key}"
            f" ON CONFLICT ({key}) DO UPDATE SET "
            + ", ".join(f"{n} = c.{n} + EXCLUDED.{n}" for n in counts))


def roll_up(op_rows: list[tuple[str, str]]) -> str:
    """The upserts of every derived table for daily rows ``op_rows`` ((rows, sign) pairs)."""
    return ";\n        ".join(
        derived_upsert(table, [derived_delta(table, rows, sign) for rows, sign in op_rows])
        for table in DERIVED)


DERIVED_TABLES = f"""
CREATE TABLE event_monthly_counts (
    month date NOT NULL,
    district_code text, street_code text, community_code text, grid_code text,
    {', '.join(f'{n} integer NOT NULL DEFAULT 0' for n in MONTH_COUNTS)}
) WITH (fillfactor = 70);
CREATE UNIQUE INDEX ux_event_monthly_counts_key ON event_monthly_counts ({MONTH_KEY})
    NULLS NOT DISTINCT;
CREATE TABLE event_area_daily_counts (
    area_code text NOT NULL, day date NOT NULL, category text NOT NULL, parent_code text,
    {', '.join(f'{n} integer NOT NULL DEFAULT 0' for n in AREA_COUNTS)}
) WITH (fillfactor = 70);
CREATE UNIQUE INDEX ux_event_area_daily_counts_key
    ON event_area_daily_counts (area_code, day, category, parent_code) NULLS NOT DISTINCT;
CREATE INDEX ix_event_area_daily_counts_parent ON event_area_daily_counts (parent_code, day);
"""
"""The derived tables; pages kept 30 % free, so an upsert that changes only counts (not
indexed) is a heap-only update that writes no index entry."""

DERIVED_TRIGGERS = f"""
CREATE FUNCTION event_daily_counts_derive() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {roll_up([('new_rows', '1')])};
    ELSIF TG_OP = 'UPDATE' THEN
        {roll_up([('old_rows', '-1'), ('new_rows', '1')])};
    ELSE
        {roll_up([('old_rows', '-1')])};
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION event_daily_counts_derive_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE event_monthly_counts, event_area_daily_counts;
    RETURN NULL;
END $$;

CREATE TRIGGER event_daily_counts_derive_insert AFTER INSERT ON event_daily_counts
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION event_daily_counts_derive();
CREATE TRIGGER event_daily_counts_derive_update AFTER UPDATE ON event_daily_counts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION event_daily_counts_derive();
CREATE TRIGGER event_daily_counts_derive_delete AFTER DELETE ON event_daily_counts
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION event_daily_counts_derive();
CREATE TRIGGER event_daily_counts_derive_truncate AFTER TRUNCATE ON event_daily_counts
    FOR EACH STATEMENT EXECUTE FUNCTION event_daily_counts_derive_truncate();
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
{derived_upsert('event_monthly_counts',
                [derived_delta('event_monthly_counts', 'event_daily_counts', '1')])};
{derived_upsert('event_area_daily_counts',
                [derived_delta('event_area_daily_counts', 'event_daily_counts', '1')])};
"""
"""The daily rollups recounted with the two new counts (as 0017 recounted them; before the
derived tables' triggers exist), then the derived tables summed from the daily one."""

OLD_ADD = "integer, integer, integer, integer"


def upgrade() -> None:
    op.execute("ALTER TABLE event_daily_counts"
               " ADD COLUMN closed_postponed integer NOT NULL DEFAULT 0,"
               " ADD COLUMN closed_first_time integer NOT NULL DEFAULT 0")
    op.execute(FLAGS)
    op.execute("DROP FUNCTION event_daily_counts_add(date, text, text, text, text, text, text,"
               f" {OLD_ADD})")
    op.execute(daily_functions(with_closed_counts=True))
    op.execute(DERIVED_TABLES)
    op.execute(RECOUNT)
    op.execute(DERIVED_TRIGGERS)


def downgrade() -> None:
    op.execute("".join(f"DROP TRIGGER event_daily_counts_derive_{o} ON event_daily_counts;"
                       for o in ("insert", "update", "delete", "truncate"))
               + "DROP FUNCTION event_daily_counts_derive();"
               " DROP FUNCTION event_daily_counts_derive_truncate();"
               " DROP TABLE event_monthly_counts, event_area_daily_counts")
    op.execute("DROP FUNCTION event_daily_counts_add(date, text, text, text, text, text, text,"
               f" {OLD_ADD}, integer, integer)")
    op.execute(daily_functions(with_closed_counts=False))
    op.execute("DROP FUNCTION gridlink_closed_first_time(boolean, integer, boolean, text);"
               " DROP FUNCTION gridlink_closed_postponed(integer, boolean, text)")
    op.execute("ALTER TABLE event_daily_counts DROP COLUMN closed_postponed,"
               " DROP COLUMN closed_first_time")
