"""The work tables of an in-memory assignment run (:mod:`geo.assign_memory`) and the SQL
that decodes them into ``event_assignments`` rows for the one writer
(:func:`geo.event_assignments.write_staged`).

Grids and cameras are numbered as the arrays number them; covered events travel as
integers through a binary COPY (a fixed-size numpy record per row), their dedicated grids
and the few events outside every grid as text rows. Table names are generated here, never
taken from input. Never commits.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.assign_arrays import NONE, CameraArrays, Computed, GridArrays, Selected
from geo.db import psycopg_connection


class AssignStage:
    """The run's work tables (names generated here, never from input) and the SQL that
    decodes them into ``event_assignments`` rows.

    ``{p}_grid(i, code, community_code, street_code, district_code)`` and
    ``{p}_camera(i, code)`` number the grids and cameras as the arrays do; the covered events
    go in as integers through a binary COPY (``{p}_covered(id, g, m, c1..ck)``, -1 for
    none), their dedicated grids and the events outside every grid as text rows.
    """

    def __init__(self, session: Session, k: int) -> None:
        self.session, self.k = session, k
        self.grid_codes: NDArray[np.object_] = np.array([], dtype=object)
        self.p = f"assign_{uuid.uuid4().hex[:12]}"
        self.made: list[str] = []

    def _create(self, name: str, sql: str, params: dict[str, Any] | None = None) -> str:
        table = f"{self.p}_{name}"
        self.session.execute(text(f"CREATE UNLOGGED TABLE {table} {sql}"), params or {})
        self.made.append(table)
        return table

    def lists(self, grids: GridArrays, cams: CameraArrays, more: list[str]) -> None:
        """The numbered grids (with their admin chain) and cameras."""
        self.grid_codes = grids.codes
        self._create("grid", """AS SELECT (u.o - 1)::int AS i, u.code, u.community_code,
              s.code AS street_code, d.code AS district_code
            FROM unnest(CAST(:codes AS text[]), CAST(:communities AS text[]))
                 WITH ORDINALITY AS u(code, community_code, o)
            LEFT JOIN admin_areas c ON c.code = u.community_code
            LEFT JOIN admin_areas s ON s.code = c.parent_code
            LEFT JOIN admin_areas d ON d.code = s.parent_code""",
                     {"codes": grids.codes.tolist(), "communities": grids.community.tolist()})
        self._create("camera", "AS SELECT (o - 1)::int AS i, code FROM"
                     " unnest(CAST(:codes AS text[])) WITH ORDINALITY AS u(code, o)",
                     {"codes": cams.codes.tolist()})
        self._create("chain", """AS SELECT c.code AS community_code, s.code AS street_code,
              d.code AS district_code FROM admin_areas c
            LEFT JOIN admin_areas s ON s.code = c.parent_code
            LEFT JOIN admin_areas d ON d.code = s.parent_code WHERE c.code = ANY(:more)""",
                     {"more": sorted({c for c in more if c is not None})})
        for name in ("grid", "camera"):
            self.session.execute(text(f"ALTER TABLE {self.p}_{name} ADD PRIMARY KEY (i)"))

    def covered(self, events: Selected, computed: Computed) -> None:
        """The covered events as integers: id, grid, micro-grid, k camera positions."""
        cams = ", ".join(f"c{j} int" for j in range(1, self.k + 1))
        table = self._create("covered", f"(id bigint, g int, m int{', ' if cams else ''}{cams})")
        mine = np.flatnonzero(computed.owners.grid != NONE)
        picks = camera_picks_by_rank(computed, len(events.ids), self.k)
        fields = [("n", ">i2"), ("l0", ">i4"), ("id", ">i8"), ("l1", ">i4"), ("g", ">i4"),
                  ("l2", ">i4"), ("m", ">i4")]
        for j in range(self.k):
            fields += [(f"lc{j}", ">i4"), (f"c{j}", ">i4")]
        rows = np.zeros(len(mine), dtype=np.dtype(fields))
        rows["n"], rows["l0"] = 3 + self.k, 8
        rows["id"], rows["g"], rows["m"] = (events.ids[mine], computed.owners.grid[mine],
                                            computed.owners.micro[mine])
        rows["l1"] = rows["l2"] = 4
        for j in range(self.k):
            rows[f"lc{j}"], rows[f"c{j}"] = 4, picks[mine, j]
        cursor = psycopg_connection(self.session).cursor()
        with cursor.copy(f"COPY {table} FROM STDIN (FORMAT binary)") as cp:
            cp.write(b"PGCOPY\n\xff\r\n\x00" + bytes(8) + rows.tobytes() + b"\xff\xff")

    def others(self, events: Selected, computed: Computed, nearest: dict[int, Any],
               tolerance_m: float) -> None:
        """Dedicated grids of covered events, and the full rows of the events outside
        every ordinary grid (snapped or unassigned)."""
        owners = computed.owners
        ded = self._create("dedicated", "(id bigint, codes text[])")
        with psycopg_connection(self.session).cursor().copy(f"COPY {ded} FROM STDIN") as cp:
            for p, grids in owners.dedicated.items():
                if owners.grid[p] != NONE:
                    cp.write_row((int(events.ids[p]), codes_at(self.grid_codes, grids)))
        out = self._create("outside", "(id bigint, grid_code text, micro_grid_code text,"
                           " community_code text, dedicated_grid_codes text[], assignment text,"
                           " nearest_grid_code text, nearest_distance_m float8, cams int[])")
        with psycopg_connection(self.session).cursor().copy(f"COPY {out} FROM STDIN") as cp:
            for p in np.flatnonzero(owners.grid == NONE).tolist():
                cp.write_row(outside_row(p, events, computed, nearest.get(p), tolerance_m,
                                         self.grid_codes))
        for table in self.made[-4:]:
            self.session.execute(text(f"ANALYZE {table}"))

    def source(self) -> str:
        """SQL of the decoded rows (``id`` + :data:`COLUMNS`), for the one writer."""
        p = self.p
        cams = ", ".join(f"c{j}.code" for j in range(1, self.k + 1))
        joins = "".join(f" LEFT JOIN {p}_camera c{j} ON c{j}.i = s.c{j}"
                        for j in range(1, self.k + 1))
        return f"""(
            SELECT s.id, g.district_code, g.street_code, g.community_code, g.code AS grid_code,
                   m.code AS micro_grid_code, d.codes AS dedicated_grid_codes,
                   'covered'::text AS assignment, NULL::text AS nearest_grid_code,
                   NULL::float8 AS nearest_distance_m,
                   array_remove(ARRAY[{cams or 'NULL'}]::text[], NULL) AS camera_codes
            FROM {p}_covered s JOIN {p}_grid g ON g.i = s.g
            LEFT JOIN {p}_grid m ON m.i = s.m LEFT JOIN {p}_dedicated d ON d.id = s.id{joins}
            UNION ALL
            SELECT o.id, h.district_code, h.street_code, o.community_code, o.grid_code,
                   o.micro_grid_code, o.dedicated_grid_codes, o.assignment,
                   o.nearest_grid_code, o.nearest_distance_m,
                   ARRAY(SELECT c.code FROM unnest(o.cams) WITH ORDINALITY AS u(i, n)
                         JOIN {p}_camera c ON c.i = u.i ORDER BY u.n) AS camera_codes
            FROM {p}_outside o LEFT JOIN {p}_chain h ON h.community_code = o.community_code)"""  # noqa: S608

    def drop(self) -> None:
        for table in reversed(self.made):
            self.session.execute(text(f"DROP TABLE IF EXISTS {table}"))


def codes_at(grid_codes: NDArray[np.object_], positions: list[int]) -> list[str]:
    """The codes of the grids at ``positions`` (of :attr:`GridArrays.codes`)."""
    return [str(grid_codes[g]) for g in positions]


def camera_picks_by_rank(computed: Computed, n: int, k: int) -> NDArray[np.int64]:
    """The camera positions of each of the ``n`` events, nearest first: an ``(n, k)`` array,
    :data:`NONE` after an event's last camera."""
    picks = np.full((n, k), NONE, dtype=np.int64)
    if k and len(computed.pick_event):
        first = np.searchsorted(computed.pick_event, computed.pick_event, "left")
        rank = np.arange(len(computed.pick_event)) - first
        picks[computed.pick_event, rank] = computed.pick_camera
    return picks


def outside_row(p: int, events: Selected, computed: Computed, near: Any, tolerance_m: float,
                grid_codes: NDArray[np.object_]) -> tuple[Any, ...]:
    """The row of event position ``p`` outside every ordinary grid: id, grid, micro-grid and
    community codes, dedicated grid codes, assignment, nearest grid code and distance (m),
    camera positions (nearest first). ``near``: its nearest-grid row
    (:func:`geo.nearest_grid.nearest_grids_of`; None: no grid at all)."""
    lo, hi = np.searchsorted(computed.pick_event, [p, p + 1])
    cams = computed.pick_camera[lo:hi].tolist()
    ded = computed.owners.dedicated.get(p)
    dedicated = codes_at(grid_codes, ded) if ded else None
    if near is None:
        return (int(events.ids[p]), None, None, None, dedicated, "unassigned", None, None,
                cams)
    snapped = near.d <= tolerance_m
    return (int(events.ids[p]), near.code if snapped else None, near.micro,
            near.community_code if snapped else None, dedicated,
            "snapped" if snapped else "unassigned", near.code, float(near.d), cams)
