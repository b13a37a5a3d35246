"""The verifier pool: order, CPU budgets that kill, retries, dead workers replaced, load-proof
verdicts, no import of the caller's script, caps, caching."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from assay.verifiers import (
    MAX_INPUT_CHARS,
    VERIFIERS,
    Check,
    GoldCheck,
    RunStats,
    VerifierSpec,
    check_gold,
    check_golds,
    verify,
    verify_batch,
)
from assay.verifiers.math_verifier import _compare_parsed, _gold_answer, _parse_gold
from assay.verifiers import runner
from assay.verifiers.runner import Budget, Killed, close_pool, run_isolated


def _echo(x):
    return x


def _spin_then_echo(x):
    if x == "spin":
        while True:
            pass
    return x


def _sleep_then_echo(x, seconds=3600.0):
    if x == "sleep":
        time.sleep(seconds)
    return x


def _die_on(x):
    if x == "die":
        os._exit(7)
    return x


def _raise_on(x):
    if x == "raise":
        raise ValueError("bad input")
    return x


def _environment():
    return dict(os.environ)


def _pid():
    return os.getpid()


@pytest.fixture
def burners():
    """Start n processes that burn CPU for the length of a test: a machine busier than its cores."""
    procs = []

    def start(n):
        procs.extend(subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n))

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def test_unknown_verifier_fails_listing_the_valid_ones():
    with pytest.raises(ValueError, match=f"unknown verifier 'maths'; valid: {', '.join(VERIFIERS)}, "):
        verify("4", "4", verifier="maths")
    with pytest.raises(ValueError, match="valid: math"):
        verify_batch([Check("4", "4", "sympy")], workers=1)


@pytest.mark.timeout(120)
def test_batch_keeps_input_order_across_verifiers():
    items = [
        Check("#### 18", "18"),
        Check("The answer is (C).", "C", "mc"),
        Check("Answer: 3.1416", "3.14159", "numeric", {"rel_tol": 1e-4}),
        Check("Answer: Lyon", "Paris", "exact"),
        Check("no idea", "7"),
    ] * 7
    stats = RunStats()
    statuses = [v.status for v in verify_batch(items, workers=2, stats=stats)]
    assert statuses == ["correct", "correct", "correct", "incorrect", "no_answer"] * 7
    assert stats.counts == {"correct": 21, "incorrect": 7, "no_answer": 7}
    assert "correct 21, incorrect 7, no_answer 7; retried 0, killed 0" in stats.summary()


def test_a_gold_is_capped_unless_its_spec_lifts_the_cap():
    long_suite = json.dumps({"inputs": ["x" * MAX_INPUT_CHARS], "outputs": ["y"]})
    assert verify("no program", long_suite, "code").status == "no_answer"  # read as tests, however long
    assert verify("7", "7" * (MAX_INPUT_CHARS + 1), "exact").reason == "input_too_large: gold has 50,001 characters (limit 50,000)"


def test_verify_batch_takes_checks_only():
    with pytest.raises(TypeError, match="verify_batch takes Check items; item 1 is a dict"):
        verify_batch([Check("4", "4"), {"response": "4", "gold": "4"}], workers=1)
    with pytest.raises(ValueError, match="options must be a mapping, got list"):
        Check("4", "4", "numeric", [1e-3])


def test_an_items_budget_comes_from_its_verifiers_spec():
    assert VERIFIERS["math"].budget({}, 2.0) == Budget(2.0, 20.0)  # off the CPU: CEILING_FACTOR (10) x the CPU budget
    # code waits on its sandbox: the ceiling for a 2 s time limit is 220 s of wall time, plus 5 s to clean up
    assert VERIFIERS["code"].budget({"time_limit_s": 2}, 2.0) == Budget(2.0, 225.0)
    assert VERIFIERS["code"].budget({"time_limit_s": 2}, 2.0, runs_fn=False) == Budget(2.0, 20.0)  # its gold check only parses
    assert VerifierSpec(VERIFIERS["exact"].fn, timeout_s=0.3).budget({}, 2.0) == Budget(0.3, 3.0)  # a plug-in's TIMEOUT_S wins


@pytest.mark.timeout(120)
def test_check_golds_checks_each_gold_the_way_its_spec_says():
    suite = json.dumps({"inputs": ["1\n"], "outputs": ["2\n"]})
    long_suite = json.dumps({"inputs": ["x" * MAX_INPUT_CHARS], "outputs": ["y"]})
    golds = [
        GoldCheck("1/2"),
        GoldCheck("E", "mc", {"choices": ["a", "b"]}),
        GoldCheck(suite, "code"),  # a code gold is a test suite: parsed, never run
        GoldCheck("def f(:", "code"),
        GoldCheck(long_suite, "code"),  # and may be longer than MAX_INPUT_CHARS
    ]
    verdicts = check_golds(golds, workers=2)
    assert [v.status for v in verdicts] == ["correct", "bad_gold", "correct", "bad_gold", "correct"]
    assert verdicts[2].reason == verdicts[4].reason == "1 test cases"
    assert verdicts[3].reason.startswith("tests are neither JSON nor Python")
    in_process = [check_gold(g.gold, g.verifier, **g.options) for g in golds]
    assert [(v.status, v.reason) for v in verdicts] == [(v.status, v.reason) for v in in_process]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_spinning_call_is_killed_at_its_cpu_budget_retried_once_and_the_batch_completes():
    calls = [("a",), ("spin",), ("b",), ("spin",), ("c",)] + [(str(i),) for i in range(20)]
    results, stats = run_isolated(_spin_then_echo, calls, workers=2, budgets=[0.3] * len(calls), chunk=4)
    assert results[0] == "a" and results[2] == "b" and results[4] == "c"
    for killed in (results[1], results[3]):
        assert killed.reason == "timeout" and "of CPU (budget 0.3 s), 2 tries" in killed.detail
    assert results[5:] == [str(i) for i in range(20)]
    assert stats.killed == 4 and stats.retried == 2 and stats.died == 0
    assert stats.cpu_s[1] >= 0.3 and stats.cpu_s[3] >= 0.3  # the budget counts CPU time


def _busy(n):
    return sum(i * i for i in range(n))


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_result_past_its_budget_is_a_timeout_however_soon_it_arrives():
    # A verdict must not depend on whether the pool looked at the clock before the result came:
    # a call that returns after using more CPU than its budget is judged by its own clock.
    run_isolated(_echo, [(0,)], workers=1, budgets=[5.0])  # a warm worker
    results, stats = run_isolated(_busy, [(200_000,), (1,)], workers=1, budgets=[Budget(1e-6, 10.0), Budget(5.0, 50.0)])
    assert results[0].reason == "timeout" and "of CPU (budget 1e-06 s), 2 tries" in results[0].detail
    assert results[1] == 0
    assert stats.killed == 2 and stats.retried == 1 and stats.started == 0  # nothing had to be killed


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_budget_is_cpu_time_so_a_call_that_waits_is_not_killed_before_its_ceiling():
    # 1 s asleep uses no CPU: within a 0.2 s CPU budget whose ceiling off the CPU is 2 s...
    results, stats = run_isolated(_sleep_then_echo, [("sleep", 1.0), ("x",)], workers=1, budgets=[Budget(0.2, 2.0)] * 2)
    assert results == ["sleep", "x"] and stats.killed == 0
    # ...while a call asleep for good is let go at that ceiling, on both tries.
    results, stats = run_isolated(_sleep_then_echo, [("sleep",), ("y",)], workers=2, budgets=[Budget(0.2, 1.0)] * 2)
    assert results[1] == "y"
    assert results[0].reason == "timeout" and "off the CPU (budget 1 s)" in results[0].detail
    assert stats.killed == 2 and stats.retried == 1


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_worker_that_dies_is_replaced_and_its_item_tried_again_before_it_is_an_error():
    calls = [("x",), ("die",), ("y",), ("die",), ("z",)]
    results, stats = run_isolated(_die_on, calls, workers=2, budgets=[5.0] * 5, chunk=2)
    assert results[0] == "x" and results[2] == "y" and results[4] == "z"
    assert results[1] == results[3] == Killed("died", "worker exited with code 7")
    assert stats.died == 4 and stats.retried == 2


@pytest.mark.timeout(60)
def test_a_call_that_raises_is_its_result_without_a_retry():
    results, stats = run_isolated(_raise_on, [("raise",), ("ok",)], workers=1, budgets=[5.0] * 2)
    assert results == [Killed("died", "ValueError: bad input"), "ok"]
    assert stats.retried == 0 and stats.died == 0


def test_functions_of_the_calling_script_are_refused():
    def local(x):
        return x

    with pytest.raises(ValueError, match="importable module"):
        run_isolated(local, [(1,)], workers=1, budgets=[1.0])
    main_fn = type(_echo)(_echo.__code__, {}, "main_fn")
    main_fn.__module__ = "__main__"
    with pytest.raises(ValueError, match="never import the calling script"):
        run_isolated(main_fn, [(1,)], workers=1, budgets=[1.0])


@pytest.mark.timeout(120)
def test_the_pool_is_kept_between_batches():
    run_isolated(_echo, [(1,), (2,)], workers=2, budgets=[5.0] * 2)
    pool = {w.proc.pid for w in runner._POOL.workers}
    first, stats = run_isolated(_pid, [()] * 8, workers=2, budgets=[5.0] * 8)
    again, stats_again = run_isolated(_pid, [()] * 8, workers=2, budgets=[5.0] * 8)
    assert stats.started == stats_again.started == 0
    assert set(first) | set(again) <= pool and len(pool) == 2


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_workers_get_no_secrets_from_the_callers_environment(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setenv("ASSAY_SANDBOX", "strict")
    close_pool()  # workers take their environment when they start
    (env,), _ = run_isolated(_environment, [()], workers=1, budgets=[5.0])
    assert "HF_TOKEN" not in env and env["ASSAY_SANDBOX"] == "strict" and env["PATH"] == os.environ["PATH"]
    close_pool()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_verdicts_do_not_change_when_the_machine_is_saturated(burners):
    """Three CPU burners per core, and a pool started cold under that load: every trivially
    correct item is still correct (a worker's start-up and its waits for a CPU are not the
    item's time)."""
    burners(3 * (os.cpu_count() or 2))
    close_pool()
    items = [Check(f"\\boxed{{{i}}}", str(i)) for i in range(200)]
    items += [Check("B", "B", "mc"), Check("0.5", "1/2", "numeric")]
    stats = RunStats()
    verify_batch(items, workers=2, timeout_s=0.5, stats=stats)
    assert stats.counts == {"correct": 202}, stats.summary()
    assert stats.killed == 0 and stats.retried == 0


SCRIPT = """
import os, sys
with open(sys.argv[1] if len(sys.argv) > 1 else os.environ["MARKER"], "a") as f:
    f.write("ran\\n")
from assay.verifiers import Check, verify_batch
print(" ".join(v.status for v in verify_batch([Check("\\\\boxed{7}", "7"), Check("B", "B", "mc")], workers=2)))
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("how", ["script", "stdin", "-c"])
def test_workers_never_run_the_calling_script(tmp_path, how):
    """A script without a main guard (as TRL's examples are), read from a file, stdin or -c:
    its top level runs once, in the caller, never in a worker."""
    marker = tmp_path / "marker"
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "MARKER": str(marker)}
    argv = {"script": [sys.executable, str(script), str(marker)], "stdin": [sys.executable, "-"], "-c": [sys.executable, "-c", SCRIPT]}[how]
    out = subprocess.run(argv, input=SCRIPT if how == "stdin" else None, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["correct", "correct"]
    assert marker.read_text() == "ran\n"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_workers_leave_when_their_caller_is_killed(tmp_path):
    code = (
        "import os, sys\n"
        "from assay.verifiers import runner\n"
        "from tests.verifiers.test_runner import _pid\n"
        "runner.run_isolated(_pid, [()] * 4, workers=2, budgets=[5.0] * 4)\n"
        "print(*[w.proc.pid for w in runner._POOL.workers], flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[2], timeout=100)
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 2
    for _ in range(200):
        alive = [p for p in pids if Path(f"/proc/{p}").exists() and "zombie" not in _state(p)]
        if not alive:
            break
        time.sleep(0.05)
    assert not alive


def _state(pid):
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0].lower()
    except (OSError, IndexError):
        return "zombie"


@pytest.mark.timeout(120)
def test_pathological_inputs_never_hold_a_worker_past_its_budget():
    nested = "\\boxed{" + "(" * 5000 + "1" + ")" * 5000 + "}"
    items = [
        Check(nested, "1"),
        Check("$\\boxed{10^{10^{10^{10}}}}$", "5"),
        Check("x" * (MAX_INPUT_CHARS + 1), "5"),
        Check("\\boxed{9^{9^{9}}}", "5"),
        Check("\\boxed{4}", "4"),
    ]
    verdicts = verify_batch(items, workers=2, timeout_s=2.0)
    assert [v.status for v in verdicts] == ["error", "error", "error", "error", "correct"]


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
