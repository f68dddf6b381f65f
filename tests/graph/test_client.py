"""EducationClient against an in-process fake answering with Microsoft's documented example bodies."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import httpx
import pytest

from bot.graph.client import EducationClient, GraphHttp
from bot.graph.errors import GraphMalformedResponse, InvalidPoints, StatusWaitTimeout
from bot.graph.ids import AssignmentId, ClassId, OutcomeId, SubmissionId
from bot.graph.models import (
    AssignmentStatus,
    EducationItemBody,
    FeedbackOutcome,
    FeedbackResourceOutcome,
    PointsOutcome,
    RubricOutcome,
    RubricQualityFeedback,
    RubricQualitySelectedLevel,
    SubmissionStatus,
    UnknownOutcome,
    UserRole,
)
from tests.graph.conftest import BASE, TOKEN, FakeGraph, FakeTime, example, example_response

C = ClassId("37d99af7-cfc5-4e3b-8566-f7d40e4a2070")
A = AssignmentId("c0f133b9-615c-4119-876c-c1848fd0a99a")
S = SubmissionId("5883eaeb-9760-f8e0-6832-a122c4f020be")
OUT = OutcomeId("9c0f2850-ff8f-4fd6-b3ac-e23077b59141")
SUB = f"/education/classes/{C}/assignments/{A}/submissions/{S}"


def _query(request: httpx.Request) -> str:
    raw = request.url.raw_path.decode()
    return raw.split("?", 1)[1] if "?" in raw else ""


def _page(values: list[dict[str, Any]], next_link: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"value": values}
    if next_link:
        body["@odata.nextLink"] = next_link
    return httpx.Response(200, json=body)


# --- reading --------------------------------------------------------------------------------------------------------


async def test_taught_classes_reads_the_documented_type_template(client: EducationClient, fake: FakeGraph) -> None:
    fake.add("GET", "/education/me/taughtClasses", example_response("educationuser-list-taughtclasses.example"))
    classes = await client.my_taught_classes()
    assert [c.id for c in classes] == ["64ef8ce5-8ce5-64ef-e58c-ef64e58cef64"]
    assert classes[0].display_name == "String"


async def test_my_classes(client: EducationClient, fake: FakeGraph) -> None:
    fake.add("GET", "/education/me/classes", example_response("educationuser-list-taughtclasses.example"))
    assert len(await client.my_classes()) == 1


async def test_get_class(client: EducationClient, fake: FakeGraph) -> None:
    fake.add(
        "GET", "/education/classes/7e4ec76c-8276-43ef-ba10-9aaa197cb212", example_response("educationclass-get.example")
    )
    cls = await client.get_class(ClassId("7e4ec76c-8276-43ef-ba10-9aaa197cb212"))
    assert cls.id == "7e4ec76c-8276-43ef-ba10-9aaa197cb212"
    assert cls.mail_nickname is not None


async def test_members_include_teachers_and_students(client: EducationClient, fake: FakeGraph) -> None:
    fake.add("GET", f"/education/classes/{C}/members", example_response("educationclass-list-members.example"))
    members = await client.list_members(C)
    assert len(members) == 5
    assert {m.primary_role for m in members} == {UserRole.TEACHER, UserRole.STUDENT}


async def test_teachers_and_an_unknown_role(client: EducationClient, fake: FakeGraph) -> None:
    body = example("educationclass-list-teachers.example")["response"]["body"]
    body["value"].append({**body["value"][0], "id": "new", "primaryRole": "guardian", "someFutureField": {"x": 1}})
    fake.add("GET", f"/education/classes/{C}/teachers", httpx.Response(200, json=body))
    teachers = await client.list_teachers(C)
    assert [t.primary_role for t in teachers] == [UserRole.TEACHER, UserRole.UNKNOWN]


@pytest.mark.parametrize(
    ("name", "max_points"),
    [
        ("educationclass-list-assignments.example1-points", [100]),
        ("educationclass-list-assignments.example2-expand-resources", [None]),
        ("educationclass-list-assignments.example3-filter-assigned", [50]),
        ("educationclass-list-assignments.example4-orderby", [None, 50]),
    ],
)
async def test_assignment_examples_parse(
    client: EducationClient, fake: FakeGraph, name: str, max_points: list[float | None]
) -> None:
    fake.add("GET", f"/education/classes/{C}/assignments", example_response(name))
    assignments = await client.list_assignments(C)
    assert [a.max_points for a in assignments] == max_points
    assert [a.is_credit_only for a in assignments] == [m is None for m in max_points]


async def test_list_assignments_builds_filter_select_and_top(client: EducationClient, fake: FakeGraph) -> None:
    fake.add(
        "GET",
        f"/education/classes/{C}/assignments",
        example_response("educationclass-list-assignments.example3-filter-assigned"),
    )
    result = await client.list_assignments(
        C, status_filter=[AssignmentStatus.ASSIGNED, AssignmentStatus.DRAFT], select=["displayName", "status"], top=5
    )
    assert result[0].status is AssignmentStatus.ASSIGNED
    assert _query(fake.seen[0]) == (
        "$filter=status%20eq%20'assigned'%20or%20status%20eq%20'draft'&$select=id,displayName,status&$top=5"
    )
    assert fake.seen[0].url.params["$filter"] == "status eq 'assigned' or status eq 'draft'"


@pytest.mark.parametrize("select", [["displayName)&$expand=*"], ["display name"], [""]])
async def test_list_assignments_refuses_odd_select_before_sending(
    client: EducationClient, fake: FakeGraph, select: list[str]
) -> None:
    with pytest.raises(ValueError, match="property name"):
        await client.list_assignments(C, select=select)
    assert fake.seen == []


async def test_list_assignments_refuses_non_positive_top(client: EducationClient, fake: FakeGraph) -> None:
    with pytest.raises(ValueError, match="top"):
        await client.list_assignments(C, top=0)
    assert fake.seen == []


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("educationassignment-get.example1", AssignmentStatus.ASSIGNED),
        ("educationassignment-get.example2-inactive-with-prefer", AssignmentStatus.INACTIVE),
        ("educationassignment-get.example3-inactive-without-prefer", AssignmentStatus.UNKNOWN),
    ],
)
async def test_get_assignment_statuses(
    client: EducationClient, fake: FakeGraph, name: str, status: AssignmentStatus
) -> None:
    fake.add("GET", f"/education/classes/{C}/assignments/{A}", example_response(name))
    assignment = await client.get_assignment(C, A)
    assert assignment.status is status


async def test_list_submissions_expands_outcomes(client: EducationClient, fake: FakeGraph) -> None:
    fake.add(
        "GET",
        f"/education/classes/{C}/assignments/{A}/submissions",
        example_response("educationassignment-list-submissions.example2-expand-outcomes"),
    )
    submissions = await client.list_submissions(C, A, top=10)
    assert _query(fake.seen[0]) == "$expand=outcomes&$top=10"
    (submission,) = submissions
    assert submission.status is SubmissionStatus.RETURNED
    assert {type(o) for o in submission.outcomes} == {FeedbackOutcome, PointsOutcome, RubricOutcome}
    assert submission.points_outcome is not None and submission.points_outcome.points is None


async def test_list_submissions_without_expand(client: EducationClient, fake: FakeGraph) -> None:
    fake.add(
        "GET",
        f"/education/classes/{C}/assignments/{A}/submissions",
        example_response("educationassignment-list-submissions.example1"),
    )
    (submission,) = await client.list_submissions(C, A, expand_outcomes=False)
    assert _query(fake.seen[0]) == ""
    assert submission.outcomes == []
    assert submission.student_id is not None


async def test_get_submission_with_and_without_expand(client: EducationClient, fake: FakeGraph) -> None:
    fake.add(
        "GET",
        SUB,
        example_response("educationsubmission-get.example1"),
        example_response("educationsubmission-get.example2-expand-all"),
    )
    plain = await client.get_submission(C, A, S)
    expanded = await client.get_submission(C, A, S, expand_outcomes=True)
    assert plain.status is SubmissionStatus.RETURNED and plain.outcomes == []
    assert _query(fake.seen[1]) == "$expand=outcomes"
    assert expanded.feedback_outcome is not None


async def test_list_outcomes_all_types_and_an_unknown_one(client: EducationClient, fake: FakeGraph) -> None:
    body = example("educationsubmission-list-outcomes.example1-all-types")["response"]["body"]
    body["value"].append({"@odata.type": "#microsoft.graph.educationAiGradeOutcome", "id": "future", "score": 3})
    fake.add("GET", f"{SUB}/outcomes", httpx.Response(200, json=body))
    outcomes = await client.list_outcomes(C, A, S)
    assert [type(o) for o in outcomes] == [FeedbackOutcome, PointsOutcome, RubricOutcome, UnknownOutcome]
    points = outcomes[1]
    assert isinstance(points, PointsOutcome) and points.points is not None and points.points.points == 75


async def test_list_outcomes_feedback_resources(client: EducationClient, fake: FakeGraph) -> None:
    fake.add(
        "GET", f"{SUB}/outcomes", example_response("educationsubmission-list-outcomes.example2-filter-feedbackresource")
    )
    outcomes = await client.list_outcomes(C, A, S)
    assert all(isinstance(o, FeedbackResourceOutcome) and o.resource_status == "notPublished" for o in outcomes)


# --- paging ---------------------------------------------------------------------------------------------------------


async def test_lists_follow_next_link_across_pages(client: EducationClient, fake: FakeGraph) -> None:
    path = f"/education/classes/{C}/members"
    fake.add(
        "GET",
        path,
        _page([{"id": "u1"}], f"{BASE}{path}?$skiptoken=p2"),
        _page([{"id": "u2"}, {"id": "u3"}], f"{BASE}{path}?$skiptoken=p3"),
        _page([{"id": "u4"}], f"{BASE}{path}?$skiptoken=p4"),
        _page([{"id": "u5"}]),
    )
    members = await client.list_members(C)
    assert [m.id for m in members] == ["u1", "u2", "u3", "u4", "u5"]
    assert [_query(r) for r in fake.seen] == ["", "$skiptoken=p2", "$skiptoken=p3", "$skiptoken=p4"]


async def test_next_link_to_another_host_is_refused_and_gets_no_token(client: EducationClient, fake: FakeGraph) -> None:
    fake.add("GET", f"/education/classes/{C}/members", _page([{"id": "u1"}], "https://evil.example/steal?x=1"))
    with pytest.raises(GraphMalformedResponse, match="another host"):
        await client.list_members(C)
    assert [r.url.host for r in fake.seen] == ["graph.microsoft.com"]


async def test_next_link_that_is_not_a_url_ends_the_list(client: EducationClient, fake: FakeGraph) -> None:
    fake.add("GET", f"/education/classes/{C}/members", _page([{"id": "u1"}], "string"))
    assert [m.id for m in await client.list_members(C)] == ["u1"]
    assert len(fake.seen) == 1


async def test_paging_is_bounded(settings: Any, fake: FakeGraph, fake_time: FakeTime) -> None:
    path = f"/education/classes/{C}/members"
    fake.add("GET", path, _page([{"id": "u"}], f"{BASE}{path}?$skiptoken=again"))
    http = GraphHttp.create(settings, transport=fake.transport, retry=fake_time.policy())
    http.max_pages = 3
    try:
        with pytest.raises(GraphMalformedResponse, match="more than 3 pages"):
            await EducationClient(http, TOKEN).list_members(C)
    finally:
        await http.aclose()
    assert len(fake.seen) == 3


async def test_a_collection_that_is_not_one_is_a_malformed_response(client: EducationClient, fake: FakeGraph) -> None:
    fake.add("GET", "/education/me/classes", httpx.Response(200, json={"values": []}))
    with pytest.raises(GraphMalformedResponse):
        await client.my_classes()


async def test_html_on_success_is_a_malformed_response(client: EducationClient, fake: FakeGraph) -> None:
    fake.add("GET", f"/education/classes/{C}", httpx.Response(200, text="<html>proxy</html>"))
    with pytest.raises(GraphMalformedResponse, match="not JSON"):
        await client.get_class(C)


# --- writing --------------------------------------------------------------------------------------------------------


async def test_update_points_sends_the_documented_body(client: EducationClient, fake: FakeGraph) -> None:
    documented = example("educationoutcome-update.points")
    fake.add("PATCH", f"{SUB}/outcomes/{OUT}", example_response("educationoutcome-update.points"))
    outcome = await client.update_points(C, A, S, OUT, 85)
    assert outcome.points is not None and outcome.points.points == 85.0
    assert json.loads(fake.seen[0].content) == documented["request"]["body"]
    assert fake.seen[0].headers["Content-Type"] == "application/json"


async def test_update_points_with_no_content_answer_returns_what_was_written(
    client: EducationClient, fake: FakeGraph
) -> None:
    fake.add("PATCH", f"{SUB}/outcomes/{OUT}", httpx.Response(204))
    outcome = await client.update_points(C, A, S, OUT, 17.5)
    assert outcome.id == OUT and outcome.points is not None and outcome.points.points == 17.5


@pytest.mark.parametrize("points", [-1, float("nan"), float("inf"), "eighty", True, 9_999_999, "1e3"])
async def test_invalid_points_are_refused_before_any_request(
    client: EducationClient, fake: FakeGraph, points: Any
) -> None:
    fake.add("PATCH", f"{SUB}/outcomes/{OUT}", example_response("educationoutcome-update.points"))
    with pytest.raises(InvalidPoints):
        await client.update_points(C, A, S, OUT, points)
    assert fake.seen == []


async def test_update_feedback_sends_text(client: EducationClient, fake: FakeGraph) -> None:
    documented = example("educationoutcome-update.feedback")
    fake.add("PATCH", f"{SUB}/outcomes/{OUT}", example_response("educationoutcome-update.feedback"))
    outcome = await client.update_feedback(C, A, S, OUT, "This is feedback for the assignment as a whole.")
    assert outcome.feedback is not None and outcome.feedback.text is not None
    assert outcome.feedback.text.content == "This is feedback for the assignment as a whole."
    assert json.loads(fake.seen[0].content) == documented["request"]["body"]


async def test_update_rubric_sends_levels_and_feedback(client: EducationClient, fake: FakeGraph) -> None:
    documented = example("educationoutcome-update.rubric")
    body = documented["request"]["body"]
    fake.add("PATCH", f"{SUB}/outcomes/{OUT}", example_response("educationoutcome-update.rubric"))
    outcome = await client.update_rubric(
        C,
        A,
        S,
        OUT,
        [RubricQualitySelectedLevel.model_validate(x) for x in body["rubricQualitySelectedLevels"]],
        [
            RubricQualityFeedback(
                quality_id=x["qualityId"],
                feedback=EducationItemBody(content=x["feedback"]["content"], content_type="text"),
            )
            for x in body["rubricQualityFeedback"]
        ],
    )
    assert outcome.rubric_quality_selected_levels is not None and len(outcome.rubric_quality_selected_levels) == 2
    assert json.loads(fake.seen[0].content) == body


@pytest.mark.parametrize(
    ("action", "name", "status"),
    [
        ("return_submission", "educationsubmission-return.example", SubmissionStatus.RETURNED),
        ("reassign", "educationsubmission-reassign.with-prefer", SubmissionStatus.REASSIGNED),
        ("excuse", "educationsubmission-excuse.with-prefer", SubmissionStatus.EXCUSED),
    ],
)
async def test_submission_actions(
    client: EducationClient, fake: FakeGraph, action: str, name: str, status: SubmissionStatus
) -> None:
    segment = "return" if action == "return_submission" else action
    fake.add("POST", f"{SUB}/{segment}", example_response(name))
    submission = await getattr(client, action)(C, A, S)
    assert submission.status is status
    assert fake.seen[0].content == b""


async def test_ids_are_quoted_as_path_segments(client: EducationClient, fake: FakeGraph) -> None:
    fake.add(
        "POST",
        "/education/classes/a%2Fb/assignments/x%3Fy/submissions/s%20t/return",
        example_response("educationsubmission-return.example"),
    )
    await client.return_submission(ClassId("a/b"), AssignmentId("x?y"), SubmissionId("s t"))
    assert fake.seen[0].url.raw_path == b"/v1.0/education/classes/a%2Fb/assignments/x%3Fy/submissions/s%20t/return"


# --- waiting for a status -------------------------------------------------------------------------------------------


def _submission(status: str) -> httpx.Response:
    return httpx.Response(200, json={"id": S, "status": status})


async def test_wait_for_status_polls_until_it_arrives(
    client: EducationClient, fake: FakeGraph, fake_time: FakeTime
) -> None:
    fake.add("GET", SUB, _submission("working"), _submission("submitted"), _submission("returned"))
    submission = await client.wait_for_status(C, A, S, {SubmissionStatus.RETURNED}, interval=0.5)
    assert submission.status is SubmissionStatus.RETURNED
    assert fake_time.sleeps == [0.5, 0.5]


async def test_wait_for_status_gives_up_with_the_last_status(
    client: EducationClient, fake: FakeGraph, fake_time: FakeTime
) -> None:
    fake.add("GET", SUB, _submission("submitted"))
    with pytest.raises(StatusWaitTimeout) as caught:
        await client.wait_for_status(C, A, S, [SubmissionStatus.RETURNED], timeout=1.0, interval=0.25)
    assert caught.value.last_status is SubmissionStatus.SUBMITTED
    assert sum(fake_time.sleeps) <= 1.0
    assert len(fake.seen) == 5  # reads at 0, 0.25, 0.5, 0.75 and 1.0 s


# --- what every request carries -------------------------------------------------------------------------------------


async def test_every_request_carries_prefer_auth_correlation_and_accept(
    client: EducationClient, fake: FakeGraph, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add("GET", "/education/me/taughtClasses", example_response("educationuser-list-taughtclasses.example"))
    fake.add("GET", f"/education/classes/{C}/members", example_response("educationclass-list-members.example"))
    fake.add(
        "GET",
        f"/education/classes/{C}/assignments",
        example_response("educationclass-list-assignments.example1-points"),
    )
    fake.add("PATCH", f"{SUB}/outcomes/{OUT}", example_response("educationoutcome-update.points"))
    fake.add("POST", f"{SUB}/excuse", example_response("educationsubmission-excuse.with-prefer"))
    caplog.set_level(logging.DEBUG, logger="bot.graph")
    await client.my_taught_classes()
    await client.list_members(C)
    await client.list_assignments(C)
    await client.update_points(C, A, S, OUT, 85)
    await client.excuse(C, A, S)
    assert len(fake.seen) == 5
    for request in fake.seen:
        assert request.headers["Prefer"] == "include-unknown-enum-members"
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.headers["Accept"] == "application/json"
        uuid.UUID(request.headers["client-request-id"])
        assert not request.url.path.startswith("/v1.0/education/me/") or request.method == "GET"
    assert len({r.headers["client-request-id"] for r in fake.seen}) == 5
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/education/classes/{id}/assignments/{id}/submissions/{id}/outcomes/{id}" in logged
    assert TOKEN not in logged and C not in logged and "85" not in logged
    assert all(r.levelno == logging.DEBUG for r in caplog.records)


def test_repr_never_shows_the_token(client: EducationClient) -> None:
    assert TOKEN not in repr(client)
