"""`gridlink patrols generate --date` and `gridlink patrols stats` end to end: they commit,
so the patrol case is committed first and deleted afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from tests.geo.patrol_city import GRID_1, school_grid_and_market_grid

runner = CliRunner()
CLEANUP = (
    "DELETE FROM patrol_tasks WHERE grid_code LIKE '140213001001%'",
    "DELETE FROM sites WHERE code IN ('S-SCHOOL', 'S-OLD', 'S-MARKET')",
    "DELETE FROM buildings WHERE code IN ('B1', 'B2', 'B-OUT')",
    "DELETE FROM workers WHERE code IN ('W-LEAD', 'W-WORK', 'W-HELP', 'W-2L')",
    "DELETE FROM grids WHERE code LIKE '140213001001%'",
    "DELETE FROM admin_areas WHERE code IN ('140213', '140213001', '140213001001')",
)


@pytest.fixture
def committed_case(database_url: str, engine: Engine) -> Iterator[Engine]:
    with Session(engine) as session, session.begin():
        school_grid_and_market_grid(session)
    yield engine
    with engine.begin() as conn:
        for sql in CLEANUP:
            conn.execute(text(sql))


def test_generate_twice_then_stats(committed_case: Engine) -> None:
    first = runner.invoke(app, ["patrols", "generate", "--date", "2026-12-09"])
    assert first.exit_code == 0, first.output
    assert "2026-12-09: 4 task(s) created, 0 existed already, 1 unit(s) outside" in first.output
    again = runner.invoke(app, ["patrols", "generate", "--date", "2026-12-09"])
    assert "0 task(s) created, 4 existed already" in again.output
    with committed_case.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_log WHERE route = "
                                 "'cli patrols generate'")).scalar_one() == 2
    stats = runner.invoke(app, ["patrols", "stats", "--date", "2026-12-10"])
    assert stats.exit_code == 0, stats.output
    row = next(line for line in stats.output.splitlines() if GRID_1 in line)
    assert [cell.strip() for cell in row.strip("│ ").split("│")][2:] == ["2", "0", "2", "1"]
    bad = runner.invoke(app, ["patrols", "generate", "--date", "2026-12-32"])
    assert bad.exit_code == 2
