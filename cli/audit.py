"""``gridlink audit`` (read the audit trail) and who the command line writes as."""

from __future__ import annotations

import getpass
import json
from datetime import datetime

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from cli.output import console
from geo.audit import Actor, AuditFilter, act_as, audit_rows, record
from geo.db import transaction


def cli_actor(session: Session, command: str) -> Actor:
    """Declare the operating-system user running ``gridlink <command>`` as the transaction's
    actor (role None: the command line has the database's rights) and record the command."""
    actor = Actor(f"cli:{getpass.getuser()}", route=f"cli {command}")
    act_as(session, actor)
    record(session, actor, "command", "request", command)
    return actor


def audit_command(
    since: datetime | None = typer.Option(None, help="from this time (inclusive, ISO 8601)"),
    until: datetime | None = typer.Option(None, help="before this time (exclusive)"),
    key_prefix: str | None = typer.Option(None, "--key", help="the key's first 7 characters"),
    entity: str | None = typer.Option(None, help="grids, cameras, events, api_key, request..."),
    entity_id: str | None = typer.Option(None, "--id", help="a code or id of that entity"),
    route: str | None = typer.Option(None, help='e.g. "POST /import/{layer}"'),
    limit: int = typer.Option(50, min=1, max=10_000),
    offset: int = typer.Option(0, min=0),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line, with "
                                 "before/after"),
) -> None:
    """Read the audit trail, newest first: who changed what, when, through which route."""
    with transaction() as session:
        rows, total = audit_rows(session, AuditFilter(
            since=since, until=until, key_prefix=key_prefix, entity=entity,
            entity_id=entity_id, route=route, limit=limit, offset=offset))
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, default=str, ensure_ascii=False))
        return
    table = Table("at", "key", "role", "actor", "route", "action", "entity", "id",
                  title=f"{len(rows)} of {total} audit rows")
    for r in rows:
        table.add_row(f"{r['at']:%Y-%m-%d %H:%M:%S}", r["key_prefix"] or "", r["role"] or "",
                      r["actor"], r["route"] or "", r["action"], r["entity"],
                      r["entity_id"] or "")
    console.print(table)
