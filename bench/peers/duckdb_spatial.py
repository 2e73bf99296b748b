"""DuckDB with its spatial extension, loaded offline from the ``duckdb-ext-spatial`` wheel
(``SET extension_directory`` to the wheel's folder, then ``LOAD spatial``), running the SQL
of bench/peers/sql_job.py in one in-memory database with every core."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from bench.assign_city import EngineInputs
from bench.peers.sql_job import run_job

TRANSFORM = "ST_Transform({g}, 'EPSG:4326', 'EPSG:{srid}', true)"
"""WGS 84 ``{g}`` in EPSG ``{srid}``, lon/lat order."""
NAME = "DuckDB spatial"


def extension_directory() -> Path:
    """Where ``duckdb-ext-spatial`` put its extensions (``<site-packages>/duckdb_ext/
    extensions``)."""
    return Path(duckdb.__file__).resolve().parent.parent / "duckdb_ext" / "extensions"


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory database with spatial loaded (no network)."""
    con = duckdb.connect()
    con.execute(f"SET extension_directory = '{extension_directory()}'")
    con.execute("LOAD spatial")
    return con


def version() -> str:
    return f"duckdb {duckdb.__version__}"


def run(inputs: EngineInputs, k: int, tolerance_m: float, srid: int) -> pd.DataFrame:
    """The job on ``inputs`` (see bench/peers/sql_job.py)."""
    con = connect()

    def create(name: str, query: str) -> None:
        con.execute(f"CREATE OR REPLACE TABLE {name} AS {query}")

    def register(name: str, frame: pd.DataFrame) -> None:
        con.register(name, frame)

    try:
        return run_job(create, lambda q: con.execute(q).df(), register, inputs, k,
                       tolerance_m, srid, TRANSFORM)
    finally:
        con.close()
