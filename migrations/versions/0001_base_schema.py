"""Base schema: admin areas, grids (versioned), buildings, sites, workers, cameras, events, api keys.

Revision ID: 0001
Revises: -
Create Date: 2026-11-24 11:18:15.995392
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_geospatial_table('admin_areas',
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('level', sa.Text(), nullable=False),
    sa.Column('parent_code', sa.Text(), nullable=True),
    sa.Column('households', sa.Integer(), nullable=True),
    sa.Column('population', sa.Integer(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("level IN ('district', 'street', 'community')", name=op.f('ck_admin_areas_level')),
    sa.ForeignKeyConstraint(['parent_code'], ['admin_areas.code'], name=op.f('fk_admin_areas_parent_code_admin_areas'), initially='DEFERRED', deferrable=True),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_admin_areas'))
    )
    op.create_geospatial_index('idx_admin_areas_geom', 'admin_areas', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_admin_areas_parent_code'), 'admin_areas', ['parent_code'], unique=False)
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('role', sa.Text(), nullable=False),
    sa.Column('prefix', sa.Text(), nullable=False),
    sa.Column('key_hash', sa.Text(), nullable=False),
    sa.Column('worker_code', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role IN ('admin', 'planner', 'dispatcher', 'worker', 'viewer')", name=op.f('ck_api_keys_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_geospatial_table('buildings',
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('households', sa.Integer(), nullable=False),
    sa.Column('population', sa.Integer(), nullable=False),
    sa.Column('grid_code', sa.Text(), nullable=True),
    sa.Column('micro_grid_code', sa.Text(), nullable=True),
    sa.Column('geom', Geometry(srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_buildings'))
    )
    op.create_geospatial_index('idx_buildings_geom', 'buildings', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_buildings_grid_code'), 'buildings', ['grid_code'], unique=False)
    op.create_index(op.f('ix_buildings_micro_grid_code'), 'buildings', ['micro_grid_code'], unique=False)
    op.create_geospatial_table('cameras',
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('camera_type', sa.Text(), nullable=False),
    sa.Column('height_m', sa.Float(), nullable=True),
    sa.Column('azimuth_deg', sa.Float(), nullable=False),
    sa.Column('fov_deg', sa.Float(), nullable=False),
    sa.Column('range_m', sa.Float(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('stream_url', sa.Text(), nullable=True),
    sa.Column('site_code', sa.Text(), nullable=True),
    sa.Column('grid_code', sa.Text(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("camera_type IN ('fixed', 'dome', 'ptz')", name=op.f('ck_cameras_camera_type')),
    sa.CheckConstraint("status IN ('online', 'offline')", name=op.f('ck_cameras_status')),
    sa.CheckConstraint('azimuth_deg >= 0 AND azimuth_deg < 360', name=op.f('ck_cameras_azimuth')),
    sa.CheckConstraint('fov_deg > 0 AND fov_deg <= 360', name=op.f('ck_cameras_fov')),
    sa.CheckConstraint('range_m > 0', name=op.f('ck_cameras_range')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_cameras'))
    )
    op.create_geospatial_index('idx_cameras_geom', 'cameras', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_cameras_grid_code'), 'cameras', ['grid_code'], unique=False)
    op.create_index(op.f('ix_cameras_site_code'), 'cameras', ['site_code'], unique=False)
    op.create_geospatial_table('events',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('client_id', sa.Text(), nullable=True),
    sa.Column('category', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reporter', sa.Text(), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('priority', sa.Text(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('district_code', sa.Text(), nullable=True),
    sa.Column('street_code', sa.Text(), nullable=True),
    sa.Column('community_code', sa.Text(), nullable=True),
    sa.Column('grid_code', sa.Text(), nullable=True),
    sa.Column('micro_grid_code', sa.Text(), nullable=True),
    sa.Column('dedicated_grid_codes', sa.ARRAY(sa.Text()), nullable=True),
    sa.Column('assignment', sa.Text(), nullable=True),
    sa.Column('nearest_distance_m', sa.Float(), nullable=True),
    sa.Column('camera_codes', sa.ARRAY(sa.Text()), nullable=True),
    sa.Column('nearest_grid_code', sa.Text(), nullable=True),
    sa.Column('photo_url', sa.Text(), nullable=True),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('handling_level', sa.Text(), nullable=False),
    sa.Column('department', sa.Text(), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('postponements', sa.Integer(), nullable=False),
    sa.Column('reworks', sa.Integer(), nullable=False),
    sa.Column('valid', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events')),
    sa.UniqueConstraint('client_id', name=op.f('uq_events_client_id'))
    )
    op.create_geospatial_index('idx_events_geom', 'events', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_events_category'), 'events', ['category'], unique=False)
    op.create_index(op.f('ix_events_grid_code'), 'events', ['grid_code'], unique=False)
    op.create_index(op.f('ix_events_reported_at'), 'events', ['reported_at'], unique=False)
    op.create_index(op.f('ix_events_status'), 'events', ['status'], unique=False)
    op.create_geospatial_table('grids',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('level', sa.Text(), nullable=False),
    sa.Column('parent_code', sa.Text(), nullable=False),
    sa.Column('community_code', sa.Text(), nullable=False),
    sa.Column('households', sa.Integer(), nullable=False),
    sa.Column('population', sa.Integer(), nullable=False),
    sa.Column('responsible_party', sa.Text(), nullable=True),
    sa.Column('management_level', sa.Text(), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('changed_by', sa.Text(), nullable=True),
    sa.Column('change_reason', sa.Text(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("kind IN ('urban', 'rural', 'dedicated')", name=op.f('ck_grids_kind')),
    sa.CheckConstraint("level IN ('grid', 'micro')", name=op.f('ck_grids_level')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grids'))
    )
    op.create_index(op.f('ix_grids_community_code'), 'grids', ['community_code'], unique=False)
    op.create_geospatial_index('ix_grids_current_geom', 'grids', ['geom'], unique=False, postgresql_using='gist', postgresql_where=sa.text('valid_to IS NULL'), postgresql_ops={})
    op.create_index(op.f('ix_grids_parent_code'), 'grids', ['parent_code'], unique=False)
    op.create_index('uq_grids_current_code', 'grids', ['code'], unique=True, postgresql_where=sa.text('valid_to IS NULL'))
    op.create_geospatial_table('sites',
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('category', sa.Text(), nullable=False),
    sa.Column('grid_code', sa.Text(), nullable=True),
    sa.Column('geom', Geometry(srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_sites'))
    )
    op.create_geospatial_index('idx_sites_geom', 'sites', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_sites_category'), 'sites', ['category'], unique=False)
    op.create_index(op.f('ix_sites_grid_code'), 'sites', ['grid_code'], unique=False)
    op.create_table('workers',
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('role', sa.Text(), nullable=False),
    sa.Column('phone', sa.Text(), nullable=True),
    sa.Column('grid_code', sa.Text(), nullable=False),
    sa.CheckConstraint("role IN ('grid_leader', 'grid_worker', 'helper')", name=op.f('ck_workers_role')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_workers'))
    )
    op.create_index(op.f('ix_workers_grid_code'), 'workers', ['grid_code'], unique=False)
    # dispatch: metric KNN / ST_DWithin on geography; the largest camera range by index
    op.create_index('ix_cameras_geog', 'cameras', [sa.text('geography(geom)')], unique=False, postgresql_using='gist')
    op.create_index('ix_cameras_range_m', 'cameras', ['range_m'], unique=False)
    op.create_index('ix_grids_current_geog', 'grids', [sa.text('geography(geom)')], unique=False, postgresql_using='gist', postgresql_where=sa.text('valid_to IS NULL'))
    op.create_index('ix_sites_geog', 'sites', [sa.text('geography(geom)')], unique=False, postgresql_using='gist')
    op.create_table('event_transitions',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('event_id', sa.BigInteger(), nullable=False),
    sa.Column('from_status', sa.Text(), nullable=True),
    sa.Column('to_status', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor', sa.Text(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_event_transitions_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_transitions'))
    )
    op.create_index(op.f('ix_event_transitions_event_id'), 'event_transitions', ['event_id'], unique=False)



def downgrade() -> None:

    op.drop_index('ix_sites_geog', table_name='sites')
    op.drop_index('ix_grids_current_geog', table_name='grids')
    op.drop_index('ix_cameras_range_m', table_name='cameras')
    op.drop_index('ix_cameras_geog', table_name='cameras')
    op.drop_index(op.f('ix_event_transitions_event_id'), table_name='event_transitions')
    op.drop_table('event_transitions')
    op.drop_index(op.f('ix_workers_grid_code'), table_name='workers')
    op.drop_table('workers')
    op.drop_index(op.f('ix_sites_grid_code'), table_name='sites')
    op.drop_index(op.f('ix_sites_category'), table_name='sites')
    op.drop_geospatial_index('idx_sites_geom', table_name='sites', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('sites')
    op.drop_index('uq_grids_current_code', table_name='grids', postgresql_where=sa.text('valid_to IS NULL'))
    op.drop_index(op.f('ix_grids_parent_code'), table_name='grids')
    op.drop_geospatial_index('ix_grids_current_geom', table_name='grids', postgresql_using='gist', postgresql_where=sa.text('valid_to IS NULL'), column_name='geom')
    op.drop_index(op.f('ix_grids_community_code'), table_name='grids')
    op.drop_geospatial_table('grids')
    op.drop_index(op.f('ix_events_status'), table_name='events')
    op.drop_index(op.f('ix_events_reported_at'), table_name='events')
    op.drop_index(op.f('ix_events_grid_code'), table_name='events')
    op.drop_index(op.f('ix_events_category'), table_name='events')
    op.drop_geospatial_index('idx_events_geom', table_name='events', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('events')
    op.drop_index(op.f('ix_cameras_site_code'), table_name='cameras')
    op.drop_index(op.f('ix_cameras_grid_code'), table_name='cameras')
    op.drop_geospatial_index('idx_cameras_geom', table_name='cameras', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('cameras')
    op.drop_index(op.f('ix_buildings_micro_grid_code'), table_name='buildings')
    op.drop_index(op.f('ix_buildings_grid_code'), table_name='buildings')
    op.drop_geospatial_index('idx_buildings_geom', table_name='buildings', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('buildings')
    op.drop_table('api_keys')
    op.drop_index(op.f('ix_admin_areas_parent_code'), table_name='admin_areas')
    op.drop_geospatial_index('idx_admin_areas_geom', table_name='admin_areas', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('admin_areas')

