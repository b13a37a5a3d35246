"""The `numeric`, `mc` and `exact` verifiers: string and Fraction work only, no sympy.

All three read the answer region of a response the way `math` does (after `</think>`, before
a chat template's end-of-turn token) and treat several different answers given side by side
(boxes, "2 or 3", "A, B, C or D") as wrong, never as "any of them".

Examples:
    >>> verify_numeric("The speed is about 3.1416 m/s.", "3.14159", rel_tol=1e-4).status
    'correct'
    >>> verify_numeric("#### 10861853", "10861852").status  # an integer gold is compared exactly
    'incorrect'
    >>> verify_mc("Comparing the options, the answer is (C).", "C").status
    'correct'
    >>> verify_mc("The answer is A, B, C or D.", "C").reason
    'several choices: A, B, C, D'
    >>> verify_mc("**Answer:** Paris", "B", choices=["London", "Paris", "Rome"]).status
    'correct'
    >>> verify_exact("Answer: New York City.", "new york city").status
    'correct'
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Sequence

from assay.verifiers.extract import (
    MATH_SEGMENT,
    AnchorPattern,
    anchored_sentences,
    answer_region,
    extract_answer,
    find_boxes,
    normalize,
    parse_number,
    split_answer,
    value_side,
)
from assay.verifiers.verdict import Verdict

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# ---------------------------------------------------------------------------------------------
# numeric


def _value(text: str) -> Fraction | None:
    """The number `text` states, exactly (a percent as value / 100)."""
    number = parse_number(normalize(text))
    if number is None:
        return None
    return number.value / 100 if number.percent else number.value


_INTEGER = re.compile(r"^[+-]?\d+$")


def verify_numeric(response: str, gold: str, rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> Verdict:
    """`numeric` verifier: an integer gold must be matched exactly; any other gold within
    |pred - gold| <= max(rel_tol * max(|pred|, |gold|), abs_tol).

    Reads integers, decimals, fractions, percents (as value / 100), `1.5e-3` and
    `1.5 \\times 10^{-3}`. Several different numbers in the final answer are wrong.
    """
    for name, tolerance in (("rel_tol", rel_tol), ("abs_tol", abs_tol)):
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
            return Verdict.fail("error", f"option {name} must be a non-negative number, got {tolerance!r}")
    gold_value = _value(gold)
    if gold_value is None:
        return Verdict.fail("bad_gold", f"gold {gold[:40]!r} is not a number")
    candidate = extract_answer(response)
    if candidate is None:
        return Verdict.fail("no_answer", "no number found")
    values = [_value(value_side(part)) for part in split_answer(normalize(candidate))]
    if any(v is None for v in values):
        return Verdict.of(False, candidate, "answer is not a number")
    if len(set(values)) > 1:
        return Verdict.of(False, candidate, "several different answers")
    value = values[0]
    assert value is not None
    if _INTEGER.match(normalize(gold).replace(" ", "")):
        return Verdict.of(value == gold_value, candidate, "integer")
    close = math.isclose(float(value), float(gold_value), rel_tol=rel_tol, abs_tol=abs_tol)
    return Verdict.of(close, candidate, "number")


# ---------------------------------------------------------------------------------------------
# mc

# A choice letter written as the whole answer: B, (B), B), B., {B}, \text{B}, "B: text", "B) text".
_LETTER_ANSWER = re.compile(r"^\(?\{?([A-Z])\}?\)?(?:[.):]\s.*|[.):])?$", re.DOTALL)
_MC_ANCHOR = re.compile(
    r"(?i)(?:\banswer|\b(?:correct|right|best|final|my)\s+(?:choice|option)|\b(?:choice|option)(?=\s+is\b))\b\**"
    r"(?:\s+is\s*:?|\s*[:：])\s*\**\s*"
)
_MC_ANCHORS = (AnchorPattern(_MC_ANCHOR, True, ""),)
# A letter marked as an option: (B), B), \text{(B)}, {B}.
_MARK = re.compile(r"\(([A-Z])\)|(?<![A-Za-z(])([A-Z])\)|\{([A-Z])\}")
# A bare capital letter in prose: not "I", and not the article "A" before a lowercase word.
_BARE = re.compile(r"(?<![A-Za-z'\\])(?:[B-HJ-Z]|A(?!\s+(?!is\b|was\b|or\b|and\b|nor\b|seems\b|looks\b|fits\b)[a-z]))(?![A-Za-z'])")
_NOT_LETTER = re.compile(r"(?i)\b(?:not|never|isn't|is not|excluding|except)\s+\(?[A-Z]\)?(?![A-Za-z])")
_SENTENCE = re.compile(r"[.!?](?=\s|$)|\n")
_LETTER_LINE = re.compile(r"^\(?[A-Z]\)?[.:]?$")
_TAG = re.compile(r"(?is)<answer>(.*?)(?:</answer>|$)")
_PICK = re.compile(r"(?i)\b(?:so|therefore|thus|hence|pick|choose|select|go with)\b")


def _choice_key(text: str) -> str:
    return " ".join(normalize(text).casefold().split()).strip(" .")


def _letter(text: str, valid: str, choices: Sequence[str] | None) -> str | None:
    """The choice `text` names as a whole: a letter in one of its usual forms, or a choice's text."""
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


def _letters(span: str, valid: str, choices: Sequence[str] | None, collect: bool = True) -> list[str]:
    """Every choice `span` names, in order of first mention: the whole span as one letter or
    choice text, else a leading letter ("C. Photosynthesis", "(B) because ..."), else (when
    `collect`) all marked and bare letters in it ("A, B, C or D" names four)."""
    span = span.strip().strip("*").strip()
    if re.match(r"(?i)(?:not|never)\b", span):
        return []  # "(the answer is) not B"
    span = _NOT_LETTER.sub(" ", span)  # "not B, not C": letters ruled out are not chosen
    whole = _letter(span, valid, choices)
    if whole is not None:
        return [whole]
    plain = normalize(span)
    leading = re.match(r"^\s*\(?([A-Z])(?:\)|\.|:|\}|\s*$)\s*", plain)
    if leading and leading.group(1) in valid:
        rest = plain[leading.end() :]
        others = [m for m in _marked(rest) if m in valid and m != leading.group(1)]
        if not others:
            return [leading.group(1)]
    if not collect:
        return []
    found: list[str] = []
    for letter in _marked(plain) + [m.group() for m in _BARE.finditer(plain)]:
        if letter in valid and letter not in found:
            found.append(letter)
    return found


def _marked(text: str) -> list[str]:
    return [next(g for g in m.groups() if g) for m in _MARK.finditer(text)] + re.findall(r"(?:^|\s)([A-Z])\.(?=\s)", text)


def _mc_spans(region: str) -> list[tuple[str, bool]]:
    """Where a multiple-choice answer may be stated, strongest first, each with whether every
    letter in it counts (else only a letter that is the whole text or leads it)."""
    tags = _TAG.findall(region)
    if tags:
        outside = [b.content for b in find_boxes(_TAG.sub(" ", region)) if b.content]
        return [(", ".join(tags + outside), True)]
    boxes = [b.content for b in find_boxes(region) if b.content]
    spans = [(", ".join(boxes), True)] if boxes else []
    stated = anchored_sentences(region, _MC_ANCHORS)
    if stated:
        spans.append((", ".join(stated), True))
    text = region.strip()
    spans.append((text, False))
    # Lines that are nothing but a letter ("C" above its explanation) are answers, all of them.
    lines = [line for line in text.splitlines() if _LETTER_LINE.match(line.strip().strip("*").strip())]
    if lines:
        spans.append((", ".join(lines), True))
    sentences = [s for s in _SENTENCE.split(text) if s.strip()]
    if sentences:
        last = sentences[-1]
        picks = list(_PICK.finditer(last))
        spans.append((last[picks[-1].end() :] if picks else last, True))
    return spans


def verify_mc(response: str, gold: str, choices: Sequence[str] | None = None) -> Verdict:
    """`mc` verifier: the chosen letter equals the gold letter.

    `choices` (texts in letter order) lets an answer that quotes a choice's text count, and
    limits the valid letters; without it any letter A..Z counts. An answer naming several
    choices is wrong.
    """
    gold_letter = _letter(gold.upper(), _LETTERS, None)
    valid = _LETTERS[: len(choices)] if choices else _LETTERS
    if gold_letter is None or gold_letter not in valid:
        return Verdict.fail("bad_gold", f"gold {gold[:40]!r} is not one of the letters {valid[0]}..{valid[-1]}")
    region = answer_region(response)
    for span, collect in _mc_spans(region):
        letters = _letters(span, valid, choices, collect)
        if len(letters) > 1:
            return Verdict.of(False, ", ".join(letters), f"several choices: {', '.join(letters)}")
        if letters:
            return Verdict.of(letters[0] == gold_letter, letters[0])
    return Verdict.fail("no_answer", "no choice letter found")


# ---------------------------------------------------------------------------------------------
# exact


def _exact_key(text: str) -> str:
    text = normalize(text).casefold().strip().strip("\"'`*").strip()
    return " ".join(text.split()).rstrip(".!")


def verify_exact(response: str, gold: str) -> Verdict:
    """`exact` verifier: the final answer (its boxes, an answer line, else the last line)
    equals the gold after normalization: case, spacing, LaTeX wrappers, quotes, a final period.
    Boxes holding different answers are wrong."""
    gold_key = _exact_key(gold)
    if not gold_key:
        return Verdict.fail("bad_gold", "empty gold answer")
    region = answer_region(response)
    boxes = [b.content for b in find_boxes(region) if b.content]
    candidate = None
    if boxes:
        if len({_exact_key(b) for b in boxes}) > 1:
            return Verdict.of(False, ", ".join(boxes), "several different answers")
        candidate = boxes[-1]
    if candidate is None:
        stated = anchored_sentences(region, _MC_ANCHORS)
        if len({_exact_key(sentence) for sentence in stated}) > 1:
            return Verdict.of(False, ", ".join(stated), "several different answers")
        anchors = list(_MC_ANCHOR.finditer(region))
        candidate = region[anchors[-1].end() :].split("\n", 1)[0] if anchors else None
    if candidate is None:
        lines = [line for line in region.strip().splitlines() if line.strip()]
        candidate = lines[-1] if lines else None
    if candidate is not None:
        candidate = MATH_SEGMENT.sub(lambda m: next(g for g in m.groups() if g is not None), candidate)
    if candidate is None or not _exact_key(candidate):
        return Verdict.fail("no_answer", "empty response")
    return Verdict.of(_exact_key(candidate) == gold_key, candidate.strip())
