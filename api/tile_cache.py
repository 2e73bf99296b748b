"""An in-process cache of built vector tiles, by ETag, bounded in bytes (least recently used
out first).

Only tiles whose ETag follows a layer revision are kept (``api/routers/tiles.py``): such a tag
names the layer's revision, the query and the tile, so a cached tile is never stale, and a
write to the layer makes new tags (old entries age out). Each server process has its own.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class TileCache:
    """Tiles by ETag, at most ``max_bytes`` of them in total (0 = keep none)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._tiles: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, tag: str) -> bytes | None:
        """The tile cached under ``tag``, or None."""
        with self._lock:
            body = self._tiles.get(tag)
            if body is not None:
                self._tiles.move_to_end(tag)
            return body

    def put(self, tag: str, body: bytes) -> None:
        """Keep ``body`` under ``tag``, dropping the least recently used tiles over budget."""
        if len(body) > self.max_bytes:
            return
        with self._lock:
            if tag in self._tiles:
                return
            self._tiles[tag] = body
            self._bytes += len(body)
            while self._bytes > self.max_bytes:
                _, dropped = self._tiles.popitem(last=False)
                self._bytes -= len(dropped)

    @property
    def size_bytes(self) -> int:
        return self._bytes
