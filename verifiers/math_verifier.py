"""The `math` verifier: our extraction and exact fast paths, then math-verify and sympy.

Order of work for one (response, gold):
  1. extract the final answer (verifiers/extract.py); none -> no_answer;
  2. normalize both; equal strings -> correct (no sympy);
  3. both plain numbers (integer, decimal, fraction, percent, repeating decimal), or both
     lists of them with the same brackets (tuples, sets, intervals with \\infty) -> decided
     exactly with Fractions (no sympy);
  4. guards: an answer too long or too deeply nested for sympy, or a numeric power tower such
     as 10^{10^{10}}, is reported as error `too_complex` instead of being handed to sympy;
  5. math-verify `parse` + `verify(gold, pred)` with gold as the reference (it is not
     symmetric), its signal-based timeouts disabled (they break off the main thread; the
     runner's kill is the timeout), then our two checks on its `True`s for its known false
     positives: exact numbers are compared at 30 digits relative precision (1/2004! is not
     1/2006!), and two equations with variables must be proportional (two different lines are
     not equal).

Gold parses are cached per process (in pass@k the same gold comes k times), and so are sympy
comparisons of a (gold, answer) pair (the k samples often agree on an answer).

Example:
    >>> verify_math("so x = 3, i.e. $\\\\boxed{x = 3}$", "3").status
    'correct'
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache

from assay.verifiers.extract import (
    Num,
    extract_answer,
    last_boxed,
    normalize,
    number_lists_equal,
    numbers_equal,
    parse_number,
    parse_number_list,
    string_key,
)
from assay.verifiers.verdict import Verdict

MAX_SYMPY_CHARS = 1000  # no real final answer is longer; long text only feeds sympy's slow paths
MAX_FALLBACK_CHARS = 4000  # math-verify's own extraction over the whole response, only when short
MAX_NESTING = 40  # brackets deeper than this are pathological (5,000 nested parentheses)
_NUMERIC_TOWER = re.compile(r"\^\s*\{?\s*\(?\s*\d+\s*\)?\s*\^")  # 10^{10^...}: a number raised to a power in an exponent
_HUGE_EXPONENT = re.compile(r"\^\s*\{?\s*\d{7,}")  # 10^{1000000000}
_HUGE_FACTORIAL = re.compile(r"\d{6,}\s*!")
_ASSIGNMENT = re.compile(r"^\s*(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?\w+\}?)?\s*=\s*(?P<rhs>[^=<>]+)$")


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
    numbers: tuple[str, list] | None  # a list, tuple, set or interval of plain numbers


def _answer(text: str) -> _Answer:
    normalized = normalize(text)
    number = parse_number(normalized)
    return _Answer(normalized, string_key(normalized), number, None if number else parse_number_list(normalized))


@lru_cache(maxsize=8192)
def _gold_answer(gold: str) -> _Answer:
    return _answer(_strip_gold(gold))


def _strip_gold(gold: str) -> str:
    boxed = last_boxed(gold) if "\\boxed" in gold or "\\fbox" in gold else None
    return boxed if boxed is not None else gold


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


@lru_cache(maxsize=8192)
def _parse_gold(latex: str):
    return _parse(latex)


def _parse(latex: str):
    from math_verify import parse

    return parse(f"${latex}$", fallback_mode="no_fallback", parsing_timeout=None)


def _mv_equal(gold_parsed, pred_parsed) -> bool:
    from math_verify import verify

    if not verify(gold_parsed, pred_parsed, timeout_seconds=None, allow_set_relation_comp=True):
        return False
    return _confirm(gold_parsed[0], pred_parsed[0])


def _confirm(gold, pred) -> bool:
    """Re-check a math-verify `True` where it is known to be loose."""
    import sympy

    if not isinstance(gold, sympy.Basic) or not isinstance(pred, sympy.Basic):
        return True
    try:
        if isinstance(gold, sympy.Expr) and isinstance(pred, sympy.Expr):
            if gold.free_symbols or pred.free_symbols or gold.atoms(sympy.Float) or pred.atoms(sympy.Float):
                return True
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


def compare_math(candidate: str, gold: str, response: str | None = None) -> Verdict:
    """Compare an extracted answer with the gold (see the module docstring for the order)."""
    gold_answer = _gold_answer(gold)
    if not gold_answer.normalized:
        return Verdict.fail("bad_gold", "empty gold answer")
    pred = _answer(candidate)
    if not pred.normalized:
        return Verdict.fail("no_answer", "empty answer", candidate)
    if pred.key == gold_answer.key:
        return Verdict.of(True, candidate, "string")
    # `x = 3` against a gold of `3`: compare the right-hand side.
    if "=" not in gold_answer.normalized:
        assignment = _ASSIGNMENT.match(pred.normalized)
        if assignment:
            pred = _answer(assignment.group("rhs"))
            if pred.key == gold_answer.key:
                return Verdict.of(True, candidate, "string")
    if gold_answer.number is not None and pred.number is not None:
        return Verdict.of(numbers_equal(gold_answer.number, pred.number), candidate, "number")
    if gold_answer.numbers is not None and pred.numbers is not None:
        equal = number_lists_equal(gold_answer.numbers, pred.numbers)
        if equal is not None:
            return Verdict.of(equal, candidate, "numbers")
    why = too_complex(gold_answer.normalized)
    if why:
        return Verdict.fail("bad_gold", f"too_complex: {why}")
    why = too_complex(pred.normalized)
    if why:
        return Verdict.fail("error", f"too_complex: {why}", candidate)
    status, reason = _compare_parsed(gold_answer.normalized, pred.normalized)
    if status != "unparsed":
        return Verdict(status, 1.0 if status == "correct" else 0.0, candidate, reason)  # type: ignore[arg-type]
    pred_parsed = []
    if response is not None and len(response) <= MAX_FALLBACK_CHARS:
        # Our candidate is not LaTeX sympy can read; let math-verify's own extraction try.
        from math_verify import parse

        pred_parsed = parse(response, fallback_mode="no_fallback", parsing_timeout=None)
        if pred_parsed and too_complex(str(pred_parsed[0])[:MAX_SYMPY_CHARS + 1]):
            pred_parsed = []
    if not pred_parsed:
        return Verdict.of(False, candidate, "answer does not parse")
    return Verdict.of(_mv_equal(_parse_gold(gold_answer.normalized), pred_parsed), candidate, "sympy")


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
    return ("correct" if _mv_equal(gold_parsed, pred_parsed) else "incorrect"), "sympy"


def verify_math(response: str, gold: str) -> Verdict:
    """`math` verifier: the final answer of `response` equals `gold` as mathematics."""
    candidate = extract_answer(response)
    if candidate is None:
        return Verdict.fail("no_answer", "no boxed answer, answer line or number found")
    return compare_math(candidate, gold, response)
