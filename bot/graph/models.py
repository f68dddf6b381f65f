"""Pydantic dataclasses of the Graph education resources the assistant reads and writes.

Parsing never crashes on what a newer Graph may send: unknown fields are ignored, unknown enum members become
`unknownFutureValue`, and an outcome with an unknown `@odata.type` becomes `UnknownOutcome`.

The models hold only the fields the assistant reads (the "who did it" identity sets Graph sends with every
submission and outcome are left out), each as one slotted object (`GraphModel`): rosters and submissions are kept
in short-lived caches, every object held there is walked by each full garbage collection, and under load those
passes were the event loop's longest pauses (`make bench`, slow callbacks).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Literal, Self, cast

from pydantic import AfterValidator, ConfigDict, Discriminator, Field, Tag, TypeAdapter, field_validator
from pydantic.alias_generators import to_camel
from pydantic.dataclasses import dataclass

from bot.graph.ids import AssignmentId, ClassId, OutcomeId, SubmissionId, UserId


def _shared_utc(value: datetime) -> datetime:
    """A UTC time with the shared `UTC` tzinfo: pydantic gives every parsed time its own tzinfo object, and the
    cached submissions would keep thousands of them for the garbage collector to walk."""
    if value.tzinfo is not None and value.tzinfo is not UTC and value.utcoffset() == timedelta(0):
        return value.replace(tzinfo=UTC)
    return value


GraphTime = Annotated[datetime, AfterValidator(_shared_utc)]
"""A Graph dateTimeOffset (Graph sends UTC, "2025-03-12T09:00:00Z")."""


class GraphModel:
    """Base for Graph resources: camelCase on the wire, snake_case in Python, unknown fields ignored, immutable.

    Each resource is a pydantic dataclass with slots (`@dataclass(..., config=_CONFIG)`) rather than a `BaseModel`:
    an instance is one object, where a `BaseModel` adds a `__dict__` and a fields-set `set`, up to three objects for
    the garbage collector to walk per cached submission, outcome or student. The `model_*` methods keep pydantic's
    spelling.
    """

    __slots__ = ()

    @classmethod
    def model_validate(cls, value: object) -> Self:
        """Read a Graph JSON object (camelCase keys) as this resource.

        Raises:
            pydantic.ValidationError: the value is not this resource.
        """
        return _adapter(cls).validate_python(value)

    def model_dump(
        self, *, by_alias: bool = False, exclude_none: bool = False, mode: Literal["json", "python"] = "python"
    ) -> dict[str, Any]:
        """The resource as a dict (`by_alias`: Graph's camelCase names)."""
        dumped = _adapter(type(self)).dump_python(self, by_alias=by_alias, exclude_none=exclude_none, mode=mode)
        return cast(dict[str, Any], dumped)

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> Self:
        """A copy with some fields replaced (not validated again, as with pydantic's `model_copy`)."""
        return cast(Self, dataclasses.replace(self, **dict(update or {})))  # pyright: ignore[reportArgumentType]


_CONFIG = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


@cache
def _adapter(resource: type[Any]) -> TypeAdapter[Any]:
    return TypeAdapter(resource)


class _TolerantEnum(StrEnum):
    """A Graph enum whose unknown members read as `unknownFutureValue` instead of failing."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            for member in cls:
                if member.value.casefold() == value.casefold():
                    return member
        return cls("unknownFutureValue")


class SubmissionStatus(_TolerantEnum):
    """educationSubmissionStatus."""

    WORKING = "working"
    SUBMITTED = "submitted"
    RELEASED = "released"
    RETURNED = "returned"
    REASSIGNED = "reassigned"
    EXCUSED = "excused"
    UNKNOWN = "unknownFutureValue"


class AssignmentStatus(_TolerantEnum):
    """educationAssignmentStatus."""

    DRAFT = "draft"
    PUBLISHED = "published"
    ASSIGNED = "assigned"
    INACTIVE = "inactive"
    UNKNOWN = "unknownFutureValue"


class UserRole(_TolerantEnum):
    """educationUserRole."""

    STUDENT = "student"
    TEACHER = "teacher"
    NONE = "none"
    UNKNOWN = "unknownFutureValue"


@dataclass(frozen=True, slots=True, kw_only=True, config=_CONFIG)
class EducationClass(GraphModel):
    """educationClass."""

    id: ClassId
    display_name: str = ""
    mail_nickname: str | None = None
    description: str | None = None
    class_code: str | None = None
    external_name: str | None = None
    external_id: str | None = None
    grade: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=_CONFIG)
class EducationUser(GraphModel):
    """educationUser (as listed by class members and teachers)."""

    id: UserId
    display_name: str = ""
    given_name: str | None = None
    surname: str | None = None
    middle_name: str | None = None
    mail_nickname: str | None = None
    mail: str | None = None
    user_principal_name: str | None = None
    primary_role: UserRole = UserRole.NONE

    @field_validator("primary_role", mode="before")
    @classmethod
    def _none_role(cls, value: object) -> object:
        return UserRole.NONE if value is None else value


@dataclass(frozen=True, slots=True, kw_only=True, config=_CONFIG)
class PointsGradeType(GraphModel):
    """educationAssignmentPointsGradeType: graded out of `max_points`."""

    odata_type: Literal["#microsoft.graph.educationAssignmentPointsGradeType"] = Field(
        default="#microsoft.graph.educationAssignmentPointsGradeType", alias="@odata.type"
    )
    max_points: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=_CONFIG)
class Assignment(GraphModel):
    """educationAssignment. `grading` None means credit-only (no points to give)."""

    id: AssignmentId
    class_id: ClassId | None = None
    display_name: str = ""
    status: AssignmentStatus = AssignmentStatus.UNKNOWN
    grading: PointsGradeType | None = None
    due_date_time: GraphTime | None = None
    assigned_date_time: GraphTime | None = None
    close_date_time: GraphTime | None = None
    allow_late_submissions: bool | None = None
    web_url: str | None = None

    @field_validator("grading", mode="before")
    @classmethod
    def _grading(cls, value: object) -> object:
        # Only the points grade type carries a maximum; any other (future) grade type reads as credit-only.
        if isinstance(value, dict) and value.get("@odata.type") not in (  # pyright: ignore[reportUnknownMemberType]
            None,
            "#microsoft.graph.educationAssignmentPointsGradeType",
        ):
            return None
        return value  # pyright: ignore[reportUnknownVariableType]

    @property
    def max_points(self) -> float | None:
        """The assignment's maximum points, or None for a credit-only assignment."""
        return self.grading.max_points if self.grading else None

    @property
    def is_credit_only(self) -> bool:
        return self.grading is None


@dataclass(frozen=True, slots=True, kw_only=True, config=_CONFIG)
class SubmissionRecipient(GraphModel):
    """educationSubmissionRecipient: an individual student (or a group for group work)."""

    odata_type: str | None = Field(default=None, alias="@odata.type")
    user_id: UserId | None = None


# --- Outcomes: a discriminated union on @odata.type --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True, config=_CONFIG)
class EducationItemBody(GraphModel):
    """educationItemBody: text or html."""

    content: str | None = None
    content_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=_CONFIG)
class PointsGrade(GraphModel):
    """educationAssignmentPointsGrade."""

    points: float | None = None
    graded_date_time: GraphTime | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=_CONFIG)
class FeedbackValue(GraphModel):
    """educationFeedback."""

    text: EducationItemBody | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=_CONFIG)
class RubricQualityFeedback(GraphModel):
    """rubricQualityFeedbackModel."""

    quality_id: str | None = None
    feedback: EducationItemBody | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=_CONFIG)
class RubricQualitySelectedLevel(GraphModel):
    """rubricQualitySelectedColumnModel."""

    quality_id: str | None = None
    column_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=_CONFIG)
class _OutcomeBase(GraphModel):
    id: OutcomeId


@dataclass(frozen=True, slots=True, kw_only=True, config=_CONFIG)
class PointsOutcome(_OutcomeBase):
    """educationPointsOutcome: `points` is the teacher's draft, `published_points` what the student sees."""

    odata_type: Literal["#microsoft.graph.educationPointsOutcome"] = Field(
        default="#microsoft.graph.educationPointsOutcome", alias="@odata.type"
    )
    points: PointsGrade | None = None
    published_points: PointsGrade | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=_CONFIG)
class FeedbackOutcome(_OutcomeBase):
    """educationFeedbackOutcome: `feedback` draft, `published_feedback` what the student sees."""

    odata_type: Literal["#microsoft.graph.educationFeedbackOutcome"] = Field(
        default="#microsoft.graph.educationFeedbackOutcome", alias="@odata.type"
    )
    feedback: FeedbackValue | None = None
    published_feedback: FeedbackValue | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=_CONFIG)
class RubricOutcome(_OutcomeBase):
    """educationRubricOutcome."""

    odata_type: Literal["#microsoft.graph.educationRubricOutcome"] = Field(
        default="#microsoft.graph.educationRubricOutcome", alias="@odata.type"
    )
    rubric_quality_feedback: list[RubricQualityFeedback] | None = None
    rubric_quality_selected_levels: list[RubricQualitySelectedLevel] | None = None
    published_rubric_quality_feedback: list[RubricQualityFeedback] | None = None
    published_rubric_quality_selected_levels: list[RubricQualitySelectedLevel] | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=_CONFIG)
class FeedbackResourceOutcome(_OutcomeBase):
    """educationFeedbackResourceOutcome: a file the teacher attached as feedback."""

    odata_type: Literal["#microsoft.graph.educationFeedbackResourceOutcome"] = Field(
        default="#microsoft.graph.educationFeedbackResourceOutcome", alias="@odata.type"
    )
    resource_status: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=_CONFIG)
class UnknownOutcome(_OutcomeBase):
    """An outcome type this client does not know yet; kept so parsing never fails."""

    odata_type: str | None = Field(default=None, alias="@odata.type")


_KNOWN_OUTCOMES = {
    "#microsoft.graph.educationPointsOutcome": "points",
    "#microsoft.graph.educationFeedbackOutcome": "feedback",
    "#microsoft.graph.educationRubricOutcome": "rubric",
    "#microsoft.graph.educationFeedbackResourceOutcome": "feedbackResource",
}


def _outcome_tag(value: Any) -> str:
    if isinstance(value, dict):
        odata_type = cast(dict[str, object], value).get("@odata.type")
    else:
        odata_type = getattr(value, "odata_type", None)
    return _KNOWN_OUTCOMES.get(str(odata_type), "unknown")


Outcome = Annotated[
    Annotated[PointsOutcome, Tag("points")]
    | Annotated[FeedbackOutcome, Tag("feedback")]
    | Annotated[RubricOutcome, Tag("rubric")]
    | Annotated[FeedbackResourceOutcome, Tag("feedbackResource")]
    | Annotated[UnknownOutcome, Tag("unknown")],
    Discriminator(_outcome_tag),
]


@dataclass(frozen=True, slots=True, kw_only=True, config=_CONFIG)
class Submission(GraphModel):
    """educationSubmission. `outcomes` is filled only when read with `$expand=outcomes`."""

    id: SubmissionId
    status: SubmissionStatus = SubmissionStatus.UNKNOWN
    recipient: SubmissionRecipient | None = None
    web_url: str | None = None
    submitted_date_time: GraphTime | None = None
    returned_date_time: GraphTime | None = None
    reassigned_date_time: GraphTime | None = None
    excused_date_time: GraphTime | None = None
    outcomes: list[Outcome] = Field(default_factory=list)  # pyright: ignore[reportUnknownVariableType]

    @field_validator("outcomes", mode="before")
    @classmethod
    def _null_outcomes(cls, value: object) -> object:
        return [] if value is None else value

    @property
    def student_id(self) -> UserId | None:
        return self.recipient.user_id if self.recipient else None

    @property
    def points_outcome(self) -> PointsOutcome | None:
        return next((o for o in self.outcomes if isinstance(o, PointsOutcome)), None)

    @property
    def feedback_outcome(self) -> FeedbackOutcome | None:
        return next((o for o in self.outcomes if isinstance(o, FeedbackOutcome)), None)

    @property
    def rubric_outcome(self) -> RubricOutcome | None:
        return next((o for o in self.outcomes if isinstance(o, RubricOutcome)), None)
