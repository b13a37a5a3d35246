"""The settings of the commands whose flags are more than one step's config: each a dataclass
made of the steps' own (DifficultyConfig, decontaminate's Settings, AuditConfig, ...) as inline
tables, plus what only the command has (where its report goes, where it runs). The CLI's flags
and their help are generated from these (assay.pipelines.config.settings); `assay ingest` and `assay
bench add` take SourceConfig and BenchmarkConfig themselves, `assay train` TrainRunConfig and
`assay curate` CurateConfig.

Importable without torch or Prefect: a command's flags are checked before either loads.

Example:
    >>> from assay.pipelines.config.settings import build
    >>> command = build(DifficultyCommand, {"k": 4, "temperature": 0.5, "runner": "dask"}, "")
    >>> command.difficulty.model, command.difficulty.k, command.difficulty.sampling.temperature, command.runner.runner
    ('toy', 4, 0.5, 'dask')
"""

from __future__ import annotations

from dataclasses import dataclass, field

from assay.pipelines.steps.audit import AuditConfig
from assay.pipelines.steps.curate import QUICKSTART
from assay.pipelines.steps.decontaminate import Settings
from assay.pipelines.steps.difficulty import VERIFIER_HELP, DifficultyConfig
from assay.pipelines.steps.export import ExportSection, Layout
from assay.pipelines.flows.runners import RunnerConfig
from assay.pipelines.config.settings import table
from assay.trainers.rollout import ENGINE_HELP
from assay.verifiers.code_verifier import SANDBOX_MODES
from assay.verifiers.names import names_help

RUNNER = "Where the flow's tasks run (assay.pipelines.flows.runners)."


@dataclass(frozen=True)
class DifficultyCommand:
    """`assay difficulty`."""

    difficulty: DifficultyConfig = table(DifficultyConfig, "What is sampled and how it is judged.", inline=True,
                                         defaults={"model": "toy"}, flags={"verifier_timeout_s": ("--verifier-timeout",)})
    runner: RunnerConfig = table(RunnerConfig, RUNNER, inline=True)
    report: str | None = field(default=None, metadata={"help": "Write one JSON line of difficulty per prompt here."})


@dataclass(frozen=True)
class DecontaminateCommand:
    """`assay decontaminate`."""

    benchmark: tuple[str, ...] = field(metadata={"help": "A registered benchmark (repeat for several)."})
    input: str | None = field(default=None, metadata={
        "help": "A .jsonl/.parquet/.json/.csv file to check; unset: the catalog's records."})
    output: str | None = field(default=None, metadata={
        "help": "JSON Lines result, one line per input row (with --input)."})
    settings: Settings = table(Settings, "How rows match.", inline=True,
                               flags={"n": ("--ngram",), "semantic_model": ("--semantic",)})
    prompt_col: str | None = field(default=None, metadata={
        "help": "Input column holding the prompt; unset: prompt, problem or question."})
    report: str | None = field(default=None, metadata={"help": "Report path prefix (writes PREFIX.json and PREFIX.html)."})


@dataclass(frozen=True)
class VerifyCommand:
    """`assay verify`."""

    input: str | None = field(default=None, metadata={
        "help": "JSONL lines {response, gold, verifier?, options?}; other keys pass through."})
    output: str | None = field(default=None, metadata={
        "help": "Where the same lines go, in order, with status and score added."})
    audit: str | None = field(default=None, metadata={
        "help": "JSONL lines that also hold an 'expected' boolean: print agreement and a gold round trip."})
    workers: int | None = field(default=None, metadata={"help": "Worker processes; unset: one per CPU."})
    timeout: float = field(default=2.0, metadata={
        "help": "CPU seconds one item may use in its worker before it is killed and retried once (code items: their "
                "sandbox's own limits); a busy machine does not count against it."})
    sandbox: str | None = field(default=None, metadata={
        "help": f"Code sandbox mode: {names_help(SANDBOX_MODES)}. strict (default, or ASSAY_SANDBOX) refuses code "
                "verification where an isolation layer is missing; weak runs with what the host gives and says so in "
                "every reason."})
    sandbox_check: bool = field(default=False, metadata={
        "help": "Print which isolation layers this host gives the code sandbox and what each protects."})
    verifier: str | None = field(default=None, metadata={"help": VERIFIER_HELP})


@dataclass(frozen=True)
class ExportCommand:
    """`assay export`."""

    plan: str | None = field(default=None, metadata={"help": "A curriculum plan (.parquet, written by `assay curate`)."})
    shards: ExportSection = table(ExportSection, "Where and how.", inline=True)
    verify_manifest: str | None = field(default=None, metadata={
        "help": "An export folder: recompute its hashes and report mismatches."})
    layout: Layout = table(Layout, "The rows' prompt template and data source.", inline=True)


@dataclass(frozen=True)
class AuditCommand:
    """`assay audit-model`."""

    audit: AuditConfig = table(AuditConfig, "The probes.", inline=True, defaults={"model": "toy"},
                               flags={"benchmarks": ("--benchmark",)})
    dataset: bool = field(default=False, metadata={
        "help": "Also check the catalog's records against the benchmarks (`assay decontaminate`'s defaults; findings "
                "replace earlier ones): one Prefect flow, one report."})
    report: str | None = field(default=None, metadata={
        "help": "Report prefix (writes PREFIX.html, PREFIX.json and PREFIX-items.json); unset: reports/<run id> beside "
                "the catalog."})


@dataclass(frozen=True)
class RecurringCommand:
    """`assay recurring`: one recurring curation run."""

    config: str = field(metadata={
        "help": "The curate.toml of every recurring run; its [[sources]] are ingested again (only new rows are added)."})
    shards: str = field(default="shards", metadata={
        "help": "Each run exports to the next version folder under it: v0001, v0002, ..."})
    model: str | None = field(default=None, metadata={
        "help": "Re-estimate difficulty with this checkpoint; unset: the config's model."})
    checkpoints: str | None = field(default=None, metadata={
        "help": "Re-estimate difficulty with the newest checkpoint folder under this folder."})
    runner: RunnerConfig = table(RunnerConfig, RUNNER, inline=True)


@dataclass(frozen=True)
class ServeCommand:
    """`assay serve`: recurring runs on a schedule."""

    recurring: RecurringCommand = table(RecurringCommand, "Each scheduled run.", inline=True)
    cron: str | None = field(default=None, metadata={"help": "Schedule as a crontab expression, e.g. '0 3 * * *' (03:00 daily)."})
    interval: float | None = field(default=None, metadata={"help": "Schedule every N seconds (instead of --cron)."})
    api_url: str | None = field(default=None, metadata={
        "help": "A running Prefect server's API (http://HOST:PORT/api) to use instead of starting one."})
    port: int = field(default=4200, metadata={"help": "Port of the Prefect server started on 127.0.0.1."})
    print_cron: bool = field(default=False, metadata={
        "help": "Print an OS crontab line running `assay recurring` on --cron, and exit."})


@dataclass(frozen=True)
class QuickstartCommand:
    """`assay quickstart`: curate.QUICKSTART, then a short training run."""

    count: int = field(default=QUICKSTART.sources[0].count, metadata={
        "help": "Problems drawn from the built-in arithmetic corpus."})
    engine: str = field(default="auto", metadata={"help": ENGINE_HELP})


@dataclass(frozen=True)
class Shown:
    """How an inspection command prints."""

    json: bool = field(default=False, metadata={"help": "Print JSON instead of tables."})


@dataclass(frozen=True)
class QueryCommand:
    """`assay catalog query`."""

    sql: str = field(metadata={"help": "SQL over the catalog's tables (README: Catalog tables), e.g. "
                                       "\"SELECT source, count(*) FROM records GROUP BY ALL\".", "argument": True})
    shown: Shown = table(Shown, "How it prints.", inline=True)


@dataclass(frozen=True)
class QuarantineCommand:
    """`assay catalog quarantine`."""

    source: str | None = field(default=None, metadata={"help": "Only this source's rows."})
    reason: str | None = field(default=None, metadata={
        "help": "Only rows quarantined for this reason (see `assay catalog stats`)."})
    limit: int = field(default=50, metadata={"help": "Most rows shown, newest first."})
    shown: Shown = table(Shown, "How it prints.", inline=True)


@dataclass(frozen=True)
class RunsCommand:
    """`assay catalog runs` (and `assay runs`)."""

    kind: str | None = field(default=None, metadata={
        "help": "Only runs of this command: ingest, curate, difficulty, train, ..."})
    status: str | None = field(default=None, metadata={
        "help": "Only runs with this status: running, ok, failed, interrupted."})
    limit: int = field(default=20, metadata={"help": "Most runs shown, newest first."})
    shown: Shown = table(Shown, "How it prints.", inline=True)
