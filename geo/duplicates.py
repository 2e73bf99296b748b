"""Duplicate events: ten residents report the same burst pipe.

**Proposed on creation.** An event's duplicates are the *open* events (not closed, rejected
or already a duplicate) of the **same category** within a **radius** (geodesic metres) and
reported within a **time window** (hours, either side) of it. Rules are per category
(``settings.duplicate_rules``: category → (radius m, window h)); other categories use
``settings.duplicate_radius_m`` / ``settings.duplicate_window_h`` (50 m, 24 h). Nothing is
merged automatically: the answer to ``POST /events`` lists them, the bulk import report
flags them.

**Merged by a dispatcher.** :func:`merge_duplicates` keeps one case; the others get status
``duplicate`` (closed as duplicates, ``closed_at`` now) and a link to the case
(``event_duplicates``), and keep their reporter, time, place and description: the case lists
them (:func:`duplicates_of`). Events earlier merged into a duplicate move to the case.
Statistics count the case once (geo.stats leaves status ``duplicate`` out). Never commits.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import Conflict, NotFound, ValidationFailed
from geo.events import FINISHED_STATUSES, get_event, log_transition
from geo.fields import Text
from geo.settings import Settings, get_settings

OPEN = "o.status NOT IN ('closed', 'rejected', 'duplicate')"
"""Open events: the predicate of the partial index ``ix_events_open_category`` (0012)."""

CANDIDATES_SQL = f"""
WITH rules AS (
  SELECT * FROM unnest(CAST(:cats AS text[]), CAST(:radii AS float8[]),
                       CAST(:hours AS float8[])) AS r(category, radius_m, window_h)),
n AS (
  SELECT e.id, e.category, e.reported_at, e.geom,
         coalesce(r.radius_m, :radius) AS radius_m, coalesce(r.window_h, :window) AS window_h
  FROM events e LEFT JOIN rules r ON r.category = e.category
  WHERE e.id = ANY(:ids))
SELECT n.id AS event_id, o.id, o.reported_at, o.reporter, o.status,
       ST_X(o.geom) AS lon, ST_Y(o.geom) AS lat,
       ST_Distance(geography(o.geom), geography(n.geom)) AS distance_m
FROM n JOIN events o ON o.category = n.category AND o.id <> n.id AND {OPEN}
  AND o.reported_at BETWEEN n.reported_at - make_interval(secs => n.window_h * 3600)
                        AND n.reported_at + make_interval(secs => n.window_h * 3600)
  AND ST_DWithin(geography(o.geom), geography(n.geom), n.radius_m)
ORDER BY n.id, distance_m, o.id
"""  # noqa: S608 - constant fragments, values bound
"""Duplicate candidates of the events ``:ids``: the category/time btree index finds the open
events of the window, the geodesic distance keeps those within the radius."""


def duplicate_rule(category: str, settings: Settings | None = None) -> tuple[float, float]:
    """(radius m, window h) of ``category``: its rule, else the defaults."""
    settings = settings or get_settings()
    return settings.duplicate_rules.get(
        category, (settings.duplicate_radius_m, settings.duplicate_window_h))


def duplicate_candidates(session: Session, ids: list[int],
                         settings: Settings | None = None) -> dict[int, list[dict[str, Any]]]:
    """For each of the events ``ids``: its proposed duplicates (id, reported_at, reporter,
    status, lon, lat, distance_m in metres), nearest first, ties by id; events without any
    are left out. Read-only."""
    settings = settings or get_settings()
    rules = settings.duplicate_rules
    rows = session.execute(text(CANDIDATES_SQL), {
        "ids": list(ids), "cats": list(rules), "radii": [r for r, _ in rules.values()],
        "hours": [h for _, h in rules.values()], "radius": settings.duplicate_radius_m,
        "window": settings.duplicate_window_h}).mappings().all()
    found: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        found.setdefault(int(row["event_id"]), []).append(
            {k: v for k, v in row.items() if k != "event_id"})
    return found


class MergeIn(BaseModel):
    """``POST /events/{id}/merge``: the events that report the same case."""

    duplicates: list[int] = Field(min_length=1, max_length=200)
    note: Text | None = Field(default=None, max_length=2000)


def merge_duplicates(session: Session, case_id: int, merge: MergeIn, *,
                     actor: str | None) -> dict[str, Any]:
    """Close the events ``merge.duplicates`` as duplicates of case ``case_id``; returns the
    case with its ``duplicates`` (:func:`duplicates_of`).

    Raises :class:`ValidationFailed` (the case among its duplicates, an id twice),
    :class:`NotFound` (naming the missing id), :class:`Conflict` (the case or a duplicate
    already finished: closed, rejected or a duplicate; naming the id and its status).
    """
    ids = merge.duplicates
    if case_id in ids or len(set(ids)) != len(ids):
        raise ValidationFailed("duplicates must be other events, each named once",
                               [{"id": case_id, "field": "duplicates", "value": ids}])
    statuses = _locked_statuses(session, [case_id, *ids])
    for event_id in [case_id, *ids]:
        if statuses[event_id] in FINISHED_STATUSES:
            raise Conflict(f"event {event_id} is {statuses[event_id]}: it cannot be merged",
                           [{"id": event_id, "status": statuses[event_id],
                             "field": "id" if event_id == case_id else "duplicates"}])
    session.execute(text(
        "UPDATE events SET status = 'duplicate', closed_at = now() WHERE id = ANY(:ids)"),
        {"ids": ids})
    session.execute(text("UPDATE event_duplicates SET case_id = :case WHERE case_id = ANY(:ids)"),
                    {"case": case_id, "ids": ids})
    session.execute(text(
        "INSERT INTO event_duplicates (event_id, case_id, actor)"
        " SELECT unnest(CAST(:ids AS bigint[])), :case, :actor"),
        {"ids": ids, "case": case_id, "actor": actor})
    for event_id in ids:
        log_transition(session, event_id, statuses[event_id], "duplicate", actor,
                       f"duplicate of #{case_id}" + (f": {merge.note}" if merge.note else ""))
    merged = ", ".join(f"#{i}" for i in ids)
    log_transition(session, case_id, statuses[case_id], statuses[case_id], actor,
                   f"merged duplicates {merged}" + (f": {merge.note}" if merge.note else ""))
    return {**get_event(session, case_id), "duplicates": duplicates_of(session, case_id)}


def _locked_statuses(session: Session, ids: list[int]) -> dict[int, str]:
    """Status of each event, rows locked in id order (no deadlock between two merges)."""
    rows = session.execute(text(
        "SELECT id, status FROM events WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"),
        {"ids": ids}).all()
    statuses = {int(r.id): str(r.status) for r in rows}
    missing = [i for i in ids if i not in statuses]
    if missing:
        raise NotFound(f"no event {missing[0]}",
                       [{"field": "duplicates" if i != ids[0] else "id", "value": i}
                        for i in missing])
    return statuses


def duplicates_of(session: Session, case_id: int) -> list[dict[str, Any]]:
    """The events merged into case ``case_id`` with their reporters (id, reporter,
    reported_at, source, description, lon, lat, merged_at, merged_by), oldest report
    first."""
    rows = session.execute(text(
        "SELECT e.id, e.reporter, e.reported_at, e.source, e.description, ST_X(e.geom) AS lon,"
        " ST_Y(e.geom) AS lat, d.at AS merged_at, d.actor AS merged_by"
        " FROM event_duplicates d JOIN events e ON e.id = d.event_id"
        " WHERE d.case_id = :case ORDER BY e.reported_at, e.id"), {"case": case_id})
    return [dict(r) for r in rows.mappings().all()]


def case_of(session: Session, event_id: int) -> int | None:
    """The case an event was merged into, None when it is no duplicate."""
    found = session.execute(text("SELECT case_id FROM event_duplicates WHERE event_id = :id"),
                            {"id": event_id}).scalar()
    return None if found is None else int(found)


def last_event_id(session: Session) -> int:
    """The highest event id so far (0 without events): taken before a bulk import, the
    events above it are the import's new ones."""
    return int(session.execute(text("SELECT coalesce(max(id), 0) FROM events")).scalar_one())


def flag_new_duplicates(session: Session, after_id: int,
                        settings: Settings | None = None) -> list[dict[str, Any]]:
    """The events with ids above ``after_id`` (a bulk import's) that have proposed
    duplicates, in id order: ``id``, ``client_id`` and the ``duplicates``' ids (nearest
    first), at most 1000 entries. Read-only."""
    new = session.execute(text("SELECT id, client_id FROM events WHERE id > :after ORDER BY id"),
                          {"after": after_id}).all()
    found = duplicate_candidates(session, [int(r.id) for r in new], settings)
    return [{"id": int(r.id), "client_id": r.client_id,
             "duplicates": [d["id"] for d in found[int(r.id)]]}
            for r in new if int(r.id) in found][:1000]
