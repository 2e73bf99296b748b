"""Camera model (tilt range, zoom, PTZ presets), building heights and what cameras see.

* ``cameras``: ``tilt_min_deg``/``tilt_max_deg`` (degrees, negative below the horizon) and
  ``fov_tele_deg`` (horizontal field of view at full zoom; ``fov_deg`` is the wide end);
  NULL means the documented per-kind default of :mod:`geo.video.model`.
* ``camera_presets``: named PTZ presets, each a sector (azimuth, field of view).
* ``buildings``: ``floors`` and ``height_m`` (metres), for 2.5D occlusion.
* ``camera_views``: each camera's visibility polygon (and one per PTZ preset), versioned by
  ``valid_from``/``valid_to`` (current: ``valid_to IS NULL``), GiST-indexed.
* ``camera_shadows``: per camera, the part of its reach each building hides (the current
  computation only; they decide ``blocked_by`` in /locate and bulk assignment).
* triggers on ``cameras``: deleting (or truncating) cameras closes their views and drops
  their shadows.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 09:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
ALTER TABLE cameras
    ADD COLUMN tilt_min_deg double precision,
    ADD COLUMN tilt_max_deg double precision,
    ADD COLUMN fov_tele_deg double precision,
    ADD CONSTRAINT ck_cameras_tilt CHECK (tilt_min_deg IS NULL OR tilt_max_deg IS NULL
        OR (tilt_min_deg >= -90 AND tilt_max_deg <= 90 AND tilt_min_deg <= tilt_max_deg)),
    ADD CONSTRAINT ck_cameras_fov_tele CHECK (fov_tele_deg IS NULL
        OR (fov_tele_deg > 0 AND fov_tele_deg <= fov_deg));
ALTER TABLE buildings
    ADD COLUMN floors integer CHECK (floors IS NULL OR floors >= 0),
    ADD COLUMN height_m double precision CHECK (height_m IS NULL OR height_m >= 0);
CREATE TABLE camera_presets (
    camera_code text NOT NULL REFERENCES cameras (code) ON DELETE CASCADE,
    name text NOT NULL,
    azimuth_deg double precision NOT NULL CHECK (azimuth_deg >= 0 AND azimuth_deg < 360),
    fov_deg double precision NOT NULL CHECK (fov_deg > 0 AND fov_deg <= 360),
    PRIMARY KEY (camera_code, name)
);
CREATE TABLE camera_views (
    id bigserial PRIMARY KEY,
    camera_code text NOT NULL,
    preset text,
    geom geometry(MultiPolygon, 4326) NOT NULL,
    area_m2 double precision NOT NULL,
    resolution_deg double precision NOT NULL,
    target_height_m double precision NOT NULL,
    valid_from timestamptz NOT NULL DEFAULT now(),
    valid_to timestamptz
);
CREATE UNIQUE INDEX uq_camera_views_current ON camera_views (camera_code, coalesce(preset, ''))
    WHERE valid_to IS NULL;
CREATE INDEX ix_camera_views_current_geom ON camera_views USING gist (geom)
    WHERE valid_to IS NULL;
CREATE TABLE camera_shadows (
    camera_code text NOT NULL,
    building_code text NOT NULL,
    near_m double precision NOT NULL,
    geom geometry(MultiPolygon, 4326) NOT NULL,
    PRIMARY KEY (camera_code, building_code)
);
CREATE INDEX ix_camera_shadows_geom ON camera_shadows USING gist (geom);

-- a deleted camera's view is closed and its shadows go (per statement, however many rows)
CREATE FUNCTION camera_views_close_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE camera_views v SET valid_to = now() FROM gone g
        WHERE v.camera_code = g.code AND v.valid_to IS NULL;
    DELETE FROM camera_shadows s USING gone g WHERE s.camera_code = g.code;
    RETURN NULL;
END $$;
CREATE TRIGGER cameras_close_views AFTER DELETE ON cameras REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION camera_views_close_deleted();
CREATE FUNCTION camera_views_close_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE camera_views SET valid_to = now() WHERE valid_to IS NULL;
    DELETE FROM camera_shadows;
    RETURN NULL;
END $$;
CREATE TRIGGER cameras_truncate_views AFTER TRUNCATE ON cameras
    FOR EACH STATEMENT EXECUTE FUNCTION camera_views_close_all();
"""

DOWNGRADE = """
DROP TRIGGER cameras_close_views ON cameras;
DROP TRIGGER cameras_truncate_views ON cameras;
DROP FUNCTION camera_views_close_deleted();
DROP FUNCTION camera_views_close_all();
DROP TABLE camera_shadows;
DROP TABLE camera_views;
DROP TABLE camera_presets;
ALTER TABLE buildings DROP COLUMN floors, DROP COLUMN height_m;
ALTER TABLE cameras DROP CONSTRAINT ck_cameras_tilt, DROP CONSTRAINT ck_cameras_fov_tele,
    DROP COLUMN tilt_min_deg, DROP COLUMN tilt_max_deg, DROP COLUMN fov_tele_deg;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
