"""`assay verify`: JSONL in, JSONL out, through the batch runner; and the verifier audit.

Input lines are `{"response": ..., "gold": ..., "verifier": "math", "options": {...}}`
(verifier and options optional; every other key passes through untouched). A line's verifier
is a built-in or an installed plug-in's entry point; `verifier=SPEC` (`--verifier`) judges
every line with SPEC instead, which may also be a package.module:function plug-in, and writes
it into each output line's `verifier`. The output has the same lines in the same order with
`status` and `score` added. Incorrect answers are results,
not errors; only unusable input (a missing file, a line that is not a JSON object, a missing
or non-text field, an unknown verifier) raises AssayError. The code sandbox's mode is the
operator's choice (`sandbox`, default from ASSAY_SANDBOX, else strict), never a line's: it
replaces any `sandbox` option a `code` line carries.

Example:
    >>> report = verify_file("in.jsonl", "out.jsonl", workers=2, timeout_s=2.0)  # doctest: +SKIP
    >>> report.counts  # doctest: +SKIP
    Counter({'correct': 7, 'incorrect': 1})
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from assay.pipelines.errors import AssayError
from assay.verifiers import VERIFIERS, Check, GoldCheck, OperatorSpec, Verdict, check_golds, resolve_verifier, solved, verify_batch
from assay.verifiers.code_verifier import sandbox_mode


@dataclass
class VerifyReport:
    rows: int = 0
    counts: Counter[str] = field(default_factory=Counter)  # status -> rows


@dataclass
class AuditReport:
    rows: int = 0
    agree: int = 0  # (status == correct) == expected
    counts: Counter[str] = field(default_factory=Counter)  # status -> rows
    false_positives: int = 0  # labelled wrong, verified correct
    false_negatives: int = 0  # labelled right, not verified correct
    golds: int = 0  # distinct (gold, verifier, options) checked against themselves
    gold_failures: list[tuple[str, str, Verdict]] = field(default_factory=list)  # (verifier, gold, verdict)

    @property
    def agreement(self) -> float:
        return self.agree / self.rows if self.rows else 0.0


def read_items(path: str | Path, labelled: bool = False, verifier: str | None = None) -> list[dict[str, Any]]:
    """The lines of a JSONL file as verification items, checked; AssayError names the line.
    With `verifier`, every item gets it in place of its own (whose name is then not checked)."""
    path = Path(path)
    if not path.is_file():
        raise AssayError(f"{path}: no such file")
    items = []
    known: set[str] = set()  # verifier names checked already
    with path.open(encoding="utf-8-sig") as f:  # -sig: a byte-order mark (Windows editors write one) is not line 1's text
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise AssayError(f"{where}: not valid JSON ({exc.msg})") from None
            if not isinstance(item, dict):
                raise AssayError(f"{where}: expected a JSON object, got {type(item).__name__}")
            for key in ("response", "gold"):
                if not isinstance(item.get(key), str):
                    raise AssayError(f"{where}: {key!r} must be a string")
            if verifier is not None:
                item["verifier"] = OperatorSpec(verifier)
            elif not isinstance(name := item.get("verifier") or "math", str) or name not in known:
                try:  # a line names a built-in or an entry point, never a module to import
                    known.add(resolve_verifier(name, paths=False).name)
                except ValueError as exc:
                    raise AssayError(f"{where}: {exc}") from None
            if not isinstance(item.get("options") or {}, dict):
                raise AssayError(f"{where}: 'options' must be an object")
            if labelled and not isinstance(item.get("expected"), bool):
                raise AssayError(f"{where}: 'expected' must be true or false")
            items.append(item)
    if not items:
        raise AssayError(f"{path}: no lines to verify")
    return items


CHUNK_ITEMS = 10_000  # items verified and written per step of the progress bar


def as_checks(items: list[dict[str, Any]], sandbox: str | None) -> list[Check]:
    """The lines as Checks, the operator's sandbox mode in the options of every line whose
    verifier runs code in the sandbox (VerifierSpec.sandboxed)."""
    try:
        mode = sandbox_mode(sandbox)
    except ValueError as exc:
        raise AssayError(f"--sandbox: {exc}") from None
    checks = []
    for item in items:
        name = item.get("verifier") or "math"
        options = dict(item.get("options") or {})
        if name in VERIFIERS and VERIFIERS[name].sandboxed:
            options["sandbox"] = mode
        checks.append(Check(item["response"], item["gold"], name, options))
    return checks


def verify_file(
    input_path: str | Path,
    output_path: str | Path,
    workers: int | None,
    timeout_s: float,
    advance: Callable[[int], None] = lambda n: None,
    sandbox: str | None = None,
    verifier: str | None = None,
) -> VerifyReport:
    """Verify every line of `input_path` (with `verifier`, that one for every line); write them,
    in order, with status and score added. `advance(n)` is called as each chunk of n items is written."""
    _check_run_options(workers, timeout_s)
    items = read_items(input_path, verifier=verifier)
    checks = as_checks(items, sandbox)
    report = VerifyReport(rows=len(items))
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with output_path.open("w", encoding="utf-8") as f:
        for start in range(0, len(items), CHUNK_ITEMS):
            chunk = items[start : start + CHUNK_ITEMS]
            verdicts = verify_batch(checks[start : start + CHUNK_ITEMS], workers=workers, timeout_s=timeout_s)
            for item, verdict in zip(chunk, verdicts):
                report.counts[verdict.status] += 1
                f.write(json.dumps({**item, "status": verdict.status, "score": verdict.score}, ensure_ascii=False) + "\n")
            advance(len(chunk))
    return report


def audit_file(path: str | Path, workers: int | None, timeout_s: float, sandbox: str | None = None,
               verifier: str | None = None) -> AuditReport:
    """Agreement of the verifiers (with `verifier`, that one for every line) with hand labels,
    and a gold check (`check_gold`, in the pool): every distinct gold must be usable as a
    reference (it verifies as correct against itself; a code gold parses as a test suite)."""
    _check_run_options(workers, timeout_s)
    items = read_items(path, labelled=True, verifier=verifier)
    checks = as_checks(items, sandbox)
    golds: dict[str, GoldCheck] = {}
    for check in checks:
        key = json.dumps([check.verifier, check.gold, check.options], sort_keys=True)
        golds.setdefault(key, GoldCheck(check.gold, check.verifier, check.options))
    verdicts = verify_batch(checks, workers=workers, timeout_s=timeout_s)
    report = AuditReport(rows=len(items), golds=len(golds))
    for item, verdict in zip(items, verdicts):
        report.counts[verdict.status] += 1
        verified = solved(verdict)
        report.agree += verified == item["expected"]
        report.false_positives += verified and not item["expected"]
        report.false_negatives += item["expected"] and not verified
    for gold, verdict in zip(golds.values(), check_golds(list(golds.values()), workers=workers, timeout_s=timeout_s)):
        if verdict.status != "correct":  # the gold is unusable
            report.gold_failures.append((gold.verifier, gold.gold, verdict))
    return report


def _check_run_options(workers: int | None, timeout_s: float) -> None:
    if workers is not None and workers < 1:
        raise AssayError(f"--workers must be at least 1, got {workers}")
    if not timeout_s > 0:
        raise AssayError(f"--timeout must be positive, got {timeout_s}")
