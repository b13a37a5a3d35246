"""Benchmark decontamination: find prompts that contain (or template) a benchmark problem.

Layers, each one function or class, each finding tagged with the layer that fired:

| method         | catches                                   | how                                                   |
|----------------|-------------------------------------------|-------------------------------------------------------|
| `ngram`        | verbatim, case/space changes, embedded    | n-grams of normalised tokens (default n = 8)          |
|                | copies, LaTeX reformatted or line-wrapped |                                                       |
| `ngram_masked` | templated copies whose numbers changed    | the same n-grams with every number token masked       |
| `semantic`     | paraphrases (optional)                    | sentence-embedding cosine, see assay.filters.semantic |
| temporal rule  | impossible matches                        | a problem released after a row's date cannot be in it |

Normalisation (`match_tokens`): Unicode NFKC, lowercase, LaTeX spellings unified (`\\dfrac`
and `\\tfrac` to `\\frac`, `\\dbinom` to `\\binom`, `\\leq` to `\\le`, `\\geq` to `\\ge`,
`\\frac12` to `\\frac 1 2`, and the presentational `\\left`, `\\right`, `\\displaystyle`,
`\\text`, `\\mathrm`, `\\mathbf`, `\\quad` dropped), thousands separators dropped (`1,250` is
`1250`), then every character that is not a letter or a digit becomes a space and digit runs
are split from letter runs. Tokens are what is left. So `$`, braces, the spaces inside braces,
line breaks and punctuation never change a match: `\\dfrac{ 1 }{2}` and `\\frac{1}{2}` are both
`frac 1 2`.

Scoring: a benchmark problem's *indexed grams* are its distinct n-grams, minus boilerplate
grams that occur in more than `max_problem_df` problems of the registered benchmarks (AtCoder's
"The input is given from Standard Input in the following format" and the like). A prompt
matches a problem when the share of the problem's indexed grams found in the prompt (the
containment score, 0..1) is at least `min_containment` (default 0.5), and, when the problem
has numbers, at least one matched gram holds a number (an *anchor*). One stock phrase shared
with a problem ("find the number of ordered pairs of positive integers such that") covers a
few grams of a problem's dozens and does not fire; where a short problem is mostly such a
phrase, the anchor rule still keeps the phrase alone from firing: stock phrases are words, and
what makes a problem that problem is its numbers and formulas. A copy, even inside a longer
prompt, covers all of the grams. Problems shorter than n tokens have no n-gram: they match a prompt whose
whole token sequence equals theirs (score 1.0).

The masked layer indexes only grams at least half of whose tokens are words, and skips
problems shorter than n tokens: with numbers masked, "compute N N N N N N N" names no template
and would match every expression of that length, and a short problem's numbers are most of
what makes it that problem.

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
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assay.filters.decision import Decision

DEFAULT_N = 8  # open-r1's decontamination n-gram size
DEFAULT_MIN_CONTAINMENT = 0.5
DEFAULT_MAX_PROBLEM_DF = 8
SPAN_TOKENS = 40  # a reported span is cut to this many tokens

METHODS = ("ngram", "ngram_masked", "semantic")  # strictest first

# RE2 rewrites applied after NFKC + lowercase, in order. Each is (pattern, replacement).
_LATEX_RULES: tuple[tuple[str, str], ...] = (
    (r"\\[dt]frac", r"\\frac"),
    (r"\\[dt]binom", r"\\binom"),
    (r"\\leq?\b|\\leqslant", r" le "),
    (r"\\geq?\b|\\geqslant", r" ge "),
    (r"\\neq?\b", r" ne "),
    (r"\\frac\s*(\d)\s*(\d)", r"\\frac \1 \2"),
    (r"\\(?:left|right|bigl|bigr|big|displaystyle|textstyle|text|mathrm|mathbf|textbf|textit|quad|qquad)\b", " "),
    (r"(\d),(\d\d\d)\b", r"\1\2"),
    (r"(\d),(\d\d\d)\b", r"\1\2"),  # twice: 1,234,567 (matches cannot overlap in one pass)
    (r"[^\p{L}\p{N}]+", " "),
    (r"(\p{N})(\p{L})", r"\1 \2"),
    (r"(\p{L})(\p{N})", r"\1 \2"),
)

_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multiplier for the rolling gram hash
# A gram is looked up in the sorted postings only when its top bits are set in a bitmap:
# with ~10**5..10**6 benchmark grams, 2**24 entries (16 MB) reject almost every clean gram with
# one memory read instead of a binary search.
_BITMAP_BITS = 24
_BITMAP_SHIFT = np.uint64(64 - _BITMAP_BITS)
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


# -- normalisation and tokens -----------------------------------------------------------------


def normalize_array(texts: pa.Array) -> pa.Array:
    """Normalised text per row (see the module docstring), tokens separated by single spaces."""
    out = pc.utf8_lower(pc.utf8_normalize(texts, form="NFKC"))
    for pattern, replacement in _LATEX_RULES:
        out = pc.replace_substring_regex(out, pattern=pattern, replacement=replacement)
    return pc.utf8_trim_whitespace(out)


def match_tokens(text: str) -> list[str]:
    """The tokens one text is matched on.

    >>> match_tokens("If $\\\\dfrac{ 1 }{2}x = 1,250$,\\nfind X.")
    ['if', 'frac', '1', '2', 'x', '1250', 'find', 'x']
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
        return _Tokens(empty, empty, offsets - offsets[0], np.zeros(0, bool), flat if keep_words else None)
    encoded = pc.dictionary_encode(flat)
    vocab = encoded.dictionary.to_pylist()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    vocab_plain = np.fromiter((_token_hash(t) for t in vocab), np.uint64, len(vocab))
    is_number = np.fromiter((t[0].isdigit() or t[0].isnumeric() for t in vocab), bool, len(vocab))
    vocab_masked = np.where(is_number, _NUMBER, vocab_plain)
    return _Tokens(vocab_plain[codes], vocab_masked[codes], offsets - offsets[0], is_number[codes], flat if keep_words else None)


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
    """Hash of the whole token sequence of each row in `rows`, all shorter than n tokens."""
    start, length = offsets[rows], offsets[rows + 1] - offsets[rows]
    out = length.astype(np.uint64)
    with np.errstate(over="ignore"):
        for k in range(int(length.max()) if len(rows) else 0):
            inside = k < length
            value = hashes[np.where(inside, start + k, 0)] if len(hashes) else np.zeros(len(rows), np.uint64)
            out = np.where(inside, out * _MULT + value, out)
    return out


# -- the n-gram index ---------------------------------------------------------------------------


@dataclass
class _Layer:
    """Postings of one token flavour (plain or masked), sorted by gram hash."""

    gram: np.ndarray  # (P,) uint64, sorted
    problem: np.ndarray  # (P,) int64
    pos: np.ndarray  # (P,) int64, the gram's start token in the problem
    anchor: np.ndarray  # (P,) bool, the gram holds a number token
    indexed: np.ndarray  # (problems,) indexed grams per problem
    has_anchor: np.ndarray  # (problems,) bool, some indexed gram of the problem is an anchor
    bitmap: np.ndarray  # (2**_BITMAP_BITS,) bool: some indexed gram has these top bits
    short_hash: np.ndarray  # (S,) uint64 whole-sequence hashes of problems shorter than n, sorted
    short_problem: np.ndarray  # (S,) int64
    short_len: np.ndarray  # (S,) token count


class NgramIndex:
    """Layers a (`ngram`) and b (`ngram_masked`) over a fixed list of benchmark problems.

    Build once per run (thousands of problems take well under a second), then `match` any
    number of prompt batches.
    """

    def __init__(
        self,
        problems: Sequence[BenchmarkProblem],
        n: int = DEFAULT_N,
        min_containment: float = DEFAULT_MIN_CONTAINMENT,
        max_problem_df: int = DEFAULT_MAX_PROBLEM_DF,
        masked: bool = True,
    ):
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        if not 0 < min_containment <= 1:
            raise ValueError(f"min_containment must be in (0, 1], got {min_containment}")
        self.problems = list(problems)
        self.n = n
        self.min_containment = min_containment
        self.max_problem_df = max_problem_df
        tokens = _tokenize(pa.array([p.prompt for p in self.problems], pa.large_string()), keep_words=True)
        self._words = tokens.words
        self._offsets = tokens.offsets
        self._layers = {"ngram": self._build(tokens.plain, tokens.offsets, tokens.number, masked=False)}
        if masked:
            self._layers["ngram_masked"] = self._build(tokens.masked, tokens.offsets, tokens.number, masked=True)

    def _build(self, hashes: np.ndarray, offsets: np.ndarray, number: np.ndarray, masked: bool) -> _Layer:
        inside, row, pos = _gram_rows(offsets, self.n)
        gram = _grams(hashes, self.n, inside)
        # A gram is an anchor when it holds a number token (see the module docstring).
        numbers_before = np.concatenate([[0], np.cumsum(number)])
        start = np.flatnonzero(inside)
        numbers_in_gram = numbers_before[start + self.n] - numbers_before[start]
        anchor = numbers_in_gram > 0
        if masked:
            # With numbers masked, a template is its words: a gram that is mostly numbers
            # ("compute N N N N N N N") names no template and would match every expression
            # of the same length.
            wordy = self.n - numbers_in_gram >= (self.n + 1) // 2
            gram, row, pos, anchor = gram[wordy], row[wordy], pos[wordy], anchor[wordy]
        # Keep one posting per (gram, problem, position), then drop boilerplate grams.
        order = np.lexsort((pos, row, gram))
        gram, row, pos, anchor = gram[order], row[order], pos[order], anchor[order]
        distinct_pair = np.ones(len(gram), bool)
        distinct_pair[1:] = (gram[1:] != gram[:-1]) | (row[1:] != row[:-1])
        uniq, start, counts = np.unique(gram[distinct_pair], return_index=True, return_counts=True)
        boiler = set(uniq[counts > self.max_problem_df].tolist())
        keep = ~np.isin(gram, np.fromiter(boiler, np.uint64, len(boiler))) if boiler else np.ones(len(gram), bool)
        gram, row, pos, anchor = gram[keep], row[keep], pos[keep], anchor[keep]
        first = np.ones(len(gram), bool)  # distinct grams per problem, counted once
        first[1:] = (gram[1:] != gram[:-1]) | (row[1:] != row[:-1])
        indexed = np.bincount(row[first], minlength=len(self.problems))
        bitmap = np.zeros(1 << _BITMAP_BITS, bool)
        bitmap[gram >> _BITMAP_SHIFT] = True
        lengths = np.diff(offsets)
        # A problem shorter than n tokens matches only as a whole; with its numbers masked it
        # would match every other instance of its (tiny) template, so the masked layer skips it.
        short = np.flatnonzero((lengths > 0) & (lengths < self.n) & (not masked))
        short_hash = _whole_hashes(hashes, offsets, short)
        order = np.argsort(short_hash)
        has_anchor = np.bincount(row[anchor], minlength=len(self.problems)) > 0
        return _Layer(gram, row, pos, anchor, indexed, has_anchor, bitmap, short_hash[order], short[order], lengths[short][order])

    def stats(self) -> dict[str, int]:
        """Problems, indexed grams, and problems that no layer can match (all boilerplate)."""
        layer = self._layers["ngram"]
        lengths = np.diff(self._offsets)
        return {
            "problems": len(self.problems),
            "grams": int(len(np.unique(layer.gram))),
            "short_problems": int(len(layer.short_problem)),
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
            for row, problem, score, run in self._match_layer(layer, hashes, tokens.offsets, inside, gram_row):
                if (row, problem) in done:
                    continue
                done.add((row, problem))
                p = self.problems[problem]
                findings.append(Finding(row, p.benchmark, p.benchmark_id, method, score, self._span(problem, run)))
        findings.sort(key=lambda f: (f.row, METHODS.index(f.method), -f.score, f.benchmark, f.benchmark_id))
        return findings

    def _match_layer(self, layer: _Layer, hashes: np.ndarray, offsets: np.ndarray, inside: np.ndarray, row: np.ndarray):
        """Yield (row, problem, score, (first, last) matched token run in the problem)."""
        gram = _grams(hashes, self.n, inside)
        if len(layer.gram) and len(gram):
            maybe = layer.bitmap[gram >> _BITMAP_SHIFT]
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
            keyed = np.unique(np.stack([rows, problems, layer.gram[post].view(np.int64)]), axis=1)
            pairs, counts = np.unique(keyed[:2], axis=1, return_counts=True)
            share = counts / np.maximum(layer.indexed[pairs[1]], 1)
            fire = share >= self.min_containment - 1e-12
            # A problem with numbers must be matched on at least one gram holding one of them.
            stride = len(self.problems) + 1
            anchored = np.unique(rows[layer.anchor[post]] * stride + problems[layer.anchor[post]])
            fire &= ~layer.has_anchor[pairs[1]] | np.isin(pairs[0] * stride + pairs[1], anchored)
            if fire.any():
                firing = {(int(r), int(p)): float(s) for r, p, s in zip(pairs[0][fire], pairs[1][fire], share[fire])}
                yield from self._runs(firing, rows, problems, positions)
        if len(layer.short_hash):
            lengths = np.diff(offsets)
            candidates = np.flatnonzero(np.isin(lengths, layer.short_len)).astype(np.int64)
            whole = _whole_hashes(hashes, offsets, candidates)
            left = np.searchsorted(layer.short_hash, whole, side="left")
            right = np.searchsorted(layer.short_hash, whole, side="right")
            for r, lo, hi in zip(candidates, left, right):
                for k in range(lo, hi):
                    problem = int(layer.short_problem[k])
                    yield int(r), problem, 1.0, (0, int(layer.short_len[k]) - 1)

    def _runs(self, firing, rows, problems, positions):
        stride = len(self.problems) + 1
        want = np.fromiter((r * stride + p for r, p in firing), np.int64, len(firing))
        sel = np.isin(rows * stride + problems, want)
        matched: dict[tuple[int, int], list[int]] = {}
        for r, p, pos in zip(rows[sel].tolist(), problems[sel].tolist(), positions[sel].tolist()):
            matched.setdefault((r, p), []).append(pos)
        for (r, p), score in firing.items():
            yield r, p, min(score, 1.0), _longest_run(sorted(set(matched[(r, p)])), self.n)

    def _span(self, problem: int, run: tuple[int, int]) -> str:
        start = int(self._offsets[problem])
        first, last = run
        words = self._words.slice(start + first, min(last - first + 1, SPAN_TOKENS)).to_pylist()
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


def contamination_decision(num_rows: int, findings: Iterable[Finding]) -> Decision:
    """Decision for a batch of `num_rows` rows: drop every row with a finding.

    The reason names the strongest finding (`contaminated: BENCH/ID (method score)`); the score
    column `contamination` holds the highest score per row (0 for clean rows).
    """
    best: dict[int, Finding] = {}
    for f in findings:
        if f.row not in best or f.score > best[f.row].score:
            best[f.row] = f
    keep = [i not in best for i in range(num_rows)]
    reason = [
        None if i not in best else f"contaminated: {best[i].benchmark}/{best[i].benchmark_id} ({best[i].method} {best[i].score:.2f})"
        for i in range(num_rows)
    ]
    score = [best[i].score if i in best else 0.0 for i in range(num_rows)]
    return Decision(pa.array(keep, pa.bool_()), pa.array(reason, pa.string()), {"contamination": pa.array(score, pa.float64())})
