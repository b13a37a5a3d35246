"""Dedup: exact groups across sources, verified near duplicates, the kept copy, bad input."""

import random

import numpy as np
import pyarrow as pa
import pytest

from assay.filters.dedup import SHINGLES, DedupConfig, Shingles, components, dedup, estimate_jaccard, lsh_bands, minhash, word_shingles

def table(rows):
    uids, prompts = zip(*rows)
    return pa.table({"uid": list(uids), "prompt": list(prompts)})


def words(first, last):
    """Distinct single-token words w<first> .. w<last-1>: with shingle_size 1 the shingle set
    of a prompt is its set of words, so Jaccard values are plain fractions."""
    return " ".join(f"w{i}" for i in range(first, last))


def test_exact_duplicates_across_sources_keep_the_smallest_uid():
    t = table([("c9", "What is 2+3?"), ("a1", "what is  2+3?"), ("b5", "WHAT IS 2+3?\n"), ("d0", "What is 2+4?")])
    d = dedup(t, DedupConfig(near=False))
    assert d.keep.to_pylist() == [False, True, False, True]
    assert d.reason.to_pylist() == ["exact_duplicate: of a1", None, "exact_duplicate: of a1", None]
    assert d.scores["jaccard"].to_pylist() == [1.0, None, 1.0, None]


def test_operators_are_tokens_so_different_expressions_are_not_duplicates():
    t = table([("u1", "Compute 3+4."), ("u2", "Compute 3*4."), ("u3", "Compute 3-4.")])
    assert dedup(t).kept() == 3


def test_near_duplicate_with_a_hand_computed_jaccard():
    # A and B share 18 of their 20 words: |A & B| = 18, |A | B| = 22, J = 18/22 = 0.818.
    a = words(0, 20)
    b = words(0, 18) + " xx yy"
    c = words(40, 60)  # disjoint from both: J = 0
    d = dedup(table([("u2", a), ("u1", b), ("u3", c)]), DedupConfig(threshold=0.7, shingle_size=1))
    assert d.keep.to_pylist() == [False, True, True]
    reason = d.reason.to_pylist()[0]
    assert reason.startswith("near_duplicate: of u1 (jaccard ")
    # The estimate's standard deviation is sqrt(0.818 * 0.182 / 128) = 0.034: 4 sigma is 0.14.
    assert abs(d.scores["jaccard"][0].as_py() - 18 / 22) < 0.14


def test_below_threshold_pairs_are_not_removed_even_when_they_are_candidates():
    # J = 10/30 = 0.33: far below 0.8; the pair may share an LSH bucket, verification rejects it.
    a, b = words(0, 20), words(10, 30)
    assert dedup(table([("u1", a), ("u2", b)]), DedupConfig(shingle_size=1, threshold=0.8)).kept() == 2


def test_a_chain_of_near_duplicates_is_one_cluster_keeping_the_smallest_uid():
    # J(A,B) = J(B,C) = 18/22 = 0.82, J(A,C) = 16/24 = 0.67 < 0.75: single link joins all three.
    a, b, c = words(0, 20), words(2, 22), words(4, 24)
    d = dedup(table([("u3", c), ("u1", a), ("u2", b)]), DedupConfig(threshold=0.75, shingle_size=1))
    assert d.keep.to_pylist() == [False, True, False]
    assert all(r.startswith("near_duplicate: of u1") for r in (d.reason[0].as_py(), d.reason[2].as_py()))
    # C's reason reports its estimate against the kept row, which is below the threshold.
    assert abs(d.scores["jaccard"][0].as_py() - 16 / 24) < 0.14


def test_the_kept_copy_does_not_depend_on_row_order():
    rng = random.Random(7)
    rows = []
    for k in range(60):
        base = words(k * 30, k * 30 + 25)
        rows.append((f"{rng.getrandbits(64):016x}", base))
        rows.append((f"{rng.getrandbits(64):016x}", base.upper()))  # exact
        rows.append((f"{rng.getrandbits(64):016x}", base + " extra"))  # near: J = 25/26 with size 1
    expected = None
    for seed in range(4):
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        d = dedup(table(shuffled), DedupConfig(shingle_size=1))
        by_uid = dict(zip([u for u, _ in shuffled], zip(d.keep.to_pylist(), d.reason.to_pylist())))
        expected = expected or by_uid
        assert by_uid == expected
    assert sum(k for k, _ in expected.values()) == 60
    kept = {u for u, (k, _) in expected.items() if k}
    for k in range(60):  # each cluster keeps its smallest uid
        assert min(u for u, _ in rows[3 * k : 3 * k + 3]) in kept


def test_exact_copies_of_a_near_duplicate_name_the_kept_row_of_the_cluster():
    a = words(0, 20)
    b = words(0, 19) + " xx"  # J = 19/21 = 0.90
    d = dedup(table([("u1", a), ("u2", b), ("u3", b.upper())]), DedupConfig(shingle_size=1))
    assert d.keep.to_pylist() == [True, False, False]
    assert d.reason[1].as_py().startswith("near_duplicate: of u1")
    assert d.reason[2].as_py().startswith("near_duplicate: of u1")  # its text equals u2's, which was dropped


def test_empty_prompts_are_only_exact_duplicates_of_each_other():
    d = dedup(table([("u1", ""), ("u2", "   "), ("u3", "x y z")]))
    assert d.keep.to_pylist() == [True, False, True]
    assert d.reason[1].as_py() == "exact_duplicate: of u1"


def test_char_shingles_find_a_spelling_variant():
    a = "Find the number of positive integers n less than 1000 such that n squared ends in 25."
    b = "Find the number of positive integers n less than 1000 such that n^2 ends in 25."
    d = dedup(table([("u1", a), ("u2", b)]), DedupConfig(shingle="char", shingle_size=7, threshold=0.6))
    assert d.keep.to_pylist() == [True, False]


def test_minhash_estimates_match_the_binomial_error():
    # 200 pairs of random sets with known Jaccard: (estimate - J) / sd should look standard normal.
    rng = np.random.default_rng(3)
    z = []
    for trial in range(200):
        n = int(rng.integers(10, 150))
        common = int(rng.integers(1, n))
        pool = rng.integers(0, 2**63, 2 * n, dtype=np.uint64)
        a, b = pool[:n], np.concatenate([pool[:common], pool[n : 2 * n - common]])
        true = common / (2 * n - common)
        signature = minhash(Shingles(np.concatenate([a, b]), np.array([0, 1]), np.array([0, n])), 2, 128, trial)
        z.append((estimate_jaccard(signature, np.array([0]), np.array([1]))[0] - true) / np.sqrt(true * (1 - true) / 128))
    z = np.array(z)
    assert abs(z.mean()) < 0.3 and 0.75 < z.std() < 1.25


def test_lsh_bands_reach_the_recall_target_at_the_threshold():
    bands, rows = lsh_bands(0.8, 128)
    assert (bands, rows) == (21, 6)
    assert 1 - (1 - 0.8**6) ** 21 >= 0.99 > 1 - (1 - 0.8**7) ** 18  # r = 7 (18 bands) would miss 1.4%


def test_components_join_chains_to_their_smallest_node():
    assert components(6, np.array([5, 2, 4]), np.array([4, 1, 5])).tolist() == [0, 1, 1, 3, 4, 4]


def test_word_shingles_tokenize_on_bytes():
    # "x2+y" is the tokens x2, +, y; shingles of 2: (x2 +), (+ y); a 1-token row has 1 shingle.
    s = word_shingles(pa.array(["x2+y", "solo", ""]), 2)
    assert s.rows.tolist() == [0, 1] and s.starts.tolist() == [0, 2] and len(s.hashes) == 3
    same = word_shingles(pa.array(["x2 + y"]), 2)
    assert same.hashes.tolist() == s.hashes[:2].tolist()


def test_bad_input_fails_naming_the_column():
    with pytest.raises(ValueError, match="no column 'prompt'"):
        dedup(pa.table({"uid": ["a"]}))
    with pytest.raises(ValueError, match="column 'uid' has duplicate value 'a'"):
        dedup(table([("a", "x"), ("a", "y")]))
    with pytest.raises(ValueError, match="column 'prompt' is null at row 1"):
        dedup(pa.table({"uid": ["a", "b"], "prompt": ["x", None]}))
    with pytest.raises(ValueError, match="column 'prompt' must hold strings"):
        dedup(pa.table({"uid": ["a"], "prompt": [3]}))
    with pytest.raises(ValueError, match=f"unknown shingle 'chars'; valid: {', '.join(SHINGLES)}$"):
        DedupConfig(shingle="chars")
    with pytest.raises(ValueError, match="threshold"):
        DedupConfig(threshold=0.0)
