"""Rendering adds the Action.Submit fallbacks in place, without copying: the loaded templates must stay untouched."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from bot.cards.renderer import CardLibrary
from bot.cards.views import VIEWS

CARDS = Path(__file__).resolve().parents[2] / "cards"


def test_rendering_leaves_the_templates_alone_and_adds_every_fallback() -> None:
    library = CardLibrary.load(CARDS)
    pristine = {name: copy.deepcopy(library.template(name)) for name in VIEWS}
    for _ in range(2):
        for name in VIEWS:
            card = library.render_view(VIEWS[name].model_validate(_sample(name)))
            assert _fallbacks(card) == _executes(card)
    assert {name: library.template(name) for name in VIEWS} == pristine


def _sample(name: str) -> object:
    return json.loads((CARDS / "samples" / f"{name}.json").read_text(encoding="utf-8"))


def _executes(node: object) -> int:
    return _count(node, "Action.Execute")


def _fallbacks(node: object) -> int:
    return _count(node, "Action.Submit")


def _count(node: object, kind: str) -> int:
    if isinstance(node, dict):
        own = 1 if node.get("type") == kind else 0  # pyright: ignore[reportUnknownMemberType]
        return own + sum(_count(value, kind) for value in node.values())  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    if isinstance(node, list):
        return sum(_count(item, kind) for item in node)  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    return 0
