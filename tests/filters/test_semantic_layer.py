"""The semantic layer: quantity keys, candidate pruning, number agreement, per-benchmark
calibration (hand-made vectors), and with the packaged MiniLM on the labeled reasoning-gym corpus."""


import numpy as np
import pytest

from bench import decontam_rg_fixture as fixture
from tests.helpers import packaged_minilm
from assay.filters.decontam import BenchmarkProblem
from assay.filters.semantic import (
    MAX_THRESHOLD,
    MIN_THRESHOLD,
    agrees,
    calibrate,
    candidate_pairs,
    number_sequence,
    problem_keys,
    quantities,
)


def test_quantities_read_digits_and_number_words_the_same_way():
    assert quantities("Janet has three ducks and 16 eggs; a dozen are sold") == {"3": 1, "16": 1, "12": 1}
    assert quantities("08:05 and 8:5") == {"8": 2, "5": 2}  # leading zeros dropped
    assert number_sequence(["Twelve minus 7, then x2"]) == [["12", "7", "2"]]


def test_problem_keys_are_numbers_or_the_two_rarest_long_words():
    keys = problem_keys(["Add 3 and 12.", "Define entropy of a random variable.", "Define entropy of a gas."])
    assert keys == [["12", "3"], ["random", "variable"], ["define", "entropy"]]  # ties by the word


def test_candidate_pairs_need_every_key_of_the_problem():
    keys = [["12", "3"], ["5"], ["random", "variable"], []]
    rows = ["Tom adds three and twelve.", "Only 3 here.", "5 apples", "A random variable X", "nothing", None]
    assert candidate_pairs(rows, keys) == [(0, 0), (2, 1), (3, 2)]
    assert candidate_pairs([], keys) == [] and candidate_pairs(rows, [[]]) == []


def test_numbers_agree_only_as_one_run_in_the_problems_order():
    assert agrees(["16", "3", "4", "2"], ["5", "16", "3", "4", "2"])  # "Problem 5: ..." before the run
    assert not agrees(["9", "0"], ["9", "8", "8", "7", "0"])  # another instance holding the same numbers apart
    assert not agrees(["3", "1"], ["1", "3"]) and agrees([], ["1"])


def test_calibration_takes_the_low_quantile_of_nearest_neighbour_cosines_clipped():
    # Benchmark "t": 11 unit vectors at angles 0, 0.1, ..., 1.0 rad in a plane: every nearest
    # neighbour is 0.1 rad away (cosine 0.995), clipped to MAX_THRESHOLD.
    angles = np.arange(11) * 0.1
    t = np.stack([np.cos(angles), np.sin(angles), np.zeros(11)], axis=1)
    # Benchmark "h": 3 orthogonal vectors, nearest-neighbour cosine 0, clipped to MIN_THRESHOLD.
    h = np.eye(3)
    # Benchmark "m": angles 0, 0.6, 1.2 rad: nearest cosines cos(0.6) = 0.825 for all three.
    m_angles = np.array([0.0, 0.6, 1.2])
    m = np.stack([np.cos(m_angles), np.sin(m_angles), np.zeros(3)], axis=1)
    vectors = np.concatenate([t, h, m, np.eye(3)[:1]]).astype(np.float32)
    names = ["t"] * 11 + ["h"] * 3 + ["m"] * 3 + ["one"]
    assert calibrate(vectors, names) == {"t": MAX_THRESHOLD, "h": MIN_THRESHOLD, "m": round(float(np.cos(np.float32(0.6))), 4),
                                         "one": MAX_THRESHOLD}


@pytest.mark.slow
def test_paraphrases_of_templated_problems_are_found_and_same_template_items_are_not(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from assay.filters.semantic import SemanticIndex

    problems, rows = fixture.load()
    items = [BenchmarkProblem("rg", str(i), text) for i, (_, text) in enumerate(problems)]
    index = SemanticIndex(items, packaged_minilm())
    assert MIN_THRESHOLD <= index.thresholds["rg"] <= MAX_THRESHOLD
    found = index.match([r.text for r in rows])
    assert all(f.level == "semantic" and f.method == "semantic" for f in found)
    hit = {(f.row, int(f.benchmark_id)) for f in found}
    para = [i for i, r in enumerate(rows) if r.kind == "paraphrase"]
    assert sum((i, rows[i].problem) in hit for i in para) >= 0.6 * len(para)  # measured: 45 of 45
    clean = {i for i, r in enumerate(rows) if r.kind == "clean"}
    assert len({r for r, _ in hit} & clean) <= 0.03 * len(clean)  # measured: 1 of 1,000
    assert index.embedded_rows < 0.5 * len(rows)  # pruned before embedding: measured 460 of 1,345
