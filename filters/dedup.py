"""Exact and near-duplicate removal: MinHash over shingles, LSH banding, verified pairs.

Which copy survives is a pure function of the rows' contents and uids, never of their order:
each cluster of duplicates keeps its smallest uid (in byte order). Every other row is dropped with the uid of
the copy that was kept.

Steps (all vectorised: Arrow string kernels, then numpy over flat arrays):
  1. Rows are put in uid order (a duplicate uid is an error: uids are the catalog's key).
  2. Exact: the prompt is normalised (Unicode NFKC, lowercase, whitespace runs collapsed), and
     rows with equal normalised prompts form a group, across sources too (a uid includes the
     source, so two sources' copies of one prompt have different uids). The group's smallest
     uid is its representative.
  3. Near (`DedupConfig.near`), on the representatives only: shingles are `shingle_size`
     consecutive word tokens (`word`: runs of letters, digits and underscores, and every other
     non-space character as a token of its own, so `3+4` and `3*4` differ) or UTF-8 bytes
     (`char`), hashed to 64 bits. A prompt shorter than one shingle has its whole token
     sequence as its one shingle; an empty prompt has none and takes part in exact dedup only.
  4. MinHash signature: `num_perm` values per row, value i being min over the row's shingles of
     h_i(x) = a_i x mod 2**32 on the top 32 bits x of the shingle hash (a_i odd, so h_i is a
     bijection; on hashed input this behaves as a random permutation: the estimate's error
     matches the binomial one, tests/filters/test_dedup_filter.py).
     P(values equal) for two rows is their shingle sets' Jaccard similarity J, so the share of
     equal values estimates J with standard deviation sqrt(J (1 - J) / num_perm).
  5. LSH: the signature is cut into b bands of r values (`lsh_bands`: the largest r whose
     S-curve still makes a pair at exactly `threshold` a candidate with probability >= 0.99).
     Rows whose band values all agree share a bucket; each member is paired with the bucket's
     smallest uid (a star, not all pairs, so a large bucket costs linear work).
  6. Verification: a candidate pair is an edge when its estimated J (share of equal signature
     values over all num_perm) is >= threshold.
  7. Clusters are connected components over edges (min-label propagation, a vectorised
     union-find); each keeps its smallest uid. A chain can join rows that are not themselves
     near duplicates (a ~ b, b ~ c): the standard single-link behaviour of MinHash dedup.

Reasons: `exact_duplicate: of UID` (its normalised prompt equals the kept row's) or
`near_duplicate: of UID (jaccard 0.83)`, the estimate against the kept row. Score column
`jaccard`: 1.0 for exact duplicates, the estimate for near ones, null for kept rows.

Example:
    >>> import pyarrow as pa
    >>> t = pa.table({"uid": ["u2", "u1", "u3", "u4"], "prompt": [
    ...     "Tom has 3 apples and buys 5 more at the market today. How many apples does Tom have now?",
    ...     "tom has 3 apples and  buys 5 more at the market today. How many apples does Tom have now?",
    ...     "Tom has 3 apples and buys 5 more at the market today. How many apples does Tom have in all?",
    ...     "Compute 17*23."]})
    >>> d = dedup(t, DedupConfig(threshold=0.6))
    >>> d.keep.to_pylist()
    [False, True, False, True]
    >>> d.reason.to_pylist()[:3]
    ['exact_duplicate: of u1', None, 'near_duplicate: of u1 (jaccard 0.73)']
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assay.filters.decision import Decision, decision_from, require_columns
from assay.filters.decontam import _MULT, _gram_rows, _grams, _whole_hashes
from assay.verifiers.names import check_names

CHUNK_ROWS = 20_000  # rows shingled and signed at once: temporaries of ~40 MB, which the allocator reuses
# from chunk to chunk (much larger ones are fresh pages every time, and first touches are slow)
EDGE_CHUNK = 200_000  # candidate pairs compared at once (each compares num_perm values)
RECALL_AT_THRESHOLD = 0.99  # lsh_bands: P(a pair at exactly the threshold becomes a candidate)


@dataclass(frozen=True)
class DedupConfig:
    near: bool = True  # also remove near duplicates (MinHash LSH); False removes exact ones only
    threshold: float = 0.8  # estimated Jaccard of two prompts' shingle sets at or above which they are near duplicates
    shingle: str = "word"  # a key of SHINGLES: "word" (token n-grams) or "char" (UTF-8 byte n-grams)
    shingle_size: int = 5  # tokens (word) or bytes (char) per shingle; char wants 7..9
    num_perm: int = 128  # MinHash values per row; the J estimate's std is sqrt(J(1-J)/num_perm), 0.035 at J = 0.8
    seed: int = 0  # seeds the hash permutations (record it with the result: near-duplicate calls depend on it)

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"dedup: threshold must be in (0, 1], got {self.threshold}")
        check_names(SHINGLES, [self.shingle], "shingle")
        if self.shingle_size < 1:
            raise ValueError(f"dedup: shingle_size must be at least 1, got {self.shingle_size}")
        if not 2 <= self.num_perm <= 1024:
            raise ValueError(f"dedup: num_perm must be in [2, 1024], got {self.num_perm}")


# -- normalisation and shingles ---------------------------------------------------------------


def normalize_prompts(prompts: pa.Array) -> pa.Array:
    """The text prompts are compared on: NFKC, lowercase, whitespace runs to one space, trimmed.

    >>> normalize_prompts(pa.array(["  Find\\tX.\\n", "ＦＩＮＤ x."])).to_pylist()
    ['find x.', 'find x.']
    """
    out = pc.utf8_lower(pc.utf8_normalize(prompts, form="NFKC"))
    # Only runs of two or more, and single non-space whitespace, are rewritten: replacing every
    # single space by itself costs four times as much.
    out = pc.replace_substring_regex(out, pattern=r"\s\s+|[\t\n\r\f\v]", replacement=" ")
    return pc.utf8_trim_whitespace(out)


@dataclass(frozen=True)
class Shingles:
    """Shingle hashes of a batch of rows, flat.

    `hashes` (S,) uint64 holds the shingles of the rows that have at least one, row after row;
    `rows` (R',) int64 are those rows (ascending) and `starts` (R',) int64 where each begins.
    """

    hashes: np.ndarray
    rows: np.ndarray
    starts: np.ndarray


def _shingle_hashes(units: np.ndarray, offsets: np.ndarray, size: int) -> Shingles:
    """Rolling hashes of every `size` consecutive units inside one row; a row with fewer units
    (but some) gets its whole sequence as its one shingle.  units (U,) uint64, offsets (R+1,)."""
    lengths = np.diff(offsets)
    inside, gram_row, _ = _gram_rows(offsets, size)
    grams = _grams(units, size, inside)  # (G,) grams of the long rows, row after row
    short = np.flatnonzero((lengths > 0) & (lengths < size))
    whole = _whole_hashes(units, offsets, short)  # (len(short),)
    rows = np.concatenate([gram_row, short])
    hashes = np.concatenate([grams, whole])
    order = np.argsort(rows, kind="stable")  # short rows' shingles slot in among the long ones
    rows, hashes = rows[order], hashes[order]
    first = np.ones(len(rows), bool)
    first[1:] = rows[1:] != rows[:-1]
    return Shingles(hashes, rows[first], np.flatnonzero(first))


_RNG = np.random.default_rng(0x5EED)
_BYTE_HASH = _RNG.integers(0, 2**63, 256, dtype=np.uint64) * np.uint64(2) + np.uint64(1)  # (256,) per byte value
_POSITION_HASH = _RNG.integers(0, 2**63, 64, dtype=np.uint64) * np.uint64(2) + np.uint64(1)  # (64,) per position in a token
_WORD_BYTE = np.zeros(256, bool)  # ASCII letters, digits, underscore, and every byte of a non-ASCII character
_WORD_BYTE[[*b"0123456789_", *range(ord("a"), ord("z") + 1), *range(ord("A"), ord("Z") + 1), *range(128, 256)]] = True
_SPACE_BYTE = np.zeros(256, bool)
_SPACE_BYTE[[*b" \t\n\r\x0b\x0c"]] = True


def _utf8(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(bytes (B,) uint8, row offsets (R+1,) int64 from 0) of a string array, without copying."""
    texts = texts.cast(pa.large_string())
    offsets = np.frombuffer(texts.buffers()[1], np.int64)[texts.offset : texts.offset + len(texts) + 1]
    data = texts.buffers()[2]
    data = np.frombuffer(data, np.uint8)[offsets[0] : offsets[-1]] if data is not None else np.zeros(0, np.uint8)
    return data, offsets - offsets[0]


def word_shingles(texts: pa.Array, size: int) -> Shingles:
    """Shingles of `size` word tokens. A token is a run of letters, digits and underscores (a
    non-ASCII character counts as a letter), or any other non-space character on its own, so
    `3+4` is three tokens. Tokens are found and hashed on the UTF-8 bytes with numpy: a token's
    hash is the sum over its bytes of byte-value hash times position hash (positions past 64
    wrap), then mixed."""
    data, offsets = _utf8(texts)
    word = _WORD_BYTE[data]  # (B,)
    symbol = ~word & ~_SPACE_BYTE[data]
    continues = np.zeros(len(data), bool)  # the byte extends the word token before it
    continues[1:] = word[1:] & word[:-1]
    continues[offsets[:-1][offsets[:-1] < len(data)]] = False  # a token never spans two rows
    start = (word | symbol) & ~continues  # (B,) first byte of a token
    starts = np.flatnonzero(start)  # (T,)
    token = np.cumsum(start) - 1  # (B,) index of the token a byte belongs to (-1 before the first)
    position = np.arange(len(data)) - starts[np.maximum(token, 0)] if len(starts) else np.zeros(len(data), np.int64)
    value = _BYTE_HASH[data] * _POSITION_HASH[position & 63]
    value[~(word | symbol)] = 0  # spaces add nothing to the token before them
    with np.errstate(over="ignore"):
        units = np.add.reduceat(value, starts) if len(starts) else np.zeros(0, np.uint64)  # (T,)
        units ^= units >> np.uint64(31)
        units *= np.uint64(0xBF58476D1CE4E5B9)
        units ^= units >> np.uint64(29)
    tokens_before = np.concatenate([[0], np.cumsum(start)])  # (B+1,)
    return _shingle_hashes(units, tokens_before[offsets], size)


def char_shingles(texts: pa.Array, size: int) -> Shingles:
    """Shingles of `size` consecutive UTF-8 bytes of the normalised text (characters, for ASCII)."""
    data, offsets = _utf8(texts)
    return _shingle_hashes(_BYTE_HASH[data], offsets, size)


SHINGLES: dict[str, Callable[[pa.Array, int], Shingles]] = {"word": word_shingles, "char": char_shingles}


# -- MinHash and LSH --------------------------------------------------------------------------


def _multipliers(num_perm: int, seed: int) -> np.ndarray:
    """(num_perm,) odd uint32: x -> a x mod 2**32 is then a bijection of 32-bit values."""
    return np.random.default_rng(seed).integers(0, 2**31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)


def minhash(shingles: Shingles, rows: int, num_perm: int, seed: int) -> np.ndarray:
    """(num_perm, rows) uint32 signatures, one row of values per permutation (so a band's values
    are contiguous); rows without shingles hold 0xFFFFFFFF everywhere."""
    a = _multipliers(num_perm, seed)
    signature = np.full((num_perm, rows), np.iinfo(np.uint32).max, np.uint32)
    if len(shingles.hashes) == 0:
        return signature
    x = (shingles.hashes >> np.uint64(32)).astype(np.uint32)  # (S,)
    value = np.empty_like(x)
    with np.errstate(over="ignore"):
        for i in range(num_perm):
            np.multiply(x, a[i], out=value)
            signature[i, shingles.rows] = np.minimum.reduceat(value, shingles.starts)
    return signature


def lsh_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band): the largest rows per band r, with bands = num_perm // r, such that
    a pair whose Jaccard equals `threshold` shares a band with probability >= 0.99.

    >>> lsh_bands(0.8, 128), lsh_bands(0.5, 128)
    ((21, 6), (42, 3))
    """
    best = (num_perm, 1)
    for r in range(1, num_perm + 1):
        bands = num_perm // r
        if 1.0 - (1.0 - threshold**r) ** bands >= RECALL_AT_THRESHOLD:
            best = (bands, r)
    return best


def _candidates(signature: np.ndarray, has: np.ndarray, bands: int, per_band: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs (member, leader), distinct, leader < member: in each band, every row of a
    bucket is paired with the bucket's smallest row.  signature (P, R), has (R,) bool.

    Rows without shingles (all values 0xFFFFFFFF) share every bucket; their pairs are dropped
    at the end rather than the rows left out up front, which would copy the signature."""
    rows = signature.shape[1]
    pairs = []
    for band in range(bands):
        key = np.zeros(rows, np.uint64)  # (R,) hash of the band's per_band values
        with np.errstate(over="ignore"):
            for col in range(band * per_band, (band + 1) * per_band):
                key *= _MULT
                key += signature[col]
        order = np.argsort(key)  # (R,) unstable but fast: leaders come from a min, not the order
        sorted_key = key[order]
        new = np.ones(rows, bool)
        new[1:] = sorted_key[1:] != sorted_key[:-1]
        smallest = np.minimum.reduceat(order, np.flatnonzero(new))  # (buckets,) smallest row of each bucket
        leader = smallest[np.cumsum(new) - 1]  # (R,) in sorted order
        pair = (order != leader) & has[order] & has[leader]
        pairs.append(order[pair] * rows + leader[pair])
    code = np.unique(np.concatenate(pairs)) if pairs else np.zeros(0, np.int64)
    return code // rows, code % rows


def estimate_jaccard(signature: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Share of equal signature values for each pair (a[k], b[k]).  signature (P, R) -> (E,) float64"""
    out = np.empty(len(a), np.float64)
    for start in range(0, len(a), EDGE_CHUNK):
        s = slice(start, start + EDGE_CHUNK)
        out[s] = (signature[:, a[s]] == signature[:, b[s]]).mean(axis=0)
    return out


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest node index of each node's connected component over edges (a[k], b[k]).  -> (n,)

    >>> components(5, np.array([1, 4]), np.array([3, 3])).tolist()
    [0, 1, 2, 1, 1]
    """
    label = np.arange(n)
    while True:
        low = np.minimum(label[a], label[b])
        new = label.copy()
        np.minimum.at(new, a, low)
        np.minimum.at(new, b, low)
        new = new[new]  # pointer jumping: follow labels to their own labels
        if np.array_equal(new, label):
            return label
        label = new


def _signatures(texts: pa.Array, config: DedupConfig) -> tuple[np.ndarray, np.ndarray]:
    """(signature (P, R) uint32, has (R,) bool: the row has shingles), chunk by chunk on threads
    (Arrow and numpy release the GIL)."""
    signature = np.empty((config.num_perm, len(texts)), np.uint32)
    has = np.zeros(len(texts), bool)
    shingle = SHINGLES[config.shingle]

    def sign(start: int) -> None:
        chunk = texts.slice(start, CHUNK_ROWS)
        shingles = shingle(chunk, config.shingle_size)
        signature[:, start : start + len(chunk)] = minhash(shingles, len(chunk), config.num_perm, config.seed)
        has[start + shingles.rows] = True

    workers = max(1, min(len(os.sched_getaffinity(0)), 4))  # one per core; each holds one chunk's temporaries
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(sign, range(0, len(texts), CHUNK_ROWS)))
    return signature, has


# -- the filter -------------------------------------------------------------------------------


def dedup(table: pa.Table, config: DedupConfig = DedupConfig()) -> Decision:
    """Drop exact and (with config.near) near duplicates; keep the smallest uid of each cluster.

    Needs columns uid and prompt (strings, no nulls, uids distinct).
    """
    require_columns(table, "dedup", text=("uid", "prompt"))
    rows = table.num_rows
    order = pc.sort_indices(table.column("uid")).to_numpy()  # work in uid order: row index = uid rank
    uids = table.column("uid").take(order).combine_chunks()
    if rows > 1:
        same = pc.equal(uids.slice(1), uids.slice(0, rows - 1)).to_numpy(zero_copy_only=False)
        if same.any():
            raise ValueError(f"dedup: column 'uid' has duplicate value {uids[int(np.flatnonzero(same)[0])].as_py()!r}")
    normalized = normalize_prompts(table.column("prompt").take(order).combine_chunks())

    # Exact groups; np.unique gives each group's first row in uid order, its representative.
    codes = pc.dictionary_encode(normalized).indices.to_numpy(zero_copy_only=False)
    _, first = np.unique(codes, return_index=True)
    reps = np.sort(first)  # (Q,) representatives, in uid order
    rep_of = first[codes]  # (rows,) each row's representative

    # Near: over representatives; label[q] = smallest representative of q's cluster.
    label = np.arange(len(reps))
    if config.near and len(reps) > 1:
        signature, has = _signatures(normalized.take(reps), config)
        bands, per_band = lsh_bands(config.threshold, config.num_perm)
        member, leader = _candidates(signature, has, bands, per_band)
        edge = estimate_jaccard(signature, member, leader) >= config.threshold - 1e-12
        label = components(len(reps), member[edge], leader[edge])

    position = np.empty(rows, np.int64)  # rep row -> its index among reps
    position[reps] = np.arange(len(reps))
    survivor = reps[label[position[rep_of]]]  # (rows,) the kept row of each row's cluster
    keep = survivor == np.arange(rows)
    dropped = np.flatnonzero(~keep)
    exact = rep_of[dropped] == survivor[dropped]
    jaccard = np.ones(len(dropped))
    near = dropped[~exact]
    if len(near):
        jaccard[~exact] = estimate_jaccard(signature, position[rep_of[near]], position[survivor[near]])
    kept_uid = uids.take(pa.array(survivor[dropped])).to_pylist()
    reason: list[str | None] = [None] * rows
    for row, uid, is_exact, j in zip(dropped.tolist(), kept_uid, exact.tolist(), jaccard.tolist()):
        reason[row] = f"exact_duplicate: of {uid}" if is_exact else f"near_duplicate: of {uid} (jaccard {j:.2f})"
    scores = np.full(rows, np.nan)
    scores[dropped] = jaccard

    # Back to input order: sorted row i is input row order[i].
    back = np.empty(rows, np.int64)
    back[order] = np.arange(rows)
    reasons = pa.array(reason, pa.string()).take(pa.array(back))
    return decision_from(keep[back], reasons, {"jaccard": pa.array(scores[back], mask=keep[back])})
