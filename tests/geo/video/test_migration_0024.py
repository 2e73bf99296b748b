"""Migration 0024 adds tilt, zoom and range to PTZ presets with their checks; its downgrade
removes them and an upgrade again works (a database of its own)."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at

COLUMNS = ("SELECT array_agg(column_name::text ORDER BY column_name) FROM"
           " information_schema.columns WHERE table_name = 'camera_presets'")
CAMERA = ("INSERT INTO cameras (code, name, camera_type, azimuth_deg, fov_deg, range_m,"
          " status, geom) VALUES ('C1', '球机', 'ptz', 0, 360, 100, 'online',"
          " ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326))")


def test_preset_fields_up_down_up(database_url: str) -> None:
    with database_at(database_url, "0024") as (url, engine):
        with engine.begin() as conn:
            conn.execute(text(CAMERA))
            conn.execute(text("INSERT INTO camera_presets (camera_code, name, azimuth_deg,"
                              " fov_deg, tilt_deg, zoom, range_m) VALUES"
                              " ('C1', '大门', 90, 20, -10, 3, 80)"))
        for bad in ("tilt_deg = -91", "zoom = 0.5", "range_m = 0"):
            with pytest.raises(IntegrityError), engine.begin() as conn:
                conn.execute(text(f"UPDATE camera_presets SET {bad}"))
        command.downgrade(alembic_config(url), "0018")
        with engine.begin() as conn:
            assert conn.execute(text(COLUMNS)).scalar_one() == [
                "azimuth_deg", "camera_code", "fov_deg", "name"]
        upgrade(url)
        with engine.begin() as conn:
            assert conn.execute(text(COLUMNS)).scalar_one() == [
                "azimuth_deg", "camera_code", "fov_deg", "name", "range_m", "tilt_deg", "zoom"]
