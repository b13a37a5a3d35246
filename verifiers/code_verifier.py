"""The `code` verifier: run a Python solution against its tests in a subprocess sandbox.

The parent (this module) only reads text: it extracts the program from the response, parses
the tests (JSON, or Python source with `ast`, which does not execute anything), starts the
sandbox, and compares what the sandbox reports with the expected outputs. The solution runs
only inside `sandbox_harness.py`, in a separate interpreter:

    unshare --mount --net --pid --fork --kill-child --mount-proc  python -I -B sandbox_harness.py

- no network: `--net` gives the sandbox a new network namespace that holds nothing but a
  loopback interface that is down, so every connect fails (ENETUNREACH) whatever library the
  solution uses, including C extensions; the harness's audit hook also refuses to create a
  socket. The namespace is the real barrier: a Python-level block alone can be bypassed by
  native code, while an empty network namespace cannot be reached from inside.
- processes: `--pid` puts the sandbox in its own PID namespace (it cannot see or signal host
  processes, and when its first process dies the kernel kills every other one in it, even
  those that called setsid). The number of processes is capped by a pids cgroup made for each
  run (pids.max = `nproc`): RLIMIT_NPROC, which is per user, is never enforced for root, and
  assay often runs as root in containers, where a fork bomb would otherwise only stop at the
  machine's pid_max. RLIMIT_NPROC is set as well (it holds for non-root users) and the audit
  hook refuses os.fork/subprocess.
- files: the whole filesystem is read-only inside the sandbox except its fresh temp dir
  (see the harness), and RLIMIT_FSIZE caps what it can write there.
- time and memory: RLIMIT_CPU and RLIMIT_AS inside; a wall-clock deadline outside, at which
  the parent kills the sandbox's process group (and with it the PID namespace). The sandbox
  also dies with its parent (PR_SET_PDEATHSIG), so a runner that kills a hung worker leaves no
  orphans.

Where `unshare` is unavailable (not Linux, no permission), the sandbox runs with resource
limits and the audit hook only; `sandbox_layers()` says which layers are active.

Example:
    >>> verify_code("```python\\nprint(int(input()) * 2)\\n```", '{"inputs": ["2\\\\n"], "outputs": ["4\\\\n"]}').status
    'correct'
"""

from __future__ import annotations

import ast
import ctypes
import json
import math
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from assay.verifiers.verdict import Verdict

HARNESS = Path(__file__).with_name("sandbox_harness.py")
PIDS_CGROUP_ROOT = Path("/sys/fs/cgroup/pids")  # cgroup v1 pids controller
UNSHARE = ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
MAX_OUTPUT_BYTES = 8 * 2**20  # what the sandbox may print in all; more is killed as output_too_large
STARTUP_GRACE_S = 2.0  # interpreter start and namespace setup, on top of the solution's time limit


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox run (one solution against all its tests)."""

    time_limit_s: float = 10.0  # wall clock for all cases together; each case gets the same bound
    memory_mb: int = 1024  # address space (RLIMIT_AS)
    fsize_mb: int = 16  # largest file it may write (RLIMIT_FSIZE)
    nproc: int = 16  # processes and threads (RLIMIT_NPROC, in the sandbox's own user namespace)


@dataclass
class Suite:
    mode: str  # "stdio" | "call" | "assert"
    inputs: list[Any] = field(default_factory=list)  # stdio: stdin texts; call: argument lists
    outputs: list[Any] = field(default_factory=list)  # stdio: expected stdout; call: expected return values
    fn_name: str | None = None
    setup: list[str] = field(default_factory=list)  # assert: statements run before the cases
    tests: list[str] = field(default_factory=list)  # assert: one statement per case

    def __len__(self) -> int:
        return len(self.tests) if self.mode == "assert" else len(self.inputs)


_FENCE = re.compile(r"```[ \t]*(python3?|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def extract_code(response: str) -> str | None:
    """The last ```python block (else the last fenced block); else the response itself when it
    is valid Python; else None."""
    blocks = [(lang, body) for lang, body in _FENCE.findall(response)]
    python = [body for lang, body in blocks if lang]
    if python or blocks:
        return (python or [body for _, body in blocks])[-1]
    try:
        ast.parse(response)
    except (SyntaxError, ValueError):
        return None
    return response if response.strip() else None


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(str(v) for v in value) + "\n"
    return str(value)


def parse_tests(gold: str) -> Suite | str:
    """The test suite in the gold text, or the reason it is unusable."""
    try:
        data = json.loads(gold)
    except (json.JSONDecodeError, ValueError):
        data = None
    if isinstance(data, str):
        return parse_tests(data)
    if isinstance(data, dict) and "inputs" in data and "outputs" in data:
        inputs, outputs = data["inputs"], data["outputs"]
        if not isinstance(inputs, list) or not isinstance(outputs, list) or len(inputs) != len(outputs) or not inputs:
            return "tests need equal, non-empty lists 'inputs' and 'outputs'"
        if data.get("fn_name"):
            return Suite("call", [a if isinstance(a, list) else [a] for a in inputs], outputs, str(data["fn_name"]))
        return Suite("stdio", [_text(i) for i in inputs], [_text(o) for o in outputs])
    if isinstance(data, list):
        if not data or not all(isinstance(c, dict) and "input" in c and "output" in c for c in data):
            return "a list of tests must hold {'input': ..., 'output': ...} objects"
        return Suite("stdio", [_text(c["input"]) for c in data], [_text(c["output"]) for c in data])
    if data is not None:
        return f"tests are JSON of type {type(data).__name__}, expected an object or a list"
    try:
        module = ast.parse(gold)
    except (SyntaxError, ValueError) as exc:
        return f"tests are neither JSON nor Python: {exc}"
    tests = Suite("assert")
    for node in module.body:
        source = ast.get_source_segment(gold, node) or ast.unparse(node)
        (tests.tests if isinstance(node, (ast.Assert, ast.Expr)) else tests.setup).append(source)
    if not tests.tests:
        return "test source has no assert statements or check calls"
    return tests


def _pdeathsig() -> None:
    # In the child between fork and exec: die with the worker that started us.
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


_cgroup_serial = 0


def _make_pids_cgroup(nproc: int) -> Path | None:
    """A fresh pids cgroup capped at `nproc`, or None where we may not make one."""
    global _cgroup_serial
    if not (PIDS_CGROUP_ROOT / "cgroup.procs").exists() or not os.access(PIDS_CGROUP_ROOT, os.W_OK):
        return None
    _cgroup_serial += 1
    path = PIDS_CGROUP_ROOT / f"assay-sandbox-{os.getpid()}-{_cgroup_serial}"
    try:
        path.mkdir()
        (path / "pids.max").write_text(str(nproc))
    except OSError:
        _remove_cgroup(path)
        return None
    return path


def _remove_cgroup(path: Path) -> None:
    # The kernel lets a cgroup go only once its last process is reaped; that takes a moment
    # after a SIGKILL of a PID namespace.
    for _ in range(50):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


@lru_cache(maxsize=1)
def _namespaces_work() -> bool:
    """Whether `unshare` can build the full sandbox here (probed once per process)."""
    if sys.platform != "linux" or shutil.which("unshare") is None:
        return False
    result = run_sandbox("pass", Suite("assert", tests=["assert True"]), Limits(time_limit_s=10), namespaces=True)
    return {"readonly_fs", "userns"} <= set(result.layers) and result.cases.get(0, {}).get("ok") is True


def sandbox_layers() -> list[str]:
    """The protections the sandbox uses on this machine, as the harness reports them."""
    result = run_sandbox("pass", Suite("assert", tests=["assert True"]), Limits(time_limit_s=10))
    return (["netns", "pidns"] if _namespaces_work() else []) + result.layers


@dataclass
class SandboxResult:
    layers: list[str] = field(default_factory=list)
    cases: dict[int, dict[str, Any]] = field(default_factory=dict)
    failure: str | None = None  # compile_error / setup_error message
    killed: str | None = None  # "timeout" | "output_too_large"
    returncode: int | None = None
    stderr: str = ""


def run_sandbox(code: str, tests: Suite, limits: Limits, namespaces: bool | None = None, guards: bool = True) -> SandboxResult:
    """Run `code` against `tests` in a fresh sandbox; never raises for anything the code does.

    namespaces=None uses them when they work here; guards=False drops the audit hook (tests use
    it to show the OS-level layers hold on their own).
    """
    if namespaces is None:
        namespaces = _namespaces_work()
    tmpdir = tempfile.mkdtemp(prefix="assay-sandbox-")
    os.chmod(tmpdir, 0o700)
    cgroup = _make_pids_cgroup(limits.nproc)
    job = {
        "code": code,
        "mode": tests.mode,
        "inputs": tests.inputs,
        "fn_name": tests.fn_name,
        "setup": tests.setup,
        "tests": tests.tests,
        "tmpdir": tmpdir,
        "cgroup": str(cgroup) if cgroup else None,
        "namespaces": namespaces,
        "guards": guards,
        "case_time_s": limits.time_limit_s,
        "limits": {"cpu_s": math.ceil(limits.time_limit_s) + 1, "memory_mb": limits.memory_mb, "fsize_mb": limits.fsize_mb, "nproc": limits.nproc},
    }
    argv = [*(UNSHARE if namespaces else []), sys.executable, "-I", "-B", str(HARNESS)]
    result = SandboxResult()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmpdir,
            start_new_session=True,  # its own process group, killed as one
            preexec_fn=_pdeathsig,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        )
        try:
            stdout, stderr = _communicate(proc, json.dumps(job).encode(), limits.time_limit_s + STARTUP_GRACE_S, result)
        finally:
            _kill_group(proc)
        result.returncode = proc.returncode
        result.stderr = stderr.decode("utf-8", "replace")[-2000:]
        for line in stdout.decode("utf-8", "replace").splitlines():
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(message, dict):
                continue
            if "layers" in message and not result.layers:
                result.layers = list(message["layers"])
            elif "case" in message and isinstance(message["case"], int) and message["case"] not in result.cases:
                result.cases[message["case"]] = message
            elif "compile_error" in message or "setup_error" in message:
                result.failure = str(message.get("compile_error") or message.get("setup_error"))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
        if cgroup is not None:
            _remove_cgroup(cgroup)
    return result


def _communicate(proc: subprocess.Popen, job: bytes, wall_s: float, result: SandboxResult) -> tuple[bytes, bytes]:
    """Feed the job, collect stdout/stderr until exit, the deadline, or the output cap."""
    assert proc.stdin and proc.stdout and proc.stderr
    try:
        proc.stdin.write(job)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    deadline = time.monotonic() + wall_s
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
    size = 0
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        selector.register(proc.stderr, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                result.killed = "timeout"
                break
            for key, _ in selector.select(remaining):
                data = os.read(key.fd, 65536)
                if not data:
                    selector.unregister(key.fileobj)
                    continue
                chunks[key.fd].append(data)
                size += len(data)
            if size > MAX_OUTPUT_BYTES:
                result.killed = "output_too_large"
                break
    _kill_group(proc)
    return b"".join(chunks[out_fd]), b"".join(chunks[err_fd])


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None and not stream.closed:
            stream.close()
    proc.wait()


def _lines(text: str) -> list[list[str]]:
    lines = [line.split() for line in text.strip().splitlines()]
    return [line for line in lines if line] if any(lines) else []


def outputs_match(got: str, expected: str) -> bool:
    """Token-wise equality, line by line, ignoring spacing; numbers within 1e-6."""
    a, b = _lines(got), _lines(expected)
    if a == b:
        return True
    if len(a) != len(b) or any(len(x) != len(y) for x, y in zip(a, b)):
        return False
    for x, y in zip(a, b):
        for s, t in zip(x, y):
            if s == t:
                continue
            try:
                if not math.isclose(float(s), float(t), rel_tol=1e-6, abs_tol=1e-6):
                    return False
            except ValueError:
                return False
    return True


def _returns_match(got: Any, expected: Any) -> bool:
    norm = lambda v: json.loads(json.dumps(v))  # tuples become lists, as in the JSON tests
    try:
        got = norm(got)
    except (TypeError, ValueError):
        return False
    # APPS wraps call-based expected values in a one-element list.
    return got == expected or (isinstance(expected, list) and len(expected) == 1 and got == expected[0])


def verify_code(
    response: str,
    gold: str,
    time_limit_s: float = Limits.time_limit_s,
    memory_mb: int = Limits.memory_mb,
) -> Verdict:
    """`code` verifier: score = fraction of test cases passed; correct when all pass.

    gold is the tests: assert-style Python source (each top-level assert or call is one case),
    or JSON {"inputs": [...], "outputs": [...]} (stdin/stdout; with "fn_name", call-based), or
    a JSON list of {"input": ..., "output": ...}.
    """
    tests = parse_tests(gold)
    if isinstance(tests, str):
        return Verdict.fail("bad_gold", tests)
    code = extract_code(response)
    if code is None:
        return Verdict.fail("no_answer", "no ```python block and the response is not Python")
    result = run_sandbox(code, tests, Limits(time_limit_s=time_limit_s, memory_mb=memory_mb))
    extracted = code if len(code) <= 2000 else code[:2000] + "..."
    if result.failure is not None:
        return Verdict.fail("incorrect", result.failure[:300], extracted)
    if not result.layers:
        return Verdict.fail("error", f"sandbox did not start (exit {result.returncode}): {result.stderr[-300:]}", extracted)
    passed = 0
    first_failure = ""
    for i in range(len(tests)):
        case = result.cases.get(i)
        if case is None:
            ok, why = False, result.killed or "no result"
        elif "error" in case:
            ok, why = False, str(case["error"])
        elif tests.mode == "stdio":
            ok, why = outputs_match(str(case.get("out", "")), tests.outputs[i]), "wrong output"
        elif tests.mode == "call":
            ok, why = _returns_match(case.get("ret"), tests.outputs[i]), "wrong return value"
        else:
            ok, why = case.get("ok") is True, "failed"
        passed += ok
        if not ok and not first_failure:
            first_failure = f"case {i}: {why}"[:300]
    score = passed / len(tests)
    if passed == len(tests):
        return Verdict("correct", 1.0, extracted, f"{passed}/{len(tests)} cases passed")
    timed_out = result.killed == "timeout" or "timeout" in first_failure
    status = "timeout" if timed_out else "incorrect"
    return Verdict(status, score, extracted, f"{passed}/{len(tests)} passed; {first_failure}")
