"""The demo city's hierarchy in metres: district → streets → communities → grids → micro-grids.

Built in the projected CRS ``scale.srid`` (EPSG:4547, CGCS2000 GK CM 114°E): one exact
Voronoi coverage of micro-grids (see :mod:`data.geometry`), grouped bottom-up by recursive
bisection into grids, communities and streets with the requested counts, then numbered
west→east, north→south and coded per DOMAIN.md (street 9, community 12, grid 15,
micro-grid 17 digits). Buildings (points with households) sit inside the micro-grids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import shapely
from numpy.typing import NDArray

from data import geometry as g
from data.demo_attributes import place_names, zero_padded

if TYPE_CHECKING:
    from data.scale import CityScale

DISTRICT_CODE = "140213"
DISTRICT_NAME = "平城区"
CENTRE_LONLAT = (113.30, 40.08)
AREA_PER_GRID_M2 = 190_000.0
"""~228 km² / 1,200 grids: the grid size stays the same at every scale."""
RURAL_SHARE = 0.15
"""Share of communities (the outermost) that are villages (村) with rural grids."""
Strs = NDArray[np.str_]


@dataclass
class Level:
    """One level of the hierarchy, in code order: geometry (metres), code, name, parent."""

    geoms: g.Geoms
    codes: Strs
    names: Strs
    parent: g.Labels


@dataclass
class City:
    """The whole projected city; ``micro_xy`` are the micro-grid generators (inside them)."""

    district: shapely.Geometry
    streets: Level
    communities: Level
    rural: NDArray[np.bool_]
    grids: Level
    micros: Level
    micro_xy: g.XY
    buildings: Level
    households: NDArray[np.int64]
    population: NDArray[np.int64]
    srid: int


def spread(total: int, parts: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """``total`` split into ``parts`` near-equal positive counts (extras at random)."""
    counts = np.full(parts, total // parts, dtype=np.int64)
    counts[rng.choice(parts, total % parts, replace=False)] += 1
    return counts


def build_city(scale: CityScale) -> City:
    """The projected city for ``scale`` (deterministic in ``scale.seed``)."""
    rng = np.random.default_rng([scale.seed, 1])
    per_street = spread(scale.communities, scale.streets, rng)
    per_community = spread(scale.grids, scale.communities, rng)
    per_grid = rng.integers(5, 8, scale.grids)
    centre = g.transformer(4326, scale.srid).transform(*CENTRE_LONLAT)
    outline = g.district_outline(centre, AREA_PER_GRID_M2 * scale.grids, rng)
    xy = g.relaxed_points(outline, int(per_grid.sum()), rng)
    faces, owner = g.voronoi_faces(outline, xy)
    street_of, community_of, grid_of = _labels(xy, per_street, per_community, per_grid, rng)
    micro_geoms = g.merge_groups(faces, owner, len(xy))
    community_street = _first(street_of, community_of, scale.communities)
    grid_community = _first(community_of, grid_of, scale.grids)
    grid_of, grid_geoms = g.connected_groups(micro_geoms, grid_of, scale.grids,
                                             grid_community)
    grid_community, community_geoms = g.connected_groups(
        grid_geoms, grid_community, scale.communities, community_street)
    community_street, street_geoms = g.connected_groups(community_geoms, community_street,
                                                        scale.streets)
    district = shapely.coverage_union_all(street_geoms)
    return _coded_city(district, street_geoms, community_geoms, grid_geoms, micro_geoms, xy,
                       (community_street, grid_community, grid_of), rng, scale.srid)


def _labels(xy: g.XY, per_street: NDArray[np.int64], per_community: NDArray[np.int64],
            per_grid: NDArray[np.int64], rng: np.random.Generator
            ) -> tuple[g.Labels, g.Labels, g.Labels]:
    """Street, community and grid label of each micro generator (exact counts per unit)."""
    community_street = np.repeat(np.arange(len(per_street)), per_street)
    grid_community = np.repeat(np.arange(len(per_community)), per_community)
    micros_per_community = np.bincount(grid_community, weights=per_grid).astype(np.int64)
    micros_per_street = np.bincount(community_street, weights=micros_per_community)
    street_of = g.partition(xy, micros_per_street.astype(np.int64).tolist(), rng)
    community_of = _sublabels(xy, street_of, community_street, micros_per_community, rng)
    grid_of = _sublabels(xy, community_of, grid_community, per_grid, rng)
    return street_of, community_of, grid_of


def _sublabels(xy: g.XY, parent_of: g.Labels, child_parent: g.Labels,
               child_sizes: NDArray[np.int64], rng: np.random.Generator) -> g.Labels:
    """Partition the points of each parent among its children (children numbered globally)."""
    labels = np.empty(len(xy), dtype=np.int64)
    first_child = np.searchsorted(child_parent, np.arange(child_parent.max() + 1))
    for parent in range(int(child_parent.max()) + 1):
        members = np.flatnonzero(parent_of == parent)
        sizes = child_sizes[child_parent == parent].tolist()
        labels[members] = g.partition(xy[members], sizes, rng) + first_child[parent]
    return labels


def _first(parent_of: g.Labels, child_of: g.Labels, n_children: int) -> g.Labels:
    """Parent label of each child, read from the point labels (every child has points)."""
    out = np.empty(n_children, dtype=np.int64)
    out[child_of] = parent_of
    return out


def _band(geoms: g.Geoms) -> float:
    """Row height for west→east, north→south numbering: the typical unit's side (m)."""
    return float(np.sqrt(np.mean(shapely.area(geoms))))


def _order(geoms: g.Geoms, parent: g.Labels) -> tuple[g.Labels, g.Labels]:
    """(order, rank): code order of the units (by parent, then row-major) and their rank."""
    centres = shapely.get_coordinates(shapely.centroid(geoms))
    rank = g.row_major_rank(centres[:, 0], centres[:, 1], parent, _band(geoms))
    order = np.lexsort((rank, parent))
    return order, rank[order]


def _inverse(order: g.Labels) -> g.Labels:
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return inverse


def _coded_city(district: shapely.Geometry, street_geoms: g.Geoms, community_geoms: g.Geoms,
                grid_geoms: g.Geoms, micro_geoms: g.Geoms, xy: g.XY,
                parents: tuple[g.Labels, g.Labels, g.Labels], rng: np.random.Generator,
                srid: int) -> City:
    """Number every level west→east, north→south inside its parent and give it its code."""
    community_street, grid_community, micro_grid = parents
    order, rank = _order(street_geoms, np.zeros(len(street_geoms), dtype=np.int64))
    streets = _streets(street_geoms[order], rank, rng)
    community_street = _inverse(order)[community_street]
    order, _ = _order(community_geoms, community_street)
    rural = _outermost(community_geoms[order], district)
    communities = _communities(community_geoms[order], community_street[order], rural,
                               streets, rng)
    grid_community = _inverse(order)[grid_community]
    order, rank = _order(grid_geoms, grid_community)
    grids = _children(grid_geoms[order], grid_community[order], rank, communities, 3, "网格")
    micro_grid = _inverse(order)[micro_grid]
    order, rank = _order(micro_geoms, micro_grid)
    micros = _children(micro_geoms[order], micro_grid[order], rank, grids, 2, "微网格")
    micro_xy = xy[order]
    buildings, households, population = _buildings(micros, micro_xy, communities, grids, rng)
    return City(district, streets, communities, rural, grids, micros, micro_xy, buildings,
                households, population, srid)


def _streets(geoms: g.Geoms, rank: g.Labels, rng: np.random.Generator) -> Level:
    """Streets 001-099 (街道), then 100+ (towns, 镇) when a big district needs more."""
    number = rank + 1
    codes = np.char.add(DISTRICT_CODE, zero_padded(number, 3))
    suffix = np.where(number < 100, "街道", "镇")
    names = np.char.add(place_names(len(geoms), rng), suffix)
    return Level(geoms, codes, names, np.zeros(len(geoms), dtype=np.int64))


def _outermost(geoms: g.Geoms, district: shapely.Geometry) -> NDArray[np.bool_]:
    """The ``RURAL_SHARE`` of communities farthest from the district's centre."""
    distance = shapely.distance(shapely.centroid(geoms), shapely.centroid(district))
    n_rural = int(len(geoms) * RURAL_SHARE)
    rural = np.zeros(len(geoms), dtype=bool)
    if n_rural:
        rural[np.argsort(-distance, kind="stable")[:n_rural]] = True
    return rural


def _communities(geoms: g.Geoms, street: g.Labels, rural: NDArray[np.bool_], streets: Level,
                 rng: np.random.Generator) -> Level:
    """Communities 001.. (社区) and villages 201.. (村) inside each street, in code order."""
    import pandas as pd

    seq = pd.DataFrame({"street": street, "rural": rural}).groupby(
        ["street", "rural"]).cumcount().to_numpy() + 1
    number = np.where(rural, 200 + seq, seq)
    codes = np.char.add(streets.codes[street], zero_padded(number, 3))
    names = np.char.add(place_names(len(geoms), rng), np.where(rural, "村", "社区"))
    return Level(geoms, codes, names, street)


def _children(geoms: g.Geoms, parent: g.Labels, rank: g.Labels, parents: Level, width: int,
              label: str) -> Level:
    """Grids (3-digit sequence) or micro-grids (2-digit suffix) named "…第N网格"."""
    number = rank + 1
    codes = np.char.add(parents.codes[parent], zero_padded(number, width))
    names = np.char.add(np.char.add(np.char.add(parents.names[parent], "第"),
                                    number.astype(str)), label)
    return Level(geoms, codes, names, parent)


def _buildings(micros: Level, micro_xy: g.XY, communities: Level, grids: Level,
               rng: np.random.Generator
               ) -> tuple[Level, NDArray[np.int64], NDArray[np.int64]]:
    """2-4 residential buildings per micro-grid (40 % polygons, the rest points), ~50
    households per micro-grid in all."""
    n_micro = len(micros.codes)
    per_micro = rng.integers(2, 5, n_micro)
    micro = np.repeat(np.arange(n_micro), per_micro)
    xy = g.points_toward_vertices(micros.geoms, micro_xy, micro, rng)
    target = np.clip(np.round(rng.normal(50, 9, n_micro)), 25, 85).astype(np.int64)
    weight = rng.uniform(0.5, 1.5, len(micro))
    share = weight / np.bincount(micro, weights=weight)[micro]
    households = np.floor(share * target[micro]).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(per_micro)[:-1]])
    households[first] += target - np.bincount(micro, weights=households).astype(np.int64)
    population = np.round(households * rng.uniform(2.2, 3.0, len(micro))).astype(np.int64)
    number = np.arange(len(micro)) - first[micro] + 1
    codes = np.char.add(np.char.add("B", micros.codes[micro]), zero_padded(number, 2))
    community = grids.parent[micros.parent[micro]]
    estate = np.asarray(["小区", "家园", "花园", "新村", "苑"])[rng.integers(0, 5, n_micro)]
    base = np.char.add(np.char.replace(np.char.replace(communities.names[community], "社区", ""),
                                       "村", ""), estate[micro])
    names = np.char.add(np.char.add(base, number.astype(str)), "号楼")
    level = Level(g.footprints(xy, micros.geoms, micro, rng), codes, names, micro)
    return level, households, population
