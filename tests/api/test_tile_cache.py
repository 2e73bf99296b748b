"""api.tile_cache: tiles by ETag, least recently used out first, within a byte budget."""

from __future__ import annotations

from api.tile_cache import TileCache


def test_least_recently_used_tiles_leave_first_within_the_budget() -> None:
    cache = TileCache(max_bytes=10)
    cache.put("a", b"1234")
    cache.put("b", b"5678")
    assert cache.get("a") == b"1234"  # a is now the most recently used
    cache.put("c", b"90ab")  # 12 bytes > 10: b leaves
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"1234", None, b"90ab")
    assert cache.size_bytes == 8


def test_a_tile_larger_than_the_budget_is_not_kept() -> None:
    cache = TileCache(max_bytes=3)
    cache.put("big", b"1234")
    assert cache.get("big") is None and cache.size_bytes == 0
