"""Migration 0030 adds /locate's two per-camera lookups as functions: the building whose
shadow hides a spot from a camera (the nearest shadow, then the building's code) and the
narrowest preset whose view shows it (then the name); its downgrade drops them and an
upgrade again works (a database of its own)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at

CAM = "14021300081320000009"
SQUARE = "ST_Multi(ST_MakeEnvelope(113.299, 40.079, 113.301, 40.081, 4326))"
SPOT = "ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326)"
ELSEWHERE = "ST_SetSRID(ST_MakePoint(113.31, 40.09), 4326)"
SCENE = f"""
INSERT INTO cameras (code, name, camera_type, azimuth_deg, fov_deg, range_m, status, geom)
VALUES ('{CAM}', 'ptz', 'ptz', 0, 360, 150, 'online',
        ST_SetSRID(ST_MakePoint(113.3, 40.079), 4326));
INSERT INTO camera_shadows (camera_code, building_code, near_m, geom) VALUES
  ('{CAM}', 'B_FAR', 30, {SQUARE}), ('{CAM}', 'B_TIE_Z', 20, {SQUARE}),
  ('{CAM}', 'B_TIE_A', 20, {SQUARE});
INSERT INTO camera_presets (camera_code, name, azimuth_deg, fov_deg) VALUES
  ('{CAM}', 'wide', 0, 60), ('{CAM}', 'narrow_b', 0, 10), ('{CAM}', 'narrow_a', 0, 10),
  ('{CAM}', 'closed', 0, 5);
INSERT INTO camera_views (camera_code, preset, geom, area_m2, resolution_deg, target_height_m,
                          valid_to)
SELECT '{CAM}', p, {SQUARE}, 1, 0.5, 1.7, CASE WHEN p = 'closed' THEN now() END
FROM unnest(ARRAY['wide', 'narrow_b', 'narrow_a', 'closed']) p;
"""
LOOKUPS = (f"SELECT camera_blocked_by('{CAM}', {SPOT}), camera_best_preset('{CAM}', {SPOT}),"
           f" camera_blocked_by('{CAM}', {ELSEWHERE}), camera_best_preset('{CAM}', {ELSEWHERE})")
FUNCTIONS = ("SELECT count(*) FROM pg_proc"
             " WHERE proname IN ('camera_blocked_by', 'camera_best_preset')")


def test_lookups_name_the_nearest_shadow_and_narrowest_preset_and_go_down_and_up(
        database_url: str) -> None:
    with database_at(database_url, "0030") as (url, engine):
        with engine.begin() as conn:
            conn.execute(text(SCENE))
            assert tuple(conn.execute(text(LOOKUPS)).one()) == (
                "B_TIE_A", "narrow_a", None, None)
        command.downgrade(alembic_config(url), "0029")
        with engine.begin() as conn:
            assert conn.execute(text(FUNCTIONS)).scalar_one() == 0
        upgrade(url)
        with engine.begin() as conn:
            assert conn.execute(text(FUNCTIONS)).scalar_one() == 2
            assert tuple(conn.execute(text(LOOKUPS)).one()) == (
                "B_TIE_A", "narrow_a", None, None)
