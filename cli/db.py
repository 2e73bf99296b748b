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
