"""Answer extraction and normalization: pure string work, no sympy, linear in the input.

`extract_answer` finds the final answer of a model response:
  0. only the answer region counts: the text after the last `</think>` (none when a `<think>`
     never closes), cut at a chat template's end-of-turn token;
  1. `<answer>...</answer>` tags: the answer inside every tag;
  2. `\\boxed{...}` / `\\fbox{...}`: every box after the last answer anchor, or every box when no
     anchor precedes one; a box cut off by the end of the response means no answer;
  3. an answer anchor after the last box: `#### X`, `Answer: X`, `**Final Answer**`, `the
     (final) answer is X`; the last one, read from its sentence. Anchors back to back ("The
     answer is 2. The answer is 3.") list several answers; an anchor after reasoning revises
     the one before it ("Answer: 6 ... I double counted ... Answer: 7");
  4. none of these: the whole response or its last line when it is nothing but an answer (a
     response of several such lines is a list), else the last sentence when it concludes (a
     copula such as "is", "are", "equals", "has", or "therefore", "thus", "so", ...) or ends
     in a formula; never a question.
A sentence gives the text after its last copula, else the formulas that end it; a unit phrase
after a number is dropped. A hedged sentence ("7 or maybe 8", "2 (or possibly 3)", "7, but it
could be 8") gives every value it names; a negated one ("not 5") or a bound ("at least 5", "5
or more") gives none. A number is never cut out of a longer expression or word: `x^2`,
`AZYUK2A`, `1.00e+01`, `1+1+1+1` are each read whole, and `2 3` is two numbers, not 23 or 6.
Answers given side by side come back joined as one list, "2, 3": the comparison reads a list
against a single gold as several competing answers, which is wrong.

`normalize` turns an answer into a canonical LaTeX string (delimiters, spacing commands,
`\\dfrac`, `\\text{}` wrappers, degrees, units after a number, thousands separators, number
words), `split_answer` cuts it into its parts, and `parse_number` reads a plain number (integer,
decimal, fraction, mixed number, percent, repeating decimal, scientific notation) exactly as a
Fraction: the fast path that runs before sympy.

Separators, the documented rule: `1,000`, `12,000,003`, `1{,}000`, `32,\\! 349`, `70\\,000` and
`1 000` are thousands separators (a comma followed by exactly three digits, outside brackets). A
comma between digits is a decimal comma only when the whole answer is one such number and the
comma cannot be read otherwise: two digits after it (`2,74`, `1000,99`), four or more, or three
after a leading zero (`0,111`). `3,5` stays the list 3, 5; inside brackets a comma always
separates (`(1,100)` is a pair); `32, 349` (a space) is a list.

Example:
    >>> extract_answer("so the total is $1{,}000$ dollars.\\n\\n**Answer:** $1{,}000$")
    '1{,}000'
    >>> extract_answer("Either $\\\\boxed{2}$ or $\\\\boxed{3}$.")
    '2, 3'
    >>> normalize("\\\\$1{,}000\\\\text{ dollars}")
    '1000'
    >>> parse_number("0.\\\\overline{3}")
    Num(value=Fraction(1, 3), exact=True, percent=False)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import NamedTuple

# ---------------------------------------------------------------------------------------------
# Boxes


@dataclass(frozen=True)
class Box:
    start: int
    end: int
    content: str | None  # None when the box is cut off by the end of the text


def find_boxes(text: str) -> list[Box]:
    """Every outermost \\boxed{...} / \\fbox{...} in `text`, in order, braces balanced."""
    boxes: list[Box] = []
    for match in re.finditer(r"\\(?:boxed|fbox)\b", text):
        start = match.start()
        if boxes and start < boxes[-1].end:
            continue  # a box inside a box: part of the outer answer
        i = match.end()
        while i < len(text) and text[i] == " ":
            i += 1
        if i >= len(text) or text[i] != "{":
            # `\boxed 5` (no braces) is valid LaTeX for a single token.
            token = re.match(r"[^\s$]+", text[i:]) if i > match.end() else None
            if token:
                boxes.append(Box(start, i + token.end(), token.group().rstrip(".")))
            continue
        depth = 0
        for j in range(i, len(text)):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    boxes.append(Box(start, j + 1, text[i + 1 : j].strip()))
                    break
        else:
            boxes.append(Box(start, len(text), None))
            break
    return boxes


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} or \\fbox{...}, braces balanced; None when there is none
    (or the last one is cut off or empty)."""
    boxes = find_boxes(text)
    return (boxes[-1].content or None) if boxes else None


# ---------------------------------------------------------------------------------------------
# The answer region, anchors, sentences

# End-of-turn tokens of common chat templates (ChatML, Llama 3, Phi, Gemma, DeepSeek, the toy's
# `<eos>`, SentencePiece `</s>`): text after one is not the model's answer.
_END_OF_TURN = re.compile(r"<\|(?:im_start|im_end|endoftext|eot_id|end_of_text|end)\|>|</s>|<eos>|<end_of_turn>|<｜end▁of▁sentence｜>")

_ANSWER_TAG = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.DOTALL | re.IGNORECASE)
class AnchorPattern(NamedTuple):
    pattern: re.Pattern  # matches an anchor phrase, ending where its answer begins
    one_line: bool  # the answer runs to the end of the line (else on, for display math)
    word: str  # a lowercase word every match holds: the pattern runs only when it occurs


_ANCHORS = (
    AnchorPattern(re.compile(r"(?m)^[ \t>*]*#{4}[ \t]*"), True, "####"),
    AnchorPattern(re.compile(r"(?i)\b(?:final[ \t]+)?answer\**[ \t]*[:：][ \t]*\**[ \t]*"), True, "answer"),
    AnchorPattern(re.compile(r"(?i)\banswer[ \t]+(?:is|would[ \t]+be|will[ \t]+be|should[ \t]+be)\b[ \t]*:?[ \t]*\**[ \t]*"), True, "answer"),
    AnchorPattern(re.compile(r"(?i)\bfinal[ \t]+answer\b[ \t*#]*\n+[ \t]*"), True, "final"),  # a header line
    AnchorPattern(re.compile(r"(?i)\banswer\b[ \t]*(?=\$|\\\(|\\\[)"), False, "answer"),  # "Answer $...$"
)
MATH_SEGMENT = re.compile(
    r"(?<!\\)\$\$(?P<d>.+?)(?<!\\)\$\$|(?<!\\)\$(?P<i>(?:[^$\n]|(?<=\\)\$)+?)(?<!\\)\$|\\\((?P<p>.+?)\\\)|\\\[(?P<b>.+?)\\\]", re.DOTALL
)
# Sentence ends outside math: a period, !, ? or ; before a space, a blank line; an anchored
# sentence also ends at a clause that explains rather than answers ("because", "since", ...).
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|;|\n\s*\n")
_EXPLANATION = re.compile(r"\s(?:because|since|which|as|where|given|when|if)\s", re.IGNORECASE)
_CLOSINGS = re.compile(
    r"(?is)(?:i hope (?:it|this|that) (?:is|was) (?:correct|right|helpful)|i hope (?:this|it|that) helps|"
    r"let me know if[^.\n]*|hope (?:this|it) helps)[.!]*\s*$"
)
_COPULA = re.compile(
    r"(?i)(?:\b(?:is|are|was|were|be|equals?|equal to|gives?|get|gets|got|obtain|obtains|yields?|makes?|comes? to|totals?|"
    r"it's|that's|there's|remains?|has|have|had|costs?|weighs?|needs?|earns?|spends?|pays?|saves?|receives?)\b|[:=]|\\approx|≈)"
)
_CONCLUSION = re.compile(r"(?i)\b(?:therefore|thus|hence|so|consequently|finally|in total|altogether|overall|in conclusion|total)\b")
# Words that offer more than one answer: a clause holding one gives every value it names.
_HEDGES = re.compile(r"(?i)\b(?:or|either|maybe|perhaps|possibly|probably|between|nor|vs|versus)\b")
# The same and words that qualify a value: a unit phrase or a lone number beside one is no answer.
_HEDGE_WORDS = re.compile(r"(?i)\b(?:or|either|maybe|perhaps|possibly|probably|might|not|between|except|nor|vs|versus)\b")
MAX_ANCHORED_CHARS = 2000  # an answer sentence (anchored or concluding) is never longer
MAX_ANCHORS_READ = 16  # anchors read back from the last one, looking for a list of answers


@dataclass(frozen=True)
class Anchor:
    start: int  # where the anchor phrase begins
    answer_start: int  # where the anchored text begins
    text: str  # the anchored text


def _anchors(text: str, patterns: tuple[AnchorPattern, ...] = _ANCHORS) -> list[Anchor]:
    lower = text.lower()
    found = []
    for pattern, one_line, word in patterns:
        if word not in lower:
            continue  # most responses hold no anchor at all
        for match in pattern.finditer(text):
            tail = text[match.end() : match.end() + MAX_ANCHORED_CHARS]
            found.append(Anchor(match.start(), match.end(), tail.split("\n", 1)[0] if one_line else tail))
    return sorted(found, key=lambda a: a.start)


def anchored_sentences(
    text: str, patterns: tuple[AnchorPattern, ...] = _ANCHORS, before: int | None = None, anchors: list[Anchor] | None = None
) -> list[str]:
    """The sentence of the last answer anchor (found by `patterns`, starting at or before
    `before`), preceded by the sentences of the anchors right before it when nothing but a word
    or two stands between them: "The answer is A. The answer is B." states two answers, while
    "Answer: 6 ... I double counted ... Answer: 7" revises the first. Overlapping anchors
    ("Final Answer: The final answer is X") give one sentence."""
    anchors = [a for a in (anchors if anchors is not None else _anchors(text, patterns)) if before is None or a.start <= before]
    anchors = anchors[-MAX_ANCHORS_READ:]
    sentences: list[str] = []
    next_start = None
    for anchor in reversed(anchors):
        sentence = _first_sentence(anchor.text)
        if next_start is not None:
            end = anchor.answer_start + len(sentence)
            if end > next_start:
                continue
            if _words_between(text, end, next_start) > 2:
                break
        sentences.append(sentence)
        next_start = anchor.start
    return list(reversed(sentences))


def _words_between(text: str, start: int, end: int) -> int:
    return len(_NON_WORD.sub(" ", text[start:end]).split())


_NON_WORD = re.compile(r"[\W_]+")


def answer_region(response: str) -> str:
    """The part of a response that may hold its final answer, its runs of spaces collapsed
    (so no pattern here ever rescans a long run of whitespace)."""
    response = _WHITESPACE.sub(_one_space, response)
    for end in _END_OF_TURN.finditer(response):
        if response[: end.start()].strip():
            response = response[: end.start()]  # what follows the turn is not the response
            break
    if "</think>" in response:
        return response.rsplit("</think>", 1)[1]
    if "<think>" in response:
        return ""  # the reasoning never closed: the response was cut off before any answer
    return response


_WHITESPACE = re.compile(r"\s{2,}")


def _one_space(match: re.Match) -> str:
    newlines = match.group().count("\n")
    return "\n\n" if newlines > 1 else "\n" if newlines else " "


def extract_answer(response: str) -> str | None:
    """The final answer in `response` as it was written (not normalized); several answers given
    side by side are joined with ", "; None when there is none."""
    region = answer_region(response)
    tags = [m.group(1) for m in _ANSWER_TAG.finditer(region)]
    if tags:
        # Boxes outside the tags are answers given beside them.
        outside = [b.content for b in find_boxes(_ANSWER_TAG.sub(" ", region)) if b.content]
        return _join([_container_answer(tag) for tag in tags] + outside)
    return _final_answer(region)


def _final_answer(text: str) -> str | None:
    boxes = find_boxes(text)
    if boxes and boxes[-1].content is None:
        return None  # cut off inside its box: no final answer
    anchors = _anchors(text)
    anchor = anchors[-1] if anchors else None
    if anchor is not None and (not boxes or anchor.start >= boxes[-1].end):
        sentences = anchored_sentences(text, anchors=anchors)
        answers = [_sentence_answer(sentence, anchored=True) for sentence in sentences]
        if answers and answers[-1]:
            if boxes and _words_between(text, boxes[-1].end, anchor.start) <= 2:
                answers.insert(0, boxes[-1].content)  # "$\boxed{2}$. Answer: 3" gives both
            return _join(answers)
    if boxes:
        after = [b for b in boxes if anchor is not None and b.start >= anchor.start]
        return _join([b.content or "" for b in after or boxes])
    return _unanchored(text)


def _container_answer(content: str) -> str | None:
    """The answer inside an <answer> tag: its boxes or anchor when it has them, else its text."""
    if find_boxes(content) or _anchors(content):
        return _final_answer(content)
    return _sentence_answer(content.strip(), anchored=True)


def _join(parts: list[str | None]) -> str | None:
    if len(parts) == 1:
        return (parts[0] or "").strip() or None
    unique: list[str] = []
    keys: set[str] = set()
    for part in parts:
        part = (part or "").strip()
        key = string_key(normalize(part)) if part else ""
        if key and key not in keys:
            keys.add(key)
            unique.append(part)
    return ", ".join(unique) if unique else None


def has_anchor(text: str) -> bool:
    """`text` holds an answer anchor ("Answer:", "the final answer is", "####", ...)."""
    return bool(_anchors(text))


def _mask_math(text: str) -> str:
    """`text` with every math segment's inside replaced by '#' (same length), so sentence and
    copula searches do not look into formulas."""
    return MATH_SEGMENT.sub(lambda m: m.group()[0] + "#" * (len(m.group()) - 2) + m.group()[-1], text)


def _first_sentence(tail: str) -> str:
    """The anchored sentence: up to a sentence end or a clause that explains ("because", ...)."""
    masked = _mask_math(tail)
    end = _SENTENCE_END.search(masked)
    clause = _EXPLANATION.search(masked)
    cut = min((m.start() for m in (end, clause) if m is not None), default=len(tail))
    return tail[:cut]


def _last_sentence(text: str) -> str:
    masked = _mask_math(text)
    cut = 0
    for end in _SENTENCE_END.finditer(masked):
        if masked[end.end() :].strip():
            cut = end.end()
    return text[cut:]


def _unanchored(text: str) -> str | None:
    text = _CLOSINGS.sub("", text).strip()
    if not text:
        return None
    lines = [line.replace("**", "").strip() for line in text.splitlines() if line.strip()]
    bare = [_bare_answer(line) for line in lines]
    if all(bare):
        return _join(bare)  # nothing but answers: one line is one answer, several lines a list
    answer = bare[-1]
    if answer:
        return answer
    sentence = _last_sentence(text).strip().replace("**", "")
    if len(sentence) > MAX_ANCHORED_CHARS or sentence.endswith("?"):
        return None  # no concluding sentence is this long, or a question
    masked = _mask_math(sentence)
    ends_in_math = bool(re.search(r"\$\s*$|\\[)\]]\s*$", sentence.rstrip(" .")))
    if _COPULA.search(masked) or _CONCLUSION.search(masked) or ends_in_math:
        return _sentence_answer(sentence, anchored=False)
    return None


# Plain-text mathematics: numbers (thousands groups, decimals, decimal commas, exponents,
# imaginary units), operators and brackets. A formula made only of these is an answer on its own.
_NUMBER_TEXT = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:[.,]\d+)?(?:[eE][+-]?\d+)?|\.\d+"
_FORMULA_WORDS = r"(?:sqrt|sin|cos|tan|cot|sec|csc|log|ln|exp|pi|oo|inf|infinity)"
_FORMULA_TOKEN = re.compile(
    rf"\s+|{_NUMBER_TEXT}|\\[A-Za-z]+|[A-Za-z](?![A-Za-z])|{_FORMULA_WORDS}(?![A-Za-z])"
    r"|[-+*/^=()\[\]{}<>|,.!%×·÷−–±∓²³√π∞≤≥≠_']|\\[{}!,;: ]"
)
_UNIT_PHRASE = re.compile(r"^(?P<n>[-+−]?\s*\$?\s*(?:" + _NUMBER_TEXT + r")\s*%?)\s*(?P<unit>[^\d=+*/^]*)$")
_SPACED_NUMBERS = re.compile(r"\d\s+[\d.]")
_LIST_SEPARATOR = re.compile(r"(?i)\s*(?:(?<!\d),|,(?!\d{3}(?!\d))|;|\bor\b|\band\b|\\text\{\s*(?:or|and)\s*\})\s*")
_NEGATION = re.compile(r"(?i)\b(?:not|never|no)\s*$|n't\s*$")
_BOUNDS = r"(?:at least|at most|more than|less than|greater than|fewer than|smaller than|larger than|up to|over|under|below|above|exceeds?|within)"
_BOUND = re.compile(rf"(?i)\b{_BOUNDS}\s*$")
_BOUND_WORDS = re.compile(rf"(?i)\b{_BOUNDS}\b|\bor (?:more|less|fewer|greater|higher|lower|above|below|so)\b")


def _is_formula(text: str) -> bool:
    """`text` is made only of plain-text mathematics (and holds a digit or LaTeX)."""
    pos = 0
    while pos < len(text):
        token = _FORMULA_TOKEN.match(text, pos)
        if token is None or token.end() == pos:
            return False
        pos = token.end()
    if _SPACED_NUMBERS.search(text) and not _SPACE_THOUSANDS.match(text.strip()) and not _MIXED_NUMBER.match(text.strip()):
        return False  # "2 3": two answers side by side, not a product
    return bool(re.search(r"[\d\\∞π√]", text))


def _bare_answer(text: str) -> str | None:
    """`text` when it is nothing but an answer: one math segment (with a unit phrase after it),
    a formula (math segments inside it unwrapped), a number word, or a number with a unit phrase
    (then the number)."""
    text = text.strip().rstrip(".").strip()
    if not text or len(text) > 400:
        return None
    if number_word(text) is not None:
        return text
    segments = list(MATH_SEGMENT.finditer(text))
    if len(segments) == 1 and segments[0].start() == 0 and _plain_unit(text[segments[0].end() :]):
        return _segment_text(segments[0])  # "$25\pi$ square units"
    plain = MATH_SEGMENT.sub(lambda m: " " + _segment_text(m) + " ", text).strip() if segments else text
    if "$" not in plain and _is_formula(plain):
        return plain
    return _number_with_unit(plain)


def _number_with_unit(text: str) -> str | None:
    """The number of "540 meters", "28 percent", "2,74 $", "42 of them"; None otherwise."""
    text = _PERCENT_WORD.sub("%", text)
    unit = _UNIT_PHRASE.match(text)
    if unit and _plain_unit(unit.group("unit")):
        return unit.group("n").strip()
    return None


def _segment_text(match: re.Match) -> str:
    return next(g for g in match.groups() if g is not None).strip()


def _sentence_answer(sentence: str, anchored: bool) -> str | None:
    """The answer a sentence states. Its clause before a "but" gives the answer (see
    `_clause_answer`); values named after the "but" ("7, but it could be 8") join it as
    competing answers."""
    sentence = _CLOSINGS.sub("", sentence).strip().strip("*_`").strip().rstrip(".,;:!").strip()
    if not sentence:
        return None
    masked = _mask_math(sentence)
    but = re.search(r"(?i),?\s+but\s+", masked)
    head, rest = (sentence[: but.start()], sentence[but.end() :]) if but else (sentence, "")
    answer = _clause_answer(head.strip().rstrip(",").strip(), anchored)
    if answer is None or not rest:
        return answer
    others = [_segment_text(m) for m in MATH_SEGMENT.finditer(rest)]
    others += [m.group() for m in _standalone_numbers(_mask_math(rest))]
    return _join([answer, *others])


def _clause_answer(clause: str, anchored: bool) -> str | None:
    """The answer of one clause: the clause itself when it is a bare answer; else what follows
    its last copula ("... is 12 distinct ways" gives 12), or what precedes it when the rest is
    "the answer"; else the formulas that end it ("so 2 + 1 = 3", "$2$ or $3$"); for an anchored
    clause, else its only standalone number ("Jane left 3 hours ago"). A negated answer ("is not
    5") is none."""
    if not clause:
        return None
    whole = _bare_answer(clause)
    if whole:
        return whole
    masked = _mask_math(clause)
    if anchored and _NEGATION_START.match(masked):
        return None  # "(the answer is) not 3"
    bound = _BOUND_WORDS.search(masked)
    if bound and not _COPULA.search(masked[bound.end() :]):
        return None  # "at least 5", "5 or more": a bound, not a value
    if _HEDGES.search(masked):
        # "7 or maybe 8", "2 (or possibly 3)", "between 2 and 3": every value it names.
        return _join([_segment_text(m) for m in MATH_SEGMENT.finditer(clause)] + [m.group() for m in _standalone_numbers(masked)])
    copulas = [m for m in _COPULA.finditer(masked) if masked[m.end() :].strip()]
    worded = [m for m in copulas if m.group()[:1].isalpha()]
    if worded:
        # "the value is x = -1.3, x = 0": a whole formula after the last word ("is", "are")
        # is the answer, its own equals signs included.
        tail = clause[worded[-1].end() :].strip().strip("*").strip()
        whole = None if _NEGATION_START.match(tail) else _bare_answer(tail)
        if whole:
            return whole
    if copulas:
        tail = clause[copulas[-1].end() :].strip().strip("*").strip()
        if _NEGATION_START.match(tail):
            return None
        if _ANSWER_NOUN.fullmatch(tail):
            # "$x \geq 5$ is the solution": the answer is what comes before the copula.
            return _trailing_run(clause[: copulas[-1].start()])
        answer = _bare_answer(tail) or _number_with_unit(tail) or _trailing_run(tail)
        if answer:
            return answer
    answer = _trailing_run(clause)
    if answer or not anchored:
        return answer
    numbers = {m.group() for m in _standalone_numbers(masked)}
    if len(numbers) == 1 and not _HEDGE_WORDS.search(masked) and not _BOUND_WORDS.search(masked):
        return numbers.pop()
    return None


_NEGATION_START = re.compile(r"(?i)\s*(?:not|never|no)\b")
_ANSWER_NOUN = re.compile(r"(?i)(?:the|our|my)\s+(?:final\s+|correct\s+|only\s+)?(?:answer|solution|result|value)(?:\s+\w+){0,3}")


def _trailing_run(text: str) -> str | None:
    """The formulas that end `text`, several of them joined by ",", "or", "and" kept as a list:
    everything after the last ordinary word, when each listed item is a math segment or a
    formula holding a digit or LaTeX. None when a negation ("not") or a bound ("at least",
    "more than") stands right before it: those do not state the value."""
    masked = _mask_math(text)
    start = 0
    for word in re.finditer(r"[A-Za-z]{2,}", masked):
        if not re.fullmatch(rf"{_FORMULA_WORDS}|or|and", word.group(), re.IGNORECASE) and masked[word.start() - 1 : word.start()] != "\\":
            start = word.end()
    run = text[start:].strip(" ,:*")
    items = [item for item in _LIST_SEPARATOR.split(run) if item.strip()]
    if not items or _NEGATION.search(masked[:start]) or _BOUND.search(masked[:start]):
        return None
    values = []
    for item in items:
        item = item.strip()
        segments = list(MATH_SEGMENT.finditer(item))
        if len(segments) == 1 and segments[0].group() == item:
            values.append(_segment_text(segments[0]))
        elif "$" not in item and _is_formula(item):
            values.append(item)
        else:
            return None
    return ", ".join(values)


_PLAIN_WORDS = re.compile(r"^[A-Za-z€£¥$²³°'’./\s-]*$")


def _plain_unit(phrase: str) -> bool:
    """A unit or noun phrase after a number ("meters", "of them", "distinct ways that ..."):
    letters only, and no word that would join another answer ("or", "and 3") or hedge."""
    phrase = phrase.strip()
    if not phrase:
        return True
    return (bool(_PLAIN_WORDS.match(phrase)) and not _HEDGE_WORDS.search(phrase)
            and not re.search(r"(?i)\b(?:and|to|times|plus|minus|over|divided|squared|cubed)\b", phrase))


_STANDALONE_NUMBER = re.compile(r"(?<![\w.^_{}\\/+*-])-?(?:" + _NUMBER_TEXT + r")%?(?![\w^_{}\\(]|\.\d|[-+*/^]\s*\d)")


def _standalone_numbers(text: str):
    """Numbers that stand alone in prose: not part of a word, a power, a subscript or an
    arithmetic expression."""
    return _STANDALONE_NUMBER.finditer(text)


# ---------------------------------------------------------------------------------------------
# Normalization

_LATEX_THOUSANDS = re.compile(r"(?<=\d)\s*(?:\{\s*,\s*\}|,\s*\\!\s*|,\\,)(?=\d{3}(?!\d))")
_DELIMITERS = re.compile(r"\\[()\[\]]|\$")
_SPACING = re.compile(r"(?<!\\)\\[,;:! ]|\\quad|\\qquad|~|\\left(?![a-z])|\\right(?![a-z])|\\displaystyle|\\big[lr]?|\\Big[lr]?|\\bigg[lr]?")
_TEXT_WRAP = re.compile(
    r"\\(?:text|textbf|textit|textnormal|textrm|textsf|texttt|textup|mathrm|mathbf|mathit|mathsf|mathtt|mbox|hbox|operatorname|boxed|fbox)\s*\{([^{}]*)\}"
)
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree")
_PERCENT_WORD = re.compile(r"(?<=\d)\s*(?:percent(?:age)?|pct)\b", re.IGNORECASE)
_SPACE_THOUSANDS = re.compile(r"^-?\d{1,3}(?: \d{3})+(?:\.\d+)?%?$")
_DECIMAL_COMMA = re.compile(r"^(-?)(\d+),(\d+)(%?)$")
_CURRENCY = re.compile(r"^(?:\\\$|US\$|[€£¥$])\s*|\s*(?:\\\$|[€£¥$])$")
_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
_WORDS.update({w: str(10 * i) for i, w in enumerate("thirty forty fifty sixty seventy eighty ninety".split(), start=3)})
_COMPOUND_WORD = re.compile(r"^(twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)[- ](one|two|three|four|five|six|seven|eight|nine)$")
_WORDS.update({"hundred": "100", "one hundred": "100", "a hundred": "100", "thousand": "1000", "one thousand": "1000"})
_BACKSLASHES = re.compile(r"\\+")
_FRAC_DIGITS = re.compile(r"\\frac\s*(\d)\s*(\d)")  # \frac12
_FRAC_DIGIT = re.compile(r"\\frac\s*(\d)\s*\{")  # \frac3{3}
_SQRT_DIGITS = re.compile(r"\\sqrt\s*(\d+)")  # \sqrt3
_PLAIN_RELATIONS = re.compile(r"\\\\(le|ge|leq|geq|lt|gt|neq)\b")


def number_word(text: str) -> str | None:
    """The digits of a number written as a word ("four", "twenty-one"); None otherwise."""
    lower = text.strip().lower()
    if lower in _WORDS:
        return _WORDS[lower]
    compound = _COMPOUND_WORD.match(lower)
    if compound:
        return str(int(_WORDS[compound.group(1)]) + int(_WORDS[compound.group(2)]))
    return None


def normalize(answer: str) -> str:
    """Canonical LaTeX for an answer: same meaning, one spelling, single spaces."""
    s = answer if answer.isascii() else "".join(ch for ch in answer if ch.isascii() or unicodedata.category(ch) != "Cf")
    s = " ".join(s.split())
    if "\\\\" in s and all(len(run) % 2 == 0 for run in _BACKSLASHES.findall(s)):
        s = _BACKSLASHES.sub(lambda m: m.group()[: len(m.group()) // 2], s)  # escaped twice: `\\frac`
    s = _LATEX_THOUSANDS.sub("", s)
    s = _DELIMITERS.sub(" ", s)
    s = _PLAIN_RELATIONS.sub(r"\\\1", s)  # `\\le` written for `\le`
    for old, new in (("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("\\cfrac", "\\frac"), ("\\dbinom", "\\binom"), ("\\tbinom", "\\binom")):
        s = s.replace(old, new)
    s = s.replace("{,}", ",").replace("\\%", "%").replace("\\cdot", "\\cdot ").replace("\\infty", "\\infty ")
    s = s.replace("−", "-").replace("–", "-").replace("×", "\\times ").replace("·", "\\cdot ").replace("÷", "\\div ")
    s = s.replace("±", "\\pm ").replace("∓", "\\mp ")
    s = _SPACING.sub(" ", s)
    s = _DEGREES.sub("", s)
    for _ in range(3):  # nested wrappers such as \text{\textbf{x}}
        unwrapped = _TEXT_WRAP.sub(r"\1", s)
        if unwrapped == s:
            break
        s = unwrapped
    if "\\frac" in s:
        s = _FRAC_DIGITS.sub(r"\\frac{\1}{\2}", s)
        s = _FRAC_DIGIT.sub(r"\\frac{\1}{", s)
    if "\\sqrt" in s:
        s = _SQRT_DIGITS.sub(r"\\sqrt{\1}", s)
    s = _PERCENT_WORD.sub("%", s)
    s = " ".join(s.split()).strip().rstrip(".").strip()
    s = _CURRENCY.sub("", s).strip()
    word = number_word(s)
    if word is not None:
        return word
    if _SPACE_THOUSANDS.match(s):
        s = s.replace(" ", "")
    s = _strip_unit(s)
    s = _drop_thousands(s)
    decimal = _DECIMAL_COMMA.match(s)
    if decimal:
        sign, whole, frac, percent = decimal.groups()
        if len(frac) == 2 or len(frac) >= 4 or (whole == "0" and len(frac) == 3):
            s = f"{sign}{whole}.{frac}{percent}"
    return s


_GLUED_UNITS = r"(?:cm|mm|km|m|kg|mg|g|ml|mL|l|L|s|ms|h|hrs?|mins?|m²|cm²|km²|m³|cm³|°[CF]?|€|£|¥|\$)"
_UNIT = re.compile(
    r"^(?P<n>[-+]?(?:\d+(?:\.\d+)?|\.\d+|\d{1,3}(?:,\d{3})+(?:\.\d+)?)%?)"
    r"(?:\s*" + _GLUED_UNITS + r"(?:\^\{?[23]\}?|[²³])?|\s+(?P<word>[A-Za-z][A-Za-z'’./ -]*?)(?:\^\{?[23]\}?|[²³])?)\.?$"
)


def _strip_unit(s: str) -> str:
    """`540 meters` -> `540`, `15 cm^2` -> `15`, `1000.99m²` -> `1000.99`; never `2x` or `2 or`."""
    match = _UNIT.match(s)
    if match is None:
        return s
    word = match.group("word")
    if word is not None and (len(word.strip()) < 2 or not _plain_unit(word)):
        return s
    return match.group("n")


_THOUSANDS_GROUP = re.compile(r"(?<![\d.,])[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?(?!\d|,\d)")


def _drop_thousands(s: str) -> str:
    """Remove comma thousands separators outside brackets (inside, a comma separates items)."""
    if "," not in s:
        return s
    out, last = [], 0
    for match in _THOUSANDS_GROUP.finditer(s):
        if _depth_at(s, match.start()) == 0:
            out.append(s[last : match.start()] + match.group().replace(",", ""))
            last = match.end()
    return "".join(out) + s[last:] if out else s


def _depth_at(s: str, index: int) -> int:
    depth = 0
    for ch in s[:index]:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
    return depth


def string_key(normalized: str) -> str:
    """The form compared for plain string equality: no whitespace, no braces around one token."""
    key = "".join(normalized.split())
    return _BRACED_TOKEN.sub(r"\1", key) if "{" in key else key


_BRACED_TOKEN = re.compile(r"\{(\w)\}")


# ---------------------------------------------------------------------------------------------
# Parts of an answer

_OPEN = "([{"
_CLOSE = ")]}"
_WORD_SEPARATOR = re.compile(r"(?<![A-Za-z\\])(?:or|and)(?![a-z])")


def split_answer(normalized: str) -> list[str]:
    """The parts of an answer that lists several: split at commas and semicolons outside
    brackets, and at "or" / "and" / `\\quad`; a single bracketed set `\\{a, b\\}` (or a bare
    LaTeX group `{a, b}`) is opened. `[1, \\infty)` and `(1, 2)` stay one part each.

    >>> split_answer(normalize("x = 1, 2 \\\\text{ or } 3"))
    ['x = 1', '2', '3']
    """
    s = normalized.strip()
    for opening, closing in (("\\{", "\\}"), ("{", "}")):
        if s.startswith(opening) and s.endswith(closing) and _balanced_inside(s, len(opening), len(s) - len(closing)):
            s = s[len(opening) : -len(closing)].strip()
            break
    s = s.replace("\\{", "\x01").replace("\\}", "\x02")  # set braces count as brackets
    if "quad" in s:
        s = re.sub(r"\\q?quad", ",", s)
    parts, depth, last = [], 0, 0
    i = 0
    while i < len(s):
        ch = s[i]
        if ch in _OPEN or ch == "\x01":
            depth += 1
        elif ch in _CLOSE or ch == "\x02":
            depth = max(0, depth - 1)
        elif depth == 0:
            if ch in ",;":
                parts.append(s[last:i])
                last = i + 1
            elif ch in "oa":
                word = _WORD_SEPARATOR.match(s, i)
                if word is not None:
                    parts.append(s[last:i])
                    last = i = word.end()
                    continue
        i += 1
    parts.append(s[last:])
    cleaned = [p.replace("\x01", "\\{").replace("\x02", "\\}").strip() for p in parts]
    cleaned = [re.sub(r"^(?:\\text\s*\{\s*\}|text)\s*", "", p).strip() if "text" in p else p for p in cleaned]
    return [p for p in cleaned if p] or [normalized.strip()]


def _balanced_inside(s: str, start: int, end: int) -> bool:
    depth = 0
    for ch in s[start:end]:
        if ch in "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


EQUALS = re.compile(r"(?<![<>!\\:])=(?!=)")
_APPROX = re.compile(r"\\approx|≈")
_IN = re.compile(r"\\in(?![a-zA-Z])")


def top_level(s: str, pattern: re.Pattern) -> list[re.Match]:
    """Matches of `pattern` outside brackets and braces."""
    out, depth, pos = [], 0, 0
    for match in pattern.finditer(s):
        for ch in s[pos : match.start()]:
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth = max(0, depth - 1)
        pos = match.start()
        if depth == 0:
            out.append(match)
    return out


def cut_at(s: str, matches: list[re.Match]) -> list[str]:
    sides, last = [], 0
    for match in matches:
        sides.append(s[last : match.start()].strip())
        last = match.end()
    return sides + [s[last:].strip()]


def _is_name(lhs: str) -> bool:
    """A left-hand side that names what the right-hand side gives: `x`, `f(x)`, `(p, q)`,
    `|AB|`, `a_{37}`, `S_{MBCN}:S`, `\\frac{NO}{BO}`; not `2x`, `a + 3z`, `x^2` or a number."""
    lhs = lhs.strip()
    if not lhs or not re.search(r"[A-Za-z]", lhs) or re.match(r"[\d.+-]", lhs):
        return False
    return not top_level(lhs, re.compile(r"[-+^]|\\(?:cdot|times|pm)\b"))


def value_side(part: str) -> str:
    """The value a part states: the right-hand side of an assignment or the last side of a
    chain of equalities, the exact side before an approximation; the part itself otherwise."""
    sides = cut_at(part, top_level(part, EQUALS))
    if len(sides) == 2 and not _is_name(sides[0]):
        return part  # an equation such as 2x + 3y = 6
    if len(sides) > 1:
        part = sides[-1] or part
        if len(sides) > 2 and not sides[-1]:
            part = sides[-2]
    approx = cut_at(part, top_level(part, _APPROX))
    if len(approx) > 1:
        exact = approx[-2]
        part = exact if exact and not re.fullmatch(r"[A-Za-z](?:_\{?\w+\}?)?", exact) else approx[-1]
    member = cut_at(part, top_level(part, _IN))
    if len(member) == 2 and _is_name(member[0]):
        part = member[1]
    return part.strip()


# ---------------------------------------------------------------------------------------------
# Numbers


@dataclass(frozen=True)
class Num:
    value: Fraction
    exact: bool  # False when written as a decimal (it may be a rounded value)
    percent: bool  # written with a % sign: may stand for value or value / 100


_DECIMAL = re.compile(r"^([+-]?)(\d*)(?:\.(\d*))?(?:\\overline\{(\d+)\}|\\overline(\d))?$")
_FRACTION = re.compile(r"^([+-]?)\\frac\{([+-]?\d+)\}\{([+-]?\d+)\}$|^([+-]?\d+)\s*/\s*([+-]?\d+)$")
_SCIENTIFIC = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:[eE]([+-]?\d{1,4})|\\times10\^\{?([+-]?\d{1,4})\}?)$")
MAX_NUMBER_CHARS = 400  # longer literals go to sympy, which caps them itself
_MIXED_NUMBER = re.compile(
    r"^([+-]?)(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}$|^([+-]?)(\d+)\s+(\d+)/(\d+)$"
)
_SPACED_DIGITS = re.compile(r"[\d.]\s+[\d.]")


def parse_number(normalized: str) -> Num | None:
    """A plain number written in `normalized`, exactly; None for anything else."""
    mixed = _MIXED_NUMBER.match(normalized.strip())
    if mixed:  # 3\frac{1}{2}, 1 1/2: a whole number and a proper fraction
        sign, whole, num, den = (g for g in mixed.groups() if g is not None)
        if 0 < int(num) < int(den):
            value = int(whole) + Fraction(int(num), int(den))
            return Num(-value if sign == "-" else value, True, False)
    if _SPACED_DIGITS.search(normalized):
        return None  # "2 3" is two numbers, not 23
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
    match = _SCIENTIFIC.match(s)
    if match:
        mantissa, exponent = match.group(1), match.group(2) or match.group(3)
        try:
            value = Fraction(Decimal(mantissa)) * Fraction(10) ** int(exponent)
        except (InvalidOperation, ValueError):
            return None
        return Num(value, False, percent)
    return None


def terminates(value: Fraction) -> bool:
    """`value` has a finite decimal expansion (its denominator has no prime but 2 and 5)."""
    d = value.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


MIN_SIGNIFICANT = 6  # a decimal standing for a non-terminating value needs this many digits


def numbers_equal(gold: Num, pred: Num, pred_text: str = "", gold_text: str = "") -> bool:
    """Equal as numbers. Values with finite decimal expansions compare exactly (2.50 == 2.5,
    10861853.0 != 10861852); a decimal against a value it can only approximate (1/3, 1/12) must
    carry at least 6 significant digits and be within one unit of its last digit (0.333333 and
    0.0833333 match, 0.33 does not). A percent may stand for its value or value / 100."""
    golds = [gold.value] + ([gold.value / 100] if gold.percent else [])
    preds = [pred.value] + ([pred.value / 100] if pred.percent else [])
    for g in golds:
        for p in preds:
            if g == p:
                return True
            if terminates(g) and terminates(p):
                continue  # both exact decimals: they had to be equal
            for exact, approx, text, approx_num in ((g, p, pred_text, pred), (p, g, gold_text, gold)):
                if not approx_num.exact and not terminates(exact) and approximates(approx, text, exact):
                    return True
    return False


def approximates(decimal: Fraction, text: str, exact: Fraction) -> bool:
    """The decimal `decimal` (written as `text`; "" to count its digits) stands for the value
    `exact` that it cannot write out: at least MIN_SIGNIFICANT significant digits, and within
    one unit of its last digit (rounded or cut off)."""
    digits = _significant_digits(text) if text else _significant_digits_of(decimal)
    if digits < MIN_SIGNIFICANT or decimal == 0:
        return False
    return abs(decimal - exact) <= _unit_in_last_place(decimal, digits)


def _significant_digits(text: str) -> int:
    mantissa = re.split(r"[eE]|\\times", text.replace(" ", "").lstrip("+-"))[0].rstrip("%")
    digits = mantissa.replace(".", "").lstrip("0")
    return len(digits)


def _significant_digits_of(value: Fraction) -> int:
    return len(str(Decimal(value.numerator) / Decimal(value.denominator)).replace("-", "").replace(".", "").lstrip("0"))


def _unit_in_last_place(value: Fraction, digits: int) -> Fraction:
    magnitude = Decimal(abs(value.numerator)) / Decimal(value.denominator)
    exponent = magnitude.adjusted()  # floor(log10|value|)
    return Fraction(10) ** (exponent - digits + 1)


INFINITY = {"\\infty": "oo", "+\\infty": "oo", "-\\infty": "-oo", "\\infinity": "oo"}


def parse_number_list(normalized: str) -> tuple[str, list[Num | str]] | None:
    """A bracketed list of plain numbers (or +-infinity): `(1, 2)`, `[a, \\infty)`, `\\{1, 2\\}`;
    returns (brackets, elements), brackets being e.g. "()" or "[)"; None otherwise."""
    s = normalized.strip()
    if "," not in s or len(s) > MAX_NUMBER_CHARS:
        return None
    opening = next((o for o in ("\\{", "(", "[") if s.startswith(o)), "")
    closing = next((c for c in ("\\}", ")", "]") if s.endswith(c)), "")
    if not opening or not closing or (opening == "\\{") != (closing == "\\}"):
        return None
    inner = s[len(opening) : -len(closing)]
    if any(ch in inner for ch in "()[]{}"):
        return None
    elements: list[Num | str] = []
    for part in re.split(r"[,;]", inner):
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
    """Equal bracketed lists of numbers: in order for tuples and intervals, as sets for `\\{\\}`;
    None when the bracket types differ (a question for sympy: an interval against a set)."""
    (gold_kind, gold_items), (pred_kind, pred_items) = gold, pred
    if gold_kind != pred_kind:
        return None
    if gold_kind == "\\{\\}":
        return all(any(_element_equal(g, p) for p in pred_items) for g in gold_items) and all(
            any(_element_equal(g, p) for g in gold_items) for p in pred_items
        )
    if len(gold_items) != len(pred_items):
        return False
    return all(_element_equal(g, p) for g, p in zip(gold_items, pred_items))


# ---------------------------------------------------------------------------------------------
# Complex numbers: a + bi written with plain numbers


@dataclass(frozen=True)
class Complex:
    real: Num
    imag: Num


_REAL_TEXT = r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_COMPLEX = re.compile(
    rf"^(?:(?P<re>[+-]?{_REAL_TEXT})(?P<sign>[+-])|(?P<lead>[+-]))?(?P<im>{_REAL_TEXT})?\*?(?:i|j|\\mathrm\{{i\}}|\\mathit\{{i\}})$"
)
_ZERO = Num(Fraction(0), True, False)
_ONE = Num(Fraction(1), True, False)


def parse_complex(normalized: str) -> Complex | None:
    """`4.0 - 7.0i`, `-2i`, `3+i`: a complex number with a nonzero imaginary part written as
    plain numbers; None for anything else (a real number included)."""
    s = normalized.replace(" ", "")
    match = _COMPLEX.match(s)
    if match is None or len(s) > MAX_NUMBER_CHARS:
        return None
    real = parse_number(match.group("re")) if match.group("re") else _ZERO
    imag = parse_number(match.group("im")) if match.group("im") else _ONE
    if real is None or imag is None:
        return None
    if (match.group("sign") or match.group("lead")) == "-":
        imag = Num(-imag.value, imag.exact, False)
    return Complex(real, imag)
