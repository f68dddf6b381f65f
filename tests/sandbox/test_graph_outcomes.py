"""Outcome PATCH: draft values, validation errors as documented, and publishing on return."""

from __future__ import annotations

import httpx
import pytest

from sandbox.school import Outcome, OutcomeKind, School
from tests.sandbox.conftest import auth, submission_of, submission_url


def _outcome_url(school: School, student: str, kind: OutcomeKind, assignment: str = "Essay 2") -> tuple[str, Outcome]:
    cls = school.class_named("Biology 101")
    a = school.assignment_named(cls.id, assignment)
    sub = submission_of(school, cls, a, school.user_named(student))
    outcome = sub.outcome(kind)
    assert outcome is not None
    return submission_url(cls, a, sub) + f"/outcomes/{outcome.id}", outcome


async def test_patch_points_writes_the_draft_and_return_publishes(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    url, outcome = _outcome_url(school, "Alice Smith", "points")
    body = {
        "@odata.type": "#microsoft.graph.educationPointsOutcome",
        "points": {"@odata.type": "#microsoft.graph.educationAssignmentPointsGrade", "points": 85.0},
    }
    response = await graph.patch(url, json=body, headers=auth(dana))
    assert response.status_code == 200
    answer = response.json()
    assert answer["@odata.type"] == "#microsoft.graph.educationPointsOutcome"
    assert answer["points"]["points"] == 85
    assert answer["points"]["gradedBy"]["user"]["id"] == dana.id
    assert answer["lastModifiedBy"]["user"]["id"] == dana.id
    assert answer["publishedPoints"] is None
    assert outcome.points is not None and outcome.points.points == 85 and outcome.publishedPoints is None

    returned = await graph.post(url.rsplit("/outcomes/", 1)[0] + "/return", headers=auth(dana))
    assert returned.status_code == 200
    assert outcome.publishedPoints is not None and outcome.publishedPoints.points == 85


async def test_patch_feedback(graph: httpx.AsyncClient, school: School) -> None:
    priya = school.user_named("Priya Raman")
    url, outcome = _outcome_url(school, "Bob Jones", "feedback")
    body = {
        "@odata.type": "#microsoft.graph.educationFeedbackOutcome",
        "feedback": {"text": {"content": "Good structure.", "contentType": "text"}},
    }
    response = await graph.patch(url, json=body, headers=auth(priya))
    assert response.status_code == 200
    feedback = response.json()["feedback"]
    assert feedback["text"] == {"content": "Good structure.", "contentType": "text"}
    assert feedback["feedbackBy"]["user"]["id"] == priya.id
    assert outcome.feedback is not None and outcome.feedback.text is not None
    assert outcome.feedback.text.content == "Good structure." and outcome.publishedFeedback is None


async def test_patch_rubric(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    url, outcome = _outcome_url(school, "Bob Jones", "rubric", assignment="Lab 3")
    rubric = school.assignment_named(school.class_named("Biology 101").id, "Lab 3").rubric
    assert rubric is not None
    method = rubric.qualities[0].qualityId
    body = {
        "@odata.type": "#microsoft.graph.educationRubricOutcome",
        "rubricQualityFeedback": [{"qualityId": method, "feedback": {"content": "Clear", "contentType": "text"}}],
        "rubricQualitySelectedLevels": [{"qualityId": method, "columnId": rubric.levels[0].levelId}],
    }
    response = await graph.patch(url, json=body, headers=auth(dana))
    assert response.status_code == 200
    assert response.json()["rubricQualitySelectedLevels"] == [
        {"qualityId": method, "columnId": rubric.levels[0].levelId}
    ]
    assert outcome.rubricQualitySelectedLevels
    assert outcome.rubricQualitySelectedLevels[0].columnId == rubric.levels[0].levelId
    bad = dict(body, rubricQualitySelectedLevels=[{"qualityId": method, "columnId": "nope"}])
    assert (await graph.patch(url, json=bad, headers=auth(dana))).status_code == 400


@pytest.mark.parametrize("points", [-1, 9_999_999, 10_000_000, "eighty", True])
async def test_invalid_points_are_invalid_grading(graph: httpx.AsyncClient, school: School, points: object) -> None:
    dana = school.user_named("Dana Whitfield")
    url, outcome = _outcome_url(school, "Carol Diaz", "points")
    body = {"@odata.type": "#microsoft.graph.educationPointsOutcome", "points": {"points": points}}
    response = await graph.patch(url, json=body, headers=auth(dana))
    assert response.status_code == 400
    error = response.json()["error"]
    # examples/graph/educationoutcome-update.error-400-invalidGrading.json
    assert error["code"] == "badRequest"
    assert error["message"] == "Bad request."
    assert error["innerError"]["code"] == "invalidGrading"
    assert outcome.points is None


async def test_invalid_grading_message_for_too_many_points(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    url, _ = _outcome_url(school, "Carol Diaz", "points")
    body = {"@odata.type": "#microsoft.graph.educationPointsOutcome", "points": {"points": 9_999_999}}
    error = (await graph.patch(url, json=body, headers=auth(dana))).json()["error"]
    assert error["innerError"]["message"] == "Points must be less than 9999999 when using PointsGradeType."


async def test_unknown_outcome_id_is_404_20241(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    url, _ = _outcome_url(school, "Carol Diaz", "points")
    bad = url.rsplit("/", 1)[0] + "/05d0f76c-1dfa-4442-926c-1b094828b505"
    body = {"@odata.type": "#microsoft.graph.educationPointsOutcome", "points": {"points": 50}}
    response = await graph.patch(bad, json=body, headers=auth(dana))
    assert response.status_code == 404
    # examples/graph/educationoutcome-update.error-404-20241.json: numeric-string code, no innerError.
    assert response.json() == {
        "error": {"code": "20241", "message": "Entity not found. Outcome id: 05d0f76c-1dfa-4442-926c-1b094828b505"}
    }


async def test_unknown_property_is_400(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    url, outcome = _outcome_url(school, "Carol Diaz", "points")
    for body in (
        {"@odata.type": "#microsoft.graph.educationPointsOutcome", "points": {"point": 85}},
        {"@odata.type": "#microsoft.graph.educationPointsOutcome", "grade": 85},
        {"@odata.type": "#microsoft.graph.educationPointsOutcome", "publishedPoints": {"points": 85}},
    ):
        response = await graph.patch(url, json=body, headers=auth(dana))
        assert response.status_code == 400
    assert outcome.points is None


async def test_points_on_credit_only_assignment_is_400(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    url, outcome = _outcome_url(school, "Alice Smith", "feedback", assignment="Field Trip Reflection")
    body = {"@odata.type": "#microsoft.graph.educationPointsOutcome", "points": {"points": 10}}
    response = await graph.patch(url, json=body, headers=auth(dana))
    assert response.status_code == 400
    assert response.json()["error"]["innerError"]["code"] == "invalidGrading"
    assert outcome.feedback is None


async def test_wrong_outcome_type_is_400(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    url, _ = _outcome_url(school, "Alice Smith", "feedback")
    body = {"@odata.type": "#microsoft.graph.educationPointsOutcome", "points": {"points": 10}}
    assert (await graph.patch(url, json=body, headers=auth(dana))).status_code == 400


async def test_null_points_clears_the_draft(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    url, outcome = _outcome_url(school, "Alexandra Petrova", "points")
    assert outcome.points is not None
    body = {"@odata.type": "#microsoft.graph.educationPointsOutcome", "points": None}
    assert (await graph.patch(url, json=body, headers=auth(dana))).status_code == 200
    assert outcome.points is None
