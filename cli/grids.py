"""``gridlink grids lineage CODE``: what a grid came from and became (geo.planning.lineage)."""

from __future__ import annotations

import json
from typing import Any

import typer

from cli.output import fail
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
    typer.echo(f"grid {code} ({state}, {len(found['versions'])} version(s))")
    for side in ("ancestors", "descendants"):
        typer.echo(f"{side}:" if found[side] else f"no {side}")
        for link in found[side]:
            typer.echo("  " + link_line(link))


def link_line(link: dict[str, Any]) -> str:
    """One link as a line: when, kind, from → to, area and households moved, reason."""
    share = link["household_share"]
    homes = f"{link['households']} households" + ("" if share is None else f" ({share:.1%})")
    return (f"{link['published_at']:%Y-%m-%d %H:%M} {link['kind']}: "
            f"{link['from']['code']} v{link['from']['version']} -> "
            f"{link['to']['code']} v{link['to']['version']}, {link['area_m2']:.1f} m² "
            f"({link['area_share']:.1%}), {homes}; {link['reason'] or 'no reason given'}")
