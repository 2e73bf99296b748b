"""Propose a grid plan for a community: contiguous, compact, balanced grids of buildings.

Method (gerrychain's recursive spanning-tree partition, a well-kept redistricting library):

1. each building of the community (its point, or point-on-surface) gets a Voronoi cell,
   clipped to the community, in ``settings.metric_srid`` (metres) - so the cells tile the
   community exactly and two buildings are neighbours when their cells share an edge;
2. the cell adjacency graph, weighted by households, is cut by
   :func:`gerrychain.partition.initial_partition_generators.recursive_tree_part` into
   ``round(households / plan_households_target)`` connected parts of equal households
   (tolerance tightened from 5 % up to the configured band); each part's cells, dissolved,
   are a grid - and the same again inside each grid for micro-grids of ~50 households;
3. new grids take the code of the old grid they overlap most (so a grid that hardly moves
   keeps its code); the others get fresh sequence numbers never used in the community;
   old grids and micro-grids left over are retired into the new one they overlap most.

The result is a draft changeset (kind ``proposal``) to review, edit and publish. Random
choices use a fixed seed: the same data gives the same proposal.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import networkx as nx
import numpy as np
import shapely
from gerrychain import Graph
from gerrychain.partition.initial_partition_generators import recursive_tree_part
from gerrychain.tree import bipartition_tree
from shapely import wkb
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import to_lonlat, to_metric
from geo.errors import ValidationFailed
from geo.models import PlanChangeset
from geo.planning.changesets import open_changeset
from geo.planning.kernel import (
    WorkingGrid,
    parent_shape,
    polygonal,
    put,
    retire_row,
    working,
)
from geo.settings import Settings, get_settings

EPSILONS = (0.05, 0.1)
"""Household tolerances tried in turn for grids (then the configured band) before giving up."""
MAX_ATTEMPTS = 250
"""Spanning trees gerrychain draws per cut before trying the next tolerance."""


@dataclass
class Unit:
    """A building (or several at one point) as a node: households and its Voronoi cell (m)."""

    codes: list[str]
    households: int
    cell: BaseGeometry


def building_units(session: Session, area: BaseGeometry, label: str) -> list[Unit]:
    """The buildings inside ``area`` (lon/lat) with their Voronoi cells clipped to it, in
    metres (``settings.metric_srid``); buildings at one point form one unit. ValidationFailed
    (naming ``label``) when fewer than two positions."""
    area_m = polygonal(to_metric(area))
    rows = session.execute(text("""
        WITH a AS (SELECT ST_GeomFromWKB(:area, 4326) AS geom)
        SELECT b.code, b.households, ST_AsBinary(p.p) AS wkb
        FROM a JOIN buildings b ON b.geom && a.geom
        CROSS JOIN LATERAL (SELECT CASE WHEN ST_GeometryType(b.geom) = 'ST_Point' THEN b.geom
                            ELSE ST_PointOnSurface(b.geom) END AS p) p
        WHERE ST_Covers(a.geom, p.p) ORDER BY b.code"""), {"area": area.wkb}).all()
    by_point: dict[tuple[float, float], Unit] = {}
    for code, households, raw in rows:
        point = to_metric(wkb.loads(bytes(raw)))
        x, y = shapely.get_coordinates(point)[0]
        key = (round(float(x), 3), round(float(y), 3))
        unit = by_point.setdefault(key, Unit([], 0, point))
        unit.codes.append(code)
        unit.households += int(households or 0)
    units = list(by_point.values())
    if len(units) < 2:
        raise ValidationFailed(f"{label} has {len(units)} building position(s); "
                               "a plan needs at least two", [{"area": label}])
    points = shapely.multipoints([u.cell for u in units])
    cells = shapely.get_parts(shapely.voronoi_polygons(points, extend_to=area_m, ordered=True))
    for unit, cell in zip(units, cells, strict=True):
        unit.cell = polygonal(shapely.intersection(cell, area_m))
    return units


def adjacency(units: list[Unit], indices: list[int]) -> nx.Graph:
    """Graph of units (by index) whose cells share an edge; node attribute ``hh``."""
    graph = nx.Graph()
    for i in indices:
        graph.add_node(i, hh=units[i].households)
    cells = [units[i].cell for i in indices]
    if len(cells) < 2:
        return graph
    tree = shapely.STRtree(cells)
    left, right = tree.query(cells, predicate="intersects")
    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        if a < b and shapely.intersection(cells[a], cells[b]).length > 1e-6:
            graph.add_edge(indices[a], indices[b])
    return graph


def balanced_parts(graph: nx.Graph, parts: int, band: tuple[int, int], target: int,
                   seed: int = 20261124, tight: bool = True) -> dict[int, int]:
    """Node -> part: ``parts`` connected parts of about equal households (gerrychain).

    ``tight`` tries tolerances of 5 % and 10 % before the band's; otherwise the band's only
    (micro-grids: a few lumpy buildings each, exact balance is rarely possible).
    """
    if parts <= 1:
        return dict.fromkeys(graph.nodes, 0)
    total = sum(d["hh"] for _, d in graph.nodes(data=True))
    band_eps = max(band[1] / target - 1, 1 - band[0] / target)
    tolerances = (*EPSILONS, band_eps) if tight else (band_eps,)
    nodes = sorted(graph.nodes)
    dense = nx.relabel_nodes(graph, {n: i for i, n in enumerate(nodes)})  # ids 0..n-1
    last: Exception | None = None
    for eps in tolerances:
        try:
            labels = recursive_tree_part(
                Graph.from_networkx(dense), list(range(parts)), total / parts, "hh", eps,
                bipartition_tree_fn=partial(bipartition_tree, max_attempts=MAX_ATTEMPTS),
                rng=random.Random(seed))
            return {nodes[int(str(i))]: int(str(part)) for i, part in labels.items()}
        except Exception as exc:  # gerrychain raises several types when no cut exists
            last = exc
    raise ValidationFailed(f"no balanced plan of {parts} parts found: {last}",
                           [{"parts": parts, "households": total}])


def part_counts(total: int, target: int, band: tuple[int, int], units: int) -> list[int]:
    """Part counts to try, in order: N = round(total / target), then N±1, N±2, N±3, each
    kept only when its mean part lies in the band (at least 1, at most ``units``)."""
    ideal = max(1, round(total / target))
    lo, hi = max(1, math.ceil(total / band[1])), max(1, math.floor(total / band[0]))
    order = [ideal, *(p for k in range(1, 4) for p in (ideal - k, ideal + k))]
    found = [p for p in order if 1 <= p <= units and lo <= p <= hi]
    return found or [max(1, min(ideal, units))]


def _groups(labels: dict[int, int]) -> list[list[int]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for node, part in labels.items():
        groups[part].append(node)
    return [sorted(g) for _, g in sorted(groups.items())]


def balanced_groups(units: list[Unit], graph: nx.Graph, level: Level) -> tuple[
        list[list[int]], str | None]:
    """Connected groups of ``graph``'s units, every group inside the band.

    Tries :func:`part_counts` in turn; for micro-grids then fewer micro-grids (down to one,
    the band no longer required; the returned note says so). ValidationFailed naming the
    area, the level and the counts tried when no grid plan exists.
    """
    nodes = sorted(graph.nodes)
    total = sum(units[i].households for i in nodes)
    tried: list[int] = []
    for parts in part_counts(total, level.target, level.band, len(nodes)):
        tried.append(parts)
        try:
            groups = _groups(balanced_parts(graph, parts, level.band, level.target,
                                            tight=level.name == "grid"))
        except ValidationFailed:
            continue
        sums = [sum(units[i].households for i in g) for g in groups]
        if parts == 1 or all(level.band[0] <= h <= level.band[1] for h in sums):
            return groups, None
    if level.name == "micro":
        for parts in range(min(tried) - 1, 0, -1):
            try:
                labels = balanced_parts(graph, parts, level.band, level.target, tight=False)
            except ValidationFailed:
                continue
            return _groups(labels), (f"no balanced plan of {'/'.join(map(str, tried))} "
                                     f"micro-grids in {level.area}; {parts} used")
    raise ValidationFailed(
        f"no balanced {level.name} plan for {level.area}: tried {', '.join(map(str, tried))} "
        f"part(s) of {total} households in the band {level.band[0]}-{level.band[1]}",
        [{"area": level.area, "level": level.name, "parts_tried": tried,
          "households": total}])


@dataclass(frozen=True)
class Level:
    """What one partition is for: ``name`` grid or micro, inside ``area`` (a community or
    grid code), with its households target and band."""

    name: str
    area: str
    target: int
    band: tuple[int, int]


def partition(units: list[Unit], indices: list[int], level: Level
              ) -> tuple[list[list[int]], list[int], str | None]:
    """The unit indices cut into connected groups of about ``level.target`` households.

    A building above the band is a group of its own; the others are cut per connected
    piece (:func:`balanced_groups`). Returns the groups, the big units and a note when
    micro-grids fell back to fewer.
    """
    big = [i for i in indices if units[i].households > level.band[1]]
    rest = [i for i in indices if i not in set(big)]
    graph = adjacency(units, rest)
    groups, notes = [[i] for i in big], []
    for piece in sorted(nx.connected_components(graph), key=min):
        if len(piece) == 1:
            groups.append(sorted(piece))
            continue
        found, note = balanced_groups(units, graph.subgraph(piece).copy(), level)
        groups += found
        notes += [note] if note else []
    return groups, big, "; ".join(notes) or None


def reading_order(shapes: Sequence[BaseGeometry]) -> list[int]:
    """Indices of shapes numbered west→east within rows, rows north→south (metres)."""
    if not shapes:
        return []
    cents = np.array([[s.centroid.x, s.centroid.y] for s in shapes])
    rows = max(1, round(math.sqrt(len(shapes))))
    top, height = cents[:, 1].max(), np.ptp(cents[:, 1]) or 1.0
    row_of = np.minimum(((top - cents[:, 1]) / height * rows).astype(int), rows - 1)
    return sorted(range(len(shapes)), key=lambda i: (row_of[i], cents[i, 0]))


def _used_codes(session: Session, prefix: str) -> set[str]:
    return set(session.scalars(text(
        "SELECT DISTINCT code FROM grids WHERE starts_with(code, :p)"), {"p": prefix}).all())


def _fresh(used: set[str], prefix: str, width: int) -> str:
    for n in range(1, 10**width):
        candidate = f"{prefix}{n:0{width}d}"
        if candidate not in used:
            used.add(candidate)
            return candidate
    raise ValidationFailed(f"no free code left under {prefix}", [{"prefix": prefix}])


def match_codes(old: list[WorkingGrid], new_m: Sequence[BaseGeometry], used: set[str],
                prefix: str, width: int) -> tuple[list[str], dict[str, int]]:
    """Codes for the new shapes (old code of the largest overlap, else fresh), and for each
    old code left over the index of the new shape it overlaps most (its successor)."""
    old_m = [to_metric(g.geom) for g in old]
    pairs = sorted(((shapely.intersection(o, n).area, i, j) for i, o in enumerate(old_m)
                    for j, n in enumerate(new_m) if o.intersects(n)), reverse=True)
    codes: list[str | None] = [None] * len(new_m)
    taken: set[int] = set()
    for area, i, j in pairs:
        if area > 0 and codes[j] is None and i not in taken:
            codes[j] = old[i].code
            taken.add(i)
    for j in reading_order(new_m):
        if codes[j] is None:
            codes[j] = _fresh(used, prefix, width)
    successors = {old[i].code: max(((shapely.intersection(old_m[i], n).area, j)
                                    for j, n in enumerate(new_m)), default=(0.0, 0))[1]
                  for i in range(len(old)) if i not in taken}
    return [c for c in codes if c is not None], successors


def propose(session: Session, community: str, author: str,
            reason: str = "proposed grid plan", settings: Settings | None = None
            ) -> PlanChangeset:
    """A draft changeset re-partitioning ``community`` into grids and micro-grids.

    Raises NotFound for an unknown community, ValidationFailed when it has fewer than two
    building positions or no balanced connected plan is found.
    """
    settings = settings or get_settings()
    changeset = open_changeset(session, community, reason, author, kind="proposal")
    cs = changeset.id
    units = building_units(session, parent_shape(session, cs, "grid", community), community)
    groups, big, _ = partition(units, list(range(len(units))), Level(
        "grid", community, settings.plan_households_target, settings.plan_households_band))
    shapes = [polygonal(shapely.union_all([units[i].cell for i in g])) for g in groups]
    used = _used_codes(session, community)
    old = working(session, cs, "@parent_code = :p AND @level = 'grid' AND @kind <> 'dedicated'",
                   {"p": community})
    codes, successors = match_codes(old, shapes, used, community, 3)
    by_code = {g.code: g for g in old}
    summary = []
    for code, group, shape in zip(codes, groups, shapes, strict=True):
        base = by_code.get(code)
        _put_shape(session, cs, base, code, "grid", community, community, shape)
        summary.append(_micro_plan(session, cs, code, base, units, group, used, settings))
    for code, j in successors.items():
        retire_row(session, cs, by_code[code], successor=codes[j])
    _retire_old_micro(session, cs, community, {g.code for g in old})
    changeset.report = {"method": "gerrychain recursive_tree_part on building Voronoi cells",
                        "grids": summary, "retired": sorted(successors),
                        "big_buildings": [{"buildings": units[i].codes,
                                           "households": units[i].households,
                                           "grid": codes[groups.index([i])]} for i in big]}
    session.flush()
    return changeset


def _put_shape(session: Session, cs: int, base: WorkingGrid | None, code: str, level: str,
               parent: str, community: str, shape_m: BaseGeometry) -> None:
    grid = WorkingGrid(code=code, name=base.name if base else f"grid {code[-3:]}",
                       level=level, kind="urban", parent_code=parent, community_code=community,
                       previous_code=base.previous_code if base else None,
                       base_version=base.base_version if base else None,
                       geom=to_lonlat(shape_m))
    put(session, cs, grid)


def _micro_plan(session: Session, cs: int, code: str, base: WorkingGrid | None,
                units: list[Unit], group: list[int], used: set[str], settings: Settings
                ) -> dict[str, Any]:
    """Micro-grids of one proposed grid; returns its summary row."""
    micro, big, note = ([group], [], None) if len(group) < 2 else partition(
        units, group, Level("micro", code, settings.plan_micro_households_target,
                            settings.plan_micro_households_band))
    shapes = [polygonal(shapely.union_all([units[i].cell for i in g])) for g in micro]
    used |= _used_codes(session, code)
    for j in reading_order(shapes):
        _put_shape(session, cs, None, _fresh(used, code, 2), "micro", code, code[:12],
                   shapes[j])
    households = sum(units[i].households for i in group)
    return {"code": code, "households": households,
            "deviation": round((households - settings.plan_households_target)
                               / settings.plan_households_target, 4),
            "buildings": sum(len(units[i].codes) for i in group), "micro_grids": len(micro),
            "kept_code": base is not None,
            "big_buildings": [c for i in big for c in units[i].codes], "micro_note": note}


def _retire_old_micro(session: Session, cs: int, community: str, old_grids: set[str]) -> None:
    """Retire the published micro-grids of the community's old grids (new ones replace them);
    each one's successor (for its helpers) is the new micro-grid overlapping it most."""
    for micro in working(session, cs, "@level = 'micro' AND @parent_code = ANY(:parents)",
                          {"parents": sorted(old_grids)}):
        if micro.previous_code is not None:
            retire_row(session, cs, micro, successor=None)
    session.execute(text("""  -- helpers go to the new micro-grid overlapping their old one most
        UPDATE plan_draft_grids r SET successor_code = (
            SELECT d.code FROM plan_draft_grids d
            WHERE d.changeset_id = r.changeset_id AND d.level = 'micro' AND d.action = 'put'
              AND d.geom && g.geom AND ST_Intersects(d.geom, g.geom)
            ORDER BY ST_Area(ST_Intersection(d.geom, g.geom)) DESC, d.code LIMIT 1)
        FROM grids g
        WHERE r.changeset_id = :cs AND r.action = 'retire' AND r.level = 'micro'
          AND g.code = r.previous_code AND g.valid_to IS NULL"""), {"cs": cs})
