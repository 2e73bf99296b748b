"""geo.importer.csv_batches: a large CSV's records are counted on its bytes when it is plain
(no quote, NUL or lone CR), and the count is the csv module's; any other file is counted by
the csv module."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from geo.catalog import get_layer
from geo.importer.csv_batches import CHUNK, _plain_scan, csv_batches, scan_csv

PLAIN = {
    "lf_endings": b"id,name\n1,a\n2,b\n",
    "crlf_endings_and_an_empty_line": b"id,name\r\n1,a\r\n\r\n2,b\r\n",
    "no_newline_at_the_end_and_two_empty_lines": b"id,name\n1,a\n\n\n2,b",
    "a_line_of_spaces": b"id,name\n \n1,a\n",
    "empty_lines_before_the_header": b"\n\r\nid,name\n1,a\n",
    "header_only": b"id,name\n",
    "empty_file": b"",
    "utf8_bom_and_chinese": "\ufeffid,name\n1,东城\n".encode(),
}
NOT_PLAIN = {
    "a_quoted_value_over_two_lines": b"id,name\n1,\"a\nb\"\n",
    "cr_line_endings": b"id,name\r1,a\r",
    "a_cr_at_the_end": b"id,name\n1,a\r",
    "a_nul_byte": b"id,name\n1,a\x00\n",
}


def _plain_records(path: Path, encoding: str) -> int | None:
    scan = _plain_scan(path, encoding)
    return None if scan is None else scan.records


def csv_module_records(path: Path, encoding: str) -> int:
    with open(path, encoding=encoding, newline="") as handle:
        return sum(1 for record in csv.reader(handle) if record)


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_a_plain_file_is_counted_on_its_bytes_as_the_csv_module_counts(
        tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.csv"
    path.write_bytes(PLAIN[name])
    encoding = "utf-8-sig" if name.startswith("utf8_bom") else "utf-8"
    assert _plain_records(path, encoding) == csv_module_records(path, encoding)


@pytest.mark.parametrize("name", sorted(NOT_PLAIN))
def test_any_other_file_is_left_to_the_csv_module(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.csv"
    path.write_bytes(NOT_PLAIN[name])
    assert _plain_records(path, "utf-8") is None


def test_gbk_is_plain_and_utf16_is_not(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes("id,name\n1,东城区\n2,西城区\n".encode("gbk"))
    assert _plain_records(path, "gbk") == 3
    assert scan_csv(path, None).records == 2  # read as GB18030 (not UTF-8): header left out
    wide = tmp_path / "utf16.csv"
    wide.write_bytes("id,name\n1,a\n".encode("utf-16"))
    assert _plain_records(wide, "utf-16") is None
    assert scan_csv(wide, None).records == 1


def test_lines_across_chunks_are_counted_once(tmp_path: Path) -> None:
    line = b"1," + b"x" * 97 + b"\r\n"  # 101 bytes
    header = b"id," + b"n" * (96 - 5) + b"\r\n"  # 96 bytes: a CR ends the first chunk
    rows = CHUNK // len(line) * 3 + 7
    path = tmp_path / "big.csv"
    path.write_bytes(header + line * rows + b"\r\n" + line)
    assert path.read_bytes()[CHUNK - 1:CHUNK + 1] == b"\r\n"
    assert _plain_records(path, "utf-8") == rows + 2 == csv_module_records(path, "utf-8")


def frames(path: Path, plain: bool, size: int) -> list[tuple[list[Any], list[str], list[int]]]:
    """Each batch of ``path`` read as events (lon/lat) by the Arrow path (``plain``) or the
    csv module's: its rows (geometry as WKT), its columns and its lines."""
    scanned = scan_csv(path, None)
    assert scanned.plain
    read = scanned if plain else replace(scanned, plain=False)
    out = []
    for batch in csv_batches(path, get_layer("events"), read, size):
        frame = pd.DataFrame(batch.frame.drop(columns="geometry")).assign(
            wkt=batch.frame.geometry.to_wkt())
        out.append((frame.astype(object).values.tolist(), list(frame.columns), batch.lines))
    return out


@pytest.mark.parametrize(("name", "encoding"), [("crlf_bom", "utf-8-sig"),
                                                ("gbk", "gbk")])
def test_a_plain_file_reads_as_the_csv_module_reads_it(tmp_path: Path, name: str,
                                                       encoding: str) -> None:
    text = ("client_id,category,reported_at,description,lon,lat\r\n"
            "EV1,garbage,2024-03-01T08:00:00+08:00, 东城 路口 ,113.30,40.08\r\n"
            "EV2,dispute,2024-03-02T08:00:00+08:00,,113.31,40.09\r\n"
            "EV3,,2024-03-03T08:00:00+08:00,x,not a number,40.10\r\n"
            "EV4,garbage,,y,113.32,40.11\r\n"
            "EV5,garbage,2024-03-05T08:00:00+08:00,z,113.33,40.12\r\n")
    path = tmp_path / f"{name}.csv"
    path.write_bytes(text.encode(encoding))
    arrow = frames(path, True, 2)
    assert arrow == frames(path, False, 2)
    assert [lines for _, _, lines in arrow] == [[2, 3], [4, 5], [6]]
    assert arrow[0][0][0] == ["EV1", "garbage", "2024-03-01T08:00:00+08:00", " 东城 路口 ",
                              "POINT (113.3 40.08)"]
    assert pd.isna(arrow[1][0][0][4])  # "not a number": no geometry, as before


def test_a_short_line_or_an_empty_line_is_read_by_the_csv_module(tmp_path: Path) -> None:
    short = tmp_path / "short.csv"
    short.write_bytes(b"id,name\n1,a\n2\n")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"id,name\n1,a\n\n2,b\n")
    assert (scan_csv(short, None).plain, scan_csv(short, None).records) == (False, 2)
    assert (scan_csv(empty, None).plain, scan_csv(empty, None).records) == (False, 2)


def test_repeated_column_names_are_read_by_the_csv_module(tmp_path: Path) -> None:
    path = tmp_path / "twice.csv"
    path.write_bytes(b"client_id,client_id,lon,lat\nEV1,EV2,113.3,40.08\n")
    assert frames(path, True, 10) == frames(path, False, 10) == [
        ([["EV1", "EV2", "POINT (113.3 40.08)"]], ["client_id", "client_id", "wkt"], [2])]
