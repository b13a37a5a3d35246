"""Layer c of decontamination: paraphrases, found by sentence-embedding cosine similarity where
the two texts also agree on their numbers.

A sentence embedding (all-MiniLM-L6-v2 and the like) sees a problem's template, not its numbers:
two instances of one template sit closer than a problem and its paraphrase. So an embedding
match counts only when the row holds every *quantity* of the problem: its numbers, written in
digits or as number words ("three", "twelve", "dozen"), leading zeros aside. A problem without
numbers is keyed by its two rarest words of five letters or more instead. That rule is also
the pruning: only (row, problem) pairs that pass it are embedded and compared, so the model
runs on a small share of the rows.

Steps per batch of rows, vectorised with Arrow and numpy:
1. quantity keys of every row (digit runs and number words, kept only if some problem has them);
2. candidate pairs: rows holding a problem's *pivot* key (its rarest key among the problems),
   then kept only if they hold every key of the problem;
3. the candidate rows are embedded in batches (the model sorts them by length), each pair's
   cosine is a dot product of unit vectors;
4. a pair fires when its cosine is at least its benchmark's threshold.

The threshold is calibrated per benchmark from the benchmark's own problems (`calibrate`):
the cosine of each problem to its nearest neighbour in the same benchmark, at the
`CALIBRATION_QUANTILE` quantile, clipped to [`MIN_THRESHOLD`, `MAX_THRESHOLD`]. A row that
holds all of a problem's numbers and sits closer to it than most of the benchmark's distinct
problems sit to each other is that problem reworded. A fixed `threshold` overrides it.

The model is any sentence-transformers model in a local folder (for example all-MiniLM-L6-v2);
it is loaded with `local_files_only`, so this layer never reaches the network.
sentence-transformers is an optional dependency (`pip install assay[semantic]`) imported only
when a `SemanticIndex` is built.

    >>> sorted(quantities("Three boxes hold 1,250 apples and 007 pears").items())
    [('1', 1), ('250', 1), ('3', 1), ('7', 1)]
    >>> candidate_pairs(["Tom has 3 apples and 12 pears.", "Ann has 5 pears."], [["3", "12"], ["5", "7"]])
    [(0, 0)]

Example with the model (not run as a doctest):
    >>> index = SemanticIndex(problems, "/path/to/all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> index.thresholds  # doctest: +SKIP
    {'gsm8k': 0.71}
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assay.filters.decontam import BenchmarkProblem, Finding, normalize_array

CALIBRATION_QUANTILE = 0.1
MIN_THRESHOLD, MAX_THRESHOLD = 0.6, 0.9
SPAN_CHARS = 300  # the problem text reported as the span is cut to this length
NUMBER_WORDS = {
    w: str(i) for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split())
} | {w: str(10 * i) for i, w in enumerate("thirty forty fifty sixty seventy eighty ninety".split(), start=3)} | {
    "hundred": "100", "thousand": "1000", "million": "1000000", "dozen": "12", "twice": "2", "thrice": "3",
}
_RARE_WORD_MIN = 5  # letters: a number-less problem is keyed by its rarest words at least this long


def _key_lists(texts: pa.Array) -> pa.ListArray:
    """Per text: its digit runs (leading zeros dropped) and number words as digits, and its words."""
    lower = pc.utf8_lower(pc.utf8_normalize(texts, form="NFKC"))
    # One split on everything that is neither a letter nor a digit, then digits apart from letters.
    spaced = pc.replace_substring_regex(lower, pattern=r"(\d)(\p{L})|(\p{L})(\d)", replacement=r"\1\3 \2\4")
    return pc.split_pattern_regex(pc.utf8_trim(spaced, characters=" "), pattern=r"[^\p{L}\p{N}]+")


def _canonical(tokens: pa.Array) -> pa.Array:
    """Digit runs without leading zeros, number words as digits, other tokens as they are."""
    is_digits = pc.match_substring_regex(tokens, r"^\d+$")
    trimmed = pc.utf8_ltrim(tokens, characters="0")
    trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar("0"), trimmed)
    words = pa.array(list(NUMBER_WORDS), pa.string())
    as_number = pc.take(pa.array(list(NUMBER_WORDS.values()), pa.string()), pc.index_in(tokens, value_set=words))
    return pc.if_else(is_digits, trimmed, pc.if_else(pc.is_valid(as_number), as_number, tokens))


def quantities(text: str) -> Counter[str]:
    """The numbers of one text: digit runs without leading zeros, number words as digits."""
    tokens = _canonical(_key_lists(pa.array([text], pa.string())).flatten()).to_pylist()
    return Counter(t for t in tokens if t and t[0].isdigit())


def problem_keys(prompts: Sequence[str]) -> list[list[str]]:
    """Keys per problem: its distinct numbers, or (none) its two rarest long words."""
    lists = _key_lists(pa.array(list(prompts), pa.string()))
    flat = _canonical(lists.flatten())
    offsets = lists.offsets.to_numpy()
    tokens = flat.to_pylist()
    per = [tokens[offsets[i]:offsets[i + 1]] for i in range(len(prompts))]
    df = Counter(t for toks in per for t in set(toks))
    keys = []
    for toks in per:
        numbers = sorted({t for t in toks if t and t[0].isdigit()})
        if numbers:
            keys.append(numbers)
            continue
        words = sorted({t for t in toks if len(t) >= _RARE_WORD_MIN}, key=lambda w: (df[w], w))
        keys.append(words[:2])
    return keys


def candidate_pairs(rows: Sequence[str | None] | pa.Array, keys: Sequence[Sequence[str]]) -> list[tuple[int, int]]:
    """(row, problem) pairs where the row holds every key of the problem (problems without keys
    never pair). Vectorised: rows are joined with problems on each problem's pivot key (its
    rarest among the problems, the longest on a tie), then checked for the other keys."""
    texts = rows if isinstance(rows, pa.Array) else pa.array(list(rows), pa.string())
    vocab = sorted({k for ks in keys for k in ks})
    if not vocab or len(texts) == 0:
        return []
    code = {k: i for i, k in enumerate(vocab)}
    df = Counter(k for ks in keys for k in ks)
    lists = _key_lists(texts)
    row_of = np.repeat(np.arange(len(texts), dtype=np.int64), np.diff(lists.offsets.to_numpy()))
    found = pc.index_in(_canonical(lists.flatten()), value_set=pa.array(vocab, pa.string()))
    hit = pc.is_valid(found).to_numpy(zero_copy_only=False)
    if not hit.any():
        return []
    # (row, key) present, as one sorted int64 per pair: row * |vocab| + key.
    present = np.unique(row_of[hit] * len(vocab) + found.to_numpy(zero_copy_only=False)[hit].astype(np.int64))
    keyed = [i for i, ks in enumerate(keys) if ks]
    pivot = np.array([code[min(keys[i], key=lambda k: (df[k], -len(k), k))] for i in keyed], np.int64)
    order = np.argsort(pivot, kind="stable")
    pivot, problem = pivot[order], np.array(keyed, np.int64)[order]
    row, key = present // len(vocab), present % len(vocab)
    left, right = np.searchsorted(pivot, key, "left"), np.searchsorted(pivot, key, "right")
    width = right - left
    pair_row = np.repeat(row, width)
    pair_problem = problem[np.repeat(left - np.cumsum(width) + width, width) + np.arange(width.sum())]
    # Every key of the problem must be present in the row.
    sizes = np.array([len(keys[p]) for p in range(len(keys))], np.int64)
    flat_keys = np.array([code[k] for ks in keys for k in ks], np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    need = sizes[pair_problem]
    pair_id = np.repeat(np.arange(len(pair_row)), need)
    key_at = starts[pair_problem].repeat(need) + (np.arange(need.sum()) - np.repeat(np.cumsum(need) - need, need))
    wanted = pair_row[pair_id] * len(vocab) + flat_keys[key_at]
    ok = present[np.minimum(np.searchsorted(present, wanted), len(present) - 1)] == wanted
    complete = np.bincount(pair_id, weights=ok, minlength=len(pair_row)) == need
    return sorted(zip(pair_row[complete].tolist(), pair_problem[complete].tolist()))


def number_sequence(texts: Sequence[str]) -> list[list[str]]:
    """Per text: its numbers in order (number words as digits, leading zeros dropped), from the
    n-gram layer's normalised tokens.

    >>> number_sequence(["Calculate 3 - 1 * 07.", "three minus one"])
    [['3', '1', '7'], ['3', '1']]
    """
    normalized = normalize_array(pa.array(list(texts), pa.large_string()))
    out = []
    for text in normalized.to_pylist():
        seq = []
        for t in (text or "").split():
            if t[0].isdigit():
                seq.append(t.lstrip("0") or "0")
            elif t in NUMBER_WORDS:
                seq.append(NUMBER_WORDS[t])
        out.append(seq)
    return out


def agrees(problem: Sequence[str], row: Sequence[str]) -> bool:
    """The problem's numbers appear in the row as one run, in the problem's order: a reworded
    problem may add numbers before or after ("Problem 3: ..."), not between, and may not
    reorder them. Another instance of a template that happens to hold the same numbers holds
    them with others between ("-9 - -8 + -8 - (-7 * 0)" against "-9 + 0").

    >>> agrees(["3", "1"], ["2", "3", "1", "5"]), agrees(["3", "1"], ["3", "2", "1"]), agrees(["3", "1"], ["1", "3"])
    (True, False, False)
    """
    k = len(problem)
    return k == 0 or any(list(row[i:i + k]) == list(problem) for i in range(len(row) - k + 1))


def load_encoder(model_path: str, device: str = "cpu"):
    """A SentenceTransformer from a local folder, never from the network."""
    from sentence_transformers import SentenceTransformer  # optional and heavy: import on use

    return SentenceTransformer(model_path, device=device, local_files_only=True)


def calibrate(vectors: np.ndarray, benchmarks: Sequence[str]) -> dict[str, float]:
    """Per benchmark: the CALIBRATION_QUANTILE quantile of its problems' nearest-neighbour
    cosines (within the benchmark), clipped to [MIN_THRESHOLD, MAX_THRESHOLD]; a benchmark
    of one problem gets MAX_THRESHOLD."""
    out = {}
    names = np.array(benchmarks)
    for name in dict.fromkeys(benchmarks):
        v = vectors[names == name]  # (m, d)
        if len(v) < 2:
            out[name] = MAX_THRESHOLD
            continue
        nearest = np.empty(len(v), np.float32)
        for start in range(0, len(v), 2048):  # (block, m) cosines at a time
            block = v[start:start + 2048] @ v.T
            block[np.arange(len(block)), np.arange(start, start + len(block))] = -1.0
            nearest[start:start + len(block)] = block.max(axis=1)
        out[name] = round(float(np.clip(np.quantile(nearest, CALIBRATION_QUANTILE), MIN_THRESHOLD, MAX_THRESHOLD)), 4)
    return out


class SemanticIndex:
    """Embeddings, keys and thresholds of the benchmark problems; `match` prunes, embeds the
    candidate rows in batches, and compares."""

    def __init__(
        self,
        problems: Sequence[BenchmarkProblem],
        model_path: str,
        threshold: float | None = None,
        batch_size: int = 64,
        encoder=None,
    ):
        if threshold is not None and not -1 <= threshold <= 1:
            raise ValueError(f"threshold is a cosine, in [-1, 1]; got {threshold}")
        self.problems = list(problems)
        self.batch_size = batch_size
        self.encoder = encoder if encoder is not None else load_encoder(model_path)
        self.keys = problem_keys([p.prompt for p in self.problems])
        self.sequences = number_sequence([p.prompt for p in self.problems])
        self._problem_vectors = self._embed([p.prompt for p in self.problems])  # (problems, d)
        calibrated = calibrate(self._problem_vectors, [p.benchmark for p in self.problems])
        self.thresholds = calibrated if threshold is None else {name: threshold for name in calibrated}
        self.embedded_rows = 0  # rows embedded so far (the pruning's effect, for reports and benchmarks)

    def _embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 1), np.float32)
        vectors = self.encoder.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, np.float32)

    def match(self, prompts: Sequence[str | None] | pa.Array, skip: set[tuple[int, int]] = frozenset()) -> list[Finding]:
        """Findings (level `semantic`) for a batch of prompts; `Finding.row` indexes the batch.
        Pairs in `skip` ((row, problem index)) are not compared: a stricter layer found them."""
        texts = prompts if isinstance(prompts, pa.Array) else pa.array(list(prompts), pa.large_string())
        pairs = [(r, p) for r, p in candidate_pairs(texts, self.keys) if (r, p) not in skip]
        rows = sorted({r for r, _ in pairs})
        row_seq = dict(zip(rows, number_sequence([texts[r].as_py() for r in rows])))
        pairs = [(r, p) for r, p in pairs if agrees(self.sequences[p], row_seq[r])]
        if not pairs:
            return []
        rows = sorted({r for r, _ in pairs})
        position = {r: i for i, r in enumerate(rows)}
        vectors = self._embed([texts[r].as_py() for r in rows])  # (candidate rows, d)
        self.embedded_rows += len(rows)
        r_idx = np.array([position[r] for r, _ in pairs])
        p_idx = np.array([p for _, p in pairs])
        cosine = np.einsum("ij,ij->i", vectors[r_idx], self._problem_vectors[p_idx])  # (pairs,)
        findings = []
        for (row, j), c in zip(pairs, cosine.tolist()):
            p = self.problems[j]
            if c >= self.thresholds[p.benchmark]:
                span = p.prompt if len(p.prompt) <= SPAN_CHARS else p.prompt[:SPAN_CHARS] + " ..."
                findings.append(Finding(row, p.benchmark, p.benchmark_id, "semantic", round(c, 4), span, "semantic"))
        return findings
