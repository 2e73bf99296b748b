"""Spatial partitions of the events for bulk jobs on Dask.

The events are counted on a lon/lat grid of square cells (``cell_deg`` degrees, counted in
PostgreSQL with ``floor(lon / cell)``, ``floor(lat / cell)``); a partition is a run of
cells of one column (the same ``floor(lon / cell)``), from south to north, holding at
most ``target_events`` events unless one cell alone holds more. Every event falls in
exactly one partition: workers select their events with the same ``floor`` expressions.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ValidationFailed


@dataclass(frozen=True)
class SpatialPartition:
    """Cells ``column`` × ``first_row..last_row`` (each ``cell_deg`` degrees) and the
    number of events in them when counted."""

    cell_deg: float
    column: int
    first_row: int
    last_row: int
    events: int

    def bounds(self) -> tuple[float, float, float, float]:
        """(minlon, minlat, maxlon, maxlat), degrees: the cells' box (edges included)."""
        return (self.column * self.cell_deg, self.first_row * self.cell_deg,
                (self.column + 1) * self.cell_deg, (self.last_row + 1) * self.cell_deg)


EVENTS_OF_PARTITION = """
    SELECT e.id, e.geom FROM events e
    WHERE e.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)
      AND floor(ST_X(e.geom) / :cell) = :col
      AND floor(ST_Y(e.geom) / :cell) BETWEEN :row0 AND :row1"""
"""The events of one partition (the envelope, slightly larger than the cells, lets the
GiST index find them; the ``floor`` test decides, as in :func:`spatial_partitions`)."""


def partition_params(part: SpatialPartition) -> dict[str, float | int]:
    """The bound parameters of :data:`EVENTS_OF_PARTITION` for ``part``."""
    x0, y0, x1, y1 = part.bounds()
    pad = part.cell_deg * 1e-6
    return {"x0": x0 - pad, "y0": y0 - pad, "x1": x1 + pad, "y1": y1 + pad,
            "cell": part.cell_deg, "col": part.column, "row0": part.first_row,
            "row1": part.last_row}


def spatial_partitions(session: Session, cell_deg: float = 0.05,
                       target_events: int = 200_000) -> list[SpatialPartition]:
    """Partitions of all events (see the module docstring); read-only.

    Raises :class:`ValidationFailed` naming the field for a cell size outside 0.001-10
    degrees or a target below 1.
    """
    if not 0.001 <= cell_deg <= 10:
        raise ValidationFailed("cell size must be 0.001-10 degrees",
                               [{"field": "cell_deg", "value": cell_deg}])
    if target_events < 1:
        raise ValidationFailed("target events per partition must be at least 1",
                               [{"field": "target_events", "value": target_events}])
    cells = session.execute(text(
        "SELECT floor(ST_X(geom) / :cell)::bigint AS col, floor(ST_Y(geom) / :cell)::bigint"
        " AS row, count(*) AS n FROM events GROUP BY 1, 2 ORDER BY 1, 2"),
        {"cell": cell_deg}).all()
    parts: list[SpatialPartition] = []
    for col, row, n in cells:
        last = parts[-1] if parts else None
        if last is not None and last.column == col and last.events + n <= target_events:
            parts[-1] = SpatialPartition(cell_deg, col, last.first_row, row, last.events + n)
        else:
            parts.append(SpatialPartition(cell_deg, col, row, row, n))
    return parts
