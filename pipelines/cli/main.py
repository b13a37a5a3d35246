"""The `assay` command line.

Every command is a thin shell over plain functions in pipelines/ (and the leaf packages):
parse options, open the catalog, call, print. Problems with input come back as AssayError and
are printed as one line on stderr with exit status 2; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import json
import gc
import os
import sys
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from assay.curricula.difficulty import StatusCounts
from assay.pipelines.steps import benchmarks as bench
from assay.pipelines.steps import decontaminate as decon
from assay.pipelines.config import settings
from assay.pipelines.store.catalog import WAIT_ENV, Catalog, CatalogStats, resolve_catalog_path
from assay.pipelines.errors import AssayError
from assay.pipelines.steps.ingest import IngestReport, ingest, resolve_source
from assay.pipelines.steps.presets import PRESETS, resolve_preset
from assay.pipelines.config.train_settings import TrainRunConfig
from assay.verifiers import VERIFIERS
from assay.verifiers.code_verifier import SANDBOX_MODES

app = typer.Typer(
    help="assay: curated, verified, difficulty-scored RLVR data, and a trainer that closes the loop.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
catalog_app = typer.Typer(help="Inspect the catalog.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
bench_app = typer.Typer(help="Register evaluation benchmarks (for decontamination and audits).", no_args_is_help=True)
app.add_typer(bench_app, name="bench")

console = Console()
_state: dict[str, Optional[str]] = {"catalog": None}
# --runner / --cluster of the flow-backed commands (difficulty, curate).
RUNNER_HELP = ("Where the work runs: local (this process), dask (prefect-dask; a local cluster, or --cluster) "
               "or ray (prefect-ray; a local Ray, or --cluster). See assay.pipelines.flows.runners.")
ENGINE_HELP = ("Rollout engine: auto (vllm where it is installed and can run, else transformers), transformers "
               "(CPU or GPU) or vllm (CUDA GPUs, or the CPU: scripts/install-vllm).")
VERIFIER_TIMEOUT_HELP = "Seconds one verification may take; one still running is a timeout: sampled again, never scored."
MAX_FAILURES_HELP = ("Share of a {unit}'s verdicts that may be timeout or error; above it the run stops instead of "
                     "recording (a loaded machine or a too short --verifier-timeout).")
VERIFIER_HELP = (f"Judge every row with this verifier instead of its own: a built-in ({', '.join(VERIFIERS)}), an installed plug-in's "
                 "entry point (group assay.verifiers), or package.module:function (README: Your own reward).")
CLUSTER_HELP = ("Address of an existing Dask scheduler (tcp://HOST:8786) or Ray cluster (ray://HOST:10001); needs "
                "PREFECT_API_URL and shared result storage. Default: start a cluster on this machine.")


def _print_version(asked: bool) -> None:
    # Eager, and before any subcommand: answers at once, with nothing heavy (torch) imported.
    if asked:
        from importlib.metadata import version

        from assay.verifiers import VERIFIER_VERSION

        print(f"assay {version('assay')} (verifiers {VERIFIER_VERSION})")
        raise typer.Exit()


@app.callback()
def _global(
    _version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                  help="Print the assay and verifier versions and exit."),
    catalog: Optional[str] = typer.Option(
        None, "--catalog", help="Catalog DuckDB file. Default: $ASSAY_CATALOG, else ./assay.duckdb.", show_default=False
    ),
    wait: Optional[float] = typer.Option(
        None, "--wait", help="Seconds to wait for the catalog: for another command's write to end (default 30) and for "
        "another command's run to finish (default 0). Default: $ASSAY_WAIT.", show_default=False
    ),
) -> None:
    _state["catalog"] = catalog
    if wait is not None:
        os.environ[WAIT_ENV] = str(wait)  # flows and child processes open the catalog too


def _catalog_path() -> Path:
    return resolve_catalog_path(_state["catalog"])


@contextmanager
def _progress(description: str, total: int | None, unit: str) -> Iterator[Progress]:
    count = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    columns = (TextColumn("{task.description}"), BarColumn(), count, TimeElapsedColumn(), TimeRemainingColumn())
    # The ETA is the rate over the last 10 minutes: a sampling bar moves once per generation batch,
    # minutes apart for a large model on a CPU, and rich's default 30 s window would then hold no rate.
    with Progress(*columns, console=console, transient=False, speed_estimate_period=600) as progress:
        progress.add_task(description, total=total)
        yield progress


@app.command("ingest")
def ingest_cmd(
    source: str = typer.Argument(..., help="A .jsonl/.json/.parquet/.csv file or folder, a Hugging Face dataset id, or builtin:arithmetic."),
    name: Optional[str] = typer.Option(None, "--name", help="Source name recorded on every row (part of the uid). Default: the file stem, dataset id or built-in name."),
    preset: Optional[str] = typer.Option(None, "--preset", help=f"Column layout of a known dataset: {', '.join(PRESETS)}."),
    split: Optional[str] = typer.Option(None, "--split", help="Split to record (files) or load (hub). Default: from file names, else train; all splits of a hub dataset."),
    prompt_col: Optional[str] = typer.Option(None, "--prompt-col", help="Column holding the prompt (instead of --preset)."),
    answer_col: Optional[str] = typer.Option(None, "--answer-col", help="Column holding the gold answer (instead of --preset)."),
    answer_regex: Optional[str] = typer.Option(None, "--answer-regex", help="Regex with one group that extracts the gold from the answer column."),
    verifier: Optional[str] = typer.Option(None, "--verifier", help="Verifier for a --prompt-col/--answer-col mapping: math, numeric, mc, exact, code. Default: math."),
    subset: Optional[str] = typer.Option(None, "--subset", help="Hugging Face dataset configuration (e.g. 'main' for openai/gsm8k)."),
    count: Optional[int] = typer.Option(None, "--count", help="Built-in corpora: how many problems (default 1000)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Built-in corpora: generator seed (default 0)."),
) -> None:
    """Ingest a corpus into the catalog; bad rows go to quarantine with a reason."""
    resolved, default_name, implied = resolve_source(source, split, subset, count, seed)
    mapping = implied if implied and not (preset or prompt_col or answer_col) else resolve_preset(
        preset, prompt_col, answer_col, answer_regex, verifier
    )
    with Catalog.open(_catalog_path()) as cat:
        report = _run_ingest(cat, resolved, mapping, name or default_name, {"spec": source, "preset": preset})
    _print_report(report)


def _run_ingest(cat: Catalog, resolved, mapping, name: str, args: dict) -> IngestReport:
    with _progress(f"ingest {name}", resolved.total, resolved.unit) as progress:
        task = progress.task_ids[0]
        report = ingest(cat, resolved, mapping, name, args, advance=lambda n: progress.advance(task, n))
        progress.update(task, completed=resolved.total)
    return report


def _print_report(report: IngestReport) -> None:
    quarantined = sum(report.quarantined.values())
    console.print(
        f"[bold]{report.source}[/]: {report.rows_read:,} rows read, {report.added:,} added, "
        f"{report.already_present:,} already in the catalog, {quarantined:,} quarantined"
    )
    for reason, n in report.quarantined.most_common():
        console.print(f"  quarantine  {reason:<24} {n:,}")
    console.print(f"  run {report.run_id}")


JSON_HELP = "Print JSON instead of tables."


def _print_json(value) -> None:
    print(json.dumps(value, indent=1, default=str, ensure_ascii=False))


@catalog_app.command("stats")
def stats_cmd(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Rows per source and split, quarantine reasons, and the size of each table."""
    from dataclasses import asdict

    with Catalog.open(_catalog_path(), read_only=True) as cat:
        stats = cat.stats()
    _print_json(asdict(stats)) if as_json else _print_stats(stats)


@catalog_app.command("query")
def query_cmd(
    sql: str = typer.Argument(..., help="SQL over the catalog's tables (README: Catalog tables), e.g. "
                              "\"SELECT source, count(*) FROM records GROUP BY ALL\"."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Read-only SQL: the catalog is opened read-only, with no access to other files."""
    from assay.pipelines.store.catalog import query_catalog

    columns, rows = query_catalog(_catalog_path(), sql)
    if as_json:
        _print_json([dict(zip(columns, row)) for row in rows])
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)
    console.print(f"{len(rows):,} rows")


@catalog_app.command("quarantine")
def quarantine_cmd(
    source: Optional[str] = typer.Option(None, "--source", help="Only this source's rows."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Only rows quarantined for this reason (see `assay catalog stats`)."),
    limit: int = typer.Option(50, "--limit", help="Most rows shown, newest first."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Rows ingestion could not use: where each came from, why, and an excerpt."""
    from assay.pipelines.store.catalog import list_quarantine

    with Catalog.open(_catalog_path(), read_only=True) as cat:
        rows = list_quarantine(cat, source, reason, limit)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        console.print("no quarantined rows" + (" of that source or reason" if source or reason else ""))
        return
    table = Table("source", "location", "reason", "detail", "raw")
    for r in rows:
        table.add_row(r["source"], r["location"], r["reason"], r["detail"][:80], r["raw"][:60])
    console.print(table, markup=False)


@catalog_app.command("runs")
def runs_cmd(
    kind: Optional[str] = typer.Option(None, "--kind", help="Only runs of this command: ingest, curate, difficulty, train, ..."),
    status: Optional[str] = typer.Option(None, "--status", help="Only runs with this status: running, ok, failed, interrupted."),
    limit: int = typer.Option(20, "--limit", help="Most runs shown, newest first."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Runs, newest first: status (a run whose process is gone reads as interrupted), times, who ran it."""
    from dataclasses import asdict

    from assay.pipelines.store.catalog import list_runs

    with Catalog.open(_catalog_path(), read_only=True) as cat:
        runs = list_runs(cat, kind, status, limit)
    if as_json:
        _print_json([asdict(r) for r in runs])
        return
    table = Table("run", "status", "started", "by", "note")
    table.columns[0].no_wrap = True
    for r in runs:
        note = r.summary.get("error") or r.summary.get("interrupted") or r.summary.get("report") or ""
        table.add_row(r.run_id, r.status, f"{r.started_at:%m-%d %H:%M:%S}", r.owner, str(note)[:80])
    console.print(table, markup=False)


app.command("runs", help="Runs, newest first (the same as `assay catalog runs`).")(runs_cmd)


def _print_stats(stats: CatalogStats) -> None:
    console.print(f"catalog [bold]{stats.path}[/] ({stats.file_bytes / 1e6:.1f} MB)")
    tables = Table("table", "rows", title="tables", title_justify="left")
    for table, rows in stats.tables.items():
        tables.add_row(table, f"{rows:,}")
    console.print(tables)
    records = Table("source", "split", "records", title="records", title_justify="left")
    for source, split, rows in stats.records:
        records.add_row(source, split, f"{rows:,}")
    console.print(records)
    if stats.quarantine:
        quarantine = Table("source", "reason", "rows", title="quarantine", title_justify="left")
        for source, reason, rows in stats.quarantine:
            quarantine.add_row(source, reason, f"{rows:,}")
        console.print(quarantine)


@bench_app.command("add")
def bench_add_cmd(
    name: str = typer.Argument(..., help="Name to register the benchmark under (a preset name picks that preset)."),
    source: str = typer.Argument(..., help="A .jsonl/.json/.parquet/.csv file or folder, or a Hugging Face dataset id."),
    preset: Optional[str] = typer.Option(None, "--preset", help=f"Layout of a known benchmark: {', '.join(bench.BENCH_PRESETS)}."),
    prompt_col: Optional[str] = typer.Option(None, "--prompt-col", help="Column holding the problem (instead of --preset)."),
    answer_col: Optional[str] = typer.Option(None, "--answer-col", help="Column holding the gold answer. Optional: decontamination needs problem texts only."),
    id_col: Optional[str] = typer.Option(None, "--id-col", help="Column holding the problem id. Default: the row number."),
    date_col: Optional[str] = typer.Option(None, "--date-col", help="Column holding the release date (dated benchmarks)."),
    split: Optional[str] = typer.Option(None, "--split", help="Hub split to load. Default: the preset's (e.g. test), else all."),
    subset: Optional[str] = typer.Option(None, "--subset", help="Hugging Face configuration (e.g. gpqa_diamond, main)."),
) -> None:
    """Register (or update) an evaluation set; stored in the catalog with a content hash."""
    bench.check_name(name)
    label, mapping = bench.resolve_bench_preset(name, preset, prompt_col, answer_col, id_col, date_col, source)
    resolved, _, _ = resolve_source(source, split or mapping.hub_split, subset)
    with Catalog.open(_catalog_path()) as cat:
        _bench_add(cat, name, source, resolved, label, mapping)


def _bench_add(cat: Catalog, name: str, spec: str, resolved, label: str, mapping) -> None:
    with _progress(f"read {name}", resolved.total, resolved.unit) as progress:
        task = progress.task_ids[0]
        done = bench.add_benchmark(cat, name, spec, resolved, label, mapping, lambda n: progress.advance(task, n))
        progress.update(task, completed=resolved.total)
    console.print(f"[bold]{name}[/]: {done.status}, {done.problems:,} problems, content hash {done.content_hash[:16]}")
    for reason, n in done.skipped.most_common():
        console.print(f"  skipped  {reason:<16} {n:,}")


@bench_app.command("list")
def bench_list_cmd() -> None:
    """Registered benchmarks: problems, dated problems, layout, source, content hash."""
    with Catalog.open(_catalog_path(), read_only=True) as cat:
        infos = bench.list_benchmarks(cat)
    if not infos:
        console.print("no benchmarks registered; add one with `assay bench add NAME SOURCE`")
        return
    table = Table("name", "problems", "dated", "preset", "source", "content hash", "added")
    for b in infos:
        table.add_row(b.name, f"{b.problems:,}", f"{b.dated:,}", b.preset, b.source, b.content_hash[:16], f"{b.added_at:%Y-%m-%d %H:%M}")
    console.print(table)


@app.command("decontaminate")
def decontaminate_cmd(
    benchmark: list[str] = typer.Option(..., "--benchmark", help="A registered benchmark (repeat for several)."),
    input: Optional[Path] = typer.Option(None, "--input", help="A .jsonl/.parquet/.json/.csv file to check. Default: the catalog's records."),
    output: Optional[Path] = typer.Option(None, "--output", help="JSON Lines result, one line per input row (with --input)."),
    semantic: Optional[str] = typer.Option(None, "--semantic", help="Local sentence-transformers model folder: adds the paraphrase layer."),
    semantic_threshold: Optional[float] = typer.Option(None, "--semantic-threshold", help="Cosine at or above which the semantic layer fires. Default: calibrated per benchmark (printed)."),
    masked: list[str] = typer.Option([], "--masked", help="What a numbers-changed (masked-layer) match means: [NAME=]drop|flag|off (repeat per benchmark). Default: drop for human-written presets, flag otherwise."),
    ngram: int = typer.Option(decon.DEFAULT_N, "--ngram", help="n-gram size in normalised tokens."),
    min_containment: float = typer.Option(decon.DEFAULT_MIN_CONTAINMENT, "--min-containment", help="Share of a problem's n-grams a prompt must contain."),
    prompt_col: Optional[str] = typer.Option(None, "--prompt-col", help="Input column holding the prompt. Default: prompt, problem or question."),
    date_col: str = typer.Option("date", "--date-col", help="Row field (record meta key) with the row's date, for the temporal rule."),
    data_date: Optional[str] = typer.Option(None, "--data-date", help="YYYY-MM-DD: when rows without a date were collected (the data cutoff)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Report path prefix (writes PREFIX.json and PREFIX.html)."),
) -> None:
    """Check prompts against registered benchmarks; write findings and an HTML + JSON report."""
    if (input is None) != (output is None):
        raise AssayError("--input and --output go together (without both, the catalog's records are checked)")
    day = None
    if data_date is not None:
        day = bench.parse_release_date(data_date)
        if day is None or len(data_date.strip()) != 10:
            raise AssayError(f"--data-date {data_date!r}: expected YYYY-MM-DD")
    policies = dict(m.split("=", 1) if "=" in m else ("*", m) for m in masked)
    settings = decon.Settings(ngram, min_containment, semantic, semantic_threshold, date_col, day, policies)
    if input is not None:
        decon.check_input_suffix(input)
    path = _catalog_path()
    with Catalog.open(path, read_only=input is not None) as cat:
        problems = bench.load_problems(cat, benchmark)
        hashes = {b.name: b.content_hash for b in bench.list_benchmarks(cat)}
        with console.status("indexing benchmarks" + (" and embedding them" if semantic else "")):
            matchers = decon.build_matchers(problems, settings, bench.default_masked(cat))
        if input is not None:
            rep = decon.new_report("file", str(input), problems, hashes, settings)
            rep.output = str(output)
            source_total = max(sum(f.stat().st_size for f in ([input] if input.is_file() else input.rglob("*")) if f.is_file()), 1) if input.exists() else 1
            with _progress("decontaminate", source_total, "bytes") as progress:
                task = progress.task_ids[0]
                decon.decontaminate_file(input, output, matchers, rep, prompt_col, lambda n: progress.advance(task, n))
                progress.update(task, completed=source_total)
            written = None
        else:
            rep, written = _decontaminate_catalog(cat, problems, hashes, matchers, settings)
        summary = rep.to_json(problems)
    json_path, html_path = decon.write_report(summary, report or decon.default_report_prefix(output, path, rep.run_id))
    _print_decontamination(summary, written, json_path, html_path)


def _decontaminate_catalog(cat: Catalog, problems, hashes, matchers, settings):
    total = cat.con.execute("SELECT count(*) FROM records").fetchone()[0]
    with _progress("decontaminate", total, "rows") as progress:
        task = progress.task_ids[0]
        return decon.record_catalog_check(cat, problems, hashes, matchers, settings, lambda n: progress.advance(task, n))


def _print_decontamination(r: dict, written: Optional[int], json_path: Path, html_path: Path) -> None:
    console.print(f"[bold]decontaminate[/]: {r['rows_contaminated']:,} of {r['rows']:,} rows contaminated"
                  + f", {r['rows_near']:,} near (kept)" + (f", {sum(r['skipped'].values()):,} not checked" if r["skipped"] else ""))
    table = Table("benchmark", "problems", *decon.METHODS, *decon.LEVELS, "masked", "semantic threshold", "rows matched", "dismissed by date")
    for b in r["benchmarks"]:
        threshold = "-" if b["semantic_threshold"] is None else f"{b['semantic_threshold']:.3f}"
        table.add_row(b["name"], f"{b['problems']:,}", *(f"{b['findings'][m]:,}" for m in decon.METHODS),
                      *(f"{b['levels'][lv]:,}" for lv in decon.LEVELS), b["masked"], threshold,
                      f"{b['rows_matched']:,}", f"{b['dismissed_by_date']:,}")
    console.print(table)
    for reason, n in r["skipped"].items():
        console.print(f"  not checked  {reason:<16} {n:,}")
    if written is not None:
        console.print(f"  {written:,} findings written to the contamination table (run {r['run_id']})")
    elif r.get("output"):
        console.print(f"  results: {r['output']}")
    console.print(f"  report: {html_path} and {json_path.name}")


def _say_engine(kind: str) -> str:
    """The engine `kind` names ("auto" decided here), said on the console; an unknown name fails."""
    from assay.trainers.rollout import EngineError, choose_engine

    try:
        choice = choose_engine(kind)
    except EngineError as exc:
        raise AssayError(str(exc)) from None
    console.print(f"engine: {choice.kind} ({choice.why})")
    return choice.kind


@app.command("quickstart")
def quickstart_cmd(
    count: int = typer.Option(1000, "--count", help="Problems drawn from the built-in arithmetic corpus."),
    engine: str = typer.Option("auto", "--engine", help=ENGINE_HELP),
) -> None:
    """Run the whole loop on the built-in corpus and toy model, with no network and no server."""
    from assay.pipelines.steps import curate
    from assay.pipelines.store.catalog import new_run_id

    path = _catalog_path()
    # The example config is the quickstart's: the built-in corpus and evaluation set, the toy policy.
    out = path.parent / "shards" / new_run_id("quickstart")
    example = curate.parse_config(curate.EXAMPLE_CONFIG, "the quickstart config (assay curate --example-config)")
    config = replace(example, sources=[replace(s, count=count) if s.count is not None else s for s in example.sources],
                     export=replace(example.export, out=str(out)), difficulty=replace(example.difficulty, engine=_say_engine(engine)))
    console.print(f"[bold]assay quickstart[/]: catalog {path}")
    # The same Prefect flows as `assay curate`, embedded: no server to start.
    runner_config = _runner_config("local", None)
    flows, task_runner = _flows(path, runner_config)
    console.rule("curate: ingest, dedup, decontaminate, quality, gold check, difficulty, learnability, curriculum, export")
    with flows.reporting(progress=_curate_progress, on_step=_print_step):
        result = flows.run_flow(flows.curate_flow, task_runner, {"catalog": str(path), "config": config, "runner": runner_config})
    _print_funnel(result)

    from assay.pipelines.steps import train as training

    console.rule("train: a short GRPO run on the shards, online sampler, difficulty written back")
    train_config = replace(training.quickstart_config(result.out, path.parent / "runs" / result.run_id), engine=config.difficulty.engine)

    def run(on_metrics):
        with flows.reporting(on_metrics=on_metrics):
            return flows.run_flow(flows.train_flow, task_runner, {"catalog": str(path), "config": train_config})

    trained = _run_train(train_config.steps, run)
    _print_train(trained)
    _print_quickstart(result, trained)


def _print_quickstart(curated, trained) -> None:
    steps = {s.step: s for s in curated.steps}
    first, last = trained.evals[0], trained.evals[-1]
    learn = steps[curated.learnability_step]
    console.rule("summary")
    for line in (
        f"ingested {steps['ingest'].rows_in:,} rows; {steps['ingest'].rows_out:,} became records",
        f"dedup, decontamination, quality and gold checks kept {learn.rows_in:,} "
        f"({steps['contamination'].rows_in - steps['contamination'].rows_out:,} contaminated)",
        f"difficulty: {steps['difficulty'].detail['sampled']:,} samples from {steps['difficulty'].detail['model']}",
        f"learnability kept {learn.rows_out:,} prompts ({', '.join(f'{r} {n:,}' for r, n in learn.dropped.items())})",
        f"curriculum and export: {steps['export'].rows_out:,} shard rows in {curated.out}",
        f"GRPO: {len(trained.history)} steps; held-out pass@1 {first.pass_at_1:.3f} at step {first.step} "
        f"-> {last.pass_at_1:.3f} at step {last.step}",
        f"held-out pass@{last.k}: {first.pass_at_k:.3f} -> {last.pass_at_k:.3f}; zero-variance groups "
        f"{trained.zero_variance:.0%} per step",
        f"online difficulty: {trained.observations:,} observations written back to the catalog",
        f"curate report: {curated.report}",
        f"train report: {trained.report}",
    ):
        console.print(line)


@app.command("verify")
def verify_cmd(
    input_path: Optional[Path] = typer.Option(None, "--input", help="JSONL lines {response, gold, verifier?, options?}; other keys pass through."),
    output_path: Optional[Path] = typer.Option(None, "--output", help="Where the same lines go, in order, with status and score added."),
    audit: Optional[Path] = typer.Option(None, "--audit", help="JSONL lines that also hold an 'expected' boolean: print agreement and a gold round trip."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Worker processes. Default: one per CPU."),
    timeout: float = typer.Option(2.0, "--timeout", help="CPU seconds one item may use in its worker before it is killed and retried once (code items: their sandbox's own limits); a busy machine does not count against it."),
    sandbox: Optional[str] = typer.Option(None, "--sandbox", help=f"Code sandbox mode; valid: {', '.join(SANDBOX_MODES)}. "
                                          "strict (default, or ASSAY_SANDBOX) refuses code verification where an isolation layer is missing; "
                                          "weak runs with what the host gives and says so in every reason."),
    sandbox_check: bool = typer.Option(False, "--sandbox-check", help="Print which isolation layers this host gives the code sandbox and what each protects."),
    verifier: Optional[str] = typer.Option(None, "--verifier", help=VERIFIER_HELP),
) -> None:
    """Verify responses against gold answers; exit 0 even when some are incorrect."""
    from assay.pipelines.steps import preflight, verify_io

    preflight.check_verifier(verifier)
    if sandbox_check:
        _print_sandbox_check()
        return
    if audit is not None:
        if input_path or output_path:
            raise AssayError("--audit reads its own file; drop --input/--output or --audit")
        _print_audit(verify_io.audit_file(audit, workers, timeout, sandbox, verifier))
        return
    if input_path is None or output_path is None:
        raise AssayError("give --input and --output, or --audit")
    lines = sum(1 for line in input_path.open(encoding="utf-8", errors="replace") if line.strip()) if input_path.is_file() else 0
    with _progress("verify", lines, "rows") as progress:
        task = progress.task_ids[0]
        report = verify_io.verify_file(input_path, output_path, workers, timeout, lambda n: progress.advance(task, n), sandbox, verifier)
    counts = StatusCounts.from_dict(report.counts)
    console.print(f"verified {report.rows:,} lines -> {output_path}: {counts.line()}")
    if counts.failed:
        console.print(f"  {counts.failed:,} verdicts are timeout or error: the verifier did not judge those responses "
                      "(not wrong answers): a --timeout too short for them, inputs too large or complex, or a sandbox that refused")


def _print_sandbox_check() -> None:
    from assay.verifiers.code_verifier import OPT_IN
    from assay.verifiers.sandbox_host import sandbox_check
    from assay.verifiers.sandbox_protocol import LAYERS

    layers = sandbox_check()
    table = Table("layer", "on this host", "protects", title="code sandbox layers", title_justify="left")
    for name, protects in LAYERS.items():
        table.add_row(name, "yes" if layers[name] is None else f"no: {layers[name]}", protects)
    console.print(table)
    missing = [name for name, why in layers.items() if why]
    if missing:
        console.print(f"strict mode (the default) refuses code verification here: missing {', '.join(missing)}. "
                      f"Opt in to a weaker sandbox with {OPT_IN}.", markup=False)
    else:
        console.print("strict mode (the default) runs here: every layer holds.")


def _print_audit(report) -> None:
    console.print(f"agreement with labels: {report.agree:,}/{report.rows:,} ({report.agreement:.1%}); "
                  f"false positives {report.false_positives:,}, false negatives {report.false_negatives:,}")
    statuses = Table("status", "rows", title="statuses", title_justify="left")
    for status, n in report.counts.most_common():
        statuses.add_row(status, f"{n:,}")
    console.print(statuses)
    console.print(f"gold round trip: {report.golds - len(report.gold_failures):,}/{report.golds:,} golds verify against themselves")
    for verifier, gold, verdict in report.gold_failures[:20]:
        console.print(f"  {verifier:<8} {gold[:60]!r}: {verdict.status} ({verdict.reason[:80]})", markup=False)


@app.command("difficulty")
def difficulty_cmd(
    model: str = typer.Option("toy", "--model", help="A local checkpoint folder, or the built-in toy policy."),
    k: int = typer.Option(16, "--k", help="Samples per prompt (fixed); adaptive spends half as many in all, up to 2k on one prompt."),
    policy: str = typer.Option("adaptive", "--policy", help="adaptive: stop early on sure calls, spend the saving on unsure ones; fixed: exactly k."),
    engine: str = typer.Option("auto", "--engine", help=ENGINE_HELP),
    source: Optional[str] = typer.Option(None, "--source", help="Only this source's records. Default: all."),
    temperature: float = typer.Option(1.0, "--temperature", help="Sampling temperature (0: greedy)."),
    top_p: float = typer.Option(1.0, "--top-p", help="Nucleus sampling mass."),
    max_tokens: int = typer.Option(1024, "--max-tokens", help="Most generated tokens per response."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed; part of the config hash."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Verifier processes. Default: one per CPU."),
    verifier_timeout: float = typer.Option(2.0, "--verifier-timeout", help=VERIFIER_TIMEOUT_HELP),
    max_verifier_failures: float = typer.Option(0.05, "--max-verifier-failures", help=MAX_FAILURES_HELP.format(unit="chunk")),
    report: Optional[Path] = typer.Option(None, "--report", help="Write one JSON line of difficulty per prompt here."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Run the checkpoint's own Python code. Only for code you have read."),
    runner: str = typer.Option("local", "--runner", help=RUNNER_HELP),
    cluster: Optional[str] = typer.Option(None, "--cluster", help=CLUSTER_HELP),
    verifier: Optional[str] = typer.Option(None, "--verifier", help=VERIFIER_HELP),
) -> None:
    """Estimate each prompt's difficulty with pass@k sampling; observations append to the catalog."""
    from assay.pipelines.steps import preflight

    preflight.check_verifier(verifier)
    preflight.check_model_and_engine(model, engine)  # before torch, Prefect or the catalog
    from assay.pipelines.steps import difficulty
    from assay.trainers.rollout import EngineError, SamplingConfig

    try:
        sampling = SamplingConfig(temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed)
    except EngineError as exc:
        raise AssayError(str(exc)) from None
    config = difficulty.DifficultyConfig(
        model=model, k=k, policy=policy, engine=engine, source=source, sampling=sampling,
        workers=workers, trust_remote_code=trust_remote_code, verifier_timeout_s=verifier_timeout,
        max_verifier_failures=max_verifier_failures, verifier=verifier,
    )
    config = replace(config, engine=_say_engine(config.engine))  # once every setting is known to be valid
    runner_config = _runner_config(runner, cluster)
    path = _catalog_path()
    with Catalog.open(path) as cat:
        prompts = _count_prompts(cat, config.source)
        if prompts == 0:
            difficulty.select_prompts(cat, config.source)  # says which sources there are
    flows, task_runner = _flows(path, runner_config)
    with _sampling_bar(config, prompts) as advance, flows.reporting(advance=advance):
        result = flows.run_flow(flows.difficulty_flow, task_runner, {"catalog": str(path), "config": config, "runner": runner_config})
    _print_difficulty(result)
    if report:
        difficulty.write_report(result, report)
        console.print(f"per-prompt difficulty -> {report}")


def _runner_config(runner: str, cluster: Optional[str]):
    from assay.pipelines.flows.runners import RunnerConfig

    return RunnerConfig(runner, cluster)


def _flows(catalog: Path, runner_config):
    """assay.pipelines.flows.flows, imported once Prefect's settings are in place (see prefect_env),
    and the task runner `runner_config` names, checked before any work starts."""
    from assay.pipelines.flows import prefect_env

    env = prefect_env.configure(catalog)
    with console.status(f"starting Prefect (connecting to {env.api_url})" if env.api_url else
                        "starting Prefect (a temporary local server; 5-20 s, longer on a busy machine)"):
        from assay.pipelines.flows import flows
        from assay.pipelines.flows.runners import task_runner

        runner = task_runner(runner_config, env)
        flows.start_api()
    return flows, runner


def _count_prompts(cat: Catalog, source: Optional[str]) -> int:
    return cat.con.execute(
        "SELECT count(*) FROM records" + (" WHERE source = ?" if source else ""), [source] if source else []
    ).fetchone()[0]


@contextmanager
def _sampling_bar(config, prompts: int) -> Iterator:
    from assay.pipelines.steps.difficulty import planned_samples

    # The total is the policy's budget (adaptive: about k/2 per prompt); samples already stored are reused.
    with _progress(f"sample {config.model} ({config.policy}, k={config.k})", planned_samples(config, prompts), "rows") as progress:
        task = progress.task_ids[0]
        yield lambda n: progress.advance(task, n)
        progress.update(task, total=progress.tasks[0].completed or 1)


def _print_difficulty(result) -> None:
    from assay.pipelines.steps.difficulty import summary_of

    summary = summary_of(result)
    console.print(
        f"[bold]{result.model_id}[/] on {summary['prompts']:,} prompts: {result.sampled:,} samples drawn now "
        f"({result.tokens:,} tokens, {result.rounds} rounds); "
        + ("nothing to sample, all reused from the catalog" if result.sampled == 0 else "observations appended")
    )
    if result.skipped:
        console.print("  skipped by the engine: " + ", ".join(f"{r} {n:,}" for r, n in result.skipped.items()))
    console.print(f"  verdicts of this run: {result.statuses.line()} (pass rates count correct, incorrect and no_answer only)")
    if result.bad_gold:
        console.print(f"  bad gold: {result.bad_gold:,} prompts left out (the verifier refused their reference answer)")
    if result.unverified:
        console.print(f"  unverified: {result.unverified:,} prompts left out of this run (none of a round's samples "
                      "could be verified); a rerun samples them again")
    bins = [("0", lambda p: p == 0), ("(0, .25]", lambda p: 0 < p <= 0.25), ("(.25, .5]", lambda p: 0.25 < p <= 0.5),
            ("(.5, .75]", lambda p: 0.5 < p <= 0.75), ("(.75, 1)", lambda p: 0.75 < p < 1), ("1", lambda p: p == 1)]
    sources = sorted({p.source for p in result.prompts})
    table = Table("pass rate", *sources, title="prompts by pass rate", title_justify="left")
    for label, test in bins:
        table.add_row(label, *(f"{sum(1 for p in result.prompts if p.source == s and test(p.pass_rate)):,}" for s in sources))
    console.print(table)
    examples = Table("uid", "n", "correct", "pass@1", "pass@4", "posterior 90%", "p(1-p)", title="examples", title_justify="left")
    ranked = sorted(result.prompts, key=lambda p: p.posterior_mean)
    for p in ranked[:: max(1, len(ranked) // 5)][:5]:  # five prompts from hardest to easiest
        lo, hi = p.interval90
        examples.add_row(p.uid[:12], str(p.n), str(p.n_correct), f"{p.pass_at[1]:.2f}",
                         f"{p.pass_at[4]:.2f}" if 4 in p.pass_at else "-", f"{p.posterior_mean:.2f} [{lo:.2f}, {hi:.2f}]",
                         f"{p.learnability:.3f}")
    console.print(examples)


@app.command("curate")
def curate_cmd(
    config: Optional[Path] = typer.Option(None, "--config", help="A curate.toml (see --example-config)."),
    example_config: bool = typer.Option(False, "--example-config", help="Print a commented config for the built-in corpus and exit."),
    runner: str = typer.Option("local", "--runner", help=RUNNER_HELP),
    cluster: Optional[str] = typer.Option(None, "--cluster", help=CLUSTER_HELP),
) -> None:
    """Ingest, dedup, decontaminate, check golds, score difficulty, filter, plan and export, in one run.

    A run killed part-way is continued by the next run of the same config."""
    from assay.pipelines.steps import curate

    if example_config:
        print(curate.EXAMPLE_CONFIG, end="")
        return
    if config is None:
        raise AssayError("--config is required (or --example-config to print one)")
    settings = curate.load_config(config)
    from assay.pipelines.steps import preflight

    preflight.check_model_and_engine(settings.difficulty.model, settings.difficulty.engine, "difficulty")
    runner_config = _runner_config(runner, cluster)
    path = _catalog_path()
    flows, task_runner = _flows(path, runner_config)
    with flows.reporting(progress=_curate_progress, on_step=_print_step):
        result = flows.run_flow(flows.curate_flow, task_runner, {"catalog": str(path), "config": settings, "runner": runner_config})
    _print_funnel(result)


@app.command("recurring")
def recurring_cmd(
    config: Path = typer.Option(..., "--config", help="The curate.toml; its [[sources]] are ingested again (only new rows are added)."),
    shards: Path = typer.Option(Path("shards"), "--shards", help="Exports to the next version folder under it: v0001, v0002, ..."),
    model: Optional[str] = typer.Option(None, "--model", help="Re-estimate difficulty with this checkpoint. Default: the config's model."),
    checkpoints: Optional[Path] = typer.Option(None, "--checkpoints", help="Re-estimate difficulty with the newest checkpoint folder under this folder."),
    runner: str = typer.Option("local", "--runner", help=RUNNER_HELP),
    cluster: Optional[str] = typer.Option(None, "--cluster", help=CLUSTER_HELP),
) -> None:
    """One recurring curation run (what `assay serve` schedules, or cron runs via --print-cron)."""
    if model and checkpoints:
        raise AssayError("give --model or --checkpoints, not both")
    runner_config = _runner_config(runner, cluster)
    path = _catalog_path()
    flows, _ = _flows(path, runner_config)
    with flows.reporting(progress=_curate_progress, on_step=_print_step):
        result = flows.recurring_flow(str(path), str(config), str(shards), model, str(checkpoints) if checkpoints else None,
                                      runner, cluster)
    _print_funnel(result)


@contextmanager
def _curate_progress(label: str, total: Optional[int], unit: str) -> Iterator:
    if total is None:
        with console.status(label):
            yield lambda n: None
        return
    with _progress(label, total, "bytes" if unit == "bytes" else "rows") as progress:
        task = progress.task_ids[0]
        yield lambda n: progress.advance(task, n)
        progress.update(task, completed=progress.tasks[0].completed)


def _print_step(step) -> None:
    reasons = ", ".join(f"{r} {n:,}" for r, n in step.dropped.items())
    console.print(f"[bold]{step.step}[/]: {step.rows_in:,} -> {step.rows_out:,}" + (f"  ({reasons})" if reasons else ""))
    for warning in step.detail.get("warnings", []):
        console.print(f"  warning: {warning}", markup=False, highlight=False)


def _print_funnel(result) -> None:
    table = Table("step", "rows in", "rows out", "dropped", "why", title=f"curate {result.run_id}", title_justify="left")
    for s in result.steps:
        dropped = s.rows_in - s.rows_out if s.step not in ("curriculum", "export") else 0
        table.add_row(s.step, f"{s.rows_in:,}", f"{s.rows_out:,}", f"{dropped:,}" if dropped else "",
                      ", ".join(f"{r} {n:,}" for r, n in s.dropped.items()))
    console.print(table)
    console.print(f"plan: {result.plan_path}")
    console.print(f"report: {result.report}")
    console.print(f"shards: {result.out} (check with `assay export --verify-manifest {result.out}`)")


SYSTEM_PROMPT_HELP = "A system turn before every prompt."
INSTRUCTION_HELP = "Text added to every prompt's user turn, e.g. 'Put the final answer in \\boxed{}.'"
POSITION_HELP = "Where --instruction goes in the user turn: append (after the prompt) or prepend."


def _template(system_prompt: Optional[str], instruction: Optional[str], position: str):
    from assay.trainers.prompts import PromptTemplate, TemplateError

    try:
        return PromptTemplate(system_prompt, instruction, position)
    except TemplateError as exc:
        raise AssayError(str(exc)) from None


@app.command("export")
def export_cmd(
    plan: Optional[Path] = typer.Option(None, "--plan", help="A curriculum plan (.parquet, written by `assay curate`)."),
    format: str = typer.Option("parquet", "--format", help="parquet, jsonl, hf, verl, trl or openrlhf."),
    out: Optional[Path] = typer.Option(None, "--out", help="A new folder for the shards and manifest.json."),
    verify_manifest: Optional[Path] = typer.Option(None, "--verify-manifest", help="An export folder: recompute its hashes and report mismatches."),
    system_prompt: Optional[str] = typer.Option(None, "--system-prompt", help=SYSTEM_PROMPT_HELP),
    instruction: Optional[str] = typer.Option(None, "--instruction", help=INSTRUCTION_HELP),
    instruction_position: str = typer.Option("append", "--instruction-position", help=POSITION_HELP),
    data_source: Optional[str] = typer.Option(None, "--data-source", help="verl's data_source and OpenRLHF's datasource for every row. Default: the row's source."),
) -> None:
    """Write a plan's shards with a manifest, or check an export against its manifest."""
    from assay.curricula.plan import Plan
    from assay.pipelines.steps import export

    if verify_manifest is not None:
        manifest = export.read_manifest(verify_manifest)
        problems = export.verify_manifest(verify_manifest)
        for p in problems:
            console.print(f"  [red]{p.problem}[/]  {p.path}")
        console.print(f"{verify_manifest}: {manifest.rows:,} rows in {len(manifest.files)} files, "
                      + ("all hashes match" if not problems else f"{len(problems)} mismatch(es)"))
        if problems:
            raise typer.Exit(1)
        return
    if plan is None or out is None:
        raise AssayError("--plan and --out are required (or --verify-manifest DIR)")
    try:
        loaded = Plan.read(plan)
    except (OSError, ValueError) as exc:
        raise AssayError(f"--plan {plan}: {exc}") from None
    layout = export.Layout(_template(system_prompt, instruction, instruction_position), data_source)
    with Catalog.open(_catalog_path(), read_only=True) as cat:
        manifest = export.export_plan(cat, loaded, format, out, layout=layout)
    console.print(f"[bold]{out}[/]: {manifest.rows:,} rows in {len(manifest.files)} files ({format}), "
                  f"content {manifest.content_sha256[:16]}")


@app.command("audit-model")
def audit_model_cmd(
    benchmark: list[str] = typer.Option(..., "--benchmark", help="A registered benchmark (repeatable); see `assay bench list`."),
    model: str = typer.Option("toy", "--model", help="A local checkpoint folder, or the built-in toy policy."),
    k: int = typer.Option(8, "--k", help="Samples per item for the diversity probe."),
    max_tokens: int = typer.Option(256, "--max-tokens", help="Length of each diversity-probe sample."),
    max_items: Optional[int] = typer.Option(None, "--max-items", help="Audit only the first N items of each benchmark."),
    seed: int = typer.Option(0, "--seed", help="Seed of the control variants and the sampling."),
    dataset: bool = typer.Option(False, "--dataset", help="Also check the catalog's records against the benchmarks "
                                 "(`assay decontaminate`'s defaults; findings replace earlier ones): one Prefect flow, one report."),
    report: Optional[Path] = typer.Option(None, "--report", help="Report prefix (writes PREFIX.html, PREFIX.json and PREFIX-items.json). "
                                          "Default: reports/<run id> beside the catalog."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Run the checkpoint's own Python code. Only for code you have read."),
    engine: str = typer.Option("auto", "--engine", help=ENGINE_HELP),
) -> None:
    """Probe a model for memorized benchmark items: partial-prompt completion and output diversity."""
    from assay.pipelines.steps import audit
    from assay.pipelines.store.catalog import new_run_id

    config = audit.AuditConfig(model=model, benchmarks=tuple(benchmark), k=k, max_tokens=max_tokens, max_items=max_items, seed=seed,
                               trust_remote_code=trust_remote_code, engine=_say_engine(engine))
    path = _catalog_path()
    if dataset:
        flows, task_runner = _flows(path, _runner_config("local", None))
        parameters = {"catalog": str(path), "config": config, "settings": decon.Settings(), "report": str(report) if report else None}
        # One count for both parts: catalog rows checked, then items and controls probed.
        with _progress(f"audit {model}", None, "rows") as progress, flows.reporting(advance=lambda n: progress.advance(progress.task_ids[0], n)):
            both = flows.run_flow(flows.audit_flow, task_runner, parameters)
        _print_decontamination(both.dataset.summary, both.dataset.findings, both.dataset.json_path, both.dataset.html_path)
        _print_memorization(both.model)
        console.print(f"report: {both.report}")
        return
    with Catalog.open(path, read_only=True) as cat:
        with _progress(f"audit {model}", None, "rows") as progress:
            task = progress.task_ids[0]
            result = audit.audit_model(cat, config, progress=lambda n: progress.advance(task, n))
    _print_memorization(result)
    run_id = new_run_id("audit")
    console.print(f"report: {audit.write_audit(result, config, run_id, report or path.parent / 'reports' / run_id)}")


def _print_memorization(result) -> None:
    table = Table("benchmark", "items", "completion ROUGE-L", "exact", "answer", "diversity", "items > control",
                  title="memorization audit (item / clean control)", title_justify="left")
    for name, b in result.by_benchmark().items():
        table.add_row(name, str(int(b["items"])),
                      f"{b['completion_rouge']:.3f} / {b['control_completion_rouge']:.3f}",
                      f"{b['exact_rate']:.2f} / {b['control_exact_rate']:.2f}",
                      "skipped: no answers" if b["answer_rate"] is None else f"{b['answer_rate']:.2f} / {b['control_answer_rate']:.2f}",
                      f"{b['diversity']:.3f} / {b['control_diversity']:.3f}",
                      f"{b['items_above_control']:.0%}")
    console.print(table)


@app.command("serve")
def serve_cmd(
    config: Path = typer.Option(..., "--config", help="The curate.toml of every recurring run; its [[sources]] are re-ingested each time."),
    shards: Path = typer.Option(Path("shards"), "--shards", help="Each run exports to the next version folder under it: v0001, v0002, ..."),
    model: Optional[str] = typer.Option(None, "--model", help="Re-estimate difficulty with this checkpoint. Default: the config's model."),
    checkpoints: Optional[Path] = typer.Option(None, "--checkpoints", help="Re-estimate difficulty with the newest checkpoint folder under this folder."),
    cron: Optional[str] = typer.Option(None, "--cron", help="Schedule as a crontab expression, e.g. '0 3 * * *' (03:00 daily)."),
    interval: Optional[float] = typer.Option(None, "--interval", help="Schedule every N seconds (instead of --cron)."),
    api_url: Optional[str] = typer.Option(None, "--api-url", help="A running Prefect server's API (http://HOST:PORT/api) to use instead of starting one."),
    port: int = typer.Option(4200, "--port", help="Port of the Prefect server started on 127.0.0.1."),
    print_cron: bool = typer.Option(False, "--print-cron", help="Print an OS crontab line running `assay recurring` on --cron, and exit."),
    runner: str = typer.Option("local", "--runner", help=RUNNER_HELP),
    cluster: Optional[str] = typer.Option(None, "--cluster", help=CLUSTER_HELP),
) -> None:
    """Run curation on a schedule: a Prefect server (its UI is the dashboard) and the recurring flow, until Ctrl-C."""
    from assay.pipelines.cli import interrupt
    from assay.pipelines.flows import prefect_env, serve

    interrupt.restore_ctrl_c()  # serve stops its server and deployment itself on Ctrl-C
    if model and checkpoints:
        raise AssayError("give --model or --checkpoints, not both")
    if (cron is None) == (interval is None) and not print_cron:
        raise AssayError("give a schedule: --cron EXPR or --interval SECONDS")
    if interval is not None and interval <= 0:
        raise AssayError(f"--interval must be a positive number of seconds, got {interval}")
    if not config.is_file():
        raise AssayError(f"--config {config}: no such file")
    _runner_config(runner, cluster)
    path = _catalog_path().absolute()
    parameters = {"catalog": str(path), "config": str(config.absolute()), "shards": str(shards.absolute()), "model": model,
                  "checkpoints": str(checkpoints.absolute()) if checkpoints else None, "runner": runner, "cluster": cluster}
    if print_cron:
        if cron is None:
            raise AssayError("--print-cron needs --cron (crontab schedules have minute resolution)")
        options = [f"--{key}={value}" for key, value in parameters.items() if key != "catalog" and value is not None]
        argv = [sys.executable, "-m", "assay.pipelines.cli.main", f"--catalog={path}", "recurring", *options]
        print(serve.crontab_line(cron, argv, Path.cwd(), prefect_env.data_folder(path) / "recurring.log"))
        return
    env = prefect_env.configure(path)
    with ExitStack() as stack:
        with console.status(f"starting a Prefect server on 127.0.0.1:{port}" if not api_url else f"connecting to {api_url}"):
            url = stack.enter_context(serve.prefect_api(env.home, api_url, port))
            from assay.pipelines.flows import flows
        console.print(f"dashboard (Prefect UI): {url.removesuffix('/api')}\nrecurring curation of {path} "
                      + (f"every {interval:g} s" if interval else f"on '{cron}'") + "; Ctrl-C stops it")
        flows.serve_recurring(serve.deployment_name(path), parameters, cron, interval)
    console.print("stopped")


def _drop_frames(exc: BaseException | None) -> None:
    """Let go of the frames an error kept alive: raised inside a flow, they hold the catalog's
    connection until the interpreter exits, where DuckDB's bindings then print them as leaks."""
    while exc is not None:
        exc.__traceback__ = None
        exc = exc.__context__ or exc.__cause__
    gc.collect()


@app.command("train")
@settings.with_flags(TrainRunConfig)
def train_cmd(
    config_file: Optional[Path] = typer.Option(None, "--config", help="A train.toml (see --example-config); flags given here win over it."),
    example_config: bool = typer.Option(False, "--example-config", help="Print a commented train config with every setting and exit."),
    flags: dict = None,
) -> None:
    """GRPO on shards with an online sampler; online difficulty goes back into the catalog.

    Every setting is a flag or a key of --config (`assay train --example-config`).
    Multi-GPU: torchrun --nproc-per-node G -m assay.pipelines.cli.main train ... (FSDP; rank 0 writes)."""
    import os

    from assay.pipelines.steps import preflight
    from assay.pipelines.config.train_settings import TRAIN_EXAMPLE_CONFIG, train_config

    if example_config:
        print(TRAIN_EXAMPLE_CONFIG, end="")
        return
    raw = settings.overlay(settings.read_toml(config_file) if config_file is not None else {}, flags)
    preflight.check_verifier(raw.get("verifier"), "--verifier" if flags.get("verifier") else f"{config_file}: verifier")
    preflight.shard_folder(Path(raw.get("shards", ".")))
    preflight.check_model_and_engine(raw.get("model", "toy"), raw.get("engine", "auto"))  # before torch and the catalog
    config = train_config(raw, str(config_file) if config_file else "train")
    from assay.pipelines.steps import train as training

    config = replace(config, engine=_say_engine(config.engine))
    if int(os.environ.get("RANK", "0")) != 0:  # torchrun: one catalog writer
        training.run_training(None, config)
        return
    with Catalog.open(_catalog_path()) as cat:
        result = _run_train(config.steps, lambda on_metrics: training.run_training(cat, config, on_metrics=on_metrics))
    _print_train(result)


def _run_train(steps: int, run):
    """`run(on_metrics)` with a progress bar over `steps` and each evaluation printed as it comes."""

    def show(m: dict) -> None:
        if "eval/pass_at_1" in m:
            progress.console.print(f"step {m['step']:>4}: held-out pass@1 {m['eval/pass_at_1']:.3f}, pass@{m['eval/k']} {m['eval/pass_at_k']:.3f}")
        else:
            progress.update(task, completed=m["step"], description=f"train (reward {m['reward']:.2f}, zero-var {m['zero_variance_groups']:.0%})")

    with _progress("train", steps, "rows") as progress:
        task = progress.task_ids[0]
        return run(show)


def _print_train(result) -> None:
    if result.prompt_format == "plain":
        console.print("prompt format: plain text (the model's tokenizer has no chat template)")
    table = Table("step", "pass@1", "pass@k", "prompts", "timeout/error (not scored)", title="held-out evaluation", title_justify="left")
    for e in result.evals:
        table.add_row(str(e.step), f"{e.pass_at_1:.3f}", f"{e.pass_at_k:.3f} (k={e.k})", str(e.prompts), str(e.errors))
    console.print(table)
    if result.eval_overlap_removed:
        console.print(f"  {result.eval_overlap_removed} held-out prompts left out: they are also training prompts")
    console.print(
        f"[bold]{result.model_id}[/]: {len(result.history)} steps on {result.prompts:,} prompts; "
        f"zero-variance groups {result.zero_variance:.0%} per step on average"
    )
    console.print(f"verdicts: {result.statuses.line()} (timeout, error and bad_gold rollouts masked out, never scored)")
    console.print(f"online difficulty: {result.observations:,} observations appended to the catalog (run {result.run_id})")
    console.print(f"metrics -> {result.log}" + (f"; tensorboard -> {result.tensorboard}" if result.tensorboard else " (tensorboard not installed)"))
    if result.checkpoint:
        console.print(f"checkpoint -> {result.checkpoint}")
    if result.report:
        console.print(f"report -> {result.report}")


def main() -> None:
    from assay.pipelines.cli import interrupt

    interrupt.install()
    try:
        app()
    except AssayError as exc:
        print(f"assay: error: {exc}", file=sys.stderr)
        for note in getattr(exc, "__notes__", []):
            print(f"assay: {note}", file=sys.stderr)
        _drop_frames(exc)
        sys.exit(2)
    except KeyboardInterrupt:
        print("assay: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
