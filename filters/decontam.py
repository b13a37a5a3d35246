"""Benchmark decontamination: find prompts that contain (or template) a benchmark problem.

Layers, each one function or class, each finding tagged with the layer that fired:

| method         | catches                                   | how                                                   |
|----------------|-------------------------------------------|-------------------------------------------------------|
| `ngram`        | verbatim, case/space changes, embedded    | n-grams of normalised tokens (default n = 8)          |
|                | copies, LaTeX reformatted or line-wrapped |                                                       |
| `ngram_masked` | templated copies whose numbers changed    | the same n-grams with every number token masked       |
| `semantic`     | paraphrases (optional)                    | sentence-embedding cosine, see assay.filters.semantic |
| temporal rule  | impossible matches                        | a problem released after a row's date cannot be in it |

Normalisation (`match_tokens`): Unicode NFKC, lowercase, then RE2 rewrites (`_RULE_GROUPS`):
every spelling of one operator becomes one token (`\\times`, `\\cdot`, `×`, `·` and `*` are
`*`; `\\div`, `÷` and `/` are `/`; `\\le` and `≤` are `<` `=`), fractions become divisions
(`\\frac{a}{b}`, `\\dfrac`, `\\tfrac`, `\\frac12` and `a/b` are all `a / b`), what only
typesets goes (`$`, `$$`, `\\[`, braces, parentheses, `\\left`, `\\text`, markdown emphasis,
bullets and quotes), a hyphen inside a word joins words (`9-kilometer-long`), thousands
separators are dropped (`1,250` is `1250`); then every other character that is not a letter, a
digit or an operator becomes a space and digit runs are split from letter runs. Operators stay
tokens: `2 - -1`, `2 + 1` and `2 * 1` differ.

Scoring: a benchmark problem's *indexed grams* are its distinct n-grams, minus boilerplate
grams that occur in more than `max_problem_df` problems of the registered benchmarks (AtCoder's
"The input is given from Standard Input in the following format", a generator's fixed
instruction text). A prompt matches a problem when
- the share of the problem's indexed grams found in the prompt (the containment score, 0..1)
  is at least `min_containment` (default 0.5);
- the same share of its grams holding a number (*anchors*) is found: stock phrases are words,
  what makes a problem that problem is its numbers and formulas;
- the matched grams cover the same share of the problem's *own tokens*: its numbers and the
  words no template gram covers (a boilerplate gram with numbers masked). Another item of a
  procedural task shares the task's frame around one of its numbers, not its other numbers.
A copy, even inside a longer prompt, covers all of them.

Short problems: a problem shorter than n tokens has no n-gram. One of 3 tokens or more with a
number or an operator ("compute 17 * 23") is found as a contained token sequence inside a row
(embedded, wrapped, LaTeX-formatted) where no operator next to it continues the expression; an
all-word or 2-token one matches a row that is exactly it. A *framed* problem, a task's frame
around fewer than n tokens of its own ("State the final answer to the following arithmetic
problem: 4 + 3 ="), is matched the same way on the range of its own tokens.

Levels of evidence: every finding carries a level (`LEVELS`). `ngram` findings are
`contaminated` (the Filter drops the row). What an `ngram_masked` finding means is chosen per
benchmark (`MASKED_POLICIES`): `drop` makes it `contaminated` (a numbers-changed copy of a
human-written problem is a GSM-Symbolic-style leak), `flag` makes it `near` (kept and reported:
for a procedural generator another instance of the template is what a clean item is), `off`
skips the layer. The default is `flag`: a default that silently drops clean items is worse than
one that lists them for review, and the benchmark presets of human-written sets (GSM8K, AIME,
MATH-500, ...) choose `drop` (assay.pipelines.steps.benchmarks). Semantic findings are their own level,
`semantic` (assay.filters.semantic), dropped.

The masked layer indexes only grams at least half of whose tokens are words, and skips
problems shorter than n tokens: with numbers masked, "compute N + N * N" names no template.

A problem matched by a stricter layer is not reported again by a looser one for the same row.

Scale: tokens are produced by Arrow's vectorised string kernels, hashed once per distinct
token, and rolled into 64-bit n-gram hashes with numpy; membership is a binary search in the
sorted benchmark grams. Only the few grams that hit are expanded into (row, problem, position)
triples. Memory is bounded by the batch given to `match`.

Example:
    >>> problems = [BenchmarkProblem("aime24", "2024-I-1",
    ...     "Every morning Aya goes for a 9-kilometer-long walk and stops at a coffee shop afterwards.", "204")]
    >>> index = NgramIndex(problems)
    >>> [(f.row, f.method, f.score) for f in index.match(["Solve: EVERY morning Aya goes for a 9-kilometer-long "
    ...     "walk and stops at a coffee shop afterwards. Show work."])]
    [(0, 'ngram', 1.0)]
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from itertools import chain
from typing import Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assay.filters.decision import Decision, require_columns
from assay.verifiers.names import choose

DEFAULT_N = 8  # open-r1's decontamination n-gram size
DEFAULT_MIN_CONTAINMENT = 0.5
DEFAULT_MAX_PROBLEM_DF = 8
SPAN_TOKENS = 40  # a reported span is cut to this many tokens

METHODS = ("ngram", "ngram_masked", "semantic")  # strictest first

# RE2 rewrites applied after NFKC + lowercase, in groups. Operators stay tokens (`2 - -1`,
# `2 + 1` and `2 * 1` differ); every spelling of one operator or fraction becomes one token
# sequence; what only typesets (`$`, `\\[`, braces, parentheses, `\\left`, markdown emphasis,
# bullets and quotes) goes. A group with a trigger runs only on the rows the trigger matches
# (most rows hold no backslash), in this order; each group is (trigger or None, rules), a rule
# (pattern, replacement).
_RULE_GROUPS: tuple[tuple[str | None, tuple[tuple[str, str], ...]], ...] = (
    (r"\\", (
        (r"\\[dt]frac", r"\\frac"),
        (r"\\[dt]binom", r"\\binom"),
        (r"\\frac\s*(\d)\s*(\d)", r" \1 / \2 "),  # \frac12
        (r"\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r" \1 / \2 "),
        (r"\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r" \1 / \2 "),  # twice: a fraction inside a fraction
        (r"\\(?:times|cdot|ast)\b", " * "),
        (r"\\div\b", " / "),
        (r"\\leq?\b|\\leqslant", " <= "),
        (r"\\geq?\b|\\geqslant", " >= "),
        (r"\\neq?\b", " ≠ "),
        (r"\\(?:left|right|bigl|bigr|big|displaystyle|textstyle|text|mathrm|mathbf|textbf|textit|quad|qquad)\b", " "),
    )),
    (r"[×·∗⋅÷−≤≥]|!=", (
        (r"[×·∗⋅]", " * "),
        (r"÷", " / "),
        (r"−", "-"),  # U+2212 MINUS SIGN (NFKC keeps it)
        (r"≤", " <= "),
        (r"≥", " >= "),
        (r"!=", " ≠ "),
    )),
    # Markdown: emphasis (`*` runs touching a word on one side only), a bullet at a line start
    # before a word (a line may start with "- 67"), a quote.
    (r"[*>]|(?m)^\s*[-+]\s", (
        (r"\*\*+", " "),
        (r"(?m)^\s*[-*+]\s+(\p{L})", r" \1"),
        (r"(?m)^\s*>+", " "),
        (r"(^|\s)\*(\p{L})", r"\1\2"),
        (r"(\p{L})\*($|\s|[.,;:!?])", r"\1\2"),
    )),
    # A hyphen inside a word (`9-kilometer-long`, `well-known`) joins words, it is not a minus.
    (r"-\p{L}", (
        (r"([\p{L}\p{N}$})])-(\p{L}\p{L})", r"\1 \2"),
        (r"([\p{L}\p{N}$})])-(\p{L}\p{L})", r"\1 \2"),  # twice: matches cannot overlap in one pass
    )),
    (r"\d,\d", (
        (r"(\d),(\d\d\d)\b", r"\1\2"),
        (r"(\d),(\d\d\d)\b", r"\1\2"),  # twice: 1,234,567
    )),
    # One character at a time, spaces left alone: a `+` run over every space costs 4x more.
    (None, (
        (r"[^\p{L}\p{N}+\-*/=<>^≠ ]", " "),
        (r"([+\-*/=<>^≠])", r" \1 "),
    )),
    (r"\p{N}\p{L}|\p{L}\p{N}", (
        (r"(\p{N})(\p{L})|(\p{L})(\p{N})", r"\1\3 \2\4"),
        (r"(\p{N})(\p{L})|(\p{L})(\p{N})", r"\1\3 \2\4"),  # twice: "x2y" has two boundaries sharing the 2
    )),
)

_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multiplier for the rolling gram hash
# A gram is looked up in the sorted postings only when its top bits are set in a bitmap:
# with ~10**5..10**6 benchmark grams, 2**24 entries (16 MB) reject almost every clean gram with
# one memory read instead of a binary search.
_BITMAP_BITS = 24  # at most: a smaller benchmark gets 16 entries per gram (fewer pages to touch)
_NUMBER = np.uint64(int.from_bytes(hashlib.blake2b(b"<num>", digest_size=8).digest(), "little"))


@dataclass(frozen=True)
class BenchmarkProblem:
    """One evaluation problem, as the registry stores it. `released` is set for dated benchmarks."""

    benchmark: str
    benchmark_id: str
    prompt: str
    answer: str = ""
    released: date | None = None


@dataclass(frozen=True)
class Finding:
    """Row `row` of the batch given to `match` contains benchmark problem (benchmark, benchmark_id)."""

    row: int
    benchmark: str
    benchmark_id: str
    method: str  # one of METHODS
    score: float  # containment share for n-gram layers, cosine for semantic
    span: str  # the matched text, normalised tokens of the problem joined by spaces
    level: str = "contaminated"  # one of LEVELS: contaminated and semantic are dropped, near is kept


# -- normalisation and tokens -----------------------------------------------------------------


def normalize_array(texts: pa.Array) -> pa.Array:
    """Normalised text per row (see the module docstring), tokens separated by single spaces."""
    out = pc.utf8_lower(pc.utf8_normalize(texts, form="NFKC"))
    for trigger, rules in _RULE_GROUPS:
        mask = pc.fill_null(pc.match_substring_regex(out, trigger), False) if trigger else None
        if mask is not None and not pc.any(mask).as_py():
            continue
        part = pc.filter(out, mask) if mask is not None else out
        for pattern, replacement in rules:
            part = pc.replace_substring_regex(part, pattern=pattern, replacement=replacement)
        out = pc.replace_with_mask(out, mask, part) if mask is not None else part
    return pc.utf8_trim_whitespace(out)


def match_tokens(text: str) -> list[str]:
    """The tokens one text is matched on.

    >>> match_tokens("If $\\\\dfrac{ 1 }{2}x = 1,250$,\\nfind X.")
    ['if', '1', '/', '2', 'x', '=', '1250', 'find', 'x']
    """
    return normalize_array(pa.array([text], pa.large_string()))[0].as_py().split()


def _token_hash(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")


@dataclass
class _Tokens:
    """A batch's tokens, flat: hashes (N,), number-masked hashes (N,), row offsets (rows + 1,)."""

    plain: np.ndarray  # uint64
    masked: np.ndarray  # uint64
    offsets: np.ndarray  # int64
    number: np.ndarray  # bool: the token is a number
    word: np.ndarray  # bool: the token is a word (starts with a letter); the rest are operators
    words: pa.Array | None = None  # the token strings (kept for benchmark problems only)


def _tokenize(texts: pa.Array, keep_words: bool = False) -> _Tokens:
    normalized = normalize_array(texts)
    # An empty string splits into one empty token: make it null, which splits into no tokens.
    normalized = pc.if_else(pc.equal(normalized, ""), pa.scalar(None, normalized.type), normalized)
    split = pc.utf8_split_whitespace(normalized)  # list<string> per row
    offsets = split.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    flat = split.flatten()
    if len(flat) == 0:
        empty = np.zeros(0, np.uint64)
        return _Tokens(empty, empty, offsets - offsets[0], np.zeros(0, bool), np.zeros(0, bool), flat if keep_words else None)
    encoded = pc.dictionary_encode(flat)
    vocab = encoded.dictionary.to_pylist()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    vocab_plain = np.fromiter((_token_hash(t) for t in vocab), np.uint64, len(vocab))
    is_number = np.fromiter((t[0].isdigit() or t[0].isnumeric() for t in vocab), bool, len(vocab))
    is_word = np.fromiter((t[0].isalpha() for t in vocab), bool, len(vocab))
    vocab_masked = np.where(is_number, _NUMBER, vocab_plain)
    return _Tokens(vocab_plain[codes], vocab_masked[codes], offsets - offsets[0], is_number[codes], is_word[codes],
                   flat if keep_words else None)


def _gram_rows(offsets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For flat n-gram start positions: (inside one row?, row, start within the row)."""
    total = int(offsets[-1])
    count = max(total - n + 1, 0)
    lengths = np.diff(offsets)
    row = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)[:count]
    start = np.arange(count, dtype=np.int64)
    inside = start + n <= offsets[1:][row]
    return inside, row[inside], start[inside] - offsets[:-1][row[inside]]


def _grams(hashes: np.ndarray, n: int, inside: np.ndarray) -> np.ndarray:
    """Hash of every n-gram that stays inside one row (positions selected by `inside`)."""
    count = len(hashes) - n + 1
    if count <= 0:
        return np.zeros(0, np.uint64)
    gram = hashes[:count].copy()
    with np.errstate(over="ignore"):
        for k in range(1, n):  # polynomial rolling hash, wrapping mod 2**64
            gram *= _MULT
            gram += hashes[k : k + count]
    return gram[inside]


def _whole_hashes(hashes: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Hash of the whole token sequence of each row in `rows`: the rolling gram hash seeded with
    the length, so a sequence of L tokens hashes to `_grams`' value plus L * _MULT**L."""
    return _range_hashes(hashes, offsets[rows], offsets[rows + 1] - offsets[rows])


def _range_hashes(hashes: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """`_whole_hashes` of the token ranges [start, start + length) of the flat token array."""
    out = length.astype(np.uint64)
    with np.errstate(over="ignore"):
        for k in range(int(length.max()) if len(start) else 0):
            inside = k < length
            value = hashes[np.where(inside, start + k, 0)] if len(hashes) else np.zeros(len(start), np.uint64)
            out = np.where(inside, out * _MULT + value, out)
    return out


# -- the n-gram index ---------------------------------------------------------------------------

SHORT_CONTAINED_MIN = 3  # a short problem of at least this many tokens is also found inside a row
_SHORT_BITS = 20  # prefilter for short-problem lookups: 2**20 entries (1 MB)
_SHORT_SHIFT = np.uint64(64 - _SHORT_BITS)

# What the masked layer's findings mean, chosen per benchmark (see the module docstring).
MASKED_POLICIES: dict[str, str | None] = {
    "drop": "contaminated",  # a numbers-changed copy is a leak (human-written sets: GSM8K, AIME, MATH)
    "flag": "near",  # reported for review, kept (procedural sets: another instance is a clean item)
    "off": None,  # the masked layer does not run for this benchmark
}
DEFAULT_MASKED = "flag"
LEVELS = ("contaminated", "semantic", "near")  # strongest first; the first two are dropped
DROP_LEVELS = ("contaminated", "semantic")


@dataclass
class _Layer:
    """Postings of one token flavour (plain or masked), sorted by gram hash."""

    gram: np.ndarray  # (P,) uint64, sorted
    problem: np.ndarray  # (P,) int64
    pos: np.ndarray  # (P,) int64, the gram's start token in the problem
    anchor: np.ndarray  # (P,) bool, the gram holds a number token
    indexed: np.ndarray  # (problems,) indexed grams per problem
    anchors: np.ndarray  # (problems,) indexed grams of the problem that are anchors
    bitmap: np.ndarray  # (2**bits,) bool: some indexed gram has these top `bits` bits
    shift: np.uint64  # 64 - bits
    # Problems shorter than n tokens, per token count L: (sorted L-gram hashes, problems, contained?)
    # Short and framed problems, per token count L: (sorted hashes, problems, contained?, first
    # token of the matched range in the problem); see `_build_short`.
    short: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    short_bitmap: np.ndarray  # (2**_SHORT_BITS,) bool
    own: np.ndarray  # (problem tokens,) bool: no boilerplate gram covers the token (`_own_tokens`)
    own_count: np.ndarray  # (problems,) own tokens per problem


def _own_tokens(boiler_row: np.ndarray, boiler_pos: np.ndarray, offsets: np.ndarray, n: int) -> np.ndarray:
    """(tokens,) bool: the problem tokens that no boilerplate gram covers, what makes a problem
    itself rather than its task's frame ("Mia", "14", "7", "8706" in "Mia reads 14 pages of a
    book every day. The book has 7 pages. How many pages are left after 8706 days?" when the
    task's other items share the rest)."""
    frame = np.zeros(int(offsets[-1]) + 1, np.int64)  # +1 / -1 at each boilerplate gram's ends
    start = offsets[boiler_row] + boiler_pos
    np.add.at(frame, start, 1)
    np.add.at(frame, start + n, -1)
    return np.cumsum(frame)[:-1] == 0


def masked_levels(problems: Sequence[BenchmarkProblem], masked: str | Mapping[str, str]) -> dict[str, str | None]:
    """Level of a masked-layer finding per benchmark (None: the layer is off for it).

    >>> masked_levels([BenchmarkProblem("gsm8k", "0", "x"), BenchmarkProblem("rg", "0", "y")], {"gsm8k": "drop"})
    {'gsm8k': 'contaminated', 'rg': 'near'}
    """
    out = {}
    for name in dict.fromkeys(p.benchmark for p in problems):
        policy = masked if isinstance(masked, str) else masked.get(name, DEFAULT_MASKED)
        out[name] = choose(MASKED_POLICIES, policy, "masked policy")
    return out


class NgramIndex:
    """Layers a (`ngram`) and b (`ngram_masked`) over a fixed list of benchmark problems.

    `masked` is the masked layer's policy (MASKED_POLICIES), one for all benchmarks or one per
    benchmark name (names not given get DEFAULT_MASKED). Build once per run (thousands of
    problems take well under a second), then `match` any number of prompt batches.
    """

    def __init__(
        self,
        problems: Sequence[BenchmarkProblem],
        n: int = DEFAULT_N,
        min_containment: float = DEFAULT_MIN_CONTAINMENT,
        max_problem_df: int = DEFAULT_MAX_PROBLEM_DF,
        masked: str | Mapping[str, str] = DEFAULT_MASKED,
    ):
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        if not 0 < min_containment <= 1:
            raise ValueError(f"min_containment must be in (0, 1], got {min_containment}")
        self.problems = list(problems)
        self.n = n
        self.min_containment = min_containment
        self.max_problem_df = max_problem_df
        self.masked_level = masked_levels(self.problems, masked)
        tokens = _tokenize(pa.array([p.prompt for p in self.problems], pa.large_string()), keep_words=True)
        self._words = tokens.words.to_pylist()  # (problem tokens,) str, for spans
        self._offsets = tokens.offsets
        masked_postings = self._postings(tokens.masked, tokens, masked=True)
        # A problem's own tokens: its numbers, and the words no template gram (a boilerplate gram
        # with numbers masked) covers; a problem with template grams whose own tokens span fewer
        # than n tokens is framed (`_framed`).
        gram, row, pos, _, boiler = masked_postings
        own = _own_tokens(row[boiler], pos[boiler], tokens.offsets, self.n) | tokens.number
        framed = self._framed(np.unique(row[boiler]), own, tokens.offsets)
        everyone = np.ones(len(self.problems), bool)
        plain = self._postings(tokens.plain, tokens, masked=False)
        self._layers = {"ngram": self._build(tokens.plain, tokens, plain, everyone, own, framed)}
        masked_on = np.array([self.masked_level[p.benchmark] is not None for p in self.problems], bool)
        if masked_on.any():
            self._layers["ngram_masked"] = self._build(tokens.masked, tokens, masked_postings, masked_on, own, None)

    def _postings(self, hashes: np.ndarray, tokens: _Tokens, masked: bool):
        """(gram, problem, position, anchor, boilerplate) per distinct posting, sorted by gram."""
        offsets, number = tokens.offsets, tokens.number
        inside, row, pos = _gram_rows(offsets, self.n)
        gram = _grams(hashes, self.n, inside)
        # A gram is an anchor when it holds a number token (see the module docstring).
        numbers_before = np.concatenate([[0], np.cumsum(number)])
        start = np.flatnonzero(inside)
        anchor = numbers_before[start + self.n] - numbers_before[start] > 0
        keep = np.ones(len(row), bool)
        if masked:
            # With numbers masked, a template is its words: a gram that is mostly numbers and
            # operators ("compute N + N * N - N") names no template and would match every
            # expression of the same length.
            words_before = np.concatenate([[0], np.cumsum(tokens.word)])
            keep &= words_before[start + self.n] - words_before[start] >= (self.n + 1) // 2
        gram, row, pos, anchor = gram[keep], row[keep], pos[keep], anchor[keep]
        # Keep one posting per (gram, problem, position), then drop boilerplate grams.
        order = np.lexsort((pos, row, gram))
        gram, row, pos, anchor = gram[order], row[order], pos[order], anchor[order]
        distinct_pair = np.ones(len(gram), bool)
        distinct_pair[1:] = (gram[1:] != gram[:-1]) | (row[1:] != row[:-1])
        uniq, counts = np.unique(gram[distinct_pair], return_counts=True)
        boiler = uniq[counts > self.max_problem_df]
        return gram, row, pos, anchor, (np.isin(gram, boiler) if len(boiler) else np.zeros(len(gram), bool))

    def _build(self, hashes: np.ndarray, tokens: _Tokens, postings, include: np.ndarray, own: np.ndarray, framed) -> _Layer:
        offsets = tokens.offsets
        gram, row, pos, anchor, boiler = postings
        keep = ~boiler & include[row]
        if framed is not None:
            keep &= ~np.isin(row, framed[0])  # framed problems are matched on their own part only
        gram, row, pos, anchor = gram[keep], row[keep], pos[keep], anchor[keep]
        first = np.ones(len(gram), bool)  # distinct grams per problem, counted once
        first[1:] = (gram[1:] != gram[:-1]) | (row[1:] != row[:-1])
        indexed = np.bincount(row[first], minlength=len(self.problems))
        bits = int(np.clip(np.ceil(np.log2(max(len(gram), 1) * 16)), 12, _BITMAP_BITS))
        shift = np.uint64(64 - bits)
        bitmap = np.zeros(1 << bits, bool)
        bitmap[gram >> shift] = True
        anchors = np.bincount(row[first & anchor], minlength=len(self.problems))
        masked = hashes is tokens.masked
        short, short_bitmap = self._build_short(hashes, tokens, framed) if not masked else ({}, np.zeros(1 << _SHORT_BITS, bool))
        own_count = np.add.reduceat(own, offsets[:-1]) if len(own) else np.zeros(len(self.problems), np.int64)
        own_count = np.where(np.diff(offsets) > 0, own_count, 0)  # reduceat repeats a value at empty rows
        return _Layer(gram, row, pos, anchor, indexed, anchors, bitmap, shift, short, short_bitmap, own, own_count)

    def _framed(self, problems: np.ndarray, own: np.ndarray, offsets: np.ndarray):
        """Of `problems` (those with template grams), the ones that are a shared frame around
        fewer than n tokens of their own: (problems, first own token, own range length), or None.

        "State the final answer to the following arithmetic problem: 4 + 3 =" is the frame of a
        whole task plus "4 + 3 =". Its non-boilerplate grams are all frame and one or two of its
        own tokens, so half of them are found in another item of the task that starts with 4:
        such a problem is matched as a short problem on the range of its own tokens instead.
        """
        lengths = np.diff(offsets)
        own = np.flatnonzero(own)
        owner = np.searchsorted(offsets, own, side="right") - 1
        first = np.full(len(lengths), -1, np.int64)
        last = np.full(len(lengths), -1, np.int64)
        relative = own - offsets[owner]
        np.maximum.at(last, owner, relative)
        first[owner[::-1]] = relative[::-1]  # the smallest position per problem wins (last write)
        span = last - first + 1
        problems = problems[(first[problems] >= 0) & (span[problems] < self.n) & (lengths[problems] >= self.n)]
        return (problems, first[problems], span[problems]) if len(problems) else None

    def _build_short(self, hashes: np.ndarray, tokens: _Tokens, framed):
        # A problem shorter than n tokens has no n-gram. One of SHORT_CONTAINED_MIN tokens or
        # more with a number or an operator ("compute 17 * 23") is found inside a row, where no
        # operator next to it continues its expression; a shorter or all-word one matches only
        # a row that is exactly it. A framed problem (`_framed`) is found where the range of its
        # own tokens is, under the same rule, from 2 tokens. With numbers masked a short problem
        # is only its template ("compute N * N"), so the masked layer skips short problems.
        offsets = tokens.offsets
        lengths = np.diff(offsets)
        short = np.flatnonzero((lengths > 0) & (lengths < self.n))
        start, length, first = offsets[short], lengths[short], np.zeros(len(short), np.int64)
        mathy_before = np.concatenate([[0], np.cumsum(~tokens.word)])
        contained = (mathy_before[start + length] - mathy_before[start] > 0) & (length >= SHORT_CONTAINED_MIN)
        if framed is not None:
            own, own_first, own_len = framed
            short = np.concatenate([short, own])
            start = np.concatenate([start, offsets[own] + own_first])
            length = np.concatenate([length, own_len])
            first = np.concatenate([first, own_first])
            contained = np.concatenate([contained, own_len >= 2])
        keys = _range_hashes(hashes, start, length)
        by_len = {}
        for size in np.unique(length).tolist():
            sel = length == size
            order = np.argsort(keys[sel])
            by_len[size] = (keys[sel][order], short[sel][order], contained[sel][order], first[sel][order])
        bitmap = np.zeros(1 << _SHORT_BITS, bool)
        bitmap[keys >> _SHORT_SHIFT] = True
        return by_len, bitmap

    def stats(self) -> dict[str, int]:
        """Problems, indexed grams, and problems that no layer can match (all boilerplate)."""
        layer = self._layers["ngram"]
        lengths = np.diff(self._offsets)
        return {
            "problems": len(self.problems),
            "grams": int(len(np.unique(layer.gram))),
            "short_problems": int(sum(len(v[1]) for v in layer.short.values())),
            "unmatchable_problems": int(np.sum((layer.indexed == 0) & (lengths >= self.n)) + np.sum(lengths == 0)),
        }

    def match(self, prompts: pa.Array | Sequence[str]) -> list[Finding]:
        """Findings for a batch of prompts; `Finding.row` indexes the batch. Nulls match nothing."""
        texts = prompts if isinstance(prompts, (pa.Array, pa.ChunkedArray)) else pa.array(list(prompts), pa.large_string())
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks()
        tokens = _tokenize(texts.cast(pa.large_string()))
        findings: list[Finding] = []
        done: set[tuple[int, int]] = set()  # (row, problem) pairs already reported by a stricter layer
        inside, gram_row, _ = _gram_rows(tokens.offsets, self.n)  # shared by both layers
        for method, layer in self._layers.items():
            hashes = tokens.plain if method == "ngram" else tokens.masked
            hits = self._match_layer(layer, hashes, tokens.offsets, inside, gram_row)
            if method == "ngram":
                hits = chain(hits, self._match_short(layer, hashes, tokens))
            for row, problem, score, run in hits:
                if (row, problem) in done:
                    continue
                done.add((row, problem))
                p = self.problems[problem]
                level = "contaminated" if method == "ngram" else self.masked_level[p.benchmark]
                findings.append(Finding(row, p.benchmark, p.benchmark_id, method, score, self._span(problem, run), level))
        findings.sort(key=lambda f: (f.row, METHODS.index(f.method), -f.score, f.benchmark, f.benchmark_id))
        return findings

    def _match_layer(self, layer: _Layer, hashes: np.ndarray, offsets: np.ndarray, inside: np.ndarray, row: np.ndarray):
        """Yield (row, problem, score, (first, last) matched token run in the problem)."""
        gram = _grams(hashes, self.n, inside)
        if not (len(layer.gram) and len(gram)):
            return
        maybe = layer.bitmap[gram >> layer.shift]
        gram, row = gram[maybe], row[maybe]
        left = np.searchsorted(layer.gram, gram, side="left")
        right = np.searchsorted(layer.gram, gram, side="right")
        hit = right > left
        left, right, hit_row = left[hit], right[hit], row[hit]
        width = right - left
        # Expand each hit into its postings: (row, posting index).
        post = np.repeat(left - np.cumsum(width) + width, width) + np.arange(width.sum())
        rows = np.repeat(hit_row, width)
        problems, positions = layer.problem[post], layer.pos[post]
        # Distinct (row, problem, position), then matched grams per (row, problem).
        # Positions of one gram value in one problem all count: repeated grams were deduplicated
        # in `indexed`, so count distinct gram hashes instead of positions.
        # One int64 per (row, problem) pair; one uint64 per (pair, gram), whose rare hash
        # collisions could only merge two grams of one pair (1-D uniques: axis=1 ones are slow).
        stride = len(self.problems) + 1
        pair = rows * stride + problems
        with np.errstate(over="ignore"):
            triple = pair.astype(np.uint64) * _MULT + layer.gram[post]
        _, first = np.unique(triple, return_index=True)
        keys, counts = np.unique(pair[first], return_counts=True)  # sorted pairs, distinct grams matched
        share = counts / np.maximum(layer.indexed[keys % stride], 1)
        fire = share >= self.min_containment - 1e-12
        # A problem with numbers must also be matched on that share of its grams holding one:
        # another instance of a long template shares its words and a number or two, not the
        # grams around the other numbers.
        first = first[layer.anchor[post][first]]
        akeys, acounts = np.unique(pair[first], return_counts=True)
        where = np.minimum(np.searchsorted(akeys, keys), max(len(akeys) - 1, 0))
        matched = np.where(akeys[where] == keys, acounts[where], 0) if len(akeys) else np.zeros(len(keys), np.int64)
        pairs = np.stack([keys // stride, keys % stride])
        need = layer.anchors[pairs[1]]
        fire &= (need == 0) | (matched >= self.min_containment * need - 1e-9)
        if fire.any():
            firing = {(int(r), int(p)): float(s) for r, p, s in zip(pairs[0][fire], pairs[1][fire], share[fire])}
            yield from self._runs(layer, firing, rows, problems, positions)

    def _match_short(self, layer: _Layer, hashes: np.ndarray, tokens: _Tokens):
        """Yield (row, problem, 1.0, run) for short problems found in the rows (see `_build_short`)."""
        if not layer.short or not len(hashes):
            return
        offsets = tokens.offsets
        operator = ~tokens.word & ~tokens.number
        gram = hashes.copy()  # gram[k]: hash of the L tokens starting at flat position k
        seed = np.uint64(1)  # _MULT**L, for the length seed of `_whole_hashes`
        with np.errstate(over="ignore"):
            for length in range(1, max(layer.short) + 1):
                if length > 1:
                    gram = gram[:-1] * _MULT + hashes[length - 1 :]
                seed = seed * _MULT
                if length not in layer.short or not len(gram):
                    continue
                keys, problems, contained, first = layer.short[length]
                key = gram + np.uint64(length) * seed
                at = np.flatnonzero(layer.short_bitmap[key >> _SHORT_SHIFT])
                left = np.searchsorted(keys, key[at], side="left")
                right = np.searchsorted(keys, key[at], side="right")
                hit = right > left
                at, left, right = at[hit], left[hit], right[hit]
                row = np.searchsorted(offsets, at, side="right") - 1
                start, end = offsets[row], offsets[row + 1]
                whole = (at == start) & (at + length == end)
                # Contained: inside the row, and no operator continues the expression (a number
                # may: "Problem 3: compute ..." loses its colon to normalisation).
                inside = at + length <= end
                free_before = (at == start) | ~operator[np.maximum(at - 1, 0)]
                free_after = (at + length >= end) | ~operator[np.minimum(at + length, len(operator) - 1)]
                free = inside & free_before & free_after
                for r, lo, hi, w, f in zip(row.tolist(), left.tolist(), right.tolist(), whole.tolist(), free.tolist()):
                    for k in range(lo, hi):
                        if w or (f and contained[k]):
                            yield r, int(problems[k]), 1.0, (int(first[k]), int(first[k]) + length - 1)

    def _runs(self, layer: _Layer, firing, rows, problems, positions):
        """Yield the firing pairs whose matched grams also cover `min_containment` of the
        problem's own tokens (another item of a task shares the frame around one of its numbers,
        not the problem's other own tokens), with the longest matched run."""
        stride = len(self.problems) + 1
        keys = np.array(sorted(r * stride + p for r, p in firing), np.int64)
        pk = rows * stride + problems
        sel = np.isin(pk, keys)
        pk, pos = pk[sel], positions[sel]
        order = np.lexsort((pos, pk))
        pk, pos = pk[order], pos[order]
        distinct = np.ones(len(pk), bool)
        distinct[1:] = (pk[1:] != pk[:-1]) | (pos[1:] != pos[:-1])
        pk, pos = pk[distinct], pos[distinct]
        # Own tokens covered per pair: the distinct (pair, token) of every matched gram's n tokens.
        total = int(self._offsets[-1]) + 1
        token = (self._offsets[pk % stride] + pos)[:, None] + np.arange(self.n)  # (postings, n)
        covered_keys = np.unique(np.repeat(pk, self.n) * total + token.ravel())
        covered = np.bincount(np.searchsorted(keys, covered_keys // total), weights=layer.own[covered_keys % total],
                              minlength=len(keys))
        bounds = np.searchsorted(pk, keys, side="left").tolist() + [len(pk)]
        starts = pos.tolist()
        for k, key in enumerate(keys.tolist()):
            r, p = divmod(key, stride)
            if covered[k] < self.min_containment * layer.own_count[p] - 1e-9:
                continue
            yield r, p, min(firing[(r, p)], 1.0), _longest_run(starts[bounds[k]:bounds[k + 1]], self.n)

    def _span(self, problem: int, run: tuple[int, int]) -> str:
        start = int(self._offsets[problem])
        first, last = run
        words = self._words[start + first : start + first + min(last - first + 1, SPAN_TOKENS)]
        return " ".join(words) + (" ..." if last - first + 1 > SPAN_TOKENS else "")


def _longest_run(starts: list[int], n: int) -> tuple[int, int]:
    """Token range (first, last) of the longest stretch covered by n-grams starting at `starts`."""
    best = (starts[0], starts[0] + n - 1)
    first, last = starts[0], starts[0] + n - 1
    for s in starts[1:]:
        if s <= last + 1:
            last = max(last, s + n - 1)
        else:
            first, last = s, s + n - 1
        if last - first > best[1] - best[0]:
            best = (first, last)
    return best


# -- layer d: the temporal rule -----------------------------------------------------------------


def impossible_by_date(row_date: date | None, released: date | None) -> bool:
    """True when a problem released after the row's date is matched: it cannot be a copy.

    A row dated 2023-05-01 cannot contain a LiveCodeBench problem first published 2024-02-10;
    a textual match is then a coincidence (a shared template) and is dismissed, not reported.
    Undated rows or undated problems are never dismissed.
    """
    return row_date is not None and released is not None and released > row_date


def release_window(released: Iterable[date | None], cutoff: date) -> dict[str, int]:
    """Split a dated benchmark's problems at a data cutoff.

    Problems released after the cutoff cannot be in data collected before it (a clean
    evaluation window); those released on or before it are flagged at risk.
    """
    counts = {"after_cutoff": 0, "at_risk": 0, "undated": 0}
    for day in released:
        counts["undated" if day is None else "after_cutoff" if day > cutoff else "at_risk"] += 1
    return counts


# -- the Filter contract ------------------------------------------------------------------------


@dataclass(frozen=True)
class ContaminationConfig:
    """The contamination filter's input besides the batch: what the decontamination step found,
    by uid (a Finding's `row` is not read here). The pipeline builds it from the catalog's
    contamination table (assay.pipelines.decontaminate.contamination_filter); `of_matches`
    builds it from an index's `match` over a batch."""

    findings: Mapping[str, Sequence[Finding]] = field(metadata={"input": "the decontamination step's findings"})

    @classmethod
    def of_matches(cls, uids: Sequence[str], findings: Iterable[Finding]) -> "ContaminationConfig":
        """The findings of `match` over a batch whose rows have these uids, by uid."""
        by_uid: dict[str, list[Finding]] = {}
        for f in findings:
            by_uid.setdefault(uids[f.row], []).append(f)
        return cls({uid: tuple(found) for uid, found in by_uid.items()})


def contamination(table: pa.Table, config: ContaminationConfig) -> Decision:
    """Drop every row (by its `uid`) with a finding of a drop level.

    Findings at level `near` keep their row (they are reported for review, not dropped). The
    reason names the strongest dropping finding (`contaminated: BENCH/ID (method score)`); the
    score column `contamination` holds the highest dropping score per row and `near` the
    highest near score (0 where none).

    >>> batch = pa.table({"uid": ["a", "b", "c"]})
    >>> config = ContaminationConfig.of_matches(["a", "b", "c"], [Finding(0, "b", "1", "ngram", 1.0, "x"),
    ...                                                         Finding(2, "b", "2", "ngram_masked", 0.8, "y", "near")])
    >>> d = contamination(batch, config)
    >>> d.keep.to_pylist(), d.scores["near"].to_pylist()
    ([False, True, True], [0.0, 0.0, 0.8])
    """
    require_columns(table, "contamination", text=("uid",))
    best: dict[int, Finding] = {}
    near: dict[int, float] = {}
    for i, uid in enumerate(table.column("uid").to_pylist()):
        for f in config.findings.get(uid, ()):
            if f.level not in DROP_LEVELS:
                near[i] = max(near.get(i, 0.0), f.score)
            elif i not in best or f.score > best[i].score:
                best[i] = f
    num_rows = table.num_rows
    keep = [i not in best for i in range(num_rows)]
    reason = [
        None if i not in best else f"contaminated: {best[i].benchmark}/{best[i].benchmark_id} ({best[i].method} {best[i].score:.2f})"
        for i in range(num_rows)
    ]
    score = [best[i].score if i in best else 0.0 for i in range(num_rows)]
    near_score = [near.get(i, 0.0) for i in range(num_rows)]
    return Decision(pa.array(keep, pa.bool_()), pa.array(reason, pa.string()),
                    {"contamination": pa.array(score, pa.float64()), "near": pa.array(near_score, pa.float64())})
