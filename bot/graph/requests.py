"""The only place Graph education URLs and bodies are built: one builder per endpoint, each returning a GraphRequest.

A GraphRequest is relative to the versioned root (`/education/...`), so the same value is sent directly by GraphHttp
or as one part of a `$batch`. Path segments are percent-quoted; OData literals are quote-escaped.
Writes always address `/education/classes/{c}/assignments/{a}/submissions/{s}/...`, never `/education/me/...`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from bot.graph.ids import AssignmentId, ClassId, OutcomeId, SubmissionId
from bot.graph.models import AssignmentStatus, RubricQualityFeedback, RubricQualitySelectedLevel
from bot.graph.points import validate_points

__all__ = [
    "GraphRequest",
    "HttpMethod",
    "excuse",
    "get_assignment",
    "get_class",
    "get_submission",
    "list_assignments",
    "list_members",
    "list_outcomes",
    "list_submissions",
    "list_teachers",
    "my_classes",
    "my_taught_classes",
    "reassign",
    "return_submission",
    "update_feedback",
    "update_points",
    "update_rubric",
]

HttpMethod = Literal["GET", "POST", "PATCH", "DELETE"]

_IDEMPOTENT: frozenset[str] = frozenset({"GET", "PATCH", "DELETE"})
_PROPERTY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
# Characters OData query values keep literally; everything else (spaces included) is percent-encoded.
_QUERY_SAFE = "$'(),:/@"


@dataclass(frozen=True)
class GraphRequest:
    """One Graph call: method, quoted path under the version root, query pairs, JSON body.

    `template` is the path with ids replaced by `{id}`, for logs that must not carry identifiers.
    """

    method: HttpMethod
    path: str
    template: str
    query: tuple[tuple[str, str], ...] = ()
    body: Mapping[str, Any] | None = None

    @property
    def url(self) -> str:
        """Path plus encoded query, relative to the version root (the form `$batch` parts use)."""
        if not self.query:
            return self.path
        encoded = "&".join(f"{quote(k, safe='$')}={quote(v, safe=_QUERY_SAFE)}" for k, v in self.query)
        return f"{self.path}?{encoded}"

    @property
    def idempotent(self) -> bool:
        """True when sending it twice has the effect of sending it once (GET, PATCH of a value, DELETE)."""
        return self.method in _IDEMPOTENT


def _segment(value: str) -> str:
    if not value:
        raise ValueError("an id must not be empty")
    return quote(value, safe="")


def _submission_path(class_id: ClassId, assignment_id: AssignmentId, submission_id: SubmissionId) -> tuple[str, str]:
    path = (
        f"/education/classes/{_segment(class_id)}/assignments/{_segment(assignment_id)}"
        f"/submissions/{_segment(submission_id)}"
    )
    return path, "/education/classes/{id}/assignments/{id}/submissions/{id}"


def _odata_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _top(top: int | None) -> tuple[tuple[str, str], ...]:
    if top is None:
        return ()
    if isinstance(top, bool) or top < 1:  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ValueError("top must be a positive integer")
    return (("$top", str(top)),)


def my_taught_classes() -> GraphRequest:
    """GET /education/me/taughtClasses: the classes the signed-in teacher teaches."""
    return GraphRequest("GET", "/education/me/taughtClasses", "/education/me/taughtClasses")


def my_classes() -> GraphRequest:
    """GET /education/me/classes: the classes the signed-in user belongs to."""
    return GraphRequest("GET", "/education/me/classes", "/education/me/classes")


def get_class(class_id: ClassId) -> GraphRequest:
    """GET /education/classes/{id}."""
    return GraphRequest("GET", f"/education/classes/{_segment(class_id)}", "/education/classes/{id}")


def list_members(class_id: ClassId) -> GraphRequest:
    """GET /education/classes/{id}/members (students and teachers)."""
    return GraphRequest("GET", f"/education/classes/{_segment(class_id)}/members", "/education/classes/{id}/members")


def list_teachers(class_id: ClassId) -> GraphRequest:
    """GET /education/classes/{id}/teachers."""
    return GraphRequest("GET", f"/education/classes/{_segment(class_id)}/teachers", "/education/classes/{id}/teachers")


def list_assignments(
    class_id: ClassId,
    *,
    status_filter: Sequence[AssignmentStatus] | None = None,
    select: Sequence[str] | None = None,
    top: int | None = None,
) -> GraphRequest:
    """GET /education/classes/{id}/assignments with optional `$filter` on status, `$select` and `$top`.

    Args:
        class_id: the class.
        status_filter: keep only these statuses (`status eq 'assigned' or status eq 'draft'`).
        select: camelCase property names; `id` is always added so the result still parses.
        top: page size.

    Raises:
        ValueError: a selected name is not a plain property name, or `top` is not positive.
    """
    query: list[tuple[str, str]] = []
    if status_filter:
        clauses = [f"status eq {_odata_string(AssignmentStatus(s).value)}" for s in status_filter]
        query.append(("$filter", " or ".join(clauses)))
    if select:
        names = list(dict.fromkeys(["id", *select]))
        bad = [n for n in names if not _PROPERTY_NAME.fullmatch(n)]
        if bad:
            raise ValueError(f"not a property name: {bad[0]!r}")
        query.append(("$select", ",".join(names)))
    query.extend(_top(top))
    return GraphRequest(
        "GET",
        f"/education/classes/{_segment(class_id)}/assignments",
        "/education/classes/{id}/assignments",
        tuple(query),
    )


def get_assignment(class_id: ClassId, assignment_id: AssignmentId) -> GraphRequest:
    """GET /education/classes/{id}/assignments/{id}."""
    return GraphRequest(
        "GET",
        f"/education/classes/{_segment(class_id)}/assignments/{_segment(assignment_id)}",
        "/education/classes/{id}/assignments/{id}",
    )


def list_submissions(
    class_id: ClassId, assignment_id: AssignmentId, *, expand_outcomes: bool = True, top: int | None = None
) -> GraphRequest:
    """GET .../assignments/{id}/submissions, by default with `$expand=outcomes` (points and feedback in one call)."""
    query: list[tuple[str, str]] = [("$expand", "outcomes")] if expand_outcomes else []
    query.extend(_top(top))
    return GraphRequest(
        "GET",
        f"/education/classes/{_segment(class_id)}/assignments/{_segment(assignment_id)}/submissions",
        "/education/classes/{id}/assignments/{id}/submissions",
        tuple(query),
    )


def get_submission(
    class_id: ClassId, assignment_id: AssignmentId, submission_id: SubmissionId, *, expand_outcomes: bool = False
) -> GraphRequest:
    """GET .../submissions/{id}, optionally with `$expand=outcomes`."""
    path, template = _submission_path(class_id, assignment_id, submission_id)
    query = (("$expand", "outcomes"),) if expand_outcomes else ()
    return GraphRequest("GET", path, template, query)


def list_outcomes(class_id: ClassId, assignment_id: AssignmentId, submission_id: SubmissionId) -> GraphRequest:
    """GET .../submissions/{id}/outcomes."""
    path, template = _submission_path(class_id, assignment_id, submission_id)
    return GraphRequest("GET", f"{path}/outcomes", f"{template}/outcomes")


def _outcome(
    class_id: ClassId,
    assignment_id: AssignmentId,
    submission_id: SubmissionId,
    outcome_id: OutcomeId,
    body: Mapping[str, Any],
) -> GraphRequest:
    path, template = _submission_path(class_id, assignment_id, submission_id)
    return GraphRequest("PATCH", f"{path}/outcomes/{_segment(outcome_id)}", f"{template}/outcomes/{{id}}", body=body)


def update_points(
    class_id: ClassId,
    assignment_id: AssignmentId,
    submission_id: SubmissionId,
    outcome_id: OutcomeId,
    points: object,
) -> GraphRequest:
    """PATCH a points outcome's draft `points` (the student sees it once the submission is returned).

    Raises:
        InvalidPoints: the points are negative, not finite, not a number, or 9,999,999 or more.
    """
    value = validate_points(points)
    body = {
        "@odata.type": "#microsoft.graph.educationPointsOutcome",
        "points": {"@odata.type": "#microsoft.graph.educationAssignmentPointsGrade", "points": value},
    }
    return _outcome(class_id, assignment_id, submission_id, outcome_id, body)


def clear_points(
    class_id: ClassId, assignment_id: AssignmentId, submission_id: SubmissionId, outcome_id: OutcomeId
) -> GraphRequest:
    """PATCH a points outcome back to "not graded" (used by undo of a first grade)."""
    body = {
        "@odata.type": "#microsoft.graph.educationPointsOutcome",
        "points": {"@odata.type": "#microsoft.graph.educationAssignmentPointsGrade", "points": None},
    }
    return _outcome(class_id, assignment_id, submission_id, outcome_id, body)


def update_feedback(
    class_id: ClassId,
    assignment_id: AssignmentId,
    submission_id: SubmissionId,
    outcome_id: OutcomeId,
    text: str,
) -> GraphRequest:
    """PATCH a feedback outcome's draft text (contentType `text`)."""
    body = {
        "@odata.type": "#microsoft.graph.educationFeedbackOutcome",
        "feedback": {"text": {"content": text, "contentType": "text"}},
    }
    return _outcome(class_id, assignment_id, submission_id, outcome_id, body)


def update_rubric(
    class_id: ClassId,
    assignment_id: AssignmentId,
    submission_id: SubmissionId,
    outcome_id: OutcomeId,
    selected_levels: Sequence[RubricQualitySelectedLevel],
    quality_feedback: Sequence[RubricQualityFeedback],
) -> GraphRequest:
    """PATCH a rubric outcome's selected levels and per-quality feedback."""
    body = {
        "@odata.type": "#microsoft.graph.educationRubricOutcome",
        "rubricQualityFeedback": [f.model_dump(by_alias=True, exclude_none=True) for f in quality_feedback],
        "rubricQualitySelectedLevels": [s.model_dump(by_alias=True, exclude_none=True) for s in selected_levels],
    }
    return _outcome(class_id, assignment_id, submission_id, outcome_id, body)


def _action(class_id: ClassId, assignment_id: AssignmentId, submission_id: SubmissionId, action: str) -> GraphRequest:
    path, template = _submission_path(class_id, assignment_id, submission_id)
    return GraphRequest("POST", f"{path}/{action}", f"{template}/{action}")


def return_submission(class_id: ClassId, assignment_id: AssignmentId, submission_id: SubmissionId) -> GraphRequest:
    """POST .../submissions/{id}/return: publish the grade and feedback to the student."""
    return _action(class_id, assignment_id, submission_id, "return")


def reassign(class_id: ClassId, assignment_id: AssignmentId, submission_id: SubmissionId) -> GraphRequest:
    """POST .../submissions/{id}/reassign: return the work to the student for another try."""
    return _action(class_id, assignment_id, submission_id, "reassign")


def excuse(class_id: ClassId, assignment_id: AssignmentId, submission_id: SubmissionId) -> GraphRequest:
    """POST .../submissions/{id}/excuse: the student need not hand this in."""
    return _action(class_id, assignment_id, submission_id, "excuse")
