"""geo.tempdir: one temporary directory per process; those of dead processes removed."""

from __future__ import annotations

import os
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
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["1", str(os.getpid())])
        with tempdir.scratch("gridlink-test-") as folder:
            assert Path(folder).parent == mine
        assert list(mine.iterdir()) == []
    finally:
        tempdir.leave(mine)
    assert not mine.exists()


def test_two_apps_in_one_process_share_the_directory(tmp_path: Path) -> None:
    """The first app to stop must not remove the directory the other still uses."""
    settings = get_settings().model_copy(update={"temp_dir": tmp_path})
    first = tempdir.enter(settings)
    second = tempdir.enter(settings)
    assert first == second
    tempdir.leave(first)
    with tempdir.scratch("gridlink-test-") as folder:
        assert Path(folder).parent == second
    tempdir.leave(second)
    assert not second.exists()
