"""geo.importer.seen_ids: an id added before is always flagged (no false "never seen"),
nulls never are, equal texts hash equal whatever the Arrow layout (chunks, slices), and
ids never added are rarely flagged."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from geo.importer.seen_ids import SeenIds, text_hashes


def test_ids_added_before_are_flagged() -> None:
    seen = SeenIds(1_000)
    first = seen.add(pa.array(["EV001", "EV002", None, "网格-1", ""]))
    assert first.tolist() == [False, False, False, False, False]
    again = seen.add(pa.chunked_array([pa.array(["x", "EV002"]), pa.array([None, "网格-1", ""])]))
    assert again.tolist() == [False, True, False, True, True]


def test_equal_texts_hash_equal_in_any_layout() -> None:
    plain = pa.array(["a", "ab", "ba", "EV00000005", None, ""])
    sliced = pa.array(["zzz", "a", "ab", "ba", "EV00000005", None, ""]).slice(1)
    chunked = pa.chunked_array([pa.array(["a", "ab"]), pa.array(["ba", "EV00000005", None, ""])])
    valid, hashes = text_hashes(plain)
    assert valid.tolist() == [True, True, True, True, False, True]
    for other in (sliced, chunked):
        assert text_hashes(other)[1].tolist() == hashes.tolist()
    assert len(set(hashes[valid].tolist())) == 5  # "ab" and "ba" differ


def test_ids_never_added_are_rarely_flagged() -> None:
    seen = SeenIds(100_000)
    added = seen.add(pa.array([f"EV{i:08d}" for i in range(100_000)]))
    assert not added.any()
    assert seen.add(pa.array([f"EV{i:08d}" for i in range(0, 100_000, 7)])).all()
    other = seen.add(pa.array([f"XX{i:08d}" for i in range(100_000)]))
    assert 0 < float(np.mean(other)) < 0.08
