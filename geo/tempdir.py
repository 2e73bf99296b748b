"""One temporary directory per process, so that a killed process leaves nothing behind.

Uploads, unpacked zips and every other temporary file of a serving process live under
``<GRIDLINK_TEMP_DIR>/<pid>`` (default ``<GRIDLINK_HOME>/tmp/<pid>``): :func:`enter` makes
it Python's ``tempfile`` directory and removes the directories of processes that no longer
run (a worker killed mid-upload); :func:`leave` removes it at a clean shutdown. Each use
still removes its own files on every path (``TemporaryDirectory``/``finally``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from geo.settings import Settings


def temp_root(settings: Settings) -> Path:
    """The folder holding one temporary directory per process."""
    return settings.temp_dir or settings.home / "tmp"


def _running(pid: int) -> bool:
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
        if folder.is_dir() and folder.name.isdigit() and not _running(int(folder.name)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def enter(settings: Settings) -> Path:
    """Create this process's temporary directory, make it ``tempfile``'s, clear orphans."""
    root = temp_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    remove_orphans(root)
    mine = root / str(os.getpid())
    mine.mkdir(exist_ok=True)
    tempfile.tempdir = str(mine)
    return mine


def leave(folder: Path) -> None:
    """Remove ``folder`` (made by :func:`enter`) and restore the system default."""
    shutil.rmtree(folder, ignore_errors=True)
    if tempfile.tempdir == str(folder):
        tempfile.tempdir = None
