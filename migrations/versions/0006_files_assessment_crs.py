"""Real-world files and the assessment (#13): camera fault/maintenance states, validated event
states, first-time completion per event, the metric CRS chosen per district, and media
deductions (媒体督办扣分) per unit and month.

``events.first_time`` is NULL unless a migrated platform recorded it (then the assessment
uses it instead of "closed and never reworked"). The ``events_with_assignment`` view is
recreated so that its ``e.*`` carries the new column.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 07:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_STATUSES = "'reported', 'dispatched', 'in_progress', 'resolved', 'closed', 'rejected'"
VIEW = """
CREATE VIEW events_with_assignment AS
SELECT e.*, a.district_code, a.street_code, a.community_code, a.grid_code, a.micro_grid_code,
       a.dedicated_grid_codes, a.assignment, a.nearest_grid_code, a.nearest_distance_m,
       a.camera_codes, a.assigned_at
FROM events e LEFT JOIN event_assignments a ON a.event_id = e.id
"""


def upgrade() -> None:
    op.drop_constraint(op.f('ck_cameras_status'), 'cameras', type_='check')
    op.create_check_constraint(op.f('ck_cameras_status'), 'cameras',
                               "status IN ('online', 'offline', 'fault', 'maintenance')")
    op.create_check_constraint(op.f('ck_events_status'), 'events', f"status IN ({EVENT_STATUSES})")
    op.execute("DROP VIEW events_with_assignment")
    op.add_column('events', sa.Column('first_time', sa.Boolean(), nullable=True))
    op.execute(VIEW)
    op.create_table(
        'district_crs',
        sa.Column('district_code', sa.Text(), nullable=False),
        sa.Column('srid', sa.Integer(), nullable=False),
        sa.Column('chosen_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.PrimaryKeyConstraint('district_code', name=op.f('pk_district_crs')))
    op.create_table(
        'media_deductions',
        sa.Column('unit', sa.Text(), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('points', sa.Float(), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('entered_by', sa.Text(), nullable=True),
        sa.Column('entered_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.CheckConstraint('points >= 0', name=op.f('ck_media_deductions_points')),
        sa.CheckConstraint('extract(day FROM month) = 1', name=op.f('ck_media_deductions_month')),
        sa.PrimaryKeyConstraint('unit', 'month', name=op.f('pk_media_deductions')))


def downgrade() -> None:
    op.drop_table('media_deductions')
    op.drop_table('district_crs')
    op.execute("DROP VIEW events_with_assignment")
    op.drop_column('events', 'first_time')
    op.execute(VIEW)
    op.drop_constraint(op.f('ck_events_status'), 'events', type_='check')
    op.execute("UPDATE cameras SET status = 'offline' WHERE status IN ('fault', 'maintenance')")
    op.drop_constraint(op.f('ck_cameras_status'), 'cameras', type_='check')
    op.create_check_constraint(op.f('ck_cameras_status'), 'cameras', "status IN ('online', 'offline')")
