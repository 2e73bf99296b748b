"""``gridlink grids lineage CODE``: what a grid came from and became (geo.planning.lineage)."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from cli.output import console, fail
from geo.db import transaction
from geo.errors import GridlinkError
from geo.planning.lineage import lineage

grids_app = typer.Typer(help="Grids: their lineage over published changes.",
                        no_args_is_help=True)


@grids_app.command("lineage")
def lineage_command(
    code: str = typer.Argument(..., help="grid or micro-grid code (current or retired)"),
    as_json: bool = typer.Option(False, "--json", help="print the answer of "
                                 "GET /grids/{code}/lineage"),
) -> None:
    """Ancestors and descendants of a grid: date, kind, reason, shares of area and households.

    Exit code 1 when no grid ever had CODE.
    """
    try:
        with transaction() as session:
            found = lineage(session, code)
    except GridlinkError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(found, ensure_ascii=False, indent=1, default=str))
        return
    state = "current" if found["current"] else "retired"
    console.print(f"grid {code} ({state}, {len(found['versions'])} version(s))")
    for side in ("ancestors", "descendants"):
        console.print(_table(side, found[side]) if found[side] else f"no {side}")


def _table(title: str, links: list[dict[str, Any]]) -> Table:
    table = Table("published", "kind", "from", "to", "area m²", "area share",
                  "households", "household share", "reason", title=title)
    for k in links:
        share = k["household_share"]
        table.add_row(f"{k['published_at']:%Y-%m-%d %H:%M}", k["kind"],
                      f"{k['from']['code']} v{k['from']['version']}",
                      f"{k['to']['code']} v{k['to']['version']}", f"{k['area_m2']:.1f}",
                      f"{k['area_share']:.1%}", str(k["households"]),
                      "" if share is None else f"{share:.1%}", k["reason"] or "")
    return table
