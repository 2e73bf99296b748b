"""`gridlink import` / `gridlink export` end to end (commits to the test database, cleans up)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cli.main import app
from tests.geo.importer_files import (
    EAST_GRID,
    EAST_SQUARE,
    WEST_GRID,
    WEST_SQUARE,
    grid_row,
    two_grids_geojson,
    write_geojson,
)

runner = CliRunner()


@pytest.fixture
def committed_grids(database_url: str, engine: Engine) -> Iterator[None]:
    """Delete what the CLI committed (it runs its own transactions)."""
    yield
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM grids WHERE code = ANY(:c)"),
                     {"c": [WEST_GRID, EAST_GRID]})


def test_cli_import_then_export(committed_grids: None, tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", "grids", str(two_grids_geojson(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "grids" in result.output and "2" in result.output
    out = tmp_path / "rural.gpkg"
    result = runner.invoke(app, ["export", "grids", "--format", "gpkg", "--out", str(out),
                                 "--kind", "rural"])
    assert result.exit_code == 0, result.output
    assert f"wrote 1 feature(s) to {out}" in result.output.replace("\n", "")


def test_cli_refuses_bad_file_and_skips_with_rejects(committed_grids: None,
                                                     tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "mixed.geojson",
                         [grid_row(WEST_GRID), grid_row("1402130010010")],
                         [WEST_SQUARE, EAST_SQUARE])
    result = runner.invoke(app, ["import", "grids", str(path)])
    assert result.exit_code == 1
    assert "1 problem in 1 of 2 rows; nothing was imported" in result.output
    result = runner.invoke(app, ["import", "grids", str(path), "--skip-invalid"])
    assert result.exit_code == 0, result.output
    rejects = tmp_path / "mixed.geojson.rejects.csv"
    assert "1402130010010" in rejects.read_text(encoding="utf-8-sig")


def test_cli_unknown_format_and_layer(tmp_path: Path) -> None:
    assert runner.invoke(app, ["export", "grids", "--format", "xlsx"]).exit_code == 2
    result = runner.invoke(app, ["export", "parks", "--out", str(tmp_path / "p.geojson")])
    assert result.exit_code == 1 and "unknown layer 'parks'" in result.output


def test_cli_import_and_export_show_rows_per_second(committed_grids: None,
                                                    tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", "grids", str(two_grids_geojson(tmp_path))])
    assert result.exit_code == 0, result.output
    bar = next(line for line in result.output.splitlines() if "importing" in line)
    assert "2/2" in bar and "rows/s" in bar, result.output
    out = tmp_path / "grids.csv"
    result = runner.invoke(app, ["export", "grids", "--format", "csv", "--out", str(out)])
    bar = next(line for line in result.output.splitlines() if "exporting" in line)
    assert "2/2" in bar and "rows/s" in bar, result.output
