"""PTZ presets carry tilt, zoom and range (issue #16, geo.video.presets).

* ``camera_presets.tilt_deg``: degrees, negative below the horizon, [-90, 90];
* ``camera_presets.zoom``: optical zoom factor (1 = wide end), [1, 100];
* ``camera_presets.range_m``: the preset's useful range (m); NULL: the camera's.

``azimuth_deg`` is the preset's pan and ``fov_deg`` its picture's horizontal FOV, as before.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 13:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
ALTER TABLE camera_presets
    ADD COLUMN tilt_deg double precision,
    ADD COLUMN zoom double precision,
    ADD COLUMN range_m double precision,
    ADD CONSTRAINT ck_camera_presets_tilt CHECK (tilt_deg IS NULL
        OR (tilt_deg >= -90 AND tilt_deg <= 90)),
    ADD CONSTRAINT ck_camera_presets_zoom CHECK (zoom IS NULL OR (zoom >= 1 AND zoom <= 100)),
    ADD CONSTRAINT ck_camera_presets_range CHECK (range_m IS NULL OR range_m > 0);
"""

DOWNGRADE = """
ALTER TABLE camera_presets DROP COLUMN tilt_deg, DROP COLUMN zoom, DROP COLUMN range_m;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
