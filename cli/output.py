"""The CLI's one console and how it reports a gridlink error (exit code 1)."""

from __future__ import annotations

import typer
from rich.console import Console

from geo.errors import GridlinkError

console = Console()

MAX_DETAILS = 50


def fail(exc: GridlinkError) -> typer.Exit:
    """Print the error and up to 50 of its details; the Exit to raise."""
    console.print(f"[bold red]error:[/] {exc.message}")
    for detail in exc.details[:MAX_DETAILS]:
        console.print(f"  - {detail}")
    if len(exc.details) > MAX_DETAILS:
        console.print(f"  ... and {len(exc.details) - MAX_DETAILS} more")
    return typer.Exit(code=1)
