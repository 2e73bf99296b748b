"""Planning changesets: open a draft, list and discard it, publish it in one transaction.

A changeset belongs to one area (community or street) and its author. Its draft rows
(``plan_draft_grids``) say how grids would look after publishing; the published grids are
untouched until :func:`publish`, which closes the old versions, opens new ones, records
which became which (:mod:`geo.planning.lineage`), re-assigns buildings, sites, cameras,
workers and open events, and marks the changeset published - all in the caller's
transaction (nothing is half-published: any error rolls everything back).

Concurrency: publishing takes an advisory lock per affected community, and fails with
:class:`~geo.errors.Conflict` naming the conflicting changeset when a grid the draft touches
(by code or by area) was published after the draft's ``base_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from geo.assign import assign_events, assign_units
from geo.errors import Conflict, Forbidden, NotFound, ValidationFailed
from geo.models import PlanChangeset, PlanDraftGrid
from geo.planning.lineage import record_lineage
from geo.planning.validate import Problem, scope_of, validate_area


def now(session: Session) -> datetime:
    """The database's wall clock (``clock_timestamp()``, not the transaction start)."""
    return session.execute(text("SELECT clock_timestamp()")).scalar_one()  # type: ignore[no-any-return]


def open_changeset(session: Session, area_code: str, reason: str, author: str,
                   kind: str = "manual", inverse_of: int | None = None) -> PlanChangeset:
    """Open a draft changeset on a community, street or district, based on the data as of now.

    Raises NotFound for an unknown area, ValidationFailed for an empty reason.
    """
    if not reason.strip():
        raise ValidationFailed("a changeset needs a reason", [{"field": "reason"}])
    scope_of(session, area_code)
    changeset = PlanChangeset(area_code=area_code, reason=reason.strip(), author=author,
                              status="draft", kind=kind, base_at=now(session),
                              inverse_of=inverse_of)
    session.add(changeset)
    session.flush()
    return changeset


def get_changeset(session: Session, changeset_id: int, lock: bool = False) -> PlanChangeset:
    """The changeset ``changeset_id`` (row-locked FOR UPDATE when ``lock``); NotFound if none."""
    query = select(PlanChangeset).where(PlanChangeset.id == changeset_id)
    found = session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound(f"no changeset {changeset_id}", [{"field": "changeset",
                                                         "value": changeset_id}])
    return found


def editable(session: Session, changeset_id: int, author: str, admin: bool = False
             ) -> PlanChangeset:
    """The draft changeset, locked, if ``author`` may edit it.

    Raises NotFound, Conflict (not a draft any more) or Forbidden (someone else's draft;
    admins may edit any).
    """
    changeset = get_changeset(session, changeset_id, lock=True)
    if changeset.status != "draft":
        raise Conflict(f"changeset {changeset_id} is {changeset.status}, not a draft",
                       [{"changeset": changeset_id, "status": changeset.status}])
    if changeset.author != author and not admin:
        raise Forbidden(f"changeset {changeset_id} is a draft of {changeset.author!r}",
                        [{"changeset": changeset_id, "author": changeset.author}])
    return changeset


def discard(session: Session, changeset_id: int, author: str, admin: bool = False) -> None:
    """Discard a draft (its rows are kept for the record)."""
    editable(session, changeset_id, author, admin).status = "discarded"


def hand_over(session: Session, changeset_id: int, author: str, to: str,
              admin: bool = False) -> PlanChangeset:
    """Give a draft to another planner ``to`` (its author, or an admin, hands it over).

    The handover is recorded in the changeset's ``report`` (``handovers``: from, to, by,
    at). ValidationFailed for an empty ``to``; NotFound/Conflict/Forbidden as
    :func:`editable`.
    """
    if not to.strip():
        raise ValidationFailed("hand the draft over to whom?", [{"field": "to"}])
    changeset = editable(session, changeset_id, author, admin)
    record = {"from": changeset.author, "to": to.strip(), "by": author,
              "at": now(session).isoformat()}
    report = dict(changeset.report or {})
    report["handovers"] = [*report.get("handovers", []), record]
    changeset.report, changeset.author = report, to.strip()
    session.flush()
    return changeset


def list_changesets(session: Session, area_code: str | None = None,
                    status: str | None = None) -> list[dict[str, Any]]:
    """Changesets, newest first, optionally of one area and/or status."""
    query = select(PlanChangeset).order_by(PlanChangeset.id.desc())
    if area_code:
        query = query.where(PlanChangeset.area_code == area_code)
    if status:
        query = query.where(PlanChangeset.status == status)
    return [changeset_dict(c) for c in session.scalars(query).all()]


def changeset_dict(changeset: PlanChangeset) -> dict[str, Any]:
    return {k: getattr(changeset, k) for k in (
        "id", "area_code", "reason", "author", "status", "kind", "base_at", "created_at",
        "published_at", "inverse_of", "report")}


def draft_rows(session: Session, changeset_id: int, with_geometry: bool = True
               ) -> list[dict[str, Any]]:
    """The draft rows of a changeset (GeoJSON geometry, lon/lat), by code."""
    rows = session.execute(text(
        "SELECT code, previous_code, base_version, action, successor_code, name, kind, level,"
        " parent_code, community_code, households, population,"
        " ST_AsGeoJSON(geom, 7)::json AS geometry"
        " FROM plan_draft_grids WHERE changeset_id = :cs ORDER BY level, code"),
        {"cs": changeset_id}).mappings().all()
    return [{k: v for k, v in r.items() if with_geometry or k != "geometry"} for r in rows]


@dataclass
class PublishResult:
    """What publishing did: grid versions closed/opened and units re-assigned."""

    changeset_id: int
    published_at: datetime
    closed: int
    opened: int
    reassigned: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"changeset_id": self.changeset_id, "published_at": self.published_at,
                "closed": self.closed, "opened": self.opened, "reassigned": self.reassigned}


def publish(session: Session, changeset_id: int, author: str, admin: bool = False
            ) -> PublishResult:
    """Publish a draft in the caller's transaction (the caller commits once).

    Raises
    ------
    Conflict (409) when the published data changed since the draft was based on it, naming
    the conflicting changeset; ValidationFailed (422) when the draft is empty, reuses a
    retired code or would add coverage/code errors (each listed in ``details``).
    """
    changeset = editable(session, changeset_id, author, admin)
    communities = affected_communities(session, changeset_id)
    if not communities:
        raise ValidationFailed(f"changeset {changeset_id} changes nothing",
                               [{"changeset": changeset_id}])
    for community in communities:
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                        {"k": f"gridlink.plan:{community}"})
    check_conflicts(session, changeset)
    check_codes_not_reused(session, changeset)
    check_no_new_errors(session, changeset_id, communities)
    at = now(session)
    area_wkt = changed_area_wkt(session, changeset_id)
    closed, opened = write_versions(session, changeset, at)
    record_lineage(session, at, changeset.id, changeset.reason)
    reassigned = reassign(session, changeset_id, area_wkt)
    moved = move_workers(session, changeset_id)
    reassigned["workers"] = len(moved)
    if changeset.inverse_of is not None:
        reassigned["workers"] += restore_workers(
            session, get_changeset(session, changeset.inverse_of))
    changeset.report = {**(changeset.report or {}), "workers_moved": moved}
    changeset.status, changeset.published_at = "published", at
    session.flush()
    return PublishResult(changeset_id, at, closed, opened, reassigned)


def affected_communities(session: Session, changeset_id: int) -> list[str]:
    return list(session.scalars(text(
        "SELECT DISTINCT community_code FROM plan_draft_grids WHERE changeset_id = :cs "
        "ORDER BY 1"), {"cs": changeset_id}).all())


_CONFLICTS = """
WITH d AS (SELECT * FROM plan_draft_grids WHERE changeset_id = :cs),
touched AS (SELECT code FROM d UNION SELECT previous_code FROM d WHERE previous_code IS NOT NULL),
hits AS (
    SELECT g.code, g.version, g.changed_by, g.change_reason,
           CASE WHEN g.valid_from > :base THEN g.changeset_id
                ELSE (SELECT p.id FROM plan_changesets p WHERE p.published_at = g.valid_to
                      ORDER BY p.id LIMIT 1) END AS by_cs,
           CASE WHEN g.valid_from > :base THEN g.valid_from ELSE g.valid_to END AS at
    FROM grids g
    WHERE (g.valid_from > :base OR g.valid_to > :base)
      AND (g.code IN (SELECT code FROM touched)
           OR EXISTS (SELECT 1 FROM d WHERE d.geom && g.geom AND ST_Intersects(d.geom, g.geom)
                      AND NOT ST_Touches(d.geom, g.geom)))
    UNION
    SELECT d.previous_code, g.version, g.changed_by, g.change_reason, g.changeset_id,
           g.valid_from
    FROM d LEFT JOIN grids g ON g.code = d.previous_code AND g.valid_to IS NULL
    WHERE d.previous_code IS NOT NULL AND g.version IS DISTINCT FROM d.base_version)
SELECT h.code, h.version, h.by_cs AS changeset_id, h.changed_by, h.change_reason, h.at,
       c.reason, c.author
FROM hits h LEFT JOIN plan_changesets c ON c.id = h.by_cs
ORDER BY h.by_cs NULLS LAST, h.code, h.version
"""


def check_conflicts(session: Session, changeset: PlanChangeset) -> None:
    """Raise Conflict when grids the draft touches were published after its ``base_at``."""
    rows = session.execute(text(_CONFLICTS), {"cs": changeset.id,
                                              "base": changeset.base_at}).mappings().all()
    if not rows:
        return
    details = [{"grid": r["code"], "version": r["version"], "changeset": r["changeset_id"],
                "changed_by": r["author"] or r["changed_by"],
                "reason": r["reason"] or r["change_reason"], "at": str(r["at"])} for r in rows]
    # name the change itself (a changeset, or an import's new version with its reason),
    # not the version it closed
    first = next((d for d in details if d["changeset"] or d["reason"]), details[0])
    by = (f"changeset {first['changeset']} ({first['reason']!r} by {first['changed_by']})"
          if first["changeset"] else f"{first['changed_by'] or 'an import'}"
          + (f" ({first['reason']!r})" if first["reason"] else ""))
    raise Conflict(
        f"changeset {changeset.id} is based on data of {changeset.base_at:%Y-%m-%d %H:%M:%S}; "
        f"grid {first['grid']} was changed since by {by}. Open a new draft on the current "
        "data.", details)


def check_codes_not_reused(session: Session, changeset: PlanChangeset) -> None:
    """A new code must never have been used (undo changesets may restore their own codes)."""
    if changeset.inverse_of is not None:
        return
    reused = session.scalars(text(
        "SELECT DISTINCT d.code FROM plan_draft_grids d JOIN grids g ON g.code = d.code "
        "WHERE d.changeset_id = :cs AND d.action = 'put' "
        "AND d.previous_code IS DISTINCT FROM d.code ORDER BY 1"), {"cs": changeset.id}).all()
    if reused:
        raise ValidationFailed(
            "a retired or existing code is never reused for a new grid: " + ", ".join(reused),
            [{"code": c, "problem": "code already used"} for c in reused])


def _key(p: Problem) -> tuple[Any, ...]:
    return (p.kind, p.level, p.parent_code, tuple(p.codes), round(p.area_m2 or 0, 1))


def check_no_new_errors(session: Session, changeset_id: int, communities: list[str]) -> None:
    """Raise ValidationFailed listing every coverage/code error the draft would add."""
    new: list[Problem] = []
    for community in communities:
        before = {_key(p) for p in validate_area(session, community).errors}
        after = validate_area(session, community, changeset_id=changeset_id).errors
        new += [p for p in after if _key(p) not in before]
    if new:
        raise ValidationFailed(
            f"changeset {changeset_id} would break coverage or codes ({len(new)} problem(s))",
            [{"kind": p.kind, "grids": p.codes, "parent": p.parent_code, "area_m2": p.area_m2,
              "location": p.location, "message": p.message} for p in new])


def changed_area_wkt(session: Session, changeset_id: int) -> str:
    """WKT (EPSG:4326) of the union of the old and new shapes of every grid the draft touches."""
    return session.execute(text("""
        SELECT ST_AsText(ST_Union(geom)) FROM (
            SELECT geom FROM plan_draft_grids WHERE changeset_id = :cs AND geom IS NOT NULL
            UNION ALL
            SELECT g.geom FROM grids g JOIN plan_draft_grids d
              ON d.changeset_id = :cs AND g.code = d.previous_code AND g.valid_to IS NULL) x
    """), {"cs": changeset_id}).scalar_one()  # type: ignore[no-any-return]


_INSERT = """
INSERT INTO grids (code, name, kind, level, parent_code, community_code, households, population,
                   responsible_party, management_level, start_date, version, valid_from,
                   changed_by, change_reason, changeset_id, geom)
SELECT d.code, d.name, d.kind, d.level, d.parent_code, d.community_code, d.households,
       d.population, o.responsible_party, o.management_level,
       COALESCE(o.start_date, CAST(:at AS date)),
       COALESCE((SELECT max(h.version) FROM grids h WHERE h.code = d.code), 0) + 1,
       :at, :author, :reason, :cs, d.geom
FROM plan_draft_grids d
LEFT JOIN grids o ON o.code = d.previous_code AND o.valid_to = :at
WHERE d.changeset_id = :cs AND d.action = 'put'
"""


def write_versions(session: Session, changeset: PlanChangeset, at: datetime) -> tuple[int, int]:
    """Close the replaced versions at ``at`` and insert the new ones; returns (closed, opened)."""
    params = {"cs": changeset.id, "at": at, "author": changeset.author,
              "reason": changeset.reason}
    closed = session.execute(text("""
        UPDATE grids g SET valid_to = :at,
               end_date = CASE WHEN d.action = 'retire' OR d.code <> d.previous_code
                               THEN CAST(:at AS date) ELSE g.end_date END
        FROM plan_draft_grids d
        WHERE d.changeset_id = :cs AND g.code = d.previous_code AND g.valid_to IS NULL
    """), params).rowcount  # type: ignore[attr-defined]
    opened = session.execute(text(_INSERT), params).rowcount  # type: ignore[attr-defined]
    return int(closed), int(opened)


def reassign(session: Session, changeset_id: int, area_wkt: str | None) -> dict[str, int]:
    """Re-assign buildings, sites, cameras and open events in the changed area.

    Units use :func:`geo.assign.assign_units`; open events (not closed or rejected: finished
    cases stay with the grid that handled them) go through :func:`geo.assign.assign_events`
    — the whole chain, snapping and cameras, the same rules as everywhere. Workers:
    :func:`move_workers`. Returns rows updated per kind (``events``: assignments changed).
    """
    if not area_wkt:
        return {"events": 0}
    counts: dict[str, Any] = assign_units(session, area_wkt)
    counts["events"] = assign_events(session, "area", area_wkt=area_wkt, open_only=True).changed
    return counts


def move_workers(session: Session, changeset_id: int) -> list[dict[str, str]]:
    """Workers of retired/renamed grids to the successor; returns [{worker, from, to}]."""
    rows = session.execute(text("""
        UPDATE workers w SET grid_code = COALESCE(d.successor_code, d.code)
        FROM plan_draft_grids d
        WHERE d.changeset_id = :cs AND w.grid_code = d.previous_code
          AND (d.action = 'retire' OR d.code <> d.previous_code)
          AND COALESCE(d.successor_code, d.code) <> d.previous_code
        RETURNING w.code, d.previous_code, w.grid_code
    """), {"cs": changeset_id}).all()
    return [{"worker": w, "from": old, "to": new} for w, old, new in rows]


def restore_workers(session: Session, original: PlanChangeset) -> int:
    """Undo: move back the workers ``original`` moved (those still where it put them)."""
    moved = (original.report or {}).get("workers_moved", [])
    count = 0
    for move in moved:  # a handful per changeset
        count += session.execute(text(
            "UPDATE workers SET grid_code = :old WHERE code = :w AND grid_code = :new"),
            {"old": move["from"], "w": move["worker"], "new": move["to"]}).rowcount  # type: ignore[attr-defined]
    return count


def draft_model(session: Session, changeset_id: int, code: str) -> PlanDraftGrid | None:
    return session.scalar(select(PlanDraftGrid).where(
        PlanDraftGrid.changeset_id == changeset_id, PlanDraftGrid.code == code))
