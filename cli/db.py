"""``gridlink db``: the managed PostGIS cluster, or the database of GRIDLINK_DATABASE_URL."""

from __future__ import annotations

import typer
from sqlalchemy import func, select

from cli.cluster import managed_cluster
from cli.output import console, fail
from geo import models
from geo.db import database_url, transaction
from geo.errors import GridlinkError
from geo.schema import upgrade

db_app = typer.Typer(help="The database: a managed PostGIS cluster, or GRIDLINK_DATABASE_URL.")


@db_app.command("start")
def db_start() -> None:
    """Start the managed cluster (initialising it on first use)."""
    cluster = managed_cluster()
    if cluster is None:
        console.print("GRIDLINK_DATABASE_URL is set: nothing to start.")
        return
    try:
        cluster.start()
    except GridlinkError as exc:
        raise fail(exc) from exc
    console.print(f"PostGIS running on 127.0.0.1:{cluster.port} (data in {cluster.datadir})")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the managed cluster."""
    cluster = managed_cluster()
    if cluster is not None:
        cluster.stop()
        console.print("stopped")


@db_app.command("status")
def db_status() -> None:
    """Say whether the database is reachable, and what it holds."""
    cluster = managed_cluster()
    if cluster is not None and not cluster.is_running():
        console.print("managed cluster: [yellow]stopped[/]")
        raise typer.Exit(code=1)
    with transaction() as session:
        for model in (models.AdminArea, models.Grid, models.Camera, models.Event):
            count = session.scalar(select(func.count()).select_from(model))
            console.print(f"{model.__tablename__:>12}: {count}")


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply the Alembic migrations up to the newest."""
    upgrade(database_url())
    console.print("schema is up to date")


@db_app.command("indexes")
def db_indexes() -> None:
    """Build the indexes a first load of events or a city's first bulk assignment left for
    after its commit (pending_indexes), without blocking readers or writers (CREATE INDEX
    CONCURRENTLY)."""
    if not build_indexes():
        console.print("no index is pending")


def build_indexes() -> list[str]:
    """Build the pending indexes (geo.importer.pending_indexes), saying each one and the time;
    returns their names (none: nothing pending, or another process is building them)."""
    import time

    from geo.db import get_engine
    from geo.importer.pending_indexes import build_pending_indexes

    started = time.perf_counter()
    with console.status("building indexes after the commit") as status:
        built = build_pending_indexes(get_engine(), lambda name: status.update(
            f"building index {name} (CREATE INDEX CONCURRENTLY)"))
    if built:
        console.print(f"indexes built after the commit: {', '.join(built)} "
                      f"({time.perf_counter() - started:.1f} s)")
    return built
