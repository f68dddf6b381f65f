"""Identifiers as distinct types so a class id can never be passed where a submission id belongs."""

from typing import NewType

TenantId = NewType("TenantId", str)
UserId = NewType("UserId", str)
ClassId = NewType("ClassId", str)
AssignmentId = NewType("AssignmentId", str)
SubmissionId = NewType("SubmissionId", str)
OutcomeId = NewType("OutcomeId", str)
