"""Pure parts of the Teams edge: mention stripping and the invoke response shape; `python app.py` on bad settings."""

from __future__ import annotations

import pytest

import app
from bot.teams_bot import ADAPTIVE_CARD, invoke_body, strip_bot_mention
from bot.turn import Reply

BOT = frozenset({"28:bot-app-id"})


def _mention(entity_id: str, text: str, name: str = "") -> dict[str, object]:
    return {"type": "mention", "mentioned": {"id": entity_id, "name": name}, "text": text}


@pytest.mark.parametrize(
    ("text", "entities", "expected"),
    [
        ("<at>Grader</at> grade Alex 18/20", [_mention("28:bot-app-id", "<at>Grader</at>")], "grade Alex 18/20"),
        ("grade <at>Alex Kim</at> 18/20 <at>Grader</at>", [_mention("28:bot-app-id", "<at>Grader</at>")],
         "grade Alex Kim 18/20"),
        ("<at>Grader</at>&nbsp;status", [_mention("28:bot-app-id", "", name="Grader")], "status"),
        ("no mention at all", [], "no mention at all"),
        ("<at>Someone</at> hi", [_mention("29:user", "<at>Someone</at>")], "Someone hi"),
    ],
)  # fmt: skip
def test_strip_bot_mention(text: str, entities: list[dict[str, object]], expected: str) -> None:
    assert strip_bot_mention(text, entities, BOT) == expected


def test_invoke_body_uses_the_documented_card_shape_or_a_message() -> None:
    card = {"type": "AdaptiveCard", "version": "1.5", "body": []}
    assert invoke_body(Reply(cards=(card,))) == {"statusCode": 200, "type": ADAPTIVE_CARD, "value": card}
    assert invoke_body(Reply(text="Saved"))["type"] == "application/vnd.microsoft.activity.message"


def test_main_exits_2_with_one_line_on_bad_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORT", "not-a-port")
    monkeypatch.chdir("/")
    with pytest.raises(SystemExit) as exit_info:
        app.main()
    assert exit_info.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("configuration error: PORT:")
