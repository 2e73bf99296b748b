"""``gridlink keys``: API keys and their roles."""

from __future__ import annotations

import typer

from cli.audit import cli_actor
from cli.output import console, fail
from geo.audit import record
from geo.db import transaction
from geo.errors import GridlinkError
from geo.keys import ROLES, create_key, revoke_key

keys_app = typer.Typer(help="API keys and their roles.")


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
