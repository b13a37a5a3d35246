"""Answer extraction and normalization: pure string work, no sympy, linear in the input.

`extract_answer` finds the final answer in a model response, in this order:
  1. the last `\\boxed{...}` / `\\fbox{...}` (braces balanced);
  2. the last anchor: a `#### N` line (GSM8K), `Answer: X` / `**Final Answer:** X`, or
     `the (final) answer is X`, whichever comes last in the response;
  3. no anchor: the rightmost of the last math segment (`$...$`, `\\(...\\)`, `\\[...\\]`), the
     last markdown-bold phrase holding a digit or LaTeX, and the last number.
`normalize` turns an answer into a canonical LaTeX string (delimiters, spacing commands,
`\\dfrac`, `\\text{}` wrappers, degrees, units after a number, thousands separators, number
words), and `parse_number` reads a plain number (integer, decimal, fraction, percent,
repeating decimal) exactly as a Fraction, which is the fast path that runs before sympy.

Example:
    >>> extract_answer("so the total is $1{,}000$ dollars.\\n\\n**Answer:** $1{,}000$")
    '1{,}000'
    >>> normalize("\\\\$1{,}000\\\\text{ dollars}")
    '1000'
    >>> parse_number("0.\\\\overline{3}")
    Num(value=Fraction(1, 3), exact=True, percent=False)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} or \\fbox{...}, braces balanced; None when there is none."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    head = text[start:].split("{", 1)[0]
    if head not in ("\\boxed", "\\fbox") and not head.startswith(("\\boxed ", "\\fbox ")):
        return None
    if head != "\\boxed" and head != "\\fbox":
        # `\boxed 5` (no braces) is valid LaTeX for a single token.
        match = re.match(r"\\(?:boxed|fbox) +([^\s$]+)", text[start:])
        return match.group(1).rstrip(".") if match else None
    brace = start + len(head)
    depth = 0
    for i in range(brace, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[brace + 1 : i].strip() or None
    return None  # unbalanced braces: the response was cut off inside the box


# Anchored answers. Each captures the rest of its line; `_clean` trims it to the answer.
_ANCHORS = (
    re.compile(r"(?m)^[ \t]*#{4}[ \t]*(?P<a>[^\n]+)"),
    re.compile(r"(?i)\banswer\**[ \t]*[:：][ \t]*\**[ \t]*(?P<a>[^\n]*\S)"),
    re.compile(r"(?i)\banswer[ \t]+is[ \t]*:?[ \t]*\**[ \t]*(?P<a>[^\n]*\S)"),
)
_MATH_SEGMENT = re.compile(r"\$\$(?P<d>[^$]+)\$\$|\$(?P<i>[^$\n]+)\$|\\\((?P<p>.+?)\\\)|\\\[(?P<b>.+?)\\\]", re.DOTALL)
_BOLD = re.compile(r"\*\*(?P<a>[^*\n]{1,120})\*\*")
_NUMBER = re.compile(r"-?\d{1,3}(?:(?:,|\\,|\{,\})\d{3})+(?:\.\d+)?%?|-?\d+(?:\.\d+)?(?:/\d+)?%?|-?\.\d+%?")
_SENTENCE_END = re.compile(r"\.(?:\s|$)|;|\s(?:because|since|which|so|as)\s", re.IGNORECASE)


def extract_answer(response: str) -> str | None:
    """The final answer in `response` as it was written (not normalized); None when there is none."""
    boxed = last_boxed(response)
    if boxed is not None:
        return boxed
    if "\\boxed{" in response or "\\fbox{" in response:
        return None  # the response was cut off inside its box: no final answer
    anchored = None
    for pattern in _ANCHORS:
        for match in pattern.finditer(response):
            if anchored is None or match.start() > anchored.start():
                anchored = match
    if anchored is not None:
        cleaned = _clean(anchored.group("a"))
        if cleaned:
            return cleaned
    return _unanchored(response)


def _clean(tail: str) -> str | None:
    """The answer inside an anchored line: its first math segment, else the text up to the end
    of the sentence, without markdown."""
    segment = _MATH_SEGMENT.search(tail)
    if segment is not None:
        return next(g for g in segment.groups() if g is not None).strip() or None
    end = _SENTENCE_END.search(tail)
    text = tail[: end.start()] if end else tail
    text = text.replace("**", "").strip().strip("*_`").strip().rstrip(".,;:!").strip()
    return text or None


def _unanchored(response: str) -> str | None:
    best: tuple[int, str] | None = None
    for match in _MATH_SEGMENT.finditer(response):
        text = next(g for g in match.groups() if g is not None).strip()
        if text and (best is None or match.end() >= best[0]):
            best = (match.end(), text)
    for match in _BOLD.finditer(response):
        text = match.group("a").strip()
        if re.search(r"[\d\\]", text) and not text.endswith(":") and (best is None or match.end() > best[0]):
            best = (match.end(), _clean(text) or text)
    last_number = None
    for last_number in _NUMBER.finditer(response):
        pass
    if last_number is not None and (best is None or last_number.end() > best[0]):
        best = (last_number.end(), last_number.group())
    return best[1] if best else None


# ---------------------------------------------------------------------------------------------
# Normalization

_DELIMITERS = re.compile(r"\\[()\[\]]|\$")
_SPACING = re.compile(r"(?<!\\)\\[,;:! ]|\\quad|\\qquad|~|\\left|\\right|\\displaystyle|\\big|\\Big")
_TEXT_WRAP = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree")
_THOUSANDS = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?%?$")
_SPACE_THOUSANDS = re.compile(r"^-?\d{1,3}(?: \d{3})+(?:\.\d+)?%?$")
_UNITS = re.compile(r"^(?P<n>-?[\d.,]+%?)\s*(?:(?P<word>[A-Za-z]{2,}(?:[ /.]+[A-Za-z]+)*\.?)|\s(?P<one>[A-Za-z])\.?)$")
_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
_WORDS.update({w: str(10 * i) for i, w in enumerate("thirty forty fifty sixty seventy eighty ninety".split(), start=3)})
_WORDS.update({"hundred": "100", "one hundred": "100", "a hundred": "100", "thousand": "1000", "one thousand": "1000"})


def normalize(answer: str) -> str:
    """Canonical LaTeX for an answer: same meaning, one spelling, single spaces."""
    s = "".join(ch for ch in answer if ch.isascii() or unicodedata.category(ch) != "Cf").strip()
    s = _DELIMITERS.sub(" ", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\dbinom", "\\binom").replace("\\tbinom", "\\binom")
    s = s.replace("{,}", ",").replace("\\%", "%").replace("\\cdot", "\\cdot ").replace("\\infty", "\\infty ")
    s = _SPACING.sub(" ", s)
    s = _DEGREES.sub("", s)
    for _ in range(3):  # nested wrappers such as \text{\textbf{x}}
        unwrapped = _TEXT_WRAP.sub(r"\1", s)
        if unwrapped == s:
            break
        s = unwrapped
    s = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", s)
    s = " ".join(s.split()).strip().rstrip(".").strip()
    if s.lower() in _WORDS:
        return _WORDS[s.lower()]
    if _SPACE_THOUSANDS.match(s):
        s = s.replace(" ", "")
    units = _UNITS.match(s)
    if units and units.group("n").strip(".,"):
        s = units.group("n").rstrip(".,")
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    return s


def string_key(normalized: str) -> str:
    """The form compared for plain string equality: no whitespace, no braces around one token."""
    key = "".join(normalized.split())
    return re.sub(r"\{(\w)\}", r"\1", key)


# ---------------------------------------------------------------------------------------------
# Numbers


@dataclass(frozen=True)
class Num:
    value: Fraction
    exact: bool  # False when written as a decimal: compared after rounding to 6 places, as math-verify does
    percent: bool  # written with a % sign: may stand for value or value / 100


_DECIMAL = re.compile(r"^([+-]?)(\d*)(?:\.(\d*))?(?:\\overline\{(\d+)\}|\\overline(\d))?$")
_FRACTION = re.compile(r"^([+-]?)\\frac\{([+-]?\d+)\}\{([+-]?\d+)\}$|^([+-]?\d+)\s*/\s*(\d+)$")
MAX_NUMBER_CHARS = 400  # longer literals go to sympy, which caps them itself


def parse_number(normalized: str) -> Num | None:
    """A plain number written in `normalized`, exactly; None for anything else."""
    s = normalized.replace(" ", "")
    if not s or len(s) > MAX_NUMBER_CHARS:
        return None
    percent = s.endswith("%")
    if percent:
        s = s[:-1]
    match = _DECIMAL.match(s)
    if match and (match.group(2) or match.group(3)):
        sign, whole, frac, rep_braced, rep_single = match.groups()
        repeat = rep_braced or rep_single
        frac = frac or ""
        value = Fraction(int(whole or "0") * 10 ** len(frac) + int(frac or "0"), 10 ** len(frac))
        if repeat:
            # 0.1\overline{6} = 0.1 + 6 / (9 * 10)
            value += Fraction(int(repeat), (10 ** len(repeat) - 1) * 10 ** len(frac))
        exact = not frac or bool(repeat)
        return Num(-value if sign == "-" else value, exact, percent)
    match = _FRACTION.match(s)
    if match:
        sign, num, den, plain_num, plain_den = match.groups()
        num, den = (num, den) if num is not None else (plain_num, plain_den)
        if int(den) == 0:
            return None
        value = Fraction(int(num), int(den))
        return Num(-value if sign == "-" else value, True, percent)
    return None


def numbers_equal(gold: Num, pred: Num) -> bool:
    """Exact when both are exact; else equal after rounding to 6 decimal places (math-verify's
    float rule, so 1/3 == 0.333333 but 1/3 != 0.33). A percent may stand for value or value/100."""
    golds = [gold.value] + ([gold.value / 100] if gold.percent else [])
    preds = [pred.value] + ([pred.value / 100] if pred.percent else [])
    exact = gold.exact and pred.exact
    for g in golds:
        for p in preds:
            if g == p or (not exact and round(g, 6) == round(p, 6)):
                return True
    return False


_BRACKETS = {"(": ")", "[": "]", "\\{": "\\}"}
INFINITY = {"\\infty": "oo", "+\\infty": "oo", "-\\infty": "-oo", "\\infinity": "oo"}


def parse_number_list(normalized: str) -> tuple[str, list[Num | str]] | None:
    """A list of plain numbers (or +-infinity): `1, 2, 3`, `(1, 2)`, `[a, \\infty)`, `\\{1, 2\\}`;
    returns (brackets, elements), brackets being e.g. "" or "()" or "[)"; None otherwise."""
    s = normalized.strip()
    if "," not in s or len(s) > MAX_NUMBER_CHARS:
        return None
    opening = next((o for o in ("\\{", "(", "[") if s.startswith(o)), "")
    closing = ""
    if opening:
        closing = next((c for c in ("\\}", ")", "]") if s.endswith(c)), "")
        if not closing or (opening == "\\{") != (closing == "\\}"):
            return None
        s = s[len(opening) : -len(closing)]
    elements: list[Num | str] = []
    for part in s.split(","):
        part = part.strip()
        if part in INFINITY:
            elements.append(INFINITY[part])
            continue
        number = parse_number(part)
        if number is None or number.percent:
            return None
        elements.append(number)
    return opening + closing, elements


def _element_equal(a: Num | str, b: Num | str) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return numbers_equal(a, b)


def number_lists_equal(gold: tuple[str, list[Num | str]], pred: tuple[str, list[Num | str]]) -> bool | None:
    """Equal lists of numbers: in order for tuples and intervals, as multisets for bare lists and
    sets; None when the bracket types differ (a question for sympy: (1, 2) may be a tuple or an
    open interval, `1, 2` a set)."""
    (gold_kind, gold_items), (pred_kind, pred_items) = gold, pred
    if gold_kind != pred_kind:
        return None
    if len(gold_items) != len(pred_items):
        return False
    if gold_kind in ("", "\\{\\}"):
        remaining = list(pred_items)
        for g in gold_items:
            match = next((i for i, p in enumerate(remaining) if _element_equal(g, p)), None)
            if match is None:
                return False
            remaining.pop(match)
        return True
    return all(_element_equal(g, p) for g, p in zip(gold_items, pred_items))
