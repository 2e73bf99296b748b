"""A zip bomb built in memory in a fraction of a second: 2 MB holding a 2 GiB member.

Compressing 2 GiB of zeros with ``zipfile`` takes ~35 s on the test machine, so the member's
deflate stream is one fully flushed 16 MiB block of zeros repeated (a full flush makes each
block independent) and the archive headers are written by hand. Nothing of 2 GiB is ever
written to disk or held in memory.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

BLOCK_BYTES = 1 << 24
BLOCKS = 128
MEMBER_BYTES = BLOCK_BYTES * BLOCKS  # 2 GiB
ZEROS_CRC32 = 0x4DBDF21C
"""CRC-32 of 2 GiB of zero bytes (zlib.crc32 over 128 blocks of 16 MiB; fixed)."""


def _deflated_zeros() -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(bytes(BLOCK_BYTES)) + packer.flush(zlib.Z_FULL_FLUSH)
    return block * BLOCKS + packer.flush()


def write_zip_bomb(path: Path, member: str = "grids.geojson",
                   declared_bytes: int = MEMBER_BYTES) -> Path:
    """Write a zip of one deflated member of 2 GiB of zeros; ``declared_bytes`` is the size
    its headers claim (smaller: a bomb whose headers lie). Returns ``path`` (~2 MB)."""
    data = _deflated_zeros()
    name = member.encode()
    head = struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, 8, 0, 0x21,
                       ZEROS_CRC32, len(data), declared_bytes, len(name), 0)
    central = struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 8, 0, 0x21,
                          ZEROS_CRC32, len(data), declared_bytes, len(name), 0, 0, 0, 0,
                          0o644 << 16, 0)
    offset = len(head) + len(name) + len(data)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(name),
                      offset, 0)
    path.write_bytes(head + name + data + central + name + end)
    return path
