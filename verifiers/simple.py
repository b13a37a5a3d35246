"""The `numeric`, `mc` and `exact` verifiers: string and float work only, no sympy.

Examples:
    >>> verify_numeric("The speed is about 3.1416 m/s.", "3.14159", rel_tol=1e-4).status
    'correct'
    >>> verify_mc("Comparing the options, the answer is (C).", "C").status
    'correct'
    >>> verify_mc("**Answer:** Paris", "B", choices=["London", "Paris", "Rome"]).status
    'correct'
    >>> verify_exact("Answer: New York City.", "new york city").status
    'correct'
"""

from __future__ import annotations

import math
import re
from typing import Sequence

from assay.verifiers.extract import extract_answer, last_boxed, normalize, parse_number
from assay.verifiers.verdict import Verdict

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _float(text: str) -> float | None:
    normalized = normalize(text)
    number = parse_number(normalized)
    if number is not None:
        return float(number.value / 100 if number.percent else number.value)
    match = re.fullmatch(r"[+-]?(?:\d+\.?\d*|\.\d+)[eE][+-]?\d{1,3}", normalized.replace(" ", ""))
    if match:
        return float(match.group())
    match = re.fullmatch(r"([+-]?\d+\.?\d*)\s*\\times\s*10\^\{?([+-]?\d{1,3})\}?", normalized)
    if match:
        return float(match.group(1)) * 10.0 ** int(match.group(2))
    return None


def verify_numeric(response: str, gold: str, rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> Verdict:
    """`numeric` verifier: |pred - gold| <= max(rel_tol * max(|pred|, |gold|), abs_tol).

    Reads integers, decimals, fractions, percents (as value / 100), `1.5e-3` and
    `1.5 \\times 10^{-3}`.
    """
    gold_value = _float(gold)
    if gold_value is None or not math.isfinite(gold_value):
        return Verdict.fail("bad_gold", f"gold {gold[:40]!r} is not a number")
    candidate = extract_answer(response)
    if candidate is None:
        return Verdict.fail("no_answer", "no number found")
    value = _float(candidate)
    if value is None:
        return Verdict.of(False, candidate, "answer is not a number")
    return Verdict.of(math.isclose(value, gold_value, rel_tol=rel_tol, abs_tol=abs_tol), candidate, "number")


# A choice letter written as the whole answer: B, (B), B), B., {B}, \text{B}, "B: text", "B) text".
_LETTER_ANSWER = re.compile(r"^\(?\{?([A-Z])\}?\)?(?:[.):]\s.*|[.):])?$", re.DOTALL)
_OPTION_MARK = re.compile(r"\(([A-Z])\)|(?:^|\n)\s*([A-Z])\)")
_MC_ANCHOR = re.compile(r"(?i)\b(?:answer|choice|option)\b\**(?:\s+is\s*:?|\s*[:：])\s*\**\s*(?P<a>[^\n]{1,200})")


def _choice_key(text: str) -> str:
    return " ".join(normalize(text).casefold().split()).strip(" .")


def _letter(text: str, valid: str, choices: Sequence[str] | None) -> str | None:
    """The choice `text` names: a letter in one of its usual forms, or a choice's own text."""
    cleaned = normalize(text).strip().strip("*").strip()
    if len(cleaned) <= 4:
        cleaned = cleaned.upper()  # "b", "(b)": a lone lowercase letter is still a choice
    match = _LETTER_ANSWER.match(cleaned)
    if match and match.group(1) in valid:
        return match.group(1)
    if choices:
        key = _choice_key(cleaned)
        for letter, choice in zip(valid, choices):
            if key and key == _choice_key(choice):
                return letter
    return None


def verify_mc(response: str, gold: str, choices: Sequence[str] | None = None) -> Verdict:
    """`mc` verifier: the chosen letter equals the gold letter.

    `choices` (texts in letter order) lets an answer that quotes a choice's text count, and
    limits the valid letters; without it any letter A..Z counts.
    """
    gold_letter = _letter(gold.upper(), _LETTERS, None)
    valid = _LETTERS[: len(choices)] if choices else _LETTERS
    if gold_letter is None or gold_letter not in valid:
        return Verdict.fail("bad_gold", f"gold {gold[:40]!r} is not one of the letters {valid[0]}..{valid[-1]}")
    candidates: list[str] = []
    boxed = last_boxed(response)
    if boxed is not None:
        candidates.append(boxed)
    anchors = list(_MC_ANCHOR.finditer(response))
    if anchors:
        candidates.append(anchors[-1].group("a"))
    for candidate in candidates:
        letter = _letter(candidate, valid, choices) or _leading_letter(candidate, valid)
        if letter is not None:
            return Verdict.of(letter == gold_letter, letter)
    marks = [m.group(1) or m.group(2) for m in _OPTION_MARK.finditer(response)]
    marks = [m for m in marks if m in valid]
    whole = _letter(response, valid, choices)
    letter = whole or (marks[-1] if marks else None)
    if letter is None:
        return Verdict.fail("no_answer", "no choice letter found")
    return Verdict.of(letter == gold_letter, letter)


def _leading_letter(text: str, valid: str) -> str | None:
    """`(B) because ...`, `B. Paris`: a letter at the start of an anchored answer."""
    match = re.match(r"^\s*\**\s*(?:\\text\{)?\(?([A-Z])(?:\)|\.|:|\}|\*\*|\s|$)", text)
    return match.group(1) if match and match.group(1) in valid else None


def _exact_key(text: str) -> str:
    text = normalize(text).casefold().strip().strip("\"'`*").strip()
    return " ".join(text.split()).rstrip(".!")


def verify_exact(response: str, gold: str) -> Verdict:
    """`exact` verifier: the final answer (boxed, an answer line, else the last line) equals
    the gold after normalization: case, spacing, LaTeX wrappers, quotes, a final period."""
    gold_key = _exact_key(gold)
    if not gold_key:
        return Verdict.fail("bad_gold", "empty gold answer")
    candidate = last_boxed(response)
    if candidate is None:
        anchors = list(_MC_ANCHOR.finditer(response))
        candidate = anchors[-1].group("a") if anchors else None
    if candidate is None:
        lines = [line for line in response.strip().splitlines() if line.strip()]
        candidate = lines[-1] if lines else None
    if candidate is None or not _exact_key(candidate):
        return Verdict.fail("no_answer", "empty response")
    return Verdict.of(_exact_key(candidate) == gold_key, candidate.strip())
