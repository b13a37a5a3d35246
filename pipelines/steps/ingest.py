"""Ingestion: a source becomes prompt records in the catalog, and every row that cannot become
one becomes a quarantine row with a reason code. Nothing is dropped silently: for every run,
rows read = added + already in the catalog + quarantined.

The steps, each a plain function: `resolve_source` (what to read), `map_block` (raw rows to
records and rejects, pure), `ingest` (blocks through map_block into the catalog, one
transaction per block).

Example:
    >>> from assay.pipelines.store.catalog import Catalog
    >>> source, name, preset = resolve_source("builtin:arithmetic", count=100, seed=0)
    >>> with Catalog.open("/tmp/doc.duckdb") as cat:  # doctest: +SKIP
    ...     ingest(cat, source, preset, name).added
    100
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa

from assay.curricula.arithmetic import generate_arithmetic
from assay.pipelines.store.catalog import Catalog
from assay.pipelines.errors import AssayError, chosen
from assay.pipelines.steps.presets import PRESETS, Preset, Rejected, resolve_preset
from assay.pipelines.steps.readers import FILE_SUFFIXES, RawBlock, Reject, Source, file_source, hf_source, rows_source
from assay.verifiers import VERIFIERS
from assay.verifiers.names import names_help
from assay.pipelines.store.schema import (
    MAX_FIELD_CHARS,
    QUARANTINE_SCHEMA,
    RECORD_SCHEMA,
    make_qid,
    make_uid,
    raw_excerpt,
)

# A batch on its way to the catalog: the record columns plus where each row came from.
BATCH_SCHEMA = RECORD_SCHEMA.append(pa.field("location", pa.string(), nullable=False))

BUILTIN_PREFIX = "builtin:"
DEFAULT_BUILTIN_COUNT = 1000


@dataclass(frozen=True)
class SourceConfig:
    """One corpus: `assay ingest`'s argument and flags, and an entry of `assay curate`'s [[sources]]."""

    spec: str = field(metadata={"help": "A .jsonl/.json/.parquet/.csv file or folder, a Hugging Face dataset id, or "
                                        "builtin:arithmetic.", "argument": True, "metavar": "SOURCE"})
    name: str | None = field(default=None, metadata={
        "help": "Source name recorded on every row (part of the uid); unset: the file stem, dataset id or built-in name."})
    preset: str | None = field(default=None, metadata={"help": f"Column layout of a known dataset: {names_help(PRESETS)}."})
    split: str | None = field(default=None, metadata={
        "help": "Split to record (files) or load (hub); unset: from file names, else train; all splits of a hub dataset."})
    subset: str | None = field(default=None, metadata={
        "help": "Hugging Face dataset configuration (e.g. 'main' for openai/gsm8k)."})
    prompt_col: str | None = field(default=None, metadata={"help": "Column holding the prompt (instead of --preset)."})
    answer_col: str | None = field(default=None, metadata={"help": "Column holding the gold answer (instead of --preset)."})
    answer_regex: str | None = field(default=None, metadata={
        "help": "Regex with one group that extracts the gold from the answer column."})
    verifier: str | None = field(default=None, metadata={
        "help": f"Verifier for a --prompt-col/--answer-col mapping: {names_help(VERIFIERS)}; unset: math."})
    count: int | None = field(default=None, metadata={
        "help": f"Built-in corpora: how many problems; unset: {DEFAULT_BUILTIN_COUNT}."})
    seed: int | None = field(default=None, metadata={"help": "Built-in corpora: generator seed; unset: 0."})

    def resolve(self) -> tuple[Source, str, Preset]:
        """(how to read it, its source name, its column mapping): the layout the source implies
        (a built-in's) unless a preset or columns are given."""
        resolved, default_name, implied = resolve_source(self.spec, self.split, self.subset, self.count, self.seed)
        explicit = self.preset or self.prompt_col or self.answer_col
        mapping = implied if implied and not explicit else resolve_preset(
            self.preset, self.prompt_col, self.answer_col, self.answer_regex, self.verifier)
        return resolved, self.name or default_name, mapping


@dataclass
class IngestReport:
    run_id: str
    source: str
    rows_read: int = 0
    added: int = 0
    already_present: int = 0  # same uid and content already in the catalog
    quarantined: Counter[str] = field(default_factory=Counter)  # reason -> rows of this run

    def accounted(self) -> bool:
        return self.rows_read == self.added + self.already_present + sum(self.quarantined.values())


def _builtin_arithmetic(count: int, seed: int) -> list[dict[str, Any]]:
    return [
        {"problem": p.prompt, "answer": p.answer, "steps": p.steps, "solution": p.solution}
        for p in generate_arithmetic(count, seed)
    ]


# The built-in evaluation set: held-out problems (another seed), plus PLANTED problems copied
# from the built-in corpus as the quickstart ingests it, so decontamination has real findings.
EVAL_SEED = 1_000_003
PLANTED = 8


def _builtin_arithmetic_eval(count: int, seed: int) -> list[dict[str, Any]]:
    corpus = generate_arithmetic(DEFAULT_BUILTIN_COUNT, 0)
    planted = corpus[:: len(corpus) // PLANTED][:PLANTED]
    held_out = generate_arithmetic(count, EVAL_SEED + seed)
    return [{"id": f"eval-{i}", "problem": p.prompt, "answer": p.answer, "steps": p.steps} for i, p in enumerate(held_out)] + [
        {"id": f"planted-{i}", "problem": p.prompt, "answer": p.answer, "steps": p.steps} for i, p in enumerate(planted)
    ]


@dataclass(frozen=True)
class Builtin:
    rows: Callable[[int, int], list[dict[str, Any]]]  # (count, seed) -> raw rows
    default_count: int


BUILTINS: dict[str, Builtin] = {
    "arithmetic": Builtin(_builtin_arithmetic, DEFAULT_BUILTIN_COUNT),
    "arithmetic-eval": Builtin(_builtin_arithmetic_eval, 200),
}


def resolve_source(
    spec: str,
    split: str | None = None,
    subset: str | None = None,
    count: int | None = None,
    seed: int | None = None,
) -> tuple[Source, str, Preset | None]:
    """What SOURCE names: (how to read it, its default --name, the preset it implies, if any).

    `builtin:NAME` is a built-in corpus; an existing path is a file or folder; anything else is
    taken as a Hugging Face dataset id.
    """
    if spec.startswith(BUILTIN_PREFIX):
        name = spec[len(BUILTIN_PREFIX) :]
        chosen([BUILTIN_PREFIX + b for b in BUILTINS], spec, "built-in corpus")
        count = BUILTINS[name].default_count if count is None else count
        if count <= 0:
            raise AssayError(f"--count must be positive, got {count}")
        rows = BUILTINS[name].rows(count, 0 if seed is None else seed)
        source = rows_source(f"built-in corpus {name} ({len(rows)} problems)", rows, split or "train", spec)
        return source, name, PRESETS["answer"]
    if count is not None or seed is not None:
        raise AssayError("--count and --seed apply only to builtin: sources")
    path = Path(spec).expanduser()
    if path.exists():
        return file_source(path, split), path.stem, None
    if path.suffix.lower() in FILE_SUFFIXES or spec.startswith((".", "/", "~")):
        raise AssayError(f"{spec}: no such file or folder")
    return hf_source(spec, subset, split), spec, None


def _row_problem(row: dict[str, Any]) -> tuple[str, str] | None:
    """A field too large to parse, or text that is not valid Unicode (a lone surrogate)."""
    for key, value in row.items():
        if isinstance(value, str):
            if len(value) > MAX_FIELD_CHARS:
                return "field_too_large", f"column {key!r} has {len(value):,} characters (limit {MAX_FIELD_CHARS:,})"
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "invalid_utf8", f"column {key!r} holds a lone surrogate, not valid Unicode"
    return None


def check_columns(block: RawBlock, preset: Preset) -> None:
    """Raise AssayError if the file a block starts lacks a column the mapping needs.

    A column missing from a whole file is a mistake in the command (a typo, the wrong preset, a
    CSV without a header line), not one bad row per line; the error lists the file's columns,
    and says so when they look like data rather than names.

        >>> check_columns(RawBlock("train", origin="a.csv", columns=("q", "a")), PRESETS["gsm8k"])
        Traceback (most recent call last):
        ...
        assay.pipelines.errors.AssayError: a.csv: the column mapping needs 'question', 'answer', not in this file; its columns: 'q', 'a'
    """
    if block.columns is None:
        return
    missing = [names for names in preset.required if not any(name in block.columns for name in names)]
    if not missing:
        return
    needed = ", ".join(" or ".join(repr(name) for name in names) for names in missing)
    message = f"{block.origin}: the column mapping needs {needed}, not in this file; its columns: "
    message += ", ".join(repr(name[:60]) for name in block.columns) if block.columns else "none"
    if any(_looks_like_data(name) for name in block.columns):
        message += " -- these look like data, not column names: does the file lack a header line?"
    raise AssayError(message)


def _looks_like_data(name: str) -> bool:
    """A column name that reads like a value: a number, a question, or a sentence."""
    text = name.strip()
    try:
        float(text.replace(",", ""))
        return True
    except ValueError:
        return "?" in text or len(text) > 40 or len(text.split()) > 3


def map_block(block: RawBlock, preset: Preset, source: str, seen: set[str]) -> tuple[pa.Table, list[Reject]]:
    """Raw rows to records (BATCH_SCHEMA) and rejects. `seen` holds the uids
    this run has produced so far; a prompt seen again is a duplicate within the source."""
    columns: dict[str, list[str]] = {name: [] for name in BATCH_SCHEMA.names}
    rejects = list(block.rejects)
    for row, location in zip(block.rows, block.locations):
        problem = _row_problem(row)
        if problem:
            rejects.append(Reject(location, *problem, row))
            continue
        mapped = preset.map_row(row)
        if isinstance(mapped, Rejected):
            rejects.append(Reject(location, mapped.reason, mapped.detail, row))
            continue
        uid = make_uid(source, mapped.prompt)
        if uid in seen:
            rejects.append(Reject(location, "duplicate_prompt", "same prompt as an earlier row of this source", row))
            continue
        extra = {k: v for k, v in row.items() if k not in preset.columns}
        if mapped.options:
            extra["verifier_options"] = mapped.options
        meta = json.dumps(extra, ensure_ascii=False, default=str)
        if len(meta) > MAX_FIELD_CHARS:
            rejects.append(Reject(location, "field_too_large", f"extra columns hold {len(meta):,} characters", row))
            continue
        seen.add(uid)
        for name, value in (
            ("uid", uid),
            ("source", source),
            ("split", block.split),
            ("prompt", mapped.prompt),
            ("answer", mapped.answer),
            ("verifier", preset.verifier),
            ("domain", preset.domain),
            ("meta", meta),
            ("location", location),
        ):
            columns[name].append(value)
    return pa.table(columns, schema=BATCH_SCHEMA), rejects


def verifier_options(meta: str) -> dict[str, Any]:
    """The options a record's verifier needs besides the gold, from its meta JSON."""
    return json.loads(meta).get("verifier_options") or {}


def quarantine_table(rejects: list[Reject], source: str, split: str) -> pa.Table:
    rows: dict[str, list[str]] = {name: [] for name in QUARANTINE_SCHEMA.names}
    for r in rejects:
        rows["qid"].append(make_qid(source, r.location, r.reason))
        rows["source"].append(source)
        rows["split"].append(split)
        rows["location"].append(r.location)
        rows["reason"].append(r.reason)
        rows["detail"].append(r.detail)
        rows["raw"].append(raw_excerpt(r.raw))
    return pa.table(rows, schema=QUARANTINE_SCHEMA)


def ingest(
    catalog: Catalog,
    source: Source,
    preset: Preset,
    name: str,
    args: dict[str, Any] | None = None,
    advance: Callable[[int], None] = lambda n: None,
) -> IngestReport:
    """Read `source` block by block into the catalog under source name `name`.

    Each block is one transaction, so a crash leaves whole blocks or none, and a rerun adds
    only what is missing. `advance(n)` is called with progress in the source's unit.
    """
    if not name.strip():
        raise AssayError("--name must not be empty")
    run_id = catalog.start_run("ingest", {"source": source.description, "name": name, **(args or {})})
    report = IngestReport(run_id, name)
    seen: set[str] = set()
    try:
        for block in source.blocks():
            check_columns(block, preset)
            records, rejects = map_block(block, preset, name, seen)
            result = catalog.add_batch(records, quarantine_table(rejects, name, block.split), run_id)
            report.rows_read += len(block.rows) + len(block.rejects)
            report.added += result.added
            report.already_present += result.already_present
            report.quarantined.update(r.reason for r in rejects)
            report.quarantined["conflicting_duplicate"] += result.conflicts
            advance(block.progress)
    except BaseException as exc:
        catalog.finish_run(run_id, "failed", {"error": str(exc) or type(exc).__name__, **_summary(report)})
        raise
    report.quarantined = +report.quarantined  # drop zero counts
    catalog.finish_run(run_id, "ok", _summary(report))
    return report


def _summary(report: IngestReport) -> dict[str, Any]:
    return {
        "rows_read": report.rows_read,
        "added": report.added,
        "already_present": report.already_present,
        "quarantined": dict(report.quarantined),
    }
