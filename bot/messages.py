"""Every sentence a teacher or student reads, in one module so the wording is reviewable in one place.

Functions, not constants, so each sentence names exactly what it needs. Card templates hold only labels.
Grades, feedback and names appear here only to be shown to the teacher who typed them — never logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
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


# ---- status


def status_subject(assignment: str, class_name: str) -> str:
    return f"{assignment} — {class_name}"


def status_class_subject(class_name: str) -> str:
    return f"{class_name} — all assigned work"


def status_title(subject: str, view: str, count: int) -> str:
    """The status card's heading: the subject, and the answer to the question asked (`view`: a StatusView value)."""
    if view == "missing":
        return f"{subject}: {count} missing" if count else f"{subject}: nothing missing"
    if view == "ungraded":
        return f"{subject}: {count} to grade" if count else f"{subject}: nothing left to grade"
    if view == "late":
        return f"{subject}: {count} late" if count else f"{subject}: nothing late"
    if view == "submitted":
        return f"{subject}: {count} turned in"
    return subject


def status_not_due(subject: str, due: datetime, not_submitted: int) -> str:
    when = f"{due.day} {due:%B %Y}"
    return f"{subject}: not due until {when} — nobody is missing yet ({not_submitted} not turned in so far)"


def status_bin(low: str, high: str) -> str:
    return f"{low}–{high}"


def status_bin_percent(low: int, high: int) -> str:
    return f"{low}–{high}%"


def status_bin_over(max_points: str) -> str:
    return f"over {max_points}"


def former_student() -> str:
    return "a student no longer in the class"


def name_on_assignment(name: str, assignment: str) -> str:
    return f"{name} ({assignment})"


def status_no_assigned_work(class_name: str) -> str:
    return f"{class_name} has no assigned work yet."


def status_capped(shown: int, total: int) -> str:
    return f"Showing the {shown} latest of {total} assignments. Name one to see it, e.g. “status Essay 2”."


# ---- grading sheet


def sheet_title(assignment: str, class_name: str) -> str:
    return f"Grading sheet — {assignment} ({class_name})"


def sheet_status(standing: str, *, late: bool) -> str:
    """A grading-sheet row's status (`standing`: a `bot.actions.status.Standing` value)."""
    word = {
        "not_submitted": "Not turned in",
        "submitted": "To grade",
        "graded": "Graded, not returned",
        "returned": "Returned",
        "reassigned": "Sent back for revision",
        "excused": "Excused",
    }.get(standing, "Unknown")
    return f"{word} (late)" if late else word


def sheet_empty(sheet_filter: str) -> str:
    return {
        "ungraded": "Nothing to grade — every piece of work turned in has points.",
        "submitted": "No work is waiting: nothing turned in is still unreturned.",
    }.get(sheet_filter, "No student has a submission for this assignment yet.")


# ---- return, reassign, excuse


def name_list(names: Sequence[str], *, limit: int = 15) -> str:
    """ "Alice Smith, Bob Jones and 3 more"."""
    shown = list(names[:limit])
    rest = len(names) - len(shown)
    if rest:
        return ", ".join(shown) + f" and {rest} more"
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + f" and {shown[-1]}"


def students_count(count: int) -> str:
    return f"{count} student" if count == 1 else f"{count} students"


def submissions_count(count: int) -> str:
    return f"{count} submission" if count == 1 else f"{count} submissions"


def because_not_turned_in_many(names: Sequence[str]) -> str:
    verb = "hasn't" if len(names) == 1 else "haven't"
    return f"{name_list(names, limit=8)} {verb} turned this in."


def because_excused(name: str) -> str:
    return f"{name} is excused from this assignment."


def because_reassign_all(count: int) -> str:
    return f"This sends {submissions_count(count)} back for revision and messages each student."


def submission_state(status: str | None) -> str:
    """A submission's status in the teacher's words."""
    return {
        "working": "not turned in",
        "submitted": "turned in",
        "returned": "returned",
        "reassigned": "returned for revision",
        "excused": "excused",
    }.get(status or "", "unknown")


def return_planned(count: int = 1) -> str:
    return "return to the student" if count == 1 else f"return {submissions_count(count)}"


def reassign_planned(feedback: str | None, count: int = 1) -> str:
    what = "return for revision" if count == 1 else f"return {submissions_count(count)} for revision"
    return f"{what} with feedback: “{feedback}”" if feedback else what


def excuse_planned() -> str:
    return "excused (feedback and rubric removed)"


def already_returned(student: str, assignment: str) -> str:
    return f"{student}'s {assignment} was already returned with these points and feedback, so nothing was changed."


def already_reassigned(student: str, assignment: str) -> str:
    return f"{student}'s {assignment} is already back with them for revision, so nothing was changed."


def already_excused(student: str, assignment: str) -> str:
    return f"{student} is already excused from {assignment}, so nothing was changed."


def nothing_graded(assignment: str) -> str:
    return f"Nothing in {assignment} is graded and waiting to be returned, so nothing was changed."


def all_already_returned(assignment: str) -> str:
    return f"Everything graded in {assignment} was already returned, so nothing was changed."


def returned_summary(assignment: str, returned: int, not_graded: int) -> str:
    """ "Returned 12 submissions of Essay 2; 3 not graded yet were left alone"."""
    text = f"Returned {submissions_count(returned)} of {assignment}"
    if not_graded:
        verb = "was" if not_graded == 1 else "were"
        text += f"; {not_graded} not graded yet {verb} left alone"
    return text + "."


def reassigned_summary(assignment: str, reassigned: int) -> str:
    return f"Returned {submissions_count(reassigned)} of {assignment} for revision."


def writes_failed(names: Sequence[str]) -> str:
    return f"Nothing was changed for {name_list(names)}: Microsoft Graph refused the change."


def reassign_prompt() -> str:
    return "What should the student work on? They see this feedback with their returned work."


def not_reached(names: Sequence[str]) -> str:
    return f"I couldn't message {name_list(names)} in Teams — please let them know another way."


def students_told(count: int) -> str:
    return "The student was sent a message in Teams." if count == 1 else f"{count} students were sent a message."


def student_reassigned(assignment: str, feedback: str | None, web_url: str | None) -> str:
    """What a student reads when their work comes back for revision."""
    text = f"Your teacher returned {assignment} for revision"
    if feedback:
        text += f": {feedback.strip()}"
    if not text.endswith((".", "!", "?")):
        text += "."
    return text + (f" Open it: {web_url}" if web_url else "")


def student_returned(assignment: str, web_url: str | None) -> str:
    """What a student reads when their work is returned (only with NOTIFY_ON_RETURN)."""
    text = f"Your teacher returned {assignment}. Your grade and feedback are ready."
    return text + (f" Open it: {web_url}" if web_url else "")


# ---- bulk grade


def n_students(count: int) -> str:
    return "1 student" if count == 1 else f"{count} students"


def bulk_summary(items: Sequence[tuple[str, float | None]], *, shown: int = 6) -> str:
    """ "Alice Smith 85, Bob Jones 90 and 28 more" — the short "new value" of a bulk confirmation."""
    listed = ", ".join(f"{name} {format_points(points)}" for name, points in items[:shown])
    rest = len(items) - shown
    return f"{listed} and {rest} more" if rest > 0 else listed


def bulk_doubt(student: str, reason: str) -> str:
    return f"{student}: {reason}"


def bulk_not_understood(detail: str) -> str:
    return f"Not understood — fix and resend: {detail}"


def bulk_ambiguous_student(query: str, names: Sequence[str]) -> str:
    return f"“{query}” could be {_or_list(names)}."


def bulk_listed_twice(student: str) -> str:
    return f"{student} is listed twice."


def bulk_more_reasons(count: int) -> str:
    return f"… and {count} more."


def bulk_nothing_writable() -> str:
    return "I couldn't match anyone in that list, so nothing was changed."


def bulk_result_title(assignment: str, graded: int, total: int) -> str:
    return f"{assignment}: {graded} of {total} graded"


def bulk_failures(items: Sequence[str], *, shown: int = 15) -> str:
    """ "2 failed: Sam Patel (not allowed); Will (Microsoft Graph was busy)"."""
    listed = "; ".join(items[:shown])
    rest = len(items) - shown
    more = f"; and {rest} more" if rest > 0 else ""
    return f"{len(items)} failed: {listed}{more}. Nothing was changed for them."


def bulk_failure(student: str, status: int | None) -> str:
    reason = {
        400: "refused by Microsoft Graph",
        403: "not allowed",
        404: "no longer exists",
        409: "changed meanwhile",
        429: "Microsoft Graph was busy",
        503: "Microsoft Graph was busy",
        504: "Microsoft Graph was busy",
    }.get(status or 0, "Microsoft Graph refused the change")
    return f"{student} ({reason})"


def bulk_progress_title(assignment: str) -> str:
    return f"Grading {assignment}"


def bulk_job_started(assignment: str, count: int) -> str:
    return f"Grading {count} students on {assignment}. The progress card shows how far I've got."


def bulk_job_paused() -> str:
    return "Microsoft Graph is busy, so I paused. I'll carry on where I stopped — nobody is graded twice."


def sheet_nothing_changed() -> str:
    return "Nothing to save — no points were changed on the sheet."


def sheet_row_unknown() -> str:
    return "a row on the sheet no longer matches a submission of this assignment."


def unknown_student() -> str:
    return "A student no longer in the class"


# ---- feedback


def feedback_form_title(student: str, assignment: str) -> str:
    return f"Feedback for {student} — {assignment}"


def feedback_form_prompt() -> str:
    return "The student sees this once the work is returned."


def nothing_to_save() -> str:
    return "Nothing to save — enter points or feedback first."


# ---- undo


def nothing_to_undo() -> str:
    return "There's nothing to undo — I haven't changed anything for you that could be undone."


def undo_title_many(assignment: str, count: int) -> str:
    return f"{assignment}: restored for {n_students(count)}"


def undo_restored(points: bool, feedback: bool) -> str:
    if points and feedback:
        return "Points and feedback restored"
    if feedback:
        return "Feedback restored"
    if points:
        return "Points restored"
    return "Nothing to restore"


def undo_already_returned(restored: str, who: str, count: int) -> str:
    """ "Points restored; the work was already returned, so Alice Smith has seen it." """
    seen = f"{who} has seen it" if count == 1 else f"{n_students(count)} have seen it"
    return f"{restored}; the work was already returned, so {seen}."


def undo_done(restored: str) -> str:
    return f"{restored}."


def undo_status_only(who: str) -> str:
    return f"That change only returned the work, and a return can't be taken back — {who} has already seen it."


def undo_unknown_change() -> str:
    return "That Undo isn't for one of your recent changes, so I left everything as it is."


def undo_not_latest() -> str:
    return (
        "That Undo belongs to an earlier change, and you've changed something since, so I won't undo it out of order. "
        "Type “undo” to undo your latest change."
    )


def undo_already_done() -> str:
    return "That change was already undone."


def undo_failed() -> str:
    return "Nothing was restored: Microsoft Graph refused the change. You can try “undo” again."


def no_points() -> str:
    return "not graded"


# ---- grade form


def form_title(class_name: str) -> str:
    return f"Grade a submission — {class_name}"


def form_assignment_choice(assignment: str, max_points: float | None) -> str:
    if max_points is None:
        return assignment
    return f"{assignment} (out of {format_points(max_points)})"


def form_no_assignments(class_name: str) -> str:
    return f"{class_name} has no assigned work graded in points, so there is nothing to grade on a form."


def form_no_students(class_name: str) -> str:
    return f"{class_name} has no students yet."


def form_too_many_students(class_name: str, count: int) -> str:
    return f"{class_name} has {count} students — too many to pick from on a form. Use the grading sheet instead."


def form_sheet_usage(assignment: str) -> str:
    return f"sheet {assignment}"


def form_which_class(class_names: Sequence[str]) -> str:
    return f"Which class? You teach {', '.join(class_names)}."


def form_which_class_hint() -> str:
    return "Open the form from the class's channel, or name the class."


# ---- help


def help_title() -> str:
    return "What I can do"


def help_intro() -> str:
    return (
        "Type a command in plain words; names can be first names or nicknames. Add “in <class>” when you teach "
        "several classes. Anything unusual is shown to you before it is saved."
    )


def help_topic_title(heading: str) -> str:
    return f"Help: {heading}"


def help_topic_intro() -> str:
    return "Type “help” to see everything I can do."


def help_unknown_topic(topic: str) -> str:
    return f"I have no help on “{topic}”. Here is everything I can do."


_HELP_HEADINGS: dict[str, str] = {
    "grade": "Grade one student",
    "bulk_grade": "Grade several students at once",
    "feedback": "Give feedback",
    "return": "Return graded work",
    "reassign": "Send work back for revision",
    "excuse": "Excuse a student",
    "status": "See where an assignment stands",
    "sheet": "Grade the whole class on a sheet",
    "undo": "Undo your last change",
    "sign_out": "Sign out",
    "help": "Get help",
}


def help_heading(topic: str) -> str:
    """The heading of one help section (`topic`: a command name, or "sheet")."""
    return _HELP_HEADINGS.get(topic, topic)


_HELP_EXAMPLES: dict[str, list[tuple[str, str | None]]] = {
    "grade": [
        ("grade Alice 85 on Essay 2", "Saves 85 points; the student sees it once you return it."),
        ("grade Alice 17/20 on Lab 3", "A score out of another total is scaled to the assignment's maximum."),
        ("grade Alice 85% on Essay 2 in Biology 101", "A percentage of the maximum, in a named class."),
        ("give Bob 90 on Essay 2", None),
        ("score Carol 88 on Essay 2 with feedback: strong argument", "Points and feedback together."),
    ],
    "bulk_grade": [
        ("grade Essay 2: Alice 85, Bob 90", "Several students in one message; you confirm before anything is saved."),
        ("grade Lab 3: Alice 18, Bob 17, Carol 20", None),
    ],
    "feedback": [
        ("feedback for Alice on Essay 2: great thesis", "Saves feedback without changing points."),
        ("tell Bob on Essay 2: cite your sources", None),
        ("comment on Carol's Essay 2: nice structure", None),
    ],
    "return": [
        ("return Essay 2 to Alice", "The student sees their points and feedback."),
        ("return Essay 2", "Returns every graded submission of the assignment."),
        ("return Alice's Essay 2", None),
    ],
    "reassign": [
        ("reassign Alice's Essay 2 with feedback: cite your sources", "Returns the work so the student can redo it."),
        ("reassign Essay 2 to Bob", None),
        ("send back Bob's Essay 2", None),
    ],
    "excuse": [
        ("excuse Alice from Lab 3", "The student no longer has to turn it in."),
        ("excuse Will from Essay 2 in Biology 101", None),
    ],
    "status": [
        ("status Essay 2", "Counts by status, who is missing, what is left to grade, and the grade spread."),
        ("who hasn't turned in Lab 3?", "Who is missing work that is due."),
        ("what's ungraded in Essay 2", "What is turned in and waits for points."),
        ("who handed Essay 2 in late", "Who turned it in after the due date."),
        ("show late work in class Biology 101", "Late work across the class's assignments."),
        ("who submitted Essay 2", None),
    ],
    "sheet": [
        ("sheet Essay 2", "Every student with a points box; filter, type the points, then [Save all]."),
        ("open the grading sheet for Lab 3 in Biology 101", None),
    ],
    "undo": [
        ("undo", "Puts back what your last change replaced."),
        ("take it back", None),
    ],
    "sign_out": [
        ("sign out", "I forget your sign-in; you'll be asked again next time."),
        ("log out", None),
    ],
    "help": [
        ("help", "This list."),
        ("help grade", "Help on one command."),
        ("how do I return work?", None),
    ],
}


def help_examples(topic: str) -> list[tuple[str, str | None]]:
    """Example commands of one help section, each with what it does (None: same as the one above)."""
    return list(_HELP_EXAMPLES.get(topic, []))


_HELP_ALIASES: dict[str, str] = {
    "sheet": "sheet",
    "grading sheet": "sheet",
    "the grading sheet": "sheet",
    "spreadsheet": "sheet",
    "late": "status",
    "ungraded": "status",
    "who is missing": "status",
    "feedbacks": "feedback",
    "excused": "excuse",
    "returns": "return",
    "reassigning": "reassign",
}


def help_alias(topic: str) -> str | None:
    """The help section for a topic word the parser does not know ("grading sheet" → "sheet")."""
    return _HELP_ALIASES.get(topic.strip().casefold())


def student_not_in_roster() -> str:
    return "A student"


def sign_in_notice(notice: str) -> str:
    """After Teams' sign-in pop-up or an SSO failure."""
    return {
        "try_again": "Thanks — you're signed in. Please send your request again.",
        "cancelled": "Sign-in was cancelled, so I didn't do anything.",
        "app_not_installed": "Please add the Grading Assistant app for yourself (personal scope) and try again.",
        "misconfigured": "Sign-in for this app is misconfigured. Please tell your school's IT admin.",
    }.get(notice, "I couldn't sign you in. Please use the Sign in button.")
