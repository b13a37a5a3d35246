"""The `math` verifier: our extraction and exact fast paths, then math-verify and sympy.

Order of work for one (response, gold):
  1. extract the final answer (verifiers/extract.py); none -> no_answer;
  2. cut gold and answer into their parts (`split_answer`: "1, 2", "x = 1 or x = 2", several
     boxes, `\\pm`), and read each part's value side (`x = 3` -> `3`, `y = 2x + 1` -> `2x + 1`,
     `a = b = 7` -> `7`, `1/3 \\approx 0.33` -> `1/3`) unless the gold is itself an equation;
  3. the answer is correct when its parts and the gold's are the same set: every gold part
     equals some answer part and every answer part some gold part. So several different
     answers against a single gold are wrong (a hedge, never "any of them"), a list against a
     list is unordered, and a tuple against a bare list of its entries is compared in order;
  4. two parts are equal when: their normalized strings are; both are plain numbers or complex
     numbers (decided exactly with Fractions, no sympy: values with finite decimal expansions
     compare exactly, a decimal standing for 1/3 needs 6 significant digits); both are
     bracketed lists of numbers with the same brackets; else
  5. guards: a part too long or too deeply nested for sympy, or a numeric power tower such as
     10^{10^{10}}, is reported as error `too_complex` instead of being handed to sympy;
  6. math-verify `parse` + `verify(gold, pred)` with gold as the reference (it is not
     symmetric), its signal-based timeouts disabled (they break off the main thread; the
     runner's kill is the timeout), then our checks on its `True`s for its known false
     positives: numbers are compared at 30 digits relative precision (1/2004! is not 1/2006!),
     a decimal against an exact value by the rule of step 4 (not rounded to 6 decimal places,
     which makes 10^{-20} equal 0), and two equations with variables must be proportional (two
     different lines are not equal).

Gold parses are cached per process (in pass@k the same gold comes k times), and so are sympy
comparisons of a (gold, answer) pair (the k samples often agree on an answer).

Example:
    >>> verify_math("so x = 3, i.e. $\\\\boxed{x = 3}$", "3").status
    'correct'
    >>> verify_math("It is $\\\\boxed{2}$ or $\\\\boxed{3}$.", "3").reason
    'several different answers'
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache

from assay.verifiers.extract import (
    Complex,
    Num,
    approximates,
    EQUALS,
    MATH_SEGMENT,
    cut_at,
    extract_answer,
    find_boxes,
    has_anchor,
    normalize,
    number_lists_equal,
    numbers_equal,
    parse_complex,
    parse_number,
    parse_number_list,
    split_answer,
    string_key,
    top_level,
    value_side,
)
from assay.verifiers.verdict import Verdict

MAX_SYMPY_CHARS = 1000  # no real final answer is longer; long text only feeds sympy's slow paths
MAX_NESTING = 40  # brackets deeper than this are pathological (5,000 nested parentheses)
MAX_PARTS = 64  # an answer listing more parts than this is not compared part by part
MAX_ANSWER_CHARS = 10_000  # 64 parts of sympy's limit would be longer, but no real answer is
_NUMERIC_TOWER = re.compile(r"\^\s*\{?\s*\(?\s*\d+\s*\)?\s*\^")  # 10^{10^...}: a number raised to a power in an exponent
_HUGE_EXPONENT = re.compile(r"\^\s*\{?\s*\d{7,}")  # 10^{1000000000}
_HUGE_FACTORIAL = re.compile(r"\d{6,}\s*!")


class _DropTimeoutWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout is disabled" not in record.getMessage()


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_DropTimeoutWarning())


@dataclass(frozen=True)
class _Answer:
    normalized: str
    key: str
    number: Num | None
    numbers: tuple[str, list] | None  # a tuple, set or interval of plain numbers
    complex: Complex | None


def _answer(text: str, is_normalized: bool = False) -> _Answer:
    normalized = text if is_normalized else normalize(text)
    number = parse_number(normalized)
    numbers = None if number else parse_number_list(normalized)
    complex_ = None if number or numbers else parse_complex(normalized)
    return _Answer(normalized, string_key(normalized), number, numbers, complex_)


# ---------------------------------------------------------------------------------------------
# Parts and value sides

_SEMICOLON = re.compile(";")


def _expand_pm(part: str) -> list[str]:
    """`1 \\pm \\sqrt{5}` is the two parts `1 + \\sqrt{5}` and `1 - \\sqrt{5}`."""
    if "\\pm" not in part and "\\mp" not in part:
        return [part]
    plus = part.replace("\\pm", "+").replace("\\mp", "-")
    minus = part.replace("\\pm", "-").replace("\\mp", "+")
    return [plus, minus]


def _parts(text: str, equation_gold: bool) -> tuple[_Answer, ...]:
    """The answer's parts, each read at its value side unless the gold is an equation. Groups
    separated by ";" that themselves list several values are solutions written as tuples:
    `p=5, q=2; p=7, q=2` is (5, 2), (7, 2)."""
    normalized = normalize(text)
    groups = cut_at(normalized, top_level(normalized, _SEMICOLON))
    if len(groups) > 1 and any(len(split_answer(g)) > 1 for g in groups):
        pieces = ["(" + ", ".join(_side(p, equation_gold) for p in split_answer(g)) + ")" for g in groups if g]
    else:
        pieces = split_answer(normalized)
    out: list[_Answer] = []
    for part in pieces:
        for signed in _expand_pm(part):
            side = _side(signed, equation_gold)
            # A part that is the whole answer and its own value side is normalized already.
            out.append(_answer(side, is_normalized=side == normalized))
    return tuple(a for a in out if a.normalized)


def _side(part: str, equation_gold: bool) -> str:
    return part if equation_gold else value_side(part)


def _stated_answer(gold: str) -> str:
    """The answer a gold (or a box holding a whole solution) states. Its boxes are one answer when
    they share one math segment or only separators ("and", commas, `\\quad`, a unit) stand
    between them, else the last box is; a gold without boxes but with an answer line ("Final
    Answer: ...") gives that answer."""
    boxes = [b for b in find_boxes(gold) if b.content]
    if not boxes:
        return extract_answer(gold) if has_anchor(gold) else gold
    joined = [boxes[-1]]
    for previous in reversed(boxes[:-1]):
        between = gold[previous.end : joined[0].start]
        if not (_separator_only(between) or _same_segment(gold, previous.start, joined[0].end)):
            break
        joined.insert(0, previous)
    return ", ".join(b.content for b in joined if b.content)


def _separator_only(text: str) -> bool:
    words = re.sub(r"\\[A-Za-z]+|[{}$\\()\[\].,;:]", " ", text).split()
    joins = re.search(r"(?i)(?:^|[\s,;{}])(?:and|or)(?:$|[\s,;{}])|,|;|\\q?quad", text)
    return len(words) <= 5 and (bool(joins) or not words)


def _same_segment(text: str, start: int, end: int) -> bool:
    return any(m.start() <= start and end <= m.end() for m in MATH_SEGMENT.finditer(text))


@lru_cache(maxsize=8192)
def _gold_answer(gold: str) -> tuple[tuple[_Answer, ...], bool]:
    """(the gold's parts, whether the gold is an equation); cached per gold."""
    text = _stated_answer(gold)
    plain = _parts(text, equation_gold=False)
    equation = any(top_level(p.normalized, EQUALS) for p in plain)
    return (_parts(text, equation_gold=True) if equation else plain), equation


# ---------------------------------------------------------------------------------------------
# Comparison


def too_complex(latex: str) -> str | None:
    """Why sympy must not see `latex`, or None when it may."""
    if len(latex) > MAX_SYMPY_CHARS:
        return f"answer has {len(latex):,} characters (sympy limit {MAX_SYMPY_CHARS:,})"
    depth = deepest = 0
    for ch in latex:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
    if deepest > MAX_NESTING:
        return f"brackets nested {deepest} deep (limit {MAX_NESTING})"
    if _NUMERIC_TOWER.search(latex) or _HUGE_EXPONENT.search(latex) or _HUGE_FACTORIAL.search(latex):
        return "numeric power tower or huge exponent"
    return None


def _complex_of(a: _Answer) -> Complex | None:
    if a.complex is not None:
        return a.complex
    if a.number is not None and not a.number.percent:
        return Complex(a.number, Num(Fraction(0), True, False))
    return None


def _fast_equal(gold: _Answer, pred: _Answer) -> tuple[bool, str] | None:
    """Decided without sympy: (equal, reason); None when sympy must decide."""
    if pred.key == gold.key:
        return True, "string"
    if gold.number is not None and pred.number is not None:
        return numbers_equal(gold.number, pred.number, pred.normalized, gold.normalized), "number"
    if gold.complex is not None or pred.complex is not None:
        g, p = _complex_of(gold), _complex_of(pred)
        if g is not None and p is not None:
            equal = numbers_equal(g.real, p.real, "", "") and numbers_equal(g.imag, p.imag, "", "")
            return equal, "complex"
    if gold.numbers is not None and pred.numbers is not None:
        equal = number_lists_equal(gold.numbers, pred.numbers)
        if equal is not None:
            return equal, "numbers"
    return None


def _compare_one(gold: _Answer, pred: _Answer) -> tuple[str, str]:
    """(status, reason) for one gold part against one answer part."""
    fast = _fast_equal(gold, pred)
    if fast is not None:
        return ("correct" if fast[0] else "incorrect"), fast[1]
    why = too_complex(gold.normalized)
    if why:
        return "bad_gold", f"too_complex: {why}"
    why = too_complex(pred.normalized)
    if why:
        return "error", f"too_complex: {why}"
    status, reason = _compare_parsed(gold.normalized, pred.normalized)
    if status == "unparsed":
        return "incorrect", "answer does not parse"
    return status, reason


def _match_sets(golds: tuple[_Answer, ...], preds: tuple[_Answer, ...]) -> tuple[str, str]:
    """Set equality: every gold part equals some answer part and every answer part some gold
    part. Pairs are tried cheap-first: string and number checks before any sympy call."""
    equal: dict[tuple[int, int], bool] = {}
    failure: tuple[str, str] | None = None
    for i, g in enumerate(golds):
        for j, p in enumerate(preds):
            fast = _fast_equal(g, p)
            if fast is not None:
                equal[i, j] = fast[0]

    def same(i: int, j: int) -> bool:
        nonlocal failure
        if (i, j) not in equal:
            status, reason = _compare_one(golds[i], preds[j])
            if status in ("bad_gold", "error") and failure is None:
                failure = (status, reason)
            equal[i, j] = status == "correct"
        return equal[i, j]

    def covered(i: int) -> bool:
        return any(equal.get((i, j)) for j in range(len(preds))) or any(same(i, j) for j in range(len(preds)))

    def used(j: int) -> bool:
        return any(equal.get((i, j)) for i in range(len(golds))) or any(same(i, j) for i in range(len(golds)))

    ok = all(covered(i) for i in range(len(golds))) and all(used(j) for j in range(len(preds)))
    if not ok and failure is not None:
        return failure
    if len(golds) == 1 and len(preds) > 1:
        return ("correct", "parts") if ok else ("incorrect", "several different answers")
    return ("correct" if ok else "incorrect"), "parts"


_TUPLE = re.compile(r"^\((?P<inner>.*)\)$", re.DOTALL)


def _tuple_entries(a: _Answer, equation_gold: bool) -> tuple[_Answer, ...] | None:
    """The entries of a parenthesized tuple `(a, b, ...)` of two or more, else None."""
    match = _TUPLE.match(a.normalized)
    if match is None:
        return None
    entries = split_answer(match.group("inner"))
    if len(entries) < 2 or any("(" in e and ")" not in e for e in entries):
        return None
    return tuple(_answer(e if equation_gold else value_side(e)) for e in entries)


def _compare_in_order(golds: tuple[_Answer, ...], preds: tuple[_Answer, ...]) -> tuple[str, str]:
    for g, p in zip(golds, preds):
        status, reason = _compare_one(g, p)
        if status != "correct":
            return status, reason
    return "correct", "tuple"


def compare_math(candidate: str, gold: str) -> Verdict:
    """Compare an extracted answer with the gold (see the module docstring for the order)."""
    if len(candidate) > MAX_ANSWER_CHARS:
        return Verdict.fail("error", f"too_complex: answer has {len(candidate):,} characters (limit {MAX_ANSWER_CHARS:,})", candidate)
    golds, equation_gold = _gold_answer(gold)
    if not golds:
        return Verdict.fail("bad_gold", "empty gold answer")
    # A box around a whole solution (the gold round trip of a solution-style gold) is read as
    # the gold is.
    preds = _parts(_stated_answer(candidate), equation_gold)
    if not preds:
        return Verdict.fail("no_answer", "empty answer", candidate)
    if len(golds) > MAX_PARTS or len(preds) > MAX_PARTS:
        return Verdict.fail("error", f"too_complex: more than {MAX_PARTS} parts", candidate)
    if len(golds) == 1 and len(preds) == 1:
        status, reason = _compare_one(golds[0], preds[0])
    elif len(golds) == 1 and (entries := _tuple_entries(golds[0], equation_gold)) is not None and len(entries) == len(preds):
        status, reason = _compare_in_order(entries, preds)  # (2, -1) against "2, -1"
    elif len(preds) == 1 and (entries := _tuple_entries(preds[0], equation_gold)) is not None and len(entries) == len(golds):
        status, reason = _compare_in_order(golds, entries)
    else:
        status, reason = _match_sets(golds, preds)
    return Verdict(status, 1.0 if status == "correct" else 0.0, candidate, reason)  # type: ignore[arg-type]


@lru_cache(maxsize=8192)
def _parse_gold(latex: str):
    return _parse(latex)


def _parse(latex: str):
    from math_verify import parse

    return parse(f"${latex}$", fallback_mode="no_fallback", parsing_timeout=None)


@lru_cache(maxsize=16384)
def _compare_parsed(gold: str, pred: str) -> tuple[str, str]:
    """(status, reason) for two normalized answers through sympy; "unparsed" when the
    prediction does not parse. Cached: the k samples of one prompt often share an answer."""
    gold_parsed = _parse_gold(gold)
    if not gold_parsed:
        return "bad_gold", "gold does not parse"
    pred_parsed = _parse(pred)
    if not pred_parsed:
        return "unparsed", ""
    return ("correct" if _mv_equal(gold_parsed, pred_parsed, gold, pred) else "incorrect"), "sympy"


def _mv_equal(gold_parsed, pred_parsed, gold_text: str, pred_text: str) -> bool:
    from math_verify import verify

    if not verify(gold_parsed, pred_parsed, timeout_seconds=None, allow_set_relation_comp=True):
        return False
    return _confirm(gold_parsed[0], pred_parsed[0], gold_text, pred_text)


def _confirm(gold, pred, gold_text: str, pred_text: str) -> bool:
    """Re-check a math-verify `True` where it is known to be loose."""
    import sympy

    if not isinstance(gold, sympy.Basic) or not isinstance(pred, sympy.Basic):
        return True
    try:
        if isinstance(gold, sympy.Expr) and isinstance(pred, sympy.Expr):
            if gold.free_symbols or pred.free_symbols:
                return True
            if gold.atoms(sympy.Float) or pred.atoms(sympy.Float):
                return _decimal_agrees(gold, pred, gold_text, pred_text)
            # math-verify compares (a - b).evalf(chop=True) == 0, which chops tiny values:
            # 1/2004! - 1/2006! ~ 1e-5700 "equals" 0. Compare relative to the size instead.
            diff = (gold - pred).evalf(30)
            scale = max(abs(gold.evalf(30)), abs(pred.evalf(30)))
            if diff == 0:
                return True
            if diff.is_number and scale.is_number and scale != 0:
                return bool(abs(diff) <= scale * sympy.Float("1e-20"))
            return True
        if isinstance(gold, sympy.Eq) and isinstance(pred, sympy.Eq):
            g, p = gold.lhs - gold.rhs, pred.lhs - pred.rhs
            if not (g.free_symbols and p.free_symbols):
                return True
            # Two equations describe the same solution set when one is a constant multiple of
            # the other; a single-variable assignment (x = 3 vs x = 3.0) has already been
            # compared value to value by math-verify.
            if len(g.free_symbols | p.free_symbols) < 2:
                return True
            ratio = sympy.simplify(g / p)
            return bool(ratio.is_number and ratio != 0)
    except Exception:
        return True
    return True


def _as_fraction(expr) -> Fraction | None:
    try:
        value = expr.evalf(40)
        if not value.is_real:
            return None
        return Fraction(Decimal(str(value)))
    except (InvalidOperation, ValueError, TypeError, AttributeError):
        return None


def _decimal_agrees(gold, pred, gold_text: str, pred_text: str) -> bool:
    """A number written with decimals against another number: a decimal standing for an exact
    value must carry 6 significant digits and be within one unit of its last digit (the rule of
    numbers_equal), instead of math-verify's rounding to 6 decimal places, under which 10^{-20}
    equals 0; two inexact values agree to 6 significant digits."""
    import sympy

    g, p = _as_fraction(gold), _as_fraction(pred)
    if g is None or p is None:
        return True
    for exact_expr, exact, text, _decimal in ((gold, g, pred_text, p), (pred, p, gold_text, g)):
        written = parse_number(text)
        if written is not None and not written.exact and not written.percent and not exact_expr.atoms(sympy.Float):
            if isinstance(exact_expr, sympy.Rational):
                return numbers_equal(Num(Fraction(int(exact_expr.p), int(exact_expr.q)), True, False), written, text, "")
            return approximates(written.value, text, exact)
    scale = max(abs(g), abs(p))
    return scale == 0 or abs(g - p) <= scale * Fraction(1, 10**6)


def verify_math(response: str, gold: str) -> Verdict:
    """`math` verifier: the final answer of `response` equals `gold` as mathematics."""
    candidate = extract_answer(response)
    if candidate is None:
        return Verdict.fail("no_answer", "no boxed answer, answer line or number found")
    return compare_math(candidate, gold)
