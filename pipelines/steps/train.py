"""`assay train`: GRPO on exported shards, with the online difficulty written back to the catalog.

Steps, each a plain function:
1. `read_shards`: the shard folder's prompts (the files its manifest lists, else every
   data/*.parquet in name order). The columns the verifier needs (uid, prompt, answer,
   verifier) are checked in every file before anything is sampled; a missing one is an error
   naming the column and the file. Unknown verifier names fail the same way.
2. `held_out_prompts`: the held-out evaluation set (`builtin:arithmetic-eval` without its
   planted corpus copies, another shard folder, or prompts held out of the shards), with any
   prompt that is also a training prompt removed and counted.
3. `run_training`: the online sampler seeded with the shards' offline (n, n_correct), the
   rollout engine with the prompt template (`prompt_template`: the one `assay export`
   recorded in the shards' manifest, or the command's), assay.trainers.grpo.train, a JSONL
   log (and TensorBoard when installed), and every online observation appended to the
   catalog's difficulty table (origin "online", the policy step, the samples per verdict
   status), under a run record.

History is written exactly once. A run resumed from its checkpoint (`--resume`) continues
the run record its checkpoint names instead of starting another, and redoes the steps after
that checkpoint; an observation is keyed by run, step and uid, so a redone step writes
nothing twice: the catalog ends as an uninterrupted run leaves it.

Multi-process training: `torchrun --nproc-per-node G -m assay.pipelines.cli.main train ...`; every
process trains, only rank 0 opens the catalog and writes logs. Across nodes add
`--nnodes N --node-rank R --rdzv-endpoint HOST:PORT` (the catalog lives on node 0).

Example:
    >>> config = TrainRunConfig(shards="shards/", model="toy", steps=60)
    >>> with Catalog.open("assay.duckdb") as cat:  # doctest: +SKIP
    ...     result = run_training(cat, config)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import pyarrow.parquet as pq

from assay.curricula.difficulty import STATUSES, StatusCounts
from assay.curricula.sampler import OnlineSampler, SamplerItem
from assay.pipelines.store.catalog import Catalog, new_run_id, utc_now
from assay.pipelines.steps.difficulty import model_fingerprint, sampling_hash
from assay.pipelines.errors import AssayError
from assay.pipelines.steps.preflight import model_folder, shard_folder
from assay.pipelines.steps.ingest import BUILTINS, verifier_options
from assay.pipelines.reports.summary import write_report
from assay.pipelines.store.schema import make_uid
from assay.pipelines.config.train_settings import BUILTIN_EVAL, TRAIN_EXAMPLE_CONFIG, TrainRunConfig, train_config  # noqa: F401  (re-exported)
from assay.trainers.engines import EngineError, SamplingConfig, open_engine
from assay.trainers.grpo import EvalResult, GRPOConfig, TrainError, checkpoint_state, train
from assay.trainers.prompts import PromptTemplate, TemplateError
from assay.trainers.rollout import Observation, Prompt
from assay.verifiers import OperatorSpec, resolve_verifier, verifier_version
from assay.verifiers.names import UnknownName

REQUIRED_COLUMNS = ("uid", "prompt", "answer", "verifier")


@dataclass
class TrainRunResult:
    run_id: str
    model_id: str
    sampling_hash: str
    prompts: int  # training prompts
    eval_prompts: int
    eval_overlap_removed: int  # held-out prompts dropped because they are also training prompts
    prompt_format: str  # "chat_template", or "plain" when the model's tokenizer has none
    evals: list[EvalResult]
    history: list[dict[str, float]]
    observations: int  # the run's online difficulty rows in the catalog (a resumed run's included)
    out: Path
    log: Path
    tensorboard: Path | None  # None when tensorboard is not installed
    checkpoint: Path | None
    report: Path | None = None  # the run's HTML report (reports/RUN_ID.html beside the catalog); rank 0 only

    @property
    def zero_variance(self) -> float:
        """Share of each step's groups with no reward variance (no signal), averaged over the
        steps that had decided rollouts."""
        shares = [m["zero_variance_groups"] for m in self.history if not math.isnan(m["zero_variance_groups"])]
        return sum(shares) / max(len(shares), 1)

    @property
    def statuses(self) -> StatusCounts:
        """The verdicts of every rollout of the run, per status (undecided ones were masked, never scored)."""
        return StatusCounts.from_dict({s: sum(int(m.get(f"verdicts/{s}", 0)) for m in self.history) for s in STATUSES})


# -- 1. shards ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardPrompts:
    prompts: list[Prompt]
    offline: dict[str, tuple[int, int]]  # uid -> offline (n, n_correct) where the shard has them
    files: list[Path]


def shard_files(folder: Path) -> list[Path]:
    """The manifest's files in its order, else data/*.parquet sorted by name."""
    shard_folder(folder)
    manifest = folder / "manifest.json"
    if manifest.is_file():
        try:
            listed = [folder / f["path"] for f in json.loads(manifest.read_text())["files"]]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise AssayError(f"{manifest}: not a shard manifest (needs files: [{{path, rows, sha256}}]): {exc}") from None
        missing = [str(p) for p in listed if not p.is_file()]
        if missing:
            raise AssayError(f"{manifest} lists files that do not exist: {', '.join(missing[:3])}")
        files = listed
    else:
        files = sorted((folder / "data").glob("*.parquet"))
    if not files:
        raise AssayError(f"{folder}: no parquet shards (no manifest.json and nothing under data/*.parquet)")
    return files


def read_shards(folder: str | os.PathLike) -> ShardPrompts:
    """Every prompt of a shard folder, checked before any rollout: required columns in every
    file, known verifiers, no uid twice."""
    files = shard_files(Path(folder))
    for f in files:  # schemas first: a bad last file fails before the first is read
        names = set(pq.read_schema(f).names)
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        if missing:
            raise AssayError(
                f"{f}: shard has no column {missing[0]!r}, which the verifier needs "
                f"(required: {', '.join(REQUIRED_COLUMNS)}; found: {', '.join(sorted(names))})"
            )
    prompts: list[Prompt] = []
    offline: dict[str, tuple[int, int]] = {}
    seen: set[str] = set()
    known: set[str] = set()  # verifier names checked: built-ins and installed entry points, never a module path
    for f in files:
        table = pq.read_table(f)
        rows = table.to_pylist()
        for i, row in enumerate(rows):
            for column in REQUIRED_COLUMNS:
                if not isinstance(row[column], str) or not row[column]:
                    raise AssayError(f"{f} row {i}: column {column!r} is empty or not text")
            if row["verifier"] not in known:
                try:
                    known.add(resolve_verifier(row["verifier"], paths=False).name)
                except ValueError as exc:
                    raise AssayError(f"{f} row {i}: {exc}") from None
            if row["uid"] in seen:
                raise AssayError(f"{f} row {i}: uid {row['uid']} appears twice in the shards")
            seen.add(row["uid"])
            options = verifier_options(row["meta"]) if row.get("meta") else {}
            prompts.append(Prompt(row["uid"], row["prompt"], row["answer"], row["verifier"], options, row.get("source") or ""))
            if row.get("n") is not None and row.get("n_correct") is not None:
                offline[row["uid"]] = (int(row["n"]), int(row["n_correct"]))
    if not prompts:
        raise AssayError(f"{folder}: the shards hold no rows")
    return ShardPrompts(prompts, offline, files)


def prompt_template(folder: str | os.PathLike, given: PromptTemplate | None) -> PromptTemplate:
    """The template every prompt gets: the one `assay export` recorded in the folder's manifest,
    or `given`; both, when they differ, is an error (the shards were made for another text)."""
    manifest = Path(folder) / "manifest.json"
    try:
        raw = json.loads(manifest.read_text()).get("template") if manifest.is_file() else None
        recorded = PromptTemplate.from_dict(raw)
    except (json.JSONDecodeError, AttributeError, TemplateError, UnknownName) as exc:
        raise AssayError(f"{manifest}: its template cannot be read: {exc}") from None
    if given is None or given == recorded:
        return recorded
    if not recorded.empty:
        raise AssayError(f"{folder} was exported with the prompt template {recorded.to_dict()}; "
                         f"--system-prompt/--instruction give {given.to_dict()}: leave them out, or export again")
    return given


# -- 2. held-out set -------------------------------------------------------------------------


def builtin_eval_prompts(count: int) -> list[Prompt]:
    """The built-in held-out arithmetic set (another seed than the corpus), without the planted
    copies of corpus problems that exist to give decontamination something to find."""
    rows = [r for r in BUILTINS["arithmetic-eval"].rows(count, 0) if r["id"].startswith("eval-")]
    return [Prompt(make_uid("arithmetic-eval", r["problem"]), r["problem"], r["answer"], "math", {}, "arithmetic-eval") for r in rows]


def held_out_prompts(
    spec: str | None, train_prompts: list[Prompt], size: int, seed: int
) -> tuple[list[Prompt], list[Prompt], int]:
    """(training prompts, held-out prompts, held-out prompts removed as training prompts too)."""
    if spec is None:
        order = list(range(len(train_prompts)))
        random.Random(seed).shuffle(order)
        if len(order) <= size:
            raise AssayError(f"the shards hold {len(order)} prompts; holding out {size} would leave none (use --eval or --eval-size)")
        held = set(order[:size])
        return [p for i, p in enumerate(train_prompts) if i not in held], [train_prompts[i] for i in sorted(held)], 0
    if spec == BUILTIN_EVAL:
        candidates = builtin_eval_prompts(size)
    else:
        candidates = read_shards(spec).prompts[:size]
    texts = {p.prompt for p in train_prompts}
    kept = [p for p in candidates if p.prompt not in texts]
    if not kept:
        raise AssayError(f"--eval {spec}: every held-out prompt is also a training prompt")
    return train_prompts, kept, len(candidates) - len(kept)


# -- 3. the run ------------------------------------------------------------------------------


class _Logs:
    """metrics.jsonl, plus TensorBoard scalars when tensorboard is installed. A run resumed from
    the checkpoint after `resumed_at` steps runs the steps after it again: what the stopped run
    logged of them goes, so every step is logged once."""

    def __init__(self, out: Path, resumed_at: int | None) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.path = out / "metrics.jsonl"
        if resumed_at is not None and self.path.is_file():
            lines = self.path.read_text().splitlines(keepends=True)
            self.path.write_text("".join(line for line in lines if _logged_step(line) <= resumed_at))
        self.file = self.path.open("a")
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb_path: Path | None = out / "tensorboard"
            # purge_step: TensorBoard drops the stopped run's events from that step on
            self.tb = SummaryWriter(str(self.tb_path), purge_step=None if resumed_at is None else resumed_at + 1)
        except ImportError:  # tensorboard is optional
            self.tb_path, self.tb = None, None

    def write(self, metrics: dict[str, float]) -> None:
        self.file.write(json.dumps(metrics, sort_keys=True) + "\n")
        self.file.flush()
        if self.tb is not None:
            for key, value in metrics.items():
                if key != "step":
                    self.tb.add_scalar(key, value, metrics["step"])

    def close(self) -> None:
        self.file.close()
        if self.tb is not None:
            self.tb.close()


def _logged_step(line: str) -> float:
    """The step of a metrics.jsonl line: steps done when it was logged (a step's metrics count
    itself, an evaluation the steps before it). A line a killed run left torn is of no step."""
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return math.inf


def _init_distributed() -> bool:
    """Join torchrun's process group when launched by it and not yet joined; True if joined here."""
    import torch

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.distributed.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return True
    return False


# The toy's quickstart run (lr and updates per batch as `assay train`'s defaults, TrainRunConfig.grpo).
TOY_GRPO = GRPOConfig(lr=3e-5, updates_per_batch=2, eval_every=10, max_tokens=200)
TOY_STEPS = 30
TOY_EVAL_SIZE = 150


def quickstart_config(shards: str | os.PathLike, out: str | os.PathLike | None = None) -> TrainRunConfig:
    """The short toy run quickstart ends with: the built-in held-out set and TOY_GRPO."""
    return TrainRunConfig(shards=str(shards), model="toy", steps=TOY_STEPS, eval=BUILTIN_EVAL, eval_size=TOY_EVAL_SIZE,
                          out=None if out is None else str(out), grpo=TOY_GRPO)


def run_training(
    catalog: Catalog | None,
    config: TrainRunConfig,
    on_metrics: Callable[[dict[str, float]], None] = lambda metrics: None,
    engine=None,
) -> TrainRunResult:
    """The whole command. `catalog` is None on torchrun processes other than rank 0 (one writer).

    Everything about the input is checked before the model is loaded; the online
    observations are appended step by step, so a killed run keeps what it saw.
    """
    joined = _init_distributed()
    try:
        return _run(catalog, config, on_metrics, engine)
    finally:
        if joined:
            import torch

            torch.distributed.destroy_process_group()


def _run(catalog: Catalog | None, config: TrainRunConfig, on_metrics, engine) -> TrainRunResult:
    shards = read_shards(config.shards)
    template = prompt_template(config.shards, config.template)
    if engine is not None and getattr(engine, "template", PromptTemplate()) != template:
        raise AssayError(f"the engine given renders prompts with {getattr(engine, 'template', PromptTemplate())}, the shards need {template}")
    grpo, sampler_config = config.grpo, config.sampler  # their steps and seed are the run's (TrainRunConfig)
    train_prompts, eval_prompts, overlap = held_out_prompts(config.eval, shards.prompts, config.eval_size, grpo.seed)
    if config.verifier is not None:  # every prompt, held-out ones too, is judged by it
        train_prompts, eval_prompts = ([replace(p, verifier=OperatorSpec(config.verifier)) for p in ps] for ps in (train_prompts, eval_prompts))
    version = verifier_version({p.verifier for p in train_prompts})
    path = model_folder(config.model)
    model_id = f"{config.model}@{model_fingerprint(path)}"
    config_hash = sampling_hash(SamplingConfig(temperature=grpo.temperature, max_tokens=grpo.max_tokens, seed=grpo.seed), sampler_config)
    if not template.empty:  # the text the model sees shapes its pass rates; no template keeps the hashes it had
        config_hash = hashlib.sha256(json.dumps([config_hash, template.to_dict()], sort_keys=True).encode()).hexdigest()[:16]
    items = [SamplerItem(p.uid, p.source, *shards.offline.get(p.uid, (0, 0))) for p in train_prompts]
    sampler = OnlineSampler(items, sampler_config)
    args = {**asdict(config), "template": template.to_dict(), "model_id": model_id, "sampling_hash": config_hash}
    resumed = checkpoint_state(config.resume) if config.resume else {}  # its run id and steps done
    run_id = _begin_run(catalog, args, resumed.get("run_id"))
    base = Path(catalog.path).parent if catalog is not None else Path(".")
    out = Path(config.out) if config.out else base / "runs" / run_id
    logs = _Logs(out, resumed.get("step")) if catalog is not None else None
    pending: dict[int, list[Observation]] = defaultdict(list)

    def flush() -> None:
        for step, observations in sorted(pending.items()):
            catalog.add_difficulty(observations, model_id, config_hash, version, run_id, origin="online", step=step)
        pending.clear()
        catalog.release()  # readers may open the catalog while the next step trains

    def metrics(m: dict[str, float]) -> None:
        flush()  # a step's observations arrive before its metrics
        logs.write(m)
        on_metrics(m)

    try:
        if engine is None:
            engine = open_engine(config.engine, path, trust_remote_code=config.trust_remote_code, template=template)
        result = train(
            path,
            train_prompts,
            sampler,
            engine,
            grpo,
            eval_prompts,
            on_observation=lambda o: pending[o.step].append(o),
            on_metrics=metrics if catalog is not None else lambda m: None,
            checkpoint_dir=out / "checkpoints",
            resume_from=config.resume,
            run_id=run_id,
        )
        if catalog is not None:
            flush()
    except (TrainError, EngineError, UnknownName) as exc:
        if catalog is not None:
            catalog.finish_run(run_id, "failed", {"error": str(exc)})
        raise AssayError(str(exc)) from None
    except BaseException as exc:
        if catalog is not None:
            flush()
            catalog.finish_run(run_id, "failed", {"error": str(exc) or type(exc).__name__})
        raise
    finally:
        if logs is not None:
            logs.close()
    run = TrainRunResult(
        run_id=run_id,
        model_id=model_id,
        sampling_hash=config_hash,
        prompts=len(train_prompts),
        eval_prompts=len(eval_prompts),
        eval_overlap_removed=overlap,
        prompt_format=result.prompt_format,
        evals=result.evals,
        history=result.history,
        observations=_observations(catalog, run_id),
        out=out,
        log=out / "metrics.jsonl",
        tensorboard=logs.tb_path if logs is not None else None,
        checkpoint=result.checkpoint,
    )
    if catalog is not None:
        prefix = base / "reports" / run_id
        run.report = write_report(train_summary(run, config, prefix.parent), prefix)[1]
        catalog.finish_run(run_id, "ok", summary_of(run))
    return run


def _begin_run(catalog: Catalog | None, args: dict[str, Any], earlier: str | None) -> str:
    """The run record: `earlier`, the run a resumed checkpoint names, when this catalog holds it
    unfinished; else a new one (torchrun processes other than rank 0 only name theirs)."""
    if catalog is None:
        return new_run_id("train")
    if earlier is not None and catalog.continue_run(earlier, "train"):
        return earlier
    return catalog.start_run("train", args)


def _observations(catalog: Catalog | None, run_id: str) -> int:
    if catalog is None:
        return 0
    return catalog.con.execute("SELECT count(*) FROM difficulty WHERE run_id = ? AND origin = 'online'", [run_id]).fetchall()[0][0]


def train_summary(run: TrainRunResult, config: TrainRunConfig, report_dir: Path) -> dict[str, Any]:
    """The run report's summary (assay.pipelines.reports.summary): the training curves, per logged step
    and per evaluation (step 0 is the evaluation before training), and what the run was given."""
    logged = {int(m["step"]): m for m in run.history}
    evals = {e.step: e for e in run.evals}
    steps = sorted(set(logged) | set(evals))
    lines = [f"{run.model_id}: {len(run.history)} GRPO steps on {run.prompts:,} prompts of {config.shards}, "
             f"sampler {config.sampler.strategy} ({config.sampler.allocation}), advantage {config.grpo.advantage}"]
    if run.evals:
        first, last = run.evals[0], run.evals[-1]
        lines.append(f"held-out pass@1 {first.pass_at_1:.3f} at step {first.step} -> {last.pass_at_1:.3f} at step {last.step}; "
                     f"pass@{last.k} {first.pass_at_k:.3f} -> {last.pass_at_k:.3f} ({last.prompts} prompts x {last.k} samples)")
    lines += [f"zero-variance groups {run.zero_variance:.0%} per step on average",
              f"verdicts: {run.statuses.line()} (timeout, error and bad_gold rollouts masked out, never scored)",
              f"online difficulty: {run.observations:,} observations in the catalog's difficulty table",
              f"prompt format: {run.prompt_format}"]
    links = {"metrics (JSON lines)": os.path.relpath(run.log.resolve(), report_dir.resolve())}
    if run.checkpoint is not None:
        links["last checkpoint"] = os.path.relpath(run.checkpoint.resolve(), report_dir.resolve())
    settings = {k: v for k, v in asdict(config).items() if k not in ("sampler", "grpo")}
    # A pair (the sampler's band and prior) as its TOML text: a report setting is one scalar.
    settings.update({f"sampler.{k}": json.dumps(v) if isinstance(v, tuple) else v for k, v in asdict(config.sampler).items() if k != "seed"})
    settings.update({f"grpo.{k}": v for k, v in asdict(config.grpo).items() if k != "steps"})
    return {
        "kind": "train", "run_id": run.run_id, "created_at": utc_now().isoformat(),
        "title": f"train {config.model} on {Path(config.shards).name}",
        "lines": lines, "links": links, "settings": settings, "verdicts": run.statuses.as_dict(),
        "training": {  # nan (a step with nothing decided, an evaluation without k decided samples): no point
            "step": steps,
            "reward": [_point(logged[s]["reward"]) if s in logged else None for s in steps],
            "heldout_accuracy": [_point(evals[s].pass_at_1) if s in evals else None for s in steps],
            "heldout_pass_at_k": [_point(evals[s].pass_at_k) if s in evals else None for s in steps],
            "zero_variance_fraction": [_point(logged[s]["zero_variance_groups"]) if s in logged else None for s in steps],
        },
    }


def _point(value: float) -> float | None:
    return None if math.isnan(value) else value


def summary_of(run: TrainRunResult) -> dict[str, Any]:
    first, last = (run.evals[0], run.evals[-1]) if run.evals else (None, None)
    return {
        "model": run.model_id,
        "steps": len(run.history),
        "prompts": run.prompts,
        "eval_prompts": run.eval_prompts,
        "pass_at_1": [first.pass_at_1, last.pass_at_1] if first else None,
        "pass_at_k": [first.pass_at_k, last.pass_at_k] if first else None,
        "observations": run.observations,
        "prompt_format": run.prompt_format,
        "checkpoint": str(run.checkpoint) if run.checkpoint else None,
        "report": str(run.report) if run.report else None,
    }
