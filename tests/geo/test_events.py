"""Event creation, idempotency, lifecycle, postponement, escalation and alarms (geo.events)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import Conflict, NotFound, OutOfArea, UnknownCRS, ValidationFailed
from geo.events import (
    AlarmIn,
    EventIn,
    allowed_actions,
    apply_action,
    create_event,
    get_event,
    raise_alarm,
    stored_assignment,
    transitions_of,
)
from geo.locate import Ref
from tests.geo.test_locate import G1, build_small_city

REPORTED = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def city(db: Session) -> Session:
    build_small_city(db)
    return db


def _new(db: Session, **kw: object) -> dict[str, object]:
    data = {"category": "garbage", "lon": 113.301, "lat": 40.0808, "reported_at": REPORTED, **kw}
    event, created = create_event(db, EventIn.model_validate(data))
    assert created
    return event


def test_created_event_is_assigned_with_due_time(city: Session) -> None:
    event = _new(city)
    assert (event["grid_code"], event["micro_grid_code"], event["street_code"]) == (
        G1, G1 + "01", "140213001")
    assert event["camera_codes"] == ["14021300081310000001", "14021300081310000002"]
    assert event["due_at"] == REPORTED + timedelta(hours=72)
    assert [t["to_status"] for t in transitions_of(city, event["id"])] == ["reported"]


def test_duplicate_client_id_returns_the_stored_event(city: Session) -> None:
    first = _new(city, client_id="phone-42")
    again, created = create_event(city, EventIn(client_id="phone-42", category="other",
                                                lon=113.303, lat=40.081))
    assert not created and again["id"] == first["id"] and again["category"] == "garbage"


def test_bd09_input_is_converted_before_storing(city: Session) -> None:
    from geo.crs import wgs84_to_bd09

    x, y = wgs84_to_bd09(113.301, 40.0808)
    event = _new(city, lon=float(x), lat=float(y), crs="bd09")
    assert event["lon"] == pytest.approx(113.301, abs=1e-8)
    assert event["grid_code"] == G1


def test_bad_coordinates_and_crs_write_nothing(city: Session) -> None:
    with pytest.raises(OutOfArea, match="swapped"):
        _new(city, lon=40.0808, lat=113.301)
    with pytest.raises(UnknownCRS):
        _new(city, crs="EPSG:99999x")
    with pytest.raises(ValidationFailed):
        _new(city, priority="whenever")
    assert city.execute(text("SELECT count(*) FROM events")).scalar() == 0


def test_full_lifecycle_with_rework(city: Session) -> None:
    event_id = _new(city)["id"]
    for action in ("dispatch", "start", "resolve", "rework", "resolve", "close"):
        event = apply_action(city, event_id, action, actor="W-L1")
    assert (event["status"], event["reworks"]) == ("closed", 1)
    assert event["closed_at"] is not None and event["dispatched_at"] is not None
    assert allowed_actions("closed") == []


def test_illegal_transition_is_conflict_listing_allowed(city: Session) -> None:
    event_id = _new(city)["id"]
    with pytest.raises(Conflict) as info:
        apply_action(city, event_id, "resolve")
    assert info.value.details[0]["allowed"] == ["dispatch", "reject", "escalate"]
    with pytest.raises(ValidationFailed):
        apply_action(city, event_id, "teleport")
    with pytest.raises(NotFound):
        apply_action(city, 987654, "dispatch")


def test_postpone_moves_due_time(city: Session) -> None:
    event_id = _new(city)["id"]
    apply_action(city, event_id, "dispatch")
    with pytest.raises(ValidationFailed):
        apply_action(city, event_id, "postpone", hours=-1)
    event = apply_action(city, event_id, "postpone", hours=24)
    assert event["postponements"] == 1
    assert event["due_at"] == REPORTED + timedelta(hours=96)


def test_escalation_grid_community_department(city: Session) -> None:
    event_id = _new(city)["id"]
    assert apply_action(city, event_id, "escalate")["handling_level"] == "community"
    with pytest.raises(ValidationFailed, match="department"):
        apply_action(city, event_id, "escalate")
    event = apply_action(city, event_id, "escalate", department="城管局")
    assert (event["handling_level"], event["department"]) == ("department", "城管局")
    with pytest.raises(Conflict):
        apply_action(city, event_id, "escalate", department="x")


def test_reject_marks_invalid(city: Session) -> None:
    event = apply_action(city, _new(city)["id"], "reject", note="duplicate report")
    assert (event["status"], event["valid"]) == ("rejected", False)


def test_alarm_is_urgent_with_cameras(city: Session) -> None:
    event, where = raise_alarm(city, "W-H1", AlarmIn(lon=113.301, lat=40.0808, note="求助",
                                                     photo_url="https://img.local/a.jpg"))
    assert (event["priority"], event["category"], event["reporter"]) == (
        "urgent", "alarm", "W-H1")
    assert where.grid.code == G1 and where.cameras[0].stream_url
    assert event["due_at"] - event["reported_at"] == timedelta(hours=2)
    # the NOTIFY is delivered on commit: tested end to end over HTTP in tests/api (SSE)


def test_alarm_payload_names_grid_and_streams(city: Session) -> None:
    from geo.events import alarm_payload

    event, where = raise_alarm(city, "W-H1", AlarmIn(lon=113.301, lat=40.0808))
    payload = json.loads(alarm_payload(event, where))
    assert payload["grid"]["code"] == G1
    assert payload["cameras"][0]["stream_url"] == "rtsp://video.local/14021300081310000001"
    assert [w["code"] for w in payload["workers"]] == ["W-L1", "W-W1", "W-H1"]


def test_stored_assignment_is_the_record_not_a_new_locate(city: Session) -> None:
    """After the grid is renamed and the cameras removed, the stored assignment still names
    the assigned grid (by its latest name) and keeps only the cameras still there."""
    event = get_event(city, int(_new(city)["id"]))  # type: ignore[call-overload]
    city.execute(text("UPDATE grids SET name = '改名网格' WHERE code = :g"), {"g": G1})
    city.execute(text("DELETE FROM cameras WHERE code = '14021300081310000002'"))
    stored = stored_assignment(city, event)
    assert (stored.assignment, stored.grid, stored.micro_grid and stored.micro_grid.code) == (
        "covered", Ref(code=G1, name="改名网格"), G1 + "01")
    assert (stored.street and stored.street.code, stored.lon, stored.lat) == (
        "140213001", 113.301, 40.0808)
    assert [c.code for c in stored.cameras] == ["14021300081310000001"]
    assert [w.code for w in stored.workers] == ["W-L1", "W-W1", "W-H1"]
    assert stored.sites == []
