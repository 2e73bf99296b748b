"""The table (Markdown) and the chart (PNG, matplotlib) of bench/scale.py's results file.

``write_report(results_path, out_dir)`` reads ``scale_results.json`` and writes
``scale.md`` (one row per size) and ``scale.png`` (one panel per curve, log-log where the
sizes span decades); a size missing a step leaves that cell and point out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

Entry = dict[str, Any]
COLUMNS: tuple[tuple[str, Callable[[Entry], Any]], ...] = (
    ("grids", lambda e: f"{e['grids']:,}"),
    ("events", lambda e: f"{e['events']:,}"),
    ("/locate HTTP p50 / p99 ms", lambda e: f"{e['locate']['http']['p50_ms']:.2f} / "
                                            f"{e['locate']['http']['p99_ms']:.2f}"),
    ("its SQL p50 / p99 ms", lambda e: f"{e['locate']['sql']['p50_ms']:.2f} / "
                                       f"{e['locate']['sql']['p99_ms']:.2f}"),
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
    ("load: generate + COPY s", lambda e: f"{e['load']['generate_s']:.0f} + "
                                          f"{e['load']['copy_s']:.0f}"),
)
"""Table columns: header and the cell of one size's entry ("–" when a step is missing)."""


def ordered(results: dict[str, Any]) -> list[Entry]:
    """The sizes' entries, smallest city first."""
    return sorted(results.get("sizes", {}).values(), key=lambda e: (e["grids"], e["events"]))


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


def series(entries: list[Entry], x: str, path: tuple[str, ...]) -> tuple[list[float],
                                                                        list[float]]:
    """(x values, y values) of the entries that have ``path`` (keys into the entry)."""
    xs, ys = [], []
    for entry in entries:
        value: Any = entry
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, int | float):
            xs.append(float(entry[x]))
            ys.append(float(value))
    return xs, ys


PANELS: tuple[tuple[str, str, str, tuple[tuple[str, tuple[str, ...]], ...]], ...] = (
    ("/locate latency (one client)", "grids", "ms", (
        ("HTTP p50", ("locate", "http", "p50_ms")), ("HTTP p99", ("locate", "http", "p99_ms")),
        ("SQL p50", ("locate", "sql", "p50_ms")), ("SQL p99", ("locate", "sql", "p99_ms")))),
    ("validation of the district", "grids", "s", (
        ("validate_area", ("validate", "seconds")),)),
    ("bulk assignment, persisted", "events", "s", (
        ("assign_events + commit", ("assign", "seconds")),)),
    ("/stats?level=grid", "events", "s", (
        ("one month", ("stats", "month", "best_s")), ("one year", ("stats", "year", "best_s")))),
    ("export", "events", "rows/s", (
        ("events GeoJSON", ("export", "events_geojson", "rows_per_s")),
        ("events GPKG", ("export", "events_gpkg", "rows_per_s")),
        ("grids GeoJSON", ("export", "grids_geojson", "rows_per_s")),
        ("grids GPKG", ("export", "grids_gpkg", "rows_per_s")))),
    ("load (generate + COPY)", "events", "s", (
        ("generate", ("load", "generate_s")), ("COPY", ("load", "copy_s")))),
)
"""Chart panels: title, x (grids or events), unit, and the curves (label, path)."""


def draw(axes: Axes, entries: list[Entry], panel: tuple[Any, ...]) -> None:
    title, x, unit, curves = panel
    for label, path in curves:
        xs, ys = series(entries, x, path)
        if xs:
            axes.plot(xs, ys, marker="o", label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_title(title, fontsize=10)
    axes.set_xlabel(x)
    axes.set_ylabel(unit)
    axes.grid(True, which="both", alpha=0.3)
    if axes.lines:
        axes.legend(fontsize=7)


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
