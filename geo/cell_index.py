"""Points bucketed on a lon/lat grid of square cells, for box queries over millions of
points with numpy alone (no tree to build: one sort).

Points are sorted by (cell row, cell column); the points of one row between two columns are
then one contiguous run, found with two binary searches. A box query visits the rows the box
spans (one run each) and keeps the points inside the box, edges included. Cells are
``cell_deg`` degrees; the index works in whatever lon/lat CRS the coordinates are in.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


class CellIndex:
    """The points ``x, y`` (degrees) bucketed by ``cell_deg`` cells; see the module."""

    def __init__(self, x: FloatArray, y: FloatArray, cell_deg: float) -> None:
        if cell_deg <= 0:
            raise ValueError("cell_deg must be positive")
        self.x, self.y, self.cell = x, y, cell_deg
        col = np.floor(x / cell_deg).astype(np.int64)
        row = np.floor(y / cell_deg).astype(np.int64)
        self.col0 = int(col.min()) if len(col) else 0
        self.row0 = int(row.min()) if len(row) else 0
        self.ncols = int(col.max()) - self.col0 + 1 if len(col) else 1
        self.nrows = int(row.max()) - self.row0 + 1 if len(row) else 1
        keys = (row - self.row0) * self.ncols + (col - self.col0)
        self.order: IntArray = np.argsort(keys, kind="stable")
        self.keys: IntArray = keys[self.order]

    def pairs_in_boxes(self, x0: FloatArray, y0: FloatArray, x1: FloatArray,
                       y1: FloatArray) -> tuple[IntArray, IntArray]:
        """(box number, point number) of every point inside a box ``[x0, x1] × [y0, y1]``
        (degrees, edges included), grouped by box."""
        c0, c1 = self._span(x0, x1, self.col0, self.ncols)
        r0, r1 = self._span(y0, y1, self.row0, self.nrows)
        rows = np.maximum(r1 - r0 + 1, 0) * (c1 >= c0)
        box = np.repeat(np.arange(len(x0)), rows)
        first = np.repeat(np.cumsum(rows) - rows, rows)
        row = r0[box] + (np.arange(len(box)) - first)
        lo = np.searchsorted(self.keys, row * self.ncols + c0[box], "left")
        hi = np.searchsorted(self.keys, row * self.ncols + c1[box], "right")
        counts = hi - lo
        box_i = np.repeat(box, counts)
        start = np.repeat(lo - (np.cumsum(counts) - counts), counts)
        point_i = self.order[start + np.arange(len(box_i))]
        px, py = self.x[point_i], self.y[point_i]
        inside = (px >= x0[box_i]) & (px <= x1[box_i]) & (py >= y0[box_i]) & (py <= y1[box_i])
        return box_i[inside], point_i[inside]

    def _span(self, lo: FloatArray, hi: FloatArray, origin: int,
              size: int) -> tuple[IntArray, IntArray]:
        """Cell numbers (relative to ``origin``, clipped to ``0..size-1``) of ``lo`` and
        ``hi``; a range entirely outside gives first > last."""
        first = np.floor(lo / self.cell).astype(np.int64) - origin
        last = np.floor(hi / self.cell).astype(np.int64) - origin
        outside = (last < 0) | (first >= size)
        first, last = np.clip(first, 0, size - 1), np.clip(last, 0, size - 1)
        return first, np.where(outside, first - 1, last)
