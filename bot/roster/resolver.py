"""Turn the names a teacher typed into Graph objects, without guessing.

Every resolver returns a `Resolution`: `Resolved` (one match, and `exact` says whether the bot may act without asking),
`Ambiguous` (several equally good matches: ask "which one?") or `NotFound` (with up to five suggestions; a typo is a
suggestion, never a match).

What `exact=True` means: the query is one of the thing's names as a whole (display name, given name, surname,
"given surname", "surname, given", mail nickname, e-mail, id; for assignments the full title; for classes also the
leading words of the name, "7B" for "7B English"), compared case-insensitively and ignoring punctuation and spacing
("Mary Jane" = "Mary-Jane", "OConnor" = "O’Connor"), with accents compared as typed. `exact=False` marks a match the
teacher should confirm: accents ignored ("Jose" for "José"), or only part of a name ("Cruz" for "Luis de la Cruz",
"quiz 2" for "Unit 3 Quiz 2").

Accents: a query typed with accents that matches a name with exactly those accents wins over names that only match
without accents ("José Núñez" picks José, not Jose Nunez). A query typed without accents cannot tell the two apart,
so "jose nunez" with both students in the class is Ambiguous.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Generic, TypeAlias, TypeVar

from bot.graph.ids import ClassId
from bot.graph.models import Assignment, AssignmentStatus, EducationClass, EducationUser, UserRole
from bot.roster.cache import RosterCache, RosterSource
from bot.roster.matching import (
    clean_query,
    is_contiguous,
    is_leading,
    is_subsequence,
    loose_tokens,
    strict_tokens,
    suggestion_score,
)

T = TypeVar("T")

MAX_SUGGESTIONS = 5
"""At most this many suggestions in a `NotFound`."""


class MatchKind(StrEnum):
    """Which of a thing's names the query matched."""

    ID = "id"
    MAIL_NICKNAME = "mail_nickname"
    MAIL = "mail"
    DISPLAY_NAME = "display_name"
    FULL_NAME = "full_name"
    GIVEN_NAME = "given_name"
    SURNAME = "surname"
    CLASS_CODE = "class_code"
    EXTERNAL_NAME = "external_name"
    NAME_PREFIX = "name_prefix"
    """The leading words of a class name ("7B" for "7B English")."""
    NAME_PART = "name_part"
    """Some words of a name ("Cruz" for "Luis de la Cruz", "quiz 2" for "Unit 3 Quiz 2"); never exact."""
    CONTEXT = "context"
    """Not named at all: the only class that fits (the channel's class, or the one class holding both names)."""


@dataclass(frozen=True, slots=True)
class Resolved(Generic[T]):
    """Exactly one match. Act on it directly only if `exact`; otherwise ask the teacher to confirm."""

    value: T
    exact: bool
    matched_on: MatchKind


@dataclass(frozen=True, slots=True)
class Ambiguous(Generic[T]):
    """Several equally good matches for `query`, sorted by display name: ask which one."""

    candidates: tuple[T, ...]
    query: str


@dataclass(frozen=True, slots=True)
class NotFound(Generic[T]):
    """Nothing matches `query`; `suggestions` are near misses (typos, prefixes), best first, at most five."""

    query: str
    suggestions: tuple[T, ...] = ()


Resolution: TypeAlias = Resolved[T] | Ambiguous[T] | NotFound[T]


def is_certain(resolution: Resolution[T] | None) -> bool:
    """Whether `resolution` is one exact match (None, meaning "not asked for", also counts)."""
    return resolution is None or (isinstance(resolution, Resolved) and resolution.exact)


def is_draft(assignment: Assignment) -> bool:
    """Whether the assignment is still a draft (not assigned yet, so it has no submissions to grade)."""
    return assignment.status == AssignmentStatus.DRAFT


def is_credit_only(assignment: Assignment) -> bool:
    """Whether the assignment has no points to give (its grading is None)."""
    return assignment.grading is None


def students_only(members: Iterable[EducationUser]) -> tuple[EducationUser, ...]:
    """The members whose primaryRole is student (class members include the teachers)."""
    return tuple(member for member in members if member.primary_role == UserRole.STUDENT)


# --- The matching engine ------------------------------------------------------------------------------------------


_Form: TypeAlias = tuple[str, tuple[str, ...], tuple[str, ...], str | None, bool, bool]
"""One way of writing a thing's name: (kind, strict words, loose words, raw, whole, part), made by `_word_form` and
`_raw_form`. `kind` is a `MatchKind` value; `raw` forms (ids, mail) compare whole strings, not words; `whole` forms
take part in whole-name tiers and `part` forms in part-of-a-name tiers.

A plain tuple of plain values on purpose: the caches hold tens of thousands of forms, and the garbage collector stops
walking an exact tuple of untracked values once it has seen it, where any object (a dataclass, a NamedTuple) would be
walked by every full collection, on the event loop (`make bench`, loop lag and slow callbacks).
"""


@dataclass(frozen=True, slots=True)
class _Query:
    text: str
    raw: str
    strict: tuple[str, ...]
    loose: tuple[str, ...]

    @property
    def accented(self) -> bool:
        return self.strict != self.loose

    @property
    def joined(self) -> str:
        return " ".join(self.loose)


@dataclass(frozen=True, slots=True)
class _Hit(Generic[T]):
    value: T
    kind: MatchKind
    strict: bool


_Test = Callable[[tuple[str, ...], tuple[str, ...]], bool]
_Tokeniser = Callable[[str], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class _Step:
    """One matching tier: `test` against whole names or name parts; `kind` overrides the form's kind in results."""

    test: _Test
    whole: bool
    can_be_exact: bool
    kind: MatchKind | None = None


def _equal(query: tuple[str, ...], name: tuple[str, ...]) -> bool:
    return bool(query) and query == name


def _word_form(kind: MatchKind, words: tuple[str, ...], *, whole: bool = True, part: bool = False) -> _Form | None:
    if not words:
        return None
    return (kind.value, words, loose_tokens(words), None, whole, part)


def _raw_form(kind: MatchKind, text: str | None) -> _Form | None:
    if not text or not text.strip():
        return None
    return (kind.value, (), (), text.strip().casefold(), True, False)


def _make_query(text: str, tokenise: _Tokeniser) -> _Query:
    cleaned = clean_query(text)
    strict = tokenise(cleaned)
    return _Query(text=text, raw=cleaned.casefold(), strict=strict, loose=loose_tokens(strict))


def _tier(items: Sequence[tuple[T, tuple[_Form, ...]]], query: _Query, step: _Step) -> list[_Hit[T]]:
    """The items one of whose forms passes the step's test; each with its best strict match, else best loose one."""
    test = step.test
    hits: list[_Hit[T]] = []
    for value, forms in items:
        loose_kind: str | None = None
        strict_kind: str | None = None
        for kind, strict, loose, raw, whole, part in forms:
            if not (whole if step.whole else part):
                continue
            if raw is not None:
                if query.raw == raw:
                    strict_kind = kind
                    break
                continue
            if test(query.strict, strict):
                strict_kind = kind
                break
            if loose_kind is None and test(query.loose, loose):
                loose_kind = kind
        if strict_kind is not None:
            hits.append(_Hit(value, step.kind or MatchKind(strict_kind), strict=True))
        elif loose_kind is not None:
            hits.append(_Hit(value, step.kind or MatchKind(loose_kind), strict=False))
    return hits


def _decide(
    hits: list[_Hit[T]],
    query: _Query,
    *,
    can_be_exact: bool,
    prefer: Callable[[T], bool] | None,
    sort_key: Callable[[T], tuple[str, str]],
) -> Resolution[T] | None:
    """One tier's verdict, or None if the tier matched nothing."""
    if not hits:
        return None
    chosen = hits
    strict_hits = [hit for hit in hits if hit.strict]
    if strict_hits and (query.accented or len(strict_hits) == len(hits)):
        chosen = strict_hits
    if prefer is not None:
        preferred = [hit for hit in chosen if prefer(hit.value)]
        chosen = preferred or chosen
    if len(chosen) == 1:
        hit = chosen[0]
        return Resolved(hit.value, exact=can_be_exact and hit.strict, matched_on=hit.kind)
    return Ambiguous(tuple(sorted((hit.value for hit in chosen), key=sort_key)), query.text)


_UNTYPED_KINDS = frozenset({MatchKind.ID, MatchKind.MAIL})


@lru_cache(maxsize=8192)
def _typo_targets(forms: tuple[_Form, ...]) -> tuple[str, ...]:
    """The distinct strings a query is compared with for suggestions: each name, and each word of it."""
    targets: dict[str, None] = {}
    for kind, _, loose, raw, _, _ in forms:
        if kind in _UNTYPED_KINDS:
            continue
        if raw is not None:
            targets[raw] = None
            continue
        targets[" ".join(loose)] = None
        targets.update(dict.fromkeys(loose))
    return tuple(targets)


def _suggest(
    items: Sequence[tuple[T, tuple[_Form, ...]]],
    query: _Query,
    sort_key: Callable[[T], tuple[str, str]],
) -> tuple[T, ...]:
    """Up to `MAX_SUGGESTIONS` items within typo distance of, or starting with, the query; best first."""
    typed = query.joined
    if not typed:
        return ()
    scored: list[tuple[float, tuple[str, str], T]] = []
    for value, forms in items:
        best = max((suggestion_score(typed, target) for target in _typo_targets(forms)), default=0.0)
        if best > 0.0:
            scored.append((-best, sort_key(value), value))
    scored.sort(key=lambda entry: (entry[0], entry[1]))
    return tuple(value for _, _, value in scored[:MAX_SUGGESTIONS])


def _resolve(
    items: Sequence[tuple[T, tuple[_Form, ...]]],
    query: _Query,
    steps: Sequence[_Step],
    *,
    prefer: Callable[[T], bool] | None,
    sort_key: Callable[[T], tuple[str, str]],
) -> Resolution[T]:
    """Try each step in turn; the first that matches anything decides; NotFound with suggestions otherwise."""
    if not query.strict and not query.raw:
        return NotFound(query.text)
    for step in steps:
        verdict = _decide(
            _tier(items, query, step),
            query,
            can_be_exact=step.can_be_exact,
            prefer=prefer,
            sort_key=sort_key,
        )
        if verdict is not None:
            return verdict
    return NotFound(query.text, _suggest(items, query, sort_key))


def _unique_by_id(items: Iterable[T], ident: Callable[[T], str]) -> list[T]:
    seen: set[str] = set()
    unique: list[T] = []
    for item in items:
        key = ident(item)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


# --- Students ------------------------------------------------------------------------------------------------------


def _user_sort_key(user: EducationUser) -> tuple[str, str]:
    return (user.display_name.casefold(), user.id)


def _student_forms(user: EducationUser) -> tuple[_Form, ...]:
    return _name_forms(
        user.id,
        user.display_name,
        user.given_name,
        user.middle_name,
        user.surname,
        user.mail_nickname,
        user.mail,
        user.user_principal_name,
    )


@lru_cache(maxsize=8192)
def _name_forms(
    user_id: str,
    display_name: str,
    given_name: str | None,
    middle_name: str | None,
    surname_text: str | None,
    mail_nickname: str | None,
    mail: str | None,
    user_principal_name: str | None,
) -> tuple[_Form, ...]:
    """Every way of naming a student, strongest kind first (cached: rosters are resolved against many times)."""
    given = strict_tokens(given_name or "")
    middle = strict_tokens(middle_name or "")
    surname = strict_tokens(surname_text or "")
    display = strict_tokens(display_name)
    candidates = [_word_form(MatchKind.DISPLAY_NAME, display, part=True)]
    if given and surname:
        candidates += [
            _word_form(MatchKind.FULL_NAME, given + surname),
            _word_form(MatchKind.FULL_NAME, surname + given),
            _word_form(MatchKind.FULL_NAME, given + middle + surname, part=True),
            _word_form(MatchKind.FULL_NAME, surname + given + middle),
            _word_form(MatchKind.FULL_NAME, surname + middle + given, part=True),
        ]
    candidates += [
        _word_form(MatchKind.GIVEN_NAME, given),
        _word_form(MatchKind.SURNAME, surname),
        _raw_form(MatchKind.MAIL_NICKNAME, mail_nickname),
        _raw_form(MatchKind.MAIL, mail),
        _raw_form(MatchKind.MAIL, user_principal_name),
        _raw_form(MatchKind.ID, user_id),
    ]
    return tuple(form for form in candidates if form is not None)


_STUDENT_STEPS = (
    _Step(_equal, whole=True, can_be_exact=True),
    _Step(is_subsequence, whole=False, can_be_exact=False, kind=MatchKind.NAME_PART),
)


def resolve_student(students: Sequence[EducationUser], query: str) -> Resolution[EducationUser]:
    """Find the student a teacher named.

    Only members whose primaryRole is student are considered (teachers in the list are ignored), so the caller may
    pass a class's whole member list.

    Matching, strongest first; the first step that matches anything decides:
    1. The whole query is one of the student's names: display name, given name, surname, "given surname",
       "surname given" / "surname, given" (middle names allowed), mail nickname, e-mail / UPN, id. A unique given
       name or surname is enough ("Alice", "Smith"); shared ones are Ambiguous ("Alex").
    2. The query's words appear in order among the name's words ("Cruz", "de la Cruz" for "Luis de la Cruz" when
       its surname field is not "de la Cruz"; "Luis Cruz"; "Mary" for "Mary-Jane O'Connor"). Never exact.
    3. Otherwise NotFound, with students a typo or a prefix away as suggestions ("Alcie" -> Alice Smith;
       "Alex" -> Alexandra when no Alex exists). A prefix never matches.

    Args:
        students: The class's members (students and teachers; only students are matched).
        query: The name as the teacher typed it; a possessive or trailing punctuation is ignored ("Alice's").

    Returns:
        `Resolved` (see the module docstring for `exact`), `Ambiguous` with the candidates, or `NotFound` with
        suggestions.
    """
    pool = _unique_by_id(students_only(students), lambda user: user.id)
    items = [(user, _student_forms(user)) for user in pool]
    return _resolve(items, _make_query(query, strict_tokens), _STUDENT_STEPS, prefer=None, sort_key=_user_sort_key)


# --- Assignments ---------------------------------------------------------------------------------------------------

_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        (
            *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
            *("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"),
            "twenty",
        )
    )
}
_NUMBER_MARKERS = frozenset({"no", "nr", "num", "number"})
_ORDINAL_SUFFIXES = frozenset({"st", "nd", "rd", "th"})
_ARTICLES = frozenset({"the", "a", "an"})


def _split_digits(token: str) -> list[str]:
    parts: list[str] = []
    current = ""
    for char in token:
        if current and char.isdigit() != current[-1].isdigit():
            parts.append(current)
            current = ""
        current += char
    if current:
        parts.append(current)
    return parts


@lru_cache(maxsize=8192)
def _title_tokens(text: str) -> tuple[str, ...]:
    """Words of an assignment title with numbers normalised: "Essay #02", "essay two", "Essay2" -> essay 2."""
    words: list[str] = []
    for token in strict_tokens(text):
        for part in _split_digits(token):
            words.append(str(int(part)) if part.isdecimal() and part.isascii() else _NUMBER_WORDS.get(part, part))
    normal: list[str] = []
    for index, word in enumerate(words):
        previous_is_number = index > 0 and words[index - 1].isdecimal()
        next_is_number = index + 1 < len(words) and words[index + 1].isdecimal()
        if word in _ORDINAL_SUFFIXES and previous_is_number:
            continue
        if word in _NUMBER_MARKERS and next_is_number:
            continue
        normal.append(word)
    if len(normal) > 1 and normal[0] in _ARTICLES:
        normal = normal[1:]
    return tuple(normal)


def _assignment_sort_key(assignment: Assignment) -> tuple[str, str]:
    return (assignment.display_name.casefold(), assignment.id)


def _assignment_forms(assignment: Assignment) -> tuple[_Form, ...]:
    return _title_forms(assignment.id, assignment.display_name)


@lru_cache(maxsize=8192)
def _title_forms(assignment_id: str, display_name: str) -> tuple[_Form, ...]:
    candidates = [
        _raw_form(MatchKind.ID, assignment_id),
        _word_form(MatchKind.DISPLAY_NAME, _title_tokens(display_name), part=True),
    ]
    return tuple(form for form in candidates if form is not None)


_TITLE_STEPS = (
    _Step(_equal, whole=True, can_be_exact=True),
    _Step(is_contiguous, whole=False, can_be_exact=False, kind=MatchKind.NAME_PART),
)


def resolve_assignment(assignments: Sequence[Assignment], query: str) -> Resolution[Assignment]:
    """Find the assignment a teacher named.

    Titles compare with numbers normalised ("Essay #2", "essay two", "Essay 02", "essay2" all equal "Essay 2") and
    a leading "the" ignored. The full title is an exact match; a run of its words is a match to confirm ("lab" when
    only "Lab 3" has it; "quiz 2" for "Unit 3 Quiz 2"), and Ambiguous when several titles contain it ("quiz" with
    "Quiz 1" and "Unit 3 Quiz 2"). A draft titled like a non-draft is ignored altogether (a draft "Essay 2" loses to
    the assigned "Essay 2", and is not suggested either); when drafts and non-drafts match, the drafts drop out; a
    draft that alone matches is still Resolved: check `is_draft` and explain
    that it has no submissions yet.

    Args:
        assignments: The class's assignments.
        query: The title as the teacher typed it.

    Returns:
        `Resolved`, `Ambiguous` or `NotFound` with suggestions (see the module docstring).
    """
    pool = _unique_by_id(assignments, lambda assignment: assignment.id)
    live_titles = {_title_tokens(a.display_name) for a in pool if not is_draft(a)}
    pool = [a for a in pool if not (is_draft(a) and _title_tokens(a.display_name) in live_titles)]
    items = [(assignment, _assignment_forms(assignment)) for assignment in pool]
    return _resolve(
        items,
        _make_query(query, _title_tokens),
        _TITLE_STEPS,
        prefer=lambda assignment: not is_draft(assignment),
        sort_key=_assignment_sort_key,
    )


# --- Classes -------------------------------------------------------------------------------------------------------


def _class_sort_key(education_class: EducationClass) -> tuple[str, str]:
    return (education_class.display_name.casefold(), education_class.id)


def _class_forms(education_class: EducationClass) -> tuple[_Form, ...]:
    return _class_name_forms(
        education_class.id,
        education_class.display_name,
        education_class.class_code,
        education_class.mail_nickname,
        education_class.external_name,
    )


@lru_cache(maxsize=4096)
def _class_name_forms(
    class_id: str, display_name: str, class_code: str | None, mail_nickname: str | None, external_name: str | None
) -> tuple[_Form, ...]:
    candidates = [
        _raw_form(MatchKind.ID, class_id),
        _word_form(MatchKind.DISPLAY_NAME, strict_tokens(display_name), part=True),
        _word_form(MatchKind.CLASS_CODE, strict_tokens(class_code or "")),
        _word_form(MatchKind.MAIL_NICKNAME, strict_tokens(mail_nickname or "")),
        _word_form(MatchKind.EXTERNAL_NAME, strict_tokens(external_name or ""), part=True),
    ]
    return tuple(form for form in candidates if form is not None)


_CLASS_STEPS = (
    _Step(_equal, whole=True, can_be_exact=True),
    _Step(is_leading, whole=False, can_be_exact=True, kind=MatchKind.NAME_PREFIX),
    _Step(is_contiguous, whole=False, can_be_exact=False, kind=MatchKind.NAME_PART),
)


def resolve_class(
    classes: Sequence[EducationClass],
    *,
    hint: str | None,
    channel_class_id: ClassId | None,
    candidate_class_ids: Collection[ClassId] | None = None,
) -> Resolution[EducationClass]:
    """Find the class a command is about, among the teacher's taught classes.

    1. A hint ("Biology 101", "7B", a class code, mail nickname or external name) wins over everything else; it is
       matched against all of `classes`. Leading words of the name are an exact match ("7B" for "7B English", when
       unique); other words of the name are a match to confirm ("English").
    2. Without a hint, in a class channel (the team's aadGroupId is the class id): that class, or NotFound if it is
       not among `classes` (the teacher does not teach it; the caller refuses).
    3. Without either: the classes in `candidate_class_ids` (all of `classes` if None): one is Resolved
       (matched_on CONTEXT), several Ambiguous, none NotFound.

    Args:
        classes: The teacher's taught classes.
        hint: The class the teacher named, if any.
        channel_class_id: The class behind the team channel the message came from, if any.
        candidate_class_ids: The classes where the command's student and assignment both resolve.

    Returns:
        `Resolved`, `Ambiguous` or `NotFound`; the query of the latter two is the hint, or "" when there was none.
    """
    pool = _unique_by_id(classes, lambda education_class: education_class.id)
    if hint is not None and hint.strip():
        items = [(education_class, _class_forms(education_class)) for education_class in pool]
        return _resolve(items, _make_query(hint, strict_tokens), _CLASS_STEPS, prefer=None, sort_key=_class_sort_key)
    if channel_class_id is not None:
        for education_class in pool:
            if education_class.id == channel_class_id:
                return Resolved(education_class, exact=True, matched_on=MatchKind.CONTEXT)
        return NotFound("")
    wanted = pool if candidate_class_ids is None else [c for c in pool if c.id in candidate_class_ids]
    if len(wanted) == 1:
        return Resolved(wanted[0], exact=True, matched_on=MatchKind.CONTEXT)
    if wanted:
        return Ambiguous(tuple(sorted(wanted, key=_class_sort_key)), "")
    return NotFound("")


# --- The whole lookup ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """The class a command is about, with the student and assignment resolved inside it.

    `student` / `assignment` are None when the command did not name one. They may still be Ambiguous or NotFound
    (with suggestions from this class): the caller shows a pick or confirmation card. `ready` says whether the bot
    may act without asking.
    """

    class_: Resolved[EducationClass]
    student: Resolution[EducationUser] | None
    assignment: Resolution[Assignment] | None

    @property
    def education_class(self) -> EducationClass:
        return self.class_.value

    @property
    def ready(self) -> bool:
        """Whether the class, student and assignment are each one exact match (or not asked for)."""
        return self.class_.exact and is_certain(self.student) and is_certain(self.assignment)


Located: TypeAlias = Target | Ambiguous[EducationClass] | NotFound[EducationClass]


async def _within(
    cache: RosterCache,
    source: RosterSource,
    teacher_key: str,
    class_id: ClassId,
    student: str | None,
    assignment: str | None,
) -> tuple[Resolution[EducationUser] | None, Resolution[Assignment] | None]:
    async def students() -> Resolution[EducationUser] | None:
        if student is None:
            return None
        return cache.remembered(await cache.students(source, teacher_key, class_id), student, resolve_student)

    async def assignments() -> Resolution[Assignment] | None:
        if assignment is None:
            return None
        return cache.remembered(await cache.assignments(source, teacher_key, class_id), assignment, resolve_assignment)

    cached_students, cached_assignments = cache.fresh(teacher_key, class_id)
    if (student is None or cached_students is not None) and (assignment is None or cached_assignments is not None):
        # Both at hand (a teacher working through a pile): resolve now, without tasks for fetches that are not needed.
        return await students(), await assignments()
    return await asyncio.gather(students(), assignments())


def _found(resolution: Resolution[T] | None) -> bool:
    return not isinstance(resolution, NotFound)


def _assigned(resolution: Resolution[Assignment] | None) -> bool:
    return not (isinstance(resolution, Resolved) and is_draft(resolution.value))


async def locate(
    source: RosterSource,
    teacher_key: str,
    *,
    student: str | None,
    assignment: str | None,
    hint: str | None,
    channel_class_id: ClassId | None,
    cache: RosterCache,
) -> Located:
    """Find the class, student and assignment a command names, reading the roster through `cache`.

    With a hint or in a class channel the class comes from `resolve_class`, and the student and assignment are
    resolved in it. Otherwise (personal chat) every taught class is searched: the one class where both resolve
    exactly is used; failing that, the one class where neither is NotFound. Several such classes give an Ambiguous
    of classes ("Which class?"); drafts count less than assigned work when choosing. If nothing is found anywhere,
    a teacher with one class gets a `Target` in it (whose NotFound resolutions carry suggestions); a teacher with
    several gets NotFound whose suggestions are all their classes, to pick from.

    Args:
        source: The Graph client bound to this teacher's token.
        teacher_key: The teacher's cache key (see `teacher_key_for`).
        student: The student the teacher named, if any.
        assignment: The assignment the teacher named, if any.
        hint: The class the teacher named, if any.
        channel_class_id: The class behind the team channel the message came from, if any.
        cache: The roster cache.

    Returns:
        A `Target`, or an `Ambiguous` / `NotFound` of classes.

    Raises:
        Whatever `source` raises (Graph errors); call `cache.on_graph_error` with its status.
    """
    classes = await cache.taught_classes(source, teacher_key)
    if (hint is not None and hint.strip()) or channel_class_id is not None:
        chosen = resolve_class(classes, hint=hint, channel_class_id=channel_class_id)
        if not isinstance(chosen, Resolved):
            return chosen
        found_student, found_assignment = await _within(
            cache, source, teacher_key, chosen.value.id, student, assignment
        )
        return Target(chosen, found_student, found_assignment)

    results = await asyncio.gather(*(_within(cache, source, teacher_key, c.id, student, assignment) for c in classes))
    by_class = {c.id: (c, s, a) for c, (s, a) in zip(classes, results, strict=True)}
    certain = [entry for entry in by_class.values() if is_certain(entry[1]) and is_certain(entry[2])]
    plausible = [entry for entry in by_class.values() if _found(entry[1]) and _found(entry[2])]
    for tier in (certain, plausible):
        if not tier:
            continue
        assigned = [entry for entry in tier if _assigned(entry[2])]
        tier = assigned or tier
        chosen = resolve_class(classes, hint=None, channel_class_id=None, candidate_class_ids={e[0].id for e in tier})
        if isinstance(chosen, Resolved):
            _, found_student, found_assignment = by_class[chosen.value.id]
            return Target(chosen, found_student, found_assignment)
        return chosen
    if len(by_class) == 1:
        only, found_student, found_assignment = next(iter(by_class.values()))
        return Target(Resolved(only, exact=True, matched_on=MatchKind.CONTEXT), found_student, found_assignment)
    return NotFound("", tuple(sorted((entry[0] for entry in by_class.values()), key=_class_sort_key)))
