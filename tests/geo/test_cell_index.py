"""geo.cell_index: box queries over points bucketed on lon/lat cells, edges included."""

from __future__ import annotations

import numpy as np
import pytest

from geo.cell_index import CellIndex

POINTS = {  # name: (lon, lat)
    "inside": (113.3005, 40.0805),
    "on_west_edge": (113.3000, 40.0807),
    "on_north_east_corner": (113.3010, 40.0810),
    "just_outside_east": (113.30101, 40.0805),
    "far_away": (113.4000, 40.2000),
    "on_cell_line": (113.3010, 40.0800),
}
BOX = (113.3000, 40.0800, 113.3010, 40.0810)
"""A 0.001° box whose edges lie on cell lines of a 0.001° index."""


@pytest.mark.parametrize("cell", [0.001, 0.00037, 0.01])
def test_box_holds_exactly_the_points_inside_or_on_its_edges(cell: float) -> None:
    names = list(POINTS)
    xs = np.array([POINTS[n][0] for n in names])
    ys = np.array([POINTS[n][1] for n in names])
    index = CellIndex(xs, ys, cell)
    far_box = (113.5, 40.5, 113.6, 40.6)
    box_i, point_i = index.pairs_in_boxes(*(np.array([a, b]) for a, b in zip(BOX, far_box,
                                                                               strict=True)))
    assert sorted(names[p] for p, b in zip(point_i, box_i, strict=True) if b == 0) == [
        "inside", "on_cell_line", "on_north_east_corner", "on_west_edge"]
    assert not (box_i == 1).any()


def test_matches_brute_force_on_random_points_and_boxes() -> None:
    rng = np.random.default_rng(3)
    xs, ys = rng.uniform(113.0, 113.1, 5000), rng.uniform(40.0, 40.1, 5000)
    x0, y0 = rng.uniform(112.99, 113.1, 300), rng.uniform(39.99, 40.1, 300)
    x1, y1 = x0 + rng.uniform(0, 0.004, 300), y0 + rng.uniform(0, 0.004, 300)
    box_i, point_i = CellIndex(xs, ys, 0.001).pairs_in_boxes(x0, y0, x1, y1)
    inside = ((xs[None, :] >= x0[:, None]) & (xs[None, :] <= x1[:, None])
              & (ys[None, :] >= y0[:, None]) & (ys[None, :] <= y1[:, None]))
    assert sorted(zip(box_i.tolist(), point_i.tolist(), strict=True)) == sorted(
        zip(*np.nonzero(inside), strict=True))
    assert len(box_i) == 460
