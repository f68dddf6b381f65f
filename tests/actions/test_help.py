"""Help: every command's usage and more phrasings, each of which the parser really understands; one topic on request."""

from __future__ import annotations

from bot.actions import help as help_action
from bot.cards.actions import CardAction, Verb
from bot.commands import parse_command
from bot.commands.grammar import USAGE
from bot.commands.model import Help, ParseError
from bot.turn import Reply
from tests.actions.conftest import Turns, card_text, only_card


def headings(reply: Reply) -> list[str]:
    return [
        container["items"][0]["text"] for container in only_card(reply)["body"] if container.get("type") == "Container"
    ]


async def test_help_lists_every_usage_example(turns: Turns) -> None:
    reply = await help_action.run(turns.context(), Help())
    text = card_text(reply)
    for usage in USAGE.values():
        assert usage in text
    assert len(headings(reply)) == len(help_action.TOPICS)
    assert "sheet Essay 2" in text


def test_every_example_is_understood_as_its_sections_command() -> None:
    for topic in help_action.TOPICS:
        for example in help_action.section(topic).examples:
            parsed = parse_command(example.command)
            assert not isinstance(parsed, ParseError), (example.command, parsed)
            assert parsed.kind == topic, (example.command, parsed.kind)


def test_every_command_the_parser_knows_has_a_section() -> None:
    assert set(USAGE) <= set(help_action.TOPICS)


async def test_help_on_one_topic(turns: Turns) -> None:
    parsed = parse_command("help grade")
    assert isinstance(parsed, Help)
    reply = await help_action.run(turns.context(), parsed)
    assert headings(reply) == ["Grade one student"]
    text = card_text(reply)
    assert "Help: Grade one student" in text and USAGE["grade"] in text
    assert USAGE["excuse"] not in text


async def test_help_on_a_topic_the_parser_leaves_as_words(turns: Turns) -> None:
    parsed = parse_command("help with grading sheet")
    assert isinstance(parsed, Help)
    reply = await help_action.run(turns.context(), parsed)
    assert headings(reply) == ["Grade the whole class on a sheet"]


async def test_unknown_topic_shows_everything_and_says_so(turns: Turns) -> None:
    reply = await help_action.run(turns.context(), Help(topic="photosynthesis"))
    assert "I have no help on “photosynthesis”" in card_text(reply)
    assert len(headings(reply)) == len(help_action.TOPICS)


async def test_help_button_and_no_graph_call(turns: Turns) -> None:
    ctx = turns.context()
    reply = await help_action.on_help(ctx, CardAction(verb=Verb.HELP))
    assert USAGE["status"] in card_text(reply)
    focused = await help_action.on_help(ctx, CardAction(verb=Verb.HELP, extra={"topic": "return"}))
    assert headings(focused) == ["Return graded work"]
    assert turns.stack.graph.request_count == 0
