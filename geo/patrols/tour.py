"""A short walking order over a few points: nearest neighbour, then 2-opt.

Points are planar coordinates in metres (a projected CRS); the walk is an open path that
starts at a given point and does not return. Nearest neighbour builds a first path (ties:
the lower index), 2-opt then reverses any stretch that makes the path shorter until none
does. Not optimal in general, but within a few percent on the tens of stops of one grid's
day, and exact on small hand-checked cases (tests/geo/test_patrol_tour.py).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

IMPROVEMENT_M = 1e-6
"""A reversal must shorten the path by more than this (m) to be taken (no float churn)."""


def distance_matrix(xy: ArrayLike) -> NDArray[np.float64]:
    """Straight-line distances (m) between every pair of the (n, 2) points ``xy`` (m)."""
    points = np.asarray(xy, dtype=float).reshape(-1, 2)
    diff = points[:, None, :] - points[None, :, :]
    return np.asarray(np.hypot(diff[..., 0], diff[..., 1]), dtype=np.float64)


def path_length(dist: NDArray[np.float64], order: list[int]) -> float:
    """Length (m) of the open path visiting ``order`` under the distance matrix ``dist``."""
    return float(sum(dist[a, b] for a, b in zip(order, order[1:], strict=False)))


def nearest_neighbour(dist: NDArray[np.float64], start: int = 0) -> list[int]:
    """Visit order from ``start``, always going to the nearest point not visited yet."""
    n = len(dist)
    order, seen = [start], np.zeros(n, dtype=bool)
    seen[start] = True
    for _ in range(n - 1):
        row = np.where(seen, np.inf, dist[order[-1]])
        nxt = int(np.argmin(row))
        order.append(nxt)
        seen[nxt] = True
    return order


def two_opt(dist: NDArray[np.float64], order: list[int]) -> list[int]:
    """``order`` improved by 2-opt moves on the open path (the first point stays first)."""
    path = np.asarray(order)
    n = len(path)
    improved = True
    while improved:
        improved = False
        for i in range(1, n - 1):
            a, b = path[i - 1], path[i]
            c = path[i + 1:]                        # candidate ends j = i+1 .. n-1
            e = np.append(path[i + 2:], -1)         # the point after each end (-1: none)
            after = np.where(e >= 0, dist[b, np.maximum(e, 0)] - dist[c, np.maximum(e, 0)], 0)
            gain = dist[a, b] - dist[a, c] - after
            best = int(np.argmax(gain))
            if gain[best] > IMPROVEMENT_M:
                j = i + 1 + best
                path[i:j + 1] = path[i:j + 1][::-1]
                improved = True
    return [int(p) for p in path]


def shortest_tour(xy: ArrayLike, start: int = 0) -> list[int]:
    """Indices of ``xy`` ((n, 2) metres) in walking order from ``start``: nearest neighbour
    then 2-opt. An empty input gives an empty order."""
    dist = distance_matrix(xy)
    if len(dist) == 0:
        return []
    return two_opt(dist, nearest_neighbour(dist, start))
