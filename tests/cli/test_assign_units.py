"""`gridlink assign --units`: buildings, sites and cameras of an area get their grid."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from tests.geo.planning import cases
from tests.geo.planning.cases import COMMUNITY, DISTRICT, STREET, code

runner = CliRunner()


@pytest.fixture
def unplaced_building(database_url: str, engine: Engine) -> Iterator[None]:
    """Two grids sharing an edge and a building at x = 150 m inserted without its grid."""
    with Session(engine) as session:
        cases.two_grids_sharing_an_edge(session)
        cases.add_building(session, "AU-1", 150, 50, 80)
        session.commit()
    yield
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM buildings WHERE code = 'AU-1'"))
        conn.execute(text("DELETE FROM grids WHERE community_code = :c"), {"c": COMMUNITY})
        conn.execute(text("DELETE FROM admin_areas WHERE code = ANY(:c)"),
                     {"c": [COMMUNITY, STREET, DISTRICT]})


def test_assign_units_of_an_area(unplaced_building: None, engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.execute(text("SELECT grid_code FROM buildings WHERE code = 'AU-1'")
                            ).scalar() is None
    done = runner.invoke(app, ["assign", "--units", "--area", COMMUNITY])
    assert done.exit_code == 0, done.output
    assert "assigned 1 buildings, 0 sites, 0 cameras inside 140213001001" in " ".join(
        done.output.split())
    with engine.connect() as conn:
        assert conn.execute(text("SELECT grid_code FROM buildings WHERE code = 'AU-1'")
                            ).scalar() == code(2)
    unknown = runner.invoke(app, ["assign", "--units", "--area", "999999"])
    assert unknown.exit_code == 1 and "no admin area or current grid" in unknown.output
