"""Typed view models, one per card template: what the caller must supply to render each card.

Sentences (titles, problems, next steps, status words) come in from the caller (`bot.messages`); button titles,
fact labels and column headers live in the templates (`cards/*.json`). A view turns itself into template data with
`to_data()`; buttons are `CardAction`s and arrive in the data as the exact payload the button carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.cards.actions import ID_PATTERN, CardAction, SheetFilter, Verb
from bot.graph.ids import AssignmentId, ClassId, SubmissionId

Text = Annotated[str, Field(min_length=1, max_length=2000)]
"""A line of card text from the caller."""

Name = Annotated[str, Field(min_length=1, max_length=300)]
Id = Annotated[str, Field(pattern=ID_PATTERN)]
Count = Annotated[int, Field(ge=0)]

MAX_PICK_BUTTONS: Final = 5
"""A pick card shows one button per candidate up to this many; more become a drop-down and a submit button."""

MAX_LISTED_NAMES: Final = 15
"""A status card lists this many names per list, then "and N more"."""

SHEET_PAGE_SIZE: Final = 40
"""Rows per grading-sheet page: 40 rows render well under Teams' ~28 KB message limit."""

MAX_FORM_CHOICES: Final = 100
"""A grade form's drop-downs hold at most this many options (size limit); larger classes use the grading sheet."""

SHEET_NAME_CHARS: Final = 60
"""Longer names are shortened on the grading sheet so a full page keeps its size."""


def _expect_verb(action: CardAction | None, *verbs: Verb) -> None:
    if action is not None and action.verb not in verbs:
        raise ValueError(f"button verb {action.verb.value} is not one of {', '.join(verb.value for verb in verbs)}")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CardView(_Model):
    """Base of every view model: `template` names the card template it renders with."""

    template: ClassVar[str]

    def to_data(self) -> dict[str, Any]:
        """Return the template data: the fields as JSON, buttons as their payloads."""
        return self.model_dump(mode="json")


class ResultView(CardView):
    """What an action changed ("Alice Smith — Essay 2", points, status) with next-step buttons."""

    template: ClassVar[str] = "result"

    title: Text
    points: Text | None = None
    status: Text | None = None
    feedback: Annotated[str, Field(max_length=5000)] | None = None
    note: Text | None = None
    return_button: CardAction | None = None
    feedback_button: CardAction | None = None
    undo_button: CardAction | None = None

    @model_validator(mode="after")
    def _check_buttons(self) -> ResultView:
        _expect_verb(self.return_button, Verb.SUBMISSION_RETURN)
        _expect_verb(self.feedback_button, Verb.FEEDBACK_OPEN)
        _expect_verb(self.undo_button, Verb.UNDO)
        return self


class PublicResultView(CardView):
    """The channel-visible twin of a result ("Essay 2: 1 submission updated"): no names, points or feedback."""

    template: ClassVar[str] = "result_public"

    summary: Text


class ConfirmView(CardView):
    """Ask before an unusual change: student, assignment, old → new value and the reasons for asking."""

    template: ClassVar[str] = "confirm"

    student: Name
    assignment: Name
    old_value: Text | None = None
    new_value: Text
    reasons: Annotated[list[Text], Field(max_length=10)] = Field(default_factory=list[str])
    confirm_button: CardAction
    cancel_button: CardAction

    @model_validator(mode="after")
    def _check_buttons(self) -> ConfirmView:
        _expect_verb(self.confirm_button, Verb.GRADE_CONFIRM)
        _expect_verb(self.cancel_button, Verb.GRADE_CANCEL)
        if self.confirm_button.nonce is None:
            raise ValueError("the confirm button must carry a nonce")
        return self


class PickCandidate(_Model):
    """One candidate on a pick card: its id and how it is shown."""

    id: Id
    label: Name


class PickView(CardView):
    """Pick a student / class / assignment: one button per candidate, or a drop-down when there are many.

    `submit` is the original command's action (verb `pick.student`, `pick.class` or `pick.assignment`, the
    command's data in `extra`); each candidate's button is a copy with the chosen id set.
    """

    template: ClassVar[str] = "pick"

    title: Text
    candidates: Annotated[list[PickCandidate], Field(min_length=1, max_length=100)]
    submit: CardAction

    @model_validator(mode="after")
    def _check(self) -> PickView:
        _expect_verb(self.submit, Verb.PICK_STUDENT, Verb.PICK_CLASS, Verb.PICK_ASSIGNMENT)
        ids = [candidate.id for candidate in self.candidates]
        if len(set(ids)) != len(ids):
            raise ValueError("candidate ids must be unique")
        return self

    def to_data(self) -> dict[str, Any]:
        """Return the template data: `buttons` (few candidates) or `choices` + `submit` (many)."""
        field = _PICK_FIELDS[self.submit.verb]
        few = len(self.candidates) <= MAX_PICK_BUTTONS
        buttons = [
            {"label": candidate.label, "action": self.submit.with_changes(**{field: candidate.id}).to_data()}
            for candidate in self.candidates
        ]
        choices = [{"title": candidate.label, "value": candidate.id} for candidate in self.candidates]
        return {
            "title": self.title,
            "buttons": buttons if few else [],
            "choices": [] if few else choices,
            "submit": self.submit.to_data(),
        }


_PICK_FIELDS: Final[Mapping[Verb, str]] = {
    Verb.PICK_STUDENT: "student_id",
    Verb.PICK_CLASS: "class_id",
    Verb.PICK_ASSIGNMENT: "assignment_id",
}


class ErrorView(CardView):
    """What went wrong and what to do next, with an optional usage example and [Help]."""

    template: ClassVar[str] = "error"

    problem: Text
    next_step: Text | None = None
    usage: Text | None = None
    help_button: CardAction | None = None

    @model_validator(mode="after")
    def _check_buttons(self) -> ErrorView:
        _expect_verb(self.help_button, Verb.HELP)
        return self


class HelpExample(_Model):
    """An example command and what it does."""

    command: Text
    description: Text | None = None


class HelpSection(_Model):
    """A heading and its example commands."""

    heading: Text
    examples: Annotated[list[HelpExample], Field(min_length=1)]


class HelpView(CardView):
    """Sections of example commands."""

    template: ClassVar[str] = "help"

    title: Text
    intro: Text | None = None
    sections: Annotated[list[HelpSection], Field(min_length=1, max_length=12)]


class StatusCounts(_Model):
    """How many submissions are in each state."""

    not_submitted: Count = 0
    submitted: Count = 0
    graded: Count = 0
    """Points saved but not yet returned."""
    returned: Count = 0
    reassigned: Count = 0
    excused: Count = 0


class DistributionBin(_Model):
    """One bar of the grade distribution ("90–100": 7)."""

    label: Annotated[str, Field(min_length=1, max_length=20)]
    count: Count


class StatusView(CardView):
    """Counts by status, who is missing / ungraded / late, and a grade-distribution bar chart."""

    template: ClassVar[str] = "status"

    title: Text
    counts: StatusCounts
    missing: list[Name] = Field(default_factory=list[str])
    ungraded: list[Name] = Field(default_factory=list[str])
    late: list[Name] = Field(default_factory=list[str])
    distribution: Annotated[list[DistributionBin], Field(max_length=20)] = Field(default_factory=list[DistributionBin])
    refresh_button: CardAction | None = None
    sheet_button: CardAction | None = None

    @model_validator(mode="after")
    def _check_buttons(self) -> StatusView:
        _expect_verb(self.refresh_button, Verb.STATUS_REFRESH)
        _expect_verb(self.sheet_button, Verb.SHEET_OPEN)
        return self

    def to_data(self) -> dict[str, Any]:
        """Return the template data: name lists cut to `MAX_LISTED_NAMES`, chart bars as column weights."""
        data = self.model_dump(mode="json", exclude={"missing", "ungraded", "late", "distribution"})
        for name in ("missing", "ungraded", "late"):
            data[name] = _name_list(getattr(self, name))
        highest = max((item.count for item in self.distribution), default=0)
        data["chart"] = (
            [
                {"label": item.label, "count": item.count, "bar": item.count, "rest": highest - item.count}
                for item in self.distribution
            ]
            if highest > 0
            else []
        )
        return data


def _name_list(names: list[str]) -> dict[str, Any]:
    shown = names[:MAX_LISTED_NAMES]
    return {"count": len(names), "names": ", ".join(shown), "more": len(names) - len(shown)}


class Choice(_Model):
    """One option of a drop-down: what is shown and the id sent back."""

    title: Name
    value: Id


class GradeFormView(CardView):
    """A grading form: assignment and student pickers, points, feedback, [Save] [Save & return] [Reassign]."""

    template: ClassVar[str] = "grade_form"

    title: Text
    assignments: Annotated[list[Choice], Field(min_length=1, max_length=MAX_FORM_CHOICES)]
    assignment_id: Id | None = None
    students: Annotated[list[Choice], Field(min_length=1, max_length=MAX_FORM_CHOICES)]
    student_id: Id | None = None
    max_points: Annotated[float, Field(gt=0)] | None = None
    points: Annotated[float, Field(ge=0)] | None = None
    feedback: Annotated[str, Field(max_length=5000)] | None = None
    save_button: CardAction
    save_return_button: CardAction | None = None
    reassign_button: CardAction | None = None

    @model_validator(mode="after")
    def _check_buttons(self) -> GradeFormView:
        _expect_verb(self.save_button, Verb.GRADE_SAVE)
        _expect_verb(self.save_return_button, Verb.GRADE_SAVE_RETURN)
        _expect_verb(self.reassign_button, Verb.SUBMISSION_REASSIGN)
        return self


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class SheetRow(_Model):
    """One student's line on a grading sheet."""

    submission_id: Annotated[SubmissionId, Field(pattern=ID_PATTERN)]
    name: Name
    status: Annotated[str, Field(min_length=1, max_length=60)]
    points: Annotated[float, Field(ge=0)] | None = None


class GradingSheetView(CardView):
    """One assignment, one row per student with a points box; filter buttons, [Save all] and paging.

    `rows` are all the rows for the current filter; the view shows page `page` of them.
    """

    template: ClassVar[str] = "grading_sheet"

    title: Text
    class_id: Annotated[ClassId, Field(pattern=ID_PATTERN)]
    assignment_id: Annotated[AssignmentId, Field(pattern=ID_PATTERN)]
    max_points: Annotated[float, Field(gt=0)] | None = None
    filter: SheetFilter = SheetFilter.ALL
    rows: list[SheetRow] = Field(default_factory=list[SheetRow])
    page: Annotated[int, Field(ge=1)] = 1
    page_size: Annotated[int, Field(ge=1, le=50)] = SHEET_PAGE_SIZE
    empty_text: Text | None = None

    @property
    def page_count(self) -> int:
        """How many pages the rows fill (at least 1)."""
        return max(1, -(-len(self.rows) // self.page_size))

    def to_data(self) -> dict[str, Any]:
        """Return the template data: this page's rows and the sheet's buttons (built from the ids)."""
        page = min(self.page, self.page_count)
        start = (page - 1) * self.page_size
        rows = [
            row.model_dump(mode="json") | {"name": _clip(row.name, SHEET_NAME_CHARS)}
            for row in self.rows[start : start + self.page_size]
        ]
        base = CardAction(verb=Verb.SHEET_SAVE_ALL, class_id=self.class_id, assignment_id=self.assignment_id)

        def page_button(number: int) -> dict[str, Any] | None:
            if not 1 <= number <= self.page_count or number == page:
                return None
            extra = {"page": number, "filter": self.filter.value}
            return base.with_changes(verb=Verb.SHEET_PAGE, extra=extra).to_data()

        filters = {
            item.value: base.with_changes(verb=Verb.SHEET_FILTER, extra={"filter": item.value}).to_data()
            for item in SheetFilter
        }
        return {
            "title": self.title,
            "max_points": self.max_points,
            "filter": self.filter.value,
            "rows": rows,
            "page": page,
            "page_count": self.page_count,
            "empty_text": self.empty_text,
            "save_all": base.with_changes(extra={"page": page, "filter": self.filter.value}).to_data()
            if rows
            else None,
            "filters": filters,
            "previous_page": page_button(page - 1),
            "next_page": page_button(page + 1),
        }


class ReassignFormView(CardView):
    """Feedback for the student and [Reassign]."""

    template: ClassVar[str] = "reassign_form"

    title: Text
    prompt: Text | None = None
    feedback: Annotated[str, Field(max_length=5000)] | None = None
    reassign_button: CardAction

    @model_validator(mode="after")
    def _check_buttons(self) -> ReassignFormView:
        _expect_verb(self.reassign_button, Verb.SUBMISSION_REASSIGN)
        return self


class FeedbackFormView(CardView):
    """Write or edit feedback on one submission ([Add feedback] on a result): [Save feedback] [Save & return]."""

    template: ClassVar[str] = "feedback_form"

    title: Text
    prompt: Text | None = None
    feedback: Annotated[str, Field(max_length=5000)] | None = None
    save_button: CardAction
    save_return_button: CardAction | None = None

    @model_validator(mode="after")
    def _check_buttons(self) -> FeedbackFormView:
        _expect_verb(self.save_button, Verb.GRADE_SAVE)
        _expect_verb(self.save_return_button, Verb.GRADE_SAVE_RETURN)
        return self


class ProgressView(CardView):
    """Progress of a long job ("12 of 30") with a bar; re-render and update the same message as it moves."""

    template: ClassVar[str] = "progress"

    title: Text
    done: Count
    total: Count
    failed: Count = 0
    detail: Text | None = None

    @model_validator(mode="after")
    def _check_counts(self) -> ProgressView:
        if self.done + self.failed > self.total:
            raise ValueError("done + failed cannot exceed total")
        return self

    def to_data(self) -> dict[str, Any]:
        """Return the template data with the bar's column weights (done / failed / remaining)."""
        data = self.model_dump(mode="json")
        data["remaining"] = self.total - self.done - self.failed
        data["finished"] = self.total > 0 and data["remaining"] == 0
        return data


VIEWS: Final[Mapping[str, type[CardView]]] = {
    view.template: view
    for view in (
        ResultView,
        PublicResultView,
        ConfirmView,
        PickView,
        ErrorView,
        HelpView,
        StatusView,
        GradeFormView,
        GradingSheetView,
        ReassignFormView,
        FeedbackFormView,
        ProgressView,
    )
}
"""Every card the bot renders, by template name. `CardLibrary.load` requires each template and checks its sample."""
