"""The code sandbox: hostile solutions are contained and reported while the host keeps working.

Each hostile program is run twice where possible: through the `code` verifier as deployed
(every layer on), and with the Python audit hook switched off, to show that the OS layers
(namespaces, read-only filesystem, pids cgroup, rlimits) hold on their own.
"""

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from assay.verifiers import sandbox_layers, verify, verify_batch
from assay.verifiers.code_verifier import PIDS_CGROUP_ROOT, Limits, Suite, parse_tests, run_sandbox

STDIO = '{"inputs": ["1\\n"], "outputs": ["ok\\n"]}'
ONE_CASE = Suite("stdio", inputs=["1\n"], outputs=["ok\n"])
LAYERS = sandbox_layers()
needs_os_layers = pytest.mark.skipif(
    not {"netns", "pidns", "readonly_fs", "pids_cgroup"} <= set(LAYERS),
    reason=f"OS-level sandbox layers unavailable here ({LAYERS}); only the audit hook is tested",
)


def _program(code: str) -> str:
    return f"Here is my solution.\n\n```python\n{code}\n```\n"


def _host_still_works() -> None:
    assert subprocess.run(["true"], timeout=10).returncode == 0
    assert verify("#### 18", "18").status == "correct"


def _sandbox_output(code: str, limits: Limits = Limits(time_limit_s=5)) -> str:
    result = run_sandbox(code, ONE_CASE, limits, guards=False)
    return str(result.cases.get(0))


def test_sandbox_reports_its_layers():
    assert "rlimits" in LAYERS and "audit_hook" in LAYERS


@pytest.mark.timeout(60)
def test_infinite_loop_is_killed_at_the_time_limit():
    start = time.monotonic()
    verdict = verify(_program("while True:\n    pass"), STDIO, "code", time_limit_s=1.0)
    assert verdict.status == "timeout" and verdict.score == 0.0
    assert time.monotonic() - start < 10
    _host_still_works()


@pytest.mark.timeout(60)
def test_fork_bomb_is_blocked_by_the_audit_hook():
    verdict = verify(_program("import os\nwhile True:\n    os.fork()"), STDIO, "code", time_limit_s=2.0)
    assert verdict.status == "incorrect"
    assert "creating processes is blocked" in verdict.reason
    _host_still_works()


@needs_os_layers
@pytest.mark.timeout(60)
def test_fork_bomb_without_the_hook_stops_at_the_pids_cgroup():
    # Safe on a shared machine: the pids cgroup caps the sandbox at Limits.nproc tasks even
    # for root, and killing the PID namespace's first process takes every fork with it.
    limits = Limits(time_limit_s=2.0, nproc=8)
    probe = run_sandbox(
        "import os, time\nn = 0\nfor _ in range(30):\n    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
        "    if pid == 0:\n        time.sleep(5)\n        os._exit(0)\n    n += 1\nprint(n)",
        ONE_CASE, limits, guards=False,
    )
    assert int(probe.cases[0]["out"]) <= 8  # bounded: the loop would make 30
    start = time.monotonic()
    result = run_sandbox("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", ONE_CASE, limits, guards=False)
    assert result.killed == "timeout" or "timeout" in result.cases[0]["error"]
    assert time.monotonic() - start < 15
    assert not [p for p in PIDS_CGROUP_ROOT.glob(f"assay-sandbox-{os.getpid()}-*")]  # cgroup gone: no process left
    _host_still_works()


@pytest.mark.timeout(60)
def test_memory_bomb_gets_memory_error():
    verdict = verify(_program("x = bytearray(8 * 2**30)\nprint('ok')"), STDIO, "code", time_limit_s=5.0)
    assert verdict.status == "incorrect" and "MemoryError" in verdict.reason
    grow = verify(_program("xs = []\nwhile True:\n    xs.append(' ' * 2**24)"), STDIO, "code", time_limit_s=5.0)
    assert grow.status == "incorrect" and "MemoryError" in grow.reason
    _host_still_works()


@pytest.mark.timeout(60)
def test_writing_outside_the_temp_dir_is_refused():
    target = Path("/tmp") / f"assay-escape-{uuid.uuid4().hex}"
    code = f"open({str(target)!r}, 'w').write('escaped')\nprint('ok')"
    verdict = verify(_program(code), STDIO, "code", time_limit_s=5.0)
    assert verdict.status == "incorrect" and "writing outside the temp dir is blocked" in verdict.reason
    assert not target.exists()
    inside = verify(_program("open('scratch.txt', 'w').write('x')\nprint(open('scratch.txt').read() and 'ok')"), STDIO, "code")
    assert inside.status == "correct"


@needs_os_layers
@pytest.mark.timeout(60)
def test_writing_outside_without_the_hook_hits_a_read_only_filesystem():
    target = Path("/tmp") / f"assay-escape-{uuid.uuid4().hex}"
    out = _sandbox_output(f"try:\n    open({str(target)!r}, 'w').write('x')\n    print('wrote')\nexcept OSError as e:\n    print(e.errno)")
    assert "'30\\n'" in out  # EROFS
    assert not target.exists()


@pytest.mark.timeout(60)
def test_opening_a_socket_is_refused():
    code = "import socket\ns = socket.create_connection(('1.1.1.1', 80), timeout=3)\nprint('ok')"
    verdict = verify(_program(code), STDIO, "code", time_limit_s=5.0)
    assert verdict.status == "incorrect" and "network access is blocked" in verdict.reason


@needs_os_layers
@pytest.mark.timeout(60)
def test_without_the_hook_the_network_namespace_has_no_route():
    code = "import socket, errno\ntry:\n    socket.create_connection(('1.1.1.1', 80), timeout=3)\n    print('connected')\nexcept OSError as e:\n    print(e.errno)"
    assert "'101\\n'" in _sandbox_output(code)  # ENETUNREACH


@needs_os_layers
@pytest.mark.timeout(60)
def test_sandbox_cannot_see_host_processes_or_remount():
    out = _sandbox_output("import os\nprint(sorted(int(p) for p in os.listdir('/proc') if p.isdigit())[-1] < 10)")
    assert "'True\\n'" in out
    remount = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.mount(b'none', b'/', None, 32 | 4096, None))"
    assert "'-1\\n'" in _sandbox_output(remount)


@pytest.mark.timeout(120)
def test_hostile_items_in_a_batch_do_not_stop_the_others():
    items = [
        {"response": _program("while True:\n    pass"), "gold": STDIO, "verifier": "code", "options": {"time_limit_s": 1.0}},
        {"response": _program("print('ok')"), "gold": STDIO, "verifier": "code"},
        {"response": "#### 18", "gold": "18"},
    ]
    assert [v.status for v in verify_batch(items, workers=2)] == ["timeout", "correct", "correct"]


def test_test_formats_parse():
    assert parse_tests("assert f(1) == 2\nimport math\nassert f(2) == 3").tests == ["assert f(1) == 2", "assert f(2) == 3"]
    assert parse_tests('{"inputs": ["1"], "outputs": ["2"]}').mode == "stdio"
    assert parse_tests('[{"input": "1", "output": "2"}]').inputs == ["1"]
    assert parse_tests('{"fn_name": "f", "inputs": [[1]], "outputs": [2]}').mode == "call"
    assert isinstance(parse_tests("x = 1"), str)
    assert isinstance(parse_tests("[1, 2]"), str)
