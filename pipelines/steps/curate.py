"""`assay curate`: raw sources in, curated shards out, as a list of steps the config writes.

    ingest → dedup → decontaminate → quality → gold → difficulty → posterior_band
           → curriculum → export

is the default list (DEFAULT_STEPS). A config's `[[steps]]` array names the steps in order,
each a key of STEPS, and a filter step's other keys are that filter's settings
(assay.filters.registry): a filter is tuned there, added (any filter of the registry, the same
one twice with other settings) or moved. `check_steps` holds a list to what the steps need:
ingest first; row filters (and decontaminate, once) before difficulty, which decides what is
worth sampling; one or more learnability filters after it (they read the pass counts);
curriculum and export last.

Each step is a function `(state, context, step) -> StepResult` over the rows still in play (an
Arrow table of records): it returns how many rows came in and went out and why the others
were dropped, and records every dropped row with its reason in the catalog's `decisions`
table under the curate run's id. Nothing here prints; `progress` callbacks report long work.
One loop runs a run's steps, `run_steps`: `curate` runs each step here, the Prefect flow
(assay.pipelines.flows.flows) each as a task, for its caching and retries only.

The config is one TOML file (`assay curate --example-config` prints a commented one, the
quickstart's); its keys are CurateConfig's fields and, but for the arrays of tables, flags of
`assay curate` too. An unknown key is an error naming the section, the key and the valid keys.
The file format of earlier versions, `[filters.NAME]` and `[learnability]` tuning the default
list, is read as that list.

Example:
    >>> config = parse_config(EXAMPLE_CONFIG, "example")
    >>> config == QUICKSTART, [s.name for s in config.steps][-3:], config.export.format
    (True, ['posterior_band', 'curriculum', 'export'], 'parquet')
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections import Counter
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from assay.curricula.difficulty import StatusCounts
from assay.curricula.plan import CurriculumConfig, Plan, build_plan
from assay.filters.decision import Decision
from assay.filters.registry import FILTERS, make_config
from assay.filters.registry import LEARNABILITY as PASS_COUNT_STAGE
from assay.pipelines.steps import decontaminate as decon
from assay.pipelines.steps.benchmarks import BenchmarkConfig, add_benchmark
from assay.pipelines.store.catalog import Catalog, utc_now
from assay.pipelines.steps.difficulty import (
    ChunkMap,
    DifficultyConfig,
    EngineSpec,
    estimate_difficulty,
    planned_samples,
)
from assay.pipelines.errors import AssayError, check_given, chosen
from assay.pipelines.steps.export import ExportSection, Manifest, export_plan
from assay.pipelines.steps.ingest import IngestReport, SourceConfig, ingest, verifier_options
from assay.pipelines.reports.summary import difficulty_histogram, write_report
from assay.pipelines.config.settings import build, example_config, read_toml, settings, table, typed_section, value_at
from assay.trainers.rollout import Prompt, SamplingConfig
from assay.verifiers.names import names_help

# A step's long work: progress(label, total, unit) gives a context whose value is advance(n).
ProgressFactory = Callable[[str, "int | None", str], AbstractContextManager[Callable[[int], None]]]


def no_progress(label: str, total: int | None, unit: str) -> AbstractContextManager[Callable[[int], None]]:
    return nullcontext(lambda n: None)


# -- the steps' state ------------------------------------------------------------------------------

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

    rows: pa.Table  # records (RECORD_SCHEMA columns; n and n_correct too once difficulty ran) still in play
    scored: pa.Table | None = None  # uid, source, n, n_correct of every row difficulty was estimated for
    counts: pa.Table | None = None  # the same, for the rows the curriculum is built from
    difficulty: dict[str, Any] | None = None  # model id, sampling hash and config behind `counts`
    replay: pa.Table | None = None  # uid, source, n, n_correct: solved prompts kept for replay
    plan: Plan | None = None


# -- the step list ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """One entry of `[[steps]]`: a key of STEPS and, for a filter, its config (from the entry's
    other keys; assay.filters.registry.make_config)."""

    name: str
    settings: Any = None

    def as_toml(self) -> dict[str, Any]:
        """The entry as the config file writes it."""
        return {"name": self.name, **(asdict(self.settings) if self.settings is not None else {})}


# Where a step may stand: phases follow each other in this order (check_steps).
INGEST, ROWS, DIFFICULTY, LEARNABILITY, CURRICULUM, EXPORT = range(6)


class StepKind(NamedTuple):
    run: Callable[[State, "Context", Step], StepResult]
    phase: int
    help: str  # what it does, and where its settings are


def _filter_help(name: str) -> str:
    return f"{(FILTERS[name].fn.__doc__ or '').strip().splitlines()[0]} Its other keys: the filter's settings."


# The learnability filters: the registry's entries whose stage reads each row's pass counts (n, n_correct).
LEARNABILITY_FILTERS = tuple(name for name, spec in FILTERS.items() if spec.stage == PASS_COUNT_STAGE)
# The filters a config may place among the row steps. One the pipeline feeds (contamination, whose
# findings come from the check before it) runs inside its own step instead.
ROW_FILTERS = tuple(name for name, spec in FILTERS.items()
                    if name not in LEARNABILITY_FILTERS and spec.input_field() is None)
# Steps before it leave the rows in minus the dropped ones; curriculum and export reshape the rows
# (replay prompts join the learnable ones), so the funnel ends before them.
FUNNEL_END = "curriculum"


# -- steps ----------------------------------------------------------------------------------------

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


def step_ingest(state: State, ctx: Context, step: Step) -> StepResult:
    reports: list[IngestReport] = []
    names = []
    for s in ctx.config.sources:
        resolved, name, mapping = s.resolve()
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


def step_filter(state: State, ctx: Context, step: Step) -> StepResult:
    """A filter of assay.filters.registry over the rows in play. A learnability filter's rows
    dropped as too easy join the replay pool the curriculum draws from."""
    with ctx.progress(step.name, None, "rows"):
        decision = FILTERS[step.name].fn(state.rows, step.settings)
    if STEPS[step.name].phase != LEARNABILITY:
        return _apply(ctx, state, step.name, decision)
    easy = _solved(state.rows, decision).select(["uid", "source", "n", "n_correct"])
    state.replay = easy if state.replay is None else pa.concat_tables([state.replay, easy])
    return _apply(ctx, state, step.name, decision, {"replay_pool": easy.num_rows})


def _solved(scored: pa.Table, decision: Decision) -> pa.Table:
    """Rows the learnability filter dropped as too easy: the replay pool for the curriculum."""
    return scored.filter(pc.fill_null(pc.starts_with(decision.reason, "too_easy:"), False))


def step_decontaminate(state: State, ctx: Context, step: Step) -> StepResult:
    config = ctx.config
    for b in config.benchmarks:
        if b.spec is not None:
            resolved, label, mapping = b.resolve()
            add_benchmark(ctx.cat, b.name, b.spec, resolved, label, mapping)
    names = [b.name for b in config.benchmarks]
    if not names:
        return StepResult("contamination", state.rows.num_rows, state.rows.num_rows, {}, {"benchmarks": []})
    total = ctx.cat.con.execute("SELECT count(*) FROM records").fetchone()[0]
    with ctx.progress("decontaminate", total, "rows") as advance:
        check = decon.check_catalog(ctx.cat, names, config.decontaminate, advance)
    decision = decon.contamination_filter(ctx.cat, state.rows)
    return _apply(ctx, state, "contamination", decision, {"benchmarks": names, "report": str(check.html_path),
                                                          "run": check.summary["run_id"]})


def step_difficulty(state: State, ctx: Context, step: Step) -> StepResult:
    config = ctx.config.difficulty
    rows = state.rows.select(["uid", "source", "prompt", "answer", "verifier", "meta"]).to_pylist()
    prompts = [Prompt(r["uid"], r["prompt"], r["answer"], r["verifier"], verifier_options(r["meta"]), r["source"])
               for r in rows]
    with ctx.progress(f"sample {config.model} ({config.policy}, k={config.k})", planned_samples(config, len(prompts)),
                      "samples") as advance:
        result = estimate_difficulty(ctx.cat, config, progress=advance, prompts=prompts, map_chunks=ctx.map_chunks)
    # result.prompts holds the stored counts of every prompt sampled at least once.
    counts = {p.uid: (p.n, p.n_correct) for p in result.prompts}
    uids = state.rows["uid"].to_pylist()
    n = pa.array([counts.get(u, (0, 0))[0] for u in uids], pa.int64())
    n_correct = pa.array([counts.get(u, (0, 0))[1] for u in uids], pa.int64())
    state.scored = pa.table({"uid": state.rows["uid"], "source": state.rows["source"], "n": n, "n_correct": n_correct})
    state.rows = state.rows.append_column("n", n).append_column("n_correct", n_correct)  # what learnability filters read
    state.difficulty = {"model_id": result.model_id, "sampling_hash": result.sampling_hash,
                        "verifier_version": result.verifier_version, "run_id": result.run_id,
                        "config": asdict(ctx.config.difficulty)}
    skipped = sum(result.skipped.values())
    return StepResult("difficulty", len(prompts), len(prompts), {}, {
        "model": result.model_id, "sampled": result.sampled, "rounds": result.rounds,
        "engine_skipped": skipped, "bad_gold_prompts": result.bad_gold, "unverified_prompts": result.unverified, "statuses": result.statuses.as_dict(),
        "run": result.run_id})


def step_curriculum(state: State, ctx: Context, step: Step) -> StepResult:
    state.counts = state.rows.select(["uid", "source", "n", "n_correct"])
    if state.counts.num_rows == 0:
        raise AssayError("no rows left after the learnability filter: nothing to build a curriculum from "
                         "(see the funnel; loosen the learnability filter's settings or check [difficulty])")
    curriculum, warnings = replay_share_used(ctx.config.curriculum, state.replay.num_rows)
    try:
        plan = build_plan(state.counts, curriculum, state.replay)
    except ValueError as exc:
        raise AssayError(f"[curriculum] {exc}") from None
    learn = first_learnability(ctx.config.steps)
    params = {**plan.params, "curate_run": ctx.run_id, "difficulty": state.difficulty,
              "steps": [s.as_toml() for s in ctx.config.steps],
              "learnability": {"method": learn.name, **asdict(learn.settings)},
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


def step_export(state: State, ctx: Context, step: Step) -> StepResult:
    manifest: Manifest = export_plan(ctx.cat, state.plan, ctx.config.export.format, Path(ctx.config.export.out), ctx.run_id)
    return StepResult("export", state.plan.table.num_rows, manifest.rows, {}, {
        "out": ctx.config.export.out, "format": manifest.format, "files": len(manifest.files),
        "content_sha256": manifest.content_sha256})


STEPS: dict[str, StepKind] = {
    "ingest": StepKind(step_ingest, INGEST, "Read the [[sources]] into the catalog (rows that do not parse go to "
                       "quarantine); the records of `splits` come into play."),
    **{name: StepKind(step_filter, ROWS, _filter_help(name)) for name in ROW_FILTERS},
    # contamination is the decontaminate step's filter: its findings come from the check before it.
    "decontaminate": StepKind(step_decontaminate, ROWS, "Check the records against the [[benchmarks]] (settings: "
                              "the decontaminate table) and drop the rows with a finding."),
    "difficulty": StepKind(step_difficulty, DIFFICULTY, "Estimate pass@k with a rollout model (settings: the difficulty "
                           "table); stored samples are reused."),
    **{name: StepKind(step_filter, LEARNABILITY, _filter_help(name)) for name in LEARNABILITY_FILTERS},
    "curriculum": StepKind(step_curriculum, CURRICULUM, "Build the plan (settings: the curriculum table)."),
    "export": StepKind(step_export, EXPORT, "Write the plan's shards and manifest (settings: the export table)."),
}


def _step(name: str, **options: Any) -> Step:
    """A step of STEPS with a filter's options (every other one at its default)."""
    return Step(name, make_config(name, options) if name in FILTERS else None)


DEFAULT_STEPS = tuple(_step(name) for name in ("ingest", "dedup", "decontaminate", "quality", "gold", "difficulty",
                                               "posterior_band", "curriculum", "export"))


def parse_steps(raw: Any, section: str) -> tuple[Step, ...]:
    """`[[steps]]` entries -> Steps: each names a step of STEPS; a filter's other keys are its settings."""
    if not isinstance(raw, list) or not all(isinstance(entry, dict) for entry in raw):
        raise AssayError(f"[{section}] must be an array of tables ([[{section}]] with name = ...)")
    steps = []
    for i, entry in enumerate(raw):
        where, others = f"{section}.{i}", {k: v for k, v in entry.items() if k != "name"}
        name = entry.get("name")
        chosen(STEPS, name, "step", f"[{where}]")
        if name not in FILTERS and others:
            raise AssayError(f"[{where}] {name} takes no keys but name, got {', '.join(others)}; {STEPS[name].help}")
        steps.append(_configured(name, others, where))
    return tuple(steps)


def _configured(name: str, params: Any, section: str) -> Step:
    """Step `name` with a filter's settings from the TOML table `params`; a mistake names `section`."""
    if not isinstance(params, dict):
        raise AssayError(f"[{section}] must be a table, got {type(params).__name__}")
    try:
        return _step(name, **params)
    except ValueError as exc:
        raise AssayError(f"[{section}] {exc}") from None


def _in_phase(phase: int) -> list[str]:
    """The steps of STEPS that stand in `phase` (ROWS, LEARNABILITY, ...), in table order."""
    return [name for name, kind in STEPS.items() if kind.phase == phase]


def check_steps(steps: tuple[Step, ...]) -> None:
    """Raise AssayError unless `steps` is a list curate can run: ingest; row filters (and
    decontaminate, once); difficulty; one or more learnability filters; curriculum; export.

    >>> check_steps(DEFAULT_STEPS)
    >>> check_steps((DEFAULT_STEPS[0], _step("difficulty"), *DEFAULT_STEPS[1:5], *DEFAULT_STEPS[6:]))
    Traceback (most recent call last):
    ...
    assay.pipelines.errors.AssayError: steps ingest, difficulty, dedup, ...: a list runs ingest, then row filters (...), difficulty, ...
    """
    phases = [STEPS[s.name].phase for s in steps]
    counts = Counter(phases)
    names = [s.name for s in steps]
    if (phases != sorted(phases) or any(counts[p] != 1 for p in (INGEST, DIFFICULTY, CURRICULUM, EXPORT))
            or not counts[LEARNABILITY] or names.count("decontaminate") > 1):
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise AssayError(f"steps {shown}: a list runs ingest, then row filters ({names_help(_in_phase(ROWS))}), difficulty, "
                         f"learnability filters ({names_help(_in_phase(LEARNABILITY))}), curriculum, export")


def first_learnability(steps: tuple[Step, ...]) -> Step:
    """The first learnability filter of a checked step list."""
    return next(s for s in steps if STEPS[s.name].phase == LEARNABILITY)


def _step_rows(step: Step) -> list[tuple[str, Any, str]]:
    """An entry of [[steps]] as the example config writes it: its name, what it does, its settings."""
    return [("name", step.name, STEPS[step.name].help), *((k, v, "") for k, v in step.as_toml().items() if k != "name")]


# -- config ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CurateConfig:
    """`assay curate`'s config file (and, but for its arrays of tables, its flags)."""

    sources: list[SourceConfig] = field(metadata={
        "help": "The corpora, one [[sources]] each, with the keys of `assay ingest`'s flags (spec is its SOURCE)."})
    benchmarks: list[BenchmarkConfig] = field(default_factory=list, metadata={
        "help": "Evaluation sets to decontaminate against, one [[benchmarks]] each, with the keys of `assay bench add`'s "
                "flags: registered here from spec, or registered already (no spec)."})
    splits: list[str] = field(default_factory=lambda: ["train"], metadata={
        "help": "Record splits that become training data (repeat the flag)."})
    steps: tuple[Step, ...] = field(default=DEFAULT_STEPS, metadata={
        "help": f"The steps, in order: ingest; row filters ({names_help(_in_phase(ROWS))}; decontaminate at most once); "
                f"difficulty; learnability filters ({names_help(_in_phase(LEARNABILITY))}); curriculum; export. A filter's "
                "keys besides name are its settings; repeat it to filter twice.",
        "parse": parse_steps, "rows": _step_rows})
    decontaminate: decon.Settings = table(decon.Settings, "How the decontaminate step matches rows to the [[benchmarks]].")
    difficulty: DifficultyConfig = table(
        DifficultyConfig, "The difficulty step: adaptive (or fixed) pass@k with a rollout model, as `assay difficulty`.",
        defaults={"model": "toy"}, set_by_run={"source": "the [[sources]] to curate", "verifier": "verifier in [[sources]]"})
    curriculum: CurriculumConfig = table(CurriculumConfig, "The curriculum step: stages, weights and replay of the plan.")
    export: ExportSection = table(ExportSection, "The export step: where and how the shards are written.",
                                  defaults={"out": "shards"})

    def __post_init__(self) -> None:
        check_steps(self.steps)


# The quickstart's config and `assay curate --example-config`'s: the built-in corpus, its
# evaluation set, the toy policy with short responses, and a tenth of the weight on replay.
QUICKSTART = CurateConfig(
    sources=[SourceConfig("builtin:arithmetic", count=1000)],
    benchmarks=[BenchmarkConfig("arith-eval", spec="builtin:arithmetic-eval")],
    steps=tuple(_step("quality", min_prompt_chars=8) if s.name == "quality" else s for s in DEFAULT_STEPS),
    difficulty=DifficultyConfig(model="toy", sampling=SamplingConfig(max_tokens=256)),
    curriculum=CurriculumConfig(replay_share=0.1),
    export=ExportSection(out="shards"),
)

EXAMPLE_CONFIG = example_config(CurateConfig, """\
# assay curate config: the quickstart's (the built-in corpus and toy policy). Top-level keys, then
# the [[sources]], [[benchmarks]] and [[steps]] arrays, then one table per step's settings. Omitted
# keys take their defaults; a flag given on the command line wins over this file. Each setting's
# flags are in brackets.""", instance=QUICKSTART)

# The format of earlier versions: [filters.NAME] and [learnability] tuned the default list.
LEGACY_FILTERS = ("dedup", "quality", "gold")


@dataclass(frozen=True)
class LearnabilitySection:
    method: str = "posterior_band"  # the learnability filter
    settings: Any = field(default_factory=dict)  # that filter's config (a TOML table of its fields)


def _legacy_steps(raw: dict[str, Any]) -> tuple[Step, ...] | None:
    """The step list a config of the earlier format names (None for one without [filters] or
    [learnability]): the default list with those settings."""
    if "filters" not in raw and "learnability" not in raw:
        return None
    if "steps" in raw:
        raise AssayError("[filters] and [learnability] tune the default steps; with [[steps]], give each filter's "
                         "settings in its [[steps]] entry")
    filters = raw.get("filters", {})
    if not isinstance(filters, dict):
        raise AssayError(f"[filters] must be a table, got {type(filters).__name__}")
    check_given(LEGACY_FILTERS, sorted(filters), "filter", "[filters]")
    learn = typed_section(LearnabilitySection, raw.get("learnability", {}), "learnability")
    chosen(LEARNABILITY_FILTERS, learn.method, "method", "[learnability]")
    tuned = {**{name: (filters.get(name, {}), f"filters.{name}") for name in LEGACY_FILTERS},
             "posterior_band": (learn.settings, "learnability.settings")}
    steps = []
    for step in DEFAULT_STEPS:
        if step.name not in tuned:
            steps.append(step)
            continue
        params, section = tuned[step.name]
        steps.append(_configured(learn.method if step.name == "posterior_band" else step.name, params, section))
    return tuple(steps)


def config_from(raw: dict[str, Any], where: str) -> CurateConfig:
    """A CurateConfig from TOML-shaped values (a config file, with flags laid over it)."""
    sections = sorted(set(raw) - {"filters", "learnability"})  # the earlier format's, read by _legacy_steps
    check_given([f.name for f in dataclasses.fields(CurateConfig)], sections, "section", f"{where}:")
    if not raw.get("sources"):
        raise AssayError(f"{where}: no [[sources]]; name at least one corpus to curate")
    legacy = _legacy_steps(raw)
    config = build(CurateConfig, {k: v for k, v in raw.items() if k not in ("filters", "learnability")}, where)
    return config if legacy is None else dataclasses.replace(config, steps=legacy)


def parse_config(text: str, where: str) -> CurateConfig:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AssayError(f"{where}: not valid TOML ({exc})") from None
    return config_from(raw, where)


def load_config(path: Path) -> CurateConfig:
    return config_from(read_toml(path), str(path))


# -- the run --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CurateResult:
    run_id: str
    steps: list[StepResult]
    plan_path: Path
    out: Path
    report: Path  # the run's HTML report (its JSON summary sits beside it)
    learnability_step: str  # the first learnability filter's name: its step in `steps`


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


# How the loop runs step `index` of the run's list: (its result, the state it leaves).
StepRunner = Callable[[int, State, Context], tuple[StepResult, State]]


def run_step(index: int, state: State, ctx: Context) -> tuple[StepResult, State]:
    """Step `index` of the run's list, here."""
    step = ctx.config.steps[index]
    return STEPS[step.name].run(state, ctx, step), state


def run_steps(ctx: Context, runner: StepRunner = run_step,
              on_step: Callable[[StepResult], None] = lambda r: None) -> CurateResult:
    """The one loop over a run's steps, in the config's order (the plain function and the
    Prefect flow differ only in `runner`), then the report; a step that raises marks the run
    failed, with a report of what finished."""
    state = State(rows=pa.table({}))
    results: list[StepResult] = []
    try:
        for index in range(len(ctx.config.steps)):
            result, state = runner(index, state, ctx)
            ctx.cat.release()  # readers may open the catalog between steps
            results.append(result)
            on_step(result)
        return finish_run(ctx, state, results)
    except BaseException as exc:
        fail_run(ctx, results, exc)
        raise


def curate(cat: Catalog, config: CurateConfig, progress: ProgressFactory = no_progress,
           on_step: Callable[[StepResult], None] = lambda r: None) -> CurateResult:
    """Run every step in order, recorded as one `curate` run in the catalog, then write its report."""
    return run_steps(begin_run(cat, config, progress), run_step, on_step)


def finish_run(ctx: Context, state: State, results: list[StepResult]) -> CurateResult:
    """Write the run's report and mark it ok."""
    prefix = ctx.cat.path.parent / "reports" / ctx.run_id
    _, html_path = write_report(curate_summary(ctx.cat, ctx.config, ctx.run_id, results, state, prefix.parent), prefix)
    ctx.cat.finish_run(ctx.run_id, "ok", {"steps": [asdict(r) for r in results], "report": str(html_path)})
    return CurateResult(ctx.run_id, results, ctx.plan_path, Path(ctx.config.export.out), html_path,
                        first_learnability(ctx.config.steps).name)


def fail_run(ctx: Context, results: list[StepResult], exc: BaseException) -> Path:
    """Mark the run failed and write its report (the steps that finished, the step that failed
    and why); the report's path is added to `exc` as a note, which the CLI prints."""
    error = str(exc) or type(exc).__name__
    steps = ctx.config.steps
    failed = steps[len(results)].name if len(results) < len(steps) else "report"
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
    decontaminated = steps.get("contamination", StepResult("contamination", 0, 0, {}))  # a list may leave it out
    if decontaminated.detail.get("report"):
        links["decontamination report"] = os.path.relpath(Path(decontaminated.detail["report"]).resolve(), report_dir.resolve())
    contamination = decon.contamination_cells(cat, decontaminated.detail.get("run"))
    first, kept = funnel[0], results[-1]
    return {
        "kind": "curate", "run_id": run_id, "created_at": utc_now().isoformat(),
        "title": "curate " + ", ".join(s.name or s.spec for s in config.sources),
        "lines": [
            f"{first['rows_in']:,} rows read, {funnel[-1]['rows_out']:,} learnable rows kept "
            f"({len(funnel) - 1} filter steps, every drop recorded in the decisions table)",
            f"difficulty: {steps['difficulty'].detail['model']}, {steps['difficulty'].detail['sampled']:,} samples drawn "
            f"this run; learnability by {', '.join(s.name for s in config.steps if STEPS[s.name].phase == LEARNABILITY)}",
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
    """Every setting of the run, flat: the config file's keys (table.key), and each step's as steps.I.KEY."""
    values = {s.key: value_at(config, s.path) for s in settings(CurateConfig)}
    for i, step in enumerate(config.steps):
        values.update({f"steps.{i}.{key}": value for key, value in step.as_toml().items()})
    return {key: value if isinstance(value, (str, int, float, bool, type(None))) else
            ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value) for key, value in values.items()}


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
