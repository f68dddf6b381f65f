"""Normalisation and typo distance: pure functions on strings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.roster.matching import (
    clean_query,
    is_contiguous,
    is_leading,
    is_subsequence,
    loose_tokens,
    strict_tokens,
    suggestion_score,
    typo_distance,
)


@pytest.mark.parametrize(
    ("typed", "cleaned"),
    [("Alice's", "Alice"), ("Alice’s.", "Alice"), ("James'", "James"), ("  Bob!? ", "Bob"), ("O'Connor", "O'Connor")],
)
def test_clean_query_strips_possessives_and_trailing_punctuation(typed: str, cleaned: str) -> None:
    assert clean_query(typed) == cleaned


def test_strict_tokens_fold_case_and_punctuation_but_keep_accents() -> None:
    assert strict_tokens("Mary-Jane O’Connor") == ("mary", "jane", "oconnor")
    assert strict_tokens("Smith,  Alice") == ("smith", "alice")
    assert strict_tokens("José Núñez") == ("josé", "núñez")
    assert strict_tokens("Al\u200bice") == ("alice",)  # zero-width space is invisible, not a letter


def test_nfc_and_nfd_spellings_are_the_same_strict_tokens() -> None:
    assert strict_tokens("Jose\u0301") == strict_tokens("José")


def test_loose_tokens_drop_accents_but_not_other_scripts() -> None:
    assert loose_tokens(strict_tokens("Nguyễn Thị Lan")) == ("nguyen", "thi", "lan")
    assert loose_tokens(strict_tokens("Đặng Søren Łukasz")) == ("dang", "soren", "lukasz")
    assert loose_tokens(strict_tokens("Ａlice")) == ("alice",)  # full-width is a compatibility form
    assert loose_tokens(strict_tokens("\u0410lice")) != ("alice",)  # Cyrillic A is another letter


def test_word_sequence_tests() -> None:
    assert is_subsequence(("luis", "cruz"), ("luis", "de", "la", "cruz"))
    assert not is_subsequence(("cruz", "luis"), ("luis", "de", "la", "cruz"))
    assert is_contiguous(("quiz", "2"), ("unit", "3", "quiz", "2"))
    assert not is_contiguous(("unit", "2"), ("unit", "3", "quiz", "2"))
    assert is_leading(("7b",), ("7b", "english"))
    assert not is_leading(("english",), ("7b", "english"))
    assert not is_subsequence((), ("a",))


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("alice", "alice", 0), ("alcie", "alice", 1), ("alise", "alice", 1), ("alic", "alice", 1), ("bob", "rob", 1)],
)
def test_typo_distance_counts_edits_and_transpositions(a: str, b: str, distance: int) -> None:
    assert typo_distance(a, b, 3) == distance


def test_typo_distance_stops_beyond_the_limit() -> None:
    assert typo_distance("alexandra", "bob", 2) == 3
    assert typo_distance("abcdef", "fedcba", 2) == 3


@given(st.text(max_size=8), st.text(max_size=8))
def test_typo_distance_is_symmetric_and_bounded(a: str, b: str) -> None:
    forward = typo_distance(a, b, 20)
    assert forward == typo_distance(b, a, 20)
    assert forward <= max(len(a), len(b))
    assert (forward == 0) == (a == b)


def test_suggestion_score_ranks_typos_and_prefixes() -> None:
    assert suggestion_score("alcie", "alice") > suggestion_score("alex", "alexandra") > 0
    assert suggestion_score("zed", "alice") == 0
    assert suggestion_score("will turner", "will") > 0
