"""Resolving students, assignments and classes from what a teacher typed, and the whole personal-chat lookup."""

from __future__ import annotations

import gc
from typing import Any, TypeVar

import pytest

from bot.graph.ids import ClassId, UserId
from bot.graph.models import Assignment, EducationClass, EducationUser
from bot.roster import (
    Ambiguous,
    MatchKind,
    NotFound,
    Resolution,
    Resolved,
    RosterCache,
    Target,
    is_credit_only,
    is_draft,
    locate,
    resolve_assignment,
    resolve_class,
    resolve_student,
)
from bot.roster.resolver import _student_forms  # pyright: ignore[reportPrivateUsage]

BIOLOGY = ClassId("c-bio")
ENGLISH = ClassId("c-eng")
HISTORY = ClassId("c-his")


def _user(
    user_id: str, display: str, given: str | None, surname: str | None, nickname: str, role: str = "student"
) -> EducationUser:
    return EducationUser.model_validate(
        {
            "id": user_id,
            "displayName": display,
            "givenName": given,
            "surname": surname,
            "mailNickname": nickname,
            "userPrincipalName": f"{nickname}@school.example",
            "primaryRole": role,
        }
    )


ALEX_KIM = _user("u-alex-kim", "Alex Kim", "Alex", "Kim", "akim")
ALEX_LEE = _user("u-alex-lee", "Alex Lee", "Alex", "Lee", "alee")
ALEXANDRA = _user("u-alexandra", "Alexandra Petrova", "Alexandra", "Petrova", "apetrova")
JOSE_ACCENTED = _user("u-jose-1", "José Núñez", "José", "Núñez", "jose.nunez")
JOSE_PLAIN = _user("u-jose-2", "Jose Nunez", "Jose", "Nunez", "jnunez")
MARY_JANE = _user("u-mj", "Mary-Jane O'Connor", "Mary-Jane", "O'Connor", "mjoconnor")
LUIS = _user("u-luis", "Luis de la Cruz", "Luis", "de la Cruz", "ldelacruz")
LAN = EducationUser.model_validate(
    {
        "id": "u-lan",
        "displayName": "Nguyễn Thị Lan",
        "givenName": "Lan",
        "middleName": "Thị",
        "surname": "Nguyễn",
        "mailNickname": "lnguyen",
        "primaryRole": "student",
    }
)
WILL = _user("u-will", "Will Turner", "Will", "Turner", "wturner")
ALICE = _user("u-alice", "Alice Smith", "Alice", "Smith", "asmith")
BOB = _user("u-bob", "Bob Jones", "Bob", "Jones", "bjones")
CAROL = _user("u-carol", "Carol Diaz", "Carol", "Diaz", "cdiaz")
SAM_PATEL = _user("u-sam-p", "Sam Patel", "Sam", "Patel", "spatel")
SAM_OKAFOR = _user("u-sam-o", "Sam Okafor", "Sam", "Okafor", "sokafor")
TEACHER = _user("u-teacher", "Alice Baker", "Alice", "Baker", "abaker", role="teacher")

BIOLOGY_MEMBERS = [
    TEACHER,
    ALEX_KIM,
    ALEX_LEE,
    ALEXANDRA,
    JOSE_ACCENTED,
    JOSE_PLAIN,
    MARY_JANE,
    LUIS,
    LAN,
    WILL,
    ALICE,
    BOB,
    CAROL,
    SAM_PATEL,
]
ENGLISH_MEMBERS = [TEACHER, ALICE, SAM_OKAFOR, CAROL]


def _assignment(assignment_id: str, name: str, status: str = "assigned", *, points: float | None = 100) -> Assignment:
    grading: dict[str, Any] | None = None
    if points is not None:
        grading = {"@odata.type": "#microsoft.graph.educationAssignmentPointsGradeType", "maxPoints": points}
    return Assignment.model_validate({"id": assignment_id, "displayName": name, "status": status, "grading": grading})


ESSAY_1 = _assignment("a-essay-1", "Essay 1")
ESSAY_2 = _assignment("a-essay-2", "Essay 2")
ESSAY_2_DRAFT = _assignment("a-essay-2-draft", "Essay 2", "draft")
LAB_3 = _assignment("a-lab-3", "Lab 3", points=20)
QUIZ_1 = _assignment("a-quiz-1", "Quiz 1", points=10)
UNIT_QUIZ = _assignment("a-unit-3-quiz-2", "Unit 3 Quiz 2", points=10)
READING_LOG = _assignment("a-reading-log", "Reading Log", points=None)
PROJECT_DRAFT = _assignment("a-project", "Final Project", "draft")
BIOLOGY_ASSIGNMENTS = [ESSAY_1, ESSAY_2, ESSAY_2_DRAFT, LAB_3, QUIZ_1, UNIT_QUIZ, READING_LOG, PROJECT_DRAFT]
POETRY = _assignment("a-poetry", "Poetry Analysis")
ENGLISH_ESSAY_2 = _assignment("a-eng-essay-2", "Essay 2")
ENGLISH_ASSIGNMENTS = [POETRY, ENGLISH_ESSAY_2]


def _class(class_id: ClassId, name: str, nickname: str, code: str, external: str) -> EducationClass:
    return EducationClass.model_validate(
        {"id": class_id, "displayName": name, "mailNickname": nickname, "classCode": code, "externalName": external}
    )


BIOLOGY_CLASS = _class(BIOLOGY, "Biology 101", "Biology101", "BIO101-P2", "Biology 101 - Period 2")
ENGLISH_CLASS = _class(ENGLISH, "7B English", "7BEnglish", "ENG-7B", "Year 7 English (Set B)")
HISTORY_CLASS = _class(HISTORY, "10C History", "10CHistory", "HIS-10C", "Year 10 History (Set C)")
CLASSES = [BIOLOGY_CLASS, ENGLISH_CLASS, HISTORY_CLASS]


T = TypeVar("T")


def _resolved(resolution: Resolution[T]) -> Resolved[T]:
    assert isinstance(resolution, Resolved), resolution
    return resolution


def _ids(values: tuple[Any, ...]) -> list[str]:
    return [value.id for value in values]


# --- Students ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "student", "kind"),
    [
        ("Alice", ALICE, MatchKind.GIVEN_NAME),
        ("alice smith", ALICE, MatchKind.DISPLAY_NAME),
        ("Smith", ALICE, MatchKind.SURNAME),
        ("Smith, Alice", ALICE, MatchKind.FULL_NAME),
        ("asmith", ALICE, MatchKind.MAIL_NICKNAME),
        ("asmith@school.example", ALICE, MatchKind.MAIL),
        ("u-alice", ALICE, MatchKind.ID),
        ("Alice's", ALICE, MatchKind.GIVEN_NAME),
        ("ALICE.", ALICE, MatchKind.GIVEN_NAME),
        ("Alexandra", ALEXANDRA, MatchKind.GIVEN_NAME),
        ("Alex Kim", ALEX_KIM, MatchKind.DISPLAY_NAME),
        ("José Núñez", JOSE_ACCENTED, MatchKind.DISPLAY_NAME),
        ("José", JOSE_ACCENTED, MatchKind.GIVEN_NAME),
        ("Mary-Jane O'Connor", MARY_JANE, MatchKind.DISPLAY_NAME),
        ("mary jane o’connor", MARY_JANE, MatchKind.DISPLAY_NAME),
        ("Mary Jane", MARY_JANE, MatchKind.GIVEN_NAME),
        ("OConnor", MARY_JANE, MatchKind.SURNAME),
        ("Luis de la Cruz", LUIS, MatchKind.DISPLAY_NAME),
        ("de la Cruz", LUIS, MatchKind.SURNAME),
        ("Nguyễn Thị Lan", LAN, MatchKind.DISPLAY_NAME),
        ("Lan Nguyễn", LAN, MatchKind.FULL_NAME),
        ("Lan", LAN, MatchKind.GIVEN_NAME),
        ("Will", WILL, MatchKind.GIVEN_NAME),
    ],
)
def test_a_whole_name_resolves_exactly(query: str, student: EducationUser, kind: MatchKind) -> None:
    assert _resolved(resolve_student(BIOLOGY_MEMBERS, query)) == Resolved(student, exact=True, matched_on=kind)


@pytest.mark.parametrize(
    ("query", "student", "kind"),
    [
        ("Cruz", LUIS, MatchKind.NAME_PART),
        ("Luis Cruz", LUIS, MatchKind.NAME_PART),
        ("Mary", MARY_JANE, MatchKind.NAME_PART),
        ("Nguyen", LAN, MatchKind.SURNAME),  # accents not typed: needs confirmation
        ("Thi Lan", LAN, MatchKind.NAME_PART),
    ],
)
def test_part_of_a_name_or_missing_accents_resolve_but_need_confirmation(
    query: str, student: EducationUser, kind: MatchKind
) -> None:
    assert _resolved(resolve_student(BIOLOGY_MEMBERS, query)) == Resolved(student, exact=False, matched_on=kind)


def test_a_shared_first_name_is_ambiguous_and_leaves_out_longer_names() -> None:
    resolution = resolve_student(BIOLOGY_MEMBERS, "Alex")
    assert resolution == Ambiguous((ALEX_KIM, ALEX_LEE), "Alex")


def test_accent_free_query_cannot_tell_accented_and_plain_spellings_apart() -> None:
    resolution = resolve_student(BIOLOGY_MEMBERS, "jose nunez")
    assert isinstance(resolution, Ambiguous)
    assert set(_ids(resolution.candidates)) == {JOSE_ACCENTED.id, JOSE_PLAIN.id}


def test_accented_query_for_a_plain_spelled_student_needs_confirmation() -> None:
    resolution = resolve_student([JOSE_PLAIN, ALICE], "José Núñez")
    assert resolution == Resolved(JOSE_PLAIN, exact=False, matched_on=MatchKind.DISPLAY_NAME)


def test_plain_query_for_an_accented_student_needs_confirmation() -> None:
    resolution = resolve_student([JOSE_ACCENTED, ALICE], "Jose Nunez")
    assert resolution == Resolved(JOSE_ACCENTED, exact=False, matched_on=MatchKind.DISPLAY_NAME)


def test_plain_query_for_the_only_plain_spelled_student_is_exact() -> None:
    assert resolve_student([JOSE_PLAIN, ALICE], "jose nunez") == Resolved(
        JOSE_PLAIN, exact=True, matched_on=MatchKind.DISPLAY_NAME
    )


def test_a_prefix_is_only_a_suggestion() -> None:
    resolution = resolve_student([ALEXANDRA, BOB], "Alex")
    assert resolution == NotFound("Alex", (ALEXANDRA,))


@pytest.mark.parametrize(("typo", "student"), [("Alcie", ALICE), ("Alise Smith", ALICE), ("Crol", CAROL)])
def test_a_typo_is_never_a_match_only_a_suggestion(typo: str, student: EducationUser) -> None:
    resolution = resolve_student(BIOLOGY_MEMBERS, typo)
    assert isinstance(resolution, NotFound)
    assert resolution.suggestions[0] == student


def test_look_alike_letters_from_another_script_do_not_match() -> None:
    resolution = resolve_student(BIOLOGY_MEMBERS, "\u0410lice")  # Cyrillic capital A
    assert isinstance(resolution, NotFound)
    assert resolution.suggestions[:1] == (ALICE,)


def test_suggestions_are_few_and_best_first() -> None:
    resolution = resolve_student(BIOLOGY_MEMBERS, "Alexa")
    assert isinstance(resolution, NotFound)
    assert 1 <= len(resolution.suggestions) <= 5
    assert set(_ids(resolution.suggestions[:2])) == {ALEX_KIM.id, ALEX_LEE.id}


def test_teachers_in_the_member_list_are_not_students() -> None:
    assert resolve_student(BIOLOGY_MEMBERS, "Baker") == NotFound("Baker", ())
    assert _resolved(resolve_student(ENGLISH_MEMBERS, "Alice")).value == ALICE


def test_same_first_name_in_different_classes_is_resolved_per_class() -> None:
    assert _resolved(resolve_student(BIOLOGY_MEMBERS, "Sam")).value == SAM_PATEL
    assert _resolved(resolve_student(ENGLISH_MEMBERS, "Sam")).value == SAM_OKAFOR


@pytest.mark.parametrize("query", ["", "   ", "?!"])
def test_an_empty_query_finds_nothing(query: str) -> None:
    assert resolve_student(BIOLOGY_MEMBERS, query) == NotFound(query, ())


def test_a_student_listed_twice_is_not_ambiguous_with_themselves() -> None:
    assert _resolved(resolve_student([ALICE, ALICE, BOB], "Alice")).value == ALICE


# --- Assignments ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "assignment"),
    [
        ("Essay 2", ESSAY_2),
        ("essay 2", ESSAY_2),
        ("Essay #2", ESSAY_2),
        ("essay two", ESSAY_2),
        ("Essay 02", ESSAY_2),
        ("essay2", ESSAY_2),
        ("Essay No. 2", ESSAY_2),
        ("Unit 3 Quiz 2", UNIT_QUIZ),
        ("quiz one", QUIZ_1),
        ("the lab 3", LAB_3),
        ("reading log", READING_LOG),
    ],
)
def test_a_full_title_resolves_exactly(query: str, assignment: Assignment) -> None:
    resolution = resolve_assignment(BIOLOGY_ASSIGNMENTS, query)
    assert resolution == Resolved(assignment, exact=True, matched_on=MatchKind.DISPLAY_NAME)


def test_an_assigned_assignment_wins_over_a_draft_of_the_same_name() -> None:
    assert _resolved(resolve_assignment(BIOLOGY_ASSIGNMENTS, "essay 2")).value == ESSAY_2
    assert _resolved(resolve_assignment([ESSAY_2_DRAFT, ESSAY_2], "essay 2")).value == ESSAY_2


def test_a_draft_only_match_still_resolves_and_says_it_is_a_draft() -> None:
    resolved = _resolved(resolve_assignment(BIOLOGY_ASSIGNMENTS, "final project"))
    assert resolved.value == PROJECT_DRAFT
    assert is_draft(resolved.value)


def test_part_of_a_title_unique_in_the_class_needs_confirmation() -> None:
    assert resolve_assignment(BIOLOGY_ASSIGNMENTS, "lab") == Resolved(
        LAB_3, exact=False, matched_on=MatchKind.NAME_PART
    )
    assert resolve_assignment(BIOLOGY_ASSIGNMENTS, "quiz 2") == Resolved(
        UNIT_QUIZ, exact=False, matched_on=MatchKind.NAME_PART
    )


def test_the_essay_when_only_one_essay_exists_needs_confirmation() -> None:
    resolution = resolve_assignment([ESSAY_1, LAB_3], "the essay")
    assert resolution == Resolved(ESSAY_1, exact=False, matched_on=MatchKind.NAME_PART)


@pytest.mark.parametrize(
    ("query", "candidates"),
    [("quiz", [QUIZ_1, UNIT_QUIZ]), ("the essay", [ESSAY_1, ESSAY_2]), ("essay", [ESSAY_1, ESSAY_2])],
)
def test_a_word_shared_by_several_titles_is_ambiguous(query: str, candidates: list[Assignment]) -> None:
    resolution = resolve_assignment(BIOLOGY_ASSIGNMENTS, query)
    assert isinstance(resolution, Ambiguous)
    assert list(resolution.candidates) == candidates


def test_a_mistyped_title_only_gets_suggestions_without_duplicate_drafts() -> None:
    resolution = resolve_assignment(BIOLOGY_ASSIGNMENTS, "Esay 2")
    assert isinstance(resolution, NotFound)
    assert resolution.suggestions[0] == ESSAY_2
    assert ESSAY_2_DRAFT not in resolution.suggestions


def test_an_unrelated_title_finds_nothing() -> None:
    assert resolve_assignment(BIOLOGY_ASSIGNMENTS, "Photosynthesis worksheet") == NotFound(
        "Photosynthesis worksheet", ()
    )


def test_credit_only_and_draft_helpers() -> None:
    assert is_credit_only(READING_LOG)
    assert not is_credit_only(ESSAY_1)
    assert is_draft(PROJECT_DRAFT)
    assert not is_draft(ESSAY_2)


# --- Classes -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hint", "education_class", "kind"),
    [
        ("Biology 101", BIOLOGY_CLASS, MatchKind.DISPLAY_NAME),
        ("biology101", BIOLOGY_CLASS, MatchKind.MAIL_NICKNAME),
        ("BIO101-P2", BIOLOGY_CLASS, MatchKind.CLASS_CODE),
        ("Year 7 English (Set B)", ENGLISH_CLASS, MatchKind.EXTERNAL_NAME),
        ("7B", ENGLISH_CLASS, MatchKind.NAME_PREFIX),
        ("7b", ENGLISH_CLASS, MatchKind.NAME_PREFIX),
        ("Biology", BIOLOGY_CLASS, MatchKind.NAME_PREFIX),
    ],
)
def test_a_class_hint_resolves_exactly(hint: str, education_class: EducationClass, kind: MatchKind) -> None:
    resolution = resolve_class(CLASSES, hint=hint, channel_class_id=None)
    assert resolution == Resolved(education_class, exact=True, matched_on=kind)


def test_a_word_inside_a_class_name_needs_confirmation() -> None:
    resolution = resolve_class(CLASSES, hint="History", channel_class_id=None)
    assert resolution == Resolved(HISTORY_CLASS, exact=False, matched_on=MatchKind.NAME_PART)


def test_a_hint_wins_over_the_channel() -> None:
    resolution = resolve_class(CLASSES, hint="7B", channel_class_id=BIOLOGY)
    assert _resolved(resolution).value == ENGLISH_CLASS


def test_a_hint_shared_by_classes_is_ambiguous() -> None:
    resolution = resolve_class(CLASSES, hint="Year", channel_class_id=None)
    assert resolution == Ambiguous((HISTORY_CLASS, ENGLISH_CLASS), "Year")


def test_an_unknown_hint_suggests_close_classes() -> None:
    assert resolve_class(CLASSES, hint="Biolgy 101", channel_class_id=None) == NotFound("Biolgy 101", (BIOLOGY_CLASS,))


def test_the_channel_class_is_used_without_a_hint() -> None:
    resolution = resolve_class(CLASSES, hint=None, channel_class_id=ENGLISH)
    assert resolution == Resolved(ENGLISH_CLASS, exact=True, matched_on=MatchKind.CONTEXT)


def test_a_channel_class_the_teacher_does_not_teach_is_not_found() -> None:
    assert resolve_class(CLASSES, hint=None, channel_class_id=ClassId("c-other")) == NotFound("", ())


def test_candidate_classes_decide_without_hint_or_channel() -> None:
    one = resolve_class(CLASSES, hint=None, channel_class_id=None, candidate_class_ids={ENGLISH})
    several = resolve_class(CLASSES, hint=None, channel_class_id=None, candidate_class_ids={ENGLISH, BIOLOGY})
    none = resolve_class(CLASSES, hint=None, channel_class_id=None, candidate_class_ids=set())
    assert one == Resolved(ENGLISH_CLASS, exact=True, matched_on=MatchKind.CONTEXT)
    assert several == Ambiguous((ENGLISH_CLASS, BIOLOGY_CLASS), "")
    assert none == NotFound("", ())


# --- locate: the whole lookup --------------------------------------------------------------------------------------


class FakeSchool:
    """A teacher's view of Graph: taught classes, members, assignments; counts the reads it answers."""

    def __init__(self, classes: list[EducationClass]) -> None:
        self.classes = classes
        self.members = {BIOLOGY: BIOLOGY_MEMBERS, ENGLISH: ENGLISH_MEMBERS, HISTORY: [TEACHER, BOB]}
        self.assignments = {BIOLOGY: BIOLOGY_ASSIGNMENTS, ENGLISH: ENGLISH_ASSIGNMENTS, HISTORY: [ESSAY_1]}
        self.reads = 0

    async def my_taught_classes(self) -> list[EducationClass]:
        self.reads += 1
        return list(self.classes)

    async def list_members(self, class_id: ClassId) -> list[EducationUser]:
        self.reads += 1
        return list(self.members[class_id])

    async def list_assignments(self, class_id: ClassId) -> list[Assignment]:
        self.reads += 1
        return list(self.assignments[class_id])


async def _locate(
    school: FakeSchool,
    *,
    student: str | None,
    assignment: str | None,
    hint: str | None = None,
    channel: ClassId | None = None,
    cache: RosterCache | None = None,
) -> Target | Ambiguous[EducationClass] | NotFound[EducationClass]:
    return await locate(
        school,
        "tenant/teacher",
        student=student,
        assignment=assignment,
        hint=hint,
        channel_class_id=channel,
        cache=RosterCache() if cache is None else cache,
    )


async def test_personal_chat_uses_the_one_class_holding_both_names() -> None:
    located = await _locate(FakeSchool(CLASSES), student="Alex Kim", assignment="Essay 2")
    assert isinstance(located, Target)
    assert located.education_class == BIOLOGY_CLASS
    assert located.student == Resolved(ALEX_KIM, exact=True, matched_on=MatchKind.DISPLAY_NAME)
    assert located.assignment == Resolved(ESSAY_2, exact=True, matched_on=MatchKind.DISPLAY_NAME)
    assert located.ready


async def test_personal_chat_asks_which_class_when_both_names_fit_several() -> None:
    located = await _locate(FakeSchool(CLASSES), student="Alice", assignment="Essay 2")
    assert located == Ambiguous((ENGLISH_CLASS, BIOLOGY_CLASS), "")


async def test_personal_chat_prefers_the_class_where_both_resolve_exactly() -> None:
    located = await _locate(FakeSchool(CLASSES), student="Carol", assignment="Poetry Analysis")
    assert isinstance(located, Target)
    assert located.education_class == ENGLISH_CLASS


async def test_personal_chat_with_an_ambiguous_student_keeps_the_question_for_the_caller() -> None:
    located = await _locate(FakeSchool(CLASSES), student="Alex", assignment="Lab 3")
    assert isinstance(located, Target)
    assert located.education_class == BIOLOGY_CLASS
    assert located.student == Ambiguous((ALEX_KIM, ALEX_LEE), "Alex")
    assert not located.ready


async def test_a_teacher_with_one_class_gets_suggestions_there_when_nothing_matches() -> None:
    located = await _locate(FakeSchool([BIOLOGY_CLASS]), student="Alcie", assignment="Essay 2")
    assert isinstance(located, Target)
    assert isinstance(located.student, NotFound)
    assert located.student.suggestions[0] == ALICE


async def test_a_teacher_with_several_classes_picks_one_when_nothing_matches() -> None:
    located = await _locate(FakeSchool(CLASSES), student="Zebedee", assignment="Essay 2")
    assert located == NotFound("", (HISTORY_CLASS, ENGLISH_CLASS, BIOLOGY_CLASS))


async def test_a_hint_resolves_inside_the_named_class() -> None:
    located = await _locate(FakeSchool(CLASSES), student="Sam", assignment="Essay 2", hint="7B")
    assert isinstance(located, Target)
    assert located.student == Resolved(SAM_OKAFOR, exact=True, matched_on=MatchKind.GIVEN_NAME)
    assert located.assignment == Resolved(ENGLISH_ESSAY_2, exact=True, matched_on=MatchKind.DISPLAY_NAME)


async def test_a_channel_message_resolves_inside_the_channel_class() -> None:
    located = await _locate(FakeSchool(CLASSES), student="Sam", assignment=None, channel=BIOLOGY)
    assert isinstance(located, Target)
    assert located.student == Resolved(SAM_PATEL, exact=True, matched_on=MatchKind.GIVEN_NAME)
    assert located.assignment is None
    assert located.ready


async def test_a_channel_class_the_teacher_does_not_teach_is_refused() -> None:
    located = await _locate(FakeSchool([ENGLISH_CLASS]), student="Sam", assignment="Essay 2", channel=BIOLOGY)
    assert located == NotFound("", ())


async def test_an_ambiguous_hint_asks_which_class() -> None:
    located = await _locate(FakeSchool(CLASSES), student="Bob", assignment="Essay 1", hint="Year")
    assert located == Ambiguous((HISTORY_CLASS, ENGLISH_CLASS), "Year")


async def test_repeated_lookups_read_the_roster_once() -> None:
    school = FakeSchool(CLASSES)
    cache = RosterCache()
    for _ in range(3):
        await _locate(school, student="Alex Kim", assignment="Essay 2", cache=cache)
    assert school.reads == 1 + 2 * len(CLASSES)


def test_cached_name_forms_drop_out_of_the_garbage_collectors_passes() -> None:
    """The resolver keeps every student's name forms (thousands under load); as plain tuples of plain values the
    collector stops walking them after a pass or two, so they add nothing to the event loop's full-collection pauses."""
    user = EducationUser(
        id=UserId("u-gc"),
        display_name="Mary-Jane O'Connor",
        given_name="Mary-Jane",
        surname="O'Connor",
        mail="mj@school.example",
    )
    forms = _student_forms(user)
    assert len(forms) >= 5
    gc.collect()
    gc.collect()  # a tuple leaves tracking once the tuples it holds have: one pass for the words, one for the form
    assert not any(gc.is_tracked(form) for form in forms)
