"""Patrol rules: which units are patrolled how often.

A rule is (``layer``, ``category``, ``frequency``): ``layer`` ``sites`` with a site category
(``primary_school``, ``old_compound``...) or ``*`` for every site, or ``buildings`` with
``*`` (buildings have no category); ``frequency`` ``daily``, ``weekly`` (ISO week, Monday to
Sunday) or ``monthly``. One rule per (layer, category): putting it again changes its
frequency. Defaults (migration 0014): schools and kindergartens daily, old compounds weekly,
every building monthly.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import NotFound, ValidationFailed

FREQUENCIES = ("daily", "weekly", "monthly")
LAYERS = ("sites", "buildings")
EVERY = "*"
"""The category of a rule for every unit of its layer."""

Frequency = Literal["daily", "weekly", "monthly"]


class RuleIn(BaseModel):
    """The body of ``PUT /patrols/rules/{layer}/{category}``."""

    frequency: Frequency


def list_rules(session: Session) -> list[dict[str, Any]]:
    """Every rule, by layer and category."""
    rows = session.execute(text(
        "SELECT layer, category, frequency, updated_at FROM patrol_rules "
        "ORDER BY layer DESC, category")).mappings()
    return [dict(r) for r in rows]


def check_rule_key(layer: str, category: str) -> None:
    """Raise ValidationFailed naming the field for an unknown layer, a building category
    other than ``*`` or an empty category."""
    if layer not in LAYERS:
        raise ValidationFailed(f"unknown patrol layer {layer!r}",
                               [{"field": "layer", "value": layer, "allowed": list(LAYERS)}])
    if layer == "buildings" and category != EVERY:
        raise ValidationFailed("buildings have no category: their rule is buildings/*",
                               [{"field": "category", "value": category, "allowed": [EVERY]}])
    if not category.strip() or "\x00" in category or len(category) > 100:
        raise ValidationFailed("a rule's category is a site category (1-100 characters) or *",
                               [{"field": "category", "value": category}])


def put_rule(session: Session, layer: str, category: str, frequency: str) -> dict[str, Any]:
    """Create or change the rule of (``layer``, ``category``); returns it. Never commits."""
    check_rule_key(layer, category)
    if frequency not in FREQUENCIES:
        raise ValidationFailed(f"unknown frequency {frequency!r}",
                               [{"field": "frequency", "value": frequency,
                                 "allowed": list(FREQUENCIES)}])
    row = session.execute(text(
        "INSERT INTO patrol_rules (layer, category, frequency) VALUES (:l, :c, :f) "
        "ON CONFLICT (layer, category) DO UPDATE SET frequency = EXCLUDED.frequency, "
        "updated_at = now() RETURNING layer, category, frequency, updated_at"),
        {"l": layer, "c": category, "f": frequency}).mappings().one()
    return dict(row)


def delete_rule(session: Session, layer: str, category: str) -> None:
    """Remove a rule (tasks already generated stay); NotFound naming it. Never commits."""
    check_rule_key(layer, category)
    gone = session.execute(text(
        "DELETE FROM patrol_rules WHERE layer = :l AND category = :c RETURNING id"),
        {"l": layer, "c": category}).first()
    if gone is None:
        raise NotFound(f"no patrol rule for {layer}/{category}",
                       [{"field": "category", "layer": layer, "value": category}])
