"""Impact preview of a draft changeset: before/after per grid, transfer matrix, balance.

Units (buildings, sites, cameras, open events) are placed by their point (or point-on-surface
of a polygon) in the ordinary grid covering it, before (published grids) and after (as the
draft would publish them) - the same rule as :func:`geo.assign.assign_units`. The transfer
matrix looks only at units in the changed area (old and new shapes of the grids the draft
touches); the grids listed are those whose counts change (or that are new, retired or
renamed), each with its full counts before and after from :func:`geo.grid_counts.grid_counts`,
the computation the map, validation and /stats use. Workers follow their grid's code (a
retired grid's go to its successor).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.grid_counts import COUNT_KINDS, grid_counts
from geo.planning.changesets import affected_communities, get_changeset
from geo.planning.validate import GridMetrics, validate_area

_MATRIX = """
WITH d AS MATERIALIZED (SELECT * FROM plan_draft_grids WHERE changeset_id = :cs),
changed AS MATERIALIZED (
    SELECT ST_Union(geom) AS g FROM (
        SELECT geom FROM d WHERE geom IS NOT NULL
        UNION ALL
        SELECT g.geom FROM grids g JOIN d ON g.code = d.previous_code AND g.valid_to IS NULL) x),
units AS (
    SELECT 'buildings' AS kind, b.households, b.population,
           CASE WHEN ST_GeometryType(b.geom) = 'ST_Point' THEN b.geom
                ELSE ST_PointOnSurface(b.geom) END AS p
    FROM buildings b, changed c WHERE ST_Intersects(c.g, b.geom)
    UNION ALL
    SELECT 'sites', 0, 0, CASE WHEN ST_GeometryType(s.geom) = 'ST_Point' THEN s.geom
                               ELSE ST_PointOnSurface(s.geom) END
    FROM sites s, changed c WHERE ST_Intersects(c.g, s.geom)
    UNION ALL
    SELECT 'cameras', 0, 0, k.geom FROM cameras k, changed c WHERE ST_Intersects(c.g, k.geom)
    UNION ALL
    SELECT 'open_events', 0, 0, e.geom FROM events e, changed c
    WHERE ST_Intersects(c.g, e.geom) AND e.status NOT IN ('closed', 'rejected'))
SELECT u.kind, o.code AS from_code, n.code AS to_code, count(*) AS n,
       COALESCE(sum(u.households), 0) AS households, COALESCE(sum(u.population), 0) AS population
FROM units u
LEFT JOIN LATERAL (
    SELECT code FROM grids WHERE valid_to IS NULL AND level = :level AND kind <> 'dedicated'
      AND ST_Covers(geom, u.p) ORDER BY code LIMIT 1) o ON true
LEFT JOIN LATERAL (
    SELECT code FROM (
        SELECT code FROM d WHERE action = 'put' AND level = :level AND kind <> 'dedicated'
          AND ST_Covers(geom, u.p)
        UNION ALL
        SELECT g.code FROM grids g WHERE g.valid_to IS NULL AND g.level = :level
          AND g.kind <> 'dedicated' AND ST_Covers(g.geom, u.p)
          AND NOT EXISTS (SELECT 1 FROM d WHERE g.code IN (d.code, d.previous_code))) c
    ORDER BY code LIMIT 1) n ON true
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""


@dataclass
class Preview:
    """The impact of publishing a draft.

    ``grids``: per grid code, ``before`` and ``after`` counts (buildings, households,
    population, sites, cameras, open_events, workers) and a ``state`` (changed, new, retired,
    renamed). ``transfers``: what moves from which old grid to which new grid (``from`` None
    = not covered before). ``balance``: households band / compactness summary before and after
    for the affected communities. ``features``: old and new shapes (GeoJSON, lon/lat).
    """

    changeset_id: int
    level: str
    grids: list[dict[str, Any]] = field(default_factory=list)
    transfers: list[dict[str, Any]] = field(default_factory=list)
    balance: dict[str, Any] = field(default_factory=dict)
    features: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_geojson(self) -> dict[str, Any]:
        """Old (``state`` before) and new (after) shapes of the touched grids."""
        return {"type": "FeatureCollection", "features": self.features}


def preview(session: Session, changeset_id: int) -> Preview:
    """Before/after counts, transfer matrix and balance metrics of a changeset's draft.

    Raises NotFound for an unknown changeset. Works on published changesets too only while
    their draft rows still differ from the data (meant for drafts).
    """
    get_changeset(session, changeset_id)
    rows = draft_summary(session, changeset_id)
    level = "grid" if any(r["level"] == "grid" for r in rows) or not rows else "micro"
    result = Preview(changeset_id=changeset_id, level=level)
    matrix = session.execute(text(_MATRIX), {"cs": changeset_id, "level": level}).mappings().all()
    states = _states(rows)
    touched = sorted(set(states) | {c for m in matrix if m["from_code"] != m["to_code"]
                                    for c in (m["from_code"], m["to_code"]) if c is not None})
    before = grid_counts(session, touched)
    after = grid_counts(session, touched, changeset_id)
    _move_workers(rows, before, after)
    result.grids = [{"code": c, "state": states.get(c, "changed"),
                     "before": before.get(c, _zero()), "after": after.get(c, _zero())}
                    for c in touched
                    if states.get(c, "changed") != "changed" or before.get(c) != after.get(c)]
    result.transfers = [{"kind": m["kind"], "from": m["from_code"], "to": m["to_code"],
                         "count": m["n"], "households": m["households"],
                         "population": m["population"]}
                        for m in matrix if m["from_code"] != m["to_code"]]
    result.balance = balance(session, changeset_id, level)
    result.features = shape_features(session, changeset_id)
    return result


def draft_summary(session: Session, changeset_id: int) -> list[dict[str, Any]]:
    return [dict(r) for r in session.execute(text(
        "SELECT code, previous_code, action, successor_code, level FROM plan_draft_grids "
        "WHERE changeset_id = :cs ORDER BY code"), {"cs": changeset_id}).mappings()]


def _zero() -> dict[str, int]:
    return dict.fromkeys(COUNT_KINDS, 0)


def _successors(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Old code -> code its workers move to (retired -> successor, renamed -> new code)."""
    out = {}
    for r in rows:
        if r["action"] == "retire" and r["successor_code"]:
            out[r["code"]] = r["successor_code"]
        elif r["previous_code"] and r["previous_code"] != r["code"]:
            out[r["previous_code"]] = r["code"]
    return out


def _move_workers(rows: list[dict[str, Any]], before: dict[str, dict[str, int]],
                  after: dict[str, dict[str, int]]) -> None:
    """Workers after publishing: a retired or renamed grid's go to its successor."""
    moves = _successors(rows)
    for counts in after.values():
        counts["workers"] = 0
    for code, counts in before.items():
        target = moves.get(code, code)
        if counts["workers"]:
            after.setdefault(target, _zero())["workers"] += counts["workers"]


def _states(rows: list[dict[str, Any]]) -> dict[str, str]:
    states = {}
    for r in rows:
        if r["action"] == "retire":
            states[r["code"]] = "retired"
        elif r["previous_code"] is None:
            states[r["code"]] = "new"
        elif r["previous_code"] != r["code"]:
            states[r["previous_code"]] = "renamed"
            states[r["code"]] = "new"
        else:
            states[r["code"]] = "changed"
    return states


def _summary(metrics: list[GridMetrics]) -> dict[str, Any]:
    if not metrics:
        return {"grids": 0}
    devs = [abs(m.deviation) for m in metrics]
    return {"grids": len(metrics),
            "households_out_of_band": sum(m.status != "ok" for m in metrics),
            "mean_abs_deviation": round(sum(devs) / len(devs), 4),
            "max_abs_deviation": round(max(devs), 4),
            "min_compactness": min(m.compactness for m in metrics)}


def balance(session: Session, changeset_id: int, level: str) -> dict[str, Any]:
    """Balance metrics of the affected communities' grids at ``level``, before and after."""
    out: dict[str, Any] = {"before": {}, "after": {}, "errors_before": 0, "errors_after": 0}
    for community in affected_communities(session, changeset_id):
        for key, cs in (("before", None), ("after", changeset_id)):
            report = validate_area(session, community, changeset_id=cs)
            out[key][community] = _summary([g for g in report.grids if g.level == level])
            out[f"errors_{key}"] += len(report.errors)
    return out


def shape_features(session: Session, changeset_id: int) -> list[dict[str, Any]]:
    """Old (published) and new (draft) shapes of every grid the draft touches."""
    rows = session.execute(text("""
        SELECT 'after' AS state, d.code, d.name, d.action, ST_AsGeoJSON(d.geom, 7) AS geojson
        FROM plan_draft_grids d WHERE d.changeset_id = :cs AND d.geom IS NOT NULL
        UNION ALL
        SELECT 'before', g.code, g.name, d.action, ST_AsGeoJSON(g.geom, 7)
        FROM plan_draft_grids d JOIN grids g ON g.code = d.previous_code AND g.valid_to IS NULL
        WHERE d.changeset_id = :cs
        ORDER BY 1 DESC, 2
    """), {"cs": changeset_id}).mappings().all()
    return [{"type": "Feature", "geometry": json.loads(r["geojson"]),
             "properties": {"state": r["state"], "code": r["code"], "name": r["name"],
                            "action": r["action"]}} for r in rows]
