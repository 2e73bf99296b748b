"""Migration 0009 on a database of its own: the camera model's columns, the view tables and
the trigger that closes a deleted camera's view; its downgrade removes them all."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at

POINT = "ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326)"
SQUARE = "ST_Multi(ST_Buffer(" + POINT + ", 0.001, 'quad_segs=1'))"


def test_views_close_with_their_camera_and_the_downgrade_removes_everything(
        database_url: str) -> None:
    with database_at(database_url, "0009", "0007") as (url, engine):
        upgrade(url)
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO cameras (code, name, camera_type, azimuth_deg, fov_deg, range_m,"
                f" status, tilt_min_deg, tilt_max_deg, fov_tele_deg, geom) VALUES ('C1', 'c',"
                f" 'ptz', 0, 60, 100, 'online', -90, 20, 3, {POINT})"))
            conn.execute(text(
                "INSERT INTO camera_views (camera_code, geom, area_m2, resolution_deg,"
                f" target_height_m) VALUES ('C1', {SQUARE}, 1, 0.5, 1.7)"))
            conn.execute(text("INSERT INTO camera_shadows VALUES ('C1', 'B1', 3, "
                              f"{SQUARE})"))
            conn.execute(text("DELETE FROM cameras"))
            assert conn.execute(text("SELECT count(*) FILTER (WHERE valid_to IS NULL),"
                                     " count(*) FROM camera_views")).one() == (0, 1)
            assert conn.scalar(text("SELECT count(*) FROM camera_shadows")) == 0
        command.downgrade(alembic_config(url), "0007")
        tables = set(inspect(engine).get_table_names())
        assert not {"camera_views", "camera_shadows", "camera_presets"} & tables
        columns = {c["name"] for c in inspect(engine).get_columns("cameras")}
        assert not {"tilt_min_deg", "tilt_max_deg", "fov_tele_deg"} & columns
        upgrade(url)  # and up again
