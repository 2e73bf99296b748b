"""`gridlink assign --all --dask --from-parquet/--to-parquet` and `gridlink parquet-stats` end
to end on an in-process LocalCluster, over the committed small city of test_assign_cli."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import geopandas as gpd
from distributed import LocalCluster
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cli.main import app
from geo.db import transaction
from geo.stats import FIELDS, unit_stats
from tests.cli.test_assign_cli import _grids, committed_city  # noqa: F401 (a fixture)
from tests.geo.test_locate import G1, G2

runner = CliRunner()


def _export(engine: Engine, path: Path) -> None:
    """Every event with its assignment, as GeoParquet (the columns of the archive)."""
    with engine.connect() as conn:
        gpd.read_postgis(text("SELECT * FROM events_with_assignment ORDER BY id"), conn,
                         geom_col="geom").to_parquet(path, index=False)


def test_assign_from_and_to_geoparquet_then_stats_from_it(committed_city: Engine,  # noqa: F811
                                                          tmp_path: Path) -> None:
    runner.invoke(app, ["assign", "--all"])
    events = tmp_path / "events.parquet"
    _export(committed_city, events)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster:
        result = runner.invoke(app, [
            "assign", "--all", "--dask", "--scheduler", cluster.scheduler_address,
            "--from-parquet", str(events), "--to-parquet", str(tmp_path / "out"),
            "--no-database"])
        assert result.exit_code == 0, result.output
        bar = next(line for line in result.output.splitlines() if "partitions," in line)
        assert "1/1" in bar and "partitions, 8 events" in bar, result.output
        assert "assigned 8 events" in result.output and "1 unassigned" in result.output
        assert "wrote 8 assignments in 1 GeoParquet files" in result.output
        written = gpd.read_parquet(tmp_path / "out" / "part.00000.parquet")
        assert dict(zip(written.id, written.grid_code, strict=True)) == dict(
            zip(gpd.read_parquet(events).id, gpd.read_parquet(events).grid_code, strict=True))
        assert {_grids(committed_city)["on_shared_edge"], _grids(committed_city)[
            "inside_g2_north"]} == {G1, G2}

        result = runner.invoke(app, ["parquet-stats", str(events), "--scheduler",
                                     cluster.scheduler_address, "--csv",
                                     str(tmp_path / "stats.csv")])
        assert result.exit_code == 0, result.output
        missing = runner.invoke(app, ["parquet-stats", str(tmp_path / "out"), "--scheduler",
                                      cluster.scheduler_address])
    now = datetime.now(UTC) + timedelta(hours=8)  # the month of the events, local time
    since = datetime(now.year, now.month, 1, tzinfo=UTC) - timedelta(hours=8)
    until = datetime(now.year + now.month // 12, now.month % 12 + 1, 1,
                     tzinfo=UTC) - timedelta(hours=8)
    with transaction(committed_city) as session:
        expected = unit_stats(session, "grid", since, until)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "stats.csv").read_text())))
    assert [(r["month"], r["unit"], int(r["accepted"])) for r in rows] == [
        (now.strftime("%Y-%m"), e["unit"], e["accepted"]) for e in expected]
    assert list(rows[0]) == ["month", *FIELDS]
    assert missing.exit_code == 1 and "no column reported_at" in missing.output


def test_parquet_options_need_dask(committed_city: Engine,  # noqa: F811
                                   tmp_path: Path) -> None:
    result = runner.invoke(app, ["assign", "--all", "--to-parquet", str(tmp_path)])
    assert result.exit_code == 2
    assert "--spatial-shuffle run on" in result.output and "add --all --dask" in result.output
    result = runner.invoke(app, ["assign", "--all", "--dask", "--no-database"])
    assert result.exit_code == 2 and "writes nothing without --to-parquet" in result.output
