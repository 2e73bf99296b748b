"""Bulk jobs past one machine, on Dask (``dask-geopandas`` + ``distributed``).

:mod:`geo.distributed.partitions` cuts the events into spatial partitions,
:mod:`geo.distributed.rules` holds the in-memory assignment of one partition (the rules of
:mod:`geo.assign`, the camera rule from :mod:`geo.cameras`), and
:mod:`geo.distributed.assign` runs them on a Dask cluster and writes the results back through
:mod:`geo.event_assignments`. :mod:`geo.distributed.geoparquet` reads the events from and
writes the results to GeoParquet instead (:mod:`geo.distributed.targets` says which), and
:mod:`geo.distributed.stats` counts /stats' figures per month from a GeoParquet archive.
docs/scale.md says when to use it and how to start a cluster.
"""
