"""The two per-camera lookups of /locate as functions (issue #16: /locate's p99 back to the
level before #16).

* ``camera_blocked_by(camera, spot)``: the building whose shadow in the camera's current
  view covers the point ``spot`` (EPSG:4326), the nearest shadow first (``near_m``, then the
  building's code); NULL when none does.
* ``camera_best_preset(camera, spot)``: the camera's narrowest preset (smallest FOV, then
  name) whose current view covers ``spot``; NULL when none does.

Written in SQL inside /locate's statement, each lookup was a subplan that PostgreSQL sets up
on every execution, whether a camera needs it or not; a PL/pgSQL function is set up only
when called (/locate calls them for a camera in view, a PTZ camera that sees the spot) and
keeps its plan for the session. Same rows, same order as the subqueries they replace
(bench/RESULTS.md, #16).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 19:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0030'
down_revision: str | None = '0029'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE FUNCTION camera_blocked_by(camera text, spot geometry) RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE AS $$
BEGIN
  RETURN (SELECT s.building_code FROM camera_shadows s
          WHERE s.camera_code = camera AND ST_Covers(s.geom, spot)
          ORDER BY s.near_m, s.building_code LIMIT 1);
END $$;
CREATE FUNCTION camera_best_preset(camera text, spot geometry) RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE AS $$
BEGIN
  RETURN (SELECT v.preset FROM camera_views v
          JOIN camera_presets cp ON cp.camera_code = v.camera_code AND cp.name = v.preset
          WHERE v.camera_code = camera AND v.valid_to IS NULL AND v.preset IS NOT NULL
            AND ST_Covers(v.geom, spot)
          ORDER BY cp.fov_deg, v.preset LIMIT 1);
END $$;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS camera_best_preset(text, geometry);"
               " DROP FUNCTION IF EXISTS camera_blocked_by(text, geometry);")
