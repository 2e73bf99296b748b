"""Apache SedonaDB (``sedonadb[geopandas]``, DataFusion + GEOS/geoarrow), running the SQL of
bench/peers/sql_job.py; every step materialised in memory (``to_memtable``)."""

from __future__ import annotations

from importlib.metadata import version as package_version

import pandas as pd
import sedonadb

from bench.assign_city import EngineInputs
from bench.peers.sql_job import run_job

TRANSFORM = "ST_Transform({g}, 'EPSG:4326', 'EPSG:{srid}')"
"""WGS 84 ``{g}`` in EPSG ``{srid}``, lon/lat order."""
NAME = "SedonaDB"


def version() -> str:
    return f"sedonadb {package_version('sedonadb')}"


def run(inputs: EngineInputs, k: int, tolerance_m: float, srid: int) -> pd.DataFrame:
    """The job on ``inputs`` (see bench/peers/sql_job.py)."""
    sd = sedonadb.connect()

    def create(name: str, query: str) -> None:
        sd.sql(query).to_memtable().to_view(name, overwrite=True)

    def register(name: str, frame: pd.DataFrame) -> None:
        sd.create_data_frame(frame).to_memtable().to_view(name, overwrite=True)

    return run_job(create, lambda q: sd.sql(q).to_pandas(), register, inputs, k,
                   tolerance_m, srid, TRANSFORM)
