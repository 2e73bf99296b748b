"""``gridlink demo``: generate the demo city as files, or generate-and-load it into PostGIS."""

from __future__ import annotations

import time
from datetime import date, datetime
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.output import console, fail
from data.demo import (
    LOAD_ORDER,
    demo_dir,
    ensure_files,
    frames_for,
    write_city,
)
from data.demo import load_demo as load_city
from data.scale import CityScale, city_scale
from geo.db import transaction
from geo.errors import GridlinkError

demo_app = typer.Typer(help="The demo city (a synthetic district around Datong).",
                       no_args_is_help=True)

SEED = typer.Option(42, help="random seed: same seed and sizes give the same city")
GRIDS = typer.Option(None, help="ordinary grids (default 1200; sets the city's size)")
CAMERAS = typer.Option(None, help="cameras (default ~2.6 per grid: 3066 for 1200 grids)")
EVENTS = typer.Option(None, help="events over the last six months (default 5 per grid)")
STREETS = typer.Option(None, help="streets (default: communities / 11)")
COMMUNITIES = typer.Option(None, help="communities (default: grids / 6)")
AS_OF_HELP = "last day of the events' six months, YYYY-MM-DD (default: today)"


def _scale(seed: int, grids: int | None, cameras: int | None, events: int | None,
           streets: int | None, communities: int | None, as_of: datetime | None) -> CityScale:
    try:
        return city_scale(seed, grids, cameras, events, streets, communities,
                          as_of.date() if as_of else None)
    except ValueError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=2) from exc


@demo_app.command("generate")
def generate(
    out_dir: Path = typer.Argument(..., help="directory for the layer files"),
    seed: int = SEED, grids: int | None = GRIDS, cameras: int | None = CAMERAS,
    events: int | None = EVENTS, streets: int | None = STREETS,
    communities: int | None = COMMUNITIES,
    as_of: datetime | None = typer.Option(None, formats=["%Y-%m-%d"], help=AS_OF_HELP),
    fmt: str = typer.Option("gpkg", "--format", help="gpkg or geojson (workers: CSV)"),
) -> None:
    """Write the demo city's layers as files (one per layer), ready for `gridlink import`."""
    if fmt not in ("gpkg", "geojson"):
        console.print(f"[bold red]error:[/] unknown format {fmt!r}; use gpkg or geojson")
        raise typer.Exit(code=2)
    scale = _scale(seed, grids, cameras, events, streets, communities, as_of)
    started = time.perf_counter()
    with console.status(f"generating {scale.grids} grids ..."):
        city = frames_for(scale)
    generated = time.perf_counter()
    with console.status(f"writing {fmt} files ..."):
        paths = write_city(city, out_dir, fmt)
    table = Table("layer", "rows", "file")
    for layer in LOAD_ORDER:
        table.add_row(layer, f"{len(city[layer]):,}", str(paths[layer]))
    console.print(table)
    console.print(f"generated in {generated - started:.1f} s, written in "
                  f"{time.perf_counter() - generated:.1f} s")


@demo_app.command("load")
def load(
    seed: int = SEED, grids: int | None = GRIDS, cameras: int | None = CAMERAS,
    events: int | None = EVENTS, streets: int | None = STREETS,
    communities: int | None = COMMUNITIES,
    as_of: datetime | None = typer.Option(None, formats=["%Y-%m-%d"], help=AS_OF_HELP),
    directory: Path | None = typer.Option(
        None, "--dir", help="where the files are kept (default .gridlink/demo/<params>/)"),
) -> None:
    """Generate the demo files (or reuse them) and import them in ONE transaction."""

    scale = _scale(seed, grids, cameras, events, streets, communities, as_of)
    target = directory or demo_dir(scale)
    with console.status(f"preparing files in {target} ..."):
        ensure_files(scale, target)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
               "{task.total} layers"), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console) as progress, transaction() as session:
            task = progress.add_task("importing", total=len(LOAD_ORDER))
            counts = load_city(session, scale.seed, directory=target,
                               progress=lambda layer, rows: progress.update(
                                   task, advance=1, description=f"{layer}: {rows:,} rows"),
                               **_scale_kwargs(scale))
    except GridlinkError as exc:
        raise fail(exc) from exc
    console.print("loaded: " + ", ".join(f"{layer} {rows:,}" for layer, rows in counts.items()),
                  soft_wrap=True)


def _scale_kwargs(scale: CityScale) -> dict[str, int | date]:
    return {"grids": scale.grids, "cameras": scale.cameras, "events": scale.events,
            "streets": scale.streets, "communities": scale.communities, "as_of": scale.as_of}
