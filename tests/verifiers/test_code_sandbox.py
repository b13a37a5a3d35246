"""The `code` verifier end to end: test formats, verdicts and reasons, time accounting that does
not depend on machine load, and the strict / weak modes. Hostile programs are in
test_sandbox_hostile.py."""

import glob
import os
import signal
import subprocess
import sys
import threading

import pytest

from assay.verifiers import Check, verify, verify_batch
from assay.verifiers.code_verifier import parse_tests, pool_budget_s, returns_match, sandbox_mode
from assay.verifiers import sandbox_host
from assay.verifiers.sandbox_host import Ceiling, Limits, crossed, own_step_s, run_sandbox, sandbox_ceiling, sandbox_check, waited_ns

LAYERS = sandbox_check()
MISSING = [name for name, why in LAYERS.items() if why]
needs_layers = pytest.mark.skipif(bool(MISSING), reason=f"this host lacks sandbox layers {MISSING}: strict mode refuses here")

STDIO = '{"inputs": ["1 2\\n", "10 20\\n"], "outputs": ["3\\n", "30\\n"]}'
ADD = "assert add(1, 2) == 3\nassert add(-1, 1) == 0\n"


def _program(code: str) -> str:
    return f"Here is my solution.\n\n```python\n{code}\n```\n"


def _code(code: str, gold: str, **options):
    return verify(_program(code), gold, "code", **options)


def test_test_formats_parse():
    assert parse_tests("assert f(1) == 2\nimport math\nassert f(2) == 3").tests == ["assert f(1) == 2", "assert f(2) == 3"]
    assert parse_tests("import math\nfrom os import path\nx = 1\nassert f(2) == 3").imports == ["import math", "from os import path"]
    assert parse_tests('{"inputs": ["1"], "outputs": ["2"]}').mode == "stdio"
    assert parse_tests('[{"input": "1", "output": "2"}]').inputs == ["1"]
    assert parse_tests('{"fn_name": "f", "inputs": [[1]], "outputs": [2]}').mode == "call"
    assert isinstance(parse_tests("x = 1"), str)
    assert isinstance(parse_tests("[1, 2]"), str)


# (name, program, gold, status, reason)
VERDICTS = [
    ("stdio_right", "a, b = map(int, input().split())\nprint(a + b)", STDIO, "correct", "2/2 cases passed"),
    ("stdio_wrong", "a, b = map(int, input().split())\nprint(a * b)", STDIO, "incorrect", "0/2 passed; case 0: wrong_output"),
    ("stdio_sys_exit_after_output", "import sys\na, b = map(int, input().split())\nprint(a + b)\nsys.exit(3)", STDIO, "correct", "2/2 cases passed"),
    ("stdio_crash_after_right_output", "a, b = map(int, input().split())\nprint(a + b)\nraise KeyError('x')", STDIO, "incorrect", "0/2 passed; case 0: crash (KeyError)"),
    ("stdio_fd_write", "import os\na, b = map(int, input().split())\nos.write(1, f'{a + b}\\n'.encode())", STDIO, "correct", "2/2 cases passed"),
    ("stdio_syntax_error", "def f(:\n    pass", STDIO, "incorrect", "0/2 passed; case 0: crash (SyntaxError)"),
    ("assert_right", "def add(a, b):\n    return a + b", ADD, "correct", "2/2 cases passed"),
    ("assert_partial", "def add(a, b):\n    return abs(a) + b", ADD, "incorrect", "1/2 passed; case 1: failed (AssertionError)"),
    ("assert_raises", "def add(a, b):\n    raise ZeroDivisionError", ADD, "incorrect", "0/2 passed; case 0: failed (ZeroDivisionError)"),
    ("assert_missing_name", "def plus(a, b):\n    return a + b", ADD, "incorrect", "0/2 passed; case 0: failed (NameError)"),
    ("assert_load_error", "import this_module_does_not_exist\ndef add(a, b):\n    return a + b", ADD, "incorrect", "0/2 passed; case 0: load_error (ModuleNotFoundError)"),
    ("assert_main_guard_stays_quiet", "def add(a, b):\n    return a + b\nif __name__ == '__main__':\n    input()", ADD, "correct", "2/2 cases passed"),
    ("call_class_solution", "class Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n        for i, x in enumerate(nums):\n"
     "            if target - x in seen:\n                return (seen[target - x], i)\n            seen[x] = i",
     '{"fn_name": "twoSum", "inputs": [[[2, 7, 11, 15], 9], [[3, 2, 4], 6]], "outputs": [[0, 1], [1, 2]]}', "correct", "2/2 cases passed"),
    ("call_bool_is_not_int", "def f(x):\n    return x > 0", '{"fn_name": "f", "inputs": [[1], [0]], "outputs": [1, 0]}', "incorrect", "0/2 passed; case 0: wrong_return"),
    ("call_raises", "def f(x):\n    return 1 // x", '{"fn_name": "f", "inputs": [[1], [0]], "outputs": [1, 0]}', "incorrect", "1/2 passed; case 1: raised (ZeroDivisionError)"),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name,code,gold,status,reason", VERDICTS, ids=[v[0] for v in VERDICTS])
@needs_layers
def test_verdicts_and_reasons(name, code, gold, status, reason):
    verdict = _code(code, gold, time_limit_s=5.0)
    assert (verdict.status, verdict.reason) == (status, reason)


def test_returns_match_normalizes_like_json_but_keeps_bool_apart():
    assert returns_match((1, [2, 3]), [1, [2, 3]])
    assert returns_match({1: "a"}, {"1": "a"})
    assert returns_match([0, 1], [[0, 1]])  # APPS wraps expected values
    assert not returns_match(True, 1) and not returns_match(1, True)
    assert not returns_match(b"x", "x") and not returns_match({1, 2}, [1, 2])


@needs_layers
def test_helpers_of_the_tests_come_from_the_gold_not_the_solution():
    # HumanEval/38-style: check() uses encode_cyclic, defined by the tests' setup; a solution
    # that redefines it to make its own decoder look right does not change what check uses.
    gold = ("def encode(s):\n    return s[1:] + s[:1]\n\ndef check(candidate):\n"
            "    for word in ['abc', 'hello']:\n        assert candidate(encode(word)) == word\n\ncheck(decode)\n")
    right = "def decode(s):\n    return s[-1:] + s[:-1]"
    cheat = "def encode(s):\n    return s\n\ndef decode(s):\n    return s"
    assert _code(right, gold).status == "correct"
    assert _code(cheat, gold).status == "incorrect"
    uses_solution_helper = "def check(candidate):\n    assert candidate(helper(2)) == 5\n\ncheck(f)\n"
    assert _code("def helper(x):\n    return x + 1\n\ndef f(x):\n    return x + 2", uses_solution_helper).status == "correct"


@needs_layers
def test_arguments_changed_in_place_come_back_to_the_tests():
    gold = "def check(candidate):\n    xs = [3, 1, 2]\n    candidate(xs)\n    assert xs == [1, 2, 3]\n\ncheck(sort_in_place)\n"
    assert _code("def sort_in_place(xs):\n    xs.sort()", gold).status == "correct"


@needs_layers
def test_exceptions_keep_their_builtin_type_for_the_tests():
    gold = "def check(candidate):\n    try:\n        candidate(-1)\n    except ValueError as exc:\n        assert str(exc) == 'negative'\n    else:\n        raise AssertionError\n\ncheck(f)\n"
    assert _code("def f(x):\n    if x < 0:\n        raise ValueError('negative')", gold).status == "correct"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("code", [
    "while True:\n    pass\ndef add(a, b):\n    return a + b",
    "def add(a, b):\n    while True:\n        pass",
    "import time\ndef add(a, b):\n    time.sleep(10**6)",
    "import time\ntime.sleep(10**6)",
    # Work spread over 3 child processes: 0.9 s of CPU within one call, whatever the cores.
    "import os, time\ndef add(a, b):\n    pids = []\n    for _ in range(3):\n        pid = os.fork()\n        if pid == 0:\n"
    "            end = time.process_time() + 0.3\n            while time.process_time() < end:\n                pass\n            os._exit(0)\n"
    "        pids.append(pid)\n    for pid in pids:\n        os.waitpid(pid, 0)\n    return a + b",
], ids=["module_loop", "function_loop", "function_sleep", "module_sleep", "background_processes"])
@needs_layers
def test_loops_and_sleeps_anywhere_are_a_decided_time_limit(code):
    # Not `timeout`: the solution's own clock ran out, which no machine load causes.
    verdict = _code(code, ADD, time_limit_s=0.5)
    assert verdict.status == "incorrect" and verdict.reason == "0/2 passed; case 0: time_limit"


@pytest.mark.timeout(120)
@needs_layers
def test_a_stdio_time_limit_is_shared_by_all_cases():
    gold = '{"inputs": ["1\\n", "2\\n", "3\\n"], "outputs": ["1\\n", "2\\n", "3\\n"]}'
    verdict = _code("import time\nn = int(input())\ntime.sleep(0.3)\nprint(n)", gold, time_limit_s=0.5)
    assert verdict.status == "incorrect" and verdict.reason.startswith("1/3 passed; case 1: time_limit")


@pytest.mark.slow
@pytest.mark.timeout(180)
@needs_layers
def test_charged_time_does_not_depend_on_machine_load():
    # 0.4 s of CPU, limit 1.5 s. Eight busy processes on this machine make its wall time
    # several seconds; the verdict, counted in CPU and chosen sleep, stays `correct`.
    code = "import time\ndef add(a, b):\n    end = time.process_time() + 0.4\n    while time.process_time() < end:\n        pass\n    return a + b"
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(8)]
    try:
        verdict = _code(code, ADD, time_limit_s=1.5)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert verdict.status == "correct", verdict


@pytest.mark.timeout(120)
@needs_layers
def test_a_stopped_sandbox_ends_at_its_own_time_ceiling():
    # A stopped process waits for no CPU: a supervisor that hangs is not mistaken for a starved
    # one, and the host ends it at Ceiling.own_s (22 s for a 2 s limit), not at the absolute one.
    done = threading.Event()

    def stop_everything_in_the_sandbox() -> None:
        while not done.is_set():
            for procs in glob.glob(f"/sys/fs/cgroup/pids/{sandbox_host.CGROUP_PREFIX}{os.getpid()}-*/cgroup.procs"):
                try:
                    for pid in open(procs).read().split():
                        os.kill(int(pid), signal.SIGSTOP)
                except (OSError, ValueError):
                    continue
            done.wait(0.005)

    stopper = threading.Thread(target=stop_everything_in_the_sandbox)
    stopper.start()
    try:
        result = run_sandbox({"mode": "stdio", "code": "import time\ntime.sleep(60)", "inputs": [b""]}, Limits(time_limit_s=2.0))
    finally:
        done.set()
        stopper.join()
    assert (result.ceiling, result.finished) == ("own", False)
    assert glob.glob(f"/sys/fs/cgroup/**/{sandbox_host.CGROUP_PREFIX}{os.getpid()}-*", recursive=True) == []


@pytest.mark.timeout(60)
@needs_layers
def test_the_sandbox_reports_what_it_charged():
    result = run_sandbox({"mode": "stdio", "code": "import time\ntime.sleep(0.3)\nprint(1)", "inputs": [b""]}, Limits(time_limit_s=2.0))
    assert result.cases[0]["end"] == "ok" and result.cases[0]["out"] == b"1\n"
    assert 0.3 <= result.solution_s < 2.0  # the sleep is charged; start-up is not


@pytest.mark.timeout(60)
@needs_layers
def test_memory_and_output_caps_are_failures_with_reasons():
    gold = '{"inputs": ["\\n"], "outputs": ["ok\\n"]}'
    assert _code("x = bytearray(8 * 2**30)\nprint('ok')", gold).reason == "0/1 passed; case 0: crash (MemoryError)"
    assert _code("print('x' * (64 * 2**20))", gold).reason == "0/1 passed; case 0: output_limit"
    grow = _code("xs = []\nwhile True:\n    xs.append(' ' * 2**20)", gold, memory_mb=256)
    assert grow.status == "incorrect" and grow.reason in ("0/1 passed; case 0: crash (MemoryError)", "0/1 passed; case 0: memory_limit")


@pytest.mark.timeout(120)
@needs_layers
def test_hostile_items_in_a_batch_do_not_stop_the_others():
    items = [
        Check(_program("while True:\n    pass"), STDIO, "code", {"time_limit_s": 0.5}),
        Check(_program("a, b = map(int, input().split())\nprint(a + b)"), STDIO, "code"),
        Check("#### 18", "18"),
    ]
    assert [v.status for v in verify_batch(items, workers=2)] == ["incorrect", "correct", "correct"]


def test_pool_budget_is_the_absolute_wall_clock_ceiling_plus_cleanup():
    # 10 x (10 s start-up + 3 x (solution 2 s + tests 2 s)) + 5 s cleanup
    assert pool_budget_s({"time_limit_s": 2}) == 225.0
    assert pool_budget_s({}) == pool_budget_s({"time_limit_s": 10.0}) == 705.0
    assert pool_budget_s({"time_limit_s": "soon"}) == 705.0


def test_a_starved_sandbox_is_given_the_time_it_waited_for_a_cpu():
    # time_limit 1.5 s: 10 s start-up + 3 x (1.5 s + 1.5 s) = 19 s of its own time and of CPU; 190 s of wall time
    ceiling = sandbox_ceiling(Limits(time_limit_s=1.5))
    assert ceiling == Ceiling(own_s=19.0, cpu_s=19.0, wall_s=190.0)
    # Given an eighth of a CPU: each second it waits 0.875 s, so 0.125 s is its own. 151 s in,
    # 18.875 s are its own: it runs on (a wall-clock ceiling of 19 s killed it); at 152 s it ends.
    own = 0.0
    for second in range(1, 153):
        own += own_step_s(1.0, 0.875)
        assert crossed(ceiling, wall_s=float(second), own_s=own, cpu_s=2.0) == (None if second < 152 else "own")
    # Asleep or blocked it waits for no CPU: its own time is the wall time.
    assert crossed(ceiling, wall_s=18.5, own_s=18.5, cpu_s=0.5) is None
    assert crossed(ceiling, wall_s=19.0, own_s=19.0, cpu_s=0.5) == "own"
    # Threads spinning against each other (supervisor hung) wait for a CPU all the time, so
    # their own time stands still; their CPU time does not.
    assert own_step_s(0.5, 0.75) == 0.0 and own_step_s(0.5, 0.25) == 0.25
    assert crossed(ceiling, wall_s=40.0, own_s=0.0, cpu_s=19.0) == "cpu"
    # Starved for ever, or stuck in the kernel while waiting: the absolute ceiling.
    assert crossed(ceiling, wall_s=190.0, own_s=18.0, cpu_s=1.0) == "wall"
    # Run delays per task (ns): tid 10 waited 200 us more, tid 11 ended (nothing more), tid 12
    # is new (all of its 50 us), tid 13 is a new task with a reused tid (all of its 300 us).
    assert waited_ns({10: 1_000, 11: 500, 13: 900_000}, {10: 201_000, 12: 50_000, 13: 300_000}) == 550_000


def test_sandbox_mode_comes_from_the_option_then_the_environment(monkeypatch):
    monkeypatch.delenv("ASSAY_SANDBOX", raising=False)
    assert sandbox_mode(None) == "strict"
    monkeypatch.setenv("ASSAY_SANDBOX", "weak")
    assert sandbox_mode(None) == "weak" and sandbox_mode("strict") == "strict"
    with pytest.raises(ValueError, match="valid: strict, weak"):
        sandbox_mode("loose")


def test_every_layer_is_reported_with_a_reason_when_missing():
    assert set(LAYERS) == {"mount_ns", "net_ns", "pid_ns", "ipc_ns", "own_uid", "no_caps", "seccomp",
                           "memory_cgroup", "pids_cgroup", "cpu_cgroup", "schedstat"}
    assert os.environ.get("ASSAY_SANDBOX") != "weak"  # this suite checks the strict default


@needs_layers
@pytest.mark.timeout(60)
def test_cpu_accounting_falls_back_to_cgroup_v2_where_v1_lacks_it(monkeypatch):
    # Layers are found per controller: a host whose v1 hierarchies have no cpuacct (cgroup v2
    # only, or hybrid) counts the solution's CPU from a cgroup v2's cpu.stat instead.
    v1, v2 = sandbox_host._cgroup_mounts()
    if v2 is None:
        pytest.skip("no cgroup2 mount on this host")
    monkeypatch.setattr(sandbox_host, "_cgroup_mounts", lambda: ({k: p for k, p in v1.items() if k != "cpuacct"}, v2))
    cgroups = sandbox_host.make_cgroups(Limits())
    try:
        assert cgroups.layers["cpu_cgroup"] is None and cgroups.cpu[0].name == "cpu.stat" and cgroups.cpu[1] == 1000
    finally:
        sandbox_host.remove_cgroups(cgroups)
    code = "import os\ndef add(a, b):\n    pids = [os.fork() for _ in range(1)]\n    if pids[0] == 0:\n        while True:\n            pass\n    os.waitpid(pids[0], 0)"
    assert _code(code, ADD, time_limit_s=0.5).reason == "0/2 passed; case 0: time_limit"
    assert glob.glob(f"{v2}/{sandbox_host.CGROUP_PREFIX}*") == []
