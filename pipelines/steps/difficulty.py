"""`assay difficulty`: sample k responses per prompt, verify them, and append what was seen to
the catalog's difficulty history; then summarise each prompt's difficulty.

Steps, each a plain function:
1. `select_prompts`: the records to score (optionally one source).
2. `stored_counts`: what the history already holds for this model, sampling config, sampling
   policy and verifier version. A rerun with the same settings finds every prompt done and
   samples nothing; a new model or config starts from zero and appends: history is never
   overwritten.
3. `run_rounds`: the sampling policy (fixed k, or adaptive k) says how many more decided
   samples each prompt needs (`plan_round`); prompts are sampled in chunks, their responses
   verified in the verifiers' process pool (`sample_chunk`, which touches no catalog, so
   chunks can run on cluster workers), and each chunk's observations are appended in one
   transaction. Progress is counted in completions, after each generation batch. The policy
   is a pure function of the stored counts, and each round's sampling seed is derived from
   how many samples a prompt has drawn, so a run killed mid-way and started again continues
   where it stopped and ends with the counts an uninterrupted run would have.
4. `summarize`: pass rate, unbiased pass@k for several k, Beta posterior mean and 90%
   interval, learnability p(1-p), per prompt.

Timeouts and errors are data, never failures of the model. Only decided samples (correct,
incorrect, no_answer; see assay.curricula.difficulty.StatusCounts) count toward a pass rate
and toward what a prompt has: a prompt asked for 4 samples that got 3 decided and 1 timeout
has 3, and the next round (or the next run) samples the missing one again, with a new seed.
A prompt none of whose samples in a round could be verified leaves the run (sampling it
again would likely fail again; `unverified` counts it) and a later run tries it again.
A chunk in which more than `max_verifier_failures` of the verdicts are timeout or error is
not recorded: the run stops with a message naming the share, the verifiers and the timeout.
A bad_gold verdict is the reference's failure: the prompt leaves the plan (sampling it again
would only repeat the verdict), is counted in `bad_gold`, and has no pass rate until its gold
is fixed (the gold filter of `assay curate` drops such prompts before any sampling).

Example (`assay difficulty --model toy --k 16`):
    >>> with Catalog.open("assay.duckdb") as cat:  # doctest: +SKIP
    ...     result = estimate_difficulty(cat, DifficultyConfig(model="toy", k=16))
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

import numpy as np

from assay.curricula.difficulty import AdaptiveK, BetaPosterior, StatusCounts, learnability, pass_at_k, too_many_failures
from assay.pipelines.store.catalog import DECIDED_SAMPLES, Catalog
from assay.pipelines.errors import AssayError, chosen
from assay.pipelines.steps.ingest import verifier_options
from assay.pipelines.steps.preflight import model_folder
from assay.pipelines.config.settings import table
from assay.trainers.rollout import (
    ENGINE_CHOICES,
    ENGINE_HELP,
    EngineError,
    Observation,
    Prompt,
    RolloutEngine,
    Samples,
    SamplingConfig,
    Skipped,
    choose_engine,
)
from assay.verifiers import (
    DEFAULT_TIMEOUT_S,
    VERIFIER_VERSION,
    VERIFIERS,
    OperatorSpec,
    Verdict,
    resolve_verifier,
    verifier_version,
    verify_batch,
)
from assay.verifiers.names import names_help

PASS_AT = (1, 2, 4, 8, 16, 32, 64)  # the k of pass@k reported, where a prompt has that many samples
# Rows (prompt x sample) per engine.generate call inside a chunk; progress is reported after each.
# The TransformersEngine decodes 256 rows per batch by default, so the split costs it no batching.
GENERATE_ROWS = 256
MAX_VERIFIER_FAILURES = 0.05  # default: a chunk (or training step) with more timeout/error verdicts stops the run


# -- sampling policies: how many more samples each prompt gets, from its counts so far --------


class Policy(Protocol):
    budget: float  # samples per prompt it spends on average

    def more_samples(self, n: np.ndarray, c: np.ndarray) -> np.ndarray: ...  # (n [P], c [P]) -> [P]


@dataclass(frozen=True)
class FixedK:
    """Exactly k samples per prompt."""

    k: int

    def more_samples(self, n: np.ndarray, c: np.ndarray) -> np.ndarray:
        return np.maximum(self.k - np.asarray(n), 0)

    @property
    def budget(self) -> float:
        return float(self.k)


def adaptive_k(k: int) -> AdaptiveK:
    """Adaptive k (curricula.difficulty.AdaptiveK) in place of fixed k: half of fixed k's
    rollouts in all, spent where the learnable call is uncertain, at most 2k on one prompt."""
    first = min(4, k)
    return AdaptiveK(first_k=first, max_k=2 * k, budget=max(k / 2, first))


POLICIES: dict[str, Callable[[int], Policy]] = {"adaptive": adaptive_k, "fixed": FixedK}


VERIFIER_HELP = (f"Judge every prompt with this verifier instead of its own: a built-in ({names_help(VERIFIERS)}), an "
                 "installed plug-in's entry point (group assay.verifiers), or package.module:function (README: Your own reward).")
MAX_FAILURES_HELP = ("Share of a {unit}'s verdicts that may be timeout or error; above it the run stops instead of "
                     "recording (a loaded machine or a too short --verifier-timeout).")


@dataclass(frozen=True)
class DifficultyConfig:
    """`assay difficulty`'s settings, and `assay curate`'s [difficulty] (assay.pipelines.config.settings
    derives the flags and the keys from the fields)."""

    model: str = field(metadata={"help": "A local checkpoint folder, a hub id ORG/NAME, or the built-in toy policy.",
                                 "example": "toy"})
    k: int = field(default=16, metadata={
        "help": "Samples per prompt (fixed); adaptive spends half as many in all, up to 2k on one prompt."})
    policy: str = field(default="adaptive", metadata={
        "help": f"Sampling policy: {names_help(POLICIES)}. adaptive: stop early on sure calls, spend the saving on unsure ones; fixed: exactly k."})
    engine: str = field(default="auto", metadata={"help": ENGINE_HELP})
    source: str | None = field(default=None, metadata={"help": "Only this source's records; unset: all."})
    # The command's responses are whole solutions: 1024 tokens, where a library caller's SamplingConfig has 256.
    sampling: SamplingConfig = table(SamplingConfig, "How responses are sampled; every setting is part of the sampling hash "
                                     "that keys the stored difficulty.", inline=True, defaults={"max_tokens": 1024})
    workers: int | None = field(default=None, metadata={"help": "Verifier processes; unset: one per CPU."})
    trust_remote_code: bool = field(default=False, metadata={
        "help": "Run the checkpoint's own Python code. Only for code you have read."})
    verifier_timeout_s: float = field(default=DEFAULT_TIMEOUT_S, metadata={
        "help": "Seconds one verification may take; one still running is a timeout: sampled again, never scored."})
    max_verifier_failures: float = field(default=MAX_VERIFIER_FAILURES, metadata={"help": MAX_FAILURES_HELP.format(unit="chunk")})
    verifier: str | None = field(default=None, metadata={"help": VERIFIER_HELP})
    chunk_size: int = field(default=128, metadata={
        "help": "Prompts sampled, verified and recorded together (one transaction, one flow task): a kill loses at "
                "most one chunk per worker. The samples drawn do not depend on it."})

    def __post_init__(self) -> None:
        if self.k < 1:
            raise AssayError(f"--k must be a positive number of samples, got {self.k}")
        if self.chunk_size < 1:
            raise AssayError(f"--chunk-size must be a positive number of prompts, got {self.chunk_size}")
        check_verification(self.verifier_timeout_s, self.max_verifier_failures)
        chosen(POLICIES, self.policy, "policy", "--policy:")
        chosen(ENGINE_CHOICES, self.engine, "engine", "--engine:")


def planned_samples(config: DifficultyConfig, prompts: int) -> int:
    """Samples a run over `prompts` prompts draws when none is stored: its policy's budget per
    prompt (adaptive spends about k/2; fixed k), before any verifier timeout is sampled again.

    >>> planned_samples(DifficultyConfig(model="toy", k=16), 10), planned_samples(DifficultyConfig(model="toy", k=16, policy="fixed"), 10)
    (80, 160)
    """
    return int(round(POLICIES[config.policy](config.k).budget * prompts))


def check_verification(timeout_s: float, max_failures: float) -> None:
    if not timeout_s > 0:
        raise AssayError(f"--verifier-timeout must be a positive number of seconds, got {timeout_s}")
    if not 0.0 <= max_failures <= 1.0:
        raise AssayError(f"--max-verifier-failures must be a share in [0, 1], got {max_failures}")


@dataclass(frozen=True)
class PromptDifficulty:
    uid: str
    source: str
    n: int  # decided samples: the denominator of every figure below
    n_correct: int
    drawn: int  # samples drawn, decided or not
    pass_rate: float
    pass_at: dict[int, float]  # k -> unbiased pass@k, for each k in PASS_AT with k <= n
    posterior_mean: float  # Beta(1 + c, 1 + n - c)
    interval90: tuple[float, float]
    learnability: float  # p(1-p) at the posterior mean
    mean_tokens: float


@dataclass
class DifficultyResult:
    run_id: str
    model_id: str
    sampling_hash: str
    prompts: list[PromptDifficulty]
    sampled: int = 0  # completions generated by this run
    tokens: int = 0  # tokens generated by this run
    rounds: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> prompts the engine could not take
    statuses: StatusCounts = field(default_factory=StatusCounts)  # this run's verdicts, per status
    bad_gold: int = 0  # prompts left out because the verifier refused their gold
    unverified: int = 0  # prompts left out of this run: a round of theirs was all timeout or error
    verifier_version: str = VERIFIER_VERSION  # recorded with every observation (assay.verifiers.verifier_version)


FINGERPRINT_WINDOW = 1 << 20  # bytes read at each of four places in a weight file


def model_fingerprint(path: Path) -> str:
    """A short id of a checkpoint's content: its config, and each weight file's name, size and
    four 1 MiB windows spread over it (its header, and tensors from start to end).

    Training moves nearly every weight, so two checkpoints of one run differ in every window
    and get different ids; hashing whole multi-GB files on every run would cost more than the
    sampling. The id keys stored difficulty: the same weights reuse their counts.
    """
    digest = hashlib.sha256((path / "config.json").read_bytes())
    for weights in sorted(path.glob("*.safetensors")):
        size = weights.stat().st_size
        digest.update(f"{weights.name}:{size}".encode())
        with weights.open("rb") as f:
            for offset in (min(size * i // 3, max(size - FINGERPRINT_WINDOW, 0)) for i in range(4)):
                f.seek(offset)
                digest.update(f.read(FINGERPRINT_WINDOW))
    return digest.hexdigest()[:12]


def sampling_hash(sampling: SamplingConfig, policy: Policy) -> str:
    """Every setting that shapes what is sampled: the sampling config and the policy's fields."""
    blob = json.dumps({"sampling": asdict(sampling), type(policy).__name__: asdict(policy)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def select_prompts(catalog: Catalog, source: str | None) -> list[Prompt]:
    where, params = ("WHERE source = ?", [source]) if source else ("", [])
    rows = catalog.con.execute(
        f"SELECT uid, source, prompt, answer, verifier, meta FROM records {where} ORDER BY uid", params
    ).fetchall()
    if not rows:
        known = [r[0] for r in catalog.con.execute("SELECT DISTINCT source FROM records ORDER BY 1").fetchall()]
        raise AssayError(
            f"no records of source {source!r}; sources: {', '.join(known) or 'none (run assay ingest first)'}"
            if source
            else "the catalog holds no records; run `assay ingest` first"
        )
    return [Prompt(uid, prompt, answer, verifier, verifier_options(meta), src) for uid, src, prompt, answer, verifier, meta in rows]


@dataclass(frozen=True)
class Stored:
    """What the history holds for one prompt under one model, sampling config and verifier."""

    drawn: int  # samples drawn, whatever their verdict
    decided: int  # correct + incorrect + no_answer: the pass rate's denominator
    correct: int
    tokens: float  # tokens of every sample drawn
    bad_gold: int  # samples whose gold the verifier refused


NOTHING = Stored(0, 0, 0, 0.0, 0)


def stored_counts(catalog: Catalog, model_id: str, config_hash: str,
                  verifier_version: str = VERIFIER_VERSION) -> dict[str, Stored]:
    """uid -> what the history already holds for these settings (offline pass@k only; an
    export reads back the verifier version its plan recorded)."""
    rows = catalog.con.execute(
        f"""
        SELECT uid, sum(k), sum({DECIDED_SAMPLES}), sum(n_correct), sum(mean_tokens * k), sum(coalesce(n_bad_gold, 0))
        FROM difficulty
        WHERE model = ? AND sampling_hash = ? AND verifier_version = ? AND origin = 'offline'
        GROUP BY uid
        """,
        [model_id, config_hash, verifier_version],
    ).fetchall()
    return {uid: Stored(int(n), int(d), int(c), float(tokens or 0.0), int(bad)) for uid, n, d, c, tokens, bad in rows}


def _round_seed(base: int, n_before: int) -> int:
    """The seed of the samples a prompt draws after its first n_before: fixed by the counts."""
    return int.from_bytes(hashlib.sha256(f"{base}:{n_before}".encode()).digest()[:4], "little")


@dataclass(frozen=True)
class Verification:
    """How a chunk's responses are verified, and how many verifier failures it may have."""

    workers: int | None  # verifier processes; None: one per core
    timeout_s: float  # per item, in the verifiers' pool
    max_failures: float  # share of the chunk's verdicts that may be timeout or error


@dataclass(frozen=True)
class Chunk:
    """One unit of sampling work: prompts that each draw `m` more samples under one seed."""

    indices: tuple[int, ...]  # positions in the run's prompt list
    prompts: tuple[Prompt, ...]  # the prompts at those positions
    m: int
    sampling: SamplingConfig  # its seed is the round seed of these prompts' drawn-sample counts
    verification: Verification


@dataclass(frozen=True)
class ChunkResult:
    observations: tuple[tuple[int, Observation], ...]  # (position in the run's prompt list, its observation) per prompt the engine took
    skipped: tuple[tuple[int, str], ...]  # (index, reason) of each prompt the engine could not take
    sampled: int  # completions generated
    tokens: int  # tokens generated


class VerifierFailures(AssayError):
    """A chunk whose verdicts are too often timeout or error: it is not recorded."""


# Runs a round's chunks and yields their results, in any order: in this process one after
# another (`local_chunks`), or spread over a cluster (assay.pipelines.flows.flows). Its second
# argument is progress(samples): by the time a result is yielded it has been called with all of
# that chunk's completions (after each generation batch where the chunk ran in this process).
ChunkMap = Callable[[list[Chunk], Callable[[int], None]], Iterable[ChunkResult]]


@dataclass(frozen=True)
class EngineSpec:
    """What a worker needs to open the rollout engine itself."""

    kind: str  # one of assay.trainers.rollout.ENGINE_NAMES
    path: str  # the resolved checkpoint folder
    trust_remote_code: bool = False

    def open(self) -> RolloutEngine:
        from assay.trainers.engines import open_engine  # torch loads here, with the model: config checks stay light

        try:
            return open_engine(self.kind, self.path, trust_remote_code=self.trust_remote_code)
        except EngineError as exc:
            raise AssayError(str(exc)) from None


def plan_round(prompts: list[Prompt], drawn: np.ndarray, n: np.ndarray, c: np.ndarray, out: np.ndarray, policy: Policy,
               sampling: SamplingConfig, verification: Verification, chunk_size: int) -> list[Chunk]:
    """The chunks of the next round, from the counts so far, of up to `chunk_size` prompts; [] when done.

    drawn [P]: samples drawn; n [P]: decided samples; c [P]: correct ones; out [P]: prompts
    that left the plan (the engine cannot take them, or their gold was refused)."""
    active = ~out
    more = np.zeros_like(n)
    more[active] = policy.more_samples(n[active], c[active])
    # Prompts that drew the same number of samples draw their next ones with the same seed;
    # a prompt sampled again for an undecided sample has drawn more, so it gets a new seed.
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i in np.flatnonzero(more):
        groups[(int(drawn[i]), int(more[i]))].append(int(i))
    chunks = []
    for (n_before, m), members in sorted(groups.items()):
        seeded = SamplingConfig(**{**asdict(sampling), "seed": _round_seed(sampling.seed, n_before)})
        # Chunks bound the work lost to a kill and keep the progress bar moving.
        for start in range(0, len(members), chunk_size):
            part = tuple(members[start : start + chunk_size])
            chunks.append(Chunk(part, tuple(prompts[i] for i in part), m, seeded, verification))
    return chunks


def sample_chunk(engine: RolloutEngine, chunk: Chunk, progress: Callable[[int], None] = lambda samples: None) -> ChunkResult:
    """Sample and verify one chunk (verification in the verifiers' process pool). Touches no
    catalog, so it runs wherever the engine is: in this process or on a cluster worker.
    `progress(samples)` is called after each generation batch (GENERATE_ROWS rows at most) with
    the completions it produced; together they are the result's `sampled`.
    Raises VerifierFailures when more than the allowed share of verdicts are timeout or error."""
    per_batch = max(1, GENERATE_ROWS // chunk.m)  # prompts per generate call
    outputs: list[Samples] = []
    for start in range(0, len(chunk.prompts), per_batch):
        # A prompt's samples depend only on its seed, never on which prompts share its batch.
        batch = engine.generate([p.prompt for p in chunk.prompts[start : start + per_batch]], chunk.m, chunk.sampling)
        outputs += batch
        progress(sum(len(samples) for samples in batch if not isinstance(samples, Skipped)))
    items, owners, skipped = [], [], []
    for i, p, samples in zip(chunk.indices, chunk.prompts, outputs):
        if isinstance(samples, Skipped):
            skipped.append((i, samples.reason))
            continue
        for completion in samples:
            items.append(p.check(completion.text))
            owners.append((i, completion.tokens))
    check = chunk.verification
    verdicts = verify_batch(items, workers=check.workers, timeout_s=check.timeout_s) if items else []
    problem = too_many_failures([v.status for v in verdicts], [item.verifier for item in items], check.max_failures)
    if problem:
        raise VerifierFailures(
            f"difficulty chunk of {len(chunk.prompts)} prompts x {chunk.m} samples: {problem} "
            f"(--max-verifier-failures, [difficulty] max_verifier_failures); the verifier timeout is "
            f"{check.timeout_s:g} s per item (--verifier-timeout). Nothing of this chunk was recorded: a rerun "
            "samples it again, and keeps every sample already recorded"
        )
    seen: dict[int, list[tuple[Verdict, int]]] = defaultdict(list)
    for (i, tokens), verdict in zip(owners, verdicts):
        seen[i].append((verdict, tokens))
    uid = {i: p.uid for i, p in zip(chunk.indices, chunk.prompts)}
    observations = tuple((i, Observation.of(uid[i], [v for v, _ in rows], [t for _, t in rows])) for i, rows in seen.items())
    return ChunkResult(observations, tuple(skipped), len(owners), sum(tokens for _, tokens in owners))


def local_chunks(engine: Callable[[], RolloutEngine]) -> ChunkMap:
    """Chunks sampled in this process, in order. `engine()` is called only once there is
    something to sample, so a rerun that finds everything stored never loads the model."""
    return lambda chunks, progress: (sample_chunk(engine(), chunk, progress) for chunk in chunks)


def run_rounds(
    catalog: Catalog,
    map_chunks: ChunkMap,
    prompts: list[Prompt],
    config: DifficultyConfig,
    model_id: str,
    config_hash: str,
    run_id: str,
    progress: Callable[[int], None] = lambda samples: None,
) -> DifficultyResult:
    """Sample, verify and record, round by round, until the policy asks for nothing more.

    Each chunk's observations are appended in one transaction as soon as its result comes
    back; only this function writes to the catalog, wherever the chunks ran. `progress(samples)`
    is called with the completions generated, after each generation batch (see ChunkMap); its
    calls add up to the result's `sampled`."""
    version = verifier_version({p.verifier for p in prompts})
    result = DifficultyResult(run_id, model_id, config_hash, [], verifier_version=version)
    policy = POLICIES[config.policy](config.k)
    verification = Verification(config.workers, config.verifier_timeout_s, config.max_verifier_failures)
    stored = [stored_counts(catalog, model_id, config_hash, version).get(p.uid, NOTHING) for p in prompts]
    drawn = np.array([s.drawn for s in stored], dtype=int)
    n = np.array([s.decided for s in stored], dtype=int)
    c = np.array([s.correct for s in stored], dtype=int)
    out = np.array([s.bad_gold > 0 for s in stored], dtype=bool)
    result.bad_gold = int(out.sum())
    catalog.release()  # sampling the first chunk needs no catalog: readers may open it meanwhile
    while chunks := plan_round(prompts, drawn, n, c, out, policy, config.sampling, verification, config.chunk_size):
        result.rounds += 1
        for done in map_chunks(chunks, progress):
            catalog.add_difficulty(
                [o for _, o in done.observations],
                model_id,
                config_hash,
                version,
                run_id,
            )
            for i, o in done.observations:
                drawn[i] += o.counts.total
                n[i] += o.counts.decided
                c[i] += o.counts.correct
                result.statuses += o.counts
                if o.counts.bad_gold and not out[i]:
                    out[i] = True
                    result.bad_gold += 1
                elif o.counts.decided == 0 and not out[i]:
                    out[i] = True
                    result.unverified += 1
            for i, reason in done.skipped:
                out[i] = True
                result.skipped[reason] = result.skipped.get(reason, 0) + 1
            result.sampled += done.sampled
            result.tokens += done.tokens
            catalog.release()  # readers may open the catalog while the next chunk samples
    return result


def summarize(prompts: list[Prompt], counts: dict[str, Stored]) -> list[PromptDifficulty]:
    """Per-prompt difficulty from the stored counts; prompts without a decided sample are left out."""
    out = []
    for p in prompts:
        s = counts.get(p.uid, NOTHING)
        n, c = s.decided, s.correct
        if n == 0:
            continue
        posterior = BetaPosterior.from_counts(n, c)
        out.append(
            PromptDifficulty(
                uid=p.uid,
                source=p.source,
                n=n,
                n_correct=c,
                drawn=s.drawn,
                pass_rate=c / n,
                pass_at={k: pass_at_k(n, c, k) for k in PASS_AT if k <= n},
                posterior_mean=posterior.mean,
                interval90=posterior.interval(0.9),
                learnability=learnability(posterior.mean),
                mean_tokens=s.tokens / s.drawn,
            )
        )
    return out


def estimate_difficulty(
    catalog: Catalog,
    config: DifficultyConfig,
    engine: RolloutEngine | None = None,
    progress: Callable[[int], None] = lambda samples: None,
    prompts: list[Prompt] | None = None,
    map_chunks: Callable[[EngineSpec], ChunkMap] | None = None,
) -> DifficultyResult:
    """The whole command: select, reuse what is stored, sample the rest, summarise.

    `prompts`: the records to estimate (`assay curate` passes the rows its filters kept);
    default: every record of `config.source`. `map_chunks(spec)`: where chunks are sampled
    (the flows pass a cluster's); default: in this process, on `engine` or one opened from
    `spec` when first needed."""
    prompts = judged_by(select_prompts(catalog, config.source) if prompts is None else prompts, config.verifier)
    path = model_folder(config.model)
    model_id = f"{config.model}@{model_fingerprint(path)}"
    config_hash = sampling_hash(config.sampling, POLICIES[config.policy](config.k))
    try:
        kind = choose_engine(config.engine).kind  # "auto" is decided once, here: workers get a name
    except EngineError as exc:
        raise AssayError(str(exc)) from None
    spec = EngineSpec(kind, str(path), config.trust_remote_code)
    opened: list[RolloutEngine] = [engine] if engine is not None else []

    def get_engine() -> RolloutEngine:
        if not opened:
            opened.append(spec.open())
        return opened[0]

    chunks = map_chunks(spec) if map_chunks is not None else local_chunks(get_engine)
    run_id = catalog.start_run("difficulty", {**asdict(config), "engine": kind, "model_id": model_id, "sampling_hash": config_hash})
    try:
        result = run_rounds(catalog, chunks, prompts, config, model_id, config_hash, run_id, progress)
        result.prompts = summarize(prompts, stored_counts(catalog, model_id, config_hash, result.verifier_version))
    except BaseException as exc:
        catalog.finish_run(run_id, "failed", {"error": str(exc) or type(exc).__name__})
        raise
    catalog.finish_run(run_id, "ok", summary_of(result))
    return result


def judged_by(prompts: list[Prompt], verifier: str | None) -> list[Prompt]:
    """The prompts with `verifier` in place of each one's own (their options kept: a plug-in
    takes **options); without one, each row's verifier is checked to be a built-in or an
    installed entry point (a row never names a module to import)."""
    if verifier is not None:
        return [replace(p, verifier=OperatorSpec(verifier)) for p in prompts]
    for name in {p.verifier for p in prompts}:
        try:
            resolve_verifier(name, paths=False)
        except ValueError as exc:
            raise AssayError(f"a record's verifier: {exc}") from None
    return prompts


def summary_of(result: DifficultyResult) -> dict[str, Any]:
    rates = np.array([p.pass_rate for p in result.prompts])
    return {
        "model": result.model_id,
        "sampling_hash": result.sampling_hash,
        "verifier_version": result.verifier_version,
        "prompts": len(result.prompts),
        "sampled": result.sampled,
        "tokens": result.tokens,
        "rounds": result.rounds,
        "skipped": result.skipped,
        "statuses": result.statuses.as_dict(),
        "bad_gold_prompts": result.bad_gold,
        "unverified_prompts": result.unverified,
        "solved_never": int((rates == 0).sum()),
        "solved_always": int((rates == 1).sum()),
        "in_between": int(((rates > 0) & (rates < 1)).sum()),
    }


def write_report(result: DifficultyResult, path: Path) -> None:
    """One JSON line per prompt: the per-prompt difficulty summary."""
    with open(path, "w", encoding="utf-8") as fh:
        for p in result.prompts:
            fh.write(json.dumps({**asdict(p), "pass_at": {str(k): v for k, v in p.pass_at.items()}}) + "\n")
