"""Gold-verifiable filter: the row's verifier must accept its own gold (assay.verifiers' round trip).

A gold that does not verify as correct against itself (`check_gold`) cannot reward anything: it
does not parse, it is empty, it names no choice, it is too complex for sympy. Such rows are
dropped with the verdict's status as the reason code:

| status    | code            | e.g.                                                  |
|-----------|-----------------|-------------------------------------------------------|
| incorrect | gold_mismatch   | the verifier reads the gold back as another answer    |
| no_answer | gold_unreadable | nothing answer-like in the gold                       |
| bad_gold  | bad_gold        | empty, not a number (numeric), not a letter (mc), ... |
| timeout   | gold_timeout    | the check ran past `timeout_s` and was killed         |
| error     | gold_error      | the check crashed or the input was too large          |

Also `unknown_verifier: unknown verifier 'x'; valid: ...` for a verifier name not in VERIFIERS, and
`bad_meta: ...` when a row's meta JSON holds `verifier_options` but cannot be read.

Golds are untrusted input (sympy on a hostile string can hang), so the checks run in the batch
runner's worker processes, where a timeout kills the work (`check_golds`); each verifier's spec
(assay.verifiers.VERIFIERS) says how its gold is checked (code: the gold parses as a test
suite; the others: the round trip). Work is per distinct (gold, verifier, options) triple, not
per row.

Fast path (in this process): a triple whose gold matches its verifier's `safe_gold` shape
(FAST_SHAPES, from the table: plain numbers of at most 40 digits for math, numeric and exact,
and for math also lists of them in brackets; a lone choice letter for mc) and is at most
FAST_MAX_CHARS long is checked by the same `check_gold` here. For those shapes the verifiers do
string and Fraction work on a few hundred characters at most and never reach sympy (these are
math's documented exact paths), so they cannot hang; the verdict is the one the pool would give
(tests/filters/test_gold_filter.py checks both paths agree on every shape). The shape test is an
RE2 regex over the batch.

Score column: `gold_status`, the round trip's status for every row (null for rows with an
unknown verifier or unreadable meta).

Example:
    >>> import pyarrow as pa
    >>> t = pa.table({"answer": ["42", "\\\\frac{1}{", "C"], "verifier": ["math", "math", "mc"],
    ...               "meta": ["{}", "{}", '{"verifier_options": {"choices": ["a", "b"]}}']})
    >>> for reason in gold_verifiable(t, GoldConfig(workers=1)).reason.to_pylist():
    ...     print(reason)
    None
    gold_unreadable: math verifier: no boxed answer, answer line or number found
    bad_gold: mc verifier: gold 'C' is not one of the letters A..B
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assay.filters.decision import Decision, decision_from, require_columns
from assay.verifiers import VERIFIERS, GoldCheck, Verdict, check_gold, check_golds
from assay.verifiers.names import UnknownName

# verifier -> RE2 pattern of golds checked in process (see the module docstring).
FAST_SHAPES: dict[str, str] = {name: spec.safe_gold for name, spec in VERIFIERS.items() if spec.safe_gold is not None}
FAST_MAX_CHARS = 400  # and no fast-path gold is longer (extract.MAX_NUMBER_CHARS: longer numbers go to sympy)

STATUS_CODES = {
    "incorrect": "gold_mismatch",
    "no_answer": "gold_unreadable",
    "bad_gold": "bad_gold",
    "timeout": "gold_timeout",
    "error": "gold_error",
}
DETAIL_CHARS = 200  # a verdict's reason is cut to this in the drop reason


@dataclass(frozen=True)
class GoldConfig:
    timeout_s: float = 2.0  # seconds per distinct gold in a worker; past it the worker is killed (gold_timeout)
    workers: int | None = None  # worker processes for the checks; None: one per available core

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ValueError(f"gold: timeout_s must be positive, got {self.timeout_s}")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"gold: workers must be at least 1, got {self.workers}")


def _options(meta: pa.ChunkedArray) -> tuple[list[str], dict[int, str]]:
    """(canonical options JSON per row, "" where none; {row: why} for unreadable meta). Only
    metas that mention verifier_options are parsed."""
    canonical = [""] * len(meta)
    bad: dict[int, str] = {}
    rows = np.flatnonzero(pc.match_substring(meta, "verifier_options").to_numpy(zero_copy_only=False))
    for row, text in zip(rows.tolist(), meta.take(pa.array(rows)).to_pylist()):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            bad[row] = f"meta is not valid JSON ({exc.msg})"
            continue
        options = value.get("verifier_options") if isinstance(value, dict) else None
        if options is not None and not isinstance(options, dict):
            bad[row] = f"verifier_options is a {type(options).__name__}, expected an object"
        elif options:
            canonical[row] = json.dumps(options, sort_keys=True, ensure_ascii=False)
    return canonical, bad


def round_trips(golds: list[str], verifiers: list[str], options: list[dict[str, Any]], config: GoldConfig) -> list[Verdict]:
    """`check_gold` of each (gold, verifier, options), in order: fast shapes in this process,
    everything else in the killable pool. Verifiers must be known."""
    gold_array = pa.array(golds, pa.string())
    names = np.array(verifiers, object)
    fast = pc.utf8_length(gold_array).to_numpy(zero_copy_only=False) <= FAST_MAX_CHARS
    shaped = np.zeros(len(golds), bool)
    for name, pattern in FAST_SHAPES.items():
        shaped |= (names == name) & pc.match_substring_regex(gold_array, pattern=pattern).to_numpy(zero_copy_only=False)
    fast &= shaped
    verdicts: list[Verdict | None] = [None] * len(golds)
    for i in np.flatnonzero(fast).tolist():
        verdicts[i] = check_gold(golds[i], verifiers[i], **options[i])
    pooled = np.flatnonzero(~fast).tolist()
    items = [GoldCheck(golds[i], verifiers[i], options[i]) for i in pooled]
    for i, verdict in zip(pooled, check_golds(items, workers=config.workers, timeout_s=config.timeout_s) if items else []):
        verdicts[i] = verdict
    return verdicts  # type: ignore[return-value]


def gold_verifiable(table: pa.Table, config: GoldConfig = GoldConfig()) -> Decision:
    """Keep rows whose gold verifies as correct against itself under the row's verifier.

    Needs columns answer, verifier, meta (strings, no nulls); options come from
    meta["verifier_options"].
    """
    require_columns(table, "gold", text=("answer", "verifier", "meta"))
    rows = table.num_rows
    reason = np.full(rows, None, object)
    canonical, bad_meta = _options(table.column("meta"))
    for row, why in bad_meta.items():
        reason[row] = f"bad_meta: {why}"
    verifier = table.column("verifier").combine_chunks()
    unknown = ~pc.is_in(verifier, pa.array(list(VERIFIERS))).to_numpy(zero_copy_only=False)
    for row in np.flatnonzero(unknown).tolist():
        reason[row] = f"unknown_verifier: {UnknownName('verifier', (verifier[row].as_py(),), VERIFIERS)}"
    checkable = ~unknown
    checkable[list(bad_meta)] = False

    # One check per distinct (verifier, options, gold); the unit separator cannot occur in a
    # verifier name, and options are canonical JSON, so the joined key is unambiguous.
    key = pc.binary_join_element_wise(verifier, pa.array(canonical, pa.string()), table.column("answer").combine_chunks(), "\x1f")
    codes = pc.dictionary_encode(key).indices.to_numpy(zero_copy_only=False)
    rows_checked = np.flatnonzero(checkable)
    distinct, first = np.unique(codes[rows_checked], return_index=True)
    sample = rows_checked[first]  # (T,) one row per distinct triple
    answers = table.column("answer").take(pa.array(sample)).to_pylist()
    names = verifier.take(pa.array(sample)).to_pylist()
    options = [json.loads(canonical[r]) if canonical[r] else {} for r in sample.tolist()]
    verdicts = round_trips(answers, names, options, config)

    triple = np.full(codes.max() + 1 if rows else 0, -1, np.int64)  # dictionary code -> index of its triple
    triple[distinct] = np.arange(len(distinct))
    of_row = triple[codes[rows_checked]]  # (checked,) each checked row's triple
    status = np.full(rows, None, object)
    status[rows_checked] = np.array([v.status for v in verdicts], object)[of_row]
    triple_reason = np.array([
        None if v.status == "correct" else f"{STATUS_CODES[v.status]}: {name} verifier: {v.reason[:DETAIL_CHARS]}"
        for v, name in zip(verdicts, names)
    ], object)
    reason[rows_checked] = triple_reason[of_row]
    reasons = pa.array(reason.tolist(), pa.string())
    keep = reasons.is_null().to_numpy(zero_copy_only=False)
    return decision_from(keep, reasons, {"gold_status": pa.array(status.tolist(), pa.string())})
