"""The ``gridlink`` command line.

Commands are imported only when they run (cli/lazy.py): ``gridlink --help`` and each
command load what that command needs, not every command's libraries.
"""

from __future__ import annotations

import atexit

import typer

from cli.lazy import LazyCommand, LazyGroup


class GridlinkCommands(LazyGroup):
    """gridlink's commands, in the order ``gridlink --help`` lists them."""

    lazy = {
        "import": LazyCommand("cli.files:import_command", "Import a layer file: validate every "
                              "row, then upsert by code (all or nothing)."),
        "export": LazyCommand("cli.files:export_command", "Export a layer to GeoJSON (RFC "
                              "7946), GeoPackage or CSV (WKT geometry column)."),
        "assign": LazyCommand("cli.dispatch:assign", "(Re)assign events to grid, micro-grid, "
                              "admin chain and covering cameras (set-based SQL)."),
        "up": LazyCommand("cli.up:up", "Start the database, migrate, load the demo city, and "
                          "serve the API and maps."),
        "audit": LazyCommand("cli.audit:audit_command", "Read the audit trail, newest first: "
                             "who changed what, when, through which route."),
        "db": LazyCommand("cli.db:db_app", "The database: a managed PostGIS cluster, or "
                          "GRIDLINK_DATABASE_URL."),
        "keys": LazyCommand("cli.keys:keys_app", "API keys and their roles."),
        "demo": LazyCommand("cli.demo:demo_app", "The demo city (a synthetic district around "
                            "Datong)."),
        "plan": LazyCommand("cli.plan:plan_app", "Planning: validate coverage and balance, "
                            "draft and publish grids."),
        "patrols": LazyCommand("cli.patrols:patrols_app", "Patrol tasks (巡查): generate them, "
                               "see what is overdue."),
        "events": LazyCommand("cli.dispatch:events_app", "Events: import files of reported "
                              "events; monthly partitions, archive and restore."),
        "stats": LazyCommand("cli.stats:stats_app", "Assessment: the monthly table per unit, "
                             "the figures of any period, media deductions."),
        "parquet-stats": LazyCommand("cli.parquet_stats:parquet_stats", "Count /stats' "
                                     "figures per unit and month from a GeoParquet archive "
                                     "of events, on Dask."),
        "grids": LazyCommand("cli.grids:grids_app", "Grids: their lineage over published "
                             "changes."),
        "cameras": LazyCommand("cli.video:cameras_app", "Cameras: visibility polygons, "
                               "coverage with occlusion."),
        "rollups": LazyCommand("cli.rollups:rollups_app", "Rollups (the daily, monthly and "
                               "per-area counts): refresh what a bulk assignment left "
                               "pending."),
    }


app = typer.Typer(cls=GridlinkCommands, help="gridlink: grids, cameras and events on PostGIS.",
                  no_args_is_help=True)


@app.callback()
def close_connections_on_exit() -> None:
    """Check the GRIDLINK_* settings (one line per bad value, exit 2, no traceback) and
    close pooled database connections when a command ends (no half-open sockets)."""
    from pydantic import ValidationError

    from api.settings import ApiSettings
    from cli.output import console
    from geo.db import get_engine

    try:
        ApiSettings()
    except ValidationError as exc:
        from api.errors import validation_details  # FastAPI: only to word the error

        for detail in validation_details(exc.errors()):
            field = "GRIDLINK_" + detail["field"].replace(".", "_").upper()
            console.print(f"[bold red]error:[/] {field}: {detail['problem']}")
        raise typer.Exit(code=2) from None
    atexit.register(lambda: get_engine().dispose())


@app.command("serve")
def serve(
    host: str = typer.Option(None, help="default GRIDLINK_HOST (127.0.0.1)"),
    port: int = typer.Option(None, help="default GRIDLINK_PORT (8000)"),
    workers: int = typer.Option(None, min=1,
                                help="uvicorn processes, default GRIDLINK_WORKERS (one per core)"),
) -> None:
    """Serve the API and maps with uvicorn."""
    from api.settings import ApiSettings
    from cli.up import serve_api

    serve_api(ApiSettings(), host=host, port=port, workers=workers)


if __name__ == "__main__":
    app()
