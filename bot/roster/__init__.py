"""Resolve the class, student and assignment a teacher named into Graph objects, and cache the roster per teacher.

`resolve_student`, `resolve_assignment` and `resolve_class` are pure; `locate` runs the whole lookup over a
`RosterCache`. Results are `Resolved` / `Ambiguous` / `NotFound`, never a guess.
"""

from bot.roster.cache import INVALIDATING_STATUSES, RosterCache, RosterSource, teacher_key_for
from bot.roster.resolver import (
    MAX_SUGGESTIONS,
    Ambiguous,
    Located,
    MatchKind,
    NotFound,
    Resolution,
    Resolved,
    Target,
    is_certain,
    is_credit_only,
    is_draft,
    locate,
    resolve_assignment,
    resolve_class,
    resolve_student,
    students_only,
)

__all__ = [
    "INVALIDATING_STATUSES",
    "MAX_SUGGESTIONS",
    "Ambiguous",
    "Located",
    "MatchKind",
    "NotFound",
    "Resolution",
    "Resolved",
    "RosterCache",
    "RosterSource",
    "Target",
    "is_certain",
    "is_credit_only",
    "is_draft",
    "locate",
    "resolve_assignment",
    "resolve_class",
    "resolve_student",
    "students_only",
    "teacher_key_for",
]
