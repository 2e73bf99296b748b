"""One measured import or export step, in a process of its own (run by
bench/import_export.py): it loads only what the step loads in production (SQLAlchemy and
``geo.importer`` or ``geo.exporter``), so its peak RSS is the step's, not the bench's.

    .venv/bin/python bench/io_step.py import URL events FILE   # prints {"rows", "seconds"}

With ``GRIDLINK_BENCH_LOG=FILE`` in the environment, an events import appends its worker's
per-drain seconds (COPY, claimed-row probe, INSERT; geo.importer.early_inserts at DEBUG) to
FILE: where the time goes as the table grows.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def run(step: str, url: str, layer: str, path: str) -> dict[str, float]:
    """Import ``path`` into ``layer`` (committed) or export ``layer`` to ``path`` (GeoJSON);
    rows written and the seconds of the work up to its commit (Python start-up and imports
    excluded). An import then builds the indexes it left for after the commit, as
    ``gridlink import`` does: their seconds are ``after_commit``."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    if step == "import":  # imported before the clock starts, as the docstring says
        from geo.importer import import_file
        from geo.importer.pending_indexes import build_pending_indexes
    else:
        from geo.exporter import export_file
    engine = create_engine(url)
    started = time.perf_counter()
    with Session(engine) as session, session.begin():
        if step == "import":
            report = import_file(session, layer, Path(path), defer_indexes=True)
            rows = report.inserted + report.updated
        else:
            rows = export_file(session, layer, Path(path), "geojson")
    committed = time.perf_counter()
    if step == "import":
        build_pending_indexes(engine)
    return {"rows": rows, "seconds": committed - started,
            "after_commit": time.perf_counter() - committed}


def log_drains(path: str | None) -> None:
    """Append the early-insert worker's DEBUG lines to ``path`` (None: not logged)."""
    if path:
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        worker = logging.getLogger("geo.importer.early_inserts")
        worker.addHandler(handler)
        worker.setLevel(logging.DEBUG)


if __name__ == "__main__":
    log_drains(os.environ.get("GRIDLINK_BENCH_LOG"))
    print(json.dumps(run(*sys.argv[1:5])))
