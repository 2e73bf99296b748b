"""Commands loaded when they run: ``gridlink --help`` imports no command module.

Every command module pulls in what its work needs (geopandas, pyogrio, matplotlib,
FastAPI...): imported up front, the ``gridlink`` process started at ~370 MiB and took
seconds before printing its help. Here the top-level group knows each command only by
its name, a one-line help and where it lives (``"module:attribute"``, a ``typer.Typer``
sub-app or a command function); the module is imported when the command is resolved to
run (or its own ``--help`` is asked for), and only that one. ``gridlink --help`` lists
the one-line helps, which a test keeps equal to the commands' own docstrings
(tests/cli/test_lazy_cli.py).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

import typer
from typer import _click as click  # typer 0.2x vendors its own click: its types, not click's
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class LazyCommand:
    """A command by address: ``target`` is ``"module:attribute"`` (a ``typer.Typer`` or a
    command function); ``help`` the line ``gridlink --help`` shows for it."""

    target: str
    help: str


@cache
def loaded_command(name: str, target: str) -> click.Command:
    """The click command of ``target`` (see :class:`LazyCommand`), named ``name``;
    imported once per process."""
    module, attribute = target.split(":")
    found: Any = getattr(importlib.import_module(module), attribute)
    # built one level up, as the eager app was: typer turns an app holding a single
    # command (a sub-app like `grids`, or a bare function) into that command itself
    outer = typer.Typer()
    if isinstance(found, typer.Typer):
        outer.add_typer(found, name=name)
    else:
        outer.command(name)(found)
        outer.callback()(lambda: None)  # a callback keeps `outer` a group
    group = typer.main.get_command(outer)
    assert isinstance(group, TyperGroup)
    command = group.commands[name]
    return command


class LazyGroup(TyperGroup):
    """A typer group whose :attr:`lazy` commands are imported only to run (see the
    module docstring). Until then each is a stand-in carrying its one-line help (what help
    listings and typo suggestions need); eager commands (registered with typer as usual)
    are listed after them."""

    lazy: ClassVar[dict[str, LazyCommand]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        stand_ins = {name: TyperCommand(name, help=entry.help, short_help=entry.help)
                     for name, entry in self.lazy.items()}
        self.commands = {**stand_ins, **self.commands}

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        """The command to run: a lazy one is imported now (once per process)."""
        name, command, rest = super().resolve_command(ctx, args)
        if name is not None and name in self.lazy:
            command = loaded_command(name, self.lazy[name].target)
        return name, command, rest
