"""``gridlink patrols generate`` and ``gridlink patrols stats``: patrol tasks (巡查)."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.table import Table

from cli.audit import cli_actor
from cli.output import console, fail
from geo.db import transaction
from geo.errors import GridlinkError
from geo.patrols import local_today
from geo.patrols.overdue import PATROL_FIELDS, patrol_stats
from geo.patrols.tasks import generate_tasks

patrols_app = typer.Typer(help="Patrol tasks (巡查): generate them, see what is overdue.",
                          no_args_is_help=True)

DATE_HELP = "YYYY-MM-DD, China Standard Time (default: today)"


@patrols_app.command("generate")
def generate_command(
    day: datetime | None = typer.Option(None, "--date", formats=["%Y-%m-%d"], help=DATE_HELP),
    area: str | None = typer.Option(None, help="district, street, community or grid code"),
) -> None:
    """Generate the tasks of every rule for the periods containing the date (running it
    again for the same period creates nothing)."""
    on = day.date() if day else local_today()
    try:
        with transaction() as session:
            cli_actor(session, "patrols generate")
            made = generate_tasks(session, on, area)
    except GridlinkError as exc:
        raise fail(exc) from exc
    console.print(f"{on}: {made.created} task(s) created, {made.existed} existed already, "
                  f"{made.outside} unit(s) outside every grid")


@patrols_app.command("stats")
def stats_command(
    day: datetime | None = typer.Option(None, "--date", formats=["%Y-%m-%d"], help=DATE_HELP),
    area: str | None = typer.Option(None, help="district, street, community or grid code"),
) -> None:
    """Per grid: tasks due on the date, done, open and overdue (most overdue first)."""
    on = day.date() if day else local_today()
    with transaction() as session:
        rows = patrol_stats(session, on, area)
    table = Table(*PATROL_FIELDS, title=f"巡查 {on}")
    for row in rows:
        table.add_row(*("" if row[k] is None else str(row[k]) for k in PATROL_FIELDS))
    console.print(table)
