"""The patrol walking order on a small named set of points (metres, hand-checked)."""

from __future__ import annotations

import itertools

import pytest

from geo.patrols.tour import distance_matrix, nearest_neighbour, path_length, shortest_tour, two_opt

STATION = (200, 50)      # start: the party-service station
WEST_SCHOOL = (0, 100)
COMPOUND_GATE = (150, 200)
MARKET = (100, 350)
NORTH_CANTEEN = (250, 400)
POINTS = [STATION, WEST_SCHOOL, COMPOUND_GATE, MARKET, NORTH_CANTEEN]


def test_nearest_neighbour_leaves_the_west_school_for_last() -> None:
    # From the station: gate 158.1, school 206.2, market 316.2, canteen 353.6 -> gate;
    # from the gate: market 158.1, school 180.3, canteen 223.6 -> market; from the market:
    # canteen 158.1, school 269.3 -> canteen; then the long walk back to the school, 390.5.
    dist = distance_matrix(POINTS)
    order = nearest_neighbour(dist, 0)
    assert order == [0, 2, 3, 4, 1]
    assert round(path_length(dist, order), 1) == 864.9


def test_two_opt_visits_the_school_first_and_is_optimal() -> None:
    # station -> school 206.2 -> gate 180.3 -> market 158.1 -> canteen 158.1 = 702.7 m
    dist = distance_matrix(POINTS)
    order = shortest_tour(POINTS)
    assert order == [0, 1, 2, 3, 4]
    assert round(path_length(dist, order), 1) == 702.7
    best = min(path_length(dist, [0, *p]) for p in itertools.permutations(range(1, 5)))
    assert path_length(dist, order) == pytest.approx(best)


def test_two_opt_keeps_the_start_and_every_point() -> None:
    dist = distance_matrix(POINTS)
    assert two_opt(dist, [0, 4, 3, 2, 1]) == [0, 1, 2, 3, 4]
    assert shortest_tour(POINTS, start=3)[0] == 3
    assert sorted(shortest_tour(POINTS, start=3)) == [0, 1, 2, 3, 4]


def test_no_points_one_point_two_points() -> None:
    assert shortest_tour([]) == []
    assert shortest_tour([(5, 5)]) == [0]
    assert shortest_tour([(0, 0), (3, 4)]) == [0, 1]
    assert distance_matrix([(0, 0), (3, 4)])[0, 1] == 5.0
