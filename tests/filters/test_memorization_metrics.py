"""Memorization audit metrics against hand-derived values."""

import random

import pytest

from assay.filters.memorization import auc, continues_exactly, cut_prompt, diversity, number_variant, rouge_l


def test_rouge_l_hand_values():
    # LCS of "the cat sat on the mat" / "the cat on a mat" is "the cat on mat" (4): P 4/6, R 4/5.
    assert rouge_l("the cat sat on the mat", "the cat on a mat") == pytest.approx(2 * (4 / 6) * (4 / 5) / (4 / 6 + 4 / 5))
    assert rouge_l("a b c", "a b c") == 1.0
    assert rouge_l("", "a") == 0.0 and rouge_l("x y", "a b") == 0.0


def test_cut_prompt_falls_on_whitespace():
    head, rest = cut_prompt("one two three four five", 0.5)
    assert (head, rest) == ("one two", " three four five")
    with pytest.raises(ValueError):
        cut_prompt("abc", 1.0)


def test_exact_continuation_ignores_whitespace_runs():
    assert continues_exactly("  three  four\nfive and more", " three four five")
    assert not continues_exactly("three for five", " three four five")
    assert not continues_exactly("anything", "   ")


def test_diversity_and_auc():
    assert diversity(["a b c", "a b c", "a b c"]) == 0.0
    assert diversity(["a b", "c d"]) == 1.0
    assert auc([3, 2], [1, 0]) == 1.0 and auc([0], [1]) == 0.0 and auc([1, 1], [1, 1]) == 0.5


def test_number_variant_changes_every_number_keeping_digit_counts():
    text = "A train goes 300 miles in 5 hours and 12 minutes."
    variant = number_variant(text, random.Random(0))
    assert variant != text
    assert [len(w) for w in variant.split()] == [len(w) for w in text.split()]
    assert all(a != b for a, b in zip(text.split(), variant.split()) if a.isdigit())
