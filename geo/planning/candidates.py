"""The grids as published, or as a draft changeset would publish them (one SQL fragment).

Bind ``:cs`` to a changeset id (its draft rows replace the current rows they name; retired
rows drop out) or to NULL (the published grids). Columns: code, name, level, kind,
parent_code, households, geom (lon/lat EPSG:4326).
"""

from __future__ import annotations

CANDIDATES = """
    SELECT g.code, g.name, g.level, g.kind, g.parent_code, g.households, g.geom
    FROM grids g
    WHERE g.valid_to IS NULL AND NOT EXISTS (
        SELECT 1 FROM plan_draft_grids d
        WHERE d.changeset_id = CAST(:cs AS integer) AND g.code IN (d.code, d.previous_code))
    UNION ALL
    SELECT d.code, d.name, d.level, d.kind, d.parent_code, d.households, d.geom
    FROM plan_draft_grids d
    WHERE d.changeset_id = CAST(:cs AS integer) AND d.action = 'put'
"""
"""Grids as published, or as changeset ``:cs`` would publish them (NULL: as published)."""
