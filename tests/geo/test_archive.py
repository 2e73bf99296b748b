"""geo.archive: zip members checked by declared size, ratio and actual bytes."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest

from geo.archive import ZipLimits, extract_flat
from geo.errors import TooLarge
from tests.zip_bomb import MEMBER_BYTES, write_zip_bomb

LIMITS = ZipLimits(max_total_bytes=100 * 1024 * 1024, max_ratio=200)


def test_the_bomb_is_what_it_claims(tmp_path: Path) -> None:
    bomb = write_zip_bomb(tmp_path / "bomb.zip")
    assert bomb.stat().st_size < 2_200_000
    with zipfile.ZipFile(bomb) as archive:
        assert archive.getinfo("grids.geojson").file_size == MEMBER_BYTES == 2**31
        with archive.open("grids.geojson") as member:
            assert member.read(1 << 20) == bytes(1 << 20)


def test_zip_bomb_is_refused_before_unpacking(tmp_path: Path) -> None:
    bomb = write_zip_bomb(tmp_path / "bomb.zip")
    out = tmp_path / "out"
    out.mkdir()
    started = time.monotonic()
    with zipfile.ZipFile(bomb) as archive, pytest.raises(TooLarge) as refused:
        extract_flat(archive, ["grids.geojson"], out, LIMITS)
    assert time.monotonic() - started < 0.5
    assert refused.value.details == [{"file": "bomb.zip", "member": "grids.geojson",
                                      "ratio": 1028, "limit": 200}]
    assert list(out.iterdir()) == []


def test_over_the_total_is_refused_by_declared_size(tmp_path: Path) -> None:
    bomb = write_zip_bomb(tmp_path / "bomb.zip")
    out = tmp_path / "out"
    out.mkdir()
    with zipfile.ZipFile(bomb) as archive, pytest.raises(TooLarge) as refused:
        extract_flat(archive, ["grids.geojson"], out, ZipLimits(10**6, max_ratio=10**6))
    assert refused.value.details == [{"file": "bomb.zip", "member": "grids.geojson",
                                      "declared_bytes": MEMBER_BYTES, "limit_bytes": 10**6}]
    assert list(out.iterdir()) == []


def test_a_member_writing_more_than_its_total_stops_while_unpacking(tmp_path: Path) -> None:
    archive_path = tmp_path / "two.zip"
    with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.csv", b"x" * 3000)
        archive.writestr("b.csv", b"y" * 3000)
    out = tmp_path / "out"
    out.mkdir()
    with zipfile.ZipFile(archive_path) as archive, pytest.raises(TooLarge):
        extract_flat(archive, ["a.csv", "b.csv"], out, ZipLimits(5000, max_ratio=10**6))
    assert list(out.iterdir()) == []


def test_lying_header_is_caught_while_unpacking(tmp_path: Path) -> None:
    """Headers claiming 1 MiB for 2 GiB: zipfile stops at the claimed size and the CRC
    check fails; nothing is left behind and no more than 1 MiB was written."""
    bomb = write_zip_bomb(tmp_path / "liar.zip", declared_bytes=1 << 20)
    out = tmp_path / "out"
    out.mkdir()
    with zipfile.ZipFile(bomb) as archive, pytest.raises(zipfile.BadZipFile):
        extract_flat(archive, ["grids.geojson"], out, LIMITS)
    assert list(out.iterdir()) == []


def test_small_members_unpack_flat(tmp_path: Path) -> None:
    archive_path = tmp_path / "shape.zip"
    with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("deep/dir/grids.prj", b" " * 50_000)  # 1000:1 but small
        archive.writestr("../grids.cpg", b"UTF-8")
    out = tmp_path / "out"
    out.mkdir()
    with zipfile.ZipFile(archive_path) as archive:
        written = extract_flat(archive, ["deep/dir/grids.prj", "../grids.cpg"], out, LIMITS)
    assert written == [out / "grids.prj", out / "grids.cpg"]
    assert (out / "grids.cpg").read_bytes() == b"UTF-8"
    assert (out / "grids.prj").stat().st_size == 50_000
