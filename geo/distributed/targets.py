"""Where a bulk job on Dask reads its events and writes its rows (a light module: the
command line imports it without loading Dask)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Targets:
    """Where a Dask assignment reads its events and writes its rows.

    ``from_parquet``: a GeoParquet dataset of events (path or fsspec URL; None: the
    ``events`` table), ``bbox`` (minlon, minlat, maxlon, maxlat, degrees) keeping its events
    inside a box; ``to_parquet``: a new or empty folder for one GeoParquet file per
    partition; ``to_database``: write ``event_assignments`` (events in the database only);
    ``spatial_shuffle``: regroup the dataset's events by space before assigning them
    (:func:`geo.distributed.geoparquet.spatially_shuffled`).
    """

    from_parquet: str | None = None
    to_parquet: str | None = None
    to_database: bool = True
    bbox: tuple[float, float, float, float] | None = None
    spatial_shuffle: bool = False
