"""Issue #19, the dashboard's last parts: when a dispatcher first looked at an alarm through a
camera, and keys that may read one area only.

``event_camera_views``: one row per camera view opened for an event (``POST
/events/{id}/camera-views``): the camera's code (not a foreign key: cameras are re-imported,
the view stays), the instant, who opened it. The dashboard's alarm-response panel measures
alarm → first camera view from it. Deleting an event deletes its views.

``api_keys.area_code``: NULL (the key reads every area) or the code of the district, street
or community whose figures the key may read on ``/dashboard`` and ``/stats`` (api.auth).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 09:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'event_camera_views',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('event_id', sa.BigInteger(),
                  sa.ForeignKey('events.id', ondelete='CASCADE'), nullable=False),
        sa.Column('camera_code', sa.Text(), nullable=False),
        sa.Column('viewed_at', sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column('actor', sa.Text(), nullable=False),
        sa.Column('key_prefix', sa.Text(), nullable=True),
    )
    op.create_index('ix_event_camera_views_event', 'event_camera_views',
                    ['event_id', 'viewed_at'])
    op.add_column('api_keys', sa.Column('area_code', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('api_keys', 'area_code')
    op.drop_index('ix_event_camera_views_event', table_name='event_camera_views')
    op.drop_table('event_camera_views')
