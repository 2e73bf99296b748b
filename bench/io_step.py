"""One measured import or export step, in a process of its own (run by
bench/import_export.py): it loads only what the step loads in production (SQLAlchemy and
``geo.importer`` or ``geo.exporter``), so its peak RSS is the step's, not the bench's.

    .venv/bin/python bench/io_step.py import URL events FILE   # prints {"rows", "seconds"}
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def run(step: str, url: str, layer: str, path: str) -> dict[str, float]:
    """Import ``path`` into ``layer`` (committed) or export ``layer`` to ``path`` (GeoJSON);
    rows written and the seconds of the work (Python start-up and imports excluded)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    if step == "import":  # imported before the clock starts, as the docstring says
        from geo.importer import import_file
    else:
        from geo.exporter import export_file
    engine = create_engine(url)
    started = time.perf_counter()
    with Session(engine) as session, session.begin():
        if step == "import":
            report = import_file(session, layer, Path(path))
            rows = report.inserted + report.updated
        else:
            rows = export_file(session, layer, Path(path), "geojson")
    return {"rows": rows, "seconds": time.perf_counter() - started}


if __name__ == "__main__":
    print(json.dumps(run(*sys.argv[1:5])))
