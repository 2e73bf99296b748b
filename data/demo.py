"""The demo city: a seeded synthetic district around Datong (113.30°E, 40.08°N).

``generate_city`` builds every layer in memory (lon/lat EPSG:4326), ``write_city`` writes
them as files (GeoPackage per layer, workers as CSV) and ``load_demo`` generates-or-reuses
those files under ``<GRIDLINK_HOME>/demo/<params>/`` and loads them through the importer,
so the demo takes the same path as a user's data.

Shape of the default city (like Pingcheng, ~228 km²): 1 district, 18 streets, 200
communities (~11 per street), 1,200 grids (~6 per community, ~300 households), ~7,200
micro-grids (~50 households), 270 dedicated grids, ~21,700 buildings, 3,066 cameras,
6,000 events over the six months before ``as_of``, the roads between the blocks and the
gates of schools and compounds (:mod:`data.demo_roads`). ``grids=`` scales everything: the district
grows (more streets and communities), the grid size stays. Same seed and parameters give the
same tables and geometries.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from datetime import date
from pathlib import Path
from typing import Any, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy.orm import Session

from data.city import City, build_city
from data.demo_frames import city_frames, event_batches
from data.scale import CityScale, city_scale

LOAD_ORDER = ("areas", "grids", "micro_grids", "buildings", "sites", "workers", "cameras",
              "roads", "entrances", "events")
"""Layers in hierarchy order (parents before children), as files and as import order."""

Frame: TypeAlias = gpd.GeoDataFrame | pd.DataFrame
FILES_FORMAT = 3
"""Version of what the generator writes (2: buildings carry floors; 3: roads and gates); a
copy written by another version is regenerated, never reused."""


def generate_city(seed: int = 42, grids: int | None = None, cameras: int | None = None,
                  events: int | None = None, streets: int | None = None,
                  communities: int | None = None,
                  as_of: date | None = None) -> dict[str, Frame]:
    """Generate the demo city in memory; layer name → (Geo)DataFrame (EPSG:4326).

    Layers: ``areas``, ``grids`` (ordinary + dedicated), ``micro_grids``, ``buildings``,
    ``sites``, ``cameras``, ``roads``, ``entrances``, ``events`` (GeoDataFrames) and
    ``workers`` (DataFrame). Their
    columns are the file fields of docs/catalog.md. Raises ValueError for impossible counts.
    """
    scale = city_scale(seed, grids, cameras, events, streets, communities, as_of)
    return frames_for(scale)


def stream_city(scale: CityScale, *, batch: int = 1_000_000,
                layers: tuple[City, dict[str, Frame]] | None = None
                ) -> tuple[dict[str, Frame], Iterator[gpd.GeoDataFrame]]:
    """The demo city with its events streamed: (every layer but events, which is empty;
    the ``scale.events`` events in frames of at most ``batch``, generated one at a time).

    For cities whose events do not fit in memory at once (10^7 events would take ~10 GB as
    one frame). The layers are :func:`generate_city`'s; the events are drawn per batch
    (:func:`data.demo_frames.event_batches`), deterministic for a seed and batch size.
    ``layers``: the result of :func:`city_without_events` for ``scale``, if already built.
    """
    city, frames = layers or city_without_events(scale)
    return frames, event_batches(city, scale, batch)


def city_without_events(scale: CityScale) -> tuple[City, dict[str, Frame]]:
    """The projected city of ``scale`` and its layers with no events (the costly part of a
    large city: 10^5 grids take minutes), e.g. to keep for several event counts."""
    city: City = build_city(scale)
    return city, city_frames(city, replace(scale, events=0))


def frames_for(scale: CityScale) -> dict[str, Frame]:
    """The layers of the city described by ``scale`` (see :func:`generate_city`)."""
    city: City = build_city(scale)
    return city_frames(city, scale)


def write_city(city: dict[str, Frame], out_dir: Path, fmt: str = "gpkg") -> dict[str, Path]:
    """Write each layer to ``out_dir/<layer>.<fmt>`` (workers: ``workers.csv``).

    ``fmt`` is ``gpkg`` (GeoPackage, the default and the fast one) or ``geojson``.
    Returns layer → path, in :data:`LOAD_ORDER`. Raises ValueError for another format.
    """
    drivers = {"gpkg": "GPKG", "geojson": "GeoJSON"}
    if fmt not in drivers:
        raise ValueError(f"unknown format {fmt!r}; use gpkg or geojson")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for layer in LOAD_ORDER:
        frame = city[layer]
        if not isinstance(frame, gpd.GeoDataFrame):
            paths[layer] = out_dir / f"{layer}.csv"
            frame.to_csv(paths[layer], index=False, encoding="utf-8")
            continue
        paths[layer] = out_dir / f"{layer}.{fmt}"
        paths[layer].unlink(missing_ok=True)
        polygons = bool(np.isin(shapely.get_type_id(frame.geometry.array), (3, 6)).all())
        frame.to_file(paths[layer], driver=drivers[fmt], layer=layer, engine="pyogrio",
                      promote_to_multi=polygons)  # areas/grids: all MultiPolygon
    return paths


def demo_dir(scale: CityScale, home: Path | None = None) -> Path:
    """``<home>/demo/<scale.key>`` (home: ``GRIDLINK_HOME``, default ``.gridlink``)."""
    if home is None:
        from geo.settings import get_settings

        home = get_settings().home
    return Path(home) / "demo" / scale.key


def ensure_files(scale: CityScale, directory: Path, fmt: str = "gpkg") -> dict[str, Path]:
    """Generate and write the city into ``directory`` unless a complete copy is there.

    A copy is complete when its ``manifest.json`` (written before the staging directory is
    renamed into place) lists the same parameters, so an interrupted run or a directory of
    another city is regenerated, never half-reused.
    """
    params = {**asdict(scale), "as_of": scale.as_of.isoformat(), "format": FILES_FORMAT}
    manifest = directory / "manifest.json"
    if manifest.is_file():
        listed = json.loads(manifest.read_text(encoding="utf-8"))
        if listed.get("params") == params:
            return {layer: directory / name for layer, name in listed["files"].items()}
    staging = directory.with_name(directory.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    city = frames_for(scale)
    paths = write_city(city, staging, fmt)
    counts = {layer: len(frame) for layer, frame in city.items()}
    body = {"params": params, "counts": counts,
            "files": {layer: path.name for layer, path in paths.items()}}
    (staging / "manifest.json").write_text(json.dumps(body, ensure_ascii=False, indent=2),
                                           encoding="utf-8")
    shutil.rmtree(directory, ignore_errors=True)
    staging.rename(directory)
    return {layer: directory / path.name for layer, path in paths.items()}


def load_demo(session: Session, seed: int = 42, *, directory: Path | None = None,
              progress: Callable[[str, int], Any] | None = None,
              **scale: Any) -> dict[str, int]:
    """Generate (or reuse) the demo files and import them in hierarchy order.

    ``scale`` takes the keyword arguments of :func:`city_scale` (grids, cameras, events,
    streets, communities, as_of). Files live in ``directory`` (default
    :func:`demo_dir`). Each layer goes through ``geo.importer.import_file``; ``progress``
    is called with (layer, rows) after each. Returns rows imported per layer. Never
    commits; raises the importer's errors (ValidationFailed ...) unchanged.
    """
    from geo.audit import Actor, record, without_row_audit
    from geo.importer import import_file

    without_row_audit(session)
    params = city_scale(seed, **scale)
    target = directory or demo_dir(params)
    paths = ensure_files(params, target)
    written = json.loads((target / "manifest.json").read_text(encoding="utf-8"))["counts"]
    counts: dict[str, int] = {}
    for layer in LOAD_ORDER:
        counts[layer] = 0
        if written[layer]:  # the importer refuses an empty file (e.g. --events 0)
            report = import_file(session, layer, paths[layer])
            counts[layer] = report.inserted + report.updated
        if progress is not None:
            progress(layer, counts[layer])
    record(session, Actor("gridlink demo", route="demo load"), "load", "demo", str(target),
           after=counts)
    return counts
