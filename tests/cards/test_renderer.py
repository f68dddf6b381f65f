"""The template engine (render_template) and the start-up library (CardLibrary.load)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.cards.renderer import CardLibrary, CardRenderError, CardTemplateError, UnknownCardError, render_template

CARDS = Path(__file__).parents[2] / "cards"
SCHEMA = Path(__file__).parents[2] / ".." / "shared" / "specs" / "adaptive-card.schema.json"


def card(*body: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "AdaptiveCard", "version": "1.5", "body": list(body), **extra}


# --- expressions and values --------------------------------------------------------------------------------------


def test_whole_string_expression_keeps_the_json_type() -> None:
    template = {"n": "${n}", "b": "${b}", "l": "${l}", "o": "${o}", "s": "${s}"}
    data = {"n": 85.5, "b": False, "l": [1, "two"], "o": {"k": [True]}, "s": "text"}

    assert render_template(template, data) == data


def test_embedded_expressions_are_stringified() -> None:
    template = {"text": "${name}: ${points}/${max} (${ok}, ${ratio}, ${none}, ${items})"}
    data = {"name": "Alice", "points": 85.0, "max": 100, "ok": True, "ratio": 0.25, "none": None, "items": [1]}

    assert render_template(template, data) == {"text": "Alice: 85/100 (true, 0.25, , [1])"}


def test_a_null_whole_value_leaves_the_property_out() -> None:
    template = {"type": "Input.Number", "id": "points", "value": "${points}"}

    assert render_template(template, {"points": None}) == {"type": "Input.Number", "id": "points"}


def test_dotted_paths_reach_into_objects() -> None:
    rendered = render_template(
        {"verb": "${button.verb}", "t": "${a.b.c}"}, {"button": {"verb": "undo"}, "a": {"b": {"c": 3}}}
    )

    assert rendered == {"verb": "undo", "t": 3}


def test_data_from_the_caller_is_never_read_as_template() -> None:
    data = {"name": "${secret}", "secret": "LEAKED", "nested": {"text": "${secret}", "$when": False}}
    template = {"a": "${name}", "b": "Hi ${name}!", "c": "${nested}"}

    rendered = render_template(template, data)

    assert rendered == {"a": "${secret}", "b": "Hi ${secret}!", "c": {"text": "${secret}", "$when": False}}
    assert "LEAKED" not in json.dumps(rendered)


def test_a_missing_value_is_an_error_naming_it() -> None:
    with pytest.raises(CardRenderError, match="titel"):
        render_template({"text": "${titel}"}, {"title": "x"})


@pytest.mark.parametrize("expression", ["x + 1", "__import__('os')", "x or y", "x.y()", "a == b", "!x == 'a'", ""])
def test_expressions_outside_the_safe_set_are_refused(expression: str) -> None:
    with pytest.raises(CardRenderError, match="unsupported expression"):
        render_template({"text": "${" + expression + "}"}, {"x": 1, "y": 2, "a": 1, "b": 1})


def test_unknown_template_keywords_are_refused() -> None:
    with pytest.raises(CardRenderError, match=r"\$whenn"):
        render_template({"body": [{"$whenn": "${x}"}]}, {"x": True})


# --- $when -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "kept"),
    [
        ("${flag}", True),
        ("${!flag}", False),
        ("${off}", False),
        ("${!off}", True),
        ("${kind == 'late'}", True),
        ("${kind != 'late'}", False),
        ("${kind == 'missing'}", False),
        ("${count(items) > 0}", True),
        ("${count(empty) > 0}", False),
        ("${count(empty) == 0}", True),
        ("${points >= 85}", True),
        ("${points < 85}", False),
        ("${nothing == null}", True),
        ("${nothing != null}", False),
        ("${flag == true}", True),
        ("${zero == false}", False),
        ("${absent}", False),
        ("${!absent}", True),
        ("${count(absent) > 0}", False),
        ("${empty}", False),
        ("${blank}", False),
        (True, True),
        (False, False),
    ],
)
def test_when_keeps_or_drops_an_element(when: object, kept: bool) -> None:
    data = {
        "flag": True,
        "off": False,
        "kind": "late",
        "items": [1],
        "empty": [],
        "blank": "",
        "points": 85,
        "nothing": None,
        "zero": 0,
    }
    template = {"body": [{"$when": when, "type": "TextBlock", "text": "x"}]}

    rendered = render_template(template, data)

    assert rendered["body"] == ([{"type": "TextBlock", "text": "x"}] if kept else [])


def test_when_on_a_property_object_drops_the_property() -> None:
    template = {"type": "Column", "selectAction": {"$when": "${go}", "type": "Action.Execute", "verb": "help"}}

    assert render_template(template, {"go": False}) == {"type": "Column"}
    assert render_template(template, {"go": True})["selectAction"] == {"type": "Action.Execute", "verb": "help"}


def test_when_is_checked_before_the_element_s_other_expressions() -> None:
    template = {"actions": [{"$when": "${undo}", "verb": "${undo.verb}"}]}

    assert render_template(template, {"undo": None}) == {"actions": []}


def test_a_malformed_when_is_an_error() -> None:
    with pytest.raises(CardRenderError, match=r"\$when"):
        render_template({"body": [{"$when": "flag", "type": "TextBlock"}]}, {"flag": True})


# --- $data -------------------------------------------------------------------------------------------------------


def test_data_repeats_an_element_per_item_with_index_and_root() -> None:
    template = {
        "body": [
            {"type": "TextBlock", "text": "head"},
            {"$data": "${students}", "type": "TextBlock", "text": "${$index}. ${name} of ${$root.total}"},
            {"type": "TextBlock", "text": "tail"},
        ]
    }
    data = {"total": 2, "students": [{"name": "Alice"}, {"name": "Bob"}]}

    rendered = render_template(template, data)

    assert [block["text"] for block in rendered["body"]] == ["head", "0. Alice of 2", "1. Bob of 2", "tail"]


def test_data_items_can_be_plain_values() -> None:
    template = {"items": [{"$data": "${reasons}", "text": "• ${$data}"}]}

    assert render_template(template, {"reasons": ["a", "b"]}) == {"items": [{"text": "• a"}, {"text": "• b"}]}


def test_when_is_evaluated_per_repeated_item() -> None:
    template = {"items": [{"$data": "${rows}", "$when": "${late}", "text": "${name}"}]}
    rows = [{"name": "A", "late": True}, {"name": "B", "late": False}, {"name": "C", "late": True}]

    assert render_template(template, {"rows": rows}) == {"items": [{"text": "A"}, {"text": "C"}]}


def test_nested_data_scopes() -> None:
    template = {
        "body": [
            {
                "$data": "${sections}",
                "items": [{"$data": "${examples}", "text": "${$root.prefix}${command}"}],
                "heading": "${heading}",
            }
        ]
    }
    data = {
        "prefix": "> ",
        "sections": [
            {"heading": "Grade", "examples": [{"command": "grade A 5"}, {"command": "grade B 6"}]},
            {"heading": "Return", "examples": []},
        ],
    }

    rendered = render_template(template, data)

    assert rendered["body"] == [
        {"heading": "Grade", "items": [{"text": "> grade A 5"}, {"text": "> grade B 6"}]},
        {"heading": "Return", "items": []},
    ]


def test_data_bound_to_an_object_renders_once_in_its_scope() -> None:
    template = {"body": [{"$data": "${student}", "text": "${name}"}], "one": {"$data": "${student}", "t": "${name}"}}

    assert render_template(template, {"student": {"name": "Alice"}}) == {
        "body": [{"text": "Alice"}],
        "one": {"t": "Alice"},
    }


def test_data_on_an_empty_list_removes_the_element() -> None:
    assert render_template({"body": [{"$data": "${rows}", "text": "x"}]}, {"rows": []}) == {"body": []}


def test_the_template_is_not_changed_by_rendering() -> None:
    template = {"body": [{"$data": "${rows}", "$when": "${show}", "text": "${name}"}]}
    before = json.dumps(template)

    render_template(template, {"rows": [{"name": "A", "show": True}]})

    assert json.dumps(template) == before


# --- the library -------------------------------------------------------------------------------------------------


@pytest.fixture
def cards_copy(tmp_path: Path) -> Path:
    target = tmp_path / "cards"
    shutil.copytree(CARDS, target)
    return target


def test_the_shipped_templates_load_and_pass_the_schema_check() -> None:
    library = CardLibrary.load(CARDS, SCHEMA)

    assert {"result", "confirm", "pick", "error", "help", "status", "grade_form", "grading_sheet"} <= library.names
    assert {"reassign_form", "progress", "result_public"} <= library.names


def test_rendering_an_unknown_card_names_what_is_loaded() -> None:
    library = CardLibrary.load(CARDS)

    with pytest.raises(UnknownCardError, match=r"no card template named 'reslt'.*result"):
        library.render("reslt", {})


def test_every_action_execute_gets_an_action_submit_fallback() -> None:
    template = card(
        {"type": "ActionSet", "actions": [{"type": "Action.Execute", "title": "Go", "verb": "help", "data": "${d}"}]}
    )
    library = CardLibrary({"c": template})

    rendered = library.render("c", {"d": {"verb": "help", "action_key": "k"}})

    action = rendered["body"][0]["actions"][0]
    assert action["fallback"] == {"type": "Action.Submit", "title": "Go", "data": {"verb": "help", "action_key": "k"}}


def test_a_missing_template_is_refused_at_start_up(cards_copy: Path) -> None:
    (cards_copy / "confirm.json").unlink()

    with pytest.raises(CardTemplateError, match=r"missing .*confirm\.json"):
        CardLibrary.load(cards_copy)


def test_a_template_that_is_not_json_is_refused_with_its_position(cards_copy: Path) -> None:
    (cards_copy / "error.json").write_text('{"type": "AdaptiveCard",\n "version": "1.5",, }', encoding="utf-8")

    with pytest.raises(CardTemplateError, match=r"error\.json: not valid JSON: line 2"):
        CardLibrary.load(cards_copy)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": "HeroCard"}, "type must be 'AdaptiveCard'"),
        ({"version": "1.4"}, "version must be '1.5'"),
    ],
)
def test_a_template_of_the_wrong_kind_is_refused(cards_copy: Path, change: dict[str, str], message: str) -> None:
    path = cards_copy / "help.json"
    template = json.loads(path.read_text(encoding="utf-8")) | change
    path.write_text(json.dumps(template), encoding="utf-8")

    with pytest.raises(CardTemplateError, match=message):
        CardLibrary.load(cards_copy)


def test_a_template_without_sample_data_is_refused(cards_copy: Path) -> None:
    (cards_copy / "samples" / "progress.json").unlink()

    with pytest.raises(CardTemplateError, match=r"progress\.json has no sample data"):
        CardLibrary.load(cards_copy)


def test_a_template_referring_to_a_value_its_view_lacks_is_refused(cards_copy: Path) -> None:
    path = cards_copy / "progress.json"
    path.write_text(path.read_text(encoding="utf-8").replace("${title}", "${titel}"), encoding="utf-8")

    with pytest.raises(CardTemplateError, match=r"progress\.json does not render with its sample: .*titel"):
        CardLibrary.load(cards_copy)


def test_a_sample_that_does_not_fit_its_view_is_refused(cards_copy: Path) -> None:
    (cards_copy / "samples" / "progress.json").write_text('{"title": "x", "done": 5, "total": 2}', encoding="utf-8")

    with pytest.raises(CardTemplateError, match=r"does not fit the progress view"):
        CardLibrary.load(cards_copy)


def test_a_template_that_renders_an_invalid_card_fails_the_schema_check(cards_copy: Path) -> None:
    path = cards_copy / "reassign_form.json"
    path.write_text(path.read_text(encoding="utf-8").replace('"TextBlock"', '"TextBlok"', 1), encoding="utf-8")

    CardLibrary.load(cards_copy)  # without the schema the typo goes unnoticed
    with pytest.raises(CardTemplateError, match=r"reassign_form\.json rendered with its sample is not a valid card"):
        CardLibrary.load(cards_copy, SCHEMA)


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CardTemplateError, match="does not exist"):
        CardLibrary.load(tmp_path / "nowhere")


def test_an_extra_template_without_a_view_renders_its_sample_as_is(cards_copy: Path) -> None:
    (cards_copy / "note.json").write_text(json.dumps(card({"type": "TextBlock", "text": "${text}"})), "utf-8")
    (cards_copy / "samples" / "note.json").write_text('{"text": "hello"}', encoding="utf-8")

    library = CardLibrary.load(cards_copy, SCHEMA)

    assert library.render("note", {"text": "hi"})["body"] == [{"type": "TextBlock", "text": "hi"}]
