"""Every example in the answer models (api/schemas/) is a valid answer of its model."""

from __future__ import annotations

import importlib
import pkgutil

import api.schemas
from api.schemas import Answer


def answer_models() -> list[type[Answer]]:
    for module in pkgutil.iter_modules(api.schemas.__path__):
        importlib.import_module(f"api.schemas.{module.name}")
    found, stack = [], list(Answer.__subclasses__())
    while stack:
        model = stack.pop()
        found.append(model)
        stack.extend(model.__subclasses__())
    return found


def test_every_example_is_a_valid_answer() -> None:
    with_examples = {model.__name__: model for model in answer_models()
                     if model.model_config.get("json_schema_extra")}
    assert {"Event", "EventPage", "Health", "Changeset", "PatrolTask", "ImportReport",
            "FeatureCollection", "TileJSON", "LandingPage"} <= set(with_examples)
    for model in with_examples.values():
        extra = model.model_config["json_schema_extra"]
        assert isinstance(extra, dict)
        for example in extra["examples"]:
            assert model.model_validate(example).model_dump(by_alias=True,
                                                            exclude_unset=True) == example


def test_examples_speak_chinese_and_english() -> None:
    examples = [str(model.model_config["json_schema_extra"]) for model in answer_models()
                if model.model_config.get("json_schema_extra")]
    bilingual = [e for e in examples if any("\u4e00" <= ch <= "\u9fff" for ch in e)
                 and "(" in e]
    assert len(bilingual) >= 20
