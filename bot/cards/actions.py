"""The button contract: what every card button carries, and the server-side check of what comes back.

Every button is an `Action.Execute` (card version 1.5) whose `data` holds the verb and the ids it acts on, so a click
routes without conversation state. Each `Action.Execute` gets an `Action.Submit` twin as its `fallback`, with the
same `data`, for clients without Universal Actions. The verb is repeated inside `data` so both shapes carry it.

What arrives back can be forged, so `parse_card_action` checks it all again: a known verb, ids of the right shape, the
ids this verb needs, and numeric points. It accepts either shape the client sends:

* an `adaptiveCard/action` invoke's `value`: `{"action": {"type": "Action.Execute", "verb": ..., "data": {...}}}`,
  where Teams has merged the card's inputs into `data`;
* an `Action.Submit` message's `value`: the button's `data` merged with the card's inputs.

Input ids the templates use (they must not collide with the `data` keys above): `points`, `feedback`, `choice` (pick
card), `choice_assignment` / `choice_student` (grade form) and `points_<submissionId>` (grading sheet).
"""

from __future__ import annotations

import copy
import math
import re
import secrets
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Final, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_serializer

from bot.graph.ids import AssignmentId, ClassId, SubmissionId, UserId

ID_PATTERN: Final = r"^[A-Za-z0-9\-_.]{1,128}$"
"""Graph ids (GUIDs) and the sandbox's ids both fit this shape."""

KEY_PATTERN: Final = r"^[A-Za-z0-9\-_]{1,128}$"
"""Nonces and action keys: URL-safe tokens."""

_EXTRA_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_CHANGE_ID = re.compile(r"^[0-9a-f]{32}$")
"""A change id as `actions.writes.apply` makes them (uuid4 hex)."""
_POINTS_TEXT = re.compile(r"^[0-9]{1,9}(?:\.[0-9]{1,6})?$|^\.[0-9]{1,6}$")
_ID = re.compile(ID_PATTERN)

MAX_EXTRA_ITEMS: Final = 16
MAX_EXTRA_TEXT: Final = 500
MAX_FEEDBACK_CHARS: Final = 10_000
"""Feedback longer than this is refused (the reassign and grade forms cap the field lower)."""

INPUT_POINTS: Final = "points"
INPUT_FEEDBACK: Final = "feedback"
INPUT_CHOICE: Final = "choice"
INPUT_CHOICE_ASSIGNMENT: Final = "choice_assignment"
INPUT_CHOICE_STUDENT: Final = "choice_student"
SHEET_POINTS_PREFIX: Final = "points_"

REFRESH_VERB: Final = "card.refresh"
MAX_REFRESH_USERS: Final = 60
"""Teams refreshes a user-specific view automatically for at most 60 listed users."""


class Verb(StrEnum):
    """What a button asks the bot to do."""

    GRADE_SAVE = "grade.save"
    GRADE_SAVE_RETURN = "grade.save_return"
    GRADE_CONFIRM = "grade.confirm"
    GRADE_CANCEL = "grade.cancel"
    SUBMISSION_RETURN = "submission.return"
    SUBMISSION_REASSIGN = "submission.reassign"
    SUBMISSION_EXCUSE = "submission.excuse"
    FEEDBACK_OPEN = "feedback.open"
    REASSIGN_OPEN = "reassign.open"
    UNDO = "undo"
    PICK_STUDENT = "pick.student"
    PICK_CLASS = "pick.class"
    PICK_ASSIGNMENT = "pick.assignment"
    SHEET_OPEN = "sheet.open"
    SHEET_SAVE_ALL = "sheet.save_all"
    SHEET_FILTER = "sheet.filter"
    SHEET_PAGE = "sheet.page"
    STATUS_REFRESH = "status.refresh"
    HELP = "help"
    CARD_REFRESH = REFRESH_VERB


class SheetFilter(StrEnum):
    """Which rows a grading sheet shows (`extra["filter"]` of sheet buttons)."""

    UNGRADED = "ungraded"
    SUBMITTED = "submitted"
    ALL = "all"


_SUBMISSION_TARGET: Final = frozenset({"class_id", "assignment_id", "submission_or_student"})
_REQUIRED: Final[Mapping[Verb, frozenset[str]]] = {
    Verb.GRADE_SAVE: _SUBMISSION_TARGET,
    Verb.GRADE_SAVE_RETURN: _SUBMISSION_TARGET,
    Verb.GRADE_CONFIRM: frozenset({"nonce"}),
    Verb.GRADE_CANCEL: frozenset({"nonce"}),
    Verb.SUBMISSION_RETURN: _SUBMISSION_TARGET,
    Verb.SUBMISSION_REASSIGN: _SUBMISSION_TARGET,
    Verb.SUBMISSION_EXCUSE: _SUBMISSION_TARGET,
    Verb.FEEDBACK_OPEN: _SUBMISSION_TARGET,
    Verb.REASSIGN_OPEN: _SUBMISSION_TARGET,
    Verb.UNDO: frozenset({"extra.change"}),
    Verb.PICK_STUDENT: frozenset({"student_id"}),
    Verb.PICK_CLASS: frozenset({"class_id"}),
    Verb.PICK_ASSIGNMENT: frozenset({"assignment_id"}),
    Verb.SHEET_OPEN: frozenset({"class_id", "assignment_id"}),
    Verb.SHEET_SAVE_ALL: frozenset({"class_id", "assignment_id"}),
    Verb.SHEET_FILTER: frozenset({"class_id", "assignment_id", "extra.filter"}),
    Verb.SHEET_PAGE: frozenset({"class_id", "assignment_id", "extra.page"}),
    Verb.STATUS_REFRESH: frozenset({"class_id"}),
    Verb.HELP: frozenset(),
    Verb.CARD_REFRESH: frozenset(),
}
"""The fields each verb needs once the user's choices are merged in; "submission_or_student" needs either id."""

_PICK_FIELD: Final[Mapping[Verb, str]] = {
    Verb.PICK_STUDENT: "student_id",
    Verb.PICK_CLASS: "class_id",
    Verb.PICK_ASSIGNMENT: "assignment_id",
}


def new_action_key() -> str:
    """Return a fresh random key that tells two clicks of the same button apart from two different buttons."""
    return secrets.token_urlsafe(12)


ExtraValue = str | int | float | bool
IdText = Annotated[str, Field(pattern=ID_PATTERN)]
KeyText = Annotated[str, Field(pattern=KEY_PATTERN)]


class CardInputs(BaseModel):
    """What the user typed or chose on the card; empty on a button, filled by `parse_card_action`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    points: float | None = None
    feedback: str | None = None
    sheet_points: dict[SubmissionId, float] = Field(default_factory=dict[SubmissionId, float])
    """`points_<submissionId>` inputs of a grading sheet that were filled in (empty ones are left out)."""


class CardAction(BaseModel):
    """One button's payload. Serialises (model_dump) to exactly the `data` the button carries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    verb: Verb
    class_id: Annotated[ClassId, Field(pattern=ID_PATTERN)] | None = None
    assignment_id: Annotated[AssignmentId, Field(pattern=ID_PATTERN)] | None = None
    submission_id: Annotated[SubmissionId, Field(pattern=ID_PATTERN)] | None = None
    student_id: Annotated[UserId, Field(pattern=ID_PATTERN)] | None = None
    nonce: KeyText | None = None
    action_key: KeyText = Field(default_factory=new_action_key)
    extra: dict[str, ExtraValue] = Field(default_factory=dict[str, ExtraValue])
    inputs: CardInputs = Field(default_factory=CardInputs)
    """Filled only on a parsed click; never part of the button's data."""

    @field_validator("extra")
    @classmethod
    def _check_extra(cls, value: dict[str, ExtraValue]) -> dict[str, ExtraValue]:
        if len(value) > MAX_EXTRA_ITEMS:
            raise ValueError("too many extra values")
        for key, item in value.items():
            if not _EXTRA_KEY.match(key):
                raise ValueError("malformed extra key")
            if isinstance(item, str) and len(item) > MAX_EXTRA_TEXT:
                raise ValueError("extra value too long")
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError("extra number not finite")
        return value

    @model_serializer(mode="plain")
    def _serialize(self) -> dict[str, Any]:
        return self.to_data()

    def to_data(self) -> dict[str, Any]:
        """Return the button's `data`: verb, action_key and the fields that are set (never the inputs)."""
        data: dict[str, Any] = {"verb": self.verb.value, "action_key": self.action_key}
        for name in ("class_id", "assignment_id", "submission_id", "student_id", "nonce"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.extra:
            data["extra"] = dict(self.extra)
        return data

    def to_submit_fallback(self, title: str) -> dict[str, Any]:
        """Return the `Action.Submit` twin of this button, for clients without `Action.Execute`.

        Args:
            title: the button label (from the template or `bot.messages`).

        Returns:
            `{"type": "Action.Submit", "title": title, "data": {"verb": ..., ...}}`.
        """
        return {"type": "Action.Submit", "title": title, "data": self.to_data()}

    def to_execute(self, title: str) -> dict[str, Any]:
        """Return this button as an `Action.Execute` with its `Action.Submit` fallback.

        Args:
            title: the button label (from the template or `bot.messages`).

        Returns:
            An `Action.Execute` element valid under the Adaptive Cards 1.5 schema.
        """
        return {
            "type": "Action.Execute",
            "title": title,
            "verb": self.verb.value,
            "data": self.to_data(),
            "fallback": self.to_submit_fallback(title),
        }

    def with_changes(self, **changes: Any) -> CardAction:
        """Return a validated copy with some fields changed and a fresh action key (a different button)."""
        data = self.to_data()
        data.pop("action_key")
        data.update({key: value for key, value in changes.items() if key != "inputs"})
        return CardAction.model_validate(data)


class CardActionErrorReason(StrEnum):
    """Why a received payload was refused. The router turns these into wording."""

    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_VERB = "unknown_verb"
    VERB_MISMATCH = "verb_mismatch"
    MISSING_FIELD = "missing_field"
    MALFORMED_FIELD = "malformed_field"
    BAD_POINTS = "bad_points"
    BAD_INPUT = "bad_input"


class CardActionError(BaseModel):
    """A refused click: `reason` says why and `field` names the offending key when there is one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: CardActionErrorReason
    field: str | None = None


_ACTION_FIELDS: Final = ("verb", "class_id", "assignment_id", "submission_id", "student_id", "nonce", "action_key")


def parse_card_action(payload: Mapping[str, Any]) -> CardAction | CardActionError:
    """Check a received click and return the action it asks for, with the user's inputs.

    Args:
        payload: the activity's `value`: an `adaptiveCard/action` invoke value (`{"action": {...}}`) or an
            `Action.Submit` message value (button data merged with the card's inputs).

    Returns:
        The `CardAction`, its `inputs` filled and the user's picks (`choice`, `choice_assignment`,
        `choice_student`) merged into the ids; or a `CardActionError` for anything malformed or forged.
    """
    if not isinstance(payload, Mapping):  # pyright: ignore[reportUnnecessaryIsInstance] - payload comes off the wire
        return CardActionError(reason=CardActionErrorReason.NOT_AN_OBJECT)
    data, verb_text = _unwrap(payload)
    if isinstance(data, CardActionError):
        return data
    if verb_text is None or not isinstance(verb_text, str) or verb_text not in _VERBS:
        return CardActionError(reason=CardActionErrorReason.UNKNOWN_VERB, field="verb")
    verb = Verb(verb_text)

    fields: dict[str, Any] = {"verb": verb}
    for name in _ACTION_FIELDS[1:]:
        if name in data and data[name] is not None:
            fields[name] = data[name]
    if "action_key" not in fields:
        return CardActionError(reason=CardActionErrorReason.MISSING_FIELD, field="action_key")
    extra = data.get("extra")
    if extra is not None:
        if not isinstance(extra, Mapping):
            return CardActionError(reason=CardActionErrorReason.MALFORMED_FIELD, field="extra")
        fields["extra"] = extra

    picks = _picks(data, verb)
    if isinstance(picks, CardActionError):
        return picks
    fields.update(picks)

    inputs = _inputs(data)
    if isinstance(inputs, CardActionError):
        return inputs
    fields["inputs"] = inputs

    try:
        action = CardAction.model_validate(fields, strict=False)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        return CardActionError(reason=CardActionErrorReason.MALFORMED_FIELD, field=field)
    return _check_required(action)


_VERBS: Final = frozenset(verb.value for verb in Verb)


def _unwrap(payload: Mapping[str, Any]) -> tuple[Mapping[str, Any] | CardActionError, object]:
    action = payload.get("action")
    if isinstance(action, Mapping):
        action_map: Mapping[str, Any] = action  # pyright: ignore[reportUnknownVariableType]
        if action_map.get("type") != "Action.Execute":
            return CardActionError(reason=CardActionErrorReason.NOT_AN_OBJECT, field="action.type"), None
        data = action_map.get("data", {})
        if not isinstance(data, Mapping):
            return CardActionError(reason=CardActionErrorReason.NOT_AN_OBJECT, field="action.data"), None
        data_map: Mapping[str, Any] = data  # pyright: ignore[reportUnknownVariableType]
        verb = action_map.get("verb")
        inner = data_map.get("verb")
        if inner is not None and inner != verb:
            return CardActionError(reason=CardActionErrorReason.VERB_MISMATCH, field="verb"), None
        return data_map, verb
    return payload, payload.get("verb")


def _picks(data: Mapping[str, Any], verb: Verb) -> dict[str, str] | CardActionError:
    chosen: dict[str, str] = {}
    sources = [(INPUT_CHOICE_ASSIGNMENT, "assignment_id"), (INPUT_CHOICE_STUDENT, "student_id")]
    if verb in _PICK_FIELD:
        sources.append((INPUT_CHOICE, _PICK_FIELD[verb]))
    for input_id, field in sources:
        value = data.get(input_id)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or not _ID.match(value):
            return CardActionError(reason=CardActionErrorReason.MALFORMED_FIELD, field=input_id)
        chosen[field] = value
    return chosen


def _inputs(data: Mapping[str, Any]) -> CardInputs | CardActionError:
    points = _points(data.get(INPUT_POINTS))
    if isinstance(points, CardActionError):
        return CardActionError(reason=points.reason, field=INPUT_POINTS)
    feedback = data.get(INPUT_FEEDBACK)
    if feedback is not None and (not isinstance(feedback, str) or len(feedback) > MAX_FEEDBACK_CHARS):
        return CardActionError(reason=CardActionErrorReason.BAD_INPUT, field=INPUT_FEEDBACK)
    sheet: dict[SubmissionId, float] = {}
    for key, value in data.items():
        if not key.startswith(SHEET_POINTS_PREFIX):
            continue
        submission_id = key[len(SHEET_POINTS_PREFIX) :]
        if not _ID.match(submission_id):
            return CardActionError(reason=CardActionErrorReason.MALFORMED_FIELD, field=key)
        parsed = _points(value)
        if isinstance(parsed, CardActionError):
            return CardActionError(reason=parsed.reason, field=key)
        if parsed is not None:
            sheet[SubmissionId(submission_id)] = parsed
    return CardInputs(points=points, feedback=feedback or None, sheet_points=sheet)


def _points(value: object) -> float | CardActionError | None:
    """Parse an Input.Number value: Teams sends it as a string; empty means "not entered"."""
    bad = CardActionError(reason=CardActionErrorReason.BAD_POINTS)
    if value is None:
        return None
    if isinstance(value, bool):
        return bad
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if not _POINTS_TEXT.match(text):
            return bad
        number = float(text)
    else:
        return bad
    if not math.isfinite(number) or number < 0:
        return bad
    return number


def _check_required(action: CardAction) -> CardAction | CardActionError:
    for need in sorted(_REQUIRED[action.verb]):
        if need == "submission_or_student":
            if action.submission_id is None and action.student_id is None:
                return CardActionError(reason=CardActionErrorReason.MISSING_FIELD, field="submission_id")
        elif need.startswith("extra."):
            key = need.removeprefix("extra.")
            if key not in action.extra:
                return CardActionError(reason=CardActionErrorReason.MISSING_FIELD, field=need)
        elif getattr(action, need) is None:
            return CardActionError(reason=CardActionErrorReason.MISSING_FIELD, field=need)
    return _check_extra_values(action)


def _check_extra_values(action: CardAction) -> CardAction | CardActionError:
    filter_value = action.extra.get("filter")
    if filter_value is not None and filter_value not in {item.value for item in SheetFilter}:
        return CardActionError(reason=CardActionErrorReason.MALFORMED_FIELD, field="extra.filter")
    page = action.extra.get("page")
    if page is not None and (isinstance(page, bool) or not isinstance(page, int) or not 1 <= page <= 10_000):
        return CardActionError(reason=CardActionErrorReason.MALFORMED_FIELD, field="extra.page")
    change = action.extra.get("change")
    if change is not None and not (isinstance(change, str) and _CHANGE_ID.match(change)):
        return CardActionError(reason=CardActionErrorReason.MALFORMED_FIELD, field="extra.change")
    return action


def undo_action(change_id: str) -> CardAction:
    """[Undo] of one change: the button names the change (the audit log holds who made it and its before-values)."""
    return CardAction(verb=Verb.UNDO, extra={"change": change_id})


def with_submit_fallbacks(card: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of `card` where every `Action.Execute` without a fallback gets its `Action.Submit` twin.

    Args:
        card: a rendered Adaptive Card.

    Returns:
        The card with `fallback: {"type": "Action.Submit", "title": <same>, "data": <same>}` added (and the same
        `associatedInputs`); the card's `refresh` action is left alone (a refresh is never shown as a button).
    """
    return add_submit_fallbacks(copy.deepcopy(dict(card)))


def add_submit_fallbacks(card: dict[str, Any]) -> dict[str, Any]:
    """`with_submit_fallbacks` in place, for a card the caller just built and owns (no copy: rendering is hot)."""
    for key, value in card.items():
        if key != "refresh":
            _add_fallbacks(value)
    return card


def _add_fallbacks(node: object) -> None:
    if isinstance(node, list):
        for item in cast(list[object], node):
            _add_fallbacks(item)
        return
    if not isinstance(node, dict):
        return
    element: dict[str, Any] = node  # pyright: ignore[reportUnknownVariableType]
    if element.get("type") == "Action.Execute" and "fallback" not in element:
        fallback: dict[str, Any] = {"type": "Action.Submit"}
        for key in ("title", "associatedInputs"):
            if key in element:
                fallback[key] = element[key]
        data = element.get("data")
        if isinstance(data, dict):
            fallback["data"] = dict(data)  # pyright: ignore[reportUnknownArgumentType]
        elif "verb" in element:
            fallback["data"] = {"verb": element["verb"]}
        element["fallback"] = fallback
    for value in element.values():
        _add_fallbacks(cast(object, value))


def for_user(card: Mapping[str, Any], user_ids: list[str], refresh: CardAction | None = None) -> dict[str, Any]:
    """Make a card show a user-specific view: Teams asks the bot to refresh it for each listed user.

    Post the public card (no grades, no feedback) to the channel; the listed users' clients send a
    `card.refresh` invoke and get their private view back.

    Args:
        card: a rendered Adaptive Card (the public view everyone else sees).
        user_ids: the Teams user MRIs (`29:...`) who get the private view; 1 to 60 of them.
        refresh: the refresh action (verb `card.refresh`) carrying the ids the private view needs.

    Returns:
        A copy of `card` with `refresh: {"action": <Action.Execute card.refresh>, "userIds": user_ids}`.

    Raises:
        ValueError: no users, more than 60, or a refresh action whose verb is not `card.refresh`.
    """
    if not user_ids or len(user_ids) > MAX_REFRESH_USERS:
        raise ValueError("user_ids must list 1 to 60 users")
    action = refresh if refresh is not None else CardAction(verb=Verb.CARD_REFRESH)
    if action.verb is not Verb.CARD_REFRESH:
        raise ValueError("the refresh action's verb must be card.refresh")
    result = copy.deepcopy(dict(card))
    result["refresh"] = {
        "action": {"type": "Action.Execute", "verb": action.verb.value, "data": action.to_data()},
        "userIds": list(user_ids),
    }
    return result
