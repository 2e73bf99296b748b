"""``--make-valid``: real footprints with self-intersections and degenerate rings import,
each repair reported with its row; without it they are refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()
LON, LAT = 113.30, 40.08
D = 0.0001  # ~10 m


def footprints(tmp_path: Path) -> Path:
    """Three buildings: a square, a bow-tie (crossing at its centre) and a square whose hole
    is a degenerate ring (three points on one parallel: no area)."""
    square = [[LON, LAT], [LON + D, LAT], [LON + D, LAT + D], [LON, LAT + D], [LON, LAT]]
    x = LON + 3 * D
    bow_tie = [[x, LAT], [x + D, LAT + D], [x + D, LAT], [x, LAT + D], [x, LAT]]
    y = LON + 6 * D
    shell = [[y, LAT], [y + D, LAT], [y + D, LAT + D], [y, LAT + D], [y, LAT]]
    flat_hole = [[y + D / 4, LAT + D / 2], [y + D / 2, LAT + D / 2],
                 [y + 3 * D / 4, LAT + D / 2], [y + D / 4, LAT + D / 2]]
    feats = [{"type": "Feature", "properties": {"code": code, "households": 10},
              "geometry": {"type": "Polygon", "coordinates": rings}}
             for code, rings in (("MV-1", [square]), ("MV-2", [bow_tie]),
                                 ("MV-3", [shell, flat_hole]))]
    path = tmp_path / "footprints.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


@pytest.fixture
def committed_buildings(database_url: str, engine: Engine) -> Iterator[None]:
    yield
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM buildings WHERE code LIKE 'MV-%'"))


def test_make_valid_repairs_and_reports_each_row(committed_buildings: None, engine: Engine,
                                                 tmp_path: Path) -> None:
    path = footprints(tmp_path)
    refused = runner.invoke(app, ["import", "buildings", str(path)])
    assert refused.exit_code == 1 and "Self-intersection" in refused.output
    done = runner.invoke(app, ["import", "buildings", str(path), "--make-valid"])
    assert done.exit_code == 0, done.output
    flat = " ".join(done.output.split())
    assert "row 2: Self-intersection" in flat and "repaired into 2 polygon(s)" in flat
    assert "row 3: Self-intersection" in flat and "1 degenerate ring(s) dropped" in flat
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT code, ST_IsValid(geom), ST_NumGeometries(geom), "
            "ST_NumInteriorRings(ST_GeometryN(geom, 1)) FROM buildings "
            "WHERE code LIKE 'MV-%' ORDER BY code")).all()
    assert [tuple(r) for r in rows] == [("MV-1", True, 1, 0), ("MV-2", True, 2, 0),
                                        ("MV-3", True, 1, 0)]
