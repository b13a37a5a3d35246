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
from assay.pipelines.errors import AssayError, chosen
from assay.pipelines.steps.benchmarks import BenchmarkConfig
from assay.pipelines.cli.commands import (
    AuditCommand,
    DecontaminateCommand,
    DifficultyCommand,
    ExportCommand,
    QuarantineCommand,
    QueryCommand,
    QuickstartCommand,
    RecurringCommand,
    RunsCommand,
    ServeCommand,
    Shown,
    VerifyCommand,
)
from assay.pipelines.steps.curate import CurateConfig
from assay.pipelines.steps.ingest import IngestReport, SourceConfig, ingest
from assay.pipelines.flows.runners import RunnerConfig
from assay.pipelines.config.train_settings import TrainRunConfig

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
@settings.with_flags(SourceConfig, required=True)
def ingest_cmd(flags: dict = None) -> None:
    """Ingest a corpus into the catalog; bad rows go to quarantine with a reason."""
    source = settings.build(SourceConfig, flags, "")
    resolved, name, mapping = source.resolve()
    with Catalog.open(_catalog_path()) as cat:
        report = _run_ingest(cat, resolved, mapping, name, {"spec": source.spec, "preset": source.preset})
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


def _print_json(value) -> None:
    print(json.dumps(value, indent=1, default=str, ensure_ascii=False))


@catalog_app.command("stats")
@settings.with_flags(Shown, required=True)
def stats_cmd(flags: dict = None) -> None:
    """Rows per source and split, quarantine reasons, and the size of each table."""
    from dataclasses import asdict

    as_json = settings.build(Shown, flags, "").json
    with Catalog.open(_catalog_path(), read_only=True) as cat:
        stats = cat.stats()
    _print_json(asdict(stats)) if as_json else _print_stats(stats)


@catalog_app.command("query")
@settings.with_flags(QueryCommand, required=True)
def query_cmd(flags: dict = None) -> None:
    """Read-only SQL: the catalog is opened read-only, with no access to other files."""
    from assay.pipelines.store.catalog import query_catalog

    command = settings.build(QueryCommand, flags, "")
    sql, as_json = command.sql, command.shown.json
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
@settings.with_flags(QuarantineCommand, required=True)
def quarantine_cmd(flags: dict = None) -> None:
    """Rows ingestion could not use: where each came from, why, and an excerpt."""
    from assay.pipelines.store.catalog import list_quarantine

    command = settings.build(QuarantineCommand, flags, "")
    source, reason, limit, as_json = command.source, command.reason, command.limit, command.shown.json
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
@settings.with_flags(RunsCommand, required=True)
def runs_cmd(flags: dict = None) -> None:
    """Runs, newest first: status (a run whose process is gone reads as interrupted), times, who ran it."""
    from dataclasses import asdict

    from assay.pipelines.store.catalog import list_runs

    command = settings.build(RunsCommand, flags, "")
    kind, status, limit, as_json = command.kind, command.status, command.limit, command.shown.json
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
@settings.with_flags(BenchmarkConfig, required=True)
def bench_add_cmd(flags: dict = None) -> None:
    """Register (or update) an evaluation set; stored in the catalog with a content hash."""
    benchmark = settings.build(BenchmarkConfig, flags, "")
    resolved, label, mapping = benchmark.resolve()
    with Catalog.open(_catalog_path()) as cat:
        _bench_add(cat, benchmark.name, benchmark.spec, resolved, label, mapping)


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
@settings.with_flags(DecontaminateCommand, required=True)
def decontaminate_cmd(flags: dict = None) -> None:
    """Check prompts against registered benchmarks; write findings and an HTML + JSON report."""
    command = settings.build(DecontaminateCommand, flags, "")
    if (command.input is None) != (command.output is None):
        raise AssayError("--input and --output go together (without both, the catalog's records are checked)")
    input, output = (Path(command.input), Path(command.output)) if command.input else (None, None)
    match = command.settings
    if input is not None:
        decon.check_input_suffix(input)
    path = _catalog_path()
    with Catalog.open(path, read_only=input is not None) as cat:
        problems = bench.load_problems(cat, command.benchmark)
        hashes = {b.name: b.content_hash for b in bench.list_benchmarks(cat)}
        with console.status("indexing benchmarks" + (" and embedding them" if match.semantic_model else "")):
            matchers = decon.build_matchers(problems, match, bench.default_masked(cat))
        if input is not None:
            rep = decon.new_report("file", str(input), problems, hashes, match)
            rep.output = str(output)
            source_total = max(sum(f.stat().st_size for f in ([input] if input.is_file() else input.rglob("*")) if f.is_file()), 1) if input.exists() else 1
            with _progress("decontaminate", source_total, "bytes") as progress:
                task = progress.task_ids[0]
                decon.decontaminate_file(input, output, matchers, rep, command.prompt_col, lambda n: progress.advance(task, n))
                progress.update(task, completed=source_total)
            written = None
        else:
            rep, written = _decontaminate_catalog(cat, problems, hashes, matchers, match)
        summary = rep.to_json(problems)
    report = Path(command.report) if command.report else decon.default_report_prefix(output, path, rep.run_id)
    json_path, html_path = decon.write_report(summary, report)
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
    from assay.trainers.rollout import ENGINE_CHOICES, EngineError, choose_engine

    chosen(ENGINE_CHOICES, kind, "engine", "--engine:")
    try:
        choice = choose_engine(kind)
    except EngineError as exc:
        raise AssayError(str(exc)) from None
    console.print(f"engine: {choice.kind} ({choice.why})")
    return choice.kind


@app.command("quickstart")
@settings.with_flags(QuickstartCommand, required=True)
def quickstart_cmd(flags: dict = None) -> None:
    """Run the whole loop on the built-in corpus and toy model, with no network and no server."""
    from assay.pipelines.steps import curate
    from assay.pipelines.store.catalog import new_run_id

    command = settings.build(QuickstartCommand, flags, "")
    path = _catalog_path()
    # The example config is the quickstart's: the built-in corpus and evaluation set, the toy policy.
    out = path.parent / "shards" / new_run_id("quickstart")
    example = curate.QUICKSTART
    config = replace(example, sources=[replace(s, count=command.count) if s.count is not None else s for s in example.sources],
                     export=replace(example.export, out=str(out)),
                     difficulty=replace(example.difficulty, engine=_say_engine(command.engine)))
    console.print(f"[bold]assay quickstart[/]: catalog {path}")
    # The same Prefect flows as `assay curate`, embedded: no server to start.
    runner_config = RunnerConfig()
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
@settings.with_flags(VerifyCommand, required=True)
def verify_cmd(flags: dict = None) -> None:
    """Verify responses against gold answers; exit 0 even when some are incorrect."""
    from assay.pipelines.steps import preflight, verify_io

    command = settings.build(VerifyCommand, flags, "")
    preflight.check_verifier(command.verifier)
    if command.sandbox_check:
        _print_sandbox_check()
        return
    workers, timeout, sandbox, verifier = command.workers, command.timeout, command.sandbox, command.verifier
    if command.audit is not None:
        if command.input or command.output:
            raise AssayError("--audit reads its own file; drop --input/--output or --audit")
        _print_audit(verify_io.audit_file(Path(command.audit), workers, timeout, sandbox, verifier))
        return
    if command.input is None or command.output is None:
        raise AssayError("give --input and --output, or --audit")
    input_path, output_path = Path(command.input), Path(command.output)
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
@settings.with_flags(DifficultyCommand, required=True)
def difficulty_cmd(flags: dict = None) -> None:
    """Estimate each prompt's difficulty with pass@k sampling; observations append to the catalog."""
    from assay.pipelines.steps import preflight

    command = settings.build(DifficultyCommand, flags, "")
    preflight.check_verifier(command.difficulty.verifier)
    preflight.check_model_and_engine(command.difficulty.model, command.difficulty.engine)  # before torch, Prefect or the catalog
    from assay.pipelines.steps import difficulty

    config = replace(command.difficulty, engine=_say_engine(command.difficulty.engine))  # once every setting is known to be valid
    path = _catalog_path()
    with Catalog.open(path) as cat:
        prompts = _count_prompts(cat, config.source)
        if prompts == 0:
            difficulty.select_prompts(cat, config.source)  # says which sources there are
    flows, task_runner = _flows(path, command.runner)
    with _sampling_bar(config, prompts) as advance, flows.reporting(advance=advance):
        result = flows.run_flow(flows.difficulty_flow, task_runner, {"catalog": str(path), "config": config, "runner": command.runner})
    _print_difficulty(result)
    if command.report:
        difficulty.write_report(result, Path(command.report))
        console.print(f"per-prompt difficulty -> {command.report}")


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
@settings.with_flags(CurateConfig)
@settings.with_flags(RunnerConfig, into="runner_flags")
def curate_cmd(
    config_file: Optional[Path] = typer.Option(None, "--config", help="A curate.toml (see --example-config); flags given here win over it."),
    example_config: bool = typer.Option(False, "--example-config", help="Print a commented config for the built-in corpus and exit."),
    flags: dict = None,
    runner_flags: dict = None,
) -> None:
    """Ingest, dedup, decontaminate, check golds, score difficulty, filter, plan and export, in one run.

    The config's steps array lists the steps in order (`assay curate --example-config`); every
    other setting is also a flag. A run killed part-way is continued by the next run of the same config."""
    from assay.pipelines.steps import curate

    if example_config:
        print(curate.EXAMPLE_CONFIG, end="")
        return
    if config_file is None:
        raise AssayError("--config is required (or --example-config to print one)")
    config = curate.config_from(settings.overlay(settings.read_toml(config_file), flags), str(config_file))
    runner = settings.build(RunnerConfig, runner_flags, "")
    from assay.pipelines.steps import preflight

    preflight.check_model_and_engine(config.difficulty.model, config.difficulty.engine, "difficulty")
    path = _catalog_path()
    flows, task_runner = _flows(path, runner)
    with flows.reporting(progress=_curate_progress, on_step=_print_step):
        result = flows.run_flow(flows.curate_flow, task_runner, {"catalog": str(path), "config": config, "runner": runner})
    _print_funnel(result)


@app.command("recurring")
@settings.with_flags(RecurringCommand, required=True)
def recurring_cmd(flags: dict = None) -> None:
    """One recurring curation run (what `assay serve` schedules, or cron runs via --print-cron)."""
    from assay.pipelines.steps import curate

    command = settings.build(RecurringCommand, flags, "")
    if command.model and command.checkpoints:
        raise AssayError("give --model or --checkpoints, not both")
    curate.load_config(Path(command.config))  # a mistake in it (an unknown step, ...) fails before Prefect starts
    path = _catalog_path()
    flows, _ = _flows(path, command.runner)
    with flows.reporting(progress=_curate_progress, on_step=_print_step):
        result = flows.recurring_flow(str(path), command.config, command.shards, command.model, command.checkpoints,
                                      command.runner.runner, command.runner.cluster)
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


@app.command("export")
@settings.with_flags(ExportCommand, required=True)
def export_cmd(flags: dict = None) -> None:
    """Write a plan's shards with a manifest, or check an export against its manifest."""
    from assay.curricula.plan import Plan
    from assay.pipelines.steps import export

    command = settings.build(ExportCommand, flags, "")
    if command.verify_manifest is not None:
        folder = Path(command.verify_manifest)
        manifest = export.read_manifest(folder)
        problems = export.verify_manifest(folder)
        for p in problems:
            console.print(f"  [red]{p.problem}[/]  {p.path}")
        console.print(f"{folder}: {manifest.rows:,} rows in {len(manifest.files)} files, "
                      + ("all hashes match" if not problems else f"{len(problems)} mismatch(es)"))
        if problems:
            raise typer.Exit(1)
        return
    plan, out, format = command.plan, command.shards.out, command.shards.format
    if plan is None or out is None:
        raise AssayError("--plan and --out are required (or --verify-manifest DIR)")
    try:
        loaded = Plan.read(Path(plan))
    except (OSError, ValueError) as exc:
        raise AssayError(f"--plan {plan}: {exc}") from None
    with Catalog.open(_catalog_path(), read_only=True) as cat:
        manifest = export.export_plan(cat, loaded, format, Path(out), layout=command.layout)
    console.print(f"[bold]{out}[/]: {manifest.rows:,} rows in {len(manifest.files)} files ({format}), "
                  f"content {manifest.content_sha256[:16]}")


@app.command("audit-model")
@settings.with_flags(AuditCommand, required=True)
def audit_model_cmd(flags: dict = None) -> None:
    """Probe a model for memorized benchmark items: partial-prompt completion and output diversity."""
    from assay.pipelines.steps import audit
    from assay.pipelines.store.catalog import new_run_id

    command = settings.build(AuditCommand, flags, "")
    config = replace(command.audit, engine=_say_engine(command.audit.engine))
    model, report = config.model, Path(command.report) if command.report else None
    path = _catalog_path()
    if command.dataset:
        flows, task_runner = _flows(path, RunnerConfig())
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
@settings.with_flags(ServeCommand, required=True)
def serve_cmd(flags: dict = None) -> None:
    """Run curation on a schedule: a Prefect server (its UI is the dashboard) and the recurring flow, until Ctrl-C."""
    from assay.pipelines.cli import interrupt
    from assay.pipelines.flows import prefect_env, serve
    from assay.pipelines.steps import curate

    interrupt.restore_ctrl_c()  # serve stops its server and deployment itself on Ctrl-C
    command = settings.build(ServeCommand, flags, "")
    every, cron, interval = command.recurring, command.cron, command.interval
    if every.model and every.checkpoints:
        raise AssayError("give --model or --checkpoints, not both")
    if (cron is None) == (interval is None) and not command.print_cron:
        raise AssayError("give a schedule: --cron EXPR or --interval SECONDS")
    if interval is not None and interval <= 0:
        raise AssayError(f"--interval must be a positive number of seconds, got {interval}")
    config, shards = Path(every.config), Path(every.shards)
    if not config.is_file():
        raise AssayError(f"--config {config}: no such file")
    curate.load_config(config)  # a mistake in it fails now, not at each scheduled run
    checkpoints, runner, cluster = Path(every.checkpoints) if every.checkpoints else None, every.runner.runner, every.runner.cluster
    model, print_cron, api_url, port = every.model, command.print_cron, command.api_url, command.port
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
