"""The command line imports only what the command that runs needs (cli/lazy.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.lazy import loaded_command
from cli.main import GridlinkCommands, app

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("geopandas", "matplotlib", "pandas", "pyogrio", "shapely", "fastapi", "sqlalchemy",
         "geo.importer")


def modules_after(args: list[str]) -> tuple[int, list[str]]:
    """Run ``gridlink ARGS`` in a fresh interpreter; (exit code, the :data:`HEAVY` modules
    it had imported when it ended)."""
    script = ("import json, sys\nfrom cli.main import app\ncode = 0\ntry:\n"
              f"    app({args!r})\nexcept SystemExit as exc:\n    code = exc.code or 0\n"
              f"print(json.dumps([code, [m for m in {HEAVY!r} if m in sys.modules]]))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, check=True, timeout=120)
    code, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    return int(code), list(loaded)


def test_help_imports_no_command_module() -> None:
    assert modules_after(["--help"]) == (0, [])


def test_import_help_loads_the_import_command_without_the_importer() -> None:
    assert modules_after(["import", "--help"]) == (0, ["sqlalchemy"])


@pytest.mark.parametrize("name", list(GridlinkCommands.lazy))
def test_listed_help_is_the_commands_own(name: str) -> None:
    entry = GridlinkCommands.lazy[name]
    command = loaded_command(name, entry.target)
    own = (command.help or "").split("\n\n")[0].replace("\n", " ").strip()
    assert (command.name, own) == (name, entry.help)


def test_a_mistyped_command_gets_a_suggestion() -> None:
    result = CliRunner().invoke(app, ["imprt", "events.gpkg"])
    assert result.exit_code == 2
    assert "No such command 'imprt'. Did you mean 'import'?" in result.output
