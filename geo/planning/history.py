"""History of grids: the layer as of a date, a grid's versions, diffs, and undo.

A grid version is valid from ``valid_from`` (inclusive) to ``valid_to`` (exclusive, NULL =
current). Times are timestamps with time zone; naive datetimes are taken as UTC by the driver.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import Conflict
from geo.models import PlanChangeset
from geo.planning.changesets import get_changeset, open_changeset
from geo.planning.validate import scope_of

_IN_SCOPE = """(g.community_code = ANY(:communities) OR g.code = ANY(:grids)
                OR g.parent_code = ANY(:grids))"""

_AS_OF = f"""
SELECT g.code, g.name, g.level, g.kind, g.parent_code, g.version, g.valid_from, g.valid_to,
       g.changed_by, g.change_reason, g.changeset_id, g.households, ST_AsGeoJSON(g.geom, 7) AS gj
FROM grids g
WHERE g.valid_from <= :at AND (g.valid_to IS NULL OR g.valid_to > :at) AND {_IN_SCOPE}
ORDER BY g.level, g.code
"""  # noqa: S608 - constant fragment

_ATTRS = ("code", "name", "level", "kind", "parent_code", "version", "valid_from", "valid_to",
          "changed_by", "change_reason", "changeset_id", "households")


def _params(session: Session, area_code: str) -> dict[str, Any]:
    communities, grids = scope_of(session, area_code)
    return {"communities": communities, "grids": grids}


def grids_as_of(session: Session, area_code: str, at: datetime) -> dict[str, Any]:
    """The grids and micro-grids of an area as they were at ``at``: a GeoJSON FeatureCollection.

    Raises NotFound for an unknown area code.
    """
    rows = session.execute(text(_AS_OF), {"at": at, **_params(session, area_code)}).mappings()
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": json.loads(r["gj"]),
         "properties": {k: _plain(r[k]) for k in _ATTRS}} for r in rows]}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def grid_history(session: Session, code: str) -> list[dict[str, Any]]:
    """Every version of grid ``code``, oldest first (without geometry)."""
    rows = session.execute(text(
        "SELECT code, name, level, kind, parent_code, version, valid_from, valid_to, changed_by,"
        " change_reason, changeset_id, households, ST_Area(geom::geography) AS area_m2"
        " FROM grids WHERE code = :c ORDER BY version, valid_from"), {"c": code}).mappings()
    return [{**{k: _plain(r[k]) for k in _ATTRS}, "area_m2": round(r["area_m2"], 2)}
            for r in rows]


_DIFF = f"""
WITH a AS (SELECT * FROM grids g WHERE g.valid_from <= :t1
             AND (g.valid_to IS NULL OR g.valid_to > :t1) AND {_IN_SCOPE}),
     b AS (SELECT * FROM grids g WHERE g.valid_from <= :t2
             AND (g.valid_to IS NULL OR g.valid_to > :t2) AND {_IN_SCOPE}),
     pairs AS (
        SELECT COALESCE(a.code, b.code) AS code, a.id AS a_id, b.id AS b_id,
               CASE WHEN a.id IS NULL THEN b.geom WHEN b.id IS NULL THEN a.geom
                    ELSE ST_SymDifference(a.geom, b.geom) END AS g
        FROM a FULL JOIN b ON a.code = b.code
        WHERE a.id IS DISTINCT FROM b.id)
SELECT p.code, p.a_id, p.b_id, ST_AsGeoJSON(p.g, 7) AS gj,
       COALESCE(ST_Area(p.g::geography), 0) AS area_m2
FROM pairs p ORDER BY p.code
"""  # noqa: S608 - constant fragment


def diff(session: Session, area_code: str, t1: datetime, t2: datetime) -> dict[str, Any]:
    """What changed in an area between ``t1`` and ``t2``: a GeoJSON FeatureCollection.

    One feature per grid code whose version differs: geometry = the area that changed
    (symmetric difference; the whole shape for added/retired grids), ``changed_m2`` in m²,
    ``change`` added/retired/changed, ``before``/``after`` attributes (None when absent).
    """
    rows = session.execute(text(_DIFF), {"t1": t1, "t2": t2,
                                         **_params(session, area_code)}).mappings().all()
    ids = [i for r in rows for i in (r["a_id"], r["b_id"]) if i is not None]
    attrs = {r["id"]: {k: _plain(r[k]) for k in _ATTRS} for r in session.execute(text(
        "SELECT id, " + ", ".join(_ATTRS) + " FROM grids WHERE id = ANY(:ids)"),  # noqa: S608
        {"ids": ids}).mappings()}
    features = []
    for r in rows:
        change = "added" if r["a_id"] is None else "retired" if r["b_id"] is None else "changed"
        features.append({"type": "Feature", "geometry": json.loads(r["gj"]), "properties": {
            "code": r["code"], "change": change, "changed_m2": round(r["area_m2"], 2),
            "before": attrs.get(r["a_id"]), "after": attrs.get(r["b_id"])}})
    return {"type": "FeatureCollection", "features": features}


def changeset_diff(session: Session, changeset_id: int) -> dict[str, Any]:
    """The diff a published changeset made (just before vs at its publication)."""
    changeset = get_changeset(session, changeset_id)
    if changeset.published_at is None:
        raise Conflict(f"changeset {changeset_id} is {changeset.status}, not published",
                       [{"changeset": changeset_id, "status": changeset.status}])
    at = changeset.published_at
    return diff(session, changeset.area_code, at - timedelta(microseconds=1), at)


_UNDO_CHECK = """
SELECT d.code, cur.changeset_id, c.reason
FROM plan_draft_grids d
LEFT JOIN grids cur ON cur.code = d.code AND cur.valid_to IS NULL
LEFT JOIN plan_changesets c ON c.id = cur.changeset_id
WHERE d.changeset_id = :old AND d.action = 'put' AND cur.changeset_id IS DISTINCT FROM :old
ORDER BY d.code
"""

_UNDO_ROWS = """
INSERT INTO plan_draft_grids (changeset_id, code, previous_code, base_version, action,
    successor_code, name, kind, level, parent_code, community_code, households, population, geom)
SELECT :new, o.code, d.code, cur.version, 'put', NULL, o.name, o.kind, o.level,
       o.parent_code, o.community_code, o.households, o.population, o.geom
FROM plan_draft_grids d
JOIN grids o ON o.code = d.previous_code AND o.valid_to = :at
JOIN grids cur ON cur.code = d.code AND cur.valid_to IS NULL
WHERE d.changeset_id = :old AND d.action = 'put' AND d.previous_code IS NOT NULL
UNION ALL
SELECT :new, o.code, NULL, NULL, 'put', NULL, o.name, o.kind, o.level, o.parent_code,
       o.community_code, o.households, o.population, o.geom
FROM plan_draft_grids d JOIN grids o ON o.code = d.code AND o.valid_to = :at
WHERE d.changeset_id = :old AND d.action = 'retire'
UNION ALL
SELECT :new, d.code, d.code, cur.version, 'retire',
       (SELECT o.code FROM grids o WHERE o.valid_to = :at AND o.level = cur.level
          AND ST_Intersects(o.geom, cur.geom)
        ORDER BY ST_Area(ST_Intersection(o.geom, cur.geom)) DESC, o.code LIMIT 1),
       cur.name, cur.kind, cur.level, cur.parent_code, cur.community_code, 0, 0, NULL
FROM plan_draft_grids d JOIN grids cur ON cur.code = d.code AND cur.valid_to IS NULL
WHERE d.changeset_id = :old AND d.action = 'put' AND d.previous_code IS NULL
"""


def undo(session: Session, changeset_id: int, author: str) -> PlanChangeset:
    """A new draft changeset that restores what published changeset ``changeset_id`` replaced.

    Changed grids get their old shape and name back, renamed grids their old code, grids it
    created are retired (into the old grid they overlap most), grids it retired come back.
    Publish the returned draft to undo. Raises Conflict when the changeset is not published
    or its grids were changed again since (undo the later changeset first).
    """
    old = get_changeset(session, changeset_id)
    if old.status != "published" or old.published_at is None:
        raise Conflict(f"changeset {changeset_id} is {old.status}; only a published one can "
                       "be undone", [{"changeset": changeset_id, "status": old.status}])
    later = session.execute(text(_UNDO_CHECK), {"old": changeset_id}).mappings().all()
    if later:
        raise Conflict(
            f"grid {later[0]['code']} was changed after changeset {changeset_id} by changeset "
            f"{later[0]['changeset_id']} ({later[0]['reason']!r}); undo that one first",
            [{"grid": r["code"], "changeset": r["changeset_id"]} for r in later])
    draft = open_changeset(session, old.area_code, f"undo changeset {changeset_id}: "
                           f"{old.reason}", author, kind="undo", inverse_of=changeset_id)
    session.execute(text(_UNDO_ROWS), {"new": draft.id, "old": changeset_id,
                                       "at": old.published_at})
    return draft
