"""The table (Markdown) and the chart (PNG, matplotlib) of bench/scale.py's results file.

``write_report(results_path, out_dir)`` reads ``scale_results.json`` and writes
``scale.md`` (one row per size) and ``scale.png`` (one panel per curve, log-log where the
sizes span decades); a size missing a step leaves that cell and point out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

Entry = dict[str, Any]


def pages(plan: str) -> int:
    """Shared buffers (hit + read, 8 kB pages) of the first plan's top node in ``plan``
    (EXPLAIN (ANALYZE, BUFFERS) text): pages a statement touched, whatever the load."""
    found = re.search(r"Buffers: shared((?: \w+=\d+)+)", plan)
    if found is None:
        raise KeyError("no Buffers line")
    counts = dict(part.split("=") for part in found.group(1).split())
    return int(counts.get("hit", 0)) + int(counts.get("read", 0))


def total_ms(plans: str) -> float:
    """The durations (ms) auto_explain logged for every statement in ``plans``, summed."""
    found = re.findall(r"duration: ([0-9.]+) ms", plans)
    if not found:
        raise KeyError("no duration")
    return sum(map(float, found))


def total_pages(plans: str) -> int:
    """:func:`pages` of every statement in ``plans`` (auto_explain notices), summed."""
    return sum(pages(plan) for plan in plans.split("duration: ")[1:] if "Buffers:" in plan)


COLUMNS: tuple[tuple[str, Callable[[Entry], Any]], ...] = (
    ("grids", lambda e: f"{e['grids']:,}"),
    ("events", lambda e: f"{e['events']:,}"),
    ("/locate HTTP p50 / p99 ms", lambda e: f"{e['locate']['http']['p50_ms']:.2f} / "
                                            f"{e['locate']['http']['p99_ms']:.2f}"),
    ("its SQL p50 / p99 ms", lambda e: f"{e['locate']['sql']['p50_ms']:.2f} / "
                                       f"{e['locate']['sql']['p99_ms']:.2f}"),
    ("/locate pages", lambda e: f"{pages(e['plans']['locate']):,}"),
    ("/stats plans month / year: ms under EXPLAIN ANALYZE (pages)",
     lambda e: f"{total_ms(e['plans']['stats_month']):,.0f} "
               f"({total_pages(e['plans']['stats_month']):,}) / "
               f"{total_ms(e['plans']['stats_year']):,.0f} "
               f"({total_pages(e['plans']['stats_year']):,})"),
    ("assignment s (events/s)", lambda e: f"{e['assign']['seconds']:.1f} "
                                          f"({e['assign']['events_per_s']:,.0f})"),
    ("validation s", lambda e: f"{e['validate']['seconds']:.1f}"),
    ("/stats month s", lambda e: f"{e['stats']['month']['best_s']:.2f}"),
    ("/stats year s", lambda e: f"{e['stats']['year']['best_s']:.2f}"),
    ("export events GeoJSON / GPKG rows/s",
     lambda e: f"{e['export']['events_geojson']['rows_per_s']:,.0f} / "
               f"{e['export']['events_gpkg']['rows_per_s']:,.0f}"),
    ("export grids GeoJSON / GPKG rows/s",
     lambda e: f"{e['export']['grids_geojson']['rows_per_s']:,.0f} / "
               f"{e['export']['grids_gpkg']['rows_per_s']:,.0f}"),
    ("load: generate + COPY (+ indexes and VACUUM, batched loads) s",
     lambda e: f"{e['load']['generate_s']:.0f} + {e['load']['copy_s']:.0f}" + (
         f" + {e['load']['index_s'] + e['load']['vacuum_s']:.0f}"
         if "index_s" in e["load"] else "")),
)
"""Table columns: header and the cell of one size's entry ("–" when a step is missing)."""


def ordered(results: dict[str, Any]) -> list[Entry]:
    """The sizes' entries, smallest city first, each with ``rows_loaded`` (all layers)."""
    entries = sorted(results.get("sizes", {}).values(), key=lambda e: (e["grids"], e["events"]))
    for entry in entries:
        if "load" in entry:
            entry["rows_loaded"] = sum(entry["load"]["rows"].values())
    return entries


def cell(entry: Entry, fn: Callable[[Entry], Any]) -> str:
    try:
        return str(fn(entry))
    except (KeyError, TypeError, ZeroDivisionError):
        return "–"


def table(entries: list[Entry]) -> str:
    """One Markdown row per size."""
    lines = ["| " + " | ".join(name for name, _ in COLUMNS) + " |",
             "|" + "---:|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(e, fn) for _, fn in COLUMNS) + " |" for e in entries]
    return "\n".join(lines) + "\n"


def series(entries: list[Entry], x: tuple[str, ...],
           y: tuple[str, ...]) -> tuple[list[float], list[float]]:
    """(x values, y values) of the entries that have both paths (keys into the entry)."""
    xs, ys = [], []
    for entry in entries:
        at, value = _at(entry, x), _at(entry, y)
        if at is not None and value is not None:
            xs.append(at)
            ys.append(value)
    return xs, ys


def _at(entry: Entry, path: tuple[str, ...]) -> float | None:
    value: Any = entry
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) else None


GRIDS, EVENTS = ("grids",), ("events",)
Curve = tuple[str, tuple[str, ...], tuple[str, ...]]
PANELS: tuple[tuple[str, str, str, tuple[Curve, ...]], ...] = (
    ("/locate latency (one client)", "grids", "ms", (
        ("HTTP p50", GRIDS, ("locate", "http", "p50_ms")),
        ("HTTP p99", GRIDS, ("locate", "http", "p99_ms")),
        ("SQL p50", GRIDS, ("locate", "sql", "p50_ms")),
        ("SQL p99", GRIDS, ("locate", "sql", "p99_ms")))),
    ("validation of the district", "grids", "s", (
        ("validate_area", GRIDS, ("validate", "seconds")),)),
    ("bulk assignment, persisted", "events", "s", (
        ("assign_events + commit, first write", EVENTS, ("assign", "seconds")),
        ("re-run (nothing to write)", EVENTS, ("assign_rerun", "seconds")))),
    ("/stats?level=grid", "events", "s", (
        ("one month", EVENTS, ("stats", "month", "best_s")),
        ("one year", EVENTS, ("stats", "year", "best_s")))),
    ("export (in process)", "rows exported", "rows/s", tuple(
        (f"{layer} {name}", ("export", f"{layer}_{fmt}", "rows"),
         ("export", f"{layer}_{fmt}", "rows_per_s"))
        for layer in ("events", "grids") for fmt, name in (("geojson", "GeoJSON"),
                                                           ("gpkg", "GPKG")))),
    ("load (generate + COPY)", "rows of all layers", "s", (
        ("generate", ("rows_loaded",), ("load", "generate_s")),
        ("COPY", ("rows_loaded",), ("load", "copy_s")))),
)
"""Chart panels: title, x label, unit, and the curves (label, x path, y path)."""


def draw(axes: Axes, entries: list[Entry], panel: tuple[Any, ...]) -> None:
    title, x_label, unit, curves = panel
    for label, x, y in curves:
        xs, ys = series(entries, x, y)
        if xs:
            order = sorted(range(len(xs)), key=xs.__getitem__)
            axes.plot([xs[i] for i in order], [ys[i] for i in order], marker="o",
                      label=label)
    if unit == "s" and axes.lines:
        _linear_guide(axes)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_title(title, fontsize=10)
    axes.set_xlabel(x_label)
    axes.set_ylabel(unit)
    axes.grid(True, which="both", alpha=0.3)
    if axes.lines:
        axes.legend(fontsize=7)


def _linear_guide(axes: Axes) -> None:
    """A dotted line of slope 1 (time proportional to size) through the first curve's first
    point: a curve steeper than it grows faster than linearly."""
    xs, ys = (np.asarray(v, dtype=float) for v in axes.lines[0].get_data())
    if len(xs) > 1:
        axes.plot([xs[0], xs[-1]], [ys[0], ys[0] * xs[-1] / xs[0]], ":", color="grey",
                  label="linear (slope 1)")


def chart(entries: list[Entry], path: Path) -> None:
    """The PNG: one log-log panel per curve of :data:`PANELS`."""
    figure, grid = plt.subplots(2, 3, figsize=(15, 8.5))
    for axes, panel in zip(grid.flat, PANELS, strict=True):
        draw(axes, entries, panel)
    figure.suptitle("gridlink growth curves (bench/scale.py)")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def write_report(results_path: Path, out_dir: Path) -> tuple[Path, Path]:
    """Write ``scale.md`` and ``scale.png`` into ``out_dir`` from ``results_path``."""
    entries = ordered(json.loads(results_path.read_text(encoding="utf-8")))
    table_path, chart_path = out_dir / "scale.md", out_dir / "scale.png"
    table_path.write_text("# bench/scale.py results (drawn from scale_results.json)\n\n"
                          + table(entries), encoding="utf-8")
    chart(entries, chart_path)
    return table_path, chart_path
