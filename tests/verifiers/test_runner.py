"""The batch runner: order, timeouts that kill, dead workers replaced, caps, caching."""

import os
import threading
import time

import pytest

from assay.verifiers import MAX_INPUT_CHARS, VERIFIERS, RunStats, verify, verify_batch
from assay.verifiers.math_verifier import _compare_parsed, _gold_answer, _parse_gold
from assay.verifiers.runner import Killed, run_isolated


def _echo(x):
    return x


def _sleep_then_echo(x):
    if x == "hang":
        while True:
            time.sleep(0.05)
    return x


def _die_on(x):
    if x == "die":
        os._exit(7)
    return x


def test_verifier_table_has_exactly_the_five_keys():
    assert list(VERIFIERS) == ["math", "numeric", "mc", "exact", "code"]


def test_unknown_verifier_fails_listing_the_valid_ones():
    with pytest.raises(ValueError, match="math, numeric, mc, exact, code"):
        verify("4", "4", verifier="maths")
    with pytest.raises(ValueError, match="valid: math"):
        verify_batch([{"response": "4", "gold": "4", "verifier": "sympy"}], workers=1)


@pytest.mark.timeout(60)
def test_batch_keeps_input_order_across_verifiers():
    items = [
        {"response": "#### 18", "gold": "18"},
        {"response": "The answer is (C).", "gold": "C", "verifier": "mc"},
        {"response": "Answer: 3.1416", "gold": "3.14159", "verifier": "numeric", "options": {"rel_tol": 1e-4}},
        {"response": "Answer: Lyon", "gold": "Paris", "verifier": "exact"},
        {"response": "no idea", "gold": "7"},
    ] * 7
    statuses = [v.status for v in verify_batch(items, workers=2)]
    assert statuses == ["correct", "correct", "correct", "incorrect", "no_answer"] * 7


@pytest.mark.timeout(60)
def test_a_hung_call_is_killed_its_worker_replaced_and_the_batch_completes():
    calls = [("a",), ("hang",), ("b",), ("hang",), ("c",)] + [(str(i),) for i in range(20)]
    stats_start = time.monotonic()
    results, stats = run_isolated(_sleep_then_echo, calls, workers=2, timeouts=[0.5] * len(calls), chunk=4)
    assert time.monotonic() - stats_start < 20
    assert results[:5] == ["a", Killed("timeout", "killed after 0.5 s"), "b", Killed("timeout", "killed after 0.5 s"), "c"]
    assert results[5:] == [str(i) for i in range(20)]
    assert stats.killed == 2 and stats.started == 4
    assert all(h < 2.0 for h in stats.held_s)


@pytest.mark.timeout(60)
def test_a_worker_that_dies_gives_its_item_an_error_and_is_replaced():
    calls = [("x",), ("die",), ("y",), ("die",), ("z",)]
    results, stats = run_isolated(_die_on, calls, workers=2, timeouts=[5.0] * 5, chunk=2)
    assert results[0] == "x" and results[2] == "y" and results[4] == "z"
    assert results[1] == results[3] == Killed("died", "worker exited with code 7")
    assert stats.died == 2


@pytest.mark.timeout(60)
def test_pathological_inputs_never_hold_a_worker_past_the_timeout():
    nested = "\\boxed{" + "(" * 5000 + "1" + ")" * 5000 + "}"
    items = [
        {"response": nested, "gold": "1"},
        {"response": "$\\boxed{10^{10^{10^{10}}}}$", "gold": "5"},
        {"response": "x" * (MAX_INPUT_CHARS + 1), "gold": "5"},
        {"response": "\\boxed{9^{9^{9}}}", "gold": "5"},
        {"response": "\\boxed{4}", "gold": "4"},
    ]
    stats = RunStats()
    verdicts = verify_batch(items, workers=2, timeout_s=2.0, stats=stats)
    assert [v.status for v in verdicts] == ["error", "error", "error", "error", "correct"]
    assert max(stats.held_s) <= 2.5


def test_inputs_over_the_cap_are_not_parsed():
    verdict = verify("1" * (MAX_INPUT_CHARS + 1), "1")
    assert verdict.status == "error" and "input_too_large" in verdict.reason
    assert verify("\\boxed{1}", "1" * (MAX_INPUT_CHARS + 1)).status == "bad_gold"


def test_non_text_inputs_are_values_not_exceptions():
    assert verify(None, "4").status == "error"
    assert verify("4", 4).status == "bad_gold"


def test_gold_parses_are_cached():
    _gold_answer.cache_clear()
    _parse_gold.cache_clear()
    _compare_parsed.cache_clear()
    for _ in range(8):
        assert verify("$\\boxed{\\frac{1}{\\sqrt{2}}}$", "\\frac{\\sqrt2}{2}").reason == "sympy"
    assert _gold_answer.cache_info().hits == 7
    assert _parse_gold.cache_info().misses == 1
    assert _compare_parsed.cache_info().hits == 7


@pytest.mark.timeout(60)
def test_verify_works_off_the_main_thread():
    # math-verify's own timeouts use signal.alarm, which raises in any other thread.
    out = []
    thread = threading.Thread(target=lambda: out.append(verify("$\\boxed{x^2+2x+1}$", "(x+1)^2")))
    thread.start()
    thread.join()
    assert out[0].status == "correct"


def test_fast_paths_skip_sympy():
    assert verify("#### 1,234.0", "1234").reason == "number"
    assert verify("\\boxed{x+1}", "x + 1").reason == "string"


def test_verifiers_import_nothing_else_of_ours():
    import ast
    from pathlib import Path

    import assay.verifiers

    for path in Path(assay.verifiers.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert not name.startswith("assay.") or name.startswith("assay.verifiers"), (path.name, name)
