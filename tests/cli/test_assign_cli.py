"""`gridlink assign` end to end: it runs and commits its own transaction, so the small city is
committed first and deleted afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from distributed import LocalCluster
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from tests.geo.test_assign import NAMED_POINTS, insert_named_events
from tests.geo.test_locate import COMMUNITY, DISTRICT, G1, G2, STREET, build_small_city

runner = CliRunner()
CLEANUP = (
    "DELETE FROM events WHERE client_id = ANY(:names)",  # assignments go with them (trigger)
    "DELETE FROM workers WHERE grid_code LIKE :community || '%'",
    "DELETE FROM cameras WHERE code LIKE '140213000813100000%'",
    "DELETE FROM sites WHERE code IN ('S-school', 'S-market')",
    "DELETE FROM grids WHERE code LIKE :community || '%'",
    "DELETE FROM admin_areas WHERE code IN (:district, :street, :community)",
)


@pytest.fixture
def committed_city(database_url: str, engine: Engine) -> Iterator[Engine]:
    with Session(engine) as session, session.begin():
        build_small_city(session)
        insert_named_events(session)
    yield engine
    with engine.begin() as conn:
        for sql in CLEANUP:
            conn.execute(text(sql), {"names": list(NAMED_POINTS), "district": DISTRICT,
                                     "street": STREET, "community": COMMUNITY})
        left = conn.execute(text("SELECT count(*) FROM event_assignments")).scalar_one()
    assert left == 0


def _grids(engine: Engine) -> dict[str, str | None]:
    with engine.connect() as conn:
        return dict(conn.execute(text(  # type: ignore[arg-type]
            "SELECT client_id, grid_code FROM events_with_assignment")).all())


def test_assign_all_then_unassigned_then_area(committed_city: Engine) -> None:
    result = runner.invoke(app, ["assign", "--all"])
    assert result.exit_code == 0, result.output
    assert "assigned 8 events" in result.output
    assert "1 unassigned" in result.output
    bar = next(line for line in result.output.splitlines() if "assigning events" in line)
    assert "8/8" in bar and "rows/s" in bar, result.output
    grids = _grids(committed_city)
    assert (grids["on_shared_edge"], grids["inside_g2_north"]) == (G1, G2)
    assert grids["point_far_outside"] is None

    result = runner.invoke(app, ["assign", "--unassigned"])
    assert result.exit_code == 0, result.output
    assert "assigned 1 events" in result.output  # only the far point is left

    result = runner.invoke(app, ["assign", "--area", G2, "--k", "1"])
    assert result.exit_code == 0, result.output
    assert "assigned 3 events" in result.output


def test_assign_refuses_bad_options_and_unknown_area(committed_city: Engine) -> None:
    result = runner.invoke(app, ["assign"])
    assert result.exit_code == 2
    assert "exactly one of --all, --unassigned, --area" in result.output
    result = runner.invoke(app, ["assign", "--all", "--unassigned"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["assign", "--area", "999"])
    assert result.exit_code == 1
    assert "no admin area or current grid with code '999'" in result.output
    result = runner.invoke(app, ["assign", "--all", "--k", "99"])
    assert result.exit_code == 1
    assert "k must be 0-50" in result.output
    assert all(code is None for code in _grids(committed_city).values())


def test_assign_all_on_a_dask_scheduler_gives_the_same_answers(committed_city: Engine) -> None:
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster:
        result = runner.invoke(app, ["assign", "--all", "--dask", "--scheduler",
                                     cluster.scheduler_address])
    assert result.exit_code == 0, result.output
    assert "assigned 8 events" in result.output and "1 unassigned" in result.output
    assert "8 rows changed" in result.output and "on 1 workers" in result.output
    grids = _grids(committed_city)
    assert (grids["on_shared_edge"], grids["inside_g2_north"]) == (G1, G2)
    assert grids["point_far_outside"] is None
    result = runner.invoke(app, ["assign", "--all"])  # the single-machine path agrees
    assert result.exit_code == 0 and "0 rows changed" in result.output, result.output
    result = runner.invoke(app, ["assign", "--area", G2, "--dask"])
    assert result.exit_code == 2 and "--dask runs --all only" in result.output
