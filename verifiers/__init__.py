"""Reward verification: correct, fast, and impossible to hang.

A verifier is a top-level, picklable, signal-free function
`(response: str, gold: str, **options) -> Verdict`, listed with what the runner must know
about it (its VerifierSpec) in the one table VERIFIERS:

| key     | checks                                                        | options                       |
|---------|---------------------------------------------------------------|-------------------------------|
| math    | final answer equals gold as mathematics (math-verify + sympy) | -                             |
| numeric | final number within tolerance of gold                         | rel_tol, abs_tol              |
| mc      | chosen letter equals gold letter (or the choice text)         | choices (texts, letter order) |
| exact   | final answer equals gold after string normalization           | -                             |
| code    | Python solution passes the tests in gold, in a sandbox        | time_limit_s, memory_mb, sandbox |

A spec says how long one item may take in the pool, how long a gold may be, how a gold is
checked (`check_gold`: by default the round trip, the gold verified against itself) and which
golds are safe to check in the caller's process; the runner and the gold filter read the spec,
never the verifier's name.

Verifiers of your own (verifiers/plugins.py) are named by `package.module:function` or by an
installed entry point of group `assay.verifiers`; `resolve_verifier` is the one place any name
is looked up, built-in or plug-in, and a plug-in runs in the same workers under the same budgets.

`verify` runs one check in this process: no timeout (the code verifier's sandbox has its own).
`verify_batch` runs many `Check`s in the process's worker pool, where an item that uses up its
CPU budget is killed (verifiers/runner.py: verdicts never depend on machine load): use it for
anything that came from a model; `check_golds` does the same for golds. Inputs over
MAX_INPUT_CHARS are not parsed (status error). VERIFIER_VERSION changes whenever a verdict can
change; the difficulty table records it, with `+NAME@VERSION` added for each plug-in a run used
(`verifier_version`). `decided`, `solved` and `reward` (verifiers/verdict.py) read a Verdict.

Example:
    >>> verify("... so the answer is $\\\\boxed{\\\\dfrac{1}{2}}$.", "0.5")
    Verdict(status='correct', score=1.0, extracted='\\\\dfrac{1}{2}', reason='number')
    >>> [v.status for v in verify_batch([Check("#### 18", "18"), Check("B", "C", "mc")], workers=2)]
    ['correct', 'incorrect']
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping, Sequence

from assay.verifiers.code_verifier import check_tests, pool_budget_s, sandbox_layers, verify_code
from assay.verifiers import plugins
from assay.verifiers.math_verifier import verify_math
from assay.verifiers.names import UnknownName
from assay.verifiers.runner import CEILING_FACTOR, Budget, Killed, RunStats, default_workers, run_isolated
from assay.verifiers.simple import verify_exact, verify_mc, verify_numeric
from assay.verifiers.verdict import DECIDED, STATUSES, Status, Verdict, as_verdict, decided, reward, solved

__all__ = [
    "Check",
    "DECIDED",
    "GoldCheck",
    "MAX_INPUT_CHARS",
    "OperatorSpec",
    "STATUSES",
    "Status",
    "VERIFIERS",
    "VERIFIER_VERSION",
    "Verdict",
    "VerifierSpec",
    "ResolvedVerifier",
    "check_gold",
    "check_golds",
    "decided",
    "gold_as_response",
    "resolve_verifier",
    "reward",
    "sandbox_layers",
    "solved",
    "verify",
    "verifier_names",
    "verifier_version",
    "verify_batch",
]

VERIFIER_VERSION = "assay-verifiers-2"
MAX_INPUT_CHARS = 50_000  # a response (and, unless its spec says otherwise, a gold) longer than this is not parsed
MAX_EXTRACTED_CHARS = 2000  # longer extracted answers are cut in the Verdict
DEFAULT_TIMEOUT_S = 2.0  # CPU seconds per item, in verify_batch
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifierSpec:
    """A verifier and what the runner, `check_gold` and the gold filter need to know about it.

    fn: (response, gold, **options) -> a Verdict (or a bool, or a score in [0, 1]).
    max_gold_chars: a longer gold is bad_gold, never parsed; None: no cap (code: a test suite).
    timeout_s: CPU seconds one item may take in the pool; None: the caller's timeout_s.
    off_cpu_s: options -> seconds an item may legitimately spend off the CPU (asleep, waiting on
        a child), when that is more than CEILING_FACTOR times its CPU budget (code: the sandbox's
        wall-clock ceiling); None: the ceiling is enough.
    gold_check: (gold, **options) -> Verdict, the gold's own check; None: the round trip (the
        gold, stated as an answer, verified against itself). Either way correct means usable.
    safe_gold: RE2 pattern of golds whose check does string and Fraction work on a few hundred
        characters at most, never sympy, so cannot hang: the gold filter checks those in its own
        process. None: every gold goes to the pool.
    sandboxed: fn runs the response as code in the sandbox and takes the `sandbox` option
        (strict or weak) that `assay verify --sandbox` sets.
    """

    fn: Callable[..., Any]
    max_gold_chars: int | None = MAX_INPUT_CHARS
    timeout_s: float | None = None
    off_cpu_s: Callable[[Mapping[str, Any]], float] | None = None
    gold_check: Callable[..., Verdict] | None = None
    safe_gold: str | None = None
    sandboxed: bool = False

    def budget(self, options: Mapping[str, Any], timeout_s: float, runs_fn: bool = True) -> Budget:
        """One item's budget in the pool, where the caller gave `timeout_s` CPU seconds;
        runs_fn=False for a gold_check, which does not run fn (nor its sandbox)."""
        cpu_s = self.timeout_s if self.timeout_s is not None else timeout_s
        # A code item's worker sleeps while the sandbox runs the solution under its own clocks
        # and wall-clock ceiling; the pool's limit on time off the CPU is only the backstop.
        off_cpu_s = self.off_cpu_s(options) if runs_fn and self.off_cpu_s is not None else 0.0
        return Budget(cpu_s, max(CEILING_FACTOR * cpu_s, off_cpu_s))


# Gold shapes that never reach sympy (math's documented exact paths): a plain integer, decimal,
# percent or fraction of at most 40 digits, and for math also a list of such numbers (or
# infinities) in optional brackets (tuples, sets, intervals); a lone choice letter for mc.
_DECIMAL = r"[+-]?(?:\d{1,40}(?:\.\d{0,40})?|\.\d{1,40})"
_NUMBER = rf"^{_DECIMAL}%?$|^[+-]?\d{{1,40}}/\d{{1,40}}$|^[+-]?\\[dt]?frac\{{[+-]?\d{{1,40}}\}}\{{[+-]?\d{{1,40}}\}}$"
_ELEMENT = rf"(?:{_DECIMAL}|[+-]?\\infty)"
_NUMBER_LIST = rf"^(?:\(|\[|\\\{{)?{_ELEMENT}(?:, ?{_ELEMENT})+(?:\)|\]|\\\}})?$"  # (1, 2), [0, \infty), 3, 4

VERIFIERS: dict[str, VerifierSpec] = {
    "math": VerifierSpec(verify_math, safe_gold=f"{_NUMBER}|{_NUMBER_LIST}"),
    "numeric": VerifierSpec(verify_numeric, safe_gold=_NUMBER),
    "mc": VerifierSpec(verify_mc, safe_gold=r"^\(?[A-Za-z]\)?$"),
    "exact": VerifierSpec(verify_exact, safe_gold=_NUMBER),
    # A gold is a test suite (any length), checked by parsing it; the solution runs in the sandbox.
    "code": VerifierSpec(verify_code, max_gold_chars=None, off_cpu_s=pool_budget_s, gold_check=check_tests, sandboxed=True),
}


@dataclass(frozen=True)
class Check:
    """One item of `verify_batch`: `response` judged against `gold` by `verifier` (a key of
    VERIFIERS, an installed entry point, or package.module:function given as an OperatorSpec)
    with `options`. Text that is not a str is judged as such (an error or bad_gold verdict).

    >>> Check("#### 18", "18")
    Check(response='#### 18', gold='18', verifier='math', options={})
    """

    response: str
    gold: str
    verifier: str = "math"
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_options(self.options)


@dataclass(frozen=True)
class GoldCheck:
    """One item of `check_golds`: is `gold` usable under `verifier` with `options`?

    >>> GoldCheck("3/4", "numeric")
    GoldCheck(gold='3/4', verifier='numeric', options={})
    """

    gold: str
    verifier: str = "math"
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_options(self.options)


def _check_options(options: Any) -> None:
    if not isinstance(options, Mapping):
        raise ValueError(f"options must be a mapping, got {type(options).__name__}")


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
    spec: VerifierSpec  # a built-in's entry of VERIFIERS; a plug-in's function, with its TIMEOUT_S
    version: str  # VERIFIER_VERSION, or VERIFIER_VERSION+NAME@VERSION for a plug-in
    plugin: plugins.Plugin | None = None  # None: a built-in (a key of VERIFIERS)

    @property
    def fn(self) -> Callable[..., Any]:
        """The function, loaded in this process."""
        return self.spec.fn


def verifier_names() -> list[str]:
    """The names a row may use: VERIFIERS' keys, then the installed plug-ins' entry points."""
    return [*VERIFIERS, *(name for name in plugins.entry_point_names() if name not in VERIFIERS)]


def resolve_verifier(spec: str, paths: bool = True) -> ResolvedVerifier:
    """The verifier `spec` names: a key of VERIFIERS, an installed entry point of group
    assay.verifiers, or (unless paths=False, as for a data row) package.module:function.
    UnknownName (a ValueError) when it names nothing, listing the valid names; ValueError for a
    plug-in that cannot be used.

    >>> resolve_verifier("numeric").version, resolve_verifier("assay.verifiers.simple:verify_exact").version[:26]
    ('assay-verifiers-2', 'assay-verifiers-2+assay.ve')
    """
    if isinstance(spec, str) and spec in VERIFIERS:
        return ResolvedVerifier(spec, VERIFIERS[spec], VERIFIER_VERSION)
    found = plugins.find_plugin(spec, paths) if isinstance(spec, str) and spec else None
    if found is None:
        own = ["or package.module:function for a plug-in of your own"] if paths else []
        raise UnknownName("verifier", (spec,), [*verifier_names(), *own])
    fn = plugins.load(*found.location)
    return ResolvedVerifier(spec, VerifierSpec(fn, timeout_s=found.timeout_s), f"{VERIFIER_VERSION}+{spec}@{found.version}", found)


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
    return _judge(resolve_verifier(verifier).spec, response, gold, options)


def _judge(spec: VerifierSpec, response: str, gold: str, options: Mapping[str, Any]) -> Verdict:
    """spec.fn(response, gold, **options) as a Verdict, with the input caps; a crash is status error."""
    if not isinstance(response, str):
        return Verdict.fail("error", f"response is a {type(response).__name__}, expected text")
    if not isinstance(gold, str):
        return Verdict.fail("bad_gold", f"gold is a {type(gold).__name__}, expected text")
    if len(response) > MAX_INPUT_CHARS:
        return Verdict.fail("error", f"input_too_large: response has {len(response):,} characters (limit {MAX_INPUT_CHARS:,})")
    if spec.max_gold_chars is not None and len(gold) > spec.max_gold_chars:
        return Verdict.fail("bad_gold", f"input_too_large: gold has {len(gold):,} characters (limit {spec.max_gold_chars:,})")
    try:
        verdict = as_verdict(spec.fn(response, gold, **options))
        if verdict.extracted is not None and len(verdict.extracted) > MAX_EXTRACTED_CHARS:
            verdict = replace(verdict, extracted=verdict.extracted[:MAX_EXTRACTED_CHARS] + "...")
        return verdict
    except (Exception, RecursionError, MemoryError) as exc:  # noqa: BLE001 - a failure is a value
        return Verdict.fail("error", f"{type(exc).__name__}: {str(exc)[:200]}")


def check_gold(gold: str, verifier: str = "math", **options: Any) -> Verdict:
    """Is the gold usable, in this process: its spec's gold_check (code: the gold parses as a
    test suite), else the round trip (a usable gold verifies as correct against itself).
    The gold-verifiable filter and `assay verify --audit` use this.
    """
    return _check_gold(resolve_verifier(verifier).spec, gold, options)


def _check_gold(spec: VerifierSpec, gold: str, options: Mapping[str, Any]) -> Verdict:
    if spec.gold_check is not None:
        return spec.gold_check(gold, **options)
    return _judge(spec, gold_as_response(gold), gold, options)


def gold_as_response(gold: str) -> str:
    """The response that states `gold` as its final answer: the gold in a \\boxed{}, so the
    round trip tests parsing and comparison, not extraction from prose."""
    return f"\\boxed{{{gold}}}"


def _in_worker(verifier: str, location: tuple[str, str, str] | None) -> VerifierSpec | Verdict:
    """In a worker: a built-in's spec by name, or the plug-in at `location` (root, module,
    qualname), imported here (a worker is `python -I`: the caller's PYTHONPATH and folder are
    not its); an error verdict when the plug-in will not load."""
    if location is None:
        return resolve_verifier(verifier).spec
    try:
        return VerifierSpec(plugins.load(*location))
    except Exception as exc:  # noqa: BLE001 - a plug-in that will not load is an error verdict
        return Verdict.fail("error", f"plug-in {verifier} did not load in the worker: {type(exc).__name__}: {str(exc)[:200]}")


def _verify_call(response: str, gold: str, verifier: str, options: dict[str, Any],
                 location: tuple[str, str, str] | None = None) -> Verdict:
    """verify_batch's work in a worker."""
    spec = _in_worker(verifier, location)
    return spec if isinstance(spec, Verdict) else _judge(spec, response, gold, options)


def _gold_call(gold: str, verifier: str, options: dict[str, Any], location: tuple[str, str, str] | None = None) -> Verdict:
    """check_golds' work in a worker."""
    spec = _in_worker(verifier, location)
    return spec if isinstance(spec, Verdict) else _check_gold(spec, gold, options)


def verify_batch(
    items: Sequence[Check],
    workers: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    stats: RunStats | None = None,
) -> list[Verdict]:
    """Verify many Checks in this process's worker pool; one Verdict per item, in input order.

    `timeout_s` is an item's budget in CPU seconds of its worker, so a busy machine slows a
    batch down but does not change its verdicts. An item that uses up its budget (or whose
    worker dies) is tried once more on another worker, then gets status timeout (or error);
    either way the batch completes. Code items run in their sandbox under its own limits; a
    plug-in's under its TIMEOUT_S when it declares one (VerifierSpec.budget). Pass a RunStats to
    receive counts per status, retries, kills and per-item times; the same summary is logged. An
    unknown verifier name raises ValueError before anything runs.
    """
    return _pooled("verify_batch", Check, _verify_call, items, lambda item: (item.response, item.gold),
                   lambda spec, options: spec.budget(options, timeout_s), workers, timeout_s, stats)


def check_golds(
    items: Sequence[GoldCheck],
    workers: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    stats: RunStats | None = None,
) -> list[Verdict]:
    """`check_gold` of many golds in this process's worker pool (golds are untrusted: sympy on a
    hostile one can hang), one Verdict per item, in input order, under verify_batch's rules. A
    gold check is given `timeout_s` CPU seconds (a plug-in its TIMEOUT_S); a round trip runs the
    verifier, so it is budgeted as a verify_batch item is.

    >>> [v.status for v in check_golds([GoldCheck("1/2"), GoldCheck("E", "mc", {"choices": ["a", "b"]})], workers=1)]
    ['correct', 'bad_gold']
    """
    return _pooled("check_golds", GoldCheck, _gold_call, items, lambda item: (item.gold,),
                   lambda spec, options: spec.budget(options, timeout_s, runs_fn=spec.gold_check is None), workers, timeout_s, stats)


def _pooled(
    what: str,
    kind: type,
    call: Callable[..., Verdict],
    items: Sequence[Check] | Sequence[GoldCheck],
    texts: Callable[[Any], tuple[Any, ...]],
    budget: Callable[[VerifierSpec, Mapping[str, Any]], Budget],
    workers: int | None,
    timeout_s: float,
    stats: RunStats | None,
) -> list[Verdict]:
    """`call(*texts(item), verifier, options, plug-in location)` for every item (each a `kind`) in the pool."""
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    calls, budgets = [], []
    resolved: dict[str, ResolvedVerifier] = {}
    for index, item in enumerate(items):
        if not isinstance(item, kind):
            raise TypeError(f"{what} takes {kind.__name__} items; item {index} is a {type(item).__name__}")
        verifier = item.verifier or "math"
        ref = resolved.get(verifier) if isinstance(verifier, str) else None
        if ref is None:  # each name is looked up once per batch; a bad one raises before anything runs
            ref = resolved[verifier] = resolve_verifier(verifier, paths=isinstance(verifier, OperatorSpec))
        calls.append((*texts(item), verifier, dict(item.options), ref.plugin and ref.plugin.location))
        budgets.append(budget(ref.spec, item.options))
    results, run_stats = run_isolated(call, calls, workers or default_workers(), budgets)
    verdicts = [_as_verdict(r) for r in results]
    run_stats.counts.update(v.status for v in verdicts)
    if run_stats.counts["timeout"] or run_stats.counts["error"] or run_stats.killed or run_stats.died:
        log.warning("%s of %d items: %s", what, len(verdicts), run_stats.summary())
    else:
        log.info("%s of %d items: %s", what, len(verdicts), run_stats.summary())
    if stats is not None:
        stats.__dict__.update(run_stats.__dict__)
    return verdicts


def _as_verdict(result: Any) -> Verdict:
    if isinstance(result, Verdict):
        return result
    if isinstance(result, Killed):
        return Verdict.fail("timeout" if result.reason == "timeout" else "error", f"{result.reason}: {result.detail}")
    return Verdict.fail("error", f"verifier returned a {type(result).__name__}")
