"""Every EducationClient method against the sandbox Graph, asserting the sandbox's state afterwards."""

from __future__ import annotations

import pytest

from bot.graph import requests
from bot.graph.batch import BatchPart
from bot.graph.client import EducationClient, GraphHttp
from bot.graph.errors import GraphBadRequest, GraphForbidden, GraphNotFound, GraphThrottled, GraphUnauthorized
from bot.graph.ids import AssignmentId, ClassId, OutcomeId, SubmissionId
from bot.graph.models import (
    AssignmentStatus,
    EducationItemBody,
    FeedbackOutcome,
    PointsOutcome,
    RubricOutcome,
    RubricQualityFeedback,
    RubricQualitySelectedLevel,
    Submission,
    SubmissionStatus,
    UserRole,
)
from sandbox.stack import SandboxStack
from tests.integration.conftest import Recorder

BIOLOGY = "Biology 101"


def ids(stack: SandboxStack, assignment: str, student: str) -> tuple[ClassId, AssignmentId, SubmissionId]:
    class_id = stack.class_id(BIOLOGY)
    assignment_id = stack.assignment_id(BIOLOGY, assignment)
    submission = stack.graph.submission_for(class_id, assignment_id, stack.user_id(student))
    assert submission is not None
    return ClassId(class_id), AssignmentId(assignment_id), SubmissionId(submission.id)


async def submission_with_outcomes(
    teacher: EducationClient, class_id: ClassId, assignment_id: AssignmentId, submission_id: SubmissionId
) -> Submission:
    return await teacher.get_submission(class_id, assignment_id, submission_id, expand_outcomes=True)


async def test_roster_reads(stack: SandboxStack, teacher: EducationClient) -> None:
    taught = await teacher.my_taught_classes()
    assert {c.display_name for c in taught} == {"Biology 101", "7B English"}
    mine = await teacher.my_classes()
    assert {c.id for c in taught} <= {c.id for c in mine}
    biology = await teacher.get_class(ClassId(stack.class_id(BIOLOGY)))
    assert biology.display_name == BIOLOGY
    members = await teacher.list_members(biology.id)
    students = [m for m in members if m.primary_role is UserRole.STUDENT]
    assert len(students) == 25  # the seed's Biology 101, across two default pages
    assert {"José Núñez", "Alex Kim", "Alex Lee"} <= {s.display_name for s in students}
    teachers = await teacher.list_teachers(biology.id)
    assert "Dana Whitfield" in {t.display_name for t in teachers}


async def test_assignments_filter_and_select(stack: SandboxStack, teacher: EducationClient) -> None:
    class_id = ClassId(stack.class_id(BIOLOGY))
    everything = await teacher.list_assignments(class_id)
    assigned = await teacher.list_assignments(class_id, status_filter=[AssignmentStatus.ASSIGNED])
    assert {a.status for a in assigned} == {AssignmentStatus.ASSIGNED}
    assert len(assigned) < len(everything)
    drafts = await teacher.list_assignments(class_id, status_filter=[AssignmentStatus.DRAFT])
    assert [a.display_name for a in drafts] == ["Final Project Draft"]
    slim = await teacher.list_assignments(class_id, select=["id", "displayName"], top=2)
    assert len(slim) == len(everything)  # paged through
    assert all(a.grading is None and a.display_name for a in slim)
    essay = await teacher.get_assignment(class_id, AssignmentId(stack.assignment_id(BIOLOGY, "Essay 2")))
    assert essay.max_points == 100
    credit_only = next(a for a in everything if a.display_name == "Field Trip Reflection")
    assert credit_only.is_credit_only


async def test_submissions_paged_with_outcomes(stack: SandboxStack, teacher: EducationClient) -> None:
    class_id = ClassId(stack.class_id(BIOLOGY))
    assignment_id = AssignmentId(stack.assignment_id(BIOLOGY, "Essay 2"))
    stack.graph.reset_request_log()
    submissions = await teacher.list_submissions(class_id, assignment_id, top=10)
    assert len(submissions) == 25
    assert stack.graph.request_count == 3  # 10 + 10 + 5
    assert all(s.points_outcome is not None and s.feedback_outcome is not None for s in submissions)
    statuses = {s.status for s in submissions}
    assert {SubmissionStatus.WORKING, SubmissionStatus.SUBMITTED, SubmissionStatus.RETURNED} <= statuses
    # The client always sends Prefer, so reassigned and excused read as themselves, never as "returned".
    assert {SubmissionStatus.REASSIGNED, SubmissionStatus.EXCUSED} <= statuses
    assert all(s.web_url for s in submissions)


async def test_grade_then_return_publishes(stack: SandboxStack, teacher: EducationClient) -> None:
    class_id, assignment_id, submission_id = ids(stack, "Essay 2", "Alice Smith")
    before = await submission_with_outcomes(teacher, class_id, assignment_id, submission_id)
    points = before.points_outcome
    feedback = before.feedback_outcome
    assert points is not None and feedback is not None
    written = await teacher.update_points(class_id, assignment_id, submission_id, points.id, 85)
    assert written.points is not None and written.points.points == 85
    await teacher.update_feedback(class_id, assignment_id, submission_id, feedback.id, "nice structure")
    outcomes = await teacher.list_outcomes(class_id, assignment_id, submission_id)
    stored = next(o for o in outcomes if isinstance(o, PointsOutcome))
    assert stored.points is not None and stored.points.points == 85
    assert stored.published_points is None or stored.published_points.points != 85

    returned = await teacher.return_submission(class_id, assignment_id, submission_id)
    assert returned.status is SubmissionStatus.RETURNED
    after = await submission_with_outcomes(teacher, class_id, assignment_id, submission_id)
    published = after.points_outcome
    assert published is not None and published.published_points is not None
    assert published.published_points.points == 85
    published_feedback = after.feedback_outcome
    assert isinstance(published_feedback, FeedbackOutcome) and published_feedback.published_feedback is not None
    assert published_feedback.published_feedback.text is not None
    assert published_feedback.published_feedback.text.content == "nice structure"


async def test_reassign_and_excuse(stack: SandboxStack, teacher: EducationClient) -> None:
    class_id, assignment_id, submission_id = ids(stack, "Essay 2", "Bob Jones")
    reassigned = await teacher.reassign(class_id, assignment_id, submission_id)
    assert reassigned.status is SubmissionStatus.REASSIGNED
    class_id, assignment_id, submission_id = ids(stack, "Essay 2", "Carol Diaz")
    excused = await teacher.excuse(class_id, assignment_id, submission_id)
    assert excused.status is SubmissionStatus.EXCUSED
    waited = await teacher.wait_for_status(class_id, assignment_id, submission_id, {SubmissionStatus.EXCUSED})
    assert waited.status is SubmissionStatus.EXCUSED


async def test_wait_for_status_sees_a_delayed_action(stack: SandboxStack, teacher: EducationClient) -> None:
    stack.graph.knobs.action_delay_seconds = 0.05
    class_id, assignment_id, submission_id = ids(stack, "Essay 2", "Alice Smith")
    await teacher.return_submission(class_id, assignment_id, submission_id)
    done = await teacher.wait_for_status(
        class_id, assignment_id, submission_id, {SubmissionStatus.RETURNED}, timeout=2.0, interval=0.02
    )
    assert done.status is SubmissionStatus.RETURNED


async def test_rubric_outcome(stack: SandboxStack, teacher: EducationClient) -> None:
    class_id, assignment_id, submission_id = ids(stack, "Lab 3", "Alice Smith")
    submission = await submission_with_outcomes(teacher, class_id, assignment_id, submission_id)
    rubric = submission.rubric_outcome
    assert isinstance(rubric, RubricOutcome) and rubric.rubric_quality_selected_levels is not None
    assignment = stack.school.assignment(assignment_id)
    assert assignment is not None and assignment.rubric is not None
    quality = assignment.rubric.qualities[0]
    level = assignment.rubric.levels[-1]
    written = await teacher.update_rubric(
        class_id,
        assignment_id,
        submission_id,
        rubric.id,
        selected_levels=[RubricQualitySelectedLevel(quality_id=quality.qualityId, column_id=level.levelId)],
        quality_feedback=[
            RubricQualityFeedback(
                quality_id=quality.qualityId, feedback=EducationItemBody(content="clear method", content_type="text")
            )
        ],
    )
    assert written.rubric_quality_selected_levels is not None
    assert any(s.column_id == level.levelId for s in written.rubric_quality_selected_levels)


async def test_batch_grades_and_returns_in_one_round_trip(stack: SandboxStack, teacher: EducationClient) -> None:
    class_id, assignment_id, submission_id = ids(stack, "Essay 2", "Alice Smith")
    submission = await submission_with_outcomes(teacher, class_id, assignment_id, submission_id)
    points = submission.points_outcome
    assert points is not None
    stack.graph.reset_request_log()
    results = await teacher.batch(
        [
            BatchPart("1", requests.update_points(class_id, assignment_id, submission_id, points.id, 91)),
            BatchPart("2", requests.return_submission(class_id, assignment_id, submission_id), depends_on=("1",)),
        ]
    )
    assert stack.graph.request_count == 1
    assert [r.status for r in results] == [200, 200]
    assert results[1].parse(Submission).status is SubmissionStatus.RETURNED
    state = stack.graph.submission_for(class_id, assignment_id, stack.user_id("Alice Smith"))
    assert state is not None and state.status == "returned"


async def test_batch_part_failure_fails_its_dependants(stack: SandboxStack, teacher: EducationClient) -> None:
    class_id, assignment_id, submission_id = ids(stack, "Essay 2", "Alice Smith")
    results = await teacher.batch(
        [
            BatchPart("1", requests.update_points(class_id, assignment_id, submission_id, OutcomeId("nope"), 91)),
            BatchPart("2", requests.return_submission(class_id, assignment_id, submission_id), depends_on=("1",)),
        ]
    )
    assert [r.status for r in results] == [404, 424]
    state = stack.graph.submission_for(class_id, assignment_id, stack.user_id("Alice Smith"))
    assert state is not None and state.status == "submitted"  # the return never ran


async def test_documented_errors(stack: SandboxStack, teacher: EducationClient, graph_http: GraphHttp) -> None:
    class_id, assignment_id, submission_id = ids(stack, "Essay 2", "Alice Smith")
    with pytest.raises(GraphNotFound) as missing:
        await teacher.update_points(class_id, assignment_id, submission_id, OutcomeId("unknown-outcome"), 5)
    assert missing.value.code == "20241"
    assert missing.value.request_id

    other_teacher = EducationClient(graph_http, stack.graph_token(stack.user_id("Marcus Oyelaran")))
    submission = await submission_with_outcomes(teacher, class_id, assignment_id, submission_id)
    points = submission.points_outcome
    assert points is not None
    with pytest.raises(GraphForbidden):
        await other_teacher.update_points(class_id, assignment_id, submission_id, points.id, 5)
    with pytest.raises(GraphUnauthorized):
        await EducationClient(graph_http, "not-a-token").my_taught_classes()

    credit_only = AssignmentId(stack.assignment_id(BIOLOGY, "Field Trip Reflection"))
    credit_submission = stack.graph.submission_for(class_id, credit_only, stack.user_id("Alice Smith"))
    assert credit_submission is not None
    outcomes = await teacher.list_outcomes(class_id, credit_only, SubmissionId(credit_submission.id))
    assert not any(isinstance(o, PointsOutcome) for o in outcomes)
    stored = stack.graph.submission_for(class_id, assignment_id, stack.user_id("Alice Smith"))
    assert stored is not None
    excused_twice = ids(stack, "Essay 2", "Carol Diaz")
    await teacher.excuse(*excused_twice)
    with pytest.raises(GraphBadRequest):
        await teacher.excuse(*excused_twice)


async def test_throttling_is_retried_then_reported(
    stack: SandboxStack, teacher: EducationClient, sleeps: Recorder
) -> None:
    stack.graph.knobs.throttle_next = 2
    stack.graph.knobs.retry_after = "2.128"
    classes = await teacher.my_taught_classes()
    assert classes
    assert sleeps.sleeps == [2.128, 2.128]
    stack.graph.knobs.throttle_next = 50
    stack.graph.knobs.retry_after = "30"
    with pytest.raises(GraphThrottled) as throttled:
        await teacher.my_taught_classes()
    assert throttled.value.retry_after == 30


async def test_a_student_token_cannot_write(
    stack: SandboxStack, teacher: EducationClient, graph_http: GraphHttp
) -> None:
    class_id, assignment_id, submission_id = ids(stack, "Essay 2", "Alice Smith")
    submission = await submission_with_outcomes(teacher, class_id, assignment_id, submission_id)
    points = submission.points_outcome
    assert points is not None
    student = EducationClient(graph_http, stack.graph_token(stack.user_id("Alice Smith")))
    with pytest.raises(GraphForbidden):
        await student.update_points(class_id, assignment_id, submission_id, points.id, 100)
    state = stack.graph.outcomes_of(submission_id)
    assert all(o.points is None or o.points.points != 100 for o in state)
