"""Adaptive Cards: the templates' renderer and library, the typed view models and the button contract."""

from bot.cards.actions import (
    CardAction,
    CardActionError,
    CardActionErrorReason,
    CardInputs,
    SheetFilter,
    Verb,
    for_user,
    parse_card_action,
)
from bot.cards.renderer import CardLibrary, CardRenderError, CardTemplateError, UnknownCardError

__all__ = [
    "CardAction",
    "CardActionError",
    "CardActionErrorReason",
    "CardInputs",
    "CardLibrary",
    "CardRenderError",
    "CardTemplateError",
    "SheetFilter",
    "UnknownCardError",
    "Verb",
    "for_user",
    "parse_card_action",
]
