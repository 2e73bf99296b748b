"""Event assignments in their own table (event_assignments) and the events_with_assignment view.

The grid chain and cameras of an event are derived data: re-computed whenever grids or
cameras change. Kept on the wide ``events`` row, re-assigning a million events rewrote a
million event rows and every index on them (bench/RESULTS.md, Dispatch: 53 s of a 100 s
run). In a narrow table keyed by event id the same write is an INSERT of narrow rows.
Also: a geography index on the current ordinary grids only, for nearest-grid look-ups.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ASSIGNMENT_COLUMNS = ("district_code", "street_code", "community_code", "grid_code",
                      "micro_grid_code", "dedicated_grid_codes", "assignment",
                      "nearest_grid_code", "nearest_distance_m", "camera_codes", "assigned_at")

VIEW = """
CREATE VIEW events_with_assignment AS
SELECT e.*, a.district_code, a.street_code, a.community_code, a.grid_code, a.micro_grid_code,
       a.dedicated_grid_codes, a.assignment, a.nearest_grid_code, a.nearest_distance_m,
       a.camera_codes, a.assigned_at
FROM events e LEFT JOIN event_assignments a ON a.event_id = e.id
"""

CASCADE = """
CREATE FUNCTION delete_event_assignments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM event_assignments a USING gone g WHERE a.event_id = g.id;
  RETURN NULL;
END $$;
CREATE TRIGGER events_delete_assignments AFTER DELETE ON events
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION delete_event_assignments();
"""
"""Deleting events deletes their assignments, once per statement. Not a foreign key: its
per-row check made inserting 1,000,000 assignments 12.2 s instead of 2.7 s (measured on the
bench database). Assignments are only written by geo.assign / geo.events from rows of
``events`` in the same transaction."""


def upgrade() -> None:
    op.create_table(
        'event_assignments',
        sa.Column('event_id', sa.BigInteger(), nullable=False),
        sa.Column('district_code', sa.Text(), nullable=True),
        sa.Column('street_code', sa.Text(), nullable=True),
        sa.Column('community_code', sa.Text(), nullable=True),
        sa.Column('grid_code', sa.Text(), nullable=True),
        sa.Column('micro_grid_code', sa.Text(), nullable=True),
        sa.Column('dedicated_grid_codes', postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column('assignment', sa.Text(), nullable=False),
        sa.Column('nearest_grid_code', sa.Text(), nullable=True),
        sa.Column('nearest_distance_m', sa.Float(), nullable=True),
        sa.Column('camera_codes', postgresql.ARRAY(sa.Text()), server_default='{}',
                  nullable=False),
        sa.Column('assigned_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.CheckConstraint("assignment IN ('covered', 'snapped', 'unassigned')",
                           name=op.f('ck_event_assignments_assignment')),
        sa.PrimaryKeyConstraint('event_id', name=op.f('pk_event_assignments')),
    )
    op.execute(
        "INSERT INTO event_assignments (event_id, district_code, street_code, community_code,"
        " grid_code, micro_grid_code, dedicated_grid_codes, assignment, nearest_grid_code,"
        " nearest_distance_m, camera_codes, assigned_at)"
        " SELECT id, district_code, street_code, community_code, grid_code, micro_grid_code,"
        " dedicated_grid_codes, assignment, nearest_grid_code, nearest_distance_m,"
        " coalesce(camera_codes, '{}'), coalesce(assigned_at, now())"
        " FROM events WHERE assignment IS NOT NULL")
    op.drop_index(op.f('ix_events_grid_code'), table_name='events')
    for column in ASSIGNMENT_COLUMNS:
        op.drop_column('events', column)
    op.execute(VIEW)
    op.execute(CASCADE)
    # nearest-grid look-ups (points outside every grid) walk only ordinary current grids
    op.create_index('ix_grids_current_ordinary_geog', 'grids', [sa.text('geography(geom)')],
                    unique=False, postgresql_using='gist',
                    postgresql_where=sa.text("valid_to IS NULL AND level = 'grid'"
                                             " AND kind <> 'dedicated'"))


def downgrade() -> None:
    op.drop_index('ix_grids_current_ordinary_geog', table_name='grids')
    op.execute("DROP TRIGGER events_delete_assignments ON events")
    op.execute("DROP FUNCTION delete_event_assignments()")
    op.execute("DROP VIEW events_with_assignment")
    op.add_column('events', sa.Column('district_code', sa.Text(), nullable=True))
    op.add_column('events', sa.Column('street_code', sa.Text(), nullable=True))
    op.add_column('events', sa.Column('community_code', sa.Text(), nullable=True))
    op.add_column('events', sa.Column('grid_code', sa.Text(), nullable=True))
    op.add_column('events', sa.Column('micro_grid_code', sa.Text(), nullable=True))
    op.add_column('events', sa.Column('dedicated_grid_codes', postgresql.ARRAY(sa.Text()),
                                      nullable=True))
    op.add_column('events', sa.Column('assignment', sa.Text(), nullable=True))
    op.add_column('events', sa.Column('nearest_grid_code', sa.Text(), nullable=True))
    op.add_column('events', sa.Column('nearest_distance_m', sa.Float(), nullable=True))
    op.add_column('events', sa.Column('camera_codes', postgresql.ARRAY(sa.Text()),
                                      nullable=True))
    op.add_column('events', sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE events e SET district_code = a.district_code, street_code = a.street_code,"
        " community_code = a.community_code, grid_code = a.grid_code,"
        " micro_grid_code = a.micro_grid_code, dedicated_grid_codes = a.dedicated_grid_codes,"
        " assignment = a.assignment, nearest_grid_code = a.nearest_grid_code,"
        " nearest_distance_m = a.nearest_distance_m, camera_codes = a.camera_codes,"
        " assigned_at = a.assigned_at FROM event_assignments a WHERE a.event_id = e.id")
    op.create_index(op.f('ix_events_grid_code'), 'events', ['grid_code'], unique=False)
    op.drop_table('event_assignments')
