"""The role matrix: every case action × role × own/other grid, grid writes and imports per role.

The city is tests/geo/test_locate.build_small_city: grid G1 (micro-grids G1-01 south, G1-02
north) and grid G2 side by side. Workers bound to keys: W-W1 (grid worker of G1), W-H1 (helper
of micro-grid G1-01), W-L2 (grid leader of G2); the ``worker`` test key is bound to nobody.
The case sits in G1-01, at (113.301, 40.0805).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.events import ACTIONS
from geo.keys import create_key
from geo.roles import WORKER_ACTIONS
from tests.conftest import auth
from tests.geo.test_locate import build_small_city

SOURCE = {"dispatch": "reported", "start": "dispatched", "resolve": "in_progress",
          "close": "resolved", "rework": "resolved", "reject": "reported",
          "postpone": "dispatched", "escalate": "reported"}
"""A status each action is legal from, so that only the role rule can refuse it."""

ALL = {action: 200 for action in ACTIONS}
WORKER_OWN = {action: 200 if action in WORKER_ACTIONS else 403 for action in ACTIONS}
NOTHING = {action: 403 for action in ACTIONS}

EXPECTED = {
    "admin": ALL, "dispatcher": ALL,
    "worker of the case's grid": WORKER_OWN,
    "helper of the case's micro-grid": WORKER_OWN,
    "worker of the next grid": NOTHING,
    "worker bound to no worker": NOTHING,
    "planner": NOTHING, "viewer": NOTHING,
}


@pytest.fixture
def role_keys(client: TestClient, db: Session, keys: dict[str, str]) -> dict[str, str]:
    """Keys by the actor names of EXPECTED, on the small city (committed to the test's
    savepoint so that rolled-back requests keep them)."""
    build_small_city(db)
    made = {"worker of the case's grid": create_key(db, "张员", "worker", worker_code="W-W1"),
            "helper of the case's micro-grid": create_key(db, "王助", "worker",
                                                          worker_code="W-H1"),
            "worker of the next grid": create_key(db, "刘长", "worker", worker_code="W-L2")}
    db.commit()
    return {**made, "worker bound to no worker": keys["worker"],
            **{role: keys[role] for role in ("admin", "dispatcher", "planner", "viewer")}}


def _case_in(client: TestClient, db: Session, keys: dict[str, str], status: str) -> int:
    made = client.post("/events", json={"category": "garbage", "lon": 113.301, "lat": 40.0805},
                       headers=auth(keys, "dispatcher"))
    assert made.status_code == 201, made.text
    db.execute(text("UPDATE events SET status = :s WHERE id = :id"),
               {"s": status, "id": made.json()["id"]})
    db.commit()
    return int(made.json()["id"])


@pytest.mark.parametrize("actor", list(EXPECTED))
def test_case_actions_per_role_and_grid(client: TestClient, db: Session, keys: dict[str, str],
                                        role_keys: dict[str, str], actor: str) -> None:
    answers = {}
    for action in ACTIONS:
        case = _case_in(client, db, keys, SOURCE[action])
        body = {"action": action, "hours": 24} if action == "postpone" else {"action": action}
        response = client.post(f"/events/{case}/actions", json=body,
                               headers={"X-API-Key": role_keys[actor]})
        answers[action] = response.status_code
        status = db.scalar(text("SELECT status FROM events WHERE id = :id"), {"id": case})
        if response.status_code == 403:
            assert response.json()["error"] == "forbidden"
            assert status == SOURCE[action], "a refused action changed the case"
    assert answers == EXPECTED[actor]


def test_worker_refusal_names_both_grids(client: TestClient, db: Session,
                                         keys: dict[str, str],
                                         role_keys: dict[str, str]) -> None:
    case = _case_in(client, db, keys, "dispatched")
    response = client.post(f"/events/{case}/actions", json={"action": "start"},
                           headers={"X-API-Key": role_keys["worker of the next grid"]})
    assert response.status_code == 403
    assert response.json()["message"] == f"event {case} is not in the grid of worker W-L2"
    assert response.json()["details"] == [{
        "event": case, "event_grid": "140213001001001", "event_micro_grid": "14021300100100101",
        "worker": "W-L2", "worker_grid": "140213001001002"}]


def test_unbound_worker_is_told_why(client: TestClient, db: Session, keys: dict[str, str],
                                    role_keys: dict[str, str]) -> None:
    case = _case_in(client, db, keys, "dispatched")
    response = client.post(f"/events/{case}/actions", json={"action": "start"},
                           headers=auth(keys, "worker"))
    assert response.status_code == 403
    assert response.json()["message"] == ("this worker key is bound to no worker, so it may "
                                          "not act on cases")


def test_escalated_case_leaves_the_grid_worker(client: TestClient, db: Session,
                                               keys: dict[str, str],
                                               role_keys: dict[str, str]) -> None:
    case = _case_in(client, db, keys, "dispatched")
    own = {"X-API-Key": role_keys["worker of the case's grid"]}
    escalated = client.post(f"/events/{case}/actions", json={"action": "escalate"}, headers=own)
    assert escalated.status_code == 200 and escalated.json()["handling_level"] == "community"
    response = client.post(f"/events/{case}/actions", json={"action": "start"}, headers=own)
    assert response.status_code == 403
    assert response.json()["details"][0]["handling_level"] == "community"


def test_worker_on_unknown_case_gets_404(client: TestClient,
                                         role_keys: dict[str, str]) -> None:
    response = client.post("/events/999999/actions", json={"action": "start"},
                           headers={"X-API-Key": role_keys["worker of the case's grid"]})
    assert response.status_code == 404
