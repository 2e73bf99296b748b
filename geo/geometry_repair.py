"""Repair real footprints on import (``--make-valid``): each repair reported with its row.

Field data has self-intersecting rings (bow-ties, a footprint digitised across itself) and
degenerate rings (too few distinct points, zero area). With ``make_valid`` the importer
repairs them instead of refusing the row: GEOS ``make_valid`` (structure method: rings are
re-noded, areas kept) keeps the polygonal part, and rings with no area left are dropped.
Lon/lat (EPSG:4326) geometries; nothing is written here.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

POLYGONAL = frozenset({"Polygon", "MultiPolygon"})


def _polygonal(geom: BaseGeometry) -> MultiPolygon:
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and p.area > 0]
    nested = [q for p in shapely.get_parts(geom) if isinstance(p, MultiPolygon)
              for q in p.geoms if q.area > 0]
    return MultiPolygon(parts + nested)


def repair_one(geom: BaseGeometry) -> tuple[BaseGeometry, str]:
    """``geom`` made valid (polygonal part, degenerate rings dropped) and what was done."""
    reason = shapely.is_valid_reason(geom)
    fixed = _polygonal(shapely.make_valid(geom, method="structure", keep_collapsed=False))
    if fixed.is_empty:
        return fixed, f"{reason}: nothing with an area is left (degenerate)"
    result = fixed.geoms[0] if len(fixed.geoms) == 1 and geom.geom_type == "Polygon" else fixed
    dropped = _rings(geom) - _rings(result)
    return result, (f"{reason}: repaired into {len(fixed.geoms)} polygon(s)"
                    + (f", {dropped} degenerate ring(s) dropped" if dropped > 0 else ""))


def _rings(geom: BaseGeometry) -> int:
    """Number of rings (shells and holes) of a polygonal geometry."""
    return int(shapely.get_num_interior_rings(shapely.get_parts(geom)).sum()
               + len(shapely.get_parts(geom)))


def repair_polygons(geoms: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
    """Invalid polygons of ``geoms`` repaired; returns the new array and row index -> what
    was done (only rows that were repaired). Other geometry types are left as they are."""
    out = geoms.copy()
    done: dict[int, str] = {}
    invalid = ~shapely.is_missing(geoms) & ~shapely.is_valid(geoms)
    for row in np.flatnonzero(invalid):
        if geoms[row].geom_type in POLYGONAL:
            out[row], done[int(row)] = repair_one(geoms[row])
    return out, done
