"""The sandbox school's state: users, classes, assignments, submissions and outcomes, loaded from `school.json`.

The models hold Graph's own property names (camelCase) so the seed file reads like Graph data. Identity sets are
stored as a bare user id (`submittedBy: "<oid>"`) and expanded to Graph's `{application, device, user}` shape only
when `sandbox.graph` serialises them. Everything here is plain data; behaviour lives in `sandbox.graph`.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

SEED_PATH = Path(__file__).with_name("school.json")
SEED_DOMAIN = "lakesideschool.onmicrosoft.com"
"""The seeded school's verified domain (its users' principal names end with it)."""

SubmissionStatus = Literal["working", "submitted", "returned", "reassigned", "excused"]
AssignmentStatus = Literal["draft", "published", "assigned", "inactive"]
OutcomeKind = Literal["feedback", "points", "rubric"]

# Teams "Assignments" app id used in every documented webUrl (examples/graph/educationsubmission-excuse.*.json).
_ASSIGNMENTS_APP = "66aeee93-507d-479a-a3ef-8f494af43945"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemBody(_Model):
    """Graph `itemBody`: text or HTML content."""

    content: str
    contentType: Literal["text", "html"] = "text"


class User(_Model):
    """An education user (student or teacher)."""

    id: str
    displayName: str
    givenName: str | None = None
    surname: str | None = None
    mailNickname: str
    userPrincipalName: str
    mail: str
    primaryRole: Literal["student", "teacher"]


class Term(_Model):
    """An education term."""

    externalId: str
    displayName: str
    startDate: str
    endDate: str


class SchoolClass(_Model):
    """An education class with its teacher and student ids."""

    id: str
    displayName: str
    mailNickname: str
    description: str
    externalName: str
    externalId: str
    classCode: str
    grade: str | None = None
    term: Term | None = None
    createdBy: str
    teacherIds: list[str]
    studentIds: list[str]


class RubricQuality(_Model):
    """One row of a rubric."""

    qualityId: str
    displayName: str
    description: str | None = None
    weight: float | None = None


class RubricLevel(_Model):
    """One column of a rubric; outcomes select it by `columnId` = `levelId`."""

    levelId: str
    displayName: str
    points: float | None = None


class Rubric(_Model):
    """An assignment rubric."""

    id: str
    displayName: str
    qualities: list[RubricQuality]
    levels: list[RubricLevel]


class Assignment(_Model):
    """An education assignment. `maxPoints` None means Graph's `grading: null` (credit only, no points outcome)."""

    id: str
    classId: str
    displayName: str
    status: AssignmentStatus
    maxPoints: float | None = None
    instructions: str = ""
    dueDateTime: datetime | None = None
    closeDateTime: datetime | None = None
    assignDateTime: datetime | None = None
    assignedDateTime: datetime | None = None
    allowLateSubmissions: bool = True
    createdDateTime: datetime
    lastModifiedDateTime: datetime
    createdBy: str
    lastModifiedBy: str
    rubric: Rubric | None = None


class Feedback(_Model):
    """Graph `educationFeedback`."""

    text: ItemBody | None = None
    feedbackDateTime: datetime | None = None
    feedbackBy: str | None = None


class PointsGrade(_Model):
    """Graph `educationAssignmentPointsGrade`."""

    points: float | None = None
    gradedDateTime: datetime | None = None
    gradedBy: str | None = None


class QualityFeedback(_Model):
    """Graph `rubricQualityFeedbackModel`."""

    qualityId: str
    feedback: ItemBody | None = None


class SelectedLevel(_Model):
    """Graph `rubricQualitySelectedColumnModel`."""

    qualityId: str
    columnId: str


class Outcome(_Model):
    """One outcome of a submission; `kind` picks which of the draft/published pairs apply."""

    id: str
    kind: OutcomeKind
    lastModifiedDateTime: datetime | None = None
    lastModifiedBy: str | None = None
    feedback: Feedback | None = None
    publishedFeedback: Feedback | None = None
    points: PointsGrade | None = None
    publishedPoints: PointsGrade | None = None
    rubricQualityFeedback: list[QualityFeedback] | None = None
    rubricQualitySelectedLevels: list[SelectedLevel] | None = None
    publishedRubricQualityFeedback: list[QualityFeedback] | None = None
    publishedRubricQualitySelectedLevels: list[SelectedLevel] | None = None


class Submission(_Model):
    """One student's submission for an assignment, with its raw (unmapped) status and its outcomes."""

    id: str
    classId: str
    assignmentId: str
    userId: str
    status: SubmissionStatus
    submittedDateTime: datetime | None = None
    submittedBy: str | None = None
    unsubmittedDateTime: datetime | None = None
    unsubmittedBy: str | None = None
    returnedDateTime: datetime | None = None
    returnedBy: str | None = None
    reassignedDateTime: datetime | None = None
    reassignedBy: str | None = None
    excusedDateTime: datetime | None = None
    excusedBy: str | None = None
    outcomes: list[Outcome] = Field(default_factory=lambda: [])

    @property
    def webUrl(self) -> str:
        """A Teams deep link shaped like the documented submission webUrl."""
        sub_entity = {
            "version": "1.0",
            "config": {
                "classes": [{"id": self.classId, "assignmentIds": [self.assignmentId], "submissionId": self.id}]
            },
            "action": "navigate",
            "view": "submission-viewer",
        }
        compact = (",", ":")
        context = json.dumps(
            {"subEntityId": json.dumps(sub_entity, separators=compact), "channelId": None}, separators=compact
        )
        # Commas stay unescaped, as in the documented links.
        return f"https://teams.microsoft.com/l/entity/{_ASSIGNMENTS_APP}/classroom?context={quote(context, safe=',')}"

    def outcome(self, kind: OutcomeKind) -> Outcome | None:
        """The outcome of the given kind, if this submission has one."""
        return next((o for o in self.outcomes if o.kind == kind), None)


class School(_Model):
    """The whole school: one tenant's users, classes, assignments and submissions."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    about: list[str] = Field(default_factory=lambda: [], alias="_about")
    tenantId: str
    users: list[User]
    classes: list[SchoolClass]
    assignments: list[Assignment]
    submissions: list[Submission]

    _users: dict[str, User] = PrivateAttr(default_factory=lambda: {})
    _classes: dict[str, SchoolClass] = PrivateAttr(default_factory=lambda: {})
    _assignments: dict[str, Assignment] = PrivateAttr(default_factory=lambda: {})
    _submissions: dict[str, Submission] = PrivateAttr(default_factory=lambda: {})

    def model_post_init(self, context: object, /) -> None:
        """Index the lists by id."""
        self._users = {u.id: u for u in self.users}
        self._classes = {c.id: c for c in self.classes}
        self._assignments = {a.id: a for a in self.assignments}
        self._submissions = {s.id: s for s in self.submissions}

    def user(self, user_id: str) -> User | None:
        """The user with this id."""
        return self._users.get(user_id)

    def school_class(self, class_id: str) -> SchoolClass | None:
        """The class with this id."""
        return self._classes.get(class_id)

    def assignment(self, assignment_id: str) -> Assignment | None:
        """The assignment with this id."""
        return self._assignments.get(assignment_id)

    def submission(self, submission_id: str) -> Submission | None:
        """The submission with this id."""
        return self._submissions.get(submission_id)

    def user_named(self, display_name: str) -> User:
        """The user with this exact display name.

        Raises:
            KeyError: no such user.
        """
        for user in self.users:
            if user.displayName == display_name:
                return user
        raise KeyError(display_name)

    def class_named(self, display_name: str) -> SchoolClass:
        """The class with this exact display name.

        Raises:
            KeyError: no such class.
        """
        for cls in self.classes:
            if cls.displayName == display_name:
                return cls
        raise KeyError(display_name)

    def assignment_named(self, class_id: str, display_name: str) -> Assignment:
        """The assignment of a class with this exact display name.

        Raises:
            KeyError: no such assignment.
        """
        for assignment in self.assignments:
            if assignment.classId == class_id and assignment.displayName == display_name:
                return assignment
        raise KeyError(display_name)

    def assignments_of(self, class_id: str) -> list[Assignment]:
        """The assignments of a class, in seed order."""
        return [a for a in self.assignments if a.classId == class_id]

    def submissions_of(self, assignment_id: str) -> list[Submission]:
        """The submissions of an assignment, in seed order."""
        return [s for s in self.submissions if s.assignmentId == assignment_id]

    @property
    def domain(self) -> str:
        """The tenant's verified domain, as the users' principal names carry it (`lakesideschool.onmicrosoft.com`)."""
        for user in self.users:
            if "@" in user.userPrincipalName:
                return user.userPrincipalName.rpartition("@")[2]
        return f"{self.tenantId}.onmicrosoft.com"

    def ids(self) -> set[str]:
        """Every id this school holds: tenant, users, classes, assignments, rubrics (with their quality and level
        ids), submissions and outcomes."""
        found = {self.tenantId}
        found.update(user.id for user in self.users)
        found.update(cls.id for cls in self.classes)
        for assignment in self.assignments:
            found.add(assignment.id)
            if assignment.rubric is not None:
                found.add(assignment.rubric.id)
                found.update(quality.qualityId for quality in assignment.rubric.qualities)
                found.update(level.levelId for level in assignment.rubric.levels)
        for submission in self.submissions:
            found.add(submission.id)
            found.update(outcome.id for outcome in submission.outcomes)
        return found

    def copy_for_tenant(self, index: int) -> School:
        """This school as tenant `index` of a multi-tenant sandbox: same people, names and state, new ids.

        Args:
            index: 0 for this school itself (an equal deep copy); k >= 1 for the k-th copy, whose every id (see
                `ids`) is `uuid5(this tenant id, "tenant-{k}/{old id}")` and whose users' principal names and mail
                addresses are at `tenant_domain(k)`. Display names, class codes and external (SIS) ids stay the same.

        Returns:
            A fresh School (callers may mutate it); the same index always gives the same ids.

        Raises:
            ValueError: `index` is negative.
        """
        if index < 0:
            raise ValueError(f"tenant index must be 0 or more, not {index}")
        if index == 0:
            return self.model_copy(deep=True)
        namespace = uuid.UUID(self.tenantId)
        renamed = {old: str(uuid.uuid5(namespace, f"tenant-{index}/{old}")) for old in self.ids()}
        old_domain, new_domain = f"@{self.domain}", f"@{tenant_domain(index)}"

        def rewrite(value: Any) -> Any:
            if isinstance(value, str):
                if value in renamed:
                    return renamed[value]
                return value.replace(old_domain, new_domain) if value.endswith(old_domain) else value
            if isinstance(value, dict):
                return {key: rewrite(item) for key, item in cast(dict[str, Any], value).items()}
            if isinstance(value, list):
                return [rewrite(item) for item in cast(list[Any], value)]
            return value

        data = cast(dict[str, Any], rewrite(self.model_dump(mode="json", by_alias=True)))
        data["_about"] = [line.replace(self.tenantId, renamed[self.tenantId]) for line in self.about]
        return School.model_validate(data)


def tenant_domain(index: int) -> str:
    """The verified domain of sandbox tenant `index`: the seed school's for 0, `school{index}.onmicrosoft.com` else."""
    return SEED_DOMAIN if index == 0 else f"school{index}.onmicrosoft.com"


def load_school(path: Path = SEED_PATH) -> School:
    """Load and validate a seed file.

    Args:
        path: the JSON seed; defaults to `sandbox/school.json`.

    Returns:
        A fresh School (callers may mutate it).

    Raises:
        pydantic.ValidationError: the file does not match the models.
    """
    return School.model_validate_json(path.read_text(encoding="utf-8"))
