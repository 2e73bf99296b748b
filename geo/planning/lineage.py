"""Grid lineage: which grid versions a change turned into which, and the shares that moved.

A *change* closes grid versions at one time ``at`` (``valid_to = at``) and opens new ones at
the same time (``valid_from = at``): a published changeset (:func:`geo.planning.changesets.
publish`) or a grids import (:mod:`geo.planning.grid_imports`). :func:`record_lineage` links
every closed version (predecessor) to every opened version (successor) of the same level
(grid or micro-grid; dedicated grids only with dedicated grids) whose area it overlaps by
more than ``settings.plan_noise_area_m2``, and stores in ``grid_lineage`` (migration 0013):

* ``area_m2``: the area that went from the predecessor to the successor, in m² in the
  district's metric CRS (:func:`geo.districts.metric_srid_for`); ``area_share`` = that area /
  the predecessor's area that went to any successor (so a predecessor's shares add up to 1);
* ``households``: the households of the buildings whose point on surface lies in the
  predecessor and in the successor (a building on an edge shared by two successors counts for
  the lower code); ``household_share`` = those / the predecessor's households that went to
  any successor (NULL when that is 0);
* ``kind``, from the connected group of versions the link belongs to (``m`` predecessors,
  ``n`` successors linked together):

  ===========  ==============================================================================
  update       1 → 1, same code (attributes, or a shape changed without another grid)
  rename       1 → 1, another code
  split        1 → n
  merge        m → 1: a predecessor whose code continues in the successor, or every
               predecessor when the successor has a new code
  retire       m → 1: a predecessor whose code ends, retired into a neighbour that keeps its
               own code (the ``retire`` operation, and the grids a ``merge`` absorbs)
  create       m → n: the link into a successor with a code none of the predecessors had
  reshape      m → n: the other links (area moved between grids that continue)
  ===========  ==============================================================================

A grid with no predecessor (the first grid of an empty parent, an imported new area) has no
lineage. :func:`lineage` answers a code's ancestors and descendants.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.districts import metric_srid_for
from geo.errors import NotFound
from geo.settings import Settings, get_settings

KINDS = ("split", "merge", "reshape", "retire", "create", "rename", "update")


@dataclass(frozen=True)
class Overlap:
    """The area (m²) and households a predecessor version gave to a successor version."""

    predecessor_id: int
    predecessor_code: str
    successor_id: int
    successor_code: str
    area_m2: float
    households: int


_OVERLAPS = """
WITH closed AS (SELECT id, code, level, kind = 'dedicated' AS dedicated, geom
                FROM grids WHERE valid_to = :at),
     opened AS (SELECT id, code, level, kind = 'dedicated' AS dedicated, geom
                FROM grids WHERE valid_from = :at),
     pairs AS (
        SELECT p.id AS p_id, p.code AS p_code, s.id AS s_id, s.code AS s_code,
               ST_Area(ST_Intersection(ST_Transform(p.geom, :srid),
                                       ST_Transform(s.geom, :srid))) AS area_m2
        FROM closed p JOIN opened s ON s.level = p.level AND s.dedicated = p.dedicated
         AND s.geom && p.geom AND ST_Intersects(s.geom, p.geom)),
     homes AS (
        SELECT p.id AS p_id, s.id AS s_id, sum(b.households)::int AS households
        FROM closed p
        JOIN buildings b ON b.geom && p.geom AND ST_Covers(p.geom, ST_PointOnSurface(b.geom))
        CROSS JOIN LATERAL (
            SELECT s.id FROM opened s
            WHERE s.level = p.level AND s.dedicated = p.dedicated AND s.geom && b.geom
              AND ST_Covers(s.geom, ST_PointOnSurface(b.geom))
            ORDER BY s.code LIMIT 1) s
        GROUP BY p.id, s.id)
SELECT x.p_id, x.p_code, x.s_id, x.s_code, x.area_m2, COALESCE(h.households, 0) AS households
FROM pairs x LEFT JOIN homes h ON h.p_id = x.p_id AND h.s_id = x.s_id
WHERE x.area_m2 > :noise
ORDER BY x.p_code, x.s_code
"""


def overlaps_at(session: Session, at: datetime, srid: int, noise_m2: float) -> list[Overlap]:
    """The overlaps (above ``noise_m2`` m², measured in EPSG ``srid``) between the versions
    closed at ``at`` and those opened at ``at``, by predecessor then successor code."""
    rows = session.execute(text(_OVERLAPS), {"at": at, "srid": srid, "noise": noise_m2}).all()
    return [Overlap(int(r.p_id), r.p_code, int(r.s_id), r.s_code, float(r.area_m2),
                    int(r.households)) for r in rows]


def groups_of(overlaps: list[Overlap]) -> list[int]:
    """For each overlap, the number of its connected group (predecessors and successors linked
    by overlaps), by union-find over the version ids."""
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def root(node: tuple[str, int]) -> tuple[str, int]:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for o in overlaps:
        parent[root(("p", o.predecessor_id))] = root(("s", o.successor_id))
    roots = [root(("p", o.predecessor_id)) for o in overlaps]
    numbers = {r: i for i, r in enumerate(dict.fromkeys(roots))}
    return [numbers[r] for r in roots]


def kinds_of(overlaps: list[Overlap]) -> list[str]:
    """The ``kind`` of each overlap (see the module's table), from its group's shape."""
    members: dict[int, list[Overlap]] = defaultdict(list)
    group = groups_of(overlaps)
    for o, g in zip(overlaps, group, strict=True):
        members[g].append(o)
    kinds = []
    for o, g in zip(overlaps, group, strict=True):
        before = {m.predecessor_code for m in members[g]}
        after = {m.successor_code for m in members[g]}
        kinds.append(_kind(o, before, after, len({m.predecessor_id for m in members[g]}),
                           len({m.successor_id for m in members[g]})))
    return kinds


def _kind(o: Overlap, before: set[str], after: set[str], m: int, n: int) -> str:
    if m == 1 and n == 1:
        return "update" if o.predecessor_code == o.successor_code else "rename"
    if m == 1:
        return "split"
    if n == 1:
        retired = o.predecessor_code not in after and o.successor_code in before
        return "retire" if retired else "merge"
    return "reshape" if o.successor_code in before else "create"


def _shares(overlaps: list[Overlap]) -> tuple[list[float], list[float | None]]:
    """Area and household shares of each overlap in its predecessor's totals."""
    area: dict[int, float] = defaultdict(float)
    homes: dict[int, int] = defaultdict(int)
    for o in overlaps:
        area[o.predecessor_id] += o.area_m2
        homes[o.predecessor_id] += o.households
    return ([o.area_m2 / area[o.predecessor_id] for o in overlaps],
            [o.households / homes[o.predecessor_id] if homes[o.predecessor_id] else None
             for o in overlaps])


_INSERT = text("""
INSERT INTO grid_lineage (predecessor_id, successor_id, predecessor_code, successor_code, kind,
    area_m2, area_share, households, household_share, changeset_id, published_at, reason)
VALUES (:p_id, :s_id, :p_code, :s_code, :kind, :area_m2, :area_share, :households,
        :household_share, :changeset_id, :at, :reason)
ON CONFLICT (predecessor_id, successor_id) DO NOTHING
""")


def record_lineage(session: Session, at: datetime, changeset_id: int | None,
                   reason: str | None, settings: Settings | None = None) -> int:
    """Store the lineage of the change made at ``at`` (see the module docstring).

    ``changeset_id`` is the published changeset (None for a grids import), ``reason`` its
    reason. Returns the number of links of the change (those already stored are kept, not
    written twice). Never commits.
    """
    settings = settings or get_settings()
    first = session.scalar(text("SELECT min(code) FROM grids WHERE valid_to = :at"), {"at": at})
    if first is None:
        return 0
    srid = metric_srid_for(session, first, settings)
    overlaps = overlaps_at(session, at, srid, settings.plan_noise_area_m2)
    if not overlaps:
        return 0
    area_shares, household_shares = _shares(overlaps)
    session.execute(_INSERT, [
        {"p_id": o.predecessor_id, "s_id": o.successor_id, "p_code": o.predecessor_code,
         "s_code": o.successor_code, "kind": kind, "area_m2": o.area_m2, "area_share": a,
         "households": o.households, "household_share": h, "changeset_id": changeset_id,
         "at": at, "reason": reason}
        for o, kind, a, h in zip(overlaps, kinds_of(overlaps), area_shares, household_shares,
                                 strict=True)])
    return len(overlaps)


_LINKS = """
SELECT x.*, p.code AS from_code, p.version AS from_version, p.name AS from_name,
       s.code AS to_code, s.version AS to_version, s.name AS to_name
FROM (SELECT l.*, l.area_m2 / sum(l.area_m2) OVER (PARTITION BY l.successor_id)
                  AS successor_area_share
      FROM grid_lineage l
      WHERE l.successor_id IN (SELECT successor_id FROM grid_lineage
                               WHERE {side} = ANY(:ids))) x
JOIN grids p ON p.id = x.predecessor_id
JOIN grids s ON s.id = x.successor_id
WHERE x.{side} = ANY(:ids)
"""
"""The links into (``successor_id``) or out of (``predecessor_id``) the versions ``ids``; the
successor side's share is taken over every link into the same successor."""


def _links(session: Session, side: str, ids: list[int]) -> list[Any]:
    sql = _LINKS.format(side="successor_id" if side == "into" else "predecessor_id")
    return list(session.execute(text(sql), {"ids": ids}).mappings().all())


def _link_dict(row: Any) -> dict[str, Any]:
    household_share = row["household_share"]
    return {
        "kind": row["kind"], "published_at": row["published_at"], "reason": row["reason"],
        "changeset_id": row["changeset_id"],
        "from": {"code": row["from_code"], "version": row["from_version"],
                 "name": row["from_name"]},
        "to": {"code": row["to_code"], "version": row["to_version"], "name": row["to_name"]},
        "area_m2": round(row["area_m2"], 2), "area_share": round(row["area_share"], 6),
        "successor_area_share": round(row["successor_area_share"], 6),
        "households": row["households"],
        "household_share": None if household_share is None else round(household_share, 6)}


def _walk(session: Session, ids: list[int], side: str) -> list[dict[str, Any]]:
    """Every link reached from the versions ``ids`` going back (``into``: the links that made
    them, then those that made their predecessors...) or forward (``from``), oldest first."""
    seen, frontier, found = set(ids), ids, []
    while frontier:
        links = _links(session, side, frontier)
        found += links
        reached = {r["predecessor_id"] if side == "into" else r["successor_id"] for r in links}
        frontier = sorted(reached - seen)
        seen |= reached
    unique = {r["id"]: r for r in found}.values()
    return [_link_dict(r) for r in sorted(unique, key=lambda r: (
        r["published_at"], r["from_code"], r["to_code"]))]


def lineage(session: Session, code: str) -> dict[str, Any]:
    """The ancestors and descendants of grid ``code`` (any of its versions), transitively.

    ``ancestors``: the links that made the code's versions, then those that made their
    predecessor versions, and so on; ``descendants`` likewise forward from the code's
    versions (a merge partner's link into the same successor is not a descendant). Each
    link: ``kind``, ``published_at``, ``reason``, ``changeset_id``, ``from``
    and ``to`` (code, version, name), ``area_m2``, ``area_share`` (of ``from``),
    ``successor_area_share`` (of ``to``), ``households``, ``household_share``; oldest first.

    Raises
    ------
    NotFound
        When no grid version ever had ``code``.
    """
    versions = session.execute(text(
        "SELECT id, version, name, valid_from, valid_to FROM grids WHERE code = :c "
        "ORDER BY version, valid_from"), {"c": code}).mappings().all()
    if not versions:
        raise NotFound(f"no grid {code}", [{"field": "code", "value": code}])
    ids = [v["id"] for v in versions]
    return {"code": code, "current": versions[-1]["valid_to"] is None,
            "versions": [{k: v[k] for k in ("version", "name", "valid_from", "valid_to")}
                         for v in versions],
            "ancestors": _walk(session, ids, "into"),
            "descendants": _walk(session, ids, "from")}
