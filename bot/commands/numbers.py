"""Points as typed by a teacher: digits, fractions, percentages and English number words up to one hundred."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from bot.commands.model import MAX_PERCENT, MAX_POINTS, ParseError, ParseErrorReason, Points

_UNITS: dict[str, int] = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS: dict[str, int] = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_DIGITS = "|".join(sorted((w for w, n in _UNITS.items() if 1 <= n <= 9), key=len, reverse=True))
_SMALL = "|".join(sorted(_UNITS, key=len, reverse=True))
_TEN_WORDS = "|".join(_TENS)

NUMBER_WORDS = rf"(?:(?:{_TEN_WORDS})(?:[ -](?:{_DIGITS}))?\b|(?:(?:one|a) )?hundred\b|(?:{_SMALL})\b)"
"""Regex source for an English number from zero to one hundred (spaces already collapsed to one)."""

_NUMBER_LOOSE = r"(?:[-+\u2212]?(?:[0-9][0-9.,]*|\.[0-9]+)(?:e[-+]?[0-9]+)?|[-+]?(?:nan|inf(?:inity)?)\b)"
_AMOUNT = rf"(?:{_NUMBER_LOOSE}|[-+\u2212]?{NUMBER_WORDS})"

POINTS_PHRASE = (
    rf"(?:{_AMOUNT}(?: ?(?:/|out of) ?{_AMOUNT})?(?: ?(?:%|percent\b|per cent\b|pct\b))?"
    r"(?: (?:points?|pts?|marks?)\b\.?)?)"
)
"""Regex source for anything that looks like points, valid or not (validate with `parse_points`)."""

POINTS_NUMERIC = r"(?:[-+\u2212]?[0-9][0-9.,]*(?:e[-+]?[0-9]+)?(?: ?(?:/|out of) ?[-+\u2212]?[0-9][0-9.,]*)?%?)"
"""Regex source for digit-only points (`85`, `17/20`, `85%`), used where number words would be too loose."""

_POINTS_FULL = re.compile(
    rf"(?P<value>{_AMOUNT})(?: ?(?:/|out of) ?(?P<out_of>{_AMOUNT}))?"
    r"(?P<percent> ?(?:%|percent\b|per cent\b|pct\b))?(?: (?:points?|pts?|marks?)\b\.?)?",
    re.IGNORECASE,
)
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_SPACES = re.compile(r"\s+")


def words_to_int(text: str) -> int | None:
    """Return the value of an English number word phrase from zero to one hundred, or None.

    Args:
        text: e.g. "eighty five", "eighty-five", "a hundred", "seven".

    Returns:
        The integer, or None when the text is not such a phrase.
    """
    words = _SPACES.sub(" ", text.strip().lower()).replace("-", " ").split(" ")
    if words in (["hundred"], ["one", "hundred"], ["a", "hundred"]):
        return 100
    if len(words) == 1:
        if words[0] in _UNITS:
            return _UNITS[words[0]]
        return _TENS.get(words[0])
    if len(words) == 2 and words[0] in _TENS and words[1] in _UNITS and 1 <= _UNITS[words[1]] <= 9:
        return _TENS[words[0]] + _UNITS[words[1]]
    return None


def _amount(text: str) -> Decimal | ParseErrorReason:
    """Return a non-negative finite amount below MAX_POINTS, or why it is refused."""
    raw = text.strip()
    if raw[:1] in ("-", "\u2212"):
        negative = _DECIMAL.fullmatch(raw[1:]) or words_to_int(raw[1:]) is not None
        return ParseErrorReason.NEGATIVE_POINTS if negative else ParseErrorReason.INVALID_POINTS
    if raw[:1] == "+":
        raw = raw[1:]
    if raw[:1].isdigit() or raw[:1] == ".":
        if not _DECIMAL.fullmatch(raw):
            return ParseErrorReason.INVALID_POINTS
        try:
            value = Decimal(raw)
        except InvalidOperation:
            return ParseErrorReason.INVALID_POINTS
    else:
        word_value = words_to_int(raw)
        if word_value is None:
            return ParseErrorReason.INVALID_POINTS
        value = Decimal(word_value)
    if not value.is_finite() or value >= MAX_POINTS:
        return ParseErrorReason.INVALID_POINTS
    return value


def parse_points(text: str, usage: str | None = None) -> Points | ParseError:
    """Parse a points phrase as typed, keeping `x/y` and percentages as they are (no scaling).

    Args:
        text: e.g. "85", "8.5", "17/20", "17 out of 20", "85%", "eighty five", "85 points".
        usage: the usage example to put in a refusal.

    Returns:
        Points, or a ParseError with reason negative_points (a minus sign) or invalid_points (not a number, NaN,
        infinity, an exponent, >= 9,999,999, x/0, a percentage over 1000, a percentage with an out-of value).
    """
    typed = _SPACES.sub(" ", text.strip())
    match = _POINTS_FULL.fullmatch(typed)

    def refuse(reason: ParseErrorReason) -> ParseError:
        return ParseError(reason=reason, usage=usage, detail=typed or None)

    if match is None:
        return refuse(ParseErrorReason.INVALID_POINTS)
    value = _amount(match["value"])
    if isinstance(value, ParseErrorReason):
        return refuse(value)
    out_of: Decimal | None = None
    if match["out_of"] is not None:
        parsed = _amount(match["out_of"])
        if isinstance(parsed, ParseErrorReason) or parsed == 0:
            return refuse(ParseErrorReason.INVALID_POINTS)
        out_of = parsed
    percent = match["percent"] is not None
    if percent and (out_of is not None or value > MAX_PERCENT):
        return refuse(ParseErrorReason.INVALID_POINTS)
    return Points(value=value, out_of=out_of, percent=percent, text=typed)
