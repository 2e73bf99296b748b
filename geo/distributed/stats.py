"""Statistics over archived years on Dask: the ``/stats`` counts per unit and month from a
GeoParquet dataset of events (the archive ``gridlink events archive`` writes).

Each partition (file or row groups) is counted on its worker by DuckDB running the very SQL
``/stats`` runs in PostgreSQL (:data:`geo.stats.PERIOD_COUNTS` over rows with
:data:`geo.stats.DUE_FLAG`): per unit and local month (Asia/Shanghai), the events reported in
that month, merged duplicates left out, ``due`` counted against the end of the month. The
counts add up across partitions; the rates and the score are then computed once per row by
:func:`geo.stats.with_rates`. For a month, a row equals the ``/stats`` row of that unit with
``since``/``until`` the month's bounds, as it was while the events were in PostGIS (the
archive keeps each event's assignment, so a unit is the event's stored one: attribution
``assigned``). No database is read: names, grid counts and reassignments are not given.
"""

from __future__ import annotations

from typing import Any

import dask.dataframe as dd
import duckdb
import pandas as pd
from distributed import Client

from geo.distributed.geoparquet import events_dataset
from geo.errors import ValidationFailed
from geo.event_partitions import LOCAL_ZONE
from geo.settings import Settings, get_settings
from geo.stats import DUE_FLAG, PERIOD_COUNTS, UNIT_COLUMNS, with_rates

EVENT_COLUMNS = ("reported_at", "status", "valid", "due_at", "closed_at", "postponements",
                 "reworks", "first_time")
"""The columns of events the counts read (besides the unit's)."""
COUNTS = ("accepted", "valid", "handled", "due", "closed", "closed_on_time", "postponed",
          "first_time")
"""What :data:`geo.stats.PERIOD_COUNTS` counts, in its order."""

_PARTITION_SQL = """
SELECT unit, month,""" + PERIOD_COUNTS + """
  FROM (SELECT e.*, e.{col} AS unit, """ + DUE_FLAG.format(until="e.period_end") + """
          FROM events e WHERE e.status <> 'duplicate') ev
 WHERE unit IS NOT NULL GROUP BY unit, month"""  # noqa: S608 ({col} from UNIT_COLUMNS)


def with_months(events: pd.DataFrame) -> pd.DataFrame:
    """``events`` typed for the counts, with ``month`` (``YYYY-MM``, local month of
    ``reported_at``) and ``period_end`` (the start of the next local month, UTC). Times
    without a zone are taken as UTC."""
    out = events.copy()
    for name in ("reported_at", "due_at", "closed_at"):
        at = pd.to_datetime(out[name])
        out[name] = at.dt.tz_localize("UTC") if at.dt.tz is None else at.dt.tz_convert("UTC")
    local = out["reported_at"].dt.tz_convert(LOCAL_ZONE)
    index = local.dt.year * 12 + local.dt.month  # the month after: index // 12, index % 12 + 1
    out["month"] = local.dt.strftime("%Y-%m")
    out["period_end"] = pd.to_datetime(pd.DataFrame(
        {"year": index // 12, "month": index % 12 + 1, "day": 1})).dt.tz_localize(
        LOCAL_ZONE).dt.tz_convert("UTC")
    out["valid"] = out["valid"].astype("boolean")
    out["first_time"] = out["first_time"].astype("boolean")
    for name in ("postponements", "reworks"):
        out[name] = out[name].astype("Int64")
    return out


def partition_counts(events: pd.DataFrame, column: str) -> pd.DataFrame:
    """One partition's counts (:data:`COUNTS`) per ``unit`` (the values of ``column``) and
    ``month``, by DuckDB (one thread) running /stats' SQL; runs on a worker."""
    frame = with_months(events)
    with duckdb.connect(config={"threads": 1}) as con:
        con.register("events", frame)
        counted = con.execute(_PARTITION_SQL.format(col=column)).df()
    return counted.astype({"unit": object, "month": object, **dict.fromkeys(COUNTS, "int64")})


def month_stats(client: Client, path: str, level: str = "grid",
                settings: Settings | None = None) -> list[dict[str, Any]]:
    """Per unit of ``level`` and local month, the ``/stats`` figures of the events in the
    GeoParquet dataset ``path`` (file, folder or fsspec URL), computed on ``client``'s
    cluster; rows ``{"month": "YYYY-MM", **fields of geo.stats.FIELDS}`` ordered by month
    and unit (``name`` None, ``deduction`` 0).

    Raises :class:`ValidationFailed` for an unknown level, and naming the file and field for
    a dataset that is not one of events (:func:`geo.distributed.geoparquet.events_dataset`).
    """
    settings = settings or get_settings()
    if level not in UNIT_COLUMNS:
        raise ValidationFailed(f"unknown level {level!r}",
                               [{"field": "level", "allowed": list(UNIT_COLUMNS)}])
    column = UNIT_COLUMNS[level]
    dataset = events_dataset(path, (*EVENT_COLUMNS, column))
    events = dd.read_parquet(list(dataset.files), columns=[*EVENT_COLUMNS, column])
    meta = pd.DataFrame({"unit": pd.Series(dtype=object), "month": pd.Series(dtype=object),
                         **{c: pd.Series(dtype="int64") for c in COUNTS}})
    counted = events.map_partitions(partition_counts, column, meta=meta)
    sums: pd.DataFrame = client.compute(counted.groupby(["month", "unit"]).sum()).result()
    rows = []
    for record in sums.sort_index().reset_index().to_dict("records"):
        counts = {str(c): int(record[c]) for c in COUNTS}
        row = with_rates({"unit": record["unit"], **counts}, 0.0, settings.score_weights)
        rows.append({"month": record["month"], **row})
    return rows
