"""Exact tilings for the demo city: one noded Voronoi diagram, merged level by level.

Everything here works in a projected CRS in metres (EPSG:4547 by default, see
``geo.settings.Settings.metric_srid``) and converts to lon/lat (EPSG:4326) only at the end.

How the tiling stays exact: the Voronoi edges of all micro-grid generator points and the
district outline are noded *together* once (snap-rounded to ``GRID_SIZE_M``) and polygonized,
so every face shares its edges vertex for vertex with its neighbours. Micro-grids are those
faces; grids, communities, streets and the district are coverage unions of their children,
which only drop the shared edges and keep every vertex. Neighbours at every level therefore
share identical vertices, and the lon/lat conversion transforms each vertex the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from pyproj import Transformer
from shapely import Polygon

GRID_SIZE_M = 0.1
"""Snap-rounding precision of the tiling (metres): distinct vertices end up >= 10 cm apart."""

Geoms = NDArray[np.object_]
XY = NDArray[np.float64]
Labels = NDArray[np.int64]


def district_outline(centre: tuple[float, float], area_m2: float,
                     rng: np.random.Generator) -> Polygon:
    """A lobed, irregular district outline of exactly ``area_m2`` around ``centre``.

    Parameters
    ----------
    centre : (x, y) in metres in the projected CRS.
    area_m2 : target area in square metres (> 0).
    rng : seeded generator (the shape depends only on it).
    """
    theta = np.linspace(0.0, 2 * np.pi, 120, endpoint=False)
    radius = np.ones_like(theta)
    for harmonic, amplitude in ((2, 0.10), (3, 0.08), (5, 0.05), (7, 0.025)):
        radius += amplitude * np.sin(harmonic * theta + rng.uniform(0, 2 * np.pi))
    unit = Polygon(np.column_stack([radius * np.cos(theta), radius * np.sin(theta)]))
    scale = float(np.sqrt(area_m2 / unit.area))
    coords = shapely.get_coordinates(unit) * scale + np.asarray(centre)
    return Polygon(coords)


def relaxed_points(polygon: Polygon, n: int, rng: np.random.Generator,
                   iterations: int = 2) -> XY:
    """``n`` well-spread points inside ``polygon``: uniform draws + Lloyd relaxation.

    Returns an (n, 2) array in the polygon's CRS. Relaxation makes the Voronoi cells of
    similar size (so micro-grids are of similar area) and keeps each point inside its cell.
    """
    minx, miny, maxx, maxy = polygon.bounds
    found: list[XY] = []
    while sum(len(block) for block in found) < n:
        x = rng.uniform(minx, maxx, 2 * n + 16)
        y = rng.uniform(miny, maxy, 2 * n + 16)
        inside = shapely.contains_xy(polygon, x, y)
        found.append(np.column_stack([x[inside], y[inside]]))
    xy = np.concatenate(found)[:n]
    envelope = _frame(polygon)
    for _ in range(iterations):
        cells = shapely.get_parts(shapely.voronoi_polygons(
            shapely.multipoints(xy), extend_to=envelope, ordered=True))
        xy = shapely.get_coordinates(shapely.centroid(shapely.intersection(cells, polygon)))
    return xy


def _frame(polygon: Polygon) -> Polygon:
    minx, miny, maxx, maxy = polygon.bounds
    margin = max(maxx - minx, maxy - miny)
    return shapely.box(minx - margin, miny - margin, maxx + margin, maxy + margin)


def voronoi_faces(polygon: Polygon, xy: XY) -> tuple[Geoms, Labels]:
    """The Voronoi diagram of ``xy`` clipped to ``polygon`` as one exact coverage.

    Returns ``(faces, owner)``: polygons that tile ``polygon`` (snap-rounded to
    ``GRID_SIZE_M``) and, for each face, the index of the point whose cell it belongs to.
    A cell cut in two by a concave outline gives two faces with the same owner.
    """
    edges = shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=_frame(polygon),
                                     only_edges=True)
    lines = np.asarray([edges, polygon.exterior], dtype=object)
    noded = shapely.union_all(lines, grid_size=GRID_SIZE_M)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    inside = shapely.get_coordinates(shapely.point_on_surface(faces))
    faces = faces[shapely.contains_xy(polygon, inside[:, 0], inside[:, 1])]
    tree = shapely.STRtree(np.asarray(shapely.points(xy), dtype=object))
    owner = tree.query_nearest(shapely.point_on_surface(faces), return_distance=False,
                               all_matches=False)[1]
    return faces, owner.astype(np.int64)


def merge_groups(geoms: Geoms, labels: Labels, n_groups: int) -> Geoms:
    """Coverage union of ``geoms`` per label ``0..n_groups-1`` (exact: keeps every vertex).

    Raises ValueError naming the first label that has no geometry.
    """
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n_groups + 1))
    merged = np.empty(n_groups, dtype=object)
    for group in range(n_groups):
        members = geoms[order[bounds[group]:bounds[group + 1]]]
        if len(members) == 0:
            raise ValueError(f"group {group} of {n_groups} received no geometry")
        merged[group] = members[0] if len(members) == 1 else shapely.coverage_union_all(members)
    return merged


def partition(xy: XY, sizes: Sequence[int], rng: np.random.Generator) -> Labels:
    """Split points into ``len(sizes)`` compact groups of exactly ``sizes[i]`` points.

    Recursive bisection along the spread's principal axis (randomly tilted by up to 20°),
    so group ``i`` is a contiguous blob. ``sum(sizes)`` must equal ``len(xy)`` (ValueError).
    """
    if sum(sizes) != len(xy):
        raise ValueError(f"sizes add up to {sum(sizes)}, but there are {len(xy)} points")
    labels = np.empty(len(xy), dtype=np.int64)
    _bisect(xy, np.arange(len(xy)), list(sizes), 0, labels, rng)
    return labels


def _bisect(xy: XY, idx: NDArray[np.int64], sizes: list[int], first: int,
            labels: Labels, rng: np.random.Generator) -> None:
    if len(sizes) == 1:
        labels[idx] = first
        return
    cumulative = np.cumsum(sizes)
    k = int(np.clip(np.argmin(np.abs(cumulative[:-1] - cumulative[-1] / 2)) + 1,
                    1, len(sizes) - 1))
    points = xy[idx] - xy[idx].mean(axis=0)
    _, vectors = np.linalg.eigh(points.T @ points)
    angle = np.arctan2(vectors[1, -1], vectors[0, -1]) + rng.uniform(-0.35, 0.35)
    projection = points @ np.array([np.cos(angle), np.sin(angle)])
    order = idx[np.argsort(projection, kind="stable")]
    n_left = int(cumulative[k - 1])
    _bisect(xy, order[:n_left], sizes[:k], first, labels, rng)
    _bisect(xy, order[n_left:], sizes[k:], first + k, labels, rng)


def row_major_rank(x: XY, y: XY, group: Labels, band_m: float) -> Labels:
    """Rank (0-based) of each item inside its group: west→east, then north→south.

    Items are cut into rows ``band_m`` metres high from the group's northernmost item;
    inside a row they are ordered by ``x``. Coordinates in metres (projected).
    """
    frame = pd.DataFrame({"x": x, "y": y, "group": group})
    top = frame.groupby("group")["y"].transform("max")
    frame["row"] = np.floor((top - frame["y"]) / band_m).astype(np.int64)
    ordered = frame.sort_values(["group", "row", "x"], kind="stable")
    rank = ordered.groupby("group").cumcount()
    return np.asarray(rank.reindex(frame.index).to_numpy(), dtype=np.int64)


@lru_cache
def transformer(source: int, target: int) -> Transformer:
    """A cached lon/lat-ordered transformer between two EPSG codes (creating one is slow)."""
    return Transformer.from_crs(source, target, always_xy=True)


def to_lonlat(geoms: Geoms, srid: int, decimals: int | None = 7) -> Geoms:
    """Transform projected geometries (EPSG:``srid``) to lon/lat EPSG:4326, vertex by vertex.

    Each vertex is transformed independently and deterministically, so vertices shared by
    neighbours stay identical; ``decimals`` rounds lon/lat (7 ≈ 1 cm; None keeps full
    precision). Callers check that rounding kept the tiling valid.
    """
    forward = transformer(srid, 4326)

    def project(coords: XY) -> XY:
        lon, lat = forward.transform(coords[:, 0], coords[:, 1])
        out = np.column_stack([lon, lat])
        return np.round(out, decimals) if decimals is not None else out

    return shapely.transform(geoms, project)


def to_metric(geoms: Geoms, srid: int) -> Geoms:
    """Transform lon/lat (EPSG:4326) geometries to the projected EPSG:``srid`` (metres)."""
    inverse = transformer(4326, srid)

    def project(coords: XY) -> XY:
        return np.column_stack(inverse.transform(coords[:, 0], coords[:, 1]))

    return shapely.transform(geoms, project)


def ring_vertices(cells: Geoms) -> tuple[XY, NDArray[np.int64], NDArray[np.int64]]:
    """Exterior-ring vertices of the first part of each polygon (closing vertex dropped).

    Returns ``(coords, start, count)``: vertices of cell ``i`` are
    ``coords[start[i] : start[i] + count[i]]``.
    """
    rings = shapely.get_exterior_ring(_first_parts(cells))
    coords, index = shapely.get_coordinates(rings, return_index=True)
    start = np.searchsorted(index, np.arange(len(cells)))
    count = np.bincount(index, minlength=len(cells)) - 1
    return coords, start, count


def _first_parts(cells: Geoms) -> Geoms:
    parts, index = shapely.get_parts(cells, return_index=True)
    first = np.searchsorted(index, np.arange(len(cells)))
    return parts[first]


def points_toward_vertices(cells: Geoms, anchors: XY, which: Labels, rng: np.random.Generator,
                           t_range: tuple[float, float] = (0.15, 0.75)) -> XY:
    """Points inside ``cells[which]``: from the cell's anchor toward a random vertex.

    ``anchors[i]`` is a point inside cell ``i`` (its Voronoi generator). A point that falls
    outside its cell (a concave cell) is replaced by the anchor itself. Metres, projected.
    """
    coords, start, count = ring_vertices(cells)
    vertex = start[which] + np.floor(rng.random(len(which)) * count[which]).astype(np.int64)
    t = rng.uniform(*t_range, len(which))[:, None]
    base = anchors[which]
    xy = base + t * (coords[vertex] - base)
    inside = shapely.contains_xy(cells[which], xy[:, 0], xy[:, 1])
    xy[~inside] = base[~inside]
    return xy


def points_on_edges(cells: Geoms, which: Labels, rng: np.random.Generator,
                    at_vertex: bool = False) -> XY:
    """Points on the boundary of ``cells[which]``: on a random edge, or exactly a vertex."""
    coords, start, count = ring_vertices(cells)
    vertex = start[which] + np.floor(rng.random(len(which)) * count[which]).astype(np.int64)
    if at_vertex:
        return coords[vertex].copy()
    t = rng.random(len(which))[:, None]  # the ring's closing vertex follows the last one
    return coords[vertex] + t * (coords[vertex + 1] - coords[vertex])


def connected_groups(units: Geoms, group: Labels, n_groups: int,
                     parent: Labels | None = None, rounds: int = 4) -> tuple[Labels, Geoms]:
    """Merge units into groups, moving detached pieces so that each group is one polygon.

    A group whose union is a MultiPolygon keeps its largest part; the units of each other
    part move to the touching group (with the same ``parent``, when given) that shares the
    longest edge with it (to another parent's group only when no sibling touches it).
    Returns the new labels and the merged groups.
    """
    group = group.copy()
    for _ in range(rounds):
        merged = merge_groups(units, group, n_groups)
        multi = np.flatnonzero(shapely.get_num_geometries(merged) > 1)
        if len(multi) == 0:
            break
        tree = shapely.STRtree(merged)
        probes = shapely.point_on_surface(units)
        for index in multi:
            _move_detached(int(index), merged, tree, probes, group, parent)
    return group, merge_groups(units, group, n_groups)


def _move_detached(index: int, merged: Geoms, tree: shapely.STRtree, probes: Geoms,
                   group: Labels, parent: Labels | None) -> None:
    parts = shapely.get_parts(merged[index])
    members = np.flatnonzero(group == index)
    for part in np.delete(parts, np.argmax(shapely.area(parts))):
        near = tree.query(part, predicate="intersects")
        near = near[near != index]
        if parent is not None and (parent[near] == parent[index]).any():
            near = near[parent[near] == parent[index]]
        if len(near) == 0:
            continue
        shared = shapely.length(shapely.intersection(part, merged[near]))
        stray = members[shapely.contains(part, probes[members])]
        group[stray] = near[np.argmax(shared)]


def footprints(xy: XY, cells: Geoms, which: Labels, rng: np.random.Generator,
               share: float = 0.4) -> Geoms:
    """Building geometries at ``xy``: a ``share`` of them as rotated rectangles.

    Rectangles are 12-18 m by 30-60 m, centred on the point, at a random angle; one that
    would leave its cell ``cells[which]`` stays a point, so every building lies inside its
    micro-grid. Metres, projected.
    """
    n = len(xy)
    half = np.column_stack([rng.uniform(6, 9, n), rng.uniform(15, 30, n)])
    angle = rng.uniform(0, np.pi, n)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=float)
    local = corners[None, :, :] * half[:, None, :]
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    rotated = np.stack([local[..., 0] * cos - local[..., 1] * sin,
                        local[..., 0] * sin + local[..., 1] * cos], axis=-1)
    rectangles = np.asarray(shapely.polygons(rotated + xy[:, None, :]), dtype=object)
    geoms = np.asarray(shapely.points(xy), dtype=object)
    use = (rng.random(n) < share) & shapely.within(rectangles, cells[which])
    geoms[use] = rectangles[use]
    return geoms
