"""`assay curate`: raw sources in, curated shards out, as a list of plain steps.

    ingest → dedup → decontaminate → quality → gold check → difficulty → learnability
           → curriculum → export

Each step is a function `(state, context) -> StepResult` over the rows still in play (an
Arrow table of records): it returns how many rows came in and went out and why the others
were dropped, and records every dropped row with its reason in the catalog's `decisions`
table under the curate run's id. Nothing here prints; `progress` callbacks report long work.
The Prefect flow wraps these same functions; they run (and are tested) without it.

The config is one TOML file (`assay curate --example-config` prints a commented one). Every
section maps onto a typed config: an unknown key is an error naming the section, the key and
the valid keys.

Example:
    >>> config = parse_config(EXAMPLE_CONFIG, "example")
    >>> [s.spec for s in config.sources], config.learnability.method, config.export.format
    (['builtin:arithmetic'], 'posterior_band', 'parquet')
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections import Counter
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.compute as pc

from assay.curricula.difficulty import StatusCounts
from assay.curricula.plan import CurriculumConfig, Plan, build_plan
from assay.filters.registry import FILTERS, make_config
from assay.filters.decision import Decision
from assay.pipelines.steps import benchmarks as bench
from assay.pipelines.steps import decontaminate as decon
from assay.pipelines.store.catalog import Catalog, utc_now
from assay.pipelines.steps.difficulty import (
    MAX_VERIFIER_FAILURES,
    ChunkMap,
    DifficultyConfig,
    EngineSpec,
    estimate_difficulty,
    planned_samples,
)
from assay.pipelines.errors import AssayError
from assay.pipelines.steps.export import FORMATS, Manifest, export_plan
from assay.pipelines.steps.ingest import IngestReport, ingest, resolve_source, verifier_options
from assay.pipelines.steps.presets import resolve_preset
from assay.pipelines.reports.summary import difficulty_histogram, write_report
from assay.pipelines.config.settings import typed_section
from assay.trainers.rollout import EngineError, Prompt, SamplingConfig
from assay.verifiers import DEFAULT_TIMEOUT_S

# A step's long work: progress(label, total, unit) gives a context whose value is advance(n).
ProgressFactory = Callable[[str, "int | None", str], AbstractContextManager[Callable[[int], None]]]


def no_progress(label: str, total: int | None, unit: str) -> AbstractContextManager[Callable[[int], None]]:
    return nullcontext(lambda n: None)


# -- config ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SourceConfig:
    """One corpus, as for `assay ingest SPEC` (same options)."""

    spec: str  # file or folder, Hugging Face dataset id, or builtin:NAME
    name: str | None = None  # source name (part of the uid); default: the file stem / dataset id
    preset: str | None = None
    split: str | None = None
    subset: str | None = None
    prompt_col: str | None = None
    answer_col: str | None = None
    answer_regex: str | None = None
    verifier: str | None = None
    count: int | None = None  # built-in corpora only
    seed: int | None = None  # built-in corpora only


@dataclass(frozen=True)
class BenchmarkConfig:
    """An evaluation set to decontaminate against: registered already, or registered here from `spec`."""

    name: str
    spec: str | None = None  # a source as for `assay bench add`; None: use the registered set
    preset: str | None = None
    prompt_col: str | None = None
    answer_col: str | None = None
    id_col: str | None = None
    date_col: str | None = None
    split: str | None = None
    subset: str | None = None


@dataclass(frozen=True)
class DifficultySection:
    """pass@k estimation (see `assay difficulty`)."""

    model: str = "toy"  # a local checkpoint folder or the built-in toy
    k: int = 16
    policy: str = "adaptive"
    engine: str = "auto"  # auto (vLLM where it runs, else transformers), transformers or vllm
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 1024
    seed: int = 0
    workers: int | None = None
    trust_remote_code: bool = False
    verifier_timeout_s: float = DEFAULT_TIMEOUT_S  # seconds one verification may take before it is a timeout
    max_verifier_failures: float = MAX_VERIFIER_FAILURES  # a chunk with a larger share of timeout/error verdicts stops the run


@dataclass(frozen=True)
class LearnabilitySection:
    method: str = "posterior_band"  # a learnability filter of assay.filters.registry: pass_band, variance, posterior_band
    settings: Any = field(default_factory=dict)  # that filter's config (a TOML table of its fields)


@dataclass(frozen=True)
class ExportSection:
    out: str = "shards"  # a new folder (never overwritten)
    format: str = "parquet"  # a key of assay.pipelines.steps.export.FORMATS


@dataclass(frozen=True)
class CurateConfig:
    sources: list[SourceConfig]
    benchmarks: list[BenchmarkConfig] = field(default_factory=list)
    splits: list[str] = field(default_factory=lambda: ["train"])  # record splits that become training data
    filters: dict[str, Any] = field(default_factory=dict)  # dedup / quality / gold -> that filter's config
    decontaminate: decon.Settings = field(default_factory=decon.Settings)
    difficulty: DifficultySection = field(default_factory=DifficultySection)
    learnability: LearnabilitySection = field(default_factory=LearnabilitySection)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    export: ExportSection = field(default_factory=ExportSection)


# The row filters curate runs, in order, by their assay.filters.registry names.
ROW_FILTERS = ("dedup", "quality", "gold")

EXAMPLE_CONFIG = '''\
# assay curate config: each section is one step; omitted keys take the defaults shown.
splits = ["train"]            # record splits that become training data

[[sources]]                   # repeat for each corpus; keys as for `assay ingest`
spec = "builtin:arithmetic"   # file/folder, Hugging Face dataset id, or builtin:NAME
count = 1000                  # built-in corpora: how many problems
# name = "arithmetic"         # source name (part of each uid); default from the spec
# preset = "gsm8k"            # or prompt_col / answer_col / answer_regex / verifier

[[benchmarks]]                # evaluation sets to decontaminate against (repeat)
name = "arith-eval"
spec = "builtin:arithmetic-eval"   # register from this source; omit for an already registered set

[decontaminate]
n = 8                         # n-gram size in normalised tokens
min_containment = 0.5         # share of a problem's n-grams a prompt must contain

[filters.dedup]               # exact and MinHash near-duplicates; the smallest uid of a cluster is kept
threshold = 0.8               # estimated Jaccard at or above which two prompts are duplicates

[filters.quality]             # length bounds and answer types the verifier can check
min_prompt_chars = 8

[filters.gold]                # the row's verifier must accept its own gold

[difficulty]                  # adaptive pass@k with a rollout model
model = "toy"                 # a local checkpoint folder, or the built-in toy policy
k = 16                        # samples per prompt (adaptive spends about half)
policy = "adaptive"
temperature = 1.0
max_tokens = 256
verifier_timeout_s = 2.0      # a verification still running after this is a timeout: checked again, never scored
max_verifier_failures = 0.05  # a chunk with more timeout/error verdicts than this share stops the run

[learnability]
method = "posterior_band"     # pass_band | variance | posterior_band
settings = { lo = 0.1, hi = 0.9, tau = 0.5 }   # keep when P(lo < p < hi) >= tau

[curriculum]
staging = "easy_to_hard"
stages = 3
target = "gaussian"           # weight rows toward pass rates near target_mean
target_mean = 0.5
mixture = "temperature"       # across sources: w ∝ size^(1/T)
temperature = 1.0
replay_share = 0.1            # weight on easy, solved prompts kept for replay

[export]
out = "shards"                # a new folder
format = "parquet"            # parquet | jsonl | hf | verl | trl
'''


def parse_config(text: str, where: str) -> CurateConfig:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AssayError(f"{where}: not valid TOML ({exc})") from None
    known = {f.name for f in dataclasses.fields(CurateConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise AssayError(f"{where}: unknown section(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
    if not raw.get("sources"):
        raise AssayError(f"{where}: no [[sources]]; name at least one corpus to curate")
    filters = raw.get("filters", {})
    unknown_filters = sorted(set(filters) - set(ROW_FILTERS))
    if unknown_filters:
        raise AssayError(f"[filters] unknown filter(s) {', '.join(unknown_filters)}; curate runs {', '.join(ROW_FILTERS)}")
    difficulty = typed_section(DifficultySection, raw.get("difficulty", {}), "difficulty")
    _difficulty_config(difficulty)  # model, policy and sampling mistakes surface before any work
    export = typed_section(ExportSection, raw.get("export", {}), "export")
    if export.format not in FORMATS:
        raise AssayError(f"[export] format {export.format!r} is unknown; valid: {', '.join(FORMATS)}")
    learn = typed_section(LearnabilitySection, raw.get("learnability", {}), "learnability")
    if learn.method not in LEARNABILITY:
        raise AssayError(f"[learnability] method {learn.method!r} is unknown; valid: {', '.join(LEARNABILITY)}")
    return CurateConfig(
        sources=[typed_section(SourceConfig, s, f"sources.{i}") for i, s in enumerate(raw["sources"])],
        benchmarks=[typed_section(BenchmarkConfig, b, f"benchmarks.{i}") for i, b in enumerate(raw.get("benchmarks", []))],
        splits=list(raw.get("splits", ["train"])),
        filters={name: _filter_config(name, filters.get(name, {}), f"filters.{name}") for name in ROW_FILTERS},
        decontaminate=typed_section(decon.Settings, raw.get("decontaminate", {}), "decontaminate"),
        difficulty=difficulty,
        learnability=dataclasses.replace(
            learn, settings=_filter_config(learn.method, learn.settings, "learnability.settings")),
        curriculum=typed_section(CurriculumConfig, raw.get("curriculum", {}), "curriculum"),
        export=export,
    )


LEARNABILITY = ("pass_band", "variance", "posterior_band")


def _filter_config(name: str, params: Any, section: str) -> Any:
    if not isinstance(params, dict):
        raise AssayError(f"[{section}] must be a table, got {type(params).__name__}")
    try:
        return make_config(name, params)
    except ValueError as exc:
        raise AssayError(f"[{section}] {exc}") from None


def load_config(path: Path) -> CurateConfig:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise AssayError(f"--config {path}: {exc.strerror}") from None
    return parse_config(text, str(path))


# -- steps ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StepResult:
    step: str
    rows_in: int
    rows_out: int
    dropped: dict[str, int]  # reason code -> rows
    detail: dict[str, Any] = field(default_factory=dict)  # what the step did besides filtering


@dataclass
class State:
    """What flows between steps: the rows in play and what the steps derived."""

    rows: pa.Table  # records (RECORD_SCHEMA columns) still in play
    scored: pa.Table | None = None  # uid, source, n, n_correct of every row difficulty was estimated for
    counts: pa.Table | None = None  # the same, for the rows the learnability filter kept
    difficulty: dict[str, Any] | None = None  # model id, sampling hash and config behind `counts`
    replay: pa.Table | None = None  # uid, source, n, n_correct: solved prompts kept for replay
    plan: Plan | None = None


@dataclass(frozen=True)
class Context:
    cat: Catalog
    config: CurateConfig
    run_id: str
    plan_path: Path  # where the plan is written
    progress: ProgressFactory = no_progress
    map_chunks: Callable[[EngineSpec], ChunkMap] | None = None  # where difficulty chunks are sampled; None: here


def _reason_codes(decision: Decision) -> dict[str, int]:
    reasons = decision.reason.filter(pc.invert(decision.keep)).to_pylist()
    return dict(Counter(r.split(":", 1)[0] for r in reasons).most_common())


def _apply(ctx: Context, state: State, name: str, decision: Decision, detail: dict[str, Any] | None = None) -> StepResult:
    """Record the rows `decision` drops and keep the rest in play."""
    ctx.cat.add_decisions(state.rows["uid"].combine_chunks(), name, decision, ctx.run_id)
    rows_in = state.rows.num_rows
    state.rows = state.rows.filter(decision.keep)
    return StepResult(name, rows_in, state.rows.num_rows, _reason_codes(decision), detail or {})


def step_ingest(state: State, ctx: Context) -> StepResult:
    reports: list[IngestReport] = []
    names = []
    for s in ctx.config.sources:
        resolved, default_name, implied = resolve_source(s.spec, s.split, s.subset, s.count, s.seed)
        explicit = s.preset or s.prompt_col or s.answer_col
        mapping = implied if implied and not explicit else resolve_preset(s.preset, s.prompt_col, s.answer_col,
                                                                          s.answer_regex, s.verifier)
        name = s.name or default_name
        with ctx.progress(f"ingest {name}", resolved.total, resolved.unit) as advance:
            reports.append(ingest(ctx.cat, resolved, mapping, name, {"spec": s.spec, "curate_run": ctx.run_id}, advance))
        names.append(name)
    state.rows = ctx.cat.con.sql(
        f"""SELECT uid, source, split, prompt, answer, verifier, domain, meta FROM records
            WHERE source IN ({', '.join('?' for _ in names)}) AND split IN ({', '.join('?' for _ in ctx.config.splits)})
            ORDER BY uid""",
        params=[*names, *ctx.config.splits],
    ).to_arrow_table()
    quarantined: Counter[str] = Counter()
    for r in reports:
        quarantined.update(r.quarantined)
    # Out of this step: the rows read that are records now. In play from here on: every record
    # of these sources and splits, which includes rows an earlier ingest of the same source added.
    stored = sum(r.added + r.already_present for r in reports)
    return StepResult("ingest", stored + sum(quarantined.values()), stored, dict(quarantined.most_common()), {
        "runs": [r.run_id for r in reports], "added": sum(r.added for r in reports), "in_play": state.rows.num_rows,
    })


def _row_filter(name: str) -> Callable[[State, Context], StepResult]:
    def step(state: State, ctx: Context) -> StepResult:
        function, _ = FILTERS[name]
        with ctx.progress(name, None, "rows"):
            decision = function(state.rows, ctx.config.filters[name])
        return _apply(ctx, state, name, decision)

    step.__name__ = f"step_{name}"
    return step


def step_decontaminate(state: State, ctx: Context) -> StepResult:
    config = ctx.config
    for b in config.benchmarks:
        if b.spec is not None:
            label, mapping = bench.resolve_bench_preset(b.name, b.preset, b.prompt_col, b.answer_col, b.id_col, b.date_col, b.spec)
            resolved, _, _ = resolve_source(b.spec, b.split or mapping.hub_split, b.subset)
            bench.add_benchmark(ctx.cat, b.name, b.spec, resolved, label, mapping)
    names = [b.name for b in config.benchmarks]
    if not names:
        return StepResult("contamination", state.rows.num_rows, state.rows.num_rows, {}, {"benchmarks": []})
    total = ctx.cat.con.execute("SELECT count(*) FROM records").fetchone()[0]
    with ctx.progress("decontaminate", total, "rows") as advance:
        check = decon.check_catalog(ctx.cat, names, config.decontaminate, advance)
    decision = decon.contamination_filter(ctx.cat, state.rows)
    return _apply(ctx, state, "contamination", decision, {"benchmarks": names, "report": str(check.html_path),
                                                          "run": check.summary["run_id"]})


def _difficulty_config(section: DifficultySection) -> DifficultyConfig:
    try:
        sampling = SamplingConfig(temperature=section.temperature, top_p=section.top_p,
                                  max_tokens=section.max_tokens, seed=section.seed)
    except EngineError as exc:
        raise AssayError(f"[difficulty] {exc}") from None
    try:
        return DifficultyConfig(model=section.model, k=section.k, policy=section.policy, engine=section.engine,
                                sampling=sampling, workers=section.workers, trust_remote_code=section.trust_remote_code,
                                verifier_timeout_s=section.verifier_timeout_s, max_verifier_failures=section.max_verifier_failures)
    except AssayError as exc:
        raise AssayError(f"[difficulty] {exc}") from None


def step_difficulty(state: State, ctx: Context) -> StepResult:
    config = _difficulty_config(ctx.config.difficulty)
    rows = state.rows.select(["uid", "source", "prompt", "answer", "verifier", "meta"]).to_pylist()
    prompts = [Prompt(r["uid"], r["prompt"], r["answer"], r["verifier"], verifier_options(r["meta"]), r["source"])
               for r in rows]
    with ctx.progress(f"sample {config.model} ({config.policy}, k={config.k})", planned_samples(config, len(prompts)),
                      "samples") as advance:
        result = estimate_difficulty(ctx.cat, config, progress=advance, prompts=prompts, map_chunks=ctx.map_chunks)
    # result.prompts holds the stored counts of every prompt sampled at least once.
    counts = {p.uid: (p.n, p.n_correct) for p in result.prompts}
    uids = state.rows["uid"].to_pylist()
    state.scored = pa.table({"uid": state.rows["uid"], "source": state.rows["source"],
                             "n": [counts.get(u, (0, 0))[0] for u in uids],
                             "n_correct": [counts.get(u, (0, 0))[1] for u in uids]})
    state.difficulty = {"model_id": result.model_id, "sampling_hash": result.sampling_hash,
                        "verifier_version": result.verifier_version, "run_id": result.run_id,
                        "config": asdict(ctx.config.difficulty)}
    skipped = sum(result.skipped.values())
    return StepResult("difficulty", len(prompts), len(prompts), {}, {
        "model": result.model_id, "sampled": result.sampled, "rounds": result.rounds,
        "engine_skipped": skipped, "bad_gold_prompts": result.bad_gold, "unverified_prompts": result.unverified, "statuses": result.statuses.as_dict(),
        "run": result.run_id})


def step_learnability(state: State, ctx: Context) -> StepResult:
    section = ctx.config.learnability
    scored = state.rows.append_column("n", state.scored["n"]).append_column("n_correct", state.scored["n_correct"])
    function, _ = FILTERS[section.method]
    decision = function(scored, section.settings)
    easy = _solved(scored, decision)
    state.replay = easy.select(["uid", "source", "n", "n_correct"])
    state.counts = scored.filter(decision.keep).select(["uid", "source", "n", "n_correct"])
    return _apply(ctx, state, section.method, decision, {"replay_pool": easy.num_rows})


def _solved(scored: pa.Table, decision: Decision) -> pa.Table:
    """Rows the learnability filter dropped as too easy: the replay pool for the curriculum."""
    return scored.filter(pc.fill_null(pc.starts_with(decision.reason, "too_easy:"), False))


def step_curriculum(state: State, ctx: Context) -> StepResult:
    if state.counts.num_rows == 0:
        raise AssayError("no rows left after the learnability filter: nothing to build a curriculum from "
                         "(see the funnel; loosen [learnability] or check [difficulty])")
    curriculum, warnings = replay_share_used(ctx.config.curriculum, state.replay.num_rows)
    try:
        plan = build_plan(state.counts, curriculum, state.replay)
    except ValueError as exc:
        raise AssayError(f"[curriculum] {exc}") from None
    params = {**plan.params, "curate_run": ctx.run_id, "difficulty": state.difficulty,
              "filters": {name: asdict(ctx.config.filters[name]) for name in ROW_FILTERS},
              "learnability": {"method": ctx.config.learnability.method,
                               **asdict(ctx.config.learnability.settings)},
              "decontaminate": {"benchmarks": [b.name for b in ctx.config.benchmarks],
                                **{k: str(v) for k, v in asdict(ctx.config.decontaminate).items()}},
              "sources": [asdict(s) for s in ctx.config.sources], "splits": ctx.config.splits}
    state.plan = Plan(plan.table, params)
    ctx.plan_path.parent.mkdir(parents=True, exist_ok=True)
    state.plan.to_parquet(ctx.plan_path)
    summary = plan.summary()
    return StepResult("curriculum", state.counts.num_rows, state.plan.table.num_rows, {}, {
        "plan": str(ctx.plan_path), "stage_rows": summary.stage_rows, "replay_rows":
        int(pc.sum(plan.table["replay"].cast(pa.int64())).as_py() or 0), "replay_share": curriculum.replay_share,
        **({"warnings": warnings} if warnings else {})})


def replay_share_used(config: CurriculumConfig, replay_pool: int) -> tuple[CurriculumConfig, list[str]]:
    """The curriculum config the plan is built with, and warnings about what changed: a replay
    share with no prompt easy enough to replay becomes 0 (the plan records the share used).
    Nothing before the learnability filter can know the pool's size, so this is no error that
    would throw away the sampling before it.

    >>> replay_share_used(CurriculumConfig(replay_share=0.1), 0)[0].replay_share
    0.0
    """
    if config.replay_share > 0 and replay_pool == 0:
        return dataclasses.replace(config, replay_share=0.0), [
            f"[curriculum] replay_share = {config.replay_share:g} but the learnability filter found no prompt too easy "
            "to replay: replay_share 0 used (set it to 0 for this corpus to silence this)"]
    return config, []


def step_export(state: State, ctx: Context) -> StepResult:
    manifest: Manifest = export_plan(ctx.cat, state.plan, ctx.config.export.format, Path(ctx.config.export.out), ctx.run_id)
    return StepResult("export", state.plan.table.num_rows, manifest.rows, {}, {
        "out": ctx.config.export.out, "format": manifest.format, "files": len(manifest.files),
        "content_sha256": manifest.content_sha256})


STEPS: list[Callable[[State, Context], StepResult]] = [
    step_ingest, _row_filter("dedup"), step_decontaminate, _row_filter("quality"), _row_filter("gold"),
    step_difficulty, step_learnability, step_curriculum, step_export,
]


@dataclass(frozen=True)
class CurateResult:
    run_id: str
    steps: list[StepResult]
    plan_path: Path
    out: Path
    report: Path  # the run's HTML report (its JSON summary sits beside it)
    learnability_step: str  # the learnability filter's name: its step in `steps`


def begin_run(cat: Catalog, config: CurateConfig, progress: ProgressFactory = no_progress,
              map_chunks: Callable[[EngineSpec], ChunkMap] | None = None) -> Context:
    """The steps' context for a run of `config`: the run an earlier attempt of the same config
    left unfinished (killed or failed) is continued, else a new one starts. Continuing is
    exact: ingestion and decisions are written once per run, difficulty resumes from the
    stored counts, and the export appears whole or not at all."""
    args = {"config": asdict(config)}
    run_id = cat.resume_run("curate", args)
    if run_id is None:
        if Path(config.export.out).exists():
            raise AssayError(f"[export] out = {config.export.out!r} already exists; shards are never overwritten")
        run_id = cat.start_run("curate", args)
    return Context(cat, config, run_id, cat.path.parent / "plans" / f"{run_id}.parquet", progress, map_chunks)


def finish_run(ctx: Context, state: State, results: list[StepResult]) -> CurateResult:
    """Write the run's report and mark it ok."""
    prefix = ctx.cat.path.parent / "reports" / ctx.run_id
    _, html_path = write_report(curate_summary(ctx.cat, ctx.config, ctx.run_id, results, state, prefix.parent), prefix)
    ctx.cat.finish_run(ctx.run_id, "ok", {"steps": [asdict(r) for r in results], "report": str(html_path)})
    return CurateResult(ctx.run_id, results, ctx.plan_path, Path(ctx.config.export.out), html_path, ctx.config.learnability.method)


def fail_run(ctx: Context, results: list[StepResult], exc: BaseException) -> Path:
    """Mark the run failed and write its report (the steps that finished, the step that failed
    and why); the report's path is added to `exc` as a note, which the CLI prints."""
    error = str(exc) or type(exc).__name__
    failed = STEPS[len(results)].__name__.removeprefix("step_") if len(results) < len(STEPS) else "report"
    prefix = ctx.cat.path.parent / "reports" / ctx.run_id
    _, html_path = write_report(failure_summary(ctx, results, failed, error), prefix)
    ctx.cat.finish_run(ctx.run_id, "failed", {"error": error, "failed_step": failed, "report": str(html_path),
                                              "steps": [asdict(r) for r in results]})
    if hasattr(exc, "add_note"):
        exc.add_note(f"report of the failed run: {html_path} (a rerun of the same config continues it)")
    return html_path


def failure_summary(ctx: Context, results: list[StepResult], failed: str, error: str) -> dict[str, Any]:
    """The report summary of a run that stopped at step `failed`: the funnel of the filter steps
    that finished, and the error."""
    funnel = [{"step": r.step, "rows_in": r.rows_in, "rows_out": r.rows_out, "dropped": r.dropped}
              for r in results if r.step not in (FUNNEL_END, "export")]
    return {
        "kind": "curate", "run_id": ctx.run_id, "created_at": utc_now().isoformat(),
        "title": "curate " + ", ".join(s.name or s.spec for s in ctx.config.sources) + f" (failed at {failed})",
        "lines": [f"failed at step {failed}: {error}",
                  f"finished steps: {', '.join(r.step for r in results) or 'none'}"],
        "funnel": funnel,
        "settings": _settings(ctx.config),
    }


def curate(cat: Catalog, config: CurateConfig, progress: ProgressFactory = no_progress,
           on_step: Callable[[StepResult], None] = lambda r: None) -> CurateResult:
    """Run every step in order, recorded as one `curate` run in the catalog, then write its report."""
    ctx = begin_run(cat, config, progress)
    state = State(rows=pa.table({}))
    results: list[StepResult] = []
    try:
        for step in STEPS:
            results.append(step(state, ctx))
            on_step(results[-1])
        return finish_run(ctx, state, results)
    except BaseException as exc:
        fail_run(ctx, results, exc)
        raise


# Steps whose rows out are the rows in minus the dropped ones; curriculum and export reshape
# the rows (replay prompts join the learnable ones), so the funnel ends before them.
FUNNEL_END = "curriculum"


def curate_summary(cat: Catalog, config: CurateConfig, run_id: str, results: list[StepResult], state: State,
                   report_dir: Path) -> dict[str, Any]:
    """The run report's summary (see assay.pipelines.reports.summary for its keys)."""
    steps = {r.step: r for r in results}
    funnel = []
    for r in results:
        if r.step == FUNNEL_END:
            break
        funnel.append({"step": r.step, "rows_in": r.rows_in, "rows_out": r.rows_out, "dropped": r.dropped})
    plan = state.plan.summary()
    export = steps["export"]
    links = {"shards manifest": os.path.relpath(Path(export.detail["out"]).resolve() / "manifest.json", report_dir.resolve())}
    if steps["contamination"].detail.get("report"):
        links["decontamination report"] = os.path.relpath(Path(steps["contamination"].detail["report"]).resolve(),
                                                          report_dir.resolve())
    contamination = decon.contamination_cells(cat, steps["contamination"].detail.get("run"))
    first, kept = funnel[0], results[-1]
    return {
        "kind": "curate", "run_id": run_id, "created_at": utc_now().isoformat(),
        "title": "curate " + ", ".join(s.name or s.spec for s in config.sources),
        "lines": [
            f"{first['rows_in']:,} rows read, {funnel[-1]['rows_out']:,} learnable rows kept "
            f"({len(funnel) - 1} filter steps, every drop recorded in the decisions table)",
            f"difficulty: {steps['difficulty'].detail['model']}, {steps['difficulty'].detail['sampled']:,} samples drawn "
            f"this run; learnability by {config.learnability.method}",
            f"verdicts: {StatusCounts.from_dict(steps['difficulty'].detail['statuses']).line()} "
            f"(pass rates count only correct, incorrect and no_answer)",
            f"curriculum: {len(plan.stage_rows)} stage(s), replay weight {plan.replay_weight:.2f}",
            f"exported {kept.rows_out:,} rows as {export.detail['format']} to {export.detail['out']} "
            f"(content {export.detail['content_sha256'][:16]})",
            *(f"warning: {w}" for r in results for w in r.detail.get("warnings", [])),
        ],
        "links": links,
        "settings": _settings(config),
        "funnel": funnel,
        "difficulty": _histograms(state),
        "verdicts": steps["difficulty"].detail["statuses"],
        "contamination": contamination,
        "curriculum": {"stage_rows": {str(k): v for k, v in plan.stage_rows.items()},
                       "stage_weight": {str(k): v for k, v in plan.stage_weight.items()},
                       "source_weight": plan.source_weight, "replay_weight": plan.replay_weight},
    }


def _settings(config: CurateConfig) -> dict[str, Any]:
    flat: dict[str, Any] = {"splits": ", ".join(config.splits)}
    sections = {"difficulty": asdict(config.difficulty), "learnability": asdict(config.learnability.settings),
                **{f"filters.{n}": asdict(c) for n, c in config.filters.items()},
                "curriculum": {k: v for k, v in asdict(config.curriculum).items() if not isinstance(v, (dict, list, tuple))}}
    for section, values in sections.items():
        for key, value in values.items():
            flat[f"{section}.{key}"] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
    flat["learnability.method"] = config.learnability.method
    return flat


def _histograms(state: State) -> dict[str, Any]:
    """Pass rates per source of every scored row (before the learnability filter) and of the kept ones."""
    def rates(table: pa.Table) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for row in table.select(["source", "n", "n_correct"]).to_pylist():
            if row["n"]:
                out.setdefault(row["source"], []).append(row["n_correct"] / row["n"])
        return out

    before, after = difficulty_histogram(rates(state.scored)), difficulty_histogram(rates(state.counts))
    return {"bins": before.bins, "before": before.counts, "after": after.counts}
