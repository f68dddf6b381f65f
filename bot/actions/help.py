"""Help: "help" lists every command with example phrasings; "help grade" shows one topic. No Graph call.

Card verbs handled here: `Verb.HELP` (`on_help`; an optional `extra["topic"]` focuses it). The router may instead
call `run(ctx, Help())` for the same card.
"""

from __future__ import annotations

from typing import Final

from bot import messages
from bot.actions.context import ActionContext
from bot.cards.actions import CardAction
from bot.cards.views import HelpExample, HelpSection, HelpView
from bot.commands.grammar import USAGE
from bot.commands.model import Help
from bot.turn import Reply

TOPICS: Final = (
    "grade",
    "bulk_grade",
    "feedback",
    "return",
    "reassign",
    "excuse",
    "status",
    "sheet",
    "undo",
    "sign_out",
    "help",
)
"""The help sections in order: every command of the parser (`USAGE`'s keys)."""

_TOPIC_CHARS: Final = 100
"""An unknown topic is echoed back at most this long."""


def section(topic: str) -> HelpSection:
    """One topic's heading and examples: the parser's usage example first, then more phrasings."""
    examples = messages.help_examples(topic)
    usage = USAGE.get(topic)
    if usage is not None and all(command != usage for command, _ in examples):
        examples.insert(0, (usage, None))
    return HelpSection(
        heading=messages.help_heading(topic),
        examples=[HelpExample(command=command, description=description) for command, description in examples],
    )


def help_view(topic: str | None = None) -> HelpView:
    """The help card's view: every section, or only `topic`'s when it names one (pure).

    Args:
        topic: a command name as the parser gives it (`Help.topic`), a word like "grading sheet", or None.

    Returns:
        The view; an unknown topic gets every section with a sentence saying so.
    """
    wanted = _canonical(topic)
    if wanted is not None:
        return HelpView(
            title=messages.help_topic_title(messages.help_heading(wanted)),
            intro=messages.help_topic_intro(),
            sections=[section(wanted)],
        )
    intro = (
        messages.help_unknown_topic(topic.strip()[:_TOPIC_CHARS]) if topic and topic.strip() else messages.help_intro()
    )
    return HelpView(title=messages.help_title(), intro=intro, sections=[section(t) for t in TOPICS])


def _canonical(topic: str | None) -> str | None:
    if topic is None or not topic.strip():
        return None
    if topic in TOPICS:
        return topic
    return messages.help_alias(topic)


async def run(ctx: ActionContext, command: Help) -> Reply:
    """The teacher sees the help card (one topic when they named one)."""
    return ctx.card(help_view(command.topic))


async def on_help(ctx: ActionContext, action: CardAction) -> Reply:
    """[Help] on a card: the whole help card (or `extra["topic"]`'s section)."""
    topic = action.extra.get("topic")
    return ctx.card(help_view(topic if isinstance(topic, str) else None))
