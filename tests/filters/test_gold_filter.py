"""Gold-verifiable filter: the round trip per distinct triple, reason codes, the fast path's
equivalence with the pool, timeouts that kill, bad input."""

import json
import re

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import assay.filters.gold as gold_module
from assay.filters.gold import FAST_SHAPES, GoldConfig, gold_verifiable, round_trips
from assay.verifiers import VERIFIERS, Check, gold_as_response, verify_batch

# Golds of every fast-path shape, with the verifier and options they come with.
FAST_CASES = [
    ("42", "math", {}), ("-17", "math", {}), ("+3", "math", {}), ("3.1400", "math", {}), (".5", "math", {}),
    ("50%", "math", {}), ("7/8", "math", {}), ("\\frac{3}{4}", "math", {}), ("\\dfrac{-1}{2}", "math", {}),
    ("007", "math", {}), ("[1, 2]", "math", {}), ("(-\\infty, 3]", "math", {}), ("3, 4, 5", "math", {}),
    ("(1,2", "math", {}), ("12", "numeric", {"rel_tol": 1e-3}), ("2.5%", "numeric", {}), ("1/3", "numeric", {}),
    ("12", "numeric", {"tolerance": 1}),  # an option the verifier does not take: error, on both paths
    ("100", "exact", {}), ("-0.25", "exact", {}),
    ("B", "mc", {"choices": ["x", "y", "z"]}), ("(c)", "mc", {"choices": ["x", "y", "z"]}),
    ("E", "mc", {"choices": ["x", "y", "z"]}), ("Z", "mc", {}), ("a", "mc", {}),
]


def records(rows):
    answer, verifier, meta = zip(*rows)
    return pa.table({"answer": list(answer), "verifier": list(verifier), "meta": list(meta)})


def opts(options):
    return json.dumps({"verifier_options": options}) if options else "{}"


def test_fast_path_shapes_cover_the_cases():
    for gold, verifier, _ in FAST_CASES:
        assert pc.match_substring_regex(pa.array([gold]), pattern=FAST_SHAPES[verifier])[0].as_py(), gold
    for gold in ("x^2", "\\sqrt{2}", "1e5", "(a) 3 (b) 4", "[1%, 2]", "1" * 401):
        assert not pc.match_substring_regex(pa.array([gold]), pattern=FAST_SHAPES["math"])[0].as_py(), gold


def test_fast_path_gives_the_pool_verdicts(monkeypatch):
    in_process = []
    real = gold_module.check_gold
    monkeypatch.setattr(gold_module, "check_gold", lambda *a, **k: in_process.append(a[0]) or real(*a, **k))
    golds, verifiers, options = map(list, zip(*FAST_CASES))
    fast = round_trips(golds, verifiers, options, GoldConfig(workers=2))
    assert in_process == golds  # every case took the in-process path
    items = [Check(gold_as_response(g), g, v, o) for g, v, o in FAST_CASES]
    pooled = verify_batch(items, workers=2)
    assert [(v.status, v.reason) for v in fast] == [(v.status, v.reason) for v in pooled]
    assert {v.status for v in fast} == {"correct", "bad_gold", "error"}  # the table exercises more than one verdict


def test_reason_codes_per_status():
    rows = [
        ("42", "math", "{}"),
        ("", "math", "{}"),  # the round trip's response \boxed{} holds no answer
        ("\\frac{1}{", "math", "{}"),  # the boxed round trip is cut off: no_answer
        ("abc", "numeric", "{}"),  # bad_gold: not a number
        ("x^2 + 1", "math", "{}"),  # pool path, fine
        ("D", "mc", opts({"choices": ["1", "2"]})),  # bad_gold: no such choice
        ('{"inputs": ["1\\n"], "outputs": ["2\\n"]}', "code", "{}"),
        ("def f(:", "code", "{}"),
        ("4", "maths", "{}"),
        ("4", "math", '{"verifier_options": [1]}'),
        ("4", "math", '{"verifier_options": '),
    ]
    d = gold_verifiable(records(rows), GoldConfig(workers=2))
    assert d.keep.to_pylist() == [True, False, False, False, True, False, True, False, False, False, False]
    reasons = d.reason.to_pylist()
    assert reasons[1] == "gold_unreadable: math verifier: no boxed answer, answer line or number found"
    assert reasons[2].startswith("gold_unreadable: math verifier:")
    assert reasons[3] == "bad_gold: numeric verifier: gold 'abc' is not a number"
    assert reasons[5] == "bad_gold: mc verifier: gold 'D' is not one of the letters A..B"
    assert reasons[7].startswith("bad_gold: code verifier: tests are neither JSON nor Python")
    assert reasons[8] == f"unknown_verifier: unknown verifier 'maths'; valid: {', '.join(VERIFIERS)}"
    assert reasons[9] == "bad_meta: verifier_options is a list, expected an object"
    assert reasons[10].startswith("bad_meta: meta is not valid JSON")
    assert d.scores["gold_status"].to_pylist() == [
        "correct", "no_answer", "no_answer", "bad_gold", "correct", "bad_gold", "correct", "bad_gold", None, None, None]


def test_each_distinct_triple_is_checked_once(monkeypatch):
    calls = []
    real = gold_module.check_gold
    monkeypatch.setattr(gold_module, "check_gold", lambda *a, **k: calls.append((a, k)) or real(*a, **k))
    choices = opts({"choices": ["p", "q"]})
    rows = [("12", "math", "{}")] * 5 + [("12", "numeric", "{}")] * 3 + [("A", "mc", choices)] * 4 + [("A", "mc", "{}")]
    d = gold_verifiable(records(rows), GoldConfig(workers=1))
    assert d.kept() == len(rows)
    assert sorted(calls, key=repr) == sorted([(("12", "math"), {}), (("12", "numeric"), {}),
                                              (("A", "mc"), {"choices": ["p", "q"]}), (("A", "mc"), {})], key=repr)


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_gold_that_takes_too_long_is_killed_and_dropped():
    # A Python test suite of 2,000 asserts takes the code round trip ~20 s (its parse is
    # quadratic); the pool kills it at 1 s.
    suite = "".join(f"assert f({i}) == {i * i}\n" for i in range(2000))
    d = gold_verifiable(records([(suite, "code", "{}"), ("5", "math", "{}")]), GoldConfig(workers=1, timeout_s=1.0))
    assert d.keep.to_pylist() == [False, True]
    assert re.fullmatch(r"gold_timeout: code verifier: timeout: stopped after [\d.]+ s of CPU \(budget 1 s\), 2 tries", d.reason[0].as_py())


def test_bad_input_fails_naming_the_column():
    with pytest.raises(ValueError, match="gold: input has no column 'meta'"):
        gold_verifiable(pa.table({"answer": ["1"], "verifier": ["math"]}))
    with pytest.raises(ValueError, match="gold: column 'answer' is null at row 0"):
        gold_verifiable(pa.table({"answer": [None], "verifier": ["math"], "meta": ["{}"]}, schema=pa.schema(
            [("answer", pa.string()), ("verifier", pa.string()), ("meta", pa.string())])))
    with pytest.raises(ValueError, match="timeout_s must be positive"):
        GoldConfig(timeout_s=0)
