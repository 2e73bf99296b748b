"""``gridlink demo generate`` and ``gridlink demo load`` through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyogrio
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cli.main import app
from geo.db import transaction

SMALL_ARGS = ["--seed", "7", "--streets", "1", "--communities", "2", "--as-of", "2026-11-01"]
KEYS = {"areas": ("admin_areas", "code"), "grids": ("grids", "code"),
        "micro_grids": ("grids", "code"), "buildings": ("buildings", "code"),
        "sites": ("sites", "code"), "workers": ("workers", "code"),
        "cameras": ("cameras", "code"), "roads": ("roads", "code"),
        "entrances": ("entrances", "code"), "events": ("events", "client_id")}


def test_demo_generate_writes_one_file_per_layer(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "generate", str(tmp_path), *SMALL_ARGS])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "areas.gpkg", "buildings.gpkg", "cameras.gpkg", "entrances.gpkg", "events.gpkg",
        "grids.gpkg", "micro_grids.gpkg", "roads.gpkg", "sites.gpkg", "workers.csv"]
    assert len(pyogrio.read_dataframe(tmp_path / "cameras.gpkg")) == 31


def test_demo_generate_refuses_bad_options(tmp_path: Path) -> None:
    runner = CliRunner()
    bad_format = runner.invoke(app, ["demo", "generate", str(tmp_path), "--format", "shp"])
    assert bad_format.exit_code == 2 and "unknown format 'shp'" in bad_format.output
    too_many = runner.invoke(app, ["demo", "generate", str(tmp_path), "--streets", "3",
                                   "--communities", "2"])
    assert too_many.exit_code == 2 and "streets (3) <= communities (2)" in too_many.output


def test_demo_load_commits_once_and_a_broken_file_loads_nothing(
        database_url: str, engine: Engine, tmp_path: Path) -> None:
    runner = CliRunner()
    directory = tmp_path / "demo"
    before = _count(engine, "cameras")
    result = runner.invoke(app, ["demo", "load", *SMALL_ARGS, "--dir", str(directory)])
    try:
        assert result.exit_code == 0, result.output
        assert "cameras 31" in result.output and "events 60" in result.output
        assert _count(engine, "cameras") == before + 31
    finally:
        _delete_loaded(engine, directory)
    (directory / "events.gpkg").write_bytes(b"not a geopackage")
    areas_before = _count(engine, "admin_areas")
    broken = runner.invoke(app, ["demo", "load", *SMALL_ARGS, "--dir", str(directory)])
    assert broken.exit_code == 1 and "error" in broken.output
    assert _count(engine, "admin_areas") == areas_before  # areas were rolled back too


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _delete_loaded(engine: Engine, directory: Path) -> None:
    """Remove exactly the rows the CLI committed (keys read back from the files)."""
    with transaction(engine) as session:
        for layer in reversed(list(KEYS)):
            table, key = KEYS[layer]
            path = next(directory.glob(f"{layer}.*"))
            frame = pd.read_csv(path, dtype=str) if path.suffix == ".csv" else \
                pyogrio.read_dataframe(path, read_geometry=False)
            session.execute(text(f"DELETE FROM {table} WHERE {key} = ANY(:keys)"),
                            {"keys": frame[key].astype(str).tolist()})
