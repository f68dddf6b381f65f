"""Every sentence a teacher or student reads, in one module so the wording is reviewable in one place.

Functions, not constants, so each sentence names exactly what it needs. Card templates hold only labels.
Grades, feedback and names appear here only to be shown to the teacher who typed them — never logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from bot.commands.model import ParseErrorReason

# --------------------------------------------------------------------------------------------- understanding text

_PARSE_ERRORS: dict[ParseErrorReason, str] = {
    ParseErrorReason.EMPTY: "I didn't get a command.",
    ParseErrorReason.ONLY_MENTION: "You mentioned me but didn't say what to do.",
    ParseErrorReason.TOO_LONG: "That message is too long for me to read as a command.",
    ParseErrorReason.UNKNOWN_COMMAND: "I didn't understand that.",
    ParseErrorReason.MALFORMED: "I couldn't read that command.",
    ParseErrorReason.MISSING_STUDENT: "Which student? I couldn't find a student's name.",
    ParseErrorReason.MISSING_ASSIGNMENT: "Which assignment? I couldn't find an assignment name.",
    ParseErrorReason.MISSING_POINTS: "How many points? I couldn't find a score.",
    ParseErrorReason.MISSING_FEEDBACK: "What feedback? Nothing came after the colon.",
    ParseErrorReason.AMBIGUOUS_POINTS: "I found more than one score, so I won't guess which one you meant.",
    ParseErrorReason.NEGATIVE_POINTS: "Points can't be negative.",
    ParseErrorReason.INVALID_POINTS: "That score isn't a number I can record.",
    ParseErrorReason.DUPLICATE_STUDENT: "A student is listed twice, so I won't guess which score is right.",
}


def not_understood(reason: ParseErrorReason) -> str:
    """What was wrong with a typed command."""
    return _PARSE_ERRORS[reason]


def try_instead(usage: str) -> str:
    """The closest correct usage."""
    return f"Try: “{usage}”"


def help_hint() -> str:
    return "Type “help” to see everything I can do."


# --------------------------------------------------------------------------------------------- finding things


def which_student(query: str) -> str:
    return f"More than one student matches “{query}”. Which one did you mean?"


def which_assignment(query: str) -> str:
    return f"More than one assignment matches “{query}”. Which one did you mean?"


def which_class() -> str:
    return "Which class is this for?"


def student_not_found(query: str, suggestions: Sequence[str]) -> str:
    if suggestions:
        return f"I couldn't find a student called “{query}”. Did you mean {_or_list(suggestions)}?"
    return f"I couldn't find a student called “{query}” in this class."


def assignment_not_found(query: str, suggestions: Sequence[str]) -> str:
    if suggestions:
        return f"I couldn't find an assignment called “{query}”. Did you mean {_or_list(suggestions)}?"
    return f"I couldn't find an assignment called “{query}”."


def class_not_found() -> str:
    return "I couldn't tell which of your classes this is for. Add the class, e.g. “… in Biology 101”."


def assignment_is_draft(assignment: str) -> str:
    return f"{assignment} is not assigned yet — no submissions."


def assignment_is_credit_only(assignment: str) -> str:
    return f"{assignment} has no points to give — add feedback or return it instead."


# --------------------------------------------------------------------------------------------- confirmations


def confirm_title() -> str:
    return "Please confirm"


def because_fuzzy_student(query: str, name: str) -> str:
    return f"I matched “{query}” to {name}."


def because_fuzzy_assignment(query: str, name: str) -> str:
    return f"I matched “{query}” to {name}."


def because_scaled(typed: str, points: Decimal, max_points: Decimal) -> str:
    return f"{typed} is {format_points(points)}/{format_points(max_points)} on this assignment's scale."


def because_over_max(points: Decimal, max_points: Decimal) -> str:
    return f"{format_points(points)} is more than the {format_points(max_points)} points maximum — extra credit?"


def because_not_turned_in(name: str) -> str:
    return f"{name} hasn't turned this in."


def because_excuse() -> str:
    return "Excusing removes the feedback and rubric selections on this submission."


def confirmation_expired() -> str:
    return "That confirmation has expired or was already used. Please send the command again."


def cancelled() -> str:
    return "Cancelled — nothing was changed."


# --------------------------------------------------------------------------------------------- results


def format_points(points: Decimal | float | None) -> str:
    """85 → "85", 8.5 → "8.5", 85.10 → "85.1"; None → "—"."""
    if points is None:
        return "—"
    value = Decimal(str(points))
    if value == value.to_integral_value():
        return f"{value.to_integral_value():f}"
    return f"{value.normalize():f}"


def _or_list(items: Sequence[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + f" or {items[-1]}"


def because_fuzzy_class(name: str) -> str:
    return f"I took this to be {name}."


def only_teachers() -> str:
    return "Only this class's teachers can do that."


def result_title(student: str, assignment: str) -> str:
    return f"{student} — {assignment}"


def points_of(points: float | Decimal | None, max_points: float | Decimal | None) -> str:
    if max_points is None:
        return format_points(points)
    return f"{format_points(points)}/{format_points(max_points)}"


def change_of(old: str | None, new: str) -> str:
    """ "80/100 → 85/100", or just the new value when there was none."""
    return f"{old} → {new}" if old else new


def status_after_write(status: str | None) -> str:
    """Where the submission stands after an outcome write, in the teacher's words."""
    return {
        "returned": "returned to the student",
        "reassigned": "returned for revision",
        "excused": "excused",
    }.get(status or "", "saved, not yet returned")


def no_submission(student: str, assignment: str) -> str:
    return f"{student} has no submission for {assignment} (were they added to the class after it was assigned?)."


def write_failed(student: str) -> str:
    return f"Nothing was changed for {student}: Microsoft Graph refused the change."


def graph_throttled(seconds: float) -> str:
    wait = max(1, round(seconds))
    return f"Microsoft Graph is busy right now. Nothing was changed — please try again in {wait} seconds."


def graph_unavailable() -> str:
    return "I couldn't reach Microsoft Graph. Nothing was changed — please try again in a moment."


def graph_not_found() -> str:
    return "That class, assignment or submission no longer exists (or you can no longer see it)."


def invalid_points(reason: str) -> str:
    return {
        "negative": "Points can't be negative.",
        "not_finite": "That score isn't a number I can record.",
        "not_a_number": "That score isn't a number I can record.",
        "too_large": "That score is too large to record.",
    }.get(reason, "That score isn't a number I can record.")


def feedback_only() -> str:
    return "feedback only"


def graph_error_hint(status: int | None) -> str:
    if status == 403:
        return only_teachers()
    if status == 404:
        return graph_not_found()
    if status in (429, 503, 504):
        return "Microsoft Graph is busy; please try again in a moment."
    return "Please check the assignment in Teams and try again."


# ---- router


def signed_in() -> str:
    return "You're signed in. What would you like to do?"


def signed_out() -> str:
    return "You're signed out. I've forgotten your sign-in on this service."


def sign_in_first() -> str:
    return "Please sign in so I can work on your classes. I'll carry on with your request right after."


def not_available_yet() -> str:
    return "I can't do that yet."


def card_not_understood(reason: str) -> str:
    return "That button's data wasn't valid, so nothing was changed. Please send the command again."


def still_working() -> str:
    return "I'm still working on that click."


def storage_unavailable() -> str:
    return "I can't record changes right now, so I made none. Please try again in a moment."


def graph_refused() -> str:
    return "Microsoft Graph refused that change; nothing was changed."


def private_answer() -> str:
    return "Grading update — only the teacher who asked can see the details."


def auth_problem(problem: str) -> str:
    return {
        "sign_in_again": "Your sign-in has expired. Please sign in again.",
        "admin_consent_needed": (
            "Your school's IT admin needs to grant this app access to classes and assignments first. "
            "Ask them to follow the admin-consent step in the set-up guide."
        ),
        "unavailable": "I couldn't reach the sign-in service. Please try again in a moment.",
        "misconfigured": "This app's sign-in is not set up correctly. Please tell your school's IT admin.",
    }.get(problem, "I couldn't sign you in. Please try again.")
