"""Text normalisation and typo distance for matching what a teacher typed against roster names.

Two keys per text:

* strict tokens: NFC, case-folded, apostrophes dropped ("O'Connor" = "OConnor"), every other non-letter/digit a word
  break ("Mary-Jane" = "Mary Jane", "Smith, Alice" = "Smith Alice"), invisible format characters removed. Accents are
  kept, so "José" and "Jose" differ.
* loose tokens: the strict tokens with accents and compatibility forms folded away (NFKD, combining marks dropped,
  a few letters without a decomposition such as "đ", "ø", "ł" mapped), so "José" = "Jose" and "Ａlice" = "Alice".
  Look-alikes from other scripts (Cyrillic "А" in "Аlice") are NOT folded: they never match, at most they are a typo
  away.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_APOSTROPHES = frozenset("'’‘ʼʹʻ`´′")
_EXTRA_FOLDS = str.maketrans(
    {"đ": "d", "ð": "d", "ø": "o", "ł": "l", "ı": "i", "ħ": "h", "ŧ": "t", "æ": "ae", "œ": "oe", "þ": "th"}
)
_APOSTROPHE_CLASS = "".join(sorted(_APOSTROPHES))
_POSSESSIVE = re.compile(f"[{re.escape(_APOSTROPHE_CLASS)}][sS]$")
_TRAILING_JUNK = re.compile(r"[^\w]+$")


def clean_query(text: str) -> str:
    """Strip surrounding whitespace, trailing punctuation and a possessive ("Alice's." -> "Alice")."""
    text = _TRAILING_JUNK.sub("", text.strip())
    text = _POSSESSIVE.sub("", text)
    return _TRAILING_JUNK.sub("", text)


def strict_tokens(text: str) -> tuple[str, ...]:
    """Case-folded words of `text`, accents kept; apostrophes dropped, other punctuation splits words."""
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())
    chars: list[str] = []
    for char in folded:
        if char in _APOSTROPHES:
            continue
        category = unicodedata.category(char)
        if category == "Cf":  # zero-width spaces, joiners, bidi marks: invisible, never part of a name
            continue
        chars.append(char if category[0] in "LNM" else " ")
    return tuple("".join(chars).split())


def loose_token(token: str) -> str:
    """`token` without accents or compatibility variants ("núñez" -> "nunez", "ｆ" -> "f")."""
    decomposed = unicodedata.normalize("NFKD", token)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return unicodedata.normalize("NFC", bare.casefold().translate(_EXTRA_FOLDS))


def loose_tokens(tokens: Sequence[str]) -> tuple[str, ...]:
    """The loose form of strict tokens (see `loose_token`)."""
    return tuple(part for token in tokens for part in loose_token(token).split())


def is_subsequence(needle: Sequence[str], haystack: Sequence[str]) -> bool:
    """Whether every word of `needle` appears in `haystack`, in order, possibly with words in between."""
    if not needle:
        return False
    words = iter(haystack)
    return all(any(word == wanted for word in words) for wanted in needle)


def is_contiguous(needle: Sequence[str], haystack: Sequence[str]) -> bool:
    """Whether `needle` occurs in `haystack` as a run of consecutive words."""
    size = len(needle)
    if size == 0 or size > len(haystack):
        return False
    return any(tuple(haystack[start : start + size]) == tuple(needle) for start in range(len(haystack) - size + 1))


def is_leading(needle: Sequence[str], haystack: Sequence[str]) -> bool:
    """Whether `needle` is the first words of `haystack`."""
    return 0 < len(needle) <= len(haystack) and tuple(haystack[: len(needle)]) == tuple(needle)


def typo_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance (optimal string alignment) between `a` and `b`, capped at `limit + 1`.

    Args:
        a: One string.
        b: The other.
        limit: Distances above this are not needed; the computation stops early and returns `limit + 1`.

    Returns:
        The number of insertions, deletions, substitutions and adjacent transpositions turning `a` into `b`, or
        `limit + 1` if that number exceeds `limit`.
    """
    if a == b:
        return 0
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous: list[int] | None = None
    current = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        before, previous = previous, current
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if before is not None and i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, before[j - 2] + 1)
            current[j] = value
        if min(current) > limit:
            return limit + 1
    return min(current[len(b)], limit + 1)


def typo_allowance(length: int) -> int:
    """How many typos a query of `length` characters may contain and still earn a suggestion."""
    if length <= 2:
        return 0
    if length <= 4:
        return 1
    if length <= 9:
        return 2
    return 3


def suggestion_score(query: str, target: str) -> float:
    """How close `target` is to `query` (both loose, words joined by spaces): 0.0 (unrelated) to 1.0 (equal).

    A typo within `typo_allowance` scores by edit distance; `query` being the start of `target` ("alex" in
    "alexandra") scores by the share of `target` typed; a several-word query sharing a whole word of three or more
    letters with `target` scores 0.3. Anything else scores 0.
    """
    if not query or not target:
        return 0.0
    allowance = typo_allowance(len(query))
    distance = typo_distance(query, target, allowance)
    score = 1.0 - distance / max(len(query), len(target)) if distance <= allowance else 0.0
    if len(query) >= 2 and target.startswith(query):
        score = max(score, 0.9 * len(query) / len(target))
    if score == 0.0 and " " in query and set(query.split()) & {word for word in target.split() if len(word) >= 3}:
        score = 0.3  # one whole word in common: "Will Turner" for a student named just "Will"
    return score
