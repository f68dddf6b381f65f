"""The write-path figures run the real handlers against the sandbox and count Graph round trips."""

from __future__ import annotations

from bench import actions
from bench.graph import Bench


async def test_save_and_return_on_a_warm_submission_is_one_round_trip() -> None:
    figures, notes = await actions.save_and_return(latency=0.0)
    assert figures["grade_and_return_warm_round_trips"] == 1
    assert notes == {}  # measured through the [Save & return] handler itself


async def test_a_warm_thirty_student_bulk_grade_is_two_round_trips() -> None:
    figures, _ = await actions.bulk30(latency=0.0)
    assert figures["bulk30_round_trips"] == 2


def test_extra_students_are_enrolled_with_a_gradable_submission() -> None:
    bench = Bench(latency=0.0)
    school = bench.stack.school
    before = len(school.class_named("Biology 101").studentIds)

    added = bench.add_students("Biology 101", "Essay 2", 5)

    assert len(set(added)) == 5
    assert len(school.class_named("Biology 101").studentIds) == before + 5
    class_id = bench.stack.class_id("Biology 101")
    assignment_id = bench.stack.assignment_id("Biology 101", "Essay 2")
    for name in added:
        submission = bench.stack.graph.submission_for(class_id, assignment_id, bench.stack.user_id(name))
        assert submission is not None and submission.outcome("points") is not None
