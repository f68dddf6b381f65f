"""The Graph models keep only what the assistant reads: a cached submission stays a few objects for the garbage
collector to walk (its full passes were the event loop's longest pauses under load, `make bench`)."""

from __future__ import annotations

import gc
from datetime import UTC

from bot.graph.models import GraphModel, Submission, SubmissionStatus
from tests.graph.conftest import example

EXPAND_ALL = "educationsubmission-get.example2-expand-all"

TRACKED_OBJECTS_AT_MOST = 10
"""GC-tracked objects a parsed documented submission (with its points and feedback outcomes) may hold; with Graph's
"who did it" identity sets parsed into pydantic `BaseModel`s it held 28, without them 12."""


def _tracked_objects(root: object) -> list[object]:
    """Every object the cyclic garbage collector tracks that `root` holds, `root` included (classes left out)."""
    seen: set[int] = set()
    found: list[object] = []
    pending = [root]
    while pending:
        current = pending.pop()
        if id(current) in seen or isinstance(current, type) or not gc.is_tracked(current):
            continue
        seen.add(id(current))
        found.append(current)
        pending.extend(gc.get_referents(current))
    return found


def _models(root: GraphModel) -> list[GraphModel]:
    return [o for o in _tracked_objects(root) if isinstance(o, GraphModel)]


def test_a_documented_submission_parses_to_what_the_assistant_reads() -> None:
    body = example(EXPAND_ALL)["response"]["body"]
    assert {"submittedBy", "returnedBy", "reassignedBy"} <= body.keys()  # Graph sends them; we do not keep them

    submission = Submission.model_validate(body)

    assert submission.status is SubmissionStatus.RETURNED
    assert submission.web_url and submission.student_id
    assert submission.submitted_date_time is not None and submission.returned_date_time is not None
    # One shared tzinfo, not one object per parsed time (which the cache would keep by the thousand).
    assert submission.submitted_date_time.tzinfo is UTC and submission.returned_date_time.tzinfo is UTC
    assert submission.points_outcome is not None and submission.feedback_outcome is not None
    kept = {type(model).__name__ for model in _models(submission)}
    assert not any("Identity" in name for name in kept), kept
    gc.collect()  # lets tuples and dicts of plain values drop out of tracking, as they do in a running process
    assert len(_tracked_objects(submission)) <= TRACKED_OBJECTS_AT_MOST
