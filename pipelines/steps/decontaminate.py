"""`assay decontaminate`: check prompts against registered benchmarks, write findings and a report.

Two modes, the same steps:
- a file (`--input F.jsonl|F.parquet|F.json|F.csv`): one JSON line per input row, in order,
  `{"id", "contaminated", "level", "matches": [{"benchmark", "benchmark_id", "method", "level", "score", "span"}]}`
  (`level` is the row's strongest level, None without findings; `contaminated` is true when it
  is a dropping level: `contaminated` or `semantic`; a row whose findings are all `near` is
  kept and listed for review)
  (`id` is the row's `id` field, else its `uid` field, else make_uid(file stem, prompt)); a row
  that could not be checked (unparsable line, missing, empty or oversized prompt) gets
  `"contaminated": false` and a `"skipped"` reason code, so nothing is dropped silently;
- the catalog (no `--input`): every record is checked and the findings replace the earlier
  findings for the same benchmarks in the `contamination` table, in one transaction;
  `contamination_filter` turns them into a Filter decision for the curation steps.

Every run writes a report, PREFIX.json and PREFIX.html (see `write_report`).

The steps are plain functions: `build_matchers` (index the benchmarks), `check_block` (one
block of prompts through every layer and the temporal rule), `decontaminate_file`,
`decontaminate_catalog`, `write_report`.

Example (a copy with a changed name is found; an unrelated prompt and an unchecked row are not):
    >>> problem = BenchmarkProblem("gsm8k", "7", "Natalia sold clips to 48 of her friends in April, "
    ...                            "and then she sold half as many clips in May. How many clips did she sell?")
    >>> matchers = build_matchers([problem], Settings())
    >>> report = new_report("file", "example", [problem], {}, Settings())
    >>> prompts = [problem.prompt.replace("Natalia", "Maria"), "What is 2 + 2?", None]
    >>> [row_level(found) for found in check_block(prompts, [None] * 3, matchers, report)]
    ['contaminated', None, None]
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable, Sequence

import pyarrow as pa

from assay.filters.decision import Decision
from assay.filters.decontam import (
    DEFAULT_MIN_CONTAINMENT,
    DEFAULT_N,
    DEFAULT_MASKED,
    DROP_LEVELS,
    LEVELS,
    MASKED_POLICIES,
    METHODS,
    BenchmarkProblem,
    ContaminationConfig,
    Finding,
    NgramIndex,
    contamination,
    impossible_by_date,
    release_window,
)
from assay.pipelines.steps.benchmarks import default_masked, list_benchmarks, load_problems, parse_release_date
from assay.pipelines.store.catalog import Catalog, utc_now, new_run_id
from assay.pipelines.errors import AssayError, check_given, chosen
from assay.pipelines.steps.readers import FILE_SUFFIXES, file_source
from assay.pipelines.reports.charts import e
from assay.pipelines.reports.summary import page, write_pair
from assay.pipelines.store.schema import MAX_FIELD_CHARS, make_uid

LEVEL_HELP = {
    "contaminated": "a copy (n-gram layer, or the masked layer where its policy is drop): the row is dropped",
    "semantic": "a paraphrase: the embedding matches and the numbers agree (--semantic): the row is dropped",
    "near": "another instance of a problem's template (masked layer, policy flag): kept, listed for review",
}
PROMPT_COLUMNS = ("prompt", "problem", "question")  # read in this order when --prompt-col is not given
EXAMPLES_PER_CELL = 5  # report examples per (benchmark, method)
EXAMPLE_CHARS = 2000  # prompts in the report are cut to this length
CATALOG_BATCH = 50_000


def masked_flags(values: list[str], flag: str) -> dict[str, str]:
    """--masked [NAME=]POLICY, repeated: NAME -> POLICY, "*" for a policy given without a name.

    >>> masked_flags(["drop", "gsm8k=flag"], "--masked")
    {'*': 'drop', 'gsm8k': 'flag'}
    """
    return dict(m.split("=", 1) if "=" in m else ("*", m) for m in values)


@dataclass(frozen=True)
class Settings:
    """How a run matches: `assay decontaminate`'s flags and `assay curate`'s [decontaminate].
    Every field is recorded in the report."""

    n: int = field(default=DEFAULT_N, metadata={"help": "n-gram size in normalised tokens."})
    min_containment: float = field(default=DEFAULT_MIN_CONTAINMENT, metadata={
        "help": "Share of a problem's n-grams a prompt must contain."})
    semantic_model: str | None = field(default=None, metadata={
        "help": "Local sentence-transformers model folder: adds the paraphrase layer; unset: no semantic layer."})
    semantic_threshold: float | None = field(default=None, metadata={
        "help": "Cosine at or above which the semantic layer fires; unset: calibrated per benchmark (printed)."})
    date_col: str = field(default="date", metadata={
        "help": "Row field (record meta key) with the row's date, for the temporal rule."})
    data_date: date | None = field(default=None, metadata={
        "help": "YYYY-MM-DD: when rows without a date were collected (the data cutoff)."})
    # Given ones override the benchmark's preset default (`benchmarks.default_masked`).
    masked: dict[str, str] = field(default_factory=dict, metadata={
        "help": f"What a numbers-changed (masked-layer) match means: [NAME=]{'|'.join(MASKED_POLICIES)} (repeat per "
                "benchmark; a table of NAME = POLICY in a config). Unset: drop for human-written presets, flag otherwise.",
        "from_flag": masked_flags})


@dataclass
class Matchers:
    problems: list[BenchmarkProblem]
    ngram: NgramIndex
    semantic: Any | None  # assay.filters.semantic.SemanticIndex
    by_key: dict[tuple[str, str], BenchmarkProblem]
    masked: dict[str, str]  # the masked policy each benchmark ran with
    position: dict[tuple[str, str], int] = field(default_factory=dict)  # (benchmark, id) -> problem index


def masked_policies(problems: list[BenchmarkProblem], defaults: dict[str, str], settings: Settings) -> dict[str, str]:
    """The masked policy per benchmark: --masked NAME=POLICY (or POLICY for all), else the
    benchmark's default, else DEFAULT_MASKED. An unknown name or policy is an error."""
    names = list(dict.fromkeys(p.benchmark for p in problems))
    check_given(names, [n for n in settings.masked if n != "*"], "benchmark", "--masked:")
    for name, policy in settings.masked.items():
        chosen(MASKED_POLICIES, policy, "masked policy", f"--masked {name}={policy}:")
    every = settings.masked.get("*")
    return {n: settings.masked.get(n) or every or defaults.get(n) or DEFAULT_MASKED for n in names}


def build_matchers(problems: list[BenchmarkProblem], settings: Settings, defaults: dict[str, str] | None = None) -> Matchers:
    """The layers over `problems`; `defaults` is each benchmark's masked policy when --masked
    does not name it (from the benchmark's preset)."""
    if settings.n < 1:
        raise AssayError(f"--ngram must be at least 1, got {settings.n}")
    if not 0 < settings.min_containment <= 1:
        raise AssayError(f"--min-containment must be in (0, 1], got {settings.min_containment}")
    masked = masked_policies(problems, defaults or {}, settings)
    semantic = None
    if settings.semantic_model:
        semantic = _semantic_index(problems, settings)
    index = NgramIndex(problems, settings.n, settings.min_containment, masked=masked)
    return Matchers(problems, index, semantic, {(p.benchmark, p.benchmark_id): p for p in problems}, masked,
                    {(p.benchmark, p.benchmark_id): i for i, p in enumerate(problems)})


def _semantic_index(problems: list[BenchmarkProblem], settings: Settings):
    import importlib.util

    if importlib.util.find_spec("sentence_transformers") is None:
        raise AssayError("--semantic needs sentence-transformers: pip install 'assay[semantic]'")
    path = Path(settings.semantic_model).expanduser()
    if not (path / "config.json").exists() and not (path / "modules.json").exists():
        raise AssayError(f"--semantic {settings.semantic_model}: not a local sentence-transformers model folder "
                         "(no modules.json or config.json); the semantic layer never downloads models")
    from assay.filters.semantic import SemanticIndex

    if settings.semantic_threshold is not None and not -1 <= settings.semantic_threshold <= 1:
        raise AssayError(f"--semantic-threshold is a cosine, in [-1, 1]; got {settings.semantic_threshold}")
    return SemanticIndex(problems, str(path), threshold=settings.semantic_threshold)


# -- the report ---------------------------------------------------------------------------------


@dataclass
class Report:
    run_id: str
    mode: str  # file or catalog
    input: str
    benchmarks: dict[str, dict[str, Any]]  # name -> {problems, content_hash, dated}
    settings: Settings
    rows: int = 0
    rows_contaminated: int = 0  # rows with a finding of a dropping level
    rows_near: int = 0  # rows whose findings are all `near` (kept, for review)
    skipped: Counter[str] = field(default_factory=Counter)
    findings: Counter[tuple[str, str]] = field(default_factory=Counter)  # (benchmark, method) -> findings
    levels: Counter[tuple[str, str]] = field(default_factory=Counter)  # (benchmark, level) -> findings
    masked: dict[str, str] = field(default_factory=dict)  # benchmark -> masked policy
    thresholds: dict[str, float] = field(default_factory=dict)  # benchmark -> semantic threshold used
    rows_matched: Counter[str] = field(default_factory=Counter)  # benchmark -> rows with a finding
    problems_matched: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    dismissed_by_date: Counter[str] = field(default_factory=Counter)  # benchmark -> findings dismissed
    latest_row_date: date | None = None
    examples: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    started: float = field(default_factory=time.perf_counter)
    output: str | None = None

    def add(self, row_id: Any, prompt: str, findings: list[Finding], matchers: Matchers) -> None:
        self.rows += 1
        level = row_level(findings)
        if level in DROP_LEVELS:
            self.rows_contaminated += 1
        elif level is not None:
            self.rows_near += 1
        for benchmark in {f.benchmark for f in findings}:
            self.rows_matched[benchmark] += 1
        for f in findings:
            self.findings[(f.benchmark, f.method)] += 1
            self.levels[(f.benchmark, f.level)] += 1
            self.problems_matched[f.benchmark].add(f.benchmark_id)
            cell = self.examples[(f.benchmark, f.method)]
            if len(cell) < EXAMPLES_PER_CELL:
                problem = matchers.by_key[(f.benchmark, f.benchmark_id)]
                cell.append({
                    "id": row_id, "benchmark": f.benchmark, "benchmark_id": f.benchmark_id, "method": f.method, "level": f.level,
                    "score": round(f.score, 4), "span": f.span, "prompt": _cut(prompt), "benchmark_prompt": _cut(problem.prompt),
                })

    def to_json(self, problems: list[BenchmarkProblem]) -> dict[str, Any]:
        cutoff = self.settings.data_date or self.latest_row_date
        benchmarks = []
        for name, info in self.benchmarks.items():
            entry = {
                "name": name, **info,
                "rows_matched": self.rows_matched[name],
                "problems_matched": len(self.problems_matched.get(name, ())),
                "findings": {m: self.findings[(name, m)] for m in METHODS},
                "levels": {lv: self.levels[(name, lv)] for lv in LEVELS},
                "masked": self.masked.get(name, DEFAULT_MASKED),
                "semantic_threshold": self.thresholds.get(name),
                "dismissed_by_date": self.dismissed_by_date[name],
            }
            if info["dated"]:
                released = [p.released for p in problems if p.benchmark == name]
                entry["temporal"] = {"cutoff": cutoff.isoformat(), **release_window(released, cutoff)} if cutoff else None
            benchmarks.append(entry)
        return {
            "run_id": self.run_id, "mode": self.mode, "input": self.input, "output": self.output,
            "finished_at": utc_now().isoformat(timespec="seconds"), "seconds": round(time.perf_counter() - self.started, 2),
            "settings": {k: (v.isoformat() if isinstance(v, date) else v) for k, v in self.settings.__dict__.items()},
            "rows": self.rows, "rows_contaminated": self.rows_contaminated, "rows_near": self.rows_near,
            "skipped": dict(self.skipped),
            "findings": {m: sum(n for (_, method), n in self.findings.items() if method == m) for m in METHODS},
            "levels": {lv: sum(n for (_, level), n in self.levels.items() if level == lv) for lv in LEVELS},
            "benchmarks": benchmarks,
            "examples": [e for cell in self.examples.values() for e in cell],
        }


def _cut(text: str) -> str:
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS] + f" ... [{len(text) - EXAMPLE_CHARS:,} more chars]"


# -- checking -------------------------------------------------------------------------------------


def _safe_text(text: str) -> str:
    """Text Arrow can hold: a lone surrogate (from a JSON escape) becomes U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def check_block(prompts: Sequence[str | None], row_dates: Sequence[date | None], matchers: Matchers,
                report: Report) -> list[list[Finding]]:
    """Findings per prompt (None: not checked) after every layer and the temporal rule."""
    per_row: list[list[Finding]] = [[] for _ in prompts]
    checked = [i for i, p in enumerate(prompts) if p is not None]
    texts = [prompts[i] for i in checked]
    array = pa.array(texts, pa.large_string())
    found = matchers.ngram.match(array)
    if matchers.semantic is not None:
        seen = {(f.row, matchers.position[(f.benchmark, f.benchmark_id)]) for f in found}
        found += matchers.semantic.match(array, skip=seen)
    for f in found:
        row = checked[f.row]
        problem = matchers.by_key[(f.benchmark, f.benchmark_id)]
        if impossible_by_date(row_dates[row], problem.released):
            report.dismissed_by_date[f.benchmark] += 1
            continue
        per_row[row].append(f)
    return per_row


def _prompt_of(row: dict[str, Any], prompt_col: str | None) -> tuple[str | None, str | None]:
    """(prompt, skip reason)."""
    columns = (prompt_col,) if prompt_col else PROMPT_COLUMNS
    column = next((c for c in columns if c in row), None)
    value = row.get(column) if column else None
    if value is None:
        return None, "missing_prompt"
    if not isinstance(value, str):
        return None, "wrong_type"
    if not value.strip():
        return None, "empty_prompt"
    if len(value) > MAX_FIELD_CHARS:
        return None, "field_too_large"
    return _safe_text(value), None


def _row_id(row: dict[str, Any], source: str, prompt: str | None) -> Any:
    for key in ("id", "uid"):
        if row.get(key) is not None:
            return row[key]
    return make_uid(source, prompt) if prompt is not None else None


def _line_number(location: str) -> int:
    tail = location.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def decontaminate_file(input_path: Path, output_path: Path, matchers: Matchers, report: Report,
                       prompt_col: str | None = None, advance: Callable[[int], None] = lambda n: None) -> None:
    """Check every row of a file (or folder of files) and write one JSON line per row, in order."""
    if not input_path.exists():
        raise AssayError(f"--input {input_path}: no such file or folder")
    source = file_source(input_path, None)
    stem = input_path.stem
    _note_matchers(report, matchers)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with open(output_path, "w", encoding="utf-8") as out:
        for block in source.blocks():
            # Rows and unparsable lines, back in file order (readers keep them apart).
            items: list[tuple[str, Any]] = [("row", r) for r in block.rows] + [("reject", r) for r in block.rejects]
            if block.rejects:
                keys = [_line_number(loc) for loc in block.locations] + [_line_number(r.location) for r in block.rejects]
                items = [item for _, item in sorted(zip(keys, items), key=lambda pair: pair[0])]
            prompts: list[str | None] = []
            dates: list[date | None] = []
            skips: list[str | None] = []
            ids: list[Any] = []
            for kind, item in items:
                if kind == "reject":
                    prompts.append(None), dates.append(None), skips.append(item.reason), ids.append(None)
                    continue
                prompt, skip = _prompt_of(item, prompt_col)
                prompts.append(prompt)
                skips.append(skip)
                ids.append(_row_id(item, stem, prompt if prompt is not None else ""))
                dates.append(_row_date(item.get(report.settings.date_col), report))
            per_row = check_block(prompts, dates, matchers, report)
            for row_id, prompt, skip, findings in zip(ids, prompts, skips, per_row):
                level = row_level(findings)
                line: dict[str, Any] = {"id": row_id, "contaminated": level in DROP_LEVELS, "level": level,
                                        "matches": [_match_json(f) for f in findings]}
                if skip:
                    line["skipped"] = skip
                    report.skipped[skip] += 1
                report.add(row_id, prompt or "", findings, matchers)
                out.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
            advance(block.progress)


def _note_matchers(report: Report, matchers: Matchers) -> None:
    report.masked = dict(matchers.masked)
    report.thresholds = dict(matchers.semantic.thresholds) if matchers.semantic is not None else {}


def _row_date(value: Any, report: Report) -> date | None:
    day = parse_release_date(value) if value is not None else None
    if day is not None and (report.latest_row_date is None or day > report.latest_row_date):
        report.latest_row_date = day
    return day or report.settings.data_date


def row_level(findings: list[Finding]) -> str | None:
    """The strongest level among a row's findings (LEVELS order), None without findings."""
    return min((f.level for f in findings), key=LEVELS.index, default=None)


def _match_json(f: Finding) -> dict[str, Any]:
    return {"benchmark": f.benchmark, "benchmark_id": f.benchmark_id, "method": f.method, "level": f.level,
            "score": round(f.score, 4), "span": f.span}


def decontaminate_catalog(cat: Catalog, matchers: Matchers, report: Report, run_id: str,
                          advance: Callable[[int], None] = lambda n: None) -> int:
    """Check every record; replace the findings for these benchmarks in `contamination`. Returns findings written."""
    rows: list[tuple] = []
    _note_matchers(report, matchers)
    # Its own cursor: the stream stays open while findings are written on the main connection.
    reader = cat.con.cursor().sql("SELECT uid, prompt, meta FROM records ORDER BY uid").to_arrow_reader(CATALOG_BATCH)
    for batch in reader:
        uids, texts, metas = (batch.column(i).to_pylist() for i in range(3))
        prompts, dates = [], []
        for text, meta in zip(texts, metas):
            prompt = _safe_text(text) if text and text.strip() else None
            if prompt is None:
                report.skipped["empty_prompt"] += 1
            prompts.append(prompt)
            dates.append(_row_date(_meta_value(meta, report.settings.date_col), report))
        per_row = check_block(prompts, dates, matchers, report)
        now = utc_now()
        for uid, prompt, findings in zip(uids, prompts, per_row):
            report.add(uid, prompt or "", findings, matchers)
            rows.extend((uid, f.benchmark, f.benchmark_id, f.method, f.score, f.span, run_id, now, f.level) for f in findings)
        advance(batch.num_rows)
    names = list(report.benchmarks)
    cat.con.execute("BEGIN")
    try:
        cat.con.execute(f"DELETE FROM contamination WHERE benchmark IN ({', '.join('?' for _ in names)})", names)
        if rows:
            cat.con.executemany("INSERT INTO contamination VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        cat.con.execute("COMMIT")
    except BaseException:
        cat.con.execute("ROLLBACK")
        raise
    return len(rows)


def record_catalog_check(cat: Catalog, problems: list[BenchmarkProblem], hashes: dict[str, str], matchers: Matchers,
                         settings: Settings, advance: Callable[[int], None] = lambda n: None) -> tuple[Report, int]:
    """`decontaminate_catalog` recorded as a `decontaminate` run. Returns (report, findings written)."""
    names = list(dict.fromkeys(p.benchmark for p in problems))
    run_id = cat.start_run("decontaminate", {"benchmarks": names, **{k: str(v) for k, v in settings.__dict__.items()}})
    report = new_report("catalog", str(cat.path), problems, hashes, settings, run_id)
    try:
        written = decontaminate_catalog(cat, matchers, report, run_id, advance)
    except BaseException as exc:
        cat.finish_run(run_id, "failed", {"error": str(exc) or type(exc).__name__})
        raise
    cat.finish_run(run_id, "ok", {"rows": report.rows, "rows_contaminated": report.rows_contaminated,
                                  "rows_near": report.rows_near, "findings": written})
    return report, written


@dataclass(frozen=True)
class CatalogCheck:
    summary: dict[str, Any]  # the report's numbers (Report.to_json)
    findings: int  # rows written to the contamination table
    json_path: Path
    html_path: Path


def check_catalog(cat: Catalog, benchmarks: list[str], settings: Settings,
                  advance: Callable[[int], None] = lambda n: None) -> CatalogCheck:
    """The catalog mode as one step: index the registered `benchmarks`, check every record,
    replace their findings, and write the report beside the catalog (reports/RUN_ID.*)."""
    problems = load_problems(cat, benchmarks)
    hashes = {b.name: b.content_hash for b in list_benchmarks(cat)}
    matchers = build_matchers(problems, settings, default_masked(cat))
    report, written = record_catalog_check(cat, problems, hashes, matchers, settings, advance)
    summary = report.to_json(problems)
    json_path, html_path = write_report(summary, default_report_prefix(None, cat.path, report.run_id))
    return CatalogCheck(summary, written, json_path, html_path)


def contamination_cells(cat: Catalog, run_id: str | None) -> list[dict[str, Any]]:
    """A check's findings and matched rows per benchmark, layer and level: a run report's
    "contamination" section (assay.pipelines.reports.summary), the layer shown as `method · level`."""
    return [{"benchmark": b, "layer": f"{m} · {lv}", "findings": int(f), "rows": int(u)} for b, m, lv, f, u in cat.con.execute(
        "SELECT benchmark, method, coalesce(level, 'contaminated'), count(*), count(DISTINCT uid) FROM contamination "
        "WHERE run_id = ? GROUP BY ALL ORDER BY ALL", [run_id]).fetchall()]


def _meta_value(meta: str | None, key: str) -> Any:
    try:
        value = json.loads(meta) if meta else None
    except json.JSONDecodeError:
        return None
    return value.get(key) if isinstance(value, dict) else None


def contamination_filter(cat: Catalog, batch: pa.Table) -> Decision:
    """The Filter decision for a batch of records (it needs `uid`): rows with a stored finding of a
    dropping level are dropped (rows written before levels existed count as `contaminated`)."""
    uids = batch.column("uid").to_pylist()
    cat.con.register("_uids", pa.table({"uid": uids}))
    try:
        rows = cat.con.execute(
            "SELECT uid, benchmark, benchmark_id, method, score, span, coalesce(level, 'contaminated') "
            "FROM contamination JOIN _uids USING (uid)"
        ).fetchall()
    finally:
        cat.con.unregister("_uids")
    position = {uid: i for i, uid in enumerate(uids)}
    findings = [Finding(position[u], b, bid, m, s, span, lv) for u, b, bid, m, s, span, lv in rows]
    return contamination(batch, ContaminationConfig.of_matches(uids, findings))


def new_report(mode: str, input_desc: str, problems: list[BenchmarkProblem], hashes: dict[str, str], settings: Settings,
               run_id: str | None = None) -> Report:
    benchmarks: dict[str, dict[str, Any]] = {}
    for p in problems:
        info = benchmarks.setdefault(p.benchmark, {"problems": 0, "dated": 0, "content_hash": hashes.get(p.benchmark, "")})
        info["problems"] += 1
        info["dated"] += p.released is not None
    return Report(run_id or new_run_id("decontaminate"), mode, input_desc, benchmarks, settings)


def default_report_prefix(output: Path | None, catalog_path: Path, run_id: str) -> Path:
    if output is not None:
        name = output.name[: -len(output.suffix)] if output.suffix else output.name
        return output.with_name(name + ".report")
    return catalog_path.parent / "reports" / run_id


def check_input_suffix(path: Path) -> None:
    if path.is_file():
        chosen(FILE_SUFFIXES, path.suffix.lower(), "file type", f"--input {path}:")


# -- report files ---------------------------------------------------------------------------------

def write_report(report_json: dict[str, Any], prefix: Path) -> tuple[Path, Path]:
    """PREFIX.json (the numbers) and PREFIX.html (the same, for people; self-contained, no scripts,
    every piece of text escaped: prompts are untrusted input)."""
    json_text = json.dumps(report_json, indent=2, ensure_ascii=False, default=str) + "\n"
    return write_pair(prefix, json_text, render_html(report_json))


def render_html(r: dict[str, Any]) -> str:
    out = [
        f"<h1>Decontamination report</h1><p class='meta'>run {e(r['run_id'])} · {e(r['mode'])} · input {e(r['input'])}"
        f" · finished {e(r['finished_at'])} · {e(r['seconds'])} s</p>",
        f"<p><b>{r['rows_contaminated']:,}</b> of {r['rows']:,} rows contaminated (dropped); {r['rows_near']:,} more "
        "with near findings only (kept, listed for review).</p>",
        "<table><tr><th>level</th><th>findings</th><th>meaning</th></tr>",
        *(f"<tr><td>{e(lv)}</td><td class='num'>{r['levels'][lv]:,}</td><td>{e(LEVEL_HELP[lv])}</td></tr>" for lv in LEVELS),
        "</table>",
        "<table><tr><th>setting</th><th>value</th></tr>",
        *(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in r["settings"].items()),
        "</table>",
    ]
    if r["skipped"]:
        out.append("<h2>Rows not checked</h2><table><tr><th>reason</th><th>rows</th></tr>")
        out += [f"<tr><td>{e(k)}</td><td class='num'>{v:,}</td></tr>" for k, v in r["skipped"].items()]
        out.append("</table>")
    out.append("<h2>Findings per benchmark, layer and level</h2><table><tr><th>benchmark</th><th>problems</th>"
               + "".join(f"<th>{e(m)}</th>" for m in METHODS) + "".join(f"<th>{e(lv)}</th>" for lv in LEVELS)
               + "<th>masked layer</th><th>semantic threshold</th>"
               + "<th>rows matched</th><th>problems matched</th><th>dismissed by date</th><th>content hash</th></tr>")
    for b in r["benchmarks"]:
        threshold = "\u2013" if b["semantic_threshold"] is None else f"{b['semantic_threshold']:.3f}"
        out.append(f"<tr><td>{e(b['name'])}</td><td class='num'>{b['problems']:,}</td>"
                   + "".join(f"<td class='num'>{b['findings'][m]:,}</td>" for m in METHODS)
                   + "".join(f"<td class='num'>{b['levels'][lv]:,}</td>" for lv in LEVELS)
                   + f"<td>{e(b['masked'])}</td><td class='num'>{threshold}</td>"
                   + f"<td class='num'>{b['rows_matched']:,}</td><td class='num'>{b['problems_matched']:,}</td>"
                   f"<td class='num'>{b['dismissed_by_date']:,}</td><td class='meta'>{e(b['content_hash'][:16])}</td></tr>")
    out.append("</table>")
    dated = [b for b in r["benchmarks"] if b.get("temporal")]
    if dated:
        out.append("<h2>Dated benchmarks</h2><p>Problems released after the data cutoff cannot be in the data "
                   "(a clean evaluation window); those released on or before it are at risk.</p>"
                   "<table><tr><th>benchmark</th><th>cutoff</th><th>released after</th><th>at risk</th><th>undated</th></tr>")
        for b in dated:
            t = b["temporal"]
            out.append(f"<tr><td>{e(b['name'])}</td><td>{e(t['cutoff'])}</td><td class='num'>{t['after_cutoff']:,}</td>"
                       f"<td class='num'>{t['at_risk']:,}</td><td class='num'>{t['undated']:,}</td></tr>")
        out.append("</table>")
    out.append("<h2>Examples</h2>")
    if not r["examples"]:
        out.append("<p>No findings.</p>")
    for x in r["examples"]:
        out.append(
            f"<table class='pair'><tr><th>input row {e(x['id'])}</th><th>{e(x['benchmark'])} / {e(x['benchmark_id'])}"
            f" · {e(x['method'])} · {e(x['level'])} · score {e(x['score'])}</th></tr>"
            f"<tr><td>{e(x['prompt'])}</td><td>{e(x['benchmark_prompt'])}</td></tr>"
            f"<tr><td colspan='2'>matched span: <span class='span'>{e(x['span'])}</span></td></tr></table>"
        )
    return page(f"assay decontaminate {r['run_id']}", "\n".join(out))
