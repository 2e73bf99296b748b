"""One temporary directory per process, so that a killed process leaves nothing behind.

Uploads, unpacked zips and bulk bodies of a serving process live under
``<GRIDLINK_TEMP_DIR>/<pid>`` (default ``<GRIDLINK_HOME>/tmp/<pid>``): :func:`enter` (at
application start-up) creates it and removes the directories of processes that no longer
run (a worker killed mid-upload); :func:`leave` removes it at a clean shutdown. Every use
takes a :func:`scratch` directory, removed when the request ends on any path. Outside a
serving process (CLI) :func:`scratch` uses the system's temporary directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from geo.settings import Settings

_current: Path | None = None
_users = 0
"""Apps started in this process and not yet stopped (tests run several at once)."""


def temp_root(settings: Settings) -> Path:
    """The folder holding one temporary directory per process."""
    return settings.temp_dir or settings.home / "tmp"


def process_running(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphans(root: Path) -> list[Path]:
    """Remove the directories under ``root`` of processes no longer running; returns them."""
    removed = []
    for folder in root.glob("*"):
        if folder.is_dir() and folder.name.isdigit() and not process_running(int(folder.name)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def enter(settings: Settings) -> Path:
    """Create this process's temporary directory (clearing orphans first); returns it."""
    global _current, _users
    root = temp_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    if _users == 0:
        remove_orphans(root)
    _current = root / str(os.getpid())
    _current.mkdir(exist_ok=True)
    _users += 1
    return _current


def leave(folder: Path) -> None:
    """Remove ``folder`` (made by :func:`enter`) once the last app of the process stops."""
    global _current, _users
    _users = max(_users - 1, 0)
    if _users == 0:
        shutil.rmtree(folder, ignore_errors=True)
        _current = None


def scratch(prefix: str) -> tempfile.TemporaryDirectory[str]:
    """A temporary directory in this process's folder, removed when its ``with`` ends."""
    if _current is not None:
        _current.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=prefix, dir=_current)
