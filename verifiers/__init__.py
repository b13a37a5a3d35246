"""Reward verification: correct, fast, and impossible to hang.

A verifier is a top-level, picklable, signal-free function
`(response: str, gold: str, **options) -> Verdict`, chosen from the one table VERIFIERS:

| key     | checks                                                        | options                       |
|---------|---------------------------------------------------------------|-------------------------------|
| math    | final answer equals gold as mathematics (math-verify + sympy) | -                             |
| numeric | final number within tolerance of gold                         | rel_tol, abs_tol              |
| mc      | chosen letter equals gold letter (or the choice text)         | choices (texts, letter order) |
| exact   | final answer equals gold after string normalization           | -                             |
| code    | Python solution passes the tests in gold, in a sandbox        | time_limit_s, memory_mb, sandbox |

Verifiers of your own (verifiers/plugins.py) are named by `package.module:function` or by an
installed entry point of group `assay.verifiers`; `resolve_verifier` is the one place any name
is looked up, built-in or plug-in, and a plug-in runs in the same workers under the same budgets.

`verify` runs one check in this process: no timeout (the code verifier's sandbox has its own).
`verify_batch` runs many in the process's worker pool, where an item that uses up its CPU
budget is killed (verifiers/runner.py: verdicts never depend on machine load): use it for
anything that came from a model. Inputs over MAX_INPUT_CHARS are not parsed (status error).
VERIFIER_VERSION changes whenever a verdict can change; the difficulty table records it, with
`+NAME@VERSION` added for each plug-in a run used (`verifier_version`).

Example:
    >>> verify("... so the answer is $\\\\boxed{\\\\dfrac{1}{2}}$.", "0.5")
    Verdict(status='correct', score=1.0, extracted='\\\\dfrac{1}{2}', reason='number')
    >>> [v.status for v in verify_batch([{"response": "#### 18", "gold": "18"},
    ...                                  {"response": "B", "gold": "C", "verifier": "mc"}], workers=2)]
    ['correct', 'incorrect']
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Mapping, Sequence

from assay.verifiers.code_verifier import pool_budget_s, sandbox_layers, verify_code
from assay.verifiers import plugins
from assay.verifiers.math_verifier import verify_math
from assay.verifiers.runner import CEILING_FACTOR, Budget, Killed, RunStats, default_workers, run_isolated
from assay.verifiers.simple import verify_exact, verify_mc, verify_numeric
from assay.verifiers.verdict import STATUSES, Status, Verdict, as_verdict

__all__ = [
    "MAX_INPUT_CHARS",
    "OperatorSpec",
    "STATUSES",
    "Status",
    "VERIFIERS",
    "VERIFIER_VERSION",
    "Verdict",
    "ResolvedVerifier",
    "check_gold",
    "gold_as_response",
    "resolve_verifier",
    "sandbox_layers",
    "verify",
    "verifier_names",
    "verifier_version",
    "verify_batch",
]

VERIFIER_VERSION = "assay-verifiers-2"

VERIFIERS: dict[str, Callable[..., Verdict]] = {
    "math": verify_math,
    "numeric": verify_numeric,
    "mc": verify_mc,
    "exact": verify_exact,
    "code": verify_code,
}

MAX_INPUT_CHARS = 50_000  # a response (and a non-code gold) longer than this is not parsed
MAX_EXTRACTED_CHARS = 2000  # longer extracted answers are cut in the Verdict
DEFAULT_TIMEOUT_S = 2.0  # CPU seconds per item, in verify_batch
log = logging.getLogger(__name__)


class OperatorSpec(str):
    """A verifier name the operator gave (a `--verifier` flag, a config key, a caller's code)
    rather than one read from a data row. An item's verifier may be package.module:function
    only as an OperatorSpec: text from JSON, Parquet or a trainer's dataset is a plain str, so a
    row can never make a worker import and call a function of its choosing (`shutil:rmtree`).
    Like markupsafe's Markup: the type is the mark of trust, and it survives pickling.

    >>> isinstance(OperatorSpec("my_rewards.tags:answer_tag"), str)
    True
    """

    __slots__ = ()


@dataclass(frozen=True)
class ResolvedVerifier:
    """What a verifier name stands for."""

    name: str  # as given
    fn: Callable[..., Any]  # the function, loaded in this process
    version: str  # VERIFIER_VERSION, or VERIFIER_VERSION+NAME@VERSION for a plug-in
    plugin: plugins.Plugin | None = None  # None: a built-in (a key of VERIFIERS)


def verifier_names() -> list[str]:
    """The names a row may use: VERIFIERS' keys, then the installed plug-ins' entry points."""
    return [*VERIFIERS, *(name for name in plugins.entry_point_names() if name not in VERIFIERS)]


def resolve_verifier(spec: str, paths: bool = True) -> ResolvedVerifier:
    """The verifier `spec` names: a key of VERIFIERS, an installed entry point of group
    assay.verifiers, or (unless paths=False, as for a data row) package.module:function.
    ValueError when it names nothing (listing the valid names) or a plug-in that cannot be used.

    >>> resolve_verifier("numeric").version, resolve_verifier("assay.verifiers.simple:verify_exact").version[:26]
    ('assay-verifiers-2', 'assay-verifiers-2+assay.ve')
    """
    if isinstance(spec, str) and spec in VERIFIERS:
        return ResolvedVerifier(spec, VERIFIERS[spec], VERIFIER_VERSION)
    found = plugins.find_plugin(spec, paths) if isinstance(spec, str) and spec else None
    if found is None:
        raise ValueError(f"unknown verifier {spec!r}; valid: {', '.join(verifier_names())}"
                         + (", or package.module:function for a plug-in of your own" if paths else ""))
    fn = plugins.load(*found.location)
    return ResolvedVerifier(spec, fn, f"{VERIFIER_VERSION}+{spec}@{found.version}", found)


def verifier_version(names: Iterable[str]) -> str:
    """The version a run that used `names` records: VERIFIER_VERSION, plus `+NAME@VERSION` for
    each plug-in among them, sorted (a built-in-only run keeps the plain VERIFIER_VERSION).

    >>> verifier_version(["math", "mc", "math"])
    'assay-verifiers-2'
    """
    versions = sorted({resolve_verifier(name, paths=isinstance(name, OperatorSpec)).version for name in set(names)
                       if name not in VERIFIERS})
    return VERIFIER_VERSION + "".join(v.removeprefix(VERIFIER_VERSION) for v in versions)


def verify(response: str, gold: str, verifier: str = "math", **options: Any) -> Verdict:
    """Check one response against its gold with the named verifier (built-in or plug-in), in
    this process.

    Never raises for bad input: a crash inside a verifier is a Verdict with status error.
    Only a verifier name that resolves to nothing usable raises ValueError.
    """
    return _judge(resolve_verifier(verifier).fn, verifier, response, gold, options)


def _judge(fn: Callable[..., Any], verifier: str, response: str, gold: str, options: Mapping[str, Any]) -> Verdict:
    """fn(response, gold, **options) as a Verdict, with the input caps; a crash is status error."""
    if not isinstance(response, str):
        return Verdict.fail("error", f"response is a {type(response).__name__}, expected text")
    if not isinstance(gold, str):
        return Verdict.fail("bad_gold", f"gold is a {type(gold).__name__}, expected text")
    if len(response) > MAX_INPUT_CHARS:
        return Verdict.fail("error", f"input_too_large: response has {len(response):,} characters (limit {MAX_INPUT_CHARS:,})")
    if verifier != "code" and len(gold) > MAX_INPUT_CHARS:
        return Verdict.fail("bad_gold", f"input_too_large: gold has {len(gold):,} characters (limit {MAX_INPUT_CHARS:,})")
    try:
        verdict = as_verdict(fn(response, gold, **options))
        if verdict.extracted is not None and len(verdict.extracted) > MAX_EXTRACTED_CHARS:
            verdict = replace(verdict, extracted=verdict.extracted[:MAX_EXTRACTED_CHARS] + "...")
        return verdict
    except (Exception, RecursionError, MemoryError) as exc:  # noqa: BLE001 - a failure is a value
        return Verdict.fail("error", f"{type(exc).__name__}: {str(exc)[:200]}")


def check_gold(gold: str, verifier: str = "math", **options: Any) -> Verdict:
    """The gold round trip: a usable gold verifies as correct against itself.

    For `code` the gold is a test suite, not a solution: it is checked to parse as one.
    The gold-verifiable filter and `assay verify --audit` use this.
    """
    if verifier == "code":
        from assay.verifiers.code_verifier import parse_tests

        suite = parse_tests(gold) if isinstance(gold, str) else "gold is not text"
        return Verdict.fail("bad_gold", suite) if isinstance(suite, str) else Verdict.of(True, None, f"{len(suite)} test cases")
    return verify(gold_as_response(gold), gold, verifier, **options)


def gold_as_response(gold: str) -> str:
    """The response that states `gold` as its final answer: the gold in a \\boxed{}, so the
    round trip tests parsing and comparison, not extraction from prose."""
    return f"\\boxed{{{gold}}}"


def _verify_call(response: str, gold: str, verifier: str, options: dict[str, Any],
                 location: tuple[str, str, str] | None = None) -> Verdict:
    """In a worker: a built-in by name, or the plug-in at `location` (root, module, qualname),
    imported here: a worker is `python -I`, so the caller's PYTHONPATH and folder are not its."""
    if location is None:
        return verify(response, gold, verifier, **options)
    try:
        fn = plugins.load(*location)
    except Exception as exc:  # noqa: BLE001 - a plug-in that will not load is an error verdict
        return Verdict.fail("error", f"plug-in {verifier} did not load in the worker: {type(exc).__name__}: {str(exc)[:200]}")
    return _judge(fn, verifier, response, gold, options)


def _budget(verifier: str, options: Mapping[str, Any], timeout_s: float) -> Budget:
    if verifier != "code":
        return Budget.cpu(timeout_s)
    # The worker sleeps while the sandbox runs the solution under its own clocks and wall-clock
    # ceiling; the pool's limit on time off the CPU is only the backstop behind them.
    return Budget(timeout_s, max(CEILING_FACTOR * timeout_s, pool_budget_s(options)))


def verify_batch(
    items: Sequence[Mapping[str, Any]],
    workers: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    stats: RunStats | None = None,
) -> list[Verdict]:
    """Verify many items in this process's worker pool; one Verdict per item, in input order.

    Each item is a mapping with "response", "gold", optional "verifier" (default "math"; a key
    of VERIFIERS or an installed entry point, or package.module:function given as an
    OperatorSpec) and optional "options" (a dict of verifier options). `timeout_s` is an item's budget in CPU
    seconds of its worker, so a busy machine slows a batch down but does not change its
    verdicts. An item that uses up its budget (or whose worker dies) is tried once more on
    another worker, then gets status timeout (or error); either way the batch completes. Code
    items run in their sandbox under its own limits; a plug-in's under its TIMEOUT_S when it
    declares one. Pass a RunStats to receive counts per status, retries, kills and per-item
    times; the same summary is logged. An unknown verifier name raises ValueError before
    anything runs.
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    calls, budgets = [], []
    resolved: dict[str, ResolvedVerifier] = {}
    for index, item in enumerate(items):
        verifier = item.get("verifier") or "math"
        ref = resolved.get(verifier) if isinstance(verifier, str) else None
        if ref is None:  # each name is looked up once per batch; a bad one raises before anything runs
            ref = resolved[verifier] = resolve_verifier(verifier, paths=isinstance(verifier, OperatorSpec))
        plugin = ref.plugin
        options = item.get("options") or {}
        if not isinstance(options, Mapping):
            raise ValueError(f"item {index}: options must be a mapping, got {type(options).__name__}")
        calls.append((item.get("response"), item.get("gold"), verifier, dict(options), plugin and plugin.location))
        own = plugin.timeout_s if plugin is not None and plugin.timeout_s is not None else timeout_s
        budgets.append(_budget(verifier, options, own))
    results, run_stats = run_isolated(_verify_call, calls, workers or default_workers(), budgets)
    verdicts = [_as_verdict(r) for r in results]
    run_stats.counts.update(v.status for v in verdicts)
    if run_stats.counts["timeout"] or run_stats.counts["error"] or run_stats.killed or run_stats.died:
        log.warning("verify_batch of %d items: %s", len(verdicts), run_stats.summary())
    else:
        log.info("verify_batch of %d items: %s", len(verdicts), run_stats.summary())
    if stats is not None:
        stats.__dict__.update(run_stats.__dict__)
    return verdicts


def _as_verdict(result: Any) -> Verdict:
    if isinstance(result, Verdict):
        return result
    if isinstance(result, Killed):
        return Verdict.fail("timeout" if result.reason == "timeout" else "error", f"{result.reason}: {result.detail}")
    return Verdict.fail("error", f"verifier returned a {type(result).__name__}")
