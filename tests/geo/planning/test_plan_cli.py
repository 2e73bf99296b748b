"""`gridlink plan` end to end (commits to the test database, cleans up after)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from tests.geo.planning import cases
from tests.geo.planning.cases import COMMUNITY, DISTRICT, STREET

runner = CliRunner()


@pytest.fixture
def committed_gap(database_url: str, engine: Engine) -> Iterator[None]:
    """Two grids with a 1 m gap, committed (the CLI runs its own transactions)."""
    with Session(engine) as session:
        cases.two_grids_with_a_1m_gap(session)
        session.commit()
    yield
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM grids WHERE community_code = :c"), {"c": COMMUNITY})
        conn.execute(text("DELETE FROM plan_draft_grids WHERE community_code = :c"),
                     {"c": COMMUNITY})
        conn.execute(text("DELETE FROM plan_changesets WHERE area_code = :c"), {"c": COMMUNITY})
        conn.execute(text("DELETE FROM admin_areas WHERE code = ANY(:c)"),
                     {"c": [COMMUNITY, STREET, DISTRICT]})


def test_validate_repair_publish_validate(committed_gap: None) -> None:
    found = runner.invoke(app, ["plan", "validate", COMMUNITY])
    assert found.exit_code == 1, found.output
    assert "gap" in found.output and "1 error(s)" in found.output
    repaired = runner.invoke(app, ["plan", "repair", COMMUNITY, "--author", "li"])
    assert repaired.exit_code == 0, repaired.output
    changeset = re.search(r"draft changeset (\d+)", repaired.output)
    assert changeset is not None and "coverage and codes OK" in repaired.output
    shown = runner.invoke(app, ["plan", "preview", changeset.group(1)])
    # closing an empty gap moves no unit: no grid's counts change
    assert shown.exit_code == 0 and "no grid's counts change" in shown.output, shown.output
    done = runner.invoke(app, ["plan", "publish", changeset.group(1), "--author", "li"])
    assert done.exit_code == 0, done.output
    assert "1 versions closed, 1 opened" in " ".join(done.output.split())
    assert runner.invoke(app, ["plan", "validate", COMMUNITY]).exit_code == 0
    again = runner.invoke(app, ["plan", "publish", changeset.group(1), "--author", "li"])
    assert again.exit_code == 1 and "published, not a draft" in again.output


def test_a_draft_is_handed_over_then_discarded_from_the_command_line(
        committed_gap: None, engine: Engine) -> None:
    repaired = runner.invoke(app, ["plan", "repair", COMMUNITY, "--author", "li"])
    found = re.search(r"draft changeset (\d+)", repaired.output)
    assert found is not None, repaired.output
    cs = found.group(1)
    refused = runner.invoke(app, ["plan", "discard", cs, "--author", "wang"])
    assert refused.exit_code == 1 and "is a draft of 'li'" in refused.output
    given = runner.invoke(app, ["plan", "handover", cs, "--to", "wang", "--author", "li"])
    assert given.exit_code == 0 and f"changeset {cs} is now a draft of wang" in given.output
    assert runner.invoke(app, ["plan", "discard", cs, "--author", "li"]).exit_code == 1
    dropped = runner.invoke(app, ["plan", "discard", cs, "--author", "wang"])
    assert dropped.exit_code == 0 and f"discarded changeset {cs}" in dropped.output
    with engine.connect() as conn:
        status, author, report = conn.execute(text(
            "SELECT status, author, report FROM plan_changesets WHERE id = :i"),
            {"i": int(cs)}).one()
    assert (status, author) == ("discarded", "wang")
    assert [(h["from"], h["to"], h["by"]) for h in report["handovers"]] == [("li", "wang", "li")]
