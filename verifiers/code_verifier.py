"""The `code` verifier: run a Python solution against its tests in a sandbox it cannot leave,
and compare what it produced outside, where it cannot reach.

This module only reads text: it extracts the program from the response, parses the tests
(JSON, or Python source with `ast`, which executes nothing), hands both to a fresh sandbox
(sandbox_host.run_sandbox: namespaces, a minimal read-only root, cgroups, own uids, seccomp;
see sandbox_supervisor for how it is built and timed), and judges what comes back:

- stdin/stdout tests: each case is its own process; its output is the bytes it wrote to its
  stdout, compared here with the expected text (token-wise, numbers within 1e-6). An exit code
  decides nothing by itself; an uncaught exception fails the case.
- call tests (fn_name): the solution is a server the supervisor calls with each case's
  arguments; the return value comes back in the plain-value encoding (sandbox_protocol:
  exact builtin types only) and is compared here with the expected JSON value.
- assert tests (HumanEval's check(candidate), MBPP's asserts): the dataset's test code runs in
  a separate tests process under another uid; the solution's functions are proxies there that
  return decoded plain values, so an object that equals everything cannot reach the assert.

Time: `time_limit_s` is the solution's time for all cases together, counted as CPU and
sleep but not time spent waiting for a CPU, so a program that loops or sleeps past it is
`incorrect` (time_limit) whatever the machine's load, at module level or in a function. Only
a sandbox that reaches its host-side ceiling (sandbox_host.sandbox_ceiling: time not spent
waiting for a CPU, so a loaded machine extends it; its CPU time; an absolute wall time ten
times that) gives `timeout`, which is undecided. The reason names a case and a short code, never the
program's output or messages.

Modes (SANDBOX_MODES): `strict` (the default) requires every layer of
sandbox_protocol.LAYERS and answers `error` naming the missing ones, running nothing; `weak`
runs with what the host gives and says so in every reason. Choose with the verifier option
`sandbox`, the environment variable ASSAY_SANDBOX, or `assay verify --sandbox weak`.

Example:
    >>> verify_code("```python\\nprint(int(input()) * 2)\\n```", '{"inputs": ["2\\\\n"], "outputs": ["4\\\\n"]}').status
    'correct'
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from assay.verifiers import sandbox_protocol as protocol
from assay.verifiers.names import check_names
from assay.verifiers.sandbox_host import Limits, SandboxResult, run_sandbox, sandbox_check, sandbox_ceiling
from assay.verifiers.verdict import Verdict

SANDBOX_MODES = {
    "strict": "every isolation layer is required; a host that lacks one gets `error` naming it, and nothing runs",
    "weak": "run with the layers this host gives; each verdict's reason says the sandbox is weak and what it lacks",
}
SANDBOX_ENV = "ASSAY_SANDBOX"  # default mode for callers that cannot pass the option
OPT_IN = "`--sandbox weak` (verifier option sandbox='weak', or ASSAY_SANDBOX=weak)"
CLEANUP_S = 5.0  # killing the sandbox and removing its cgroups, after the ceiling
MAX_EXTRACTED_CHARS = 2000


@dataclass
class Suite:
    mode: str  # "stdio" | "call" | "assert"
    inputs: list[Any] = field(default_factory=list)  # stdio: stdin texts; call: argument lists
    outputs: list[Any] = field(default_factory=list)  # stdio: expected stdout; call: expected return values
    fn_name: str | None = None
    setup: list[str] = field(default_factory=list)  # assert: statements run before the cases
    tests: list[str] = field(default_factory=list)  # assert: one statement per case
    imports: list[str] = field(default_factory=list)  # assert: the setup's imports, run in the solution too

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
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            tests.imports.append(source)
    if not tests.tests:
        return "test source has no assert statements or check calls"
    return tests


def check_tests(gold: str, **options: Any) -> Verdict:
    """The code verifier's gold check (its VerifierSpec.gold_check): the gold must parse as a
    test suite; nothing runs. A gold is tests, not a solution, so there is no round trip.

    >>> check_tests("assert f(1) == 2")
    Verdict(status='correct', score=1.0, extracted=None, reason='1 test cases')
    """
    suite = parse_tests(gold) if isinstance(gold, str) else "gold is not text"
    return Verdict.fail("bad_gold", suite) if isinstance(suite, str) else Verdict.of(True, None, f"{len(suite)} test cases")


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


def _plain_equal(got: Any, expected: Any) -> bool:
    """JSON-shaped equality where a bool equals only a bool (True is not 1 here)."""
    if type(got) is bool or type(expected) is bool:
        return type(got) is type(expected) and got == expected
    if type(got) in (int, float) and type(expected) in (int, float):
        return got == expected
    if type(got) is list and type(expected) is list:
        return len(got) == len(expected) and all(_plain_equal(a, b) for a, b in zip(got, expected))
    if type(got) is dict and type(expected) is dict:
        return got.keys() == expected.keys() and all(_plain_equal(got[k], expected[k]) for k in got)
    return type(got) is type(expected) and got == expected


def returns_match(got: Any, expected: Any) -> bool:
    """A decoded return value against a JSON expected value: tuples compare as lists and dict
    keys as their JSON text, as if the value had gone through JSON; APPS wraps call-based
    expected values in a one-element list, so that form matches too."""
    try:
        got = json.loads(json.dumps(got))
        return _plain_equal(got, expected) or (type(expected) is list and len(expected) == 1 and _plain_equal(got, expected[0]))
    except (TypeError, ValueError, RecursionError):
        return False


def sandbox_mode(option: str | None) -> str:
    """The mode named by the option, else by ASSAY_SANDBOX, else strict."""
    mode = option if option is not None else os.environ.get(SANDBOX_ENV) or "strict"
    check_names(SANDBOX_MODES, [mode], "sandbox mode")
    return mode


def _time_limit(options: Mapping[str, Any]) -> float:
    value = options.get("time_limit_s", Limits.time_limit_s)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else Limits.time_limit_s


def pool_budget_s(options: Mapping[str, Any]) -> float:
    """The longest wall time one `code` item may legitimately hold a worker: the sandbox's
    absolute wall-clock ceiling for its time limit (a starved sandbox may run that long),
    plus killing it and removing its cgroups. A pool that kills a code item sooner turns a
    decided verdict into a timeout.

    Example:
        >>> pool_budget_s({"time_limit_s": 2})
        225.0
    """
    return sandbox_ceiling(Limits(time_limit_s=_time_limit(options))).wall_s + CLEANUP_S


def sandbox_layers() -> list[str]:
    """The isolation layers this host gives (a probe sandbox that runs nothing)."""
    return [name for name, why in sandbox_check().items() if why is None]


def _job(tests: Suite, code: str) -> dict[str, Any]:
    job: dict[str, Any] = {"mode": tests.mode, "code": code, "fn_name": tests.fn_name}
    if tests.mode == "stdio":
        job["inputs"] = [text.encode("utf-8", "replace") for text in tests.inputs]
    elif tests.mode == "call":
        job["inputs"] = [protocol.encode((tuple(args), {})) for args in tests.inputs]
    else:
        job.update(setup=tests.setup, tests=tests.tests, imports=tests.imports)
    return job


def _case_outcome(tests: Suite, case: dict[str, Any]) -> str | None:
    """None when the case passed, else a short code: why it failed."""
    index, end, detail = case["case"], case["end"], case.get("detail", "")
    if not isinstance(index, int) or not 0 <= index < len(tests):
        return "no_result"
    if end != "ok":
        return f"{end} ({detail})" if detail else end
    if tests.mode == "stdio":
        got = case.get("out", b"").decode("utf-8", "replace")
        return None if outputs_match(got, tests.outputs[index]) else "wrong_output"
    if tests.mode == "call":
        try:
            value = protocol.decode(case.get("ret", b""))
        except protocol.Refused:
            return "refused"
        if type(value) is not tuple or len(value) != 2:
            return "refused"
        return None if returns_match(value[0], tests.outputs[index]) else "wrong_return"
    return None


UNDECIDED = ("wall_clock_ceiling", "no_result", "tests_died")  # not the solution's doing


def verify_code(
    response: str,
    gold: str,
    time_limit_s: float = Limits.time_limit_s,
    memory_mb: int = Limits.memory_mb,
    sandbox: str | None = None,
) -> Verdict:
    """`code` verifier: score = fraction of test cases passed; correct when all pass.

    gold is the tests: assert-style Python source (each top-level assert or call is one case;
    other statements are setup), or JSON {"inputs": [...], "outputs": [...]} (stdin/stdout;
    with "fn_name", call-based), or a JSON list of {"input": ..., "output": ...}.
    time_limit_s: the solution's charged time for all cases together; memory_mb: its memory,
    all processes together; sandbox: "strict" or "weak" (SANDBOX_MODES).
    """
    mode = sandbox_mode(sandbox)
    tests = parse_tests(gold)
    if isinstance(tests, str):
        return Verdict.fail("bad_gold", tests)
    code = extract_code(response)
    if code is None:
        return Verdict.fail("no_answer", "no ```python block and the response is not Python")
    extracted = code if len(code) <= MAX_EXTRACTED_CHARS else code[:MAX_EXTRACTED_CHARS] + "..."
    limits = Limits(time_limit_s=_time_limit({"time_limit_s": time_limit_s}), memory_mb=int(memory_mb))
    result = run_sandbox(_job(tests, code), limits, strict=mode == "strict", judge=lambda case: _case_outcome(tests, case))
    if result.refused:
        return Verdict.fail("error", refusal(result), extracted)
    if result.error is not None:
        return Verdict.fail("error", f"sandbox failed: {result.error}", extracted)
    missing = "wall_clock_ceiling" if result.timed_out else "no_result"
    outcomes = [result.cases.get(i, missing) for i in range(len(tests))]
    passed = sum(why is None for why in outcomes)
    failures = [(i, why) for i, why in enumerate(outcomes) if why is not None]
    decided = [(i, why) for i, why in failures if why.split(" ")[0] not in UNDECIDED]
    note = f"; weak sandbox, missing: {', '.join(result.missing) or 'nothing'}" if mode == "weak" else ""
    if not failures:
        return Verdict("correct", 1.0, extracted, f"{passed}/{len(tests)} cases passed{note}")
    index, why = (decided or failures)[0]
    status = "incorrect" if decided else "timeout" if result.timed_out else "error"
    return Verdict(status, passed / len(tests), extracted, f"{passed}/{len(tests)} passed; case {index}: {why}{note}")


def refusal(result: SandboxResult) -> str:
    """The `error` reason of a strict run on a host that lacks layers: which, why, the opt-in."""
    reasons = dict.fromkeys(result.layers.get(name) or "" for name in result.refused)
    return (f"sandbox refused: this host lacks {', '.join(result.refused)} ({'; '.join(r for r in reasons if r)}); "
            f"untrusted code runs only with every layer. Opt in to a weaker sandbox with {OPT_IN}; "
            "`assay verify --sandbox-check` lists what this host gives")
