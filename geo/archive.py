"""Unpacking zip archives (uploaded Shapefile zips...) with bounded disk, memory and time.

A 2 MB zip can declare or hold a 2 GiB member (a "zip bomb"). Before anything is written,
every member is checked by its *declared* size, the declared total and its compression
ratio; while unpacking, the *actual* bytes written are counted against the same limits (the
header may lie), in 1 MiB chunks, so memory stays flat. A refused archive raises
:class:`~geo.errors.TooLarge` (HTTP 413) and leaves nothing behind: the caller unpacks into
a temporary directory, and a member cut off half-way is removed here.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from geo.errors import Detail, TooLarge
from geo.settings import Settings, get_settings

CHUNK_BYTES = 1024 * 1024
RATIO_FREE_BYTES = 1024 * 1024
"""Members up to this size (bytes) are not ratio-checked: small, highly compressible
parts (a .prj, a DBF of blank-padded text) are harmless however well they compress."""


@dataclass(frozen=True)
class ZipLimits:
    """What an archive may unpack to.

    Attributes
    ----------
    max_total_bytes : int
        Most bytes all unpacked members may take together (declared and actual).
    max_ratio : float
        Highest uncompressed/compressed size ratio of a member over ``RATIO_FREE_BYTES``.
    """

    max_total_bytes: int
    max_ratio: float

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ZipLimits:
        """``GRIDLINK_MAX_UNZIPPED_MB`` and ``GRIDLINK_MAX_ZIP_RATIO``."""
        settings = settings or get_settings()
        return cls(int(settings.max_unzipped_mb * 1024 * 1024), settings.max_zip_ratio)


def _refuse(archive: str, message: str, detail: Detail) -> TooLarge:
    return TooLarge(f"{archive}: {message}", [{"file": archive, **detail}])


def check_declared(archive: zipfile.ZipFile, names: Iterable[str], limits: ZipLimits) -> None:
    """Refuse ``names`` of ``archive`` by their declared sizes, before unpacking anything.

    Raises
    ------
    TooLarge
        A member declares more than the total limit, the members together do, or a member
        over ``RATIO_FREE_BYTES`` compresses better than ``limits.max_ratio``.
    """
    label = Path(archive.filename or "archive.zip").name
    total = 0
    for name in names:
        info = archive.getinfo(name)
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FREE_BYTES and ratio > limits.max_ratio:
            raise _refuse(label, f"member {name} compresses {ratio:.0f}:1, more than the "
                          f"{limits.max_ratio:g}:1 allowed (GRIDLINK_MAX_ZIP_RATIO)",
                          {"member": name, "ratio": round(ratio), "limit": limits.max_ratio})
        if total > limits.max_total_bytes:
            raise _refuse(label, f"members unpack to more than {limits.max_total_bytes} bytes "
                          "(GRIDLINK_MAX_UNZIPPED_MB)",
                          {"member": name, "declared_bytes": total,
                           "limit_bytes": limits.max_total_bytes})


def extract_flat(archive: zipfile.ZipFile, names: Iterable[str], folder: Path,
                 limits: ZipLimits) -> list[Path]:
    """Unpack ``names`` into ``folder`` by base name (no path traversal), within ``limits``.

    Returns the written paths, in the order of ``names``. Raises TooLarge (see
    :func:`check_declared`, or a member writing more bytes than it declared or than the
    total limit) and ``zipfile.BadZipFile`` for a damaged member (CRC error); the member
    being written is removed on any error.
    """
    wanted = list(names)
    check_declared(archive, wanted, limits)
    label = Path(archive.filename or "archive.zip").name
    written: list[Path] = []
    total = 0
    for name in wanted:
        info = archive.getinfo(name)
        target = folder / Path(name).name
        try:
            total = _copy_member(archive, info, target, total, limits, label)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        written.append(target)
    return written


def _copy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, total: int,
                 limits: ZipLimits, label: str) -> int:
    """Copy one member to ``target`` in chunks, counting; returns the new running total."""
    size = 0
    with archive.open(info) as source, open(target, "wb") as out:
        while chunk := source.read(CHUNK_BYTES):
            size += len(chunk)
            if size > info.file_size or total + size > limits.max_total_bytes:
                raise _refuse(label, f"member {info.filename} unpacks to more bytes than "
                              "declared or allowed (GRIDLINK_MAX_UNZIPPED_MB)",
                              {"member": info.filename, "declared_bytes": info.file_size,
                               "limit_bytes": limits.max_total_bytes})
            out.write(chunk)
    return total + size
