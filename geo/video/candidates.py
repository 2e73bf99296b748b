"""Where a new camera could stand: road intersections, existing poles from a file (and the
footprint corners of :mod:`geo.video.placement`), in the district's metric CRS.

* **Road intersections**: the roads crossing the area are noded (``shapely.union_all`` of
  their lines with a 1 cm precision grid: snap-rounding splits them wherever they meet or
  cross, a road ending within 1 cm of another included) and every node where three or
  more pieces end is an intersection (a node of two pieces is a road going on, one a dead
  end).
* **A candidate file** (existing poles 杆件, or positions a planner drew): GeoJSON,
  GeoPackage or Shapefile of points, or CSV with ``lon``/``lat`` columns (also 经度/纬度,
  ``x``/``y``), WGS 84. A row without a usable point is refused naming its row and field.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import to_metric
from geo.errors import ValidationFailed

ROUND_M = 0.01
"""Node positions are compared at this precision (m)."""
LON_NAMES = ("lon", "longitude", "经度", "x")
LAT_NAMES = ("lat", "latitude", "纬度", "y")


def road_intersections(session: Session, srid: int, outline: BaseGeometry) -> NDArray[np.float64]:
    """The intersections (x, y in EPSG ``srid``, m) of the roads inside ``outline`` (metric),
    sorted by x then y."""
    rows = session.scalars(text(
        "SELECT ST_AsBinary(ST_Transform(geom, CAST(:srid AS integer))) FROM roads"
        " WHERE geom && ST_Transform(ST_GeomFromText(:w, CAST(:srid AS integer)), 4326)"
        " AND ST_Intersects(geom, ST_Transform(ST_GeomFromText(:w, CAST(:srid AS integer)),"
        " 4326))"), {"srid": srid, "w": outline.wkt}).all()
    if not rows:
        return np.zeros((0, 2))
    noded = shapely.get_parts(shapely.union_all(shapely.from_wkb([bytes(r) for r in rows]),
                                                grid_size=ROUND_M))
    ends = np.vstack([shapely.get_coordinates(shapely.get_point(noded, 0)),
                      shapely.get_coordinates(shapely.get_point(noded, -1))])
    nodes, degree = np.unique(np.round(ends / ROUND_M).astype(np.int64), axis=0,
                              return_counts=True)
    found = nodes[degree >= 3].astype(float) * ROUND_M
    return found[shapely.contains_xy(outline, found[:, 0], found[:, 1])]


def candidate_file_points(path: Path, srid: int) -> NDArray[np.float64]:
    """The points of a candidate file (x, y in EPSG ``srid``, m), in file order.

    Raises ValidationFailed naming every row without a point (1-based, ``field`` geometry
    or the lon/lat column) and for a CSV without lon/lat columns.
    """
    if path.suffix.lower() in (".csv", ".txt"):
        lonlat = _csv_lonlat(pd.read_csv(path, dtype=str, encoding="utf-8-sig"))
    else:
        frame = gpd.read_file(path, engine="pyogrio")
        frame = frame.to_crs(4326) if frame.crs is not None else frame
        geoms = frame.geometry.array
        bad = np.flatnonzero(shapely.is_missing(geoms) | (shapely.get_type_id(geoms) != 0))
        if len(bad):
            raise ValidationFailed(f"{len(bad)} rows of the candidate file are not points",
                                   [{"row": int(r) + 1, "field": "geometry",
                                     "problem": "not a point"} for r in bad])
        lonlat = shapely.get_coordinates(geoms)
    return shapely.get_coordinates(to_metric(shapely.MultiPoint(lonlat), srid)) \
        if len(lonlat) else np.zeros((0, 2))


def _csv_lonlat(frame: pd.DataFrame) -> NDArray[np.float64]:
    """The lon/lat columns of a CSV as numbers; ValidationFailed naming bad rows."""
    names = {str(c).strip().lower(): c for c in frame.columns}
    lon = next((names[n] for n in LON_NAMES if n in names), None)
    lat = next((names[n] for n in LAT_NAMES if n in names), None)
    if lon is None or lat is None:
        raise ValidationFailed("the candidate CSV needs lon and lat columns (or 经度/纬度)",
                               [{"row": None, "field": "lon" if lon is None else "lat"}])
    values = np.column_stack([pd.to_numeric(frame[lon], errors="coerce"),
                              pd.to_numeric(frame[lat], errors="coerce")])
    with np.errstate(invalid="ignore"):
        bad_lon = ~(np.abs(values[:, 0]) <= 180)  # NaN compares False: missing is bad
        bad_lat = ~(np.abs(values[:, 1]) <= 90)
    if (bad_lon | bad_lat).any():
        raise ValidationFailed(
            f"{int((bad_lon | bad_lat).sum())} rows of the candidate file have no valid "
            "lon/lat", [{"row": int(r) + 1, "field": str(lon if bad_lon[r] else lat),
                         "problem": "missing, not a number or out of range"}
                        for r in np.flatnonzero(bad_lon | bad_lat)])
    return values
