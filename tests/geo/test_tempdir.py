"""geo.tempdir: one temporary directory per process; those of dead processes removed."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from geo import tempdir
from geo.settings import get_settings


def test_enter_clears_orphans_and_leave_removes_its_own(tmp_path: Path) -> None:
    settings = get_settings().model_copy(update={"temp_dir": tmp_path})
    orphan = tmp_path / "999999999"
    orphan.mkdir()
    (orphan / "half.zip").write_bytes(b"PK")
    alive = tmp_path / "1"  # pid 1 always runs: its directory is kept
    alive.mkdir()
    mine = tempdir.enter(settings)
    try:
        assert mine == tmp_path / str(os.getpid())
        assert tempfile.gettempdir() == str(mine)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["1", str(os.getpid())])
    finally:
        tempdir.leave(mine)
    assert not mine.exists()
    assert tempfile.tempdir is None
