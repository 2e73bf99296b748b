"""An events import moves the daily rollups once, at its end, instead of once per INSERT (#18).

The roll-up trigger on ``events`` (``events_roll_up_insert``, 0007/0017/0027) upserts the
daily keys of each INSERT statement's rows into ``event_daily_counts``. An import inserts
its rows in hundreds of statements in one transaction (geo.importer.early_inserts: ~500 at
10^7 rows), and every statement updates the same few hundred keys (a day x category x
status of unassigned events): each update leaves a row version that stays visible to the
importing transaction's later probes, so the n-th statement's upsert walks n versions per
key. Measured in one transaction, 900 keys: 12 ms for the first upsert, 141 ms for the
50th, 300 ms for the 100th, 520 ms for the 300th (bench/RESULTS.md, seventh import session):
the import's cost grows with the square of its statements.

Now, when the transaction sets ``gridlink.event_rollups`` to ``deferred``, the insert
trigger stands aside (its ``WHEN``, as 0026 does for the assignments' triggers) and
``events_roll_up_insert_deferred`` appends the same grouped counts (0017's generator, with
0027's two counts) to the importer's temp table ``gridlink_event_roll_ups`` (created by the
importer: geo.importer.deferred_rollups), no upsert; ``gridlink_flush_event_roll_ups()``
then upserts their sums into ``event_daily_counts`` in one statement (which moves the
derived rollups once, 0027). The counts are additive deltas, so the totals are the same as
the per-statement upserts, whatever else the transaction writes in between; another session
never sees the difference (both happen before the import's commit).

Downgrade gives back the trigger without ``WHEN`` and drops the two functions.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 03:40:00
"""
# ruff: noqa: S608 (every SQL below is built from the generator's constant fragments only)

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = '0036'
down_revision: str | None = '0035'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SETTING = "gridlink.event_rollups"
DEFERRED_TABLE = "pg_temp.gridlink_event_roll_ups"


def _migration(name: str) -> ModuleType:
    """An earlier migration's module, loaded afresh."""
    path = Path(__file__).with_name(name)
    spec = importlib.util.spec_from_file_location(f"gridlink_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _generator() -> ModuleType:
    """0017's generator with 0027's two counts: the daily rollups as they are now."""
    generator = _migration("0017_daily_rate_counts.py")
    generator.PER_ROW = {**generator.PER_ROW, **_migration("0027_month_rollups.py").NEW_PER_ROW}
    return generator


def upgrade_sql() -> str:
    """The functions and triggers of the upgrade (constant SQL)."""
    g = _generator()
    cols = g.names(True)
    names = ", ".join(cols)
    sums = ", ".join(f"sum(d.{n})" for n in cols)
    conflict = (f"ON CONFLICT ({g.KEY}) DO UPDATE SET "
                + ", ".join(f"{n} = c.{n} + EXCLUDED.{n}" for n in cols))
    new_counts = ", ".join(f"sum(x.{n})" for n in cols)
    return f"""
CREATE FUNCTION events_roll_up_deferred() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {DEFERRED_TABLE} ({g.KEY}, {names})
    SELECT gridlink_local_day(n.reported_at), a.district_code, a.street_code,
           a.community_code, a.grid_code, n.category, n.status, {new_counts}
      FROM new_rows n LEFT JOIN event_assignments a ON a.event_id = n.id,
           LATERAL (SELECT {g.row_counts(True, "1", "n.")}) x
     GROUP BY {g.ORDER};
    RETURN NULL;
END $$;
CREATE FUNCTION gridlink_flush_event_roll_ups() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_daily_counts AS c ({g.KEY}, {names})
    SELECT {g.KEY}, {sums} FROM {DEFERRED_TABLE} d
     GROUP BY {g.ORDER} ORDER BY {g.ORDER}
    {conflict};
    TRUNCATE {DEFERRED_TABLE};
END $$;
DROP TRIGGER events_roll_up_insert ON events;
CREATE TRIGGER events_roll_up_insert AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    WHEN (current_setting('{SETTING}', true) IS DISTINCT FROM 'deferred')
    EXECUTE FUNCTION events_roll_up();
CREATE TRIGGER events_roll_up_insert_deferred AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    WHEN (current_setting('{SETTING}', true) = 'deferred')
    EXECUTE FUNCTION events_roll_up_deferred();
"""


DOWNGRADE = """
DROP TRIGGER events_roll_up_insert_deferred ON events;
DROP TRIGGER events_roll_up_insert ON events;
CREATE TRIGGER events_roll_up_insert AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION events_roll_up();
DROP FUNCTION gridlink_flush_event_roll_ups();
DROP FUNCTION events_roll_up_deferred();
"""


def upgrade() -> None:
    op.execute(upgrade_sql())


def downgrade() -> None:
    op.execute(DOWNGRADE)
