"""Two planners publish at the same time: the second waits for the area lock, then gets 409."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from shapely.geometry import box
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.errors import Conflict
from geo.planning import operations as ops
from geo.planning.changesets import open_changeset, publish
from tests.geo.planning import cases
from tests.geo.planning.cases import COMMUNITY, DISTRICT, STREET, code


@pytest.fixture
def committed_town(database_url: str, engine: Engine) -> Iterator[tuple[int, int]]:
    """Two committed grids and two committed drafts reshaping the same edge."""
    with Session(engine) as session:
        cases.two_grids_sharing_an_edge(session)
        first = open_changeset(session, COMMUNITY, "first", "li").id
        second = open_changeset(session, COMMUNITY, "second", "wang").id
        ops.reshape(session, first, "li", code(1), cases.geojson(box(0, 0, 120, 100)))
        ops.reshape(session, second, "wang", code(1), cases.geojson(box(0, 0, 80, 100)))
        session.commit()
    yield first, second
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM grids WHERE community_code = :c"), {"c": COMMUNITY})
        conn.execute(text("DELETE FROM plan_changesets WHERE area_code = :c"), {"c": COMMUNITY})
        conn.execute(text("DELETE FROM admin_areas WHERE code = ANY(:c)"),
                     {"c": [COMMUNITY, STREET, DISTRICT]})


def test_second_publisher_waits_for_the_lock_then_conflicts(
        engine: Engine, committed_town: tuple[int, int]) -> None:
    first, second = committed_town
    outcome: dict[str, object] = {}

    def publish_second() -> None:
        with Session(engine) as session:
            try:
                publish(session, second, "wang")
                session.commit()
                outcome["result"] = "published"
            except Conflict as exc:
                session.rollback()
                outcome["result"] = exc
            outcome["at"] = time.monotonic()

    with Session(engine) as holder:
        publish(holder, first, "li")  # holds the community's advisory lock until commit
        worker = threading.Thread(target=publish_second)
        worker.start()
        time.sleep(1.0)
        assert "result" not in outcome  # the second publisher is waiting on the lock
        released = time.monotonic()
        holder.commit()
    worker.join(timeout=30)
    assert isinstance(outcome["result"], Conflict)
    assert f"changeset {first} ('first' by li)" in outcome["result"].message
    assert float(outcome["at"]) >= released  # type: ignore[arg-type]
    with engine.connect() as conn:
        statuses = dict(conn.execute(text(
            "SELECT id, status FROM plan_changesets WHERE id = ANY(:ids)"),
            {"ids": [first, second]}).all())
    assert statuses == {first: "published", second: "draft"}
