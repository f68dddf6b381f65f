"""The submission status table and the Prefer: include-unknown-enum-members rule, checked against the docs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.school import School, Submission
from tests.sandbox.conftest import STUDENT_SCOPES, auth, submission_of, submission_url

EXAMPLES = Path("/work/shared/specs/examples/graph")

# concepts/submissions-status-transition.md, "Submission status transitions based on allowed actions".
ALLOWED = {
    ("working", "submit"): "submitted",
    ("working", "reassign"): "reassigned",
    ("working", "return"): "returned",
    ("working", "excuse"): "excused",
    ("submitted", "unsubmit"): "working",
    ("submitted", "return"): "returned",
    ("submitted", "reassign"): "reassigned",
    ("submitted", "excuse"): "excused",
    ("returned", "submit"): "submitted",
    ("returned", "return"): "returned",
    ("returned", "reassign"): "reassigned",
    ("returned", "excuse"): "excused",
    ("reassigned", "submit"): "submitted",
    ("reassigned", "return"): "returned",
    ("reassigned", "reassign"): "reassigned",
    ("reassigned", "excuse"): "excused",
    ("excused", "reassign"): "reassigned",
    ("excused", "return"): "returned",
    ("excused", "submit"): "submitted",
}
STATUSES = ["working", "submitted", "returned", "reassigned", "excused"]
ACTIONS = ["submit", "unsubmit", "return", "reassign", "excuse"]


def _essay2_in(school: School, status: str) -> Submission:
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    return next(s for s in school.submissions_of(essay.id) if s.status == status)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", ACTIONS)
async def test_transition_table(graph: httpx.AsyncClient, school: School, status: str, action: str) -> None:
    sub = _essay2_in(school, status)
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    if action in ("submit", "unsubmit"):
        headers = auth(sub.userId, STUDENT_SCOPES)
    else:
        headers = auth(school.user_named("Dana Whitfield"))
    response = await graph.post(submission_url(cls, essay, sub) + f"/{action}", headers=headers)
    expected = ALLOWED.get((status, action))
    if expected is None:
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "badRequest"
        assert sub.status == status
    else:
        assert response.status_code == 200
        assert response.json()["status"] == expected
        assert sub.status == expected


async def test_return_publishes_and_reassign_publishes(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    sub = submission_of(school, cls, essay, school.user_named("Mary-Jane O'Connor"))
    points = sub.outcome("points")
    assert points is not None and points.points is not None and points.publishedPoints is None
    response = await graph.post(submission_url(cls, essay, sub) + "/reassign", headers=auth(dana))
    assert response.status_code == 200
    assert points.publishedPoints is not None and points.publishedPoints.points == 92
    assert sub.reassignedBy == dana.id


async def test_excuse_deletes_feedback_and_rubric_keeps_points(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    lab = school.assignment_named(cls.id, "Lab 3")
    sub = submission_of(school, cls, lab, school.user_named("Bob Jones"))
    assert sub.status == "returned"
    feedback, rubric, points = sub.outcome("feedback"), sub.outcome("rubric"), sub.outcome("points")
    assert feedback and rubric and points and feedback.publishedFeedback and rubric.rubricQualitySelectedLevels
    response = await graph.post(submission_url(cls, lab, sub) + "/excuse", headers=auth(dana))
    assert response.status_code == 200
    assert feedback.feedback is None and feedback.publishedFeedback is None
    assert rubric.rubricQualitySelectedLevels == [] and rubric.publishedRubricQualitySelectedLevels == []
    assert all(q.feedback is None for q in rubric.rubricQualityFeedback or [])
    assert points.points is not None and points.points.points == 17


def _identity_id(body: dict[str, Any], name: str) -> Any:
    return body[name]["user"]["id"]


async def test_reassign_prefer_rule(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    sub = submission_of(school, cls, essay, school.user_named("Alice Smith"))
    url = submission_url(cls, essay, sub)
    with_prefer = await graph.post(url + "/reassign", headers=auth(dana, prefer=True))
    body = with_prefer.json()
    # educationsubmission-reassign.with-prefer.json: reassigned, returnedDateTime null, returnedBy.user.id null.
    assert body["status"] == "reassigned"
    assert body["returnedDateTime"] is None and _identity_id(body, "returnedBy") is None
    assert _identity_id(body, "reassignedBy") == dana.id
    assert with_prefer.headers["preference-applied"] == "include-unknown-enum-members"
    without = (await graph.get(url, headers=auth(dana, prefer=False))).json()
    # educationsubmission-reassign.without-prefer.json: returned, returnedDateTime == reassignedDateTime.
    assert without["status"] == "returned"
    assert without["returnedDateTime"] == without["reassignedDateTime"] == body["reassignedDateTime"]
    assert _identity_id(without, "returnedBy") == _identity_id(without, "reassignedBy") == dana.id


async def test_excuse_prefer_rule(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 1")
    sub = submission_of(school, cls, essay, school.user_named("Bob Jones"))
    earlier_return = sub.returnedDateTime
    url = submission_url(cls, essay, sub)
    without = (await graph.post(url + "/excuse", headers=auth(dana, prefer=False))).json()
    # educationsubmission-excuse.without-prefer.json: returned, returnedDateTime == excusedDateTime.
    assert without["status"] == "returned"
    assert without["returnedDateTime"] == without["excusedDateTime"]
    assert _identity_id(without, "returnedBy") == _identity_id(without, "excusedBy") == dana.id
    with_prefer = (await graph.get(url, headers=auth(dana, prefer=True))).json()
    # educationsubmission-excuse.with-prefer.json: excused, the earlier returnedDateTime kept.
    assert with_prefer["status"] == "excused"
    assert earlier_return is not None
    assert with_prefer["returnedDateTime"].startswith(earlier_return.strftime("%Y-%m-%dT%H:%M:%S"))


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="Microsoft's documented examples are not available here")
@pytest.mark.parametrize(
    ("example", "action", "student", "prefer"),
    [
        ("educationsubmission-reassign.with-prefer.json", "reassign", "Alice Smith", True),
        ("educationsubmission-reassign.without-prefer.json", "reassign", "Alice Smith", False),
        ("educationsubmission-excuse.with-prefer.json", "excuse", "Bob Jones", True),
        ("educationsubmission-excuse.without-prefer.json", "excuse", "Bob Jones", False),
        ("educationsubmission-return.example.json", "return", "Carol Diaz", False),
    ],
)
async def test_action_responses_match_documented_examples(
    graph: httpx.AsyncClient, school: School, example: str, action: str, student: str, prefer: bool
) -> None:
    documented = json.loads((EXAMPLES / example).read_text(encoding="utf-8"))["response"]["body"]
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2" if action != "excuse" else "Essay 1")
    sub = submission_of(school, cls, essay, school.user_named(student))
    response = await graph.post(submission_url(cls, essay, sub) + f"/{action}", headers=auth(dana, prefer=prefer))
    body = response.json()
    assert set(documented) - {"@odata.context"} <= set(body)
    assert body["status"] == documented["status"]
    assert (body["returnedDateTime"] is None) == (documented["returnedDateTime"] is None)
    for name in ("submittedBy", "returnedBy", "unsubmittedBy"):
        assert set(body[name]) == set(documented[name])
    assert body["@odata.context"].rsplit("#", 1)[1] == documented["@odata.context"].rsplit("#", 1)[1]
