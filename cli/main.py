"""The ``gridlink`` command line."""

from __future__ import annotations

import atexit

import typer
from pydantic import ValidationError
from sqlalchemy import func, select

from api.errors import validation_details
from api.settings import ApiSettings
from cli.audit import audit_command, cli_actor
from cli.cluster import managed_cluster
from cli.demo import demo_app
from cli.dispatch import assign, events_app
from cli.event_months import archive_command, partitions_command, restore_command
from cli.files import export_command, import_command
from cli.grids import grids_app
from cli.output import console, fail
from cli.patrols import patrols_app
from cli.plan import plan_app
from cli.stats import stats_app
from cli.up import serve_api, up
from cli.video import cameras_app
from geo import models
from geo.audit import record
from geo.db import database_url, get_engine, transaction
from geo.errors import GridlinkError
from geo.keys import ROLES, create_key, revoke_key
from geo.schema import upgrade

app = typer.Typer(help="gridlink: grids, cameras and events on PostGIS.", no_args_is_help=True)
db_app = typer.Typer(help="The database: a managed PostGIS cluster, or GRIDLINK_DATABASE_URL.")
keys_app = typer.Typer(help="API keys and their roles.")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.command("import")(import_command)
app.command("export")(export_command)
app.add_typer(demo_app, name="demo")
app.add_typer(plan_app, name="plan")
app.add_typer(patrols_app, name="patrols")
app.add_typer(events_app, name="events")
events_app.command("partitions")(partitions_command)
events_app.command("archive")(archive_command)
events_app.command("restore")(restore_command)
app.add_typer(stats_app, name="stats")
app.add_typer(grids_app, name="grids")
app.add_typer(cameras_app, name="cameras")
app.command("assign")(assign)
app.command("up")(up)
app.command("audit")(audit_command)


@app.callback()
def close_connections_on_exit() -> None:
    """Check the GRIDLINK_* settings (one line per bad value, exit 2, no traceback) and
    close pooled database connections when a command ends (no half-open sockets)."""
    try:
        ApiSettings()
    except ValidationError as exc:
        for detail in validation_details(exc.errors()):
            field = "GRIDLINK_" + detail["field"].replace(".", "_").upper()
            console.print(f"[bold red]error:[/] {field}: {detail['problem']}")
        raise typer.Exit(code=2) from None
    atexit.register(lambda: get_engine().dispose())


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


@keys_app.command("create")
def keys_create(
    role: str = typer.Option(..., help=f"one of {', '.join(ROLES)}"),
    name: str = typer.Option("cli", help="who the key is for"),
    worker: str | None = typer.Option(None, help="worker code, for worker keys"),
    area: str | None = typer.Option(None, help="district/street/community code: the key reads "
                                    "/dashboard and /stats of this area only"),
) -> None:
    """Create an API key. The key is printed once and stored only as a hash."""
    try:
        with transaction() as session:
            plain = create_key(session, name, role, worker_code=worker, area_code=area)
            record(session, cli_actor(session, "keys create"), "create", "api_key", plain[:7],
                   after={"name": name, "role": role, "worker_code": worker,
                          "area_code": area})
    except GridlinkError as exc:
        raise fail(exc) from exc
    console.print(plain)


@keys_app.command("revoke")
def keys_revoke(prefix: str = typer.Argument(..., help="the key's first 7 characters")) -> None:
    """Revoke keys by prefix."""
    with transaction() as session:
        revoked = revoke_key(session, prefix)
        record(session, cli_actor(session, "keys revoke"), "revoke", "api_key", prefix,
               after={"revoked": revoked})
    console.print(f"revoked {revoked} key(s)")


@app.command("serve")
def serve(
    host: str = typer.Option(None, help="default GRIDLINK_HOST (127.0.0.1)"),
    port: int = typer.Option(None, help="default GRIDLINK_PORT (8000)"),
    workers: int = typer.Option(None, min=1,
                                help="uvicorn processes, default GRIDLINK_WORKERS (one per core)"),
) -> None:
    """Serve the API and maps with uvicorn."""
    serve_api(ApiSettings(), host=host, port=port, workers=workers)


if __name__ == "__main__":
    app()
