"""`gridlink cameras presets FILE` end to end: it commits, so the PTZ camera is committed
first and deleted afterwards (its presets go with it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()
PTZ = "14021300081320000055"


@pytest.fixture
def committed_ptz(database_url: str, engine: Engine) -> Iterator[Engine]:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO cameras (code, name, camera_type, azimuth_deg, fov_deg,"
                          " range_m, status, geom) VALUES (:c, '球机', 'ptz', 0, 360, 100,"
                          " 'online', ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326))"),
                     {"c": PTZ})
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cameras WHERE code = :c"), {"c": PTZ})
        conn.execute(text("DELETE FROM camera_views WHERE camera_code = :c"), {"c": PTZ})


def test_import_presets_then_a_bad_file(committed_ptz: Engine, tmp_path: Path) -> None:
    good = tmp_path / "presets.csv"
    good.write_text(f"camera_code,name,pan_deg,zoom\n{PTZ},大门,90,2\n{PTZ},路口,180,1\n",
                    encoding="utf-8")
    done = runner.invoke(app, ["cameras", "presets", str(good)])
    assert done.exit_code == 0, done.output
    assert "2 presets of 1 cameras" in done.output
    bad = tmp_path / "bad.csv"
    bad.write_text(f"camera_code,name,pan_deg\n{PTZ},大门,90\n", encoding="utf-8")
    refused = runner.invoke(app, ["cameras", "presets", str(bad)])
    assert refused.exit_code != 0
    assert "give fov_deg or zoom" in refused.output
    with committed_ptz.connect() as conn:
        rows = conn.execute(text("SELECT name, fov_deg FROM camera_presets"
                                 " WHERE camera_code = :c ORDER BY name"), {"c": PTZ}).all()
    assert [tuple(r) for r in rows] == [("大门", 30.0), ("路口", 60.0)]
