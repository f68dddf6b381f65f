"""Typed teacher commands: what `parse_command` returns. Pure data, no I/O."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_POINTS = Decimal(9_999_999)
"""Points (and out-of values) at or above this are refused as invalid."""

MAX_PERCENT = Decimal(1000)
"""A percentage above this is refused as invalid."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Points(_Frozen):
    """A score as typed: `85`, `17/20` (out_of kept, scaled later), `85%` (percent) or number words."""

    value: Annotated[Decimal, Field(ge=0, lt=MAX_POINTS, allow_inf_nan=False)]
    out_of: Annotated[Decimal | None, Field(gt=0, lt=MAX_POINTS, allow_inf_nan=False)] = None
    percent: bool = False
    text: str

    @model_validator(mode="after")
    def _check_shape(self) -> Points:
        if self.percent and self.out_of is not None:
            raise ValueError("a percentage has no out-of value")
        if self.percent and self.value > MAX_PERCENT:
            raise ValueError("percentage too large")
        return self


class StatusView(StrEnum):
    """Which submissions a status request is about."""

    ALL = "all"
    MISSING = "missing"
    UNGRADED = "ungraded"
    LATE = "late"
    SUBMITTED = "submitted"


class Grade(_Frozen):
    """Set one student's points on an assignment, optionally with feedback."""

    kind: Literal["grade"] = "grade"
    student: str
    assignment: str
    points: Points
    feedback: str | None = None
    class_hint: str | None = None


class BulkEntry(_Frozen):
    """One student's points inside a bulk grade."""

    student: str
    points: Points


class BulkGrade(_Frozen):
    """Set points for several students on one assignment."""

    kind: Literal["bulk_grade"] = "bulk_grade"
    assignment: str
    entries: Annotated[tuple[BulkEntry, ...], Field(min_length=1)]
    class_hint: str | None = None


class Feedback(_Frozen):
    """Write feedback on one student's submission without changing points."""

    kind: Literal["feedback"] = "feedback"
    student: str
    assignment: str
    text: str
    class_hint: str | None = None


class Return(_Frozen):
    """Return graded work: one student's, or every graded submission when `student` is None."""

    kind: Literal["return"] = "return"
    assignment: str
    student: str | None = None
    class_hint: str | None = None


class Reassign(_Frozen):
    """Return work for revision: one student's, or everyone's when `student` is None."""

    kind: Literal["reassign"] = "reassign"
    assignment: str
    student: str | None = None
    feedback: str | None = None
    class_hint: str | None = None


class Excuse(_Frozen):
    """Excuse one student from an assignment."""

    kind: Literal["excuse"] = "excuse"
    student: str
    assignment: str
    class_hint: str | None = None


class Status(_Frozen):
    """Show submissions of an assignment (or of the class when `assignment` is None)."""

    kind: Literal["status"] = "status"
    assignment: str | None = None
    view: StatusView = StatusView.ALL
    class_hint: str | None = None


class Sheet(_Frozen):
    """Open the grading sheet of an assignment: every student with a points box."""

    kind: Literal["sheet"] = "sheet"
    assignment: str
    class_hint: str | None = None


class Undo(_Frozen):
    """Undo the teacher's last change."""

    kind: Literal["undo"] = "undo"


class Help(_Frozen):
    """Show help, in general or on one topic (a canonical command name when recognised)."""

    kind: Literal["help"] = "help"
    topic: str | None = None


class SignOut(_Frozen):
    """Forget the teacher's tokens."""

    kind: Literal["sign_out"] = "sign_out"


class ParseErrorReason(StrEnum):
    """Why a text is not a command; `bot.messages` turns this into wording."""

    EMPTY = "empty"
    ONLY_MENTION = "only_mention"
    TOO_LONG = "too_long"
    UNKNOWN_COMMAND = "unknown_command"
    MALFORMED = "malformed"
    """A known command word, but the rest does not fit any form of it."""
    MISSING_STUDENT = "missing_student"
    MISSING_ASSIGNMENT = "missing_assignment"
    MISSING_POINTS = "missing_points"
    MISSING_FEEDBACK = "missing_feedback"
    AMBIGUOUS_POINTS = "ambiguous_points"
    NEGATIVE_POINTS = "negative_points"
    INVALID_POINTS = "invalid_points"
    DUPLICATE_STUDENT = "duplicate_student"


class ParseError(_Frozen):
    """A refusal: the reason, the closest correct usage as an example, and the offending fragment if any."""

    kind: Literal["parse_error"] = "parse_error"
    reason: ParseErrorReason
    usage: str | None = None
    detail: str | None = None


Command = Grade | BulkGrade | Feedback | Return | Reassign | Excuse | Status | Sheet | Undo | Help | SignOut
"""Every command a teacher can type."""
