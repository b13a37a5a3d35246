"""Prefect flows over assay's plain steps: Prefect only wires them and caches their results.

Flows: `difficulty_flow`, `decontaminate_flow`, `audit_flow` (dataset and model
contamination), `curate_flow`, `recurring_flow`, `train_flow`. Their bodies only call tasks
and step functions; every step is a plain function in pipelines/ that runs and is tested
without Prefect. `run_flow` runs one on the task runner `--runner` picks (assay.pipelines.flows.runners),
with assay's progress bars (`reporting`) instead of Prefect's log lines.

Tasks are coarse: a curate step, or a chunk of up to `chunk_size` prompts (a DifficultyConfig
setting) sampled and verified (never a task per row). Their results are persisted (PREFECT_LOCAL_STORAGE_PATH,
under the catalog's data folder unless set) and cached on the task's source plus a content
key of its inputs:
- a chunk: the checkpoint's files (`weights_stamp`), the engine, the sampling config and
  round seed, the verifier version and timeout, and each prompt's uid, text, gold and
  verifier; nothing of the catalog, so any run that needs the same samples reuses them. A
  chunk with too many verifier failures raises (difficulty.VerifierFailures) and is not
  cached: a rerun verifies it again;
- a curate step: its run id (a step writes its decisions under it), its place in the list, its
  name, settings and source, the uids in play, the records' fingerprint and the local sources'
  sizes and times. The difficulty step is no task itself: its chunks are. A curate run killed part-way is adopted
  by the next run of the same config (curate.begin_run), so finished steps come back from the
  cache instead of writing twice, difficulty resumes from the samples already in the catalog,
  and the rest continue: the catalog and shards end as an uninterrupted run leaves them.

Only the flow writes to the catalog (DuckDB allows one writer): tasks on workers sample and
verify and return observations, and the flow appends them.

Persisted results are JSON of plain values (`PlainJSON`: dicts, lists, text, numbers, Arrow
tables as base64 IPC streams), never pickles: loading one builds data and runs no code. A
result file still names the serializer Prefect loads it with, so a pickle planted in the
results folder would be unpickled: only the user who runs assay may write that folder
(prefect_env creates its default, <catalog folder>/.assay, readable and writable by its
owner alone).

Example:
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> next_version(root).name
    'v0001'
    >>> (root / "v0001").mkdir(); (root / "v0007").mkdir()
    >>> next_version(root).name
    'v0008'
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import base64

import pyarrow as pa
from prefect import flow, task
from prefect.cache_policies import NO_CACHE, TASK_SOURCE, CacheKeyFnPolicy
from prefect.futures import as_completed
from prefect.runtime import task_run
from prefect.serializers import Serializer
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.types.entrypoint import EntrypointType
from pydantic import Field

from assay.pipelines.steps import decontaminate as decon
from assay.pipelines.flows import prefect_env
from assay.pipelines.steps.audit import AuditConfig, AuditResult, audit_model, write_audit
from assay.pipelines.store.catalog import Catalog, new_run_id
from assay.curricula.difficulty import StatusCounts
from assay.curricula.plan import Plan
from assay.pipelines.steps.curate import (
    STEPS,
    Context,
    CurateConfig,
    CurateResult,
    State,
    StepResult,
    begin_run,
    load_config,
    run_step,
    run_steps,
)
from assay.pipelines.steps.difficulty import (
    Chunk,
    ChunkMap,
    ChunkResult,
    DifficultyConfig,
    DifficultyResult,
    EngineSpec,
    estimate_difficulty,
    sample_chunk,
)
from assay.pipelines.errors import AssayError
from assay.pipelines.flows.runners import RunnerConfig, gpu_per_task, task_runner
from assay.pipelines.steps.train import TrainRunConfig, TrainRunResult, run_training
from assay.trainers.engines import RolloutEngine
from assay.trainers.rollout import Observation
from assay.verifiers import verifier_version

# -- reporting: the CLI's progress bars, reached from inside flows ------------------------------


@dataclass
class Hooks:
    advance: Callable[[int], None] = lambda n: None  # samples or rows done
    # (label, total, unit) -> a context whose value is advance(n); see assay.pipelines.steps.curate
    progress: Callable[..., Any] = lambda label, total, unit: contextlib.nullcontext(lambda n: None)
    on_step: Callable[[Any], None] = lambda result: None  # a curate step finished
    on_metrics: Callable[[dict[str, float]], None] = lambda metrics: None  # a training step's metrics


_hooks = Hooks()


# Flow bodies reach the hooks through these functions: with a cluster runner, Prefect sends the
# flow's function (by value, with the globals it names) along with every task, and the hooks'
# callables (progress bars) cannot travel.
def _advance(n: int) -> None:
    _hooks.advance(n)


def _progress(label: str, total: int | None, unit: str) -> Any:
    return _hooks.progress(label, total, unit)


def _on_step(result: Any) -> None:
    _hooks.on_step(result)


def _on_metrics(metrics: dict[str, float]) -> None:
    _hooks.on_metrics(metrics)


@contextlib.contextmanager
def reporting(**hooks: Any) -> Iterator[None]:
    """Within this block, flows report through these Hooks fields (callables are not flow
    parameters: a flow's parameters are recorded by the Prefect API)."""
    saved = asdict(_hooks)
    for name, value in hooks.items():
        setattr(_hooks, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(_hooks, name, value)


def start_api() -> str:
    """Connect to the Prefect API now, starting the temporary local server when PREFECT_API_URL
    is unset (it then serves this process's flows until exit); its URL. The CLI calls this
    under a spinner, so the seconds a server takes to start are not a frozen progress bar."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        error = client.api_healthcheck()
        if error is not None:
            raise AssayError(f"the Prefect API at {client.api_url} does not answer: {error}")
        return str(client.api_url)


def run_flow(flow_fn: Any, runner: Any, parameters: dict[str, Any]) -> Any:
    """Run `flow_fn(**parameters)` on `runner`, a task runner from assay.pipelines.flows.runners.task_runner."""
    return flow_fn.with_options(task_runner=runner)(**parameters)


# -- persisted results: plain JSON, never pickles ------------------------------------------------------


class PlainJSON(Serializer):
    """Task results as JSON of plain values: dicts, lists, text, numbers, booleans, None.
    Loading one is json.loads without hooks: it builds those values and nothing else, so a
    result cannot run code (Prefect's default, cloudpickle, can). Any other value fails to
    persist, loudly. A failed task's exception is written as its type's name and message."""

    type: str = Field(default="assay-plain-json", frozen=True)

    def dumps(self, obj: Any) -> bytes:
        if isinstance(obj, BaseException):
            obj = {"exception": type(obj).__qualname__, "message": str(obj)}
        return json.dumps(obj, sort_keys=True).encode()

    def loads(self, blob: bytes) -> Any:
        return json.loads(blob)


PLAIN = PlainJSON()


def table_text(table: pa.Table | None) -> str | None:
    """An Arrow table as base64 text of its IPC stream (data only: no types that unpickle)."""
    if table is None:
        return None
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return base64.b64encode(sink.getvalue().to_pybytes()).decode()


def text_table(text: str | None) -> pa.Table | None:
    return None if text is None else pa.ipc.open_stream(base64.b64decode(text)).read_all()


def chunk_result_plain(result: ChunkResult) -> dict[str, Any]:
    return {"observations": [[i, o.uid, o.counts.as_dict(), o.mean_reward, o.mean_tokens] for i, o in result.observations],
            "skipped": [list(s) for s in result.skipped], "sampled": result.sampled, "tokens": result.tokens}


def plain_chunk_result(plain: dict[str, Any]) -> ChunkResult:
    return ChunkResult(tuple((i, Observation(u, StatusCounts.from_dict(c), r, t)) for i, u, c, r, t in plain["observations"]),
                       tuple((i, reason) for i, reason in plain["skipped"]), plain["sampled"], plain["tokens"])


def step_plain(result: StepResult, state: State) -> dict[str, Any]:
    """A curate step's result and the state it leaves, as plain values."""
    plan = None if state.plan is None else {"table": table_text(state.plan.table), "params": state.plan.params}
    return {"result": asdict(result), "state": {
        "rows": table_text(state.rows), "scored": table_text(state.scored), "counts": table_text(state.counts),
        "replay": table_text(state.replay), "difficulty": state.difficulty, "plan": plan}}


def plain_step(plain: dict[str, Any]) -> tuple[StepResult, State]:
    s = plain["state"]
    plan = None if s["plan"] is None else Plan(text_table(s["plan"]["table"]), s["plan"]["params"])
    state = State(rows=text_table(s["rows"]), scored=text_table(s["scored"]), counts=text_table(s["counts"]),
                  difficulty=s["difficulty"], replay=text_table(s["replay"]), plan=plan)
    return StepResult(**plain["result"]), state


# -- difficulty: chunks on the task runner ---------------------------------------------------------


def _sha(blob: Any) -> str:
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()


def weights_stamp(path: Path) -> list[Any]:
    """The checkpoint folder and each file's size and modification time: another checkpoint, or
    one written again, gets another stamp. Called for every chunk, so it reads no file contents
    (model_fingerprint reads megabytes of each weight file)."""
    return [str(path.absolute()), [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in sorted(path.iterdir()) if f.is_file()]]


def chunk_key(spec: EngineSpec, chunk: Chunk) -> str:
    """Everything a chunk's samples and verdicts depend on, hashed; the catalog is not part of it."""
    return _sha({
        "engine": spec.kind, "model": weights_stamp(Path(spec.path)), "trust_remote_code": spec.trust_remote_code,
        "m": chunk.m, "sampling": asdict(chunk.sampling), "verifier_version": verifier_version({p.verifier for p in chunk.prompts}),
        "verifier_timeout_s": chunk.verification.timeout_s,
        "prompts": [[p.uid, p.prompt, p.answer, p.verifier, p.options] for p in chunk.prompts],
    })


def _chunk_cache_key(context: Any, inputs: dict[str, Any]) -> str:
    return chunk_key(inputs["spec"], inputs["chunk"])


_ENGINES: dict[EngineSpec, RolloutEngine] = {}  # per process: a worker loads the model once


@task(name="sample-chunk", cache_policy=TASK_SOURCE + CacheKeyFnPolicy(cache_key_fn=_chunk_cache_key), persist_result=True,
      result_serializer=PLAIN)
def sample_chunk_task(spec: EngineSpec, chunk: Chunk, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """sample_chunk on this worker's engine; its ChunkResult as plain values (chunk_result_plain).
    `progress`: called after each generation batch; only where the task runs in the flow's process."""
    if spec not in _ENGINES:
        _ENGINES[spec] = spec.open()
    return chunk_result_plain(sample_chunk(_ENGINES[spec], chunk, progress or (lambda samples: None)))


def runner_chunks(runner: RunnerConfig) -> Callable[[EngineSpec], ChunkMap]:
    """A round's chunks as tasks on the flow's task runner, yielded as they finish."""

    def for_engine(spec: EngineSpec) -> ChunkMap:
        def run(chunks: list[Chunk], progress: Callable[[int], None]) -> Iterator[ChunkResult]:
            # The local runner's tasks run on this process's threads, so they report each generation
            # batch as it is sampled; a cluster worker (or a result from Prefect's cache) cannot, so
            # whatever a chunk did not report is reported when its result comes back.
            reported = [0] * len(chunks)

            def reporter(i: int) -> Callable[[int], None] | None:
                def report(samples: int) -> None:
                    reported[i] += samples
                    progress(samples)

                return report if runner.runner == "local" else None

            with gpu_per_task(runner):
                futures = [sample_chunk_task.submit(spec, chunk, reporter(i)) for i, chunk in enumerate(chunks)]
            index = {future: i for i, future in enumerate(futures)}
            for future in as_completed(futures):
                i = index[future]
                result = plain_chunk_result(future.result())
                if result.sampled > reported[i]:
                    progress(result.sampled - reported[i])
                yield result

        return run

    return for_engine


# The task runner of a flow started by a deployment (`assay serve`); `run_flow` picks another.
LOCAL = ThreadPoolTaskRunner(max_workers=1)


@flow(name="assay-difficulty", validate_parameters=False, task_runner=LOCAL)
def difficulty_flow(catalog: str, config: DifficultyConfig, runner: RunnerConfig) -> DifficultyResult:
    with Catalog.open(catalog) as cat:
        return estimate_difficulty(cat, config, progress=_advance, map_chunks=runner_chunks(runner))


# -- contamination ---------------------------------------------------------------------------------


@task(name="check-catalog")
def check_catalog_task(cat: Catalog, benchmarks: list[str], settings: decon.Settings) -> decon.CatalogCheck:
    return decon.check_catalog(cat, benchmarks, settings, _advance)


@task(name="audit-model")
def audit_model_task(cat: Catalog, config: AuditConfig) -> AuditResult:
    return audit_model(cat, config, _advance)


@flow(name="assay-decontaminate", validate_parameters=False, task_runner=LOCAL)
def decontaminate_flow(catalog: str, benchmarks: list[str], settings: decon.Settings) -> decon.CatalogCheck:
    """Check every record against registered benchmarks; findings replace the earlier ones."""
    with Catalog.open(catalog) as cat:
        return check_catalog_task(cat, benchmarks, settings)


@dataclass(frozen=True)
class Audit:
    dataset: decon.CatalogCheck  # the catalog's records against the benchmarks
    model: AuditResult  # the model's memorization probes on the same benchmarks
    report: Path  # the HTML report of both (PREFIX.html; PREFIX.json and PREFIX-items.json beside it)


@flow(name="assay-audit", validate_parameters=False, task_runner=LOCAL)
def audit_flow(catalog: str, config: AuditConfig, settings: decon.Settings, report: str | None = None) -> Audit:
    """Dataset contamination (records vs benchmarks) and model contamination (memorization
    probes) for the benchmarks of `config`, in one report at REPORT (default: reports/RUN_ID
    beside the catalog)."""
    run_id = new_run_id("audit")
    with Catalog.open(catalog) as cat:
        dataset = check_catalog_task(cat, list(config.benchmarks), settings)
        model = audit_model_task(cat, config)
        cells = decon.contamination_cells(cat, dataset.summary["run_id"])
    prefix = Path(report) if report else Path(catalog).parent / "reports" / run_id
    return Audit(dataset, model, write_audit(model, config, run_id, prefix, dataset.summary, cells, dataset.html_path))


# -- training ----------------------------------------------------------------------------------------


# A training run is never replayed from a cache: it appends its online observations as it goes,
# and a killed one continues from its checkpoint (TrainRunConfig.resume).
@task(name="grpo-train", cache_policy=NO_CACHE)
def train_task(cat: Catalog, config: TrainRunConfig) -> TrainRunResult:
    return run_training(cat, config, _on_metrics)


@flow(name="assay-train", validate_parameters=False, task_runner=LOCAL)
def train_flow(catalog: str, config: TrainRunConfig) -> TrainRunResult:
    """GRPO on exported shards (assay.pipelines.steps.train), the online difficulty written back."""
    with Catalog.open(catalog) as cat:
        return train_task(cat, config)


# -- shard versions and checkpoints (the recurring flow) -------------------------------------------

_VERSION = re.compile(r"v(\d{4,})")


def next_version(root: Path) -> Path:
    """root/vNNNN, one past the highest version folder there (v0001 in an empty or new root)."""
    numbers = [int(m.group(1)) for p in Path(root).glob("v*") if (m := _VERSION.fullmatch(p.name)) and p.is_dir()]
    return Path(root) / f"v{max(numbers, default=0) + 1:04d}"


def latest_checkpoint(root: Path) -> Path:
    """The newest checkpoint folder (one holding config.json) at or under `root`, by the time
    its config.json was written."""
    configs = sorted(Path(root).rglob("config.json"), key=lambda p: (p.stat().st_mtime_ns, str(p)))
    if not configs:
        raise AssayError(f"--checkpoints {root}: no checkpoint folder (with a config.json) under it")
    return configs[-1].parent


# -- curate ----------------------------------------------------------------------------------------


def records_fingerprint(cat: Catalog) -> list[Any]:
    """What changes when records are added: their count and the newest ingestion time."""
    count, newest = cat.con.execute("SELECT count(*), max(ingested_at) FROM records").fetchall()[0]
    return [count, str(newest)]


def sources_fingerprint(config: CurateConfig) -> list[Any]:
    """Size and modification time of every local source file (hub and built-in sources are
    named by their spec, which the run's config already holds)."""
    stats = []
    for source in config.sources:
        path = Path(source.spec).expanduser()
        files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path] if path.is_file() else []
        stats += [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files]
    return stats


def step_key(index: int, state: State, ctx: Context) -> str:
    """A curate step's cache key: its run (it writes under the run id), place, name, settings and
    source, the uids in play, the records' fingerprint and the local sources' sizes and times."""
    step = ctx.config.steps[index]
    uids = state.rows.column("uid").to_pylist() if "uid" in state.rows.column_names else []
    return _sha({
        "run": ctx.run_id, "index": index, "step": step.as_toml(), "source": inspect.getsource(STEPS[step.name].run),
        "rows": hashlib.sha256("\n".join(uids).encode()).hexdigest(), "records": records_fingerprint(ctx.cat),
        "sources": sources_fingerprint(ctx.config),
    })


def _step_cache_key(context: Any, inputs: dict[str, Any]) -> str:
    return step_key(inputs["index"], inputs["state"], inputs["ctx"])


def _step_run_name() -> str:
    return f"curate-{task_run.parameters['ctx'].config.steps[task_run.parameters['index']].name}"


@task(task_run_name=_step_run_name, cache_policy=TASK_SOURCE + CacheKeyFnPolicy(cache_key_fn=_step_cache_key),
      persist_result=True, result_serializer=PLAIN)
def curate_step_task(index: int, state: State, ctx: Context) -> dict[str, Any]:
    """Step `index` of the run's list (assay.pipelines.steps.curate.run_step). It returns the state it
    leaves (as plain values, step_plain), so a cached result stands in for the whole step."""
    return step_plain(*run_step(index, state, ctx))


def flow_step(index: int, state: State, ctx: Context) -> tuple[StepResult, State]:
    """Step `index` as the flow runs it: a task, except difficulty, whose chunks are the tasks
    (spread over the runner's workers; a task inside a task would carry the step's catalog handle
    to them), run by the flow itself. Killed part-way, it resumes from the samples already in the
    catalog."""
    if ctx.config.steps[index].name == "difficulty":
        return run_step(index, state, ctx)
    return plain_step(curate_step_task(index, state, ctx))


@flow(name="assay-curate", validate_parameters=False, task_runner=LOCAL)
def curate_flow(catalog: str, config: CurateConfig, runner: RunnerConfig) -> CurateResult:
    """The config's steps in order (curate.run_steps), one task each (difficulty: a task per chunk)."""
    with Catalog.open(catalog) as cat:
        return run_steps(begin_run(cat, config, _progress, runner_chunks(runner)), flow_step, _on_step)


# -- recurring -------------------------------------------------------------------------------------


def recurring_config(config: Path, shards: Path, model: str | None, checkpoints: str | None) -> CurateConfig:
    """The curate config of one recurring run: `config` with difficulty re-estimated by
    `model`, else the newest checkpoint under `checkpoints`, else the config's own model, and
    the shards written to the next version folder under `shards`."""
    base = load_config(config)
    chosen = model or (str(latest_checkpoint(Path(checkpoints))) if checkpoints else base.difficulty.model)
    return replace(base, difficulty=replace(base.difficulty, model=chosen),
                   export=replace(base.export, out=str(next_version(shards).absolute())))


@flow(name="assay-recurring", validate_parameters=False, task_runner=LOCAL)
def recurring_flow(catalog: str, config: str, shards: str, model: str | None = None, checkpoints: str | None = None,
                   runner: str = "local", cluster: str | None = None) -> CurateResult:
    """Ingest what is new in the config's sources (uids make re-ingestion add only new rows),
    re-estimate difficulty with the latest checkpoint, and curate into shards/vNNNN. A run
    killed part-way is continued by the next: its version folder was never renamed into
    place, so the same config (same version) picks its curate run up again.

    Parameters are plain strings: a deployment (`assay serve`) stores them as JSON."""
    env = prefect_env.configure(Path(catalog))  # a deployment's run is a fresh process
    settings = recurring_config(Path(config), Path(shards), model, checkpoints)
    chosen = RunnerConfig(runner, cluster)
    return curate_flow.with_options(task_runner=task_runner(chosen, env))(catalog, settings, chosen)


def serve_recurring(name: str, parameters: dict[str, Any], cron: str | None, interval: float | None) -> None:
    """Register `recurring_flow` as deployment `name` with `parameters` on the server that
    PREFECT_API_URL names, scheduled by `cron` or every `interval` seconds, and run its
    scheduled runs (each in a fresh process, one at a time: the catalog has one writer) until
    Ctrl-C."""
    recurring_flow.serve(name=name, cron=cron, interval=interval, parameters=parameters, print_starting_message=False,
                         entrypoint_type=EntrypointType.MODULE_PATH, limit=1)
