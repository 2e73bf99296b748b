"""Planning: changesets, their draft grids, and grids.changeset_id.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('plan_changesets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('area_code', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('author', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('base_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('inverse_of', sa.Integer(), nullable=True),
    sa.Column('report', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.CheckConstraint("status IN ('draft', 'published', 'discarded')", name=op.f('ck_plan_changesets_status')),
    sa.ForeignKeyConstraint(['inverse_of'], ['plan_changesets.id'], name=op.f('fk_plan_changesets_inverse_of_plan_changesets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_changesets'))
    )
    op.create_index(op.f('ix_plan_changesets_area_code'), 'plan_changesets', ['area_code'], unique=False)
    op.create_geospatial_table('plan_draft_grids',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('changeset_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('previous_code', sa.Text(), nullable=True),
    sa.Column('base_version', sa.Integer(), nullable=True),
    sa.Column('action', sa.Text(), nullable=False),
    sa.Column('successor_code', sa.Text(), nullable=True),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('level', sa.Text(), nullable=False),
    sa.Column('parent_code', sa.Text(), nullable=False),
    sa.Column('community_code', sa.Text(), nullable=False),
    sa.Column('households', sa.Integer(), nullable=False),
    sa.Column('population', sa.Integer(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.CheckConstraint("action IN ('put', 'retire')", name=op.f('ck_plan_draft_grids_action')),
    sa.ForeignKeyConstraint(['changeset_id'], ['plan_changesets.id'], name=op.f('fk_plan_draft_grids_changeset_id_plan_changesets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_draft_grids'))
    )
    op.create_geospatial_index('idx_plan_draft_grids_geom', 'plan_draft_grids', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_plan_draft_grids_changeset_id'), 'plan_draft_grids', ['changeset_id'], unique=False)
    op.create_index('uq_plan_draft_grids_changeset_code', 'plan_draft_grids', ['changeset_id', 'code'], unique=True)
    op.add_column('grids', sa.Column('changeset_id', sa.Integer(), nullable=True))
    op.create_index(op.f('ix_grids_changeset_id'), 'grids', ['changeset_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_grids_changeset_id'), table_name='grids')
    op.drop_column('grids', 'changeset_id')
    op.drop_index('uq_plan_draft_grids_changeset_code', table_name='plan_draft_grids')
    op.drop_index(op.f('ix_plan_draft_grids_changeset_id'), table_name='plan_draft_grids')
    op.drop_geospatial_index('idx_plan_draft_grids_geom', table_name='plan_draft_grids', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('plan_draft_grids')
    op.drop_index(op.f('ix_plan_changesets_area_code'), table_name='plan_changesets')
    op.drop_table('plan_changesets')
