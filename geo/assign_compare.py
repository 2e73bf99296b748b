"""A re-assignment compared in memory: the stored ``event_assignments`` rows of the selected
events are read packed (:data:`_STORED_SQL`: a few text values, parsed by pyarrow's CSV
reader), compared field by field with the rows the engine computed (vectorised with
pyarrow/numpy; codes as positions in the grid and camera code lists), and only the rows that
differ are built (:func:`geo.first_assignment_rows.first_assignment_rows` with ``only``) and
sent to the one writer (:func:`geo.event_assignments.write_changed`). A re-run where
nothing changed builds and writes nothing.

"Unchanged" is the staged path's rule (:func:`geo.event_assignments.unchanged_sql`: the
:data:`geo.event_assignments.COLUMNS` not distinct). Each stored row's ``xmin`` travels with
it: the writer updates a changed row only where it still holds that ``xmin``, so a row
another writer rewrote meanwhile is kept as that writer left it (the caller reads the stored
rows *before* selecting the events, so a row rewritten between the two reads differs from a
row computed from the newer event and is caught too).

Codes are read as text fields separated by tabs (:data:`_FIELDS`; NULL as
:data:`NULL_MARK`, dedicated grids joined by :data:`SEP`): gridlink's codes are digits
(docs/DOMAIN), and a code holding a tab or newline would make the parse fail, never pass.
Reads only; never writes.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from geo.assign_arrays import NONE, CameraArrays, Computed, GridArrays, Selected
from geo.assign_stage import codes_at, outside_row
from geo.db import local_settings, psycopg_connection
from geo.first_assignment_rows import Key, StoredKeys

NULL_MARK = "\\N"
"""A NULL text field in the packed rows."""
SEP = "\x1f"
"""Between the codes of a dedicated-grid array in the packed rows."""
UNKNOWN = -2
"""Position of a stored code that is in no list of this run (a retired grid, a camera gone
offline): it equals no computed position."""


def _fields() -> list[tuple[str, str, pa.DataType]]:
    """(name, SQL of stored row ``a``, parsed type) of each packed field."""
    def text_of(sql: str) -> str:
        return f"coalesce({sql}, '{NULL_MARK}')"

    chain = " || '/' || ".join(text_of(f"a.{c}_code") for c in ("district", "street",
                                                                   "community"))
    return [("id", "a.event_id", pa.int64()), ("xmin", "a.xmin", pa.int64()),
            ("chain", chain, pa.string()), ("grid", text_of("a.grid_code"), pa.string()),
            ("micro", text_of("a.micro_grid_code"), pa.string()),
            ("dedicated", text_of(f"array_to_string(a.dedicated_grid_codes, E'\\x{ord(SEP):02x}')"),
             pa.string()),
            ("assignment", text_of("a.assignment"), pa.string()),
            ("nearest", text_of("a.nearest_grid_code"), pa.string()),
            ("distance", "coalesce(a.nearest_distance_m::text, '')", pa.float64()),
            ("cameras", text_of(f"array_to_string(a.camera_codes, E'\\x{ord(SEP):02x}')"),
             pa.string())]


_STORED_SQL = ("SELECT convert_to(string_agg(concat_ws(E'\\t', {fields}) || E'\\n', ''), 'UTF8')"
               " FROM {source} GROUP BY a.event_id >> {shift}")
"""The stored rows of the selected events, one tab-separated line each, packed by the server
into one value per 2^:data:`PACK_SHIFT` ids (as :data:`geo.assign_memory._PACKED_SQL` packs
the events), grouped by hashing (:data:`_NO_SORT`)."""
PACK_SHIFT = 18
"""One packed value per 2^18 (262,144) ids: ~45 MB at the ~170 bytes of a row with three
cameras, ~350 MB at most with 50 (a text value holds at most 1 GB; the events' 32-byte rows
take 2^24 ids a value). Each value is parsed as it arrives (:func:`read_stored`), so the
client holds the text of one value at a time, not of every stored row (1.7 GB at 10^7)."""
_NO_SORT = {"enable_sort": "off"}
"""A sort of every row by the few group keys spilled to disk (1.5–3 s at 10^6 rows, load
~5); the hashed groups are one value each."""


def read_stored(session: Session, where: str | None, params: dict[str, Any], k: int
                ) -> pa.Table:
    """The stored assignment rows of ``events e`` matching ``where`` (code-made SQL,
    ``:name`` placeholders bound from ``params``; None: every stored row, no join with
    ``events``), as a table of :func:`_fields` plus ``ncams`` (cameras stored, -1: NULL)
    and ``c0`` … ``c{k-1}`` (their first ``k`` codes, :data:`NULL_MARK` after the last)."""
    fields = _fields()
    source = ("event_assignments a" if where is None else
              f"events e JOIN event_assignments a ON a.event_id = e.id WHERE {where}")
    sql = _STORED_SQL.format(fields=", ".join(sql for _, sql, _ in fields), source=source,
                             shift=PACK_SHIFT)
    sql = re.sub(r"(?<!:):(\w+)", r"%(\1)s", sql)
    cur = psycopg_connection(session).cursor(binary=True)
    with local_settings(session, _NO_SORT):
        parts = [parsed_lines(part, fields) for (part,) in cur.stream(sql, params or None)]
    if not parts:
        return _cameras(pa.table({name: pa.array([], type) for name, _, type in fields}), k)
    return _cameras(pa.concat_tables(parts), k)


def parsed_lines(packed: bytes, fields: list[tuple[str, str, pa.DataType]]) -> pa.Table:
    """The lines of a value packed by the server (text fields separated by tabs, one line
    a row: nothing quoted or escaped) as a table of ``fields`` (name, SQL, type)."""
    return pacsv.read_csv(
        io.BytesIO(packed),
        read_options=pacsv.ReadOptions(column_names=[name for name, _, _ in fields],
                                       block_size=1 << 24),
        parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False,
                                         escape_char=False),
        convert_options=pacsv.ConvertOptions(column_types={n: t for n, _, t in fields},
                                             null_values=[""], strings_can_be_null=False))


def _cameras(stored: pa.Table, k: int) -> pa.Table:
    """``stored`` with its ``cameras`` field split: ``ncams`` and ``c0`` … ``c{k-1}``."""
    cameras = stored.column("cameras").combine_chunks()
    lists = pc.split_pattern(cameras, SEP)
    count = np.where(pc.equal(cameras, "").to_numpy(zero_copy_only=False), 0,
                     pc.list_value_length(lists).to_numpy(zero_copy_only=False))
    count[pc.equal(cameras, NULL_MARK).to_numpy(zero_copy_only=False)] = -1
    stored = stored.drop_columns(["cameras"]).append_column("ncams",
                                                            pa.array(count, pa.int32()))
    flat = pc.list_flatten(lists)
    starts = lists.offsets.to_numpy()[:-1] - lists.offsets[0].as_py()
    for j in range(k):
        has = count > j
        element = flat.take(pa.array(np.where(has, starts + j, 0)))
        stored = stored.append_column(f"c{j}", pc.if_else(pa.array(has), element, NULL_MARK))
    return stored


@dataclass
class Comparison:
    """What a re-assignment changes: ``changed`` (True at the event positions whose row is
    new or differs), ``seen_xmin`` (per event position, the stored row's ``xmin`` when read;
    -1: none stored), ``stored_at`` (per event position, its row in the stored rows;
    :data:`NONE`: none) and the counts of every selected event's new row."""

    changed: NDArray[np.bool_]
    seen_xmin: NDArray[np.int64]
    stored_at: NDArray[np.int64]
    covered: int
    snapped: int
    unassigned: int
    with_cameras: int


def _positions(values: pa.ChunkedArray, codes: pa.Array) -> NDArray[np.int64]:
    """Position of each stored code in ``codes`` (:data:`NONE` for NULL, :data:`UNKNOWN`
    for a code not in the list)."""
    found = pc.index_in(values, value_set=codes)
    out = found.fill_null(UNKNOWN).to_numpy().astype(np.int64)
    out[pc.equal(values, NULL_MARK).to_numpy(zero_copy_only=False)] = NONE
    return out


def _text(value: str | None) -> str:
    return NULL_MARK if value is None else value


def _chain_text(chains: dict[str, tuple[Any, Any]], community: str | None) -> str:
    """The packed ``chain`` field of a row in ``community`` (street and district from
    ``chains``: :func:`geo.first_assignment_rows.admin_chains`)."""
    street, district = chains.get(community, (None, None)) if community else (None, None)
    return "/".join(_text(v) for v in (district, street, community))


def compare(stored: pa.Table, events: Selected, grids: GridArrays, cams: CameraArrays,
            computed: Computed, picks: NDArray[np.int64], nearest: dict[int, Any],
            tolerance_m: float, chains: dict[str, tuple[Any, Any]]) -> Comparison:
    """Compare the ``stored`` rows (:func:`read_stored`) with the rows computed for
    ``events`` (``picks``: their camera positions by rank,
    :func:`geo.assign_stage.camera_picks_by_rank`; ``nearest``: nearest-grid rows of the
    events outside every ordinary grid, by position; ``chains``: street and district of
    each community)."""
    n, owners, k = len(events.ids), computed.owners, picks.shape[1]
    count = (picks != NONE).sum(axis=1)
    order = np.argsort(events.ids, kind="stable")
    ids = stored.column("id").to_numpy()
    at = np.minimum(np.searchsorted(events.ids[order], ids), max(n - 1, 0))
    known = events.ids[order][at] == ids if n else np.zeros(len(ids), dtype=bool)
    rows, pos = np.flatnonzero(known), order[at[known]]
    seen = np.full(n, -1, dtype=np.int64)
    seen[pos] = stored.column("xmin").to_numpy()[rows]
    mine = stored if len(rows) == len(ids) else stored.take(rows)
    same = np.zeros(n, dtype=bool)
    same[pos] = _covered_same(mine, pos, grids, cams, computed, picks, count, chains)
    kinds = {"snapped": 0, "unassigned": 0}
    stored_at = np.full(n, NONE, dtype=np.int64)
    stored_at[pos] = rows
    for p in np.flatnonzero(owners.grid == NONE).tolist():
        row = outside_row(p, events, computed, nearest.get(p), tolerance_m, grids.codes)
        kinds[row[5]] += 1
        if stored_at[p] != NONE:
            same[p] = _outside_same(stored.slice(int(stored_at[p]), 1).to_pylist()[0], row,
                                    chains, cams, k)
    return Comparison(~same, seen, stored_at, int(np.count_nonzero(owners.grid != NONE)),
                      kinds["snapped"], kinds["unassigned"], int(np.count_nonzero(count)))


def _covered_same(stored: pa.Table, pos: NDArray[np.int64], grids: GridArrays,
                  cams: CameraArrays, computed: Computed, picks: NDArray[np.int64],
                  count: NDArray[np.int64], chains: dict[str, tuple[Any, Any]]
                  ) -> NDArray[np.bool_]:
    """Per stored row (its event at position ``pos``): whether the event is covered by an
    ordinary grid and its stored row equals the computed one (vectorised)."""
    grid = computed.owners.grid[pos]
    chain_of = pa.array([_chain_text(chains, c) for c in grids.community.tolist()]
                        + [NULL_MARK], pa.string())  # last: outside rows (checked apart)
    dedicated, texts = np.zeros(len(computed.owners.grid), dtype=np.int64), [NULL_MARK]
    for p, positions in computed.owners.dedicated.items():
        dedicated[p] = len(texts)
        texts.append(SEP.join(codes_at(grids.codes, positions)))
    grid_codes = pa.array(grids.codes.tolist(), pa.string())
    same = (grid != NONE) & (_positions(stored.column("grid"), grid_codes) == grid)
    same &= _positions(stored.column("micro"), grid_codes) == computed.owners.micro[pos]
    for name, expected in (
            ("chain", chain_of.take(pa.array(np.where(grid == NONE, len(grids.codes), grid)))),
            ("dedicated", pa.array(texts, pa.string()).take(pa.array(dedicated[pos]))),
            ("assignment", "covered"), ("nearest", NULL_MARK)):
        same &= pc.equal(stored.column(name), expected).to_numpy(zero_copy_only=False)
    same &= stored.column("distance").is_null().to_numpy(zero_copy_only=False)
    same &= stored.column("ncams").to_numpy() == count[pos]
    camera_codes = pa.array(cams.codes.tolist(), pa.string())
    for j in range(picks.shape[1]):
        same &= _positions(stored.column(f"c{j}"), camera_codes) == picks[pos, j]
    return same


def _outside_same(stored: dict[str, Any], row: tuple[Any, ...],
                  chains: dict[str, tuple[Any, Any]], cams: CameraArrays, k: int) -> bool:
    """Whether the ``stored`` row (one row of :func:`read_stored`) equals ``row``
    (:func:`geo.assign_stage.outside_row`) of an event outside every ordinary grid."""
    _, grid, micro, community, dedicated, assignment, near, distance, picks = row
    expected = {"chain": _chain_text(chains, community), "grid": _text(grid),
                "micro": _text(micro), "assignment": assignment, "nearest": _text(near),
                "dedicated": SEP.join(dedicated) if dedicated else NULL_MARK,
                "distance": distance, "ncams": len(picks),
                **{f"c{j}": str(cams.codes[picks[j]]) if j < len(picks) else NULL_MARK
                   for j in range(k)}}
    return all(stored[name] == value for name, value in expected.items())


def stored_keys(stored: pa.Table, found: Comparison) -> StoredKeys:
    """The daily rollup keys (district, street, community, grid) of the ``stored`` rows
    (:func:`read_stored`) of the events ``found`` changed: the keys the rollups count them in
    until their new rows are written (:class:`geo.first_assignment_rows.StoredKeys`)."""
    at = np.where(found.changed, found.stored_at, NONE)
    rows = pa.array(at[at != NONE])
    keys, at[at != NONE] = numbered_keys(pc.binary_join_element_wise(
        stored.column("chain").take(rows).combine_chunks(),
        stored.column("grid").take(rows).combine_chunks(), "/"))
    return StoredKeys(keys, at)


KEY_SQL = " || '/' || ".join(f"coalesce({{alias}}.{c}, '{NULL_MARK}')" for c in (
    "district_code", "street_code", "community_code", "grid_code"))
"""SQL of a rollup key as one text field (``{alias}``: the row's), as :func:`numbered_keys`
reads it: the four codes joined by ``/``, NULL as :data:`NULL_MARK`."""


def numbered_keys(texts: pa.Array) -> tuple[list[Key], NDArray[np.int64]]:
    """The distinct rollup keys of ``texts`` (district, street, community and grid codes
    joined by ``/``, NULL as :data:`NULL_MARK`: :data:`KEY_SQL`) and each text's position in
    them."""
    encoded = pc.dictionary_encode(texts)
    return ([_key(text) for text in encoded.dictionary.to_pylist()],
            encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64))


def _key(packed: str) -> Key:
    district, street, community, grid = (None if code == NULL_MARK else code
                                         for code in packed.split("/"))
    return district, street, community, grid
