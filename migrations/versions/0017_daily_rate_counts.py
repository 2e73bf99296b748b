"""The daily rollups also count, per key, the valid, due and closed-on-time events: the
dashboard's daily handling and on-time rates read them instead of the events.

``event_daily_counts`` gains three counts beside ``events``:

- ``valid``: valid events (有效案件);
- ``due``: events due in the single-day period of their report day - valid and (due before
  the end of that China Standard Time day, or closed). This is the ``due`` (应结案) of
  ``/stats`` for the period [day 00:00, next day 00:00) in UTC+8: it depends on the event's
  own columns only, so the triggers keep it exact;
- ``closed_on_time``: valid, closed and ``closed_at <= due_at`` (closed implies due).

``handled`` and ``closed`` follow from ``valid`` and the ``status`` of the key (resolved or
closed; closed). The triggers of 0007 are replaced by the same triggers moving the four
counts; every key whose counts change is upserted (a postponement or an invalidation moves
``due`` or ``valid`` without moving ``events``). The existing rows are recounted.

Revision ID: 0017
Revises: 0014
Create Date: 2026-12-06 10:55:00
"""

# ruff: noqa: S608 (every SQL below is built from this module's constant fragments only)

from collections.abc import Sequence

from alembic import op

revision: str = '0017'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "day, district_code, street_code, community_code, grid_code, category, status"
ORDER = "1, 2, 3, 4, 5, 6, 7"


PER_ROW = {
    "events": "{d}",
    "valid": "{d} * gridlink_valid_flag({e}valid)",
    "due": "{d} * gridlink_day_due({e}reported_at, {e}due_at, {e}valid, {e}status)",
    "closed_on_time": "{d} * gridlink_on_time({e}due_at, {e}closed_at, {e}valid, {e}status)",
}
"""Each count's contribution of one event row (columns prefixed ``{e}``) moved by ``{d}``."""


def names(rates: bool) -> list[str]:
    """The count columns: 0007's ``events`` only, or with the rate counts."""
    return list(PER_ROW) if rates else ["events"]


def row_counts(rates: bool, delta: str, e: str, named: bool = True) -> str:
    """``delta`` times each count flag of the event columns prefixed ``e`` (constant SQL)."""
    return ", ".join(PER_ROW[n].format(d=delta, e=e) + (f" AS {n}" if named else "")
                     for n in names(rates))


def functions(rates: bool) -> str:
    """The trigger functions (0007's when not ``rates``), as CREATE OR REPLACE."""
    cols = names(rates)
    upsert = f"INSERT INTO event_daily_counts AS c ({KEY}, {', '.join(cols)})\n"
    conflict = ("ON CONFLICT (" + KEY + ") DO UPDATE SET "
                + ", ".join(f"{n} = c.{n} + EXCLUDED.{n}" for n in cols))

    def sums(x: str) -> str:
        return ", ".join(f"sum({x}.{n})" for n in cols)

    def having(x: str) -> str:
        return " OR ".join(f"sum({x}.{n}) <> 0" for n in cols)
    events_old = row_counts(rates, "-1", "o.")
    events_new = row_counts(rates, "1", "n.")
    assigned = row_counts(rates, "d.delta", "e.")

    def moved(rows: str) -> str:
        return (upsert + f"""        SELECT gridlink_local_day(e.reported_at), d.district_code, d.street_code,
               d.community_code, d.grid_code, e.category, e.status, {sums("x")}
          FROM ({rows}) d
          JOIN events e ON e.id = d.event_id, LATERAL (SELECT {assigned}) x
         GROUP BY {ORDER} HAVING {having("x")} ORDER BY {ORDER}
        {conflict};""")

    unassigned = ("NULL::text AS district_code, NULL::text AS street_code,"
                  " NULL::text AS community_code, NULL::text AS grid_code")
    codes = "district_code, street_code, community_code, grid_code"
    add_params = ", ".join(f"p_{n} integer" for n in cols)
    add_values = ", ".join(f"p_{n}" for n in cols)
    delete_args = row_counts(rates, "-1", "OLD.", named=False)
    return f"""
CREATE OR REPLACE FUNCTION event_daily_counts_add(p_day date, p_district text, p_street text,
        p_community text, p_grid text, p_category text, p_status text, {add_params})
    RETURNS void LANGUAGE sql AS $$
    INSERT INTO event_daily_counts AS c ({KEY}, {', '.join(cols)})
    VALUES (p_day, p_district, p_street, p_community, p_grid, p_category, p_status, {add_values})
    {conflict}
$$;

CREATE OR REPLACE FUNCTION events_roll_up() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {upsert}        SELECT gridlink_local_day(n.reported_at), a.district_code, a.street_code,
               a.community_code, a.grid_code, n.category, n.status, {sums("x")}
          FROM new_rows n LEFT JOIN event_assignments a ON a.event_id = n.id,
               LATERAL (SELECT {events_new}) x
         GROUP BY {ORDER} ORDER BY {ORDER}
        {conflict};
    ELSE
        {upsert}        SELECT d.day, a.district_code, a.street_code, a.community_code, a.grid_code,
               d.category, d.status, {sums("d")}
          FROM (SELECT gridlink_local_day(o.reported_at) AS day, o.category, o.status, o.id,
                       {events_old} FROM old_rows o
                UNION ALL
                SELECT gridlink_local_day(n.reported_at), n.category, n.status, n.id,
                       {events_new} FROM new_rows n) d
          LEFT JOIN event_assignments a ON a.event_id = d.id
         GROUP BY {ORDER} HAVING {having("d")} ORDER BY {ORDER}
        {conflict};
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION events_roll_up_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE a record;
BEGIN
    SELECT {codes} INTO a FROM event_assignments WHERE event_id = OLD.id;
    PERFORM event_daily_counts_add(gridlink_local_day(OLD.reported_at), a.district_code,
        a.street_code, a.community_code, a.grid_code, OLD.category, OLD.status, {delete_args});
    RETURN OLD;
END $$;

CREATE OR REPLACE FUNCTION event_assignments_roll_up() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {moved(f"SELECT n.event_id, {unassigned}, -1 AS delta FROM new_rows n UNION ALL "
               f"SELECT n.event_id, {codes}, 1 FROM new_rows n")}
    ELSIF TG_OP = 'UPDATE' THEN
        {moved(f"SELECT o.event_id, {codes}, -1 AS delta FROM old_rows o UNION ALL "
               f"SELECT n.event_id, {codes}, 1 FROM new_rows n")}
    ELSE
        {moved(f"SELECT o.event_id, {codes}, -1 AS delta FROM old_rows o UNION ALL "
               f"SELECT o.event_id, NULL, NULL, NULL, NULL, 1 FROM old_rows o")}
    END IF;
    RETURN NULL;
END $$;
"""


FLAGS = """
CREATE FUNCTION gridlink_valid_flag(valid boolean) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT coalesce(valid, false)::int $$;
CREATE FUNCTION gridlink_day_due(reported_at timestamptz, due_at timestamptz, valid boolean,
        status text) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(valid AND (due_at < ((gridlink_local_day(reported_at) + 1)::timestamp
                                         AT TIME ZONE 'Asia/Shanghai')
                               OR status = 'closed'), false)::int $$;
CREATE FUNCTION gridlink_on_time(due_at timestamptz, closed_at timestamptz, valid boolean,
        status text) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(valid AND status = 'closed' AND closed_at <= due_at, false)::int $$;
"""
"""Per event, 1 or 0: valid; due in the single-day period of its CST report day; closed on
time (the ``/stats`` expressions of geo.stats, with ``until`` the end of the report day)."""

RECOUNT = f"""
TRUNCATE event_daily_counts;
INSERT INTO event_daily_counts ({KEY}, events, valid, due, closed_on_time)
SELECT gridlink_local_day(e.reported_at), a.district_code, a.street_code, a.community_code,
       a.grid_code, e.category, e.status, count(*),
       sum(gridlink_valid_flag(e.valid)),
       sum(gridlink_day_due(e.reported_at, e.due_at, e.valid, e.status)),
       sum(gridlink_on_time(e.due_at, e.closed_at, e.valid, e.status))
  FROM events e LEFT JOIN event_assignments a ON a.event_id = e.id
 GROUP BY {ORDER};
"""


def upgrade() -> None:
    op.execute("ALTER TABLE event_daily_counts ADD COLUMN valid integer NOT NULL DEFAULT 0,"
               " ADD COLUMN due integer NOT NULL DEFAULT 0,"
               " ADD COLUMN closed_on_time integer NOT NULL DEFAULT 0")
    op.execute(FLAGS)
    op.execute("DROP FUNCTION event_daily_counts_add(date, text, text, text, text, text, text,"
               " integer)")
    op.execute(functions(rates=True))
    op.execute(RECOUNT)


def downgrade() -> None:
    op.execute("DROP FUNCTION event_daily_counts_add(date, text, text, text, text, text, text,"
               " integer, integer, integer, integer)")
    op.execute(functions(rates=False))
    op.execute("DROP FUNCTION gridlink_on_time(timestamptz, timestamptz, boolean, text);"
               " DROP FUNCTION gridlink_day_due(timestamptz, timestamptz, boolean, text);"
               " DROP FUNCTION gridlink_valid_flag(boolean)")
    op.execute("ALTER TABLE event_daily_counts DROP COLUMN valid, DROP COLUMN due,"
               " DROP COLUMN closed_on_time")
