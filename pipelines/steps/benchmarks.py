"""The benchmark registry: evaluation sets stored in the catalog, so decontamination and the
memorization audit read the same problems, identified by a content hash.

A benchmark is read with the ingestion readers (a local file or folder, or a Hugging Face
dataset id) and mapped by a benchmark preset, one per real layout, chosen from BENCH_PRESETS:

| preset        | dataset (layout read)                                   | id          | prompt            | answer                 |
|---------------|---------------------------------------------------------|-------------|-------------------|------------------------|
| aime24        | Maxwell-Jia/AIME_2024; AI-MO/aimo-validation-aime       | ID / id     | Problem / problem | Answer / answer        |
| aime25        | math-ai/aime25; opencompass/AIME2025                    | id          | problem / question| answer                 |
| math500       | HuggingFaceH4/MATH-500                                  | unique_id   | problem           | answer                 |
| amc23         | math-ai/amc23; AI-MO/aimo-validation-amc                | id          | question / problem| answer                 |
| gsm8k         | openai/gsm8k (main, test split)                         | row number  | question          | `answer` after `####`  |
| gpqa_diamond  | Idavidrein/gpqa (gpqa_diamond)                          | Record ID   | Question          | Correct Answer         |
| livecodebench | livecodebench/code_generation_lite (release dates)      | question_id | question_content  | public_test_cases      |

Where a preset lists two names, the first column present in the rows is read. Without a
preset, `--prompt-col` (and optionally `--answer-col`, `--id-col`, `--date-col`) say how; a
benchmark without answers is problem texts alone (its problems' `answer` is ""), which is all
decontamination needs (the memorization audit's answer probe then skips it).
A row that cannot become a problem (no prompt, no answer, a bad date, an id seen before) is
skipped and counted per reason; a source where no row has the prompt column is an error
naming the columns it does have.

Example:
    >>> rows = [{"question": "2+2?", "answer": "2+2=4\\n#### 4"}]
    >>> problems, skipped = map_rows("gsm8k", rows, BENCH_PRESETS["gsm8k"])
    >>> problems[0].benchmark_id, problems[0].answer
    ('0', '4')
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Iterable, Sequence

from assay.filters.decontam import BenchmarkProblem
from assay.pipelines.store.catalog import Catalog, utc_now
from assay.pipelines.errors import AssayError, check_given, chosen
from assay.pipelines.steps.ingest import BUILTIN_PREFIX, resolve_source
from assay.pipelines.steps.presets import _number_text, gsm8k_gold
from assay.pipelines.steps.readers import Source
from assay.pipelines.store.schema import MAX_FIELD_CHARS
from assay.verifiers.names import UnknownName, names_help

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _plain(value: Any) -> str | None:
    return None if value is None else value.strip() or None


@dataclass(frozen=True)
class BenchPreset:
    datasets: str  # the layouts it reads, for --help and errors
    id_cols: tuple[str, ...]  # first present column is the problem id; none: the row number
    prompt_cols: tuple[str, ...]
    answer_cols: tuple[str, ...]
    answer: Callable[[str], str | None] = _plain  # raw answer text -> gold (None: no gold)
    date_col: str | None = None  # release date, for the temporal rule
    hub_split: str | None = None  # split loaded from the hub when --split is not given
    # The masked layer's policy (assay.filters.decontam.MASKED_POLICIES) unless --masked says:
    # drop for human-written sets, where a numbers-changed copy is a GSM-Symbolic-style leak;
    # flag (report, keep) for procedural ones, whose other instances are clean items.
    masked: str = "flag"


BENCH_PRESETS: dict[str, BenchPreset] = {
    "aime24": BenchPreset("Maxwell-Jia/AIME_2024, AI-MO/aimo-validation-aime", ("ID", "id"), ("Problem", "problem"), ("Answer", "answer"), masked="drop"),
    "aime25": BenchPreset("math-ai/aime25, opencompass/AIME2025", ("id",), ("problem", "question"), ("answer",), masked="drop"),
    "math500": BenchPreset("HuggingFaceH4/MATH-500", ("unique_id",), ("problem",), ("answer",), hub_split="test", masked="drop"),
    "amc23": BenchPreset("math-ai/amc23, AI-MO/aimo-validation-amc", ("id",), ("question", "problem"), ("answer",), masked="drop"),
    "gsm8k": BenchPreset("openai/gsm8k (main)", (), ("question",), ("answer",), answer=gsm8k_gold, hub_split="test", masked="drop"),
    "gpqa_diamond": BenchPreset("Idavidrein/gpqa (gpqa_diamond)", ("Record ID",), ("Question",), ("Correct Answer",), hub_split="train", masked="drop"),
    "livecodebench": BenchPreset(
        "livecodebench/code_generation_lite", ("question_id",), ("question_content",), ("public_test_cases",),
        date_col="contest_date", hub_split="test", masked="drop",
    ),
    # assay's built-in evaluation set (builtin:arithmetic-eval): implied by that source.
    "arithmetic-eval": BenchPreset("builtin:arithmetic-eval", ("id",), ("problem",), ("answer",)),
}


def resolve_bench_preset(
    name: str, preset: str | None, prompt_col: str | None, answer_col: str | None, id_col: str | None, date_col: str | None,
    source: str = "",
) -> tuple[str, BenchPreset]:
    """(preset label, preset): --preset, else column flags, else the preset named like the
    benchmark, else the one named by a `builtin:NAME` source."""
    flags = {"--prompt-col": prompt_col, "--answer-col": answer_col, "--id-col": id_col, "--date-col": date_col}
    given = [flag for flag, value in flags.items() if value]
    builtin = source.removeprefix(BUILTIN_PREFIX) if source.startswith(BUILTIN_PREFIX) else None
    if preset is None and not given:
        preset = name if name in BENCH_PRESETS else builtin if builtin in BENCH_PRESETS else None
    if preset:
        mapping = chosen(BENCH_PRESETS, preset, "benchmark preset", "--preset:")
        if given:
            raise AssayError(f"--preset {preset} fixes the columns; drop {', '.join(given)} or the preset")
        return preset, mapping
    if not prompt_col:
        raise AssayError(
            f"say how to read benchmark {name!r}: --preset ({', '.join(BENCH_PRESETS)}) or --prompt-col "
            "(and --answer-col where the memorization audit should probe answers)"
        )
    label = (f"columns prompt={prompt_col}" + (f" answer={answer_col}" if answer_col else "") + (f" id={id_col}" if id_col else "")
             + (f" date={date_col}" if date_col else ""))
    answers = (answer_col,) if answer_col else ()
    return label, BenchPreset("custom", (id_col,) if id_col else (), (prompt_col,), answers, date_col=date_col)


@dataclass(frozen=True)
class BenchmarkConfig:
    """An evaluation set: `assay bench add`'s arguments and flags, and an entry of `assay
    curate`'s [[benchmarks]] (registered there from `spec`, or already registered)."""

    name: str = field(metadata={"help": "Name to register the benchmark under (a preset name picks that preset).",
                                "argument": True})
    spec: str | None = field(default=None, metadata={
        "help": "A .jsonl/.json/.parquet/.csv file or folder, or a Hugging Face dataset id; in a curate config, unset: "
                "the set registered under this name.", "argument": True, "metavar": "SOURCE"})
    preset: str | None = field(default=None, metadata={"help": f"Layout of a known benchmark: {names_help(BENCH_PRESETS)}."})
    prompt_col: str | None = field(default=None, metadata={"help": "Column holding the problem (instead of --preset)."})
    answer_col: str | None = field(default=None, metadata={
        "help": "Column holding the gold answer. Optional: decontamination needs problem texts only."})
    id_col: str | None = field(default=None, metadata={"help": "Column holding the problem id; unset: the row number."})
    date_col: str | None = field(default=None, metadata={"help": "Column holding the release date (dated benchmarks)."})
    split: str | None = field(default=None, metadata={"help": "Hub split to load; unset: the preset's (e.g. test), else all."})
    subset: str | None = field(default=None, metadata={"help": "Hugging Face configuration (e.g. gpqa_diamond, main)."})

    def resolve(self) -> tuple[Source, str, BenchPreset]:
        """(how to read `spec`, the layout's label, the layout), for add_benchmark."""
        check_name(self.name)
        if self.spec is None:
            raise AssayError(f"benchmark {self.name!r}: give its SOURCE (a file, folder or dataset id)")
        label, mapping = resolve_bench_preset(self.name, self.preset, self.prompt_col, self.answer_col, self.id_col,
                                              self.date_col, self.spec)
        return resolve_source(self.spec, self.split or mapping.hub_split, self.subset)[0], label, mapping


def _first(row: dict[str, Any], columns: tuple[str, ...]) -> tuple[str | None, Any]:
    for column in columns:
        if column in row:
            return column, row[column]
    return None, None


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _number_text(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)  # lists of tests and the like


def parse_release_date(value: Any) -> date | None:
    """A release date from a date, a datetime, or ISO text ('2023-08-21T00:00:00'); None if unreadable."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def map_rows(benchmark: str, rows: Iterable[dict[str, Any]], preset: BenchPreset) -> tuple[list[BenchmarkProblem], Counter[str]]:
    """Raw rows to problems (in row order) and skip counts per reason."""
    problems: list[BenchmarkProblem] = []
    skipped: Counter[str] = Counter()
    seen: set[str] = set()
    columns_seen: set[str] = set()
    for number, row in enumerate(rows):
        columns_seen.update(row)
        column, raw_prompt = _first(row, preset.prompt_cols)
        prompt = _as_text(raw_prompt)
        if column is None or prompt is None:
            skipped["missing_prompt"] += 1
            continue
        if not prompt.strip():
            skipped["empty_prompt"] += 1
            continue
        if len(prompt) > MAX_FIELD_CHARS:
            skipped["field_too_large"] += 1
            continue
        answer = ""  # a benchmark given as problem texts alone: decontamination needs no answers
        if preset.answer_cols:
            _, raw_answer = _first(row, preset.answer_cols)
            answer_text = _as_text(raw_answer)
            if answer_text is None or not answer_text.strip():
                skipped["missing_answer"] += 1
                continue
            answer = preset.answer(answer_text)
            if answer is None:
                skipped["no_gold"] += 1
                continue
        released = None
        if preset.date_col:
            released = parse_release_date(row.get(preset.date_col))
            if released is None:
                skipped["bad_date"] += 1
                continue
        id_column, raw_id = _first(row, preset.id_cols)
        problem_id = _as_text(raw_id) if id_column else str(number)
        if not problem_id:
            skipped["missing_id"] += 1
            continue
        if problem_id in seen:
            skipped["duplicate_id"] += 1
            continue
        seen.add(problem_id)
        problems.append(BenchmarkProblem(benchmark, problem_id, prompt, answer, released))
    if not problems and skipped["missing_prompt"]:
        wanted = " or ".join(repr(c) for c in preset.prompt_cols)
        have = ", ".join(sorted(columns_seen)) or "none"
        raise AssayError(f"benchmark {benchmark!r}: no row has the prompt column {wanted}; the rows have columns: {have}")
    return problems, skipped


def content_hash(problems: Sequence[BenchmarkProblem]) -> str:
    """SHA-256 over the problems in order (id, prompt, answer, release date)."""
    digest = hashlib.sha256()
    for p in problems:
        line = json.dumps([p.benchmark_id, p.prompt, p.answer, p.released.isoformat() if p.released else None], ensure_ascii=False)
        digest.update(line.encode("utf-8", "surrogatepass") + b"\n")
    return digest.hexdigest()


@dataclass(frozen=True)
class Registered:
    name: str
    status: str  # added, replaced, unchanged
    problems: int
    skipped: Counter[str]
    content_hash: str


@dataclass(frozen=True)
class BenchmarkInfo:
    name: str
    problems: int
    dated: int  # problems with a release date
    preset: str
    source: str
    content_hash: str
    added_at: datetime


def check_name(name: str) -> None:
    if not _NAME_RE.match(name):
        raise AssayError(f"benchmark name {name!r}: use letters, digits, '_', '.', '-' (at most 64, starting with a letter or digit)")


def read_source_rows(source: Source, advance: Callable[[int], None] = lambda n: None) -> tuple[list[dict[str, Any]], int]:
    """Every parsable row of a (benchmark-sized) source, and how many rows could not be parsed."""
    rows: list[dict[str, Any]] = []
    unreadable = 0
    for block in source.blocks():
        rows.extend(block.rows)
        unreadable += len(block.rejects)
        advance(block.progress)
    return rows, unreadable


def register_benchmark(cat: Catalog, name: str, problems: Sequence[BenchmarkProblem], skipped: Counter[str],
                       source: str, preset: str) -> Registered:
    """Store a benchmark, replacing an earlier version of the same name in one transaction."""
    check_name(name)
    if not problems:
        reasons = ", ".join(f"{r} {n}" for r, n in skipped.most_common()) or "the source is empty"
        raise AssayError(f"benchmark {name!r}: no usable problem in {source} ({reasons})")
    digest = content_hash(problems)
    con = cat.con
    old = con.execute("SELECT content_hash FROM benchmarks WHERE name = ?", [name]).fetchone()
    if old and old[0] == digest:
        return Registered(name, "unchanged", len(problems), skipped, digest)
    run_id = cat.start_run("bench-add", {"name": name, "source": source, "preset": preset})
    con.execute("BEGIN")
    try:
        con.execute("DELETE FROM benchmark_problems WHERE benchmark = ?", [name])
        con.execute("DELETE FROM benchmarks WHERE name = ?", [name])
        con.executemany(
            "INSERT INTO benchmark_problems VALUES (?, ?, ?, ?, ?, ?, '{}')",
            [[name, p.benchmark_id, i, p.prompt, p.answer, p.released] for i, p in enumerate(problems)],
        )
        con.execute(
            "INSERT INTO benchmarks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [name, source, preset, digest, len(problems), sum(p.released is not None for p in problems),
             json.dumps(dict(skipped), sort_keys=True), run_id, utc_now()],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    status = "replaced" if old else "added"
    cat.finish_run(run_id, "ok", {"status": status, "problems": len(problems), "skipped": dict(skipped), "content_hash": digest})
    return Registered(name, status, len(problems), skipped, digest)


def add_benchmark(cat: Catalog, name: str, spec: str, source: Source, label: str, preset: BenchPreset,
                  advance: Callable[[int], None] = lambda n: None) -> Registered:
    """Read `source`, map its rows with `preset` and register them as benchmark `name`
    (`spec` and `label` are recorded); rows that could not be parsed count as skipped."""
    rows, unreadable = read_source_rows(source, advance)
    problems, skipped = map_rows(name, rows, preset)
    if unreadable:
        skipped["unreadable_row"] += unreadable
    return register_benchmark(cat, name, problems, skipped, spec, label)


def list_benchmarks(cat: Catalog) -> list[BenchmarkInfo]:
    rows = cat.con.execute(
        "SELECT name, problems, dated, preset, source, content_hash, added_at FROM benchmarks ORDER BY name"
    ).fetchall()
    return [BenchmarkInfo(*row) for row in rows]


def default_masked(cat: Catalog) -> dict[str, str]:
    """Each registered benchmark's masked policy by its preset (BenchPreset.masked): drop for the
    human-written presets, flag for the rest (custom columns, built-in procedural sets)."""
    return {b.name: BENCH_PRESETS[b.preset].masked if b.preset in BENCH_PRESETS else "flag" for b in list_benchmarks(cat)}


def load_problems(cat: Catalog, names: Sequence[str]) -> list[BenchmarkProblem]:
    """The problems of the named benchmarks, in registration order; an unknown name is an error
    listing the registered ones. This is what the decontamination index and the memorization
    audit read: `BenchmarkProblem(benchmark, benchmark_id, prompt, answer, released)`."""
    if not names:
        raise AssayError("name at least one benchmark (--benchmark NAME)")
    registered = [b.name for b in list_benchmarks(cat)]
    if not registered:
        raise AssayError(f"{UnknownName('benchmark', tuple(names), ())}: register one with `assay bench add NAME SOURCE`")
    check_given(registered, names, "benchmark")
    problems: list[BenchmarkProblem] = []
    for name in dict.fromkeys(names):  # each once, in the order given
        rows = cat.con.execute(
            "SELECT benchmark_id, prompt, answer, released FROM benchmark_problems WHERE benchmark = ? ORDER BY position",
            [name],
        ).fetchall()
        problems.extend(BenchmarkProblem(name, bid, prompt, answer, released) for bid, prompt, answer, released in rows)
    return problems
