"""CSV streaming room: a large CSV read in batches, each row with the line it starts on.

A CSV of more than a batch of records is never held whole: a first pass decodes it
chunk by chunk (BOM, else UTF-8, else GB18030 with a note; ``encoding=`` wins, as for a
small file: :mod:`geo.importer.reading`) and counts its records; the second pass reads
``size`` records at a time with :mod:`csv` into text frames (the values as in the file, as
``pandas.read_csv(dtype=str, keep_default_na=False)`` reads a small file), with the line
each record starts on (header = line 1; a quoted value spanning lines moves the next
records down) and the geometry from lon/lat or WKT columns. A record with more values than
the header makes the file unreadable (its line named); a shorter one has its missing
values empty. Memory holds one batch.

A plain file (no quote, NUL or lone CR, no empty line, every line with the header's number
of values: checked on the bytes by the first pass, which then also counts its records
without the csv module) is read by Arrow's CSV reader instead, to the same frames; 10^5
records: first pass 0.31 → 0.07 s, reading 2.0 → 0.6 s (10^6: 2.4 → 1.0 s, 20 → 4.3 s).
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from geo.catalog import Layer
from geo.errors import UnreadableFile
from geo.importer.problems import short_error
from geo.importer.reading import csv_geometry

CSV_SUFFIXES = (".csv", ".txt")
CHUNK = 1 << 20
"""Bytes decoded at a time by the first pass."""


@dataclass
class CsvFile:
    """What the first pass learnt: the encoding to read with, its note, data records."""

    encoding: str
    note: str | None
    records: int
    plain: bool = False
    """Every line one record with the header's number of values, no empty line, no quote:
    read with Arrow's CSV reader (:func:`_arrow_batches`), record ``i`` on line ``i + 2``."""


@dataclass
class CsvBatch:
    """``frame``: text columns (and the geometry for layers that have one); ``lines``: the
    line each of its rows starts on."""

    frame: pd.DataFrame
    lines: list[int]


def scan_csv(path: Path, encoding: str | None) -> CsvFile:
    """Choose the encoding (see the module docstring) and count the data records: on the
    bytes for a file without quotes (:func:`_plain_scan`), else with :mod:`csv`."""
    chosen, note = _encoding(path, encoding)
    plain = _plain_scan(path, chosen)
    if plain is not None:
        return CsvFile(chosen, note, max(plain.records - 1, 0),
                       plain.uniform and plain.records > 1)
    with _opened(path, chosen) as reader:
        records = sum(1 for record in reader if record)
    return CsvFile(chosen, note, max(records - 1, 0))


ARROW_BLOCK = 1 << 16
"""Bytes Arrow's CSV reader parses at a time: its default (1 MiB) took a 10^6-record read's
peak RSS 92 MiB above the libraries' (a 10^6-event import to 320 MiB); 64 KiB: 18 MiB, as
the csv module (22 MiB)."""
PLAIN_ENCODINGS = frozenset({"utf-8", "utf-8-sig", "gb18030", "gbk"})
"""Encodings in which the bytes of ``"``, CR, LF, NUL and ``,`` only ever stand for those
characters (ASCII, and never a byte of a multi-byte character)."""


@dataclass
class _PlainScan:
    """A file without quotes: its records as :mod:`csv` counts them (the header included),
    and whether every line is a record with the header's number of values."""

    records: int = 0
    uniform: bool = True
    values: int | None = None
    """The header's number of values (its commas + 1)."""


def _plain_scan(path: Path, encoding: str) -> _PlainScan | None:
    """The records :mod:`csv` would read (empty lines skipped), counted on the bytes as the
    non-empty lines, for a file of a :data:`PLAIN_ENCODINGS` encoding without a quote, a NUL
    or a CR other than before LF (then a line is a record); None otherwise. 10^6 records
    (the bench's 10^6-event CSV): 0.6 s instead of the csv module's 2.4 s."""
    if codecs.lookup(encoding).name not in PLAIN_ENCODINGS:
        return None
    scan, tail = _PlainScan(), b""
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            if b'"' in chunk or b"\x00" in chunk:
                return None
            data = tail + chunk
            cut = data.rfind(b"\n") + 1
            body, tail = data[:cut], data[cut:]
            if b"\r" in body and body.count(b"\r") != body.count(b"\r\n"):
                return None
            _scan_lines(body, scan)
    if b"\r" in tail:
        return None
    if tail:
        _scan_lines(tail + b"\n", scan)
    return scan


def _scan_lines(body: bytes, scan: _PlainScan) -> None:
    """Count the records of ``body`` (whole lines, each ending with LF) into ``scan`` and
    check that each line has the header's number of values (numpy over the bytes)."""
    records = _non_empty_lines(body)
    scan.uniform &= records == body.count(b"\n")  # no empty line
    scan.records += records
    if not scan.uniform or not body:
        return
    raw = np.frombuffer(body, dtype=np.uint8)
    ends = np.flatnonzero(raw == ord("\n"))
    per_line = np.diff(np.searchsorted(np.flatnonzero(raw == ord(",")), ends), prepend=0)
    if scan.values is None:
        scan.values = int(per_line[0]) + 1
    scan.uniform = bool((per_line == scan.values - 1).all())


def _non_empty_lines(body: bytes) -> int:
    """Lines of ``body`` (whole lines, each ending with LF) other than empty ones."""
    if b"\n\n" in body or b"\n\r\n" in body or body.startswith((b"\n", b"\r\n")):
        lines = body.split(b"\n")  # the last one is the empty text after the last LF
        return len(lines) - lines.count(b"") - lines.count(b"\r")
    return body.count(b"\n")


def csv_batches(path: Path, layer: Layer, scanned: CsvFile, size: int) -> Iterator[CsvBatch]:
    """The CSV's records, ``size`` at a time (see the module docstring)."""
    if scanned.plain:
        yield from _arrow_batches(path, layer, scanned, size)
        return
    with _opened(path, scanned.encoding) as reader:
        header: list[str] | None = None
        rows: list[list[str]] = []
        lines: list[int] = []
        previous_end = 0
        for record in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not record:
                continue
            if header is None:
                header = record
                continue
            if len(record) > len(header):
                raise UnreadableFile(
                    f"{path.name} is not a readable CSV: line {start} has {len(record)} "
                    f"values, the header {len(header)}", [{"file": path.name, "line": start}])
            rows.append(record + [""] * (len(header) - len(record)))
            lines.append(start)
            if len(rows) == size:
                yield _batch(rows, header, lines, layer, path.name)
                rows, lines = [], []
        if rows and header is not None:
            yield _batch(rows, header, lines, layer, path.name)


def _batch(rows: list[list[str]], header: list[str], lines: list[int], layer: Layer,
           name: str) -> CsvBatch:
    return _with_geometry(pd.DataFrame(rows, columns=header, dtype=str), lines, layer, name)


def _with_geometry(frame: pd.DataFrame, lines: list[int], layer: Layer,
                   name: str) -> CsvBatch:
    if layer.geometry is not None:
        frame = csv_geometry(frame, name)
    return CsvBatch(frame, lines)


def _arrow_batches(path: Path, layer: Layer, scanned: CsvFile, size: int
                   ) -> Iterator[CsvBatch]:
    """A plain file's records (:attr:`CsvFile.plain`) ``size`` at a time, read by Arrow's
    CSV reader as text (values as in the file, empty ones empty): the same frames as the
    csv module's path (10^5 records with their geometry: 0.6 s against 2.0 s; Arrow's
    parsing alone 0.11 s). Repeated column names (Arrow would rename them) go the csv
    module's way."""
    with open(path, encoding=scanned.encoding, newline="") as handle:
        header = next(csv.reader(handle))
    if len(set(header)) < len(header):
        scanned = CsvFile(scanned.encoding, scanned.note, scanned.records)
        yield from csv_batches(path, layer, scanned, size)
        return
    reader = pacsv.open_csv(
        path, read_options=pacsv.ReadOptions(encoding=scanned.encoding, use_threads=False,
                                             block_size=ARROW_BLOCK),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            strings_can_be_null=False))
    done, waiting = 0, pa.table({name: pa.array([], pa.string()) for name in header})
    for block in reader:
        waiting = pa.concat_tables([waiting, pa.Table.from_batches([block])])
        while waiting.num_rows >= size:
            yield _arrow_batch(waiting.slice(0, size), done, layer, path.name)
            waiting, done = waiting.slice(size), done + size
    if waiting.num_rows:
        yield _arrow_batch(waiting, done, layer, path.name)


def _arrow_batch(rows: pa.Table, done: int, layer: Layer, name: str) -> CsvBatch:
    """Records ``done`` to ``done + len(rows)`` (0-based) of a plain file: on lines 2 on."""
    lines = list(range(done + 2, done + 2 + rows.num_rows))
    return _with_geometry(rows.to_pandas(), lines, layer, name)


@contextmanager
def _opened(path: Path, encoding: str) -> Iterator[Any]:
    """``csv.reader`` over the file decoded as ``encoding``; a record the csv module
    cannot parse (a NUL byte, a field over its size limit) makes the file unreadable."""
    with open(path, encoding=encoding, newline="") as handle:
        try:
            yield csv.reader(handle)
        except csv.Error as exc:
            raise UnreadableFile(f"{path.name} is not a readable CSV: {short_error(exc)}",
                                 [{"file": path.name}]) from exc


def _encoding(path: Path, encoding: str | None) -> tuple[str, str | None]:
    """(encoding, note): ``encoding`` if given, a BOM's, UTF-8 if the whole file decodes,
    else GB18030 (noted) if that decodes; else UnreadableFile naming the encodings tried."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    candidates: list[tuple[str, str | None]]
    if encoding:
        candidates = [(encoding, None)]
    elif head.startswith(codecs.BOM_UTF8):
        candidates = [("utf-8-sig", None)]
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = [("utf-16", None)]
    else:
        candidates = [("utf-8", None),
                      ("gb18030", f"{path.name} is not UTF-8: read as GB18030 (GBK)")]
    problem = ""
    for name, note in candidates:
        try:
            _decodes(path, name)
            return name, note
        except (UnicodeDecodeError, LookupError) as exc:
            problem = short_error(exc)
    raise UnreadableFile(f"{path.name} cannot be decoded as {encoding or 'UTF-8 or GB18030'}: "
                         f"{problem}; pass the right encoding",
                         [{"file": path.name, "field": "encoding"}])


def _decodes(path: Path, encoding: str) -> None:
    """Decode the whole file chunk by chunk (raises UnicodeDecodeError or LookupError)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            decoder.decode(chunk)
    decoder.decode(b"", final=True)
