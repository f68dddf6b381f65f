"""Every request the client can build, checked offline against Microsoft's OpenAPI slice (strict)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bot.graph import requests as build
from bot.graph.batch import BatchPart, build_batch_body
from bot.graph.ids import AssignmentId, ClassId, OutcomeId, SubmissionId
from bot.graph.models import AssignmentStatus, EducationItemBody, RubricQualityFeedback, RubricQualitySelectedLevel
from bot.graph.requests import GraphRequest

SPECS = Path(__file__).parents[2] / ".." / "shared" / "specs"

C, A = ClassId("37d99af7-cfc5-4e3b-8566-f7d40e4a2070"), AssignmentId("c0f133b9-615c-4119-876c-c1848fd0a99a")
S, OUT = SubmissionId("5883eaeb-9760-f8e0-6832-a122c4f020be"), OutcomeId("9c0f2850-ff8f-4fd6-b3ac-e23077b59141")

ALL_REQUESTS: dict[str, GraphRequest] = {
    "my_taught_classes": build.my_taught_classes(),
    "my_classes": build.my_classes(),
    "get_class": build.get_class(C),
    "list_members": build.list_members(C),
    "list_teachers": build.list_teachers(C),
    "list_assignments": build.list_assignments(
        C, status_filter=[AssignmentStatus.ASSIGNED, AssignmentStatus.DRAFT], select=["displayName"], top=50
    ),
    "get_assignment": build.get_assignment(C, A),
    "list_submissions": build.list_submissions(C, A, top=20),
    "get_submission": build.get_submission(C, A, S, expand_outcomes=True),
    "list_outcomes": build.list_outcomes(C, A, S),
    "update_points": build.update_points(C, A, S, OUT, 85),
    "update_points_fraction": build.update_points(C, A, S, OUT, "17.5"),
    "clear_points": build.clear_points(C, A, S, OUT),
    "update_feedback": build.update_feedback(C, A, S, OUT, "Good use of sources."),
    "update_rubric": build.update_rubric(
        C,
        A,
        S,
        OUT,
        [RubricQualitySelectedLevel(quality_id="q1", column_id="c1")],
        [RubricQualityFeedback(quality_id="q1", feedback=EducationItemBody(content="Clear", content_type="text"))],
    ),
    "return_submission": build.return_submission(C, A, S),
    "reassign": build.reassign(C, A, S),
    "excuse": build.excuse(C, A, S),
}


@pytest.fixture(scope="module")
def validator() -> ModuleType:
    """Microsoft's slice and the project's validator script, loaded once (the spec is 788 KB)."""
    path = (SPECS / "validate_graph_request.py").resolve()
    spec = importlib.util.spec_from_file_location("validate_graph_request", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.load_spec()  # warm its cache once for the module
    return module


def _errors(validator: ModuleType, method: str, url: str, body: Any) -> list[str]:
    return validator.validate_request(method, url, body, strict=True)


def test_the_validator_catches_a_bad_points_body(validator: ModuleType) -> None:
    body = {"@odata.type": "#microsoft.graph.educationPointsOutcome", "points": {"points": "eighty"}}
    errors = _errors(validator, "PATCH", ALL_REQUESTS["update_points"].url, body)
    assert any("'eighty' is not of type 'number'" in e for e in errors)


@pytest.mark.parametrize("name", sorted(ALL_REQUESTS))
def test_request_conforms(validator: ModuleType, name: str) -> None:
    request = ALL_REQUESTS[name]
    body = dict(request.body) if request.body is not None else None
    assert _errors(validator, request.method, f"https://graph.microsoft.com/v1.0{request.url}", body) == []


def test_writes_address_the_class_submission_not_me(validator: ModuleType) -> None:
    writes = [r for r in ALL_REQUESTS.values() if r.method != "GET"]
    assert writes and all(r.path.startswith(f"/education/classes/{C}/assignments/{A}/submissions/{S}/") for r in writes)


def test_every_batch_part_conforms(validator: ModuleType) -> None:
    parts = [BatchPart(str(n), request) for n, request in enumerate(ALL_REQUESTS.values())]
    envelope = build_batch_body(parts)
    assert len(envelope["requests"]) == len(ALL_REQUESTS) <= 20
    for part in envelope["requests"]:
        assert part["headers"]["Prefer"] == "include-unknown-enum-members"
        assert ("body" in part) == (part["headers"].get("Content-Type") == "application/json")
        assert _errors(validator, part["method"], part["url"], part.get("body")) == [], part["id"]
