"""Where to add cameras: the maximal covering location problem (MCLP) over candidate positions,
solved exactly with PySAL ``spopt`` (CBC through PuLP), next to a greedy baseline.

**Demand**: points on a square lattice (``spacing_m``) inside the area's blind spots
(:func:`geo.video.coverage.blind_spots`: outdoor ground no online camera sees), each
weighing its cell's area (m²), and the area's **unseen entrances**
(:func:`geo.video.road_coverage.entrance_states`), each weighing :data:`ENTRANCE_WEIGHT_M2`
(1,000 m²: a gate nobody watches counts as much as ten 10 m cells of blind ground).
**Candidates** (``spec.sources``): the corners of the building footprints in the area, moved
0.5 m out of the footprint (a camera on the wall's corner); the road intersections
(:func:`geo.video.candidates.road_intersections`), at most ``max_candidates`` of each (every
n-th: the MCLP model grows with candidates × demand patterns; 3,072 candidates did not
finish building in 5 minutes on the demo street); and the points of a candidate file
(existing poles, ``spec.poles``, all of them). Each position gets ``headings`` evenly spaced
azimuths; each (position, heading) is a fixed camera of the given FOV, range and height
whose visibility polygon (:mod:`geo.video.visibility`, buildings occluding) says which
demand points it would see. **MCLP**: choose ``k`` candidates maximising the covered weight
(a point counts once however many cameras see it); **greedy**: repeatedly take the candidate
adding the most uncovered weight. MCLP is optimal, so it is never below greedy; both numbers
are reported. The proposal is a draft camera layer (GeoJSON in the cameras layer's fields) a
planner can export, edit and import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pulp
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry
from spopt.locate import MCLP
from sqlalchemy.orm import Session

from geo.assign_on_import import area_wkt
from geo.crs import to_lonlat, to_metric
from geo.districts import metric_srid_for
from geo.errors import ValidationFailed
from geo.video.candidates import candidate_file_points, road_intersections
from geo.video.coverage import blind_spots
from geo.video.road_coverage import entrance_states
from geo.video.views import obstacles_in
from geo.video.visibility import Obstacles, Viewpoint, compute_view

CORNER_OFFSET_M = 0.5
ENTRANCE_WEIGHT_M2 = 1000.0
"""Demand weight of one unseen entrance, in m² of blind ground."""
SOURCES = ("corners", "intersections", "poles")
KIND_NAMES = {"corners": "楼角", "intersections": "路口", "poles": "杆件"}


@dataclass(frozen=True)
class PlacementSpec:
    """The cameras to place: how many, and what kind (degrees, metres)."""

    k: int = 5
    fov_deg: float = 90.0
    range_m: float = 60.0
    height_m: float = 6.0
    headings: int = 4
    spacing_m: float = 10.0
    max_candidates: int = 200
    """At most this many corners and this many intersections (every n-th); poles all."""
    sources: tuple[str, ...] = SOURCES
    poles: Path | None = None
    entrance_weight_m2: float = ENTRANCE_WEIGHT_M2


@dataclass
class Proposal:
    """Picked candidates and the weight (m²; an entrance counts ``entrance_weight_m2``) they
    newly cover, and the unseen entrances they cover, per method; candidates per source."""

    demand_m2: float
    covered_m2: dict[str, float] = field(default_factory=dict)
    picks: dict[str, list[int]] = field(default_factory=dict)
    cameras: list[dict[str, Any]] = field(default_factory=list)
    candidates: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    entrances: int = 0
    entrances_covered: dict[str, int] = field(default_factory=dict)


def greedy_picks(cover: NDArray[np.bool_], weights: NDArray[np.float64], k: int) -> list[int]:
    """``k`` candidates (columns of ``cover``, demand × candidate), each adding the most
    uncovered weight; ties by the lowest index."""
    covered = np.zeros(cover.shape[0], dtype=bool)
    picks: list[int] = []
    for _ in range(min(k, cover.shape[1])):
        gain = (cover & ~covered[:, None]).T.astype(float) @ weights
        gain[picks] = -1.0
        best = int(np.argmax(gain))
        picks.append(best)
        covered |= cover[:, best]
    return picks


def mclp_picks(cover: NDArray[np.bool_], weights: NDArray[np.float64], k: int) -> list[int]:
    """The optimal ``k`` candidates of the MCLP (spopt, CBC), sorted."""
    model = MCLP.from_cost_matrix(np.where(cover, 0.0, 1.0), weights, service_radius=0.5,
                                  p_facilities=min(k, cover.shape[1]))
    model = model.solve(pulp.PULP_CBC_CMD(msg=False))
    return sorted(j for j, var in enumerate(model.fac_vars) if (var.value() or 0) > 0.5)


def collapse_demand(cover: NDArray[np.bool_], weights: NDArray[np.float64]
                    ) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """The same problem with fewer demand rows: rows no candidate covers are dropped, rows
    covered by the same candidates are merged (weights summed). Every method's covered
    weight is unchanged."""
    seen = cover.any(axis=1)
    if not seen.any():
        return cover[:0], weights[:0]
    rows, inverse = np.unique(cover[seen], axis=0, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=weights[seen], minlength=len(rows))
    return rows, np.asarray(summed, dtype=np.float64)


def covered_weight(cover: NDArray[np.bool_], weights: NDArray[np.float64],
                   picks: list[int]) -> float:
    """The weight seen by at least one of ``picks``."""
    return float(weights[cover[:, picks].any(axis=1)].sum()) if picks else 0.0


@dataclass
class Problem:
    """One area's covering problem: ``cover`` (demand × candidate), demand ``weights`` (m²),
    which demand rows are ``gates`` (entrances), candidate ``positions`` (metric, one per
    ``spec.headings`` candidates) and their ``kinds`` (source), in EPSG ``srid``."""

    cover: NDArray[np.bool_]
    weights: NDArray[np.float64]
    gates: NDArray[np.bool_]
    positions: NDArray[np.float64]
    kinds: NDArray[np.str_]
    srid: int


def placement_problem(session: Session, area: str, spec: PlacementSpec) -> Problem:
    """The demand, the candidates and which candidate sees which demand point for ``area``
    (an admin area or grid code); read-only. ``spec.k`` plays no part: one problem serves
    every K (:func:`solve_placement`).

    Raises NotFound for an unknown area (via :func:`geo.assign_on_import.area_wkt`),
    ValidationFailed for an unknown source or a bad candidate file.
    """
    srid = metric_srid_for(session, area)
    outline = to_metric(shapely.from_wkt(area_wkt(session, area)), srid)
    obstacles = obstacles_in(session, srid, to_lonlat(outline, srid).wkt, spec.range_m)
    points, weights, gates = _demand(session, area, srid, spec)
    positions, kinds = _positions(session, srid, outline, obstacles, spec)
    views = _candidate_views(positions, obstacles, spec)
    cover = np.column_stack([shapely.contains_xy(v, points[:, 0], points[:, 1])
                             for v in views]) if views and len(points) else \
        np.zeros((len(points), len(views)), dtype=bool)
    return Problem(cover, weights, gates, positions, kinds, srid)


def solve_placement(problem: Problem, spec: PlacementSpec) -> Proposal:
    """The greedy and the MCLP picks of ``spec.k`` candidates, what they cover and the MCLP
    picks as draft cameras."""
    cover, kinds = problem.cover, problem.kinds
    proposal = Proposal(demand_m2=float(problem.weights.sum()), candidates=cover.shape[1],
                        by_source={k: int((kinds == k).sum()) * spec.headings
                                   for k in spec.sources}, entrances=int(problem.gates.sum()))
    rows, summed = collapse_demand(cover, problem.weights)
    for method, pick in (("greedy", greedy_picks), ("mclp", mclp_picks)):
        chosen = pick(rows, summed, spec.k) if rows.shape[1] else []
        proposal.picks[method] = chosen
        proposal.covered_m2[method] = covered_weight(rows, summed, chosen)
        proposal.entrances_covered[method] = int(
            cover[problem.gates][:, chosen].any(axis=1).sum()) if chosen else 0
    proposal.cameras = [_draft_camera(problem.positions, kinds, spec, j, problem.srid, n)
                        for n, j in enumerate(proposal.picks["mclp"], start=1)]
    return proposal


def propose_cameras(session: Session, area: str, spec: PlacementSpec) -> Proposal:
    """MCLP and greedy proposals for ``area``: :func:`placement_problem` then
    :func:`solve_placement`; read-only, raises as they do."""
    return solve_placement(placement_problem(session, area, spec), spec)


def _demand(session: Session, area: str, srid: int, spec: PlacementSpec
            ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Demand points (metric x, y), their weights (m²) and which are entrances: the blind
    lattice, then the unseen entrances."""
    blind = shapely.union_all([to_metric(g, srid) for g in blind_spots(session, area).geometry])
    lattice = _lattice(blind, spec.spacing_m)
    states = entrance_states(session, area)
    unseen = [to_metric(g, srid) for g in states.geometry[~states["seen"].astype(bool)]]
    gates = shapely.get_coordinates(np.asarray(unseen, dtype=object)) if unseen else \
        np.zeros((0, 2))
    weights = np.concatenate([np.full(len(lattice), spec.spacing_m**2),
                              np.full(len(gates), spec.entrance_weight_m2)])
    return (np.vstack([lattice, gates]), weights,
            np.repeat([False, True], [len(lattice), len(gates)]))


def _positions(session: Session, srid: int, outline: BaseGeometry, obstacles: Obstacles,
               spec: PlacementSpec) -> tuple[NDArray[np.float64], NDArray[np.str_]]:
    """Candidate positions (metric x, y) and their source, in :data:`SOURCES` order."""
    unknown = sorted(set(spec.sources) - set(SOURCES))
    if unknown:
        raise ValidationFailed(f"unknown candidate source {unknown[0]!r}: one of "
                               f"{', '.join(SOURCES)}", [{"field": "sources",
                                                          "value": unknown[0]}])
    found = {"corners": lambda: _corners(obstacles.geoms, outline, spec.max_candidates),
             "intersections": lambda: evenly_spread(
                 road_intersections(session, srid, outline), spec.max_candidates),
             "poles": lambda: candidate_file_points(spec.poles, srid)
             if spec.poles is not None else np.zeros((0, 2))}
    parts = [(source, found[source]()) for source in SOURCES if source in spec.sources]
    if not parts:
        return np.zeros((0, 2)), np.array([], dtype=str)
    return (np.vstack([xy for _, xy in parts]),
            np.repeat([s for s, _ in parts], [len(xy) for _, xy in parts]).astype(str))


def _lattice(region: BaseGeometry, spacing: float) -> NDArray[np.float64]:
    """Cell centres of a ``spacing`` lattice that fall inside ``region`` (metric)."""
    if region.is_empty:
        return np.zeros((0, 2))
    x0, y0, x1, y1 = region.bounds
    xs, ys = np.meshgrid(np.arange(x0 + spacing / 2, x1, spacing),
                         np.arange(y0 + spacing / 2, y1, spacing))
    inside = shapely.contains_xy(region, xs.ravel(), ys.ravel())
    return np.column_stack([xs.ravel()[inside], ys.ravel()[inside]])


def _corners(footprints: NDArray[np.object_], outline: BaseGeometry,
             limit: int) -> NDArray[np.float64]:
    """Footprint corners inside ``outline``, moved :data:`CORNER_OFFSET_M` away from their
    footprint's centroid, at most ``limit`` (evenly spread in code order)."""
    polygons = footprints[shapely.intersects(footprints, outline).astype(bool)]
    found = []
    for poly in polygons:
        ring = np.asarray(shapely.get_coordinates(shapely.get_exterior_ring(
            shapely.get_geometry(poly, 0))))[:-1]
        centre = np.asarray(shapely.get_coordinates(shapely.centroid(poly)))[0]
        away = ring - centre
        found.append(ring + CORNER_OFFSET_M * away / np.linalg.norm(away, axis=1)[:, None])
    if not found:
        return np.zeros((0, 2))
    corners = np.vstack(found)
    return evenly_spread(corners[shapely.contains_xy(outline, corners[:, 0], corners[:, 1])],
                         limit)


def evenly_spread(positions: NDArray[np.float64], limit: int) -> NDArray[np.float64]:
    """At most ``limit`` of ``positions``: every n-th, in their order."""
    step = max(1, math.ceil(len(positions) / limit))
    return positions[::step][:limit]


def _candidate_views(positions: NDArray[np.float64], obstacles: Obstacles,
                     spec: PlacementSpec) -> list[BaseGeometry]:
    """The visibility polygon of every (position, heading), position-major order."""
    tree = shapely.STRtree(obstacles.geoms)
    views = []
    for x, y in positions:
        near = tree.query(shapely.Point(x, y).buffer(spec.range_m * 1.01, 8))
        nearby = Obstacles(obstacles.geoms[near], obstacles.heights[near],
                           obstacles.codes[near])
        for h in range(spec.headings):
            point = Viewpoint(float(x), float(y), spec.height_m, 360.0 * h / spec.headings,
                              spec.fov_deg, spec.range_m)
            views.append(compute_view(point, nearby).visible)
    return views


def _draft_camera(positions: NDArray[np.float64], kinds: NDArray[np.str_],
                  spec: PlacementSpec, j: int, srid: int, n: int) -> dict[str, Any]:
    """Candidate ``j`` as a draft camera row (lon/lat; azimuth as a grid bearing of the
    metric CRS, within ~1° of true north around a zone's central meridian); its name says
    its source (楼角 corner, 路口 intersection, 杆件 pole)."""
    x, y = positions[j // spec.headings]
    lon, lat = shapely.get_coordinates(to_lonlat(shapely.Point(x, y), srid))[0]
    source = KIND_NAMES[str(kinds[j // spec.headings])]
    return {"code": f"draft-{n:03d}", "name": f"建议点位{n}（{source}）",
            "camera_type": "fixed",
            "azimuth_deg": 360.0 * (j % spec.headings) / spec.headings,
            "fov_deg": spec.fov_deg, "range_m": spec.range_m, "height_m": spec.height_m,
            "lon": round(float(lon), 7), "lat": round(float(lat), 7)}


def draft_layer(proposal: Proposal) -> dict[str, Any]:
    """The MCLP proposal as an RFC 7946 FeatureCollection of draft cameras (the cameras
    layer's fields; codes ``draft-NNN`` to be replaced by real GB/T 28181 ids)."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [c["lon"], c["lat"]]},
         "properties": {k: v for k, v in c.items() if k not in ("lon", "lat")}}
        for c in proposal.cameras]}
