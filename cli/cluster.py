"""A project-managed PostgreSQL + PostGIS cluster (initdb / pg_ctl) under ``.gridlink/``.

Used when ``GRIDLINK_DATABASE_URL`` is not set. The cluster listens on 127.0.0.1 and on a
Unix socket in its own directory, trusts local connections only, and holds one database
with the PostGIS extension. When invoked as root, the server runs as the ``postgres`` user
(PostgreSQL refuses to run as root); if that user cannot reach the project directory, the
data lives in a private directory under /var/tmp and ``.gridlink/`` holds a link to it.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from geo.errors import DatabaseUnavailable
from geo.settings import get_settings


def _pg_bindir() -> Path:
    """The newest installed PostgreSQL server's bin directory (Debian layout or PATH)."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise DatabaseUnavailable(
        "PostgreSQL server is not installed: run `make run` (installs it) "
        "or set GRIDLINK_DATABASE_URL to an existing PostGIS database"
    )


DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
"""PostgreSQL's own defaults: a commit is on disk before it is acknowledged, and a crash
(power loss, ``pg_ctl stop -m immediate``) loses no committed transaction."""
RELAXED = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
"""For the throwaway test and benchmark cluster only: several times faster writes, and a
crash of the machine may lose or corrupt its data (never use it for real data)."""


@dataclass(frozen=True)
class Cluster:
    """A managed cluster rooted at ``home`` (e.g. ``.gridlink``), serving ``port``.

    ``durable`` (default) keeps PostgreSQL's durable settings (:data:`DURABLE`); False
    relaxes them (:data:`RELAXED`), which only the disposable test cluster does. The
    setting is enforced at every start, so a cluster created relaxed by an older version
    becomes durable again.
    """

    home: Path
    port: int
    dbname: str = "gridlink"
    durable: bool = True

    @property
    def link(self) -> Path:
        return self.home / "pg"

    @property
    def datadir(self) -> Path:
        return self.link.resolve() / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{self.dbname}"

    def _run_as(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [*self._run_as(), str(_pg_bindir() / tool), *args]
        # cwd="/": the postgres user may not be allowed into the caller's directory.
        return subprocess.run(cmd, capture_output=True, text=True, check=check, cwd="/")

    def _prepare_dirs(self) -> None:
        """Create the cluster directory, owned by whoever will run the server."""
        self.home.mkdir(parents=True, exist_ok=True)
        if self.link.exists():
            return
        target = self.link
        if os.geteuid() == 0:
            # postgres must be able to reach .gridlink (every parent traversable).
            probe = subprocess.run(
                ["runuser", "-u", "postgres", "--", "test", "-x", str(self.home.resolve())],
                check=False, cwd="/",
            )
            if probe.returncode != 0:
                digest = hashlib.sha1(str(self.home.resolve()).encode()).hexdigest()[:10]
                target = Path("/var/tmp") / f"gridlink-pg-{digest}"
                target.mkdir(mode=0o700, exist_ok=True)
                self.link.symlink_to(target)
            else:
                target.mkdir(mode=0o700)
            pg = pwd.getpwnam("postgres")
            os.chown(target, pg.pw_uid, pg.pw_gid)
        else:
            target.mkdir(mode=0o700)

    def is_initialised(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def init(self) -> None:
        """initdb with UTF-8, trust auth for local connections only."""
        self._prepare_dirs()
        if self.is_initialised():
            return
        self._pg(
            "initdb", "-D", str(self.datadir), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale=C.UTF-8",
        )
        conf = self.datadir / "postgresql.auto.conf"
        extra = (
            f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{self.link.resolve()}'\n"
            "shared_buffers = '512MB'\nwork_mem = '64MB'\nmaintenance_work_mem = '512MB'\n"
            "max_parallel_workers_per_gather = 2\njit = off\n"
        )
        with open(conf, "a", encoding="utf-8") as fh:
            fh.write(extra)

    def is_running(self) -> bool:
        if not self.is_initialised():
            return False
        return self._pg("pg_ctl", "status", "-D", str(self.datadir), check=False).returncode == 0

    def start(self, timeout_s: float = 60) -> None:
        """Initialise if needed, start the server, create the database and PostGIS."""
        self.init()
        self._start_server(timeout_s)
        self._ensure_database(timeout_s)

    def _start_server(self, timeout_s: float) -> None:
        if self.is_running():
            return
        log = self.link.resolve() / "server.log"
        result = self._pg(
            "pg_ctl", "start", "-D", str(self.datadir), "-l", str(log), "-w",
            "-t", str(int(timeout_s)), check=False,
        )
        if result.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise DatabaseUnavailable(
                f"PostgreSQL did not start on port {self.port}: {result.stderr.strip()}",
                [{"log": tail}],
            )

    def start_standby(self, primary_host: str, primary_port: int,
                      timeout_s: float = 60) -> None:
        """Start this cluster as a hot streaming standby of the server at
        ``primary_host:primary_port`` (read-only, replaying its WAL as it comes).

        The first time, ``pg_basebackup -R`` copies the primary (it must allow replication
        connections from this machine: initdb's default pg_hba does for 127.0.0.1, and
        ``wal_level`` must be ``replica`` or ``logical``, PostgreSQL's default) and writes
        ``standby.signal`` and ``primary_conninfo``; this cluster's port and socket
        directory replace the primary's in the copied configuration.
        """
        self._prepare_dirs()
        if not self.is_initialised():
            self._pg("pg_basebackup", "-h", primary_host, "-p", str(primary_port),
                     "-U", "postgres", "-D", str(self.datadir), "-R", "-X", "stream",
                     "-c", "fast")
            with open(self.datadir / "postgresql.auto.conf", "a", encoding="utf-8") as fh:
                fh.write(f"port = {self.port}\n"
                         f"unix_socket_directories = '{self.link.resolve()}'\n"
                         "shared_buffers = '128MB'\nhot_standby = on\n")
        self._start_server(timeout_s)

    def _ensure_database(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        while True:
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", (self.dbname,)
                    ).fetchone()
                    if not exists:
                        conn.execute(f'CREATE DATABASE "{self.dbname}"')  # name from config
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with psycopg.connect(f"{dsn.replace('dbname=postgres', '')} dbname={self.dbname}",
                             autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            self._enforce_durability(conn)

    def _enforce_durability(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        """``ALTER SYSTEM`` + reload where a durability setting differs from the wanted one
        (all three take effect on reload, no restart)."""
        wanted = DURABLE if self.durable else RELAXED
        changed = False
        for name, value in wanted.items():
            row = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
            if row is None or row[0] != value:
                conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(
                    sql.Identifier(name), sql.Literal(value)))
                changed = True
        if changed:
            conn.execute("SELECT pg_reload_conf()")

    def stop(self, mode: Literal["fast", "immediate"] = "fast") -> None:
        """Stop the server; ``immediate`` aborts it like a crash (recovery at next start)."""
        if self.is_running():
            self._pg("pg_ctl", "stop", "-D", str(self.datadir), "-m", mode, "-w")

    def drop(self) -> None:
        """Stop and delete the cluster's data."""
        self.stop()
        if self.link.exists():
            shutil.rmtree(self.link.resolve(), ignore_errors=True)
            if self.link.is_symlink():
                self.link.unlink()


def managed_cluster() -> Cluster | None:
    """The project-managed cluster, or None when GRIDLINK_DATABASE_URL is set."""
    settings = get_settings()
    if settings.database_url:
        return None
    return Cluster(settings.home, settings.db_port, settings.db_name)


def test_server_url(port: int = 55433) -> str:
    """The managed test/bench cluster under ``.gridlink/test`` (started if needed)."""
    # durable=False: test data is disposable, and fsync/synchronous_commit off make the
    # suite's many small commits several times faster (docs/operations.md, Durability).
    cluster = Cluster(get_settings().home / "test", port, dbname="postgres", durable=False)
    cluster.start()
    return cluster.url


def fresh_database(server_url: str, name: str) -> str:
    """Drop and create database ``name`` with PostGIS on the server of ``server_url``.

    Returns the new database's SQLAlchemy URL (not migrated: call geo.schema.upgrade).
    The name comes from code, never from user input.
    """
    server = make_url(server_url)
    dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    target = server.set(database=name)
    with psycopg.connect(target.set(drivername="postgresql").render_as_string(
            hide_password=False), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")
    return target.render_as_string(hide_password=False)
