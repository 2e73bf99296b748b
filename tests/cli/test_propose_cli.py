"""`gridlink cameras propose` end to end with a pole file: the grid is committed first (the
command opens its own transaction) and deleted afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cli.main import app
from tests.geo.video.scene import at, footprint

runner = CliRunner()
GRID = "140213099099001"


@pytest.fixture
def committed_grid(engine: Engine) -> Iterator[Engine]:
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO grids (code, name, kind, level, parent_code, community_code,"
            " households, population, version, geom) VALUES (:c, '测试网格', 'urban', 'grid',"
            " '140213099099', '140213099099', 0, 0, 1, ST_Multi(ST_GeomFromText(:g, 4326)))"),
            {"c": GRID, "g": footprint(-60, -60, 60, 60).wkt})
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM grids WHERE code = :c"), {"c": GRID})


def test_propose_from_a_pole_file(committed_grid: Engine, tmp_path: Path) -> None:
    pole = at(0, 0)
    poles = tmp_path / "杆件.csv"
    poles.write_text(f"经度,纬度\n{pole.x:.9f},{pole.y:.9f}\n", encoding="utf-8")
    out = tmp_path / "draft.geojson"
    done = runner.invoke(app, ["cameras", "propose", GRID, "--k", "1", "--range-m", "40",
                               "--sources", "poles", "--poles", str(poles), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "4 candidates (poles 4)" in done.output and "0 unseen entrances" in done.output
    (feature,) = json.loads(out.read_text("utf-8"))["features"]
    assert feature["properties"]["name"] == "建议点位1（杆件）"
    assert feature["geometry"]["coordinates"] == pytest.approx([pole.x, pole.y], abs=1e-7)
    poles.write_text("经度,纬度\n113.3,\n", encoding="utf-8")
    refused = runner.invoke(app, ["cameras", "propose", GRID, "--sources", "poles",
                                  "--poles", str(poles)])
    assert refused.exit_code != 0
    assert "1 rows of the candidate file have no valid lon/lat" in refused.output


def test_coverage_lists_roads_and_gates(committed_grid: Engine) -> None:
    """The grid has no camera, no road and no gate: all blind, roads '—', gates 0/0."""
    done = runner.invoke(app, ["cameras", "coverage", GRID], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    assert f"{GRID}: 1 grids, 1 blind spots" in done.output
    (row,) = [line for line in done.output.splitlines() if GRID in line and "测试网格" in line]
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    # 120 m × 120 m of EPSG:4547 near 113.3°E: 14,399 m² on the ellipsoid
    assert cells == [GRID, "测试网格", "0", "14,399", "0.0", "0", "—", "0/0", "0.0"]
