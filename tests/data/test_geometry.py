"""The tiling toolkit of the demo city, on small hand-made geometries (metres, EPSG:4547)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely import box

from data import geometry as g

RNG_SEED = 3
DATONG_4547 = (441_340.0, 4_436_840.0)
"""A point near Datong in EPSG:4547 (metres)."""


def test_partition_gives_exact_sizes_along_the_long_axis() -> None:
    points_on_a_line = np.column_stack([np.arange(10.0) * 10, np.zeros(10)])
    labels = g.partition(points_on_a_line, [3, 3, 4], np.random.default_rng(RNG_SEED))
    assert np.bincount(labels).tolist() == [3, 3, 4]
    # each group is a contiguous run of the line
    assert all(np.all(np.diff(np.flatnonzero(labels == k)) == 1) for k in range(3))


def test_partition_refuses_sizes_that_do_not_add_up() -> None:
    with pytest.raises(ValueError, match="sizes add up to 5, but there are 4 points"):
        g.partition(np.zeros((4, 2)), [2, 3], np.random.default_rng(RNG_SEED))


def test_voronoi_faces_of_four_points_tile_a_square_exactly() -> None:
    square = box(0, 0, 200, 200)
    four_points = np.array([[50.0, 50.0], [150.0, 50.0], [50.0, 150.0], [150.0, 150.0]])
    faces, owner = g.voronoi_faces(square, four_points)
    assert len(faces) == 4
    assert sorted(owner.tolist()) == [0, 1, 2, 3]
    assert shapely.coverage_is_valid(faces)
    assert shapely.area(faces).tolist() == [10_000.0] * 4
    assert shapely.contains_xy(faces, four_points[owner, 0], four_points[owner, 1]).all()


def test_voronoi_faces_snap_to_ten_centimetres() -> None:
    square = box(0, 0, 100, 100)
    two_points = np.array([[30.0, 50.0], [70.03, 50.0]])  # bisector at x = 50.015
    faces, _ = g.voronoi_faces(square, two_points)
    xs = sorted(set(shapely.get_coordinates(faces)[:, 0].round(6).tolist()))
    assert xs == [0.0, 50.0, 100.0]


def test_merge_groups_keeps_the_shared_vertices_of_neighbours() -> None:
    four_squares = np.array([box(0, 0, 1, 1), box(1, 0, 2, 1), box(0, 1, 1, 2),
                             box(1, 1, 2, 2)], dtype=object)
    merged = g.merge_groups(four_squares, np.array([0, 0, 1, 1]), 2)
    assert shapely.equals(merged[0], box(0, 0, 2, 1))
    assert shapely.equals(merged[1], box(0, 1, 2, 2))
    # the middle vertex (1, 1) stays on both halves: the pair is still a valid coverage
    assert shapely.coverage_is_valid(merged)
    assert [1.0, 1.0] in shapely.get_coordinates(merged[0]).tolist()


def test_merge_groups_names_an_empty_group() -> None:
    with pytest.raises(ValueError, match="group 1 of 2 received no geometry"):
        g.merge_groups(np.array([box(0, 0, 1, 1)], dtype=object), np.array([0]), 2)


def test_connected_groups_moves_a_detached_square_to_its_neighbour() -> None:
    row_of_three = np.array([box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1)], dtype=object)
    labels, merged = g.connected_groups(row_of_three, np.array([0, 1, 0]), 2)
    assert labels.tolist() == [0, 1, 1]
    assert shapely.equals(merged[0], box(0, 0, 1, 1))
    assert shapely.equals(merged[1], box(1, 0, 3, 1))


def test_connected_groups_prefers_a_sibling_with_the_same_parent() -> None:
    # group 0 = squares a and c (detached); c touches group 1 (other parent) along its
    # whole right edge and group 2 (same parent) along its top edge
    a, b, c, d, e = (box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1), box(3, 0, 4, 1),
                     box(2, 1, 3, 2))
    units = np.array([a, b, c, d, e], dtype=object)
    labels, _ = g.connected_groups(units, np.array([0, 3, 0, 1, 2]), 4,
                                   parent=np.array([0, 1, 0, 1]))
    assert labels.tolist() == [0, 3, 2, 1, 2]


def test_row_major_rank_numbers_west_to_east_then_north_to_south() -> None:
    #   NW(0, 10)  NE(10, 10)
    #   SW(0, 0)   SE(10, 0)
    x = np.array([10.0, 0.0, 10.0, 0.0])
    y = np.array([0.0, 0.0, 10.0, 10.0])
    rank = g.row_major_rank(x, y, np.zeros(4, dtype=np.int64), band_m=5.0)
    assert rank.tolist() == [3, 2, 1, 0]  # SE, SW, NE, NW


def test_to_lonlat_keeps_shared_vertices_identical() -> None:
    x0, y0 = DATONG_4547
    two_grids_sharing_an_edge = np.array(
        [box(x0, y0, x0 + 300, y0 + 300), box(x0 + 300, y0, x0 + 600, y0 + 300)], dtype=object)
    lonlat = g.to_lonlat(two_grids_sharing_an_edge, 4547, 7)
    assert shapely.coverage_is_valid(lonlat)
    left, right = (set(map(tuple, shapely.get_coordinates(p).tolist())) for p in lonlat)
    assert len(left & right) == 2
    coords = shapely.get_coordinates(lonlat)
    assert np.array_equal(coords, coords.round(7))
    assert 113.2 < coords[:, 0].min() < coords[:, 0].max() < 113.4
    back = g.to_metric(lonlat, 4547)  # rounding moves each vertex by < 1 cm
    assert abs(shapely.area(back).sum() - 180_000.0) < 5.0


def test_points_toward_vertices_stay_inside_their_cell() -> None:
    cells = np.array([box(0, 0, 100, 100), box(100, 0, 200, 100)], dtype=object)
    anchors = np.array([[50.0, 50.0], [150.0, 50.0]])
    which = np.array([0, 1] * 50)
    xy = g.points_toward_vertices(cells, anchors, which, np.random.default_rng(RNG_SEED))
    assert shapely.contains_xy(cells[which], xy[:, 0], xy[:, 1]).all()


def test_points_on_edges_at_vertex_are_ring_vertices() -> None:
    cell = np.array([box(0, 0, 10, 10)], dtype=object)
    which = np.zeros(20, dtype=np.int64)
    rng = np.random.default_rng(RNG_SEED)
    corners = g.points_on_edges(cell, which, rng, at_vertex=True)
    assert {tuple(p) for p in corners.tolist()} <= {(0, 0), (10, 0), (10, 10), (0, 10)}
    on_edges = g.points_on_edges(cell, which, rng)
    assert shapely.intersects_xy(cell[0].boundary, on_edges[:, 0], on_edges[:, 1]).all()


def test_footprints_are_rectangles_inside_their_cell_or_points() -> None:
    big_and_tiny_cells = np.array([box(0, 0, 500, 500), box(500, 0, 505, 5)], dtype=object)
    xy = np.array([[250.0, 250.0]] * 20 + [[502.5, 2.5]] * 20)
    which = np.repeat([0, 1], 20)
    geoms = g.footprints(xy, big_and_tiny_cells, which, np.random.default_rng(RNG_SEED),
                         share=1.0)
    assert (shapely.get_type_id(geoms[:20]) == 3).all()  # rectangles fit the big cell
    assert (shapely.get_type_id(geoms[20:]) == 0).all()  # too big for the tiny one: points
    assert shapely.within(geoms, big_and_tiny_cells[which]).all()
    assert shapely.area(geoms[:20]).min() >= 12 * 30 - 1e-6
