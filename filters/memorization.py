"""Text metrics of the model memorization audit: pure functions on strings and scores.

- `cut_prompt(text, fraction)`: a problem split at a word boundary near `fraction` of its length,
  the partial-prompt probe of "Reasoning or Memorization?" (2025): a model that has seen a
  problem completes its rest verbatim far more often than chance allows.
- `rouge_l(candidate, reference)`: ROUGE-L F1 over word tokens (longest common subsequence).
- `continues_exactly(completion, rest)`: the completion reproduces the true rest, whitespace
  aside.
- `diversity(samples)`: 1 - mean pairwise ROUGE-L among k samples for one prompt; a collapse of
  diversity on benchmark items against matched clean controls is the Self-Critique-style
  sign of memorized solutions.
- `auc(positives, negatives)`: the probability that a positive outscores a negative (ties
  count half): how well a score separates memorized from clean items; 0.5 is no separation.
- `number_variant(text, rng)`: a matched clean control, the same problem with its numbers
  changed (its shape and length kept, its text never seen).

Example:
    >>> head, rest = cut_prompt("Find the sum of all positive divisors of 36.", 0.6)
    >>> head, rest
    ('Find the sum of all', ' positive divisors of 36.')
    >>> round(rouge_l("divisors of 36", "divisors of 48"), 3)
    0.667
    >>> auc([0.9, 0.8], [0.1, 0.8])
    0.875
"""

from __future__ import annotations

import random
import re
from itertools import combinations
from typing import Sequence

_WORD = re.compile(r"\w+|[^\w\s]")
_SPACE = re.compile(r"\s+")
_DIGITS = re.compile(r"\d+")


def words(text: str) -> list[str]:
    """Lowercased word and punctuation tokens."""
    return _WORD.findall(text.lower())


def cut_prompt(text: str, fraction: float) -> tuple[str, str]:
    """(head, rest): the cut falls at the last whitespace at or before `fraction` of the text,
    so the probe never asks a model to finish half a word."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    target = int(len(text) * fraction)
    cut = text.rfind(" ", 0, target + 1)
    if cut <= 0:
        cut = target
    return text[:cut], text[cut:]


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence; O(len(a) * len(b)) time, O(len(b)) memory."""
    if not a or not b:
        return 0
    row = [0] * (len(b) + 1)
    for x in a:
        diagonal = 0
        for j, y in enumerate(b, start=1):
            above = row[j]
            row[j] = diagonal + 1 if x == y else max(row[j], row[j - 1])
            diagonal = above
    return row[-1]


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 of word tokens; 0.0 when either side is empty."""
    c, r = words(candidate), words(reference)
    common = _lcs(c, r)
    if common == 0:
        return 0.0
    precision, recall = common / len(c), common / len(r)
    return 2 * precision * recall / (precision + recall)


def continues_exactly(completion: str, rest: str) -> bool:
    """The completion starts with the true rest, comparing with whitespace runs collapsed."""
    want = _SPACE.sub(" ", rest).strip()
    return bool(want) and _SPACE.sub(" ", completion).strip().startswith(want)


def diversity(samples: Sequence[str]) -> float:
    """1 - mean pairwise ROUGE-L over the samples of one prompt (0: all identical)."""
    pairs = list(combinations(samples, 2))
    if not pairs:
        raise ValueError("diversity needs at least two samples")
    return 1.0 - sum(rouge_l(a, b) for a, b in pairs) / len(pairs)


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """Mann-Whitney AUC: P(a positive's score > a negative's), ties counted half."""
    if not positives or not negatives:
        raise ValueError("auc needs at least one positive and one negative score")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def number_variant(text: str, rng: random.Random) -> str:
    """The same text with every number replaced by another of the same digit count."""

    def swap(match: re.Match[str]) -> str:
        digits = len(match.group())
        low = 10 ** (digits - 1) if digits > 1 else 0
        value = match.group()
        while value == match.group():
            value = str(rng.randint(low, 10**digits - 1))
        return value

    return _DIGITS.sub(swap, text)
