"""Exact edits of a coverage: the planar arrangement of a parent's grids and an edit's lines.

Grids tile their parent with *identical* shared edges. An edit (a new shape, a cutting
line) must keep that, so it never computes a grid's new shape by an overlay with a
precision grid (snap-rounding moved every vertex of every grid it touched). Instead:

1. :func:`arrange` nodes the boundaries of all the parent's grids together with the edit's
   lines (cut pieces outside the region the edit may change are dropped) and
   polygonizes them into *faces*. Adjacent faces share bit-identical edges; each face knows
   the grid that held it (``owners``).
2. The edit decides the new owner of each face (a plain list of codes).
3. :func:`assemble` dissolves each grid's faces (``coverage_union``: no new coordinates)
   and keeps only the vertices the result needs: the original vertices of the grids, and
   the vertices of cut pieces that now separate two owners. A grid whose result equals its
   old shape (same vertices, any start/orientation) is reported unchanged and keeps its
   stored bytes.

All coordinates are lon/lat (EPSG:4326) doubles, never rounded. Lengths used to choose a
neighbour are measured in metres by the callers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
import shapely.ops
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.prepared import prep

ON_LINE_DEG = 1e-11
"""A noded piece whose midpoint lies this close (degrees, ~1 µm) to a grid boundary is part
of that boundary, not of the edit's lines."""

Vertex = tuple[float, float]


@dataclass(frozen=True)
class Arrangement:
    """Faces of a parent's grids noded with an edit's lines (lon/lat).

    ``faces[i]`` was held by grid ``owners[i]`` (None: a gap). ``original`` are the vertices
    of the grids; ``cuts`` the edit's noded pieces inside its region.
    """

    faces: list[Polygon]
    owners: list[str | None]
    original: frozenset[Vertex]
    cuts: list[BaseGeometry]


def _vertices(geoms: Iterable[BaseGeometry]) -> set[Vertex]:
    coords = [shapely.get_coordinates(g) for g in geoms]
    stacked = np.concatenate(coords) if coords else np.empty((0, 2))
    return {(float(x), float(y)) for x, y in stacked}


def _midpoint(line: BaseGeometry) -> BaseGeometry:
    """The point halfway along ``line``."""
    return shapely.line_interpolate_point(line, 0.5, normalized=True)  # type: ignore[call-overload]


def _pieces(lines: BaseGeometry) -> list[BaseGeometry]:
    return [p for p in shapely.get_parts(lines) if not p.is_empty]


def arrange(tiles: Mapping[str, BaseGeometry], cut: BaseGeometry | None = None,
            cut_within: BaseGeometry | None = None, snap: float = 0.0) -> Arrangement:
    """The faces of the grids ``tiles`` (code -> lon/lat shape) noded with ``cut``.

    The arrangement covers the grids and the gaps they enclose (faces owned by None). The
    parent's own boundary is not noded in: a community edge drawn as one straight segment
    that the grids split at vertices slightly off it must not create faces. ``cut`` is
    linework (a polygon's boundary, a line); only its pieces inside ``cut_within`` (default:
    the grids' union) split faces; its vertices within ``snap`` degrees of a grid edge are
    first moved onto it (:func:`snap_cut`).
    """
    codes = list(tiles)
    original = _vertices(shapely.boundary(tiles[c]) for c in codes)
    if cut is not None and snap > 0:
        cut, tiles = snap_cut(cut, tiles, snap)
    boundaries = [shapely.boundary(tiles[c]) for c in codes]
    noded = shapely.unary_union([*boundaries, *([cut] if cut is not None else [])])
    kept: list[BaseGeometry] = []
    cuts: list[BaseGeometry] = []
    base = shapely.union_all(boundaries)
    within = cut_within if cut_within is not None else shapely.union_all(list(tiles.values()))
    region = prep(within)
    for piece in _pieces(noded):
        mid = _midpoint(piece)
        if cut is None or shapely.distance(mid, base) <= ON_LINE_DEG:
            kept.append(piece)
        elif region.contains(mid):
            kept.append(piece)
            cuts.append(piece)
    faces = [f for f in shapely.get_parts(shapely.polygonize(kept)) if not f.is_empty]
    points = [f.point_on_surface() for f in faces]
    owners: list[str | None] = [None] * len(faces)
    if codes and faces:
        tree = shapely.STRtree([tiles[c] for c in codes])
        for face_i, tile_i in zip(*tree.query(points, predicate="within"), strict=True):
            owners[int(face_i)] = codes[int(tile_i)]
    return Arrangement(faces, owners, frozenset(original), cuts)


def _live_vertices(arr: Arrangement, shapes: Sequence[BaseGeometry]) -> set[Vertex]:
    """Vertices of the cut pieces that now lie on a grid boundary (separate two owners)."""
    if not arr.cuts or not shapes:
        return set()
    boundary = shapely.union_all([shapely.boundary(s) for s in shapes])
    return _vertices(p for p in arr.cuts
                     if shapely.distance(_midpoint(p), boundary) <= ON_LINE_DEG)


def _ring(coords: np.ndarray, allowed: frozenset[Vertex] | set[Vertex]) -> np.ndarray:
    keep = [i for i, (x, y) in enumerate(coords[:-1]) if (float(x), float(y)) in allowed]
    ring = coords[keep] if len(keep) >= 3 else coords[:-1]
    return np.vstack([ring, ring[:1]])


def _only(geom: BaseGeometry, allowed: frozenset[Vertex] | set[Vertex]) -> MultiPolygon:
    """``geom`` without the vertices not in ``allowed`` (nodes no edge needs any more)."""
    polys = []
    for poly in shapely.get_parts(geom):
        shell = _ring(shapely.get_coordinates(poly.exterior), allowed)
        holes = [_ring(shapely.get_coordinates(h), allowed) for h in poly.interiors]
        polys.append(Polygon(shell, holes))
    return MultiPolygon(polys)


def assemble(arr: Arrangement, owners: Sequence[str | None],
             before: Mapping[str, BaseGeometry]) -> dict[str, MultiPolygon]:
    """Each code's new shape from its faces (``owners[i]`` now holds ``arr.faces[i]``).

    Returns only the codes whose shape changed (vertices compared exactly, any ring start or
    orientation); a code in ``before`` that holds no face any more maps to an empty
    MultiPolygon.
    """
    codes = sorted({c for c in owners if c is not None} | set(before))
    merged = {c: shapely.coverage_union_all([f for f, o in zip(arr.faces, owners, strict=True)
                                             if o == c]) for c in codes}
    allowed = set(arr.original) | _live_vertices(
        arr, [m for m in merged.values() if not m.is_empty])
    out: dict[str, MultiPolygon] = {}
    for code in codes:
        shape = _only(merged[code], allowed) if not merged[code].is_empty else MultiPolygon()
        old = before.get(code)
        if old is None or not shapely.equals_exact(
                shapely.normalize(shape), shapely.normalize(MultiPolygon(
                    list(shapely.get_parts(old)))), tolerance=0):
            out[code] = shape
    return out


def components(faces: Sequence[Polygon], indices: Sequence[int]) -> list[list[int]]:
    """The faces ``indices`` grouped into edge-connected pieces."""
    if not indices:
        return []
    parts = list(shapely.get_parts(shapely.coverage_union_all([faces[i] for i in indices])))
    groups: list[list[int]] = [[] for _ in parts]
    points = [faces[i].point_on_surface() for i in indices]
    for face_i, part_i in zip(*shapely.STRtree(parts).query(points, predicate="within"),
                              strict=True):
        groups[int(part_i)].append(indices[int(face_i)])
    return [g for g in groups if g]


def union_of(faces: Sequence[Polygon], indices: Iterable[int]) -> BaseGeometry:
    """The exact union of the faces ``indices`` (no new coordinates)."""
    return shapely.coverage_union_all([faces[i] for i in indices])


def give_to_neighbours(arr: Arrangement, owners: Sequence[str | None], left: Sequence[int],
                       length: Callable[[BaseGeometry], float], giver: str
                       ) -> list[str | None]:
    """``owners`` with each edge-connected group of faces ``left`` given to the grid (other
    than ``giver``) sharing the longest edge with it (``length`` in metres, rounded to the
    mm; ties go to the lower code). A group touching no other grid becomes a gap (None)."""
    new = [None if i in set(left) else o for i, o in enumerate(owners)]
    shapes = {c: union_of(arr.faces, [i for i, o in enumerate(new) if o == c])
              for c in sorted({o for o in new if o not in (None, giver)})}
    for group in components(arr.faces, left):
        piece = union_of(arr.faces, group)
        best, best_len = None, 0.0
        for code, shape in shapes.items():
            if not piece.intersects(shape):
                continue
            shared = round(length(shapely.intersection(piece.boundary, shape.boundary)), 3)
            if shared > best_len:
                best, best_len = code, shared
        for i in group:
            new[i] = best
    return new


def keep_noise(arr: Arrangement, owners: Sequence[str | None],
               is_noise: Callable[[BaseGeometry], bool]) -> list[str | None]:
    """``owners`` where every edge-connected group of faces that changed owner and is noise
    (a drawing imprecision: ``is_noise`` of its union) keeps its previous owner."""
    new = list(owners)
    moved = [i for i, (a, b) in enumerate(zip(arr.owners, owners, strict=True)) if a != b]
    for group in components(arr.faces, moved):
        if is_noise(union_of(arr.faces, group)):
            for i in group:
                new[i] = arr.owners[i]
    return new


def _with_vertex(ring: np.ndarray, point: np.ndarray, tol: float) -> np.ndarray:
    """``ring`` (closed coordinates) with ``point`` inserted into the segment it lies on
    (within ``tol`` degrees); unchanged when no segment is that close or it is a vertex."""
    a, b = ring[:-1], ring[1:]
    ab = b - a
    t = np.clip(((point - a) * ab).sum(axis=1) / np.maximum((ab * ab).sum(axis=1), 1e-300),
                0, 1)
    dist = np.hypot(*(a + ab * t[:, None] - point).T)
    i = int(np.argmin(dist))
    if dist[i] > tol or (ring == point).all(axis=1).any():
        return ring
    return np.vstack([ring[:i + 1], point, ring[i + 1:]])


def _insert(geom: BaseGeometry, point: np.ndarray, tol: float) -> BaseGeometry:
    polys = []
    for poly in shapely.get_parts(geom):
        shell = _with_vertex(shapely.get_coordinates(poly.exterior), point, tol)
        holes = [_with_vertex(shapely.get_coordinates(h), point, tol) for h in poly.interiors]
        polys.append(Polygon(shell, holes))
    return MultiPolygon(polys)


def snap_cut(cut: BaseGeometry, tiles: Mapping[str, BaseGeometry], tol: float
             ) -> tuple[BaseGeometry, dict[str, BaseGeometry]]:
    """``cut``'s vertices within ``tol`` degrees of the grids' edges moved onto them, exactly.

    A vertex near a grid vertex becomes that vertex; one near an edge becomes the nearest
    point of the edge, and that point is inserted as a vertex into every grid having the
    edge, so the cut meets the edge at a shared node (noding a vertex that is only almost
    on an edge leaves it hanging). Returns the snapped cut and the grids (lon/lat).
    """
    base = shapely.union_all([shapely.boundary(g) for g in tiles.values()])
    out = dict(tiles)
    if base.is_empty:  # nothing to snap to (e.g. the first micro-grid of a grid)
        return cut, out
    corners = shapely.MultiPoint(shapely.get_coordinates(base))

    def move(xy: np.ndarray) -> np.ndarray:
        moved = xy.copy()
        for k, (x, y) in enumerate(xy):
            point = shapely.Point(x, y)
            if shapely.distance(point, base) > tol:
                continue
            near = shapely.ops.nearest_points(point, corners)[1]
            if shapely.distance(point, near) > tol:
                near = shapely.ops.nearest_points(point, base)[1]
                for code, geom in out.items():
                    out[code] = _insert(geom, np.array([near.x, near.y]), tol * 1e-6)
            moved[k] = (near.x, near.y)
        return moved

    return shapely.transform(cut, move), out
