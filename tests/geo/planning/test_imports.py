"""import-draft: a redrawn grid layer from QGIS becomes a draft with its diff and validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shapely.geometry import box, mapping
from sqlalchemy.orm import Session

from geo.errors import ValidationFailed
from geo.planning.changesets import draft_rows
from geo.planning.imports import import_draft
from geo.planning.validate import validate_area
from tests.geo.planning import cases
from tests.geo.planning.cases import COMMUNITY, code


def write_layer(path: Path, features: list[tuple[object, str, object]]) -> Path:
    """A GeoJSON file (lon/lat) of (code, name, shape in metres) features."""
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": c, "name": n},
         "geometry": mapping(cases.lonlat(g))} for c, n, g in features]}))
    return path


def test_redrawn_layer_becomes_a_draft(db: Session, tmp_path: Path) -> None:
    cases.community(db, width=300)
    for i in range(3):
        cases.add_grid(db, code(i + 1), box(100 * i, 0, 100 * (i + 1), 100))
    layer = write_layer(tmp_path / "redrawn.geojson", [
        (code(1), "grid 001", box(0, 0, 100, 100)),          # unchanged
        (code(2), "grid 002", box(100, 0, 280, 100)),         # grown east
        (code(4), "new east", box(280, 0, 300, 100))])        # new; 003 is gone
    draft = import_draft(db, COMMUNITY, layer, "planner-li")
    assert draft.kind == "import"
    assert draft.report == {"file": "redrawn.geojson", "added": 1, "changed": 1,
                            "unchanged": 1, "retired": 1}
    rows = {r["code"]: (r["action"], r["successor_code"]) for r in draft_rows(db, draft.id)}
    assert rows == {code(2): ("put", None), code(3): ("retire", code(2)),
                    code(4): ("put", None)}
    assert validate_area(db, COMMUNITY, changeset_id=draft.id).ok


def test_numeric_codes_are_refused_naming_the_row(db: Session, tmp_path: Path) -> None:
    cases.community(db)
    layer = write_layer(tmp_path / "excel.geojson", [(140213001001001, "x", box(0, 0, 10, 10))])
    with pytest.raises(ValidationFailed) as err:
        import_draft(db, COMMUNITY, layer, "planner-li")
    assert err.value.details[0]["row"] == 1
    assert "leading zeros" in err.value.details[0]["problem"]
