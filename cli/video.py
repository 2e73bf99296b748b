"""``gridlink cameras views`` and ``gridlink cameras coverage``: what cameras see."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from cli.audit import cli_actor
from cli.output import console, fail
from geo.db import transaction
from geo.errors import GridlinkError
from geo.video.coverage import blind_spots, grid_coverage
from geo.video.placement import PlacementSpec, draft_layer, propose_cameras
from geo.video.preset_file import import_presets
from geo.video.views import refresh_views

cameras_app = typer.Typer(help="Cameras: visibility polygons, coverage with occlusion.",
                          no_args_is_help=True)


@cameras_app.command("views")
def views_command(
    camera: list[str] = typer.Option(None, help="camera code (repeat); default: every camera"),
    resolution: float = typer.Option(0.5, min=0.01, max=10.0,
                                     help="angular cell width, degrees"),
) -> None:
    """Recompute the visibility polygons (and building shadows) and commit them."""
    try:
        with transaction() as session:
            summary = refresh_views(session, camera or None, resolution_deg=resolution)
    except GridlinkError as exc:
        raise fail(exc) from exc
    console.print(f"{summary.cameras} cameras: {summary.views} views, {summary.shadows} "
                  f"building shadows in {summary.seconds:.1f} s")


@cameras_app.command("presets")
def presets_command(
    file: Path = typer.Argument(..., help="CSV or GeoJSON: camera_code, name, pan_deg, "
                                "tilt_deg, fov_deg or zoom, range_m"),
    encoding: str | None = typer.Option(None, help="text encoding, e.g. GB18030"),
) -> None:
    """Import PTZ presets: replaces the presets of every camera in the file (all or nothing)
    and recomputes those cameras' views."""
    try:
        with transaction() as session:
            report = import_presets(session, file, cli_actor(session, "cameras presets"),
                                    encoding)
    except GridlinkError as exc:
        raise fail(exc) from exc
    for note in report.notes:
        console.print(note)
    console.print(f"{report.presets} presets of {report.cameras} cameras")


@cameras_app.command("coverage")
def coverage_command(
    area: str = typer.Argument(..., help="admin area or grid code"),
    top: int = typer.Option(20, min=1, help="grids to list"),
) -> None:
    """Grids ranked by uncovered households: outdoor area, roads and gates seen by online
    cameras."""
    try:
        with transaction() as session:
            grids = grid_coverage(session, area)
            spots = blind_spots(session, area)
    except GridlinkError as exc:
        raise fail(exc) from exc
    table = Table("grid", "name", "households", "outdoor m²", "seen %", "roads m",
                  "roads seen %", "gates seen", "uncovered households",
                  title=f"{area}: {len(grids)} grids, {len(spots)} blind spots")
    for row in grids.head(top).itertuples():
        roads_seen = "—" if row.road_seen_share is None else f"{100 * row.road_seen_share:.1f}"
        table.add_row(row.code, row.name, str(row.households), f"{row.outdoor_m2:,.0f}",
                      f"{100 * row.seen_share:.1f}", f"{row.road_m:,.0f}", roads_seen,
                      f"{row.entrances_seen}/{row.entrances}", f"{row.uncovered_households:.1f}")
    console.print(table)


@cameras_app.command("propose")
def propose_command(
    area: str = typer.Argument(..., help="admin area or grid code (e.g. a street)"),
    k: int = typer.Option(5, min=1, max=200, help="cameras to add"),
    fov: float = typer.Option(90.0, min=1.0, max=360.0, help="their FOV, degrees"),
    range_m: float = typer.Option(60.0, min=1.0, max=500.0, help="their range, metres"),
    candidates: int = typer.Option(200, min=1, help="at most this many corner positions"),
    sources: str = typer.Option("corners,intersections,poles", help="candidate positions: "
                                "building corners, road intersections, poles (--poles)"),
    poles: Path | None = typer.Option(None, help="candidate file: existing poles or drawn "
                                      "positions (GeoJSON/GPKG points, or CSV lon,lat)"),
    out: Path | None = typer.Option(None, help="write the MCLP proposal as GeoJSON (a "
                                    "draft cameras layer to edit and import)"),
) -> None:
    """Propose K new cameras covering the most blind outdoor area and unseen entrances
    (1,000 m² each): MCLP vs greedy."""
    spec = PlacementSpec(k=k, fov_deg=fov, range_m=range_m, max_candidates=candidates,
                         sources=tuple(s.strip() for s in sources.split(",") if s.strip()),
                         poles=poles)
    try:
        with transaction() as session:
            proposal = propose_cameras(session, area, spec)
    except GridlinkError as exc:
        raise fail(exc) from exc
    sources_used = ", ".join(f"{k} {n}" for k, n in proposal.by_source.items())
    console.print(f"{proposal.candidates} candidates ({sources_used}), demand"
                  f" {proposal.demand_m2:,.0f} m²"
                  f" ({proposal.entrances} unseen entrances); newly covered: MCLP"
                  f" {proposal.covered_m2['mclp']:,.0f} m² ({proposal.entrances_covered['mclp']}"
                  f" entrances), greedy {proposal.covered_m2['greedy']:,.0f} m²"
                  f" ({proposal.entrances_covered['greedy']} entrances)")
    if out is not None:
        out.write_text(json.dumps(draft_layer(proposal), ensure_ascii=False), "utf-8")
        console.print(f"wrote {len(proposal.cameras)} draft cameras to {out}")
