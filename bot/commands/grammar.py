"""The teacher command language: `parse_command(text)` turns a chat message into a typed command. Pure, no I/O.

How text is read (decisions worth knowing when you write a phrasing):

* Clean-up first: texts over `MAX_TEXT_CHARS` are refused (too_long) before any other work; control and invisible
  formatting characters are dropped; text is NFC-normalised but never folded (a Cyrillic "А" stays Cyrillic, so the
  resolver will not match it to a Latin name); smart quotes become plain quotes; `<at>…</at>` mentions of the bot and
  a leading mention or plain "@Grading Assistant" are removed, other `<at>Name</at>` tags become the name; spaces are
  collapsed. Newlines are kept only where they carry meaning (bulk grades, feedback text).
* Points: in the verb forms ("grade Alice 85 on Unit 3 Quiz 2", "give Alice 85 for …") the points are the number
  directly after the student and before "on"/"for"/"in", so numbers inside the assignment name are safe. In the bare
  form ("Alice 85/100 Essay 2", "Alice 85 Unit 3 Quiz 2") the points are the first number token after the name; a
  second number right after it ("Alice 85 90 Essay 2") is refused as ambiguous_points, never guessed. "17/20" keeps
  both numbers and "85%" stays a percentage; scaling against the assignment's maximum happens later.
* Class hints: a trailing "in X" / "for X" (optionally "in class X") after the last name in a command becomes
  `class_hint`. An assignment called "Essay on Life in the City" would be split, except that a hint starting with
  "the"/"a"/"an" is never taken, so that one is safe.
* "reassign Intro to Poetry" reads "to Poetry" as the student: the resolver reports it when that is wrong.
* A leading "the" is dropped from assignment names ("the quiz" → "quiz"); the resolver does the fuzzy matching.
* The bulk form ("grade Essay 2: Alice 85, Bob 90" or one student per line) always yields BulkGrade, even with one
  entry; a student listed twice is refused (duplicate_student).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Mapping
from typing import Final

from bot.commands.model import (
    BulkEntry,
    BulkGrade,
    Command,
    Excuse,
    Feedback,
    Grade,
    Help,
    ParseError,
    ParseErrorReason,
    Points,
    Reassign,
    Return,
    Sheet,
    SignOut,
    Status,
    StatusView,
    Undo,
)
from bot.commands.numbers import POINTS_NUMERIC, POINTS_PHRASE, parse_points

MAX_TEXT_CHARS: Final = 2000
"""Longer texts are refused with reason too_long before any other work."""

DEFAULT_BOT_NAMES: Final = ("Grading Assistant",)
"""Names under which the bot is @mentioned; such mentions are removed wherever they appear."""

USAGE: Final[Mapping[str, str]] = {
    "grade": "grade Alice 85 on Essay 2",
    "bulk_grade": "grade Essay 2: Alice 85, Bob 90",
    "feedback": "feedback for Alice on Essay 2: great thesis",
    "return": "return Essay 2 to Alice",
    "reassign": "reassign Alice's Essay 2 with feedback: cite your sources",
    "excuse": "excuse Alice from Lab 3",
    "status": "status Essay 2",
    "sheet": "sheet Essay 2",
    "help": "help",
    "undo": "undo",
    "sign_out": "sign out",
}
"""The closest correct usage per command, carried by a ParseError (data, not wording)."""

_Result = Command | ParseError
_F = re.IGNORECASE

# ---------------------------------------------------------------- clean-up
_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u02bc": "'",
        "\u2032": "'",
        "`": "'",
        "\u00b4": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2212": "-",
        "\r": "\n",
        "\u2028": "\n",
        "\u2029": "\n",
        "\u0085": "\n",
    }
)
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069"
    "\ufeff\ufff9-\ufffb\ud800-\udfff]"
)
_HTML_BREAK = re.compile(r"<br\s*/?>|</p>\s*<p>|&nbsp;", _F)
_AT_TAG = re.compile(r"<at>\s*@?(?P<name>[^<]{0,200}?)\s*</at>", _F)
_LEADING_AT_TAGS = re.compile(r"^\s*(?:(?:hey|hi|hello)\b[\s,!]*)?(?:<at>[^<]{0,200}</at>[\s,:]*)+", _F)
_LEADING_AT_WORD = re.compile(r"^@\S*[\s,:]*")
_POLITE = re.compile(
    r"^(?:(?:please|pls|plz|kindly|hey|hi|hello|ok|okay)\b[ ,!]*|(?:can|could|would|will) you (?:please )?"
    r"|i(?:'d| would) like to |i want to |let's |lets )+",
    _F,
)
_TRAILING_MARKS = " .!?\u2026"

# ---------------------------------------------------------------- shared pieces
_P = POINTS_PHRASE
_FB_PREFIX = (
    r"(?:,? (?:with|and|plus) (?:(?:the|this|some) )?(?:feedback|comments?|notes?)(?: ?[:\-\u2013\u2014]| saying:?"
    r"| that)? ?|[,.;]? (?:feedback|comments?|notes?) ?[:\-\u2013\u2014] ?|,? and (?:say|tell (?:him|her|them))[:,]? ?)"
)
_FB_OR_COLON = rf"(?:{_FB_PREFIX}|(?::| [-\u2013\u2014]) ?)"
_FB_KEYWORD = re.compile(_FB_PREFIX, _F)
_FB_OR_COLON_RE = re.compile(_FB_OR_COLON, _F)
_STUDENT_ON = r"(?P<student>.+?)(?: (?:on|for|in|about|re|regarding) |'s? )(?P<rest>.+?)"
_AFTER_POINTS = r"(?: (?:in|for) (?P<hint>.+?))?$"
_GRADE_VERB = r"(?:grade|score|mark|record|enter|input|put(?: down)?|log)"
_ARTICLE = r"(?:(?:an?|a grade of|a score of|grade of|score of|with(?: an?)?|as) )?"

_SPLIT_STUDENT_POINTS = re.compile(rf"(?P<student>.+?),?:? {_ARTICLE}(?P<points>{_P})", _F)
_HAS_DIGIT = re.compile(r"[0-9]")
_NUMERIC_TOKEN = re.compile(rf"{POINTS_NUMERIC}|[-+]?(?:nan|inf(?:inity)?)", _F)
_HINT = re.compile(r"^(?P<main>.+) (?:in|for) (?:(?:the )?class )?(?P<hint>(?!(?:the|a|an) )\S.*)$", _F)
_LEADING_THE = re.compile(r"^the ", _F)
_POLITE_ENDINGS = ("please", "pls", "plz", "thanks", "thank you", "thx", "ty")
_TRAILING_POLITE = re.compile(r"(?:[ ,]+(?:please|pls|plz|thanks|thank you|thx|ty))+$", _F)
_EVERYONE = frozenset(
    {"everyone", "everybody", "all", "all students", "the class", "the whole class", "the students", "everyone's"}
)


def _strip_symbols(text: str, *, leading: bool) -> str:
    """Drop emoji and spaces at the start, or those and trailing punctuation marks at the end."""
    start, end = 0, len(text)
    while start < end:
        c = text[start] if leading else text[end - 1]
        keep = (leading or c not in ".!?\u2026,;:") and not c.isspace() and c not in "\u200d\ufe0f"
        if keep and (c.isascii() or unicodedata.category(c) not in ("So", "Sk", "Cn")):
            break
        if leading:
            start += 1
        else:
            end -= 1
    return text[start:end]


def _field(text: str | None) -> str:
    """Clean a structural field (student, assignment, hint): quotes, trailing marks, emoji, 'please'."""
    if text is None:
        return ""
    t = text.strip()
    for _ in range(2):
        if t and not t[-1].isalnum():
            t = _strip_symbols(t, leading=False)
        if t.lower().endswith(_POLITE_ENDINGS):
            t = _TRAILING_POLITE.sub("", t).strip()
        if len(t) < 2 or t[0] != t[-1] or t[0] not in "\"'":
            break
        t = t[1:-1].strip()
    return t


def _student(text: str | None) -> str:
    return _field(text).lstrip("@").strip()


def _assignment(text: str | None) -> str:
    return _LEADING_THE.sub("", _field(text), count=1).strip()


def _split_hint(text: str) -> tuple[str, str | None]:
    """Split a trailing class hint ("Essay 2 in Biology 101") off the last field of a command."""
    m = _HINT.match(text)
    if m is None:
        return text, None
    hint = _field(m["hint"])
    return (m["main"], hint) if hint else (text, None)


def _feedback_text(text: str) -> str:
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] == '"':
        t = t[1:-1].strip()
    return t


def _refuse(reason: ParseErrorReason, usage_key: str | None, detail: str | None = None) -> ParseError:
    return ParseError(reason=reason, usage=USAGE[usage_key] if usage_key else None, detail=detail)


_FIRST_WORD_END = re.compile(r"[ :,]")


class _Text:
    """One normalised message: `flat` (one line, trailing marks stripped) for matching, `lines` for free text."""

    __slots__ = ("first", "flat", "lines")

    def __init__(self, lines: str) -> None:
        self.lines = lines
        self.flat = lines.replace("\n", " ").rstrip(_TRAILING_MARKS)
        self.first = _FIRST_WORD_END.split(self.flat, maxsplit=1)[0].lower()
        """The first word, lower-cased, used to skip forms that cannot apply."""

    def tail(self, start: int) -> str:
        """Free text from `start` to the end of the message, newlines and final punctuation kept."""
        return self.lines[start:]


def _normalise(text: str, bot_names: Collection[str]) -> tuple[str, bool]:
    """Return the cleaned text (lines joined by newlines) and whether a mention was removed."""
    if text.isascii():
        t = _INVISIBLE.sub("", text.replace("`", "'").replace("\r", "\n"))
    else:
        t = unicodedata.normalize("NFC", _INVISIBLE.sub("", text.translate(_QUOTES)))
    if "<" in t or "&" in t:
        t = _HTML_BREAK.sub(lambda m: " " if m.group(0).lower() == "&nbsp;" else "\n", t)
    mentioned = False
    names = {n.casefold() for n in bot_names}
    if "<" in t:

        def drop_bot(m: re.Match[str]) -> str:
            nonlocal mentioned
            if m["name"].strip().casefold() in names:
                mentioned = True
                return " "
            return m.group(0)

        t = _AT_TAG.sub(drop_bot, t)
        t, n = _LEADING_AT_TAGS.subn("", t, count=1)
        mentioned = mentioned or n > 0
        t = _AT_TAG.sub(lambda m: m["name"], t)
    lines = (" ".join(line.split()) for line in t.split("\n"))
    t = "\n".join(line for line in lines if line)
    if t.startswith("@"):
        mentioned = True
        lowered = t[1:].casefold()
        for name in names:
            if lowered.startswith(name) and lowered[len(name) : len(name) + 1] in ("", " ", ",", ":", "\n"):
                t = t[1 + len(name) :].lstrip(" ,:\n")
                break
        else:
            t = _LEADING_AT_WORD.sub("", t, count=1)
    t = _strip_symbols(t, leading=True)
    return _POLITE.sub("", t, count=1).strip(), mentioned


# ---------------------------------------------------------------- help, undo, sign out
_HELP = re.compile(
    r"^(?:help|\?+|commands|menu|usage|how does (?:this|it) work|how do (?:i|you) use (?:this|you|it)"
    r"|what can (?:you|i) do|what do you do|what are (?:the|your) commands|show (?:me )?(?:the )?commands)"
    r"(?: (?:with|on|for|about|me with))?(?: (?P<topic>.+))?$",
    _F,
)
_HOW_DO_I = re.compile(r"^how (?:do|can) i (?P<topic>.+)$", _F)
_TOPICS: Final[Mapping[str, str]] = {
    "grade": "grade",
    "grades": "grade",
    "grading": "grade",
    "score": "grade",
    "mark": "grade",
    "give a grade": "grade",
    "bulk": "bulk_grade",
    "bulk grade": "bulk_grade",
    "bulk grading": "bulk_grade",
    "grade several": "bulk_grade",
    "feedback": "feedback",
    "comment": "feedback",
    "give feedback": "feedback",
    "tell": "feedback",
    "return": "return",
    "returning": "return",
    "return work": "return",
    "reassign": "reassign",
    "revision": "reassign",
    "send back": "reassign",
    "excuse": "excuse",
    "excusing": "excuse",
    "status": "status",
    "progress": "status",
    "missing": "status",
    "undo": "undo",
    "sign out": "sign_out",
    "signout": "sign_out",
    "log out": "sign_out",
    "logout": "sign_out",
}
_UNDO = re.compile(
    r"^(?:undo|revert|oops|take (?:that|it) back)(?: (?:that|it|this|(?:the |my )?last(?: (?:one|change|grade|action"
    r"|thing))?))?$",
    _F,
)
_SIGN_OUT = re.compile(
    r"^(?:(?:sign|log) ?(?:me )?(?:out|off)(?: (?:of|from) .+| now)?|disconnect(?: me)?|forget me)$",
    _F,
)


def _help_topic(raw: str | None) -> str | None:
    topic = _field(raw).lower()
    if not topic or topic in ("me", "please", "pls"):
        return None
    return _TOPICS.get(topic, topic)


def _parse_simple(t: _Text) -> _Result | None:
    flat = t.flat
    if (m := _HELP.match(flat)) is not None:
        return Help(topic=_help_topic(m["topic"]))
    if (m := _HOW_DO_I.match(flat)) is not None:
        topic = _field(m["topic"]).lower()
        for key, canonical in _TOPICS.items():
            if topic == key or topic.startswith(key + " "):
                return Help(topic=canonical)
        return Help(topic=None)
    if _UNDO.match(flat):
        return Undo()
    if _SIGN_OUT.match(flat):
        return SignOut()
    return None


# ---------------------------------------------------------------- status
_VIEW_WORDS: Final[Mapping[str, StatusView]] = {
    "missing": StatusView.MISSING,
    "not turned in": StatusView.MISSING,
    "not submitted": StatusView.MISSING,
    "late": StatusView.LATE,
    "ungraded": StatusView.UNGRADED,
    "not graded": StatusView.UNGRADED,
    "not yet graded": StatusView.UNGRADED,
    "to grade": StatusView.UNGRADED,
    "left to grade": StatusView.UNGRADED,
    "needs grading": StatusView.UNGRADED,
    "need grading": StatusView.UNGRADED,
    "still needs grading": StatusView.UNGRADED,
    "submitted": StatusView.SUBMITTED,
    "turned in": StatusView.SUBMITTED,
    "handed in": StatusView.SUBMITTED,
}
_VIEW_ALT = "|".join(sorted((re.escape(w) for w in _VIEW_WORDS), key=len, reverse=True))
_STATUS_PATTERNS: Final = (
    (
        re.compile(
            r"^(?:(?:show|get|see|view|check)(?: me)? (?:the )?)?(?:status|progress|summary|overview|report)"
            r"(?: (?:of|for|on))?(?: (?P<a>.+))?$",
            _F,
        ),
        StatusView.ALL,
    ),
    (
        re.compile(
            r"^(?:show|list|view|see)(?: me)? (?:the |all )?(?:submissions|turn-?ins)(?: (?:of|for|on|in))?"
            r"(?: (?P<a>.+))?$",
            _F,
        ),
        StatusView.ALL,
    ),
    (re.compile(r"^how(?:'s| is| are)(?: we doing (?:on|with))? (?P<a>.+?)(?: going| doing)?$", _F), StatusView.ALL),
    (
        re.compile(
            r"^who(?:'s| is| has| have)? (?:still )?(?:hasn't|has not|hasnt|haven't|have not|havent|didn't|did not"
            r"|didnt|has yet to|is yet to|is missing|'s missing|missing)(?: yet)?"
            r"(?: (?:turned in|turn in|turned it in|submitted|submit|handed in|hand in|done|completed|finished"
            r"|sent in))?(?: (?:anything|their work|it|work))?(?: (?:for|on|in|to))?(?: (?P<a>.+?))?(?: yet)?$",
            _F,
        ),
        StatusView.MISSING,
    ),
    (
        re.compile(
            r"^who(?:'s| is| was| were)? (?:late|turned in late|submitted late)(?: (?:on|for|with|in))?"
            r"(?: (?P<a>.+?))?$",
            _F,
        ),
        StatusView.LATE,
    ),
    (
        # "who turned in Essay 2 late (in 7B)": the class phrase after "late" joins the assignment text, where
        # `_status` splits it off as the class hint.
        re.compile(
            r"^who (?:turned|handed|submitted|sent)(?: in)? (?P<a>.+?) (?:in )?late(?P<tail> (?:in|for) .+)?$", _F
        ),
        StatusView.LATE,
    ),
    (
        re.compile(
            r"^(?:who|how many)(?: students)?(?: has| have)? (?:already )?(?:turned in|submitted|handed in)"
            r"(?: (?:for|on|in|to))?(?: (?P<a>.+?))?$",
            _F,
        ),
        StatusView.SUBMITTED,
    ),
    (
        re.compile(
            r"^what (?:do i|i|should i) (?:still )?(?:have|need) to grade(?: (?:in|for|on|from))?(?: (?P<a>.+))?$",
            _F,
        ),
        StatusView.UNGRADED,
    ),
)
_STATUS_VIEW = re.compile(
    r"^(?:(?:what(?:'s| is| are)?|whats|show(?: me)?|list|see|view|get|display|any|anything|which ones (?:are|is)"
    r"|which (?:submissions|papers|ones|students) (?:are|is)) )?(?:(?:the|all|any) )?(?:still )?"
    rf"(?P<view>{_VIEW_ALT})(?: (?:work|submissions|assignments|papers|ones|stuff|items|students))?"
    r"(?: (?:in|for|on|from|of) (?P<a>.+))?$",
    _F,
)


_CLASS_ONLY = re.compile(r"^(?:the )?class (?P<hint>.+)$", _F)


def _status(assignment_text: str | None, view: StatusView) -> Status:
    if assignment_text is None:
        return Status(assignment=None, view=view)
    raw = _field(assignment_text)
    class_match = _CLASS_ONLY.match(raw)
    if class_match is not None:
        return Status(assignment=None, view=view, class_hint=_field(class_match["hint"]) or None)
    main, hint = _split_hint(raw)
    return Status(assignment=_assignment(main) or None, view=view, class_hint=hint)


_STATUS_FIRST_WORDS = frozenset(
    {
        "show", "get", "see", "view", "check", "status", "progress", "summary", "overview", "report", "list", "how",
        "how's", "who", "who's", "what", "what's", "whats", "display", "any", "anything", "which", "the", "all",
        "still",
    }
    | {w.split(" ", 1)[0] for w in _VIEW_WORDS}
)  # fmt: skip


def _parse_status(t: _Text) -> _Result | None:
    if t.first not in _STATUS_FIRST_WORDS:
        return None
    for pattern, view in _STATUS_PATTERNS:
        if (m := pattern.match(t.flat)) is not None:
            tail = m.groupdict().get("tail")
            return _status(m["a"] + tail if m["a"] and tail else m["a"], view)
    if (m := _STATUS_VIEW.match(t.flat)) is not None:
        return _status(m["a"], _VIEW_WORDS[m["view"].lower()])
    return None


# ---------------------------------------------------------------- grading sheet
_SHEET = re.compile(
    r"^(?:(?:open|show|get|see|view|display|give)(?: me)? (?:the |a |my )?)?(?:grading |marking |grade )?"
    r"(?:sheet|gradebook|grade book|spreadsheet)(?: (?:for|of|on|in))?(?: (?P<a>.+))?$",
    _F,
)
_SHEET_WORDS = frozenset({"sheet", "gradebook", "book", "spreadsheet"})


def _parse_sheet(t: _Text) -> _Result | None:
    if not _SHEET_WORDS & {word.lower() for word in t.flat.split()[:6]}:
        return None
    if (m := _SHEET.match(t.flat)) is None:
        return None
    raw = _field(m["a"])
    if _CLASS_ONLY.match(raw) is not None:  # "sheet class 7B" names a class, not an assignment
        raw = ""
    main, hint = _split_hint(raw)
    assignment = _assignment(main)
    if not assignment:
        return _refuse(ParseErrorReason.MISSING_ASSIGNMENT, "sheet")
    return Sheet(assignment=assignment, class_hint=hint)


# ---------------------------------------------------------------- excuse
_EXCUSE_PATTERNS: Final = (
    re.compile(r"^excuse (?P<student>.+?)(?: (?:from|on|for|in) |'s? )(?P<rest>.+)$", _F),
    re.compile(r"^mark (?P<student>.+?)(?: as)? excused (?:from|on|for|in) (?P<rest>.+)$", _F),
    re.compile(r"^mark (?P<student>.+?)'s? (?P<rest>.+?) (?:as )?excused$", _F),
    re.compile(r"^(?P<student>.+?) is excused (?:from|on|for) (?P<rest>.+)$", _F),
)


def _parse_excuse(t: _Text) -> _Result | None:
    if "excuse" not in t.flat.lower():
        return None
    for pattern in _EXCUSE_PATTERNS:
        if (m := pattern.match(t.flat)) is not None:
            main, hint = _split_hint(_field(m["rest"]))
            student, assignment = _student(m["student"]), _assignment(main)
            if not student:
                return _refuse(ParseErrorReason.MISSING_STUDENT, "excuse")
            if not assignment:
                return _refuse(ParseErrorReason.MISSING_ASSIGNMENT, "excuse")
            return Excuse(student=student, assignment=assignment, class_hint=hint)
    return None


# ---------------------------------------------------------------- return and reassign
_REASSIGN_VERB = re.compile(
    r"^(?:reassign|re-assign|send back|request (?:a )?revision (?:of|on|for))(?: (?P<body>.*))?$", _F
)
_SEND_BACK = re.compile(r"^send (?P<body>.+)$", _F)
_BACK_WORD = re.compile(r" back(?=[ :,.]|$)", _F)
_REVISION_MARK = re.compile(
    r" (?:for (?:a )?(?:revision|revisions|rework|resubmission)|to (?:be )?revise[d]?)(?=[ :,.]|$)", _F
)
_RETURN_VERB = re.compile(
    r"^(?:return|hand back|give back|release|publish)(?: (?:the )?(?:grades|scores|marks) (?:for|of|on))?"
    r"(?: (?P<body>.*))?$",
    _F,
)
_HAND_BACK = re.compile(r"^(?:hand|give) (?P<body>.+)$", _F)
_TARGET_POSSESSIVE = re.compile(r"^(?P<student>[^ ]+(?: [^ ]+){0,3}?)'s? (?P<a>.+)$", _F)
_TARGET_TO = re.compile(r"^(?P<a>.+) to (?P<student>.+)$", _F)
_TARGET_ON = re.compile(r"^(?P<student>.+?) on (?P<a>.+)$", _F)
_ALL_OF = re.compile(r"^(?:all(?: of)?|every(?:one's|body's)?|each) (?:the )?", _F)


def _target(body: str, *, student_on: bool) -> tuple[str, str | None, str | None]:
    """Split "Alice's Essay 2" / "Essay 2 to Bob" / "Essay 2" into (assignment, student, class hint)."""
    body = _ALL_OF.sub("", body, count=1)
    student: str | None = None
    hint: str | None = None
    if (m := _TARGET_POSSESSIVE.match(body)) is not None and m["student"].lower() not in ("everyone", "everybody"):
        student, (assignment, hint) = m["student"], _split_hint(_field(m["a"]))
    elif (m := _TARGET_TO.match(body)) is not None:
        assignment, (student, hint) = m["a"], _split_hint(_field(m["student"]))
    elif student_on and (m := _TARGET_ON.match(body)) is not None:
        student, (assignment, hint) = m["student"], _split_hint(_field(m["a"]))
    else:
        assignment, hint = _split_hint(_field(body))
    cleaned = _student(student) if student is not None else None
    if cleaned is not None and (not cleaned or cleaned.lower() in _EVERYONE):
        cleaned = None
    return _assignment(assignment), cleaned, hint


def _cut_feedback(t: _Text, start: int, *, allow_colon: bool) -> tuple[str, str | None]:
    """Split the text after `start` into (head, feedback) at the first feedback separator."""
    rest = t.flat[start:]
    sep = (_FB_OR_COLON_RE if allow_colon else _FB_KEYWORD).search(rest)
    if sep is None:
        return rest, None
    return rest[: sep.start()], _feedback_text(t.tail(start + sep.end()))


def _parse_reassign(t: _Text) -> _Result | None:
    flat = t.flat
    if (m := _REASSIGN_VERB.match(flat)) is not None:
        start = m.start("body") if m["body"] is not None else len(flat)
    elif (m := _SEND_BACK.match(flat)) is not None and _BACK_WORD.search(flat):
        start = m.start("body")
    elif (m := _RETURN_VERB.match(flat) or _HAND_BACK.match(flat)) is not None and _REVISION_MARK.search(flat):
        start = m.start("body") if m["body"] is not None else len(flat)
    else:
        return None
    head, feedback = _cut_feedback(t, start, allow_colon=True)
    head = _REVISION_MARK.sub("", " " + _BACK_WORD.sub("", " " + head, count=1), count=1).strip()
    if feedback == "":
        return _refuse(ParseErrorReason.MISSING_FEEDBACK, "reassign")
    assignment, student, hint = _target(head, student_on=True)
    if not assignment:
        return _refuse(ParseErrorReason.MISSING_ASSIGNMENT, "reassign")
    return Reassign(assignment=assignment, student=student, feedback=feedback, class_hint=hint)


def _parse_return(t: _Text) -> _Result | None:
    flat = t.flat
    if (m := _RETURN_VERB.match(flat)) is not None:
        if m["body"] is None or not m["body"].strip():
            return _refuse(ParseErrorReason.MISSING_ASSIGNMENT, "return")
        start = m.start("body")
    elif (m := _HAND_BACK.match(flat)) is not None and _BACK_WORD.search(flat):
        start = m.start("body")
    else:
        return None
    head, feedback = _cut_feedback(t, start, allow_colon=True)
    if feedback is not None:
        return _refuse(ParseErrorReason.MALFORMED, "return", detail=None)
    head = _BACK_WORD.sub("", " " + head, count=1).strip()
    assignment, student, hint = _target(head, student_on=False)
    if not assignment:
        return _refuse(ParseErrorReason.MISSING_ASSIGNMENT, "return")
    return Return(assignment=assignment, student=student, class_hint=hint)


# ---------------------------------------------------------------- feedback
_FEEDBACK_PATTERNS: Final = (
    re.compile(
        rf"^(?:(?:add|leave|give|write|send|post) )?(?:some |a )?(?:feedback|comments?|notes?)(?: (?:for|to|on))? "
        rf"{_STUDENT_ON}(?:(?::| [-\u2013\u2014]) ?(?P<text>.*))?$",
        _F,
    ),
    re.compile(rf"^(?:tell|say to|message|let) {_STUDENT_ON}(?:(?::| [-\u2013\u2014]) ?(?P<text>.*))?$", _F),
    re.compile(
        r"^(?:give|send|leave|write) (?P<student>.+?) (?:some |a )?(?:feedback|comments?|notes?|a note) "
        r"(?:on|for|about|in) (?P<rest>.+?)(?:(?::| [-\u2013\u2014]) ?(?P<text>.*))?$",
        _F,
    ),
)


_FEEDBACK_FIRST_WORDS = frozenset(
    {"add", "leave", "give", "write", "send", "post", "some", "a", "feedback", "comment", "comments", "note", "notes",
     "tell", "say", "message", "let"}
)  # fmt: skip


def _parse_feedback(t: _Text) -> _Result | None:
    if t.first not in _FEEDBACK_FIRST_WORDS:
        return None
    for pattern in _FEEDBACK_PATTERNS:
        if (m := pattern.match(t.flat)) is not None:
            text = _feedback_text(t.tail(m.start("text"))) if m["text"] is not None else ""
            main, hint = _split_hint(_field(m["rest"]))
            student, assignment = _student(m["student"]), _assignment(main)
            if not student:
                return _refuse(ParseErrorReason.MISSING_STUDENT, "feedback")
            if not assignment:
                return _refuse(ParseErrorReason.MISSING_ASSIGNMENT, "feedback")
            if not text:
                return _refuse(ParseErrorReason.MISSING_FEEDBACK, "feedback")
            return Feedback(student=student, assignment=assignment, text=text, class_hint=hint)
    return None


# ---------------------------------------------------------------- grade
def _points(text: str, usage_key: str) -> Points | ParseError:
    return parse_points(text.rstrip(".!?\u2026,;:"), USAGE[usage_key])


def _split_student_points(sp: str, usage_key: str) -> tuple[str, Points] | ParseError:
    """Split "Alice 85" / "Mary Jane 17/20" / "Alice an 85" into student and points."""
    m = _SPLIT_STUDENT_POINTS.fullmatch(sp)
    if m is None:
        words = sp.split(" ")
        if len(words) == 1:
            numeric = _NUMERIC_TOKEN.fullmatch(words[0]) is not None
            reason = ParseErrorReason.MISSING_STUDENT if numeric else ParseErrorReason.MISSING_POINTS
            return _refuse(reason, usage_key)
        return _refuse(ParseErrorReason.INVALID_POINTS, usage_key, detail=words[-1])
    student = _student(m["student"])
    last = student.rsplit(" ", 1)[-1]
    if _NUMERIC_TOKEN.fullmatch(last) is not None:
        return _refuse(ParseErrorReason.AMBIGUOUS_POINTS, usage_key, detail=f"{last} {m['points']}")
    if last.lower() in ("minus", "negative"):
        return _refuse(ParseErrorReason.NEGATIVE_POINTS, usage_key, detail=f"{last} {m['points']}")
    points = _points(m["points"], usage_key)
    if isinstance(points, ParseError):
        return points
    if not student:
        return _refuse(ParseErrorReason.MISSING_STUDENT, usage_key)
    return student, points


def _grade(
    student: str | None,
    points: Points | ParseError,
    assignment_text: str | None,
    feedback: str | None,
    hint: str | None = None,
    *,
    hint_in_assignment: bool = True,
) -> _Result:
    if isinstance(points, ParseError):
        return points
    cleaned = _student(student)
    if not cleaned:
        return _refuse(ParseErrorReason.MISSING_STUDENT, "grade")
    main = _field(assignment_text)
    if hint_in_assignment and hint is None:
        main, hint = _split_hint(main)
    assignment = _assignment(main)
    if not assignment:
        return _refuse(ParseErrorReason.MISSING_ASSIGNMENT, "grade")
    if feedback == "":
        return _refuse(ParseErrorReason.MISSING_FEEDBACK, "grade")
    return Grade(
        student=cleaned,
        assignment=assignment,
        points=points,
        feedback=feedback,
        class_hint=_field(hint) or None if hint is not None else None,
    )


# Forms whose points come at the end: "set Bob's Lab 3 grade to 92", "mark Essay 2 for Alice as 85".
_POINTS_LAST: Final = (
    re.compile(
        r"^set (?:the )?(?:grade|score|points|mark) (?:for|of) (?P<student>.+?)(?: (?:on|for|in) |'s? )(?P<a>.+?) "
        rf"(?:to|=|at|as) ?(?P<p>{_P}){_AFTER_POINTS}",
        _F,
    ),
    re.compile(
        r"^set (?P<student>.+?)'s? (?:(?P<a>.+?) (?:grade|score|points|mark)|(?:grade|score|points|mark) "
        rf"(?:on|for|in) (?P<a2>.+?)) (?:to|=|at|as) ?(?P<p>{_P}){_AFTER_POINTS}",
        _F,
    ),
    re.compile(rf"^set (?P<student>.+?)'s? (?P<a>.+?) (?:to|=|at|as) ?(?P<p>{_P}){_AFTER_POINTS}", _F),
    re.compile(rf"^set (?P<a>.+?) for (?P<student>.+?) (?:to|=|at|as) ?(?P<p>{_P}){_AFTER_POINTS}", _F),
    re.compile(
        rf"^(?:{_GRADE_VERB}|set) (?P<a>.+?) for (?P<student>.+?)(?: (?:as|at|with|to|=)|:|=) ?(?:an? )?"
        rf"(?P<p>{_P}){_AFTER_POINTS}",
        _F,
    ),
    re.compile(
        rf"^(?:{_GRADE_VERB}|set) (?P<student>.+?)(?:'s? | (?:on|for|in) )(?P<a>.+?)(?: (?:as|at|with|to|=)|:|=) ?"
        rf"(?:an? )?(?P<p>{_P}){_AFTER_POINTS}",
        _F,
    ),
    re.compile(
        r"^(?P<student>[^ ]+(?: [^ ]+){0,3}?)'s? (?P<a>.+?)(?: (?:is|gets|got|=|->|\u2192)|:|=) ?(?:an? )?"
        rf"(?P<p>{_P}){_AFTER_POINTS}",
        _F,
    ),
)
_SET_TO = re.compile(rf"^set (?P<student>.+?) to (?P<p>{_P}) (?:on|for|in) (?P<a>.+)$", _F)
_POINTS_FIRST = re.compile(
    rf"^(?:(?:{_GRADE_VERB}|give|add) )?(?P<p>{_P}) (?:for|to) {_STUDENT_ON}$",
    _F,
)
_GETS = re.compile(
    r"^(?P<student>[^ ]+(?: [^ ]+){0,3}?) (?:gets|get|got|earned|earns|scored|scores|received|receives|deserves"
    rf"|should get) {_ARTICLE}(?P<p>{_P}) (?:on|for|in) (?P<rest>.+)$",
    _F,
)
_VERB_FORM = re.compile(rf"^(?:{_GRADE_VERB}|give) (?P<sp>.+?) (?:on|for|in) (?P<rest>.+)$", _F)
_BARE = re.compile(
    rf"^(?P<student>[^\d ]+(?: [^\d ]+){{0,3}}?):? (?P<p>{POINTS_NUMERIC})(?: (?:on|for|in))? (?P<rest>.+)$",
    _F,
)
_MAX_GRADE_HEAD_CHARS: Final = 300
"""A grade command's names and points (feedback excluded) never need more; longer heads skip the grade forms."""
_LEADING_NUMBER = re.compile(rf"^(?:{POINTS_NUMERIC})(?: |$)", _F)
_GRADE_VERBS = frozenset({"grade", "score", "mark", "record", "enter", "input", "put", "log"})
_CONFUSABLES = str.maketrans(
    "\u0430\u0435\u043e\u0440\u0441\u0445\u0443\u0456\u0455\u0501\u0261\u03bf\u03b1",
    "aeopcxyisdgoa",
)
_COMMAND_WORDS = frozenset(
    {
        "grade", "score", "mark", "record", "enter", "input", "put", "log", "give", "set", "add", "feedback",
        "comment", "comments", "note", "tell", "return", "reassign", "send", "hand", "release", "publish", "excuse",
        "status", "show", "list", "who", "what", "whats", "how", "help", "undo", "sign", "logout", "signout",
        "sheet",
    }
)  # fmt: skip


def _is_command_word(word: str) -> bool:
    """True for a command word, also when spelled with look-alike letters (which then must not become a name)."""
    return word.lower().translate(_CONFUSABLES) in _COMMAND_WORDS


def _parse_grade(t: _Text, feedback_cut: tuple[str, str | None]) -> _Result | None:
    head, feedback = feedback_cut
    if len(head) > _MAX_GRADE_HEAD_CHARS:
        return None
    first = t.first
    verb = first in _GRADE_VERBS
    command_word = verb or _is_command_word(first)
    patterns = _POINTS_LAST[: 4 if first == "set" else 0] + _POINTS_LAST[4 : 6 if verb or first == "set" else 4]
    if "'" in head and not command_word:
        patterns += _POINTS_LAST[6:]
    for pattern in patterns:
        if (m := pattern.match(head)) is not None:
            a = m.groupdict().get("a") or m.groupdict().get("a2")
            return _grade(m["student"], _points(m["p"], "grade"), a, feedback, m["hint"], hint_in_assignment=False)
    if first == "set" and (m := _SET_TO.match(head)) is not None:
        return _grade(m["student"], _points(m["p"], "grade"), m["a"], feedback)
    if (verb or first in ("give", "add") or first[:1] in "0123456789+-.") and (m := _POINTS_FIRST.match(head)):
        return _grade(m["student"], _points(m["p"], "grade"), m["rest"], feedback)
    if (m := _GETS.match(head)) is not None:
        return _grade(m["student"], _points(m["p"], "grade"), m["rest"], feedback)
    if (verb or first == "give") and (m := _VERB_FORM.match(head)) is not None:
        split = _split_student_points(m["sp"], "grade")
        if isinstance(split, ParseError):
            return split
        return _grade(split[0], split[1], m["rest"], feedback)
    if command_word or not _HAS_DIGIT.search(head):
        return None
    if (m := _BARE.match(head)) is not None and not _is_command_word(m["student"].split(" ", 1)[0]):
        if _LEADING_NUMBER.match(m["rest"]):
            return _refuse(ParseErrorReason.AMBIGUOUS_POINTS, "grade", detail=f"{m['p']} {m['rest'].split(' ')[0]}")
        return _grade(m["student"], _points(m["p"], "grade"), m["rest"], feedback)
    return None


# ---------------------------------------------------------------- bulk grade
_BULK = re.compile(
    r"^(?:grade|score|mark|record|enter|input|grades|scores|marks)(?: (?:for|on))? (?P<head>[^:\n]+?) ?(?::|\n)"
    r"[ \n]*(?P<body>.+)$",
    _F | re.DOTALL,
)
_LOOKS_SINGLE = re.compile(rf"^[^\d]+? {_P} on ", _F)
"""A bulk header like "Alice 85 on Essay 2" is a single grade followed by a colon, not an assignment name."""
_BULK_SPLIT = re.compile(r" ?(?:[,;\n]|\band\b) ?", _F)
_BULK_ENTRY = re.compile(rf"(?P<student>.+?)(?: ?[:=\-\u2013\u2014])? (?:(?:gets|got|an?) )?(?P<p>{_P})", _F)


_BULK_FIRST_WORDS = frozenset({"grade", "score", "mark", "record", "enter", "input", "grades", "scores", "marks"})


def _parse_bulk(t: _Text) -> _Result | None:
    if t.first not in _BULK_FIRST_WORDS or (":" not in t.lines and "\n" not in t.lines):
        return None
    m = _BULK.match(t.lines.rstrip(_TRAILING_MARKS))
    if m is None or _FB_KEYWORD.search(m["head"]) or _LOOKS_SINGLE.match(m["head"]):
        return None
    entries: list[BulkEntry] = []
    error: ParseError | None = None
    for raw in _BULK_SPLIT.split(m["body"]):
        item = raw.strip().rstrip(".!?\u2026")
        if not item:
            continue
        split = _split_entry(item)
        if isinstance(split, ParseError):
            error = error or split
        else:
            entries.append(split)
    if not entries:
        return None
    if error is not None:
        return error
    seen: set[str] = set()
    for entry in entries:
        key = entry.student.casefold()
        if key in seen:
            return _refuse(ParseErrorReason.DUPLICATE_STUDENT, "bulk_grade", detail=entry.student)
        seen.add(key)
    main, hint = _split_hint(_field(m["head"]))
    assignment = _assignment(main)
    if not assignment:
        return _refuse(ParseErrorReason.MISSING_ASSIGNMENT, "bulk_grade")
    return BulkGrade(assignment=assignment, entries=tuple(entries), class_hint=hint)


def _split_entry(item: str) -> BulkEntry | ParseError:
    m = _BULK_ENTRY.fullmatch(item)
    if m is None:
        words = item.split(" ")
        reason = ParseErrorReason.MISSING_POINTS if len(words) == 1 else ParseErrorReason.INVALID_POINTS
        return _refuse(reason, "bulk_grade", detail=None if len(words) == 1 else words[-1])
    student = _student(m["student"])
    last = student.rsplit(" ", 1)[-1]
    if _NUMERIC_TOKEN.fullmatch(last) is not None:
        return _refuse(ParseErrorReason.AMBIGUOUS_POINTS, "bulk_grade", detail=f"{last} {m['p']}")
    points = _points(m["p"], "bulk_grade")
    if isinstance(points, ParseError):
        return points
    if not student:
        return _refuse(ParseErrorReason.MISSING_STUDENT, "bulk_grade")
    return BulkEntry(student=student, points=points)


# ---------------------------------------------------------------- fallback
_FAMILY: Final[Mapping[str, str]] = {
    "grade": "grade",
    "score": "grade",
    "mark": "grade",
    "give": "grade",
    "set": "grade",
    "record": "grade",
    "enter": "grade",
    "input": "grade",
    "put": "grade",
    "grades": "bulk_grade",
    "scores": "bulk_grade",
    "feedback": "feedback",
    "comment": "feedback",
    "comments": "feedback",
    "note": "feedback",
    "tell": "feedback",
    "return": "return",
    "release": "return",
    "hand": "return",
    "reassign": "reassign",
    "send": "reassign",
    "excuse": "excuse",
    "status": "status",
    "who": "status",
    "show": "status",
    "list": "status",
}
_WORD_END = re.compile(r"[ :,]")
_TRAILING_PREPOSITION = re.compile(r" (?:on|for|in)$", _F)


def _fallback(t: _Text) -> ParseError:
    """Pick the most useful refusal for a text no form matched."""
    first, _, rest = t.flat.partition(" ")
    family = _FAMILY.get(_WORD_END.split(first, maxsplit=1)[0].lower().rstrip("'s"))
    if family is None:
        return _refuse(ParseErrorReason.UNKNOWN_COMMAND, "help")
    rest = rest.strip()
    if not rest:
        reason = {
            "return": ParseErrorReason.MISSING_ASSIGNMENT,
            "reassign": ParseErrorReason.MISSING_ASSIGNMENT,
            "status": ParseErrorReason.MALFORMED,
        }.get(family, ParseErrorReason.MISSING_STUDENT)
        return _refuse(reason, family)
    if family == "grade":
        split = _split_student_points(_TRAILING_PREPOSITION.sub("", rest), "grade")
        if not isinstance(split, ParseError):
            return _refuse(ParseErrorReason.MISSING_ASSIGNMENT, "grade")
        if split.reason in (ParseErrorReason.NEGATIVE_POINTS, ParseErrorReason.AMBIGUOUS_POINTS):
            return split
    if family == "excuse" and " " not in rest:
        return _refuse(ParseErrorReason.MISSING_ASSIGNMENT, "excuse")
    return _refuse(ParseErrorReason.MALFORMED, family)


# ---------------------------------------------------------------- entry point
_Parser = Callable[[_Text], _Result | None]
_PARSERS: Final[tuple[_Parser, ...]] = (
    _parse_simple,
    _parse_sheet,
    _parse_status,
    _parse_excuse,
    _parse_reassign,
    _parse_return,
    _parse_feedback,
    _parse_bulk,
)


def parse_command(text: str, *, bot_names: Collection[str] = DEFAULT_BOT_NAMES) -> Command | ParseError:
    """Parse one teacher message into a command, or say why it is not one. Pure and total: never raises.

    Args:
        text: the message text as Teams delivers it (may contain `<at>…</at>` mentions, smart quotes, newlines).
        bot_names: names under which the bot may be @mentioned; such mentions are ignored wherever they appear.

    Returns:
        A Command, or a ParseError carrying a reason, the closest usage example and the offending fragment.
    """
    if len(text) > MAX_TEXT_CHARS:
        return ParseError(reason=ParseErrorReason.TOO_LONG)
    cleaned, mentioned = _normalise(text, bot_names)
    if not cleaned.rstrip(_TRAILING_MARKS):
        if cleaned and not cleaned.strip("?"):
            return Help()
        return ParseError(reason=ParseErrorReason.ONLY_MENTION if mentioned else ParseErrorReason.EMPTY)
    t = _Text(cleaned)
    for parser in _PARSERS:
        result = parser(t)
        if result is not None:
            return result
    result = _parse_grade(t, _cut_feedback(t, 0, allow_colon=False))
    return result if result is not None else _fallback(t)
