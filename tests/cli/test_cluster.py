"""The project-managed PostGIS cluster: initdb, start, PostGIS, stop, in a private directory."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg

from cli.cluster import DURABLE, RELAXED, Cluster


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cluster_starts_with_postgis_and_stops(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path / "state", _free_port(), dbname="gridlink")
    try:
        cluster.start()
        assert cluster.is_running()
        dsn = f"host=127.0.0.1 port={cluster.port} user=postgres dbname=gridlink"
        with psycopg.connect(dsn) as conn:
            version = conn.execute("SELECT postgis_lib_version()").fetchone()
        assert version is not None and version[0].startswith("3.")
        cluster.start()  # idempotent: already running
        assert cluster.is_running()
    finally:
        cluster.drop()
    assert not cluster.is_running()
    assert not (tmp_path / "state" / "pg").exists()


def _durability(cluster: Cluster) -> dict[str, str]:
    dsn = f"host=127.0.0.1 port={cluster.port} user=postgres dbname={cluster.dbname}"
    with psycopg.connect(dsn) as conn:
        return {name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
                for name in DURABLE}


def test_managed_cluster_is_durable_and_a_relaxed_one_is_made_durable(tmp_path: Path) -> None:
    """``make run``'s cluster keeps fsync, synchronous_commit and full_page_writes on; one
    created relaxed (as the test cluster is, or by an older gridlink) is fixed at start."""
    relaxed = Cluster(tmp_path / "state", _free_port(), dbname="gridlink", durable=False)
    try:
        relaxed.start()
        assert _durability(relaxed) == RELAXED
        durable = Cluster(relaxed.home, relaxed.port, dbname="gridlink")
        durable.start()  # already running: settings applied with a reload
        assert _durability(durable) == DURABLE
        durable.stop()
        durable.start()
        assert _durability(durable) == DURABLE
    finally:
        relaxed.drop()
