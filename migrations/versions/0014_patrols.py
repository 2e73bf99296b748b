"""Patrol tasks (巡查): rules per site category and frequency, tasks per unit and period,
check-ins with the worker's position.

- ``patrol_rules``: which units are patrolled how often. ``layer`` is ``sites`` (``category``
  a site category, or ``*`` for every site) or ``buildings`` (``category`` always ``*``);
  ``frequency`` daily, weekly (ISO week, Monday first) or monthly. Seeded with the defaults
  of docs/patrols.md: schools and kindergartens daily, old compounds weekly, every building
  monthly.
- ``patrol_tasks``: one row per unit, frequency and period (unique: generating twice adds
  nothing), with the ordinary grid and micro-grid covering the unit and the worker assigned.
- ``patrol_checkins``: the accepted check-in of a task (at most one), the position sent and
  its distance in metres to the unit. Refused check-ins are not stored.

Rules and check-ins are audited by the row triggers of 0005.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 09:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE TABLE patrol_rules (
    id serial PRIMARY KEY,
    layer text NOT NULL,
    category text NOT NULL,
    frequency text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_patrol_rules_layer CHECK (layer IN ('sites', 'buildings')),
    CONSTRAINT ck_patrol_rules_category CHECK (layer = 'sites' OR category = '*'),
    CONSTRAINT ck_patrol_rules_frequency CHECK (frequency IN ('daily', 'weekly', 'monthly')),
    CONSTRAINT uq_patrol_rules_layer_category UNIQUE (layer, category)
);
INSERT INTO patrol_rules (layer, category, frequency) VALUES
    ('sites', 'primary_school', 'daily'),
    ('sites', 'school', 'daily'),
    ('sites', 'kindergarten', 'daily'),
    ('sites', 'old_compound', 'weekly'),
    ('buildings', '*', 'monthly');

CREATE TABLE patrol_tasks (
    id bigserial PRIMARY KEY,
    layer text NOT NULL,
    unit_code text NOT NULL,
    frequency text NOT NULL,
    period_start date NOT NULL,
    due_date date NOT NULL,
    grid_code text NOT NULL,
    micro_grid_code text,
    worker_code text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_patrol_tasks_period CHECK (period_start <= due_date),
    CONSTRAINT uq_patrol_tasks_layer_unit_code_frequency_period_start
        UNIQUE (layer, unit_code, frequency, period_start)
);
CREATE INDEX ix_patrol_tasks_grid_code_due_date ON patrol_tasks (grid_code, due_date);
CREATE INDEX ix_patrol_tasks_micro_grid_code ON patrol_tasks (micro_grid_code);

CREATE TABLE patrol_checkins (
    id bigserial PRIMARY KEY,
    task_id bigint NOT NULL REFERENCES patrol_tasks (id) ON DELETE CASCADE,
    worker_code text,
    at timestamptz NOT NULL DEFAULT now(),
    distance_m double precision NOT NULL,
    geom geometry(Point, 4326) NOT NULL,
    CONSTRAINT uq_patrol_checkins_task_id UNIQUE (task_id)
);
"""

AUDITED = {'patrol_rules': 'layer,category,frequency',
           'patrol_checkins': 'task_id,worker_code,distance_m'}


def _triggers(table: str, columns: str) -> str:
    args = f"'id', 'id', '{columns}'"
    return f"""
CREATE TRIGGER audit_{table}_insert AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_rows({args});
CREATE TRIGGER audit_{table}_update AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows({args});
CREATE TRIGGER audit_{table}_delete AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_rows({args});
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    for table, columns in AUDITED.items():
        op.execute(_triggers(table, columns))


def downgrade() -> None:
    op.execute('DROP TABLE IF EXISTS patrol_checkins, patrol_tasks, patrol_rules')
