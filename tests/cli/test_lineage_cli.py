"""`gridlink grids lineage` and `gridlink stats units --attribution` end to end (commits a
split grid's history to the test database, cleans up after)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from tests.geo.planning import cases
from tests.geo.planning.cases import COMMUNITY, DISTRICT, STREET, code

runner = CliRunner()
WEST, EAST, NEW = code(1), code(2), code(3)


@pytest.fixture
def committed_split(database_url: str, engine: Engine) -> Iterator[datetime]:
    with Session(engine) as session:
        at: datetime = cases.split_grid_history(session)
        session.commit()
    yield at
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE client_id = ANY(:c)"),
                     {"c": [e[0] for e in cases.SPLIT_EVENTS] + ["far-east-after"]})
        conn.execute(text("DELETE FROM grids WHERE community_code = :c"), {"c": COMMUNITY})
        conn.execute(text("DELETE FROM plan_draft_grids WHERE community_code = :c"),
                     {"c": COMMUNITY})
        conn.execute(text("DELETE FROM plan_changesets WHERE area_code = :c"), {"c": COMMUNITY})
        conn.execute(text("DELETE FROM admin_areas WHERE code = ANY(:c)"),
                     {"c": [COMMUNITY, STREET, DISTRICT]})


def test_grids_lineage_prints_ancestors_and_descendants(committed_split: datetime) -> None:
    shown = runner.invoke(app, ["grids", "lineage", EAST])
    assert shown.exit_code == 0, shown.output
    assert f"grid {EAST} (current, 2 version(s))" in shown.output
    assert f"split: {EAST} v1 -> {NEW} v1, 4000.0 m² (40.0%), 0 households; split the " \
        "east grid" in shown.output
    as_json = json.loads(runner.invoke(app, ["grids", "lineage", NEW, "--json"]).output)
    assert [(k["kind"], k["from"]["code"], k["area_share"]) for k in as_json["ancestors"]] == [
        ("split", EAST, 0.4)]
    missing = runner.invoke(app, ["grids", "lineage", code(999)])
    assert missing.exit_code == 1 and f"no grid {code(999)}" in missing.output


def test_stats_units_both_ways(committed_split: datetime) -> None:
    period = ["--since", "2026-05-01T00:00:00+00:00",
              "--until", (committed_split + timedelta(days=1)).isoformat()]
    counts = {}
    for attribution in ("current", "historical"):
        done = runner.invoke(app, ["stats", "units", *period, "--attribution", attribution,
                                   "--format", "json"])
        assert done.exit_code == 0, done.output
        body = json.loads(done.output)
        counts[body["attribution"]] = [(u["unit"], u["accepted"]) for u in body["units"]]
        assert (body["events"], body["unattributed"]) == (5, 0)
    assert counts == {"current": [(WEST, 1), (EAST, 1), (NEW, 3)],
                      "historical": [(WEST, 1), (EAST, 3), (NEW, 1)]}
    table = runner.invoke(app, ["stats", "units", *period, "--attribution", "historical"])
    assert "grid, attribution historical: 5 event(s), 0 counted for no unit" in " ".join(
        table.output.split())
    refused = runner.invoke(app, ["stats", "units", *period, "--level", "street",
                                  "--attribution", "current"])
    assert refused.exit_code == 1 and "attribution 'current'" in refused.output
