"""``gridlink up``: everything ``make run`` does after the install step.

Start the managed PostGIS (unless GRIDLINK_DATABASE_URL is set), apply migrations, load the
demo city on first run, make sure the demo admin key exists, print what a user needs, serve.
A second run finds everything in place and starts serving within seconds.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import typer
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.settings import ApiSettings
from cli.cluster import managed_cluster
from cli.output import console
from geo import models
from geo.assign import assign_events, assign_units
from geo.db import database_url, transaction
from geo.event_partitions import ensure_partitions
from geo.keys import create_key
from geo.rollup_refresh import refresh_rollups
from geo.schema import upgrade
from geo.settings import Settings, get_settings

COUNTED = {
    "admin areas": models.AdminArea,
    "grids + micro-grids": models.Grid,
    "buildings": models.Building,
    "sites": models.Site,
    "workers": models.Worker,
    "cameras": models.Camera,
    "events": models.Event,
}


def demo_admin_key(session: Session, settings: Settings) -> str:
    """The demo admin key, kept in ``.gridlink/demo-admin.key`` (mode 600), stored hashed."""
    path = Path(settings.home) / "demo-admin.key"
    if path.exists():
        plain = path.read_text().strip()
    else:
        plain = f"gl_{secrets.token_urlsafe(24)}"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(plain + "\n")
    create_key(session, "demo admin", "admin", plain=plain)
    return plain


def table_counts(session: Session) -> dict[str, int]:
    return {label: session.scalar(select(func.count()).select_from(model)) or 0
            for label, model in COUNTED.items()}


def prepare(load_demo: bool = True) -> tuple[str, dict[str, int]]:
    """Start/migrate/load; returns the demo admin key and the row counts."""
    settings = get_settings()
    cluster = managed_cluster()
    if cluster is not None:
        with console.status("starting PostGIS ..."):
            cluster.start()
    with console.status("applying migrations ..."):
        upgrade(database_url())
    with transaction() as session:
        empty = not session.scalar(select(func.count()).select_from(models.Grid))
        if load_demo and empty:
            from data.demo import load_demo as load

            console.print("loading the demo city (first run only) ...")
            load(session)
            with console.status("assigning buildings, sites, cameras and events to grids ..."):
                assign_units(session)
                assign_events(session, "all")
                refresh_rollups(session)  # the demo's first load: nobody else writes yet
        key = demo_admin_key(session, settings)
        counts = table_counts(session)
    return key, counts


def up(
    no_demo: bool = typer.Option(False, "--no-demo", help="do not load the demo city"),
    serve: bool = typer.Option(True, help="serve the API after preparing"),
) -> None:
    """Start the database, migrate, load the demo city, and serve the API and maps."""
    key, counts = prepare(load_demo=not no_demo)
    settings = ApiSettings()
    table = Table(title="gridlink is ready", show_header=False)
    table.add_row("API", f"http://{settings.host}:{settings.port}/")
    table.add_row("API docs", f"http://{settings.host}:{settings.port}/docs")
    table.add_row("maps", f"http://{settings.host}:{settings.port}/maps")
    table.add_row("demo admin key", key)
    for label, count in counts.items():
        table.add_row(label, f"{count:,}")
    console.print(table)
    if serve:
        serve_api(settings)


WORKER_HEALTHCHECK_S = 60
"""Seconds a uvicorn worker may take to answer its supervisor's ping before it is killed."""


def serve_api(settings: ApiSettings, host: str | None = None, port: int | None = None,
              workers: int | None = None) -> None:
    """Serve the API and maps with uvicorn until stopped (Ctrl+C): ``workers`` processes,
    by default ``GRIDLINK_WORKERS`` (one per core; bench/RESULTS.md, /locate)."""
    import uvicorn

    with transaction() as session:  # one process, before the workers: the coming months
        ensure_partitions(session, settings.event_partitions_ahead)
    # timeout_worker_healthcheck: uvicorn kills a worker that does not answer its
    # supervisor's ping within 5 s, dropping every request in flight; a worker importing
    # under load, or a thread holding the GIL in C code for seconds, missed it (issue #12).
    uvicorn.run("api.app:create_app", factory=True, host=host or settings.host,
                port=port or settings.port, workers=workers or settings.workers,
                log_level="info", timeout_worker_healthcheck=WORKER_HEALTHCHECK_S)
