"""GRPO on verifiable rewards: sample groups, verify, compute advantages, take clipped steps.

One step of `train`, four calls: `collect` (the online sampler picks prompts and how many
rollouts each gets; the rollout engine samples them from the current policy; assay.verifiers'
process pool scores them; an advantage estimator turns rewards into advantages),
`micro_batches` (the rollouts as typed tensors, with their log-probs before the update),
`update` (`updates_per_batch` optimizer steps on a clipped surrogate, the new weights back into
the engine) and `step_metrics`. Every prompt's verdict counts of the step go to the sampler and
to the caller's `on_observation` callback (pipelines/steps/train.py appends it to the
catalog's difficulty history; nothing here imports the catalog).

Where this departs from GRPO as published (Shao et al. 2024, DeepSeekMath, outcome
supervision):
1. Token-level loss aggregation (DAPO): a mini-batch's loss is the sum over all its completion
   tokens divided by their count, not a mean of per-sequence means, so long completions are
   not down-weighted and gradient accumulation gives exactly the full-batch gradient.
2. Asymmetric clipping (clip-higher, DAPO): the ratio is clipped to [1 - clip_low,
   1 + clip_high], clip_high > clip_low by default, so unlikely tokens can still gain mass.
3. The KL penalty to the reference is off by default (kl_coef = 0, as in DAPO and Dr. GRPO);
   with kl_coef > 0 it is the paper's k3 estimator inside the per-token loss.
4. The advantage estimator is a choice (ADVANTAGES): the paper's group mean and std, Dr. GRPO's
   mean only, RLOO's leave-one-out mean, or SPO's persistent per-prompt value baseline (the
   sampler's Beta tracker) normalized across the batch, with no groups needed. The group std
   is the sample std (n - 1), as the reference implementations compute it. Dr. GRPO's
   constant length normalizer is replaced by item 1's token count.
5. Groups come from an online sampler that chooses prompts and per-prompt group sizes each
   step (knapsack allocation gives uneven sizes), not a fixed G per prompt.
6. Old log-probs are the policy's own (train mode) before the step's first update, not taken
   from the rollout engine, so the engine's numerics (vLLM kernels, bf16) never enter the ratio.
   The first mini-batch trains on the policy as it was before the update, so its old log-probs
   are its own forward's, detached: the ratio is exactly 1, with no second forward. Later
   mini-batches compare against log-probs computed before the first update. The
   engine/trainer mismatch is not importance-corrected. Log-probs are of the softmax at the sampling temperature.
7. One pass over each rollout batch, split into `updates_per_batch` mini-batches (the paper's
   mu = 1 with several policy updates per batch).
8. Only decided verdicts (correct, incorrect, no_answer) are rewards. A timeout or error (the
   verifier failed) or bad_gold (the reference did) is no evidence about the completion: it is
   masked out of the group statistics, the advantages, the loss and the sampler's update, and
   counted per status in the step metrics (`verdicts/<status>`). A step (or evaluation) in
   which more than `max_verifier_failures` of the verdicts are timeout or error stops the run
   (TrainError naming the share, the verifiers and the timeout) before anything of it is
   observed or trained on.
9. `reward="random"` replaces the verifier's reward with a fair coin per rollout: the
   spurious-reward control (Shao et al. 2025), which must not raise held-out accuracy.
10. `refill_rounds` > 0 is DAPO's dynamic sampling: a step's groups whose decided rewards are
   all equal are dropped and more sampler batches refill it, up to as many groups with a signal
   as the first batch had. Every sampled group is observed; the step's `rollouts` count them
   all, and `rollout_budget` ends a run at the step whose rollouts reach it, so arms whose steps
   cost different amounts can be compared at equal cost.

Multi-process: launched under `torchrun` (torch.distributed initialized), every process
holds the same sampler (same seed, same observations, so the same draws), samples and
verifies its share of the draws with its own colocated engine, gathers everyone's rewards,
and trains an FSDP-sharded policy (`fully_shard` per decoder layer); rank 0 reports and
writes checkpoints. Every torch.distributed call is a method of `World`. Multi-node is the
same program under `torchrun --nnodes N --node-rank R --rdzv-endpoint HOST:PORT`.

Example (a one-step run; a sampler is assay.curricula.sampler.OnlineSampler):
    >>> item = Prompt("u1", "Compute 4*2.", "8", "math")
    >>> config = GRPOConfig(steps=1, eval_every=0)
    >>> result = train("toy", [item], sampler, TransformersEngine("toy"), config)  # doctest: +SKIP
    >>> rloo_advantages(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0, 0, 0]), torch.zeros(3)).tolist()
    [1.0, -0.5, -0.5]
"""

from __future__ import annotations

import json
import math
import os
import random
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence, TypeVar

import numpy as np
import torch

from assay.curricula.difficulty import StatusCounts, pass_at_k, too_many_failures
from assay.trainers.engines import EngineError, RolloutEngine, SamplingConfig, Skipped, resolve_model
from assay.trainers.grpo_config import GRPOConfig, TrainError  # noqa: F401  (re-exported: the settings, torch-free)
from assay.trainers.rollout import Observation, Prompt
from assay.verifiers import Verdict, decided, reward, solved, verify_batch


# -- the contract: prompts in, difficulty observations out ------------------------------------
# Prompts are assay.trainers.rollout.Prompt; each prompt's rollouts of a step reach
# `on_observation` as a rollout.Observation; rewards are assay.verifiers.reward of decided verdicts.


class Sampler(Protocol):
    """assay.curricula.sampler.OnlineSampler's contract, as the trainer uses it."""

    def next_batch(self) -> list: ...  # Draw(uid, n): rollouts allotted this step

    def observe(self, uid: str, rewards: Sequence[float]) -> None: ...

    def value(self, uid: str) -> float: ...  # posterior mean pass rate: SPO's baseline

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...

    def metrics(self) -> dict[str, float]: ...


# -- advantages: rewards [N] of N rollouts -> advantages [N] ------------------------------------
# `group` [N] is each rollout's group (its draw in the step), `value` [N] the sampler's
# posterior mean pass rate of its prompt before this step's rewards were observed.

STD_EPS = 1e-4  # keeps a zero-variance group's advantages at 0 instead of 0/0


def _group_sum(values: torch.Tensor, group: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per rollout: the sum of `values` over its group [N], and its group's size [N]."""
    groups = int(group.max()) + 1
    total = torch.zeros(groups, dtype=values.dtype).index_add_(0, group, values)  # [G]
    size = torch.zeros(groups, dtype=values.dtype).index_add_(0, group, torch.ones_like(values))  # [G]
    return total[group], size[group]


def grpo_advantages(rewards: torch.Tensor, group: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """(r - group mean) / (group sample std + eps); a group of one gets 0."""
    total, size = _group_sum(rewards, group)
    mean = total / size
    squares, _ = _group_sum((rewards - mean) ** 2, group)
    std = (squares / (size - 1).clamp(min=1)).sqrt()  # sample std: n - 1 in the denominator
    return torch.where(size > 1, (rewards - mean) / (std + STD_EPS), torch.zeros_like(rewards))


def dr_grpo_advantages(rewards: torch.Tensor, group: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """r - group mean: Dr. GRPO drops the std, which over-weights nearly solved or unsolved groups."""
    total, size = _group_sum(rewards, group)
    return rewards - total / size


def rloo_advantages(rewards: torch.Tensor, group: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """r - the mean of the other rollouts of its group; a group of one has none and gets 0."""
    total, size = _group_sum(rewards, group)
    others = (total - rewards) / (size - 1).clamp(min=1)
    return torch.where(size > 1, rewards - others, torch.zeros_like(rewards))


def spo_advantages(rewards: torch.Tensor, group: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """SPO: r - the prompt's persistent value estimate, then centered and scaled over the batch.

    No group statistics: a prompt sampled once still gets a signal when it beats its value.
    """
    raw = rewards - value
    return (raw - raw.mean()) / (raw.std(unbiased=False) + STD_EPS)


ADVANTAGES: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "grpo": grpo_advantages,
    "dr_grpo": dr_grpo_advantages,
    "rloo": rloo_advantages,
    "spo": spo_advantages,
}


# -- rewards: verdicts -> the reward each rollout trains on -----------------------------------


def check_failures(statuses: Sequence[str], verifiers: Sequence[str], config: GRPOConfig, what: str) -> None:
    """Stop the run when more than config.max_verifier_failures of the verdicts are timeout or error;
    `verifiers[i]` gave `statuses[i]`."""
    problem = too_many_failures(statuses, verifiers, config.max_verifier_failures)
    if problem:
        raise TrainError(
            f"{what}: {problem} (--max-verifier-failures); the verifier timeout is {config.verifier_timeout_s:g} s per item "
            "(--verifier-timeout). Nothing of it was observed or trained on; a loaded machine times verifiers out: "
            "resume from the last checkpoint with a longer timeout or fewer verifier workers"
        )


def verifier_rewards(verdicts: Sequence[Verdict], rng: np.random.Generator) -> np.ndarray:
    return np.array([reward(v) for v in verdicts], dtype=np.float64)


def random_rewards(verdicts: Sequence[Verdict], rng: np.random.Generator) -> np.ndarray:
    """A fair coin per rollout, blind to the verdict: the spurious-reward control."""
    return rng.integers(0, 2, size=len(verdicts)).astype(np.float64)


REWARDS: dict[str, Callable[[Sequence[Verdict], np.random.Generator], np.ndarray]] = {
    "verifier": verifier_rewards,
    "random": random_rewards,
}


def decided_advantages(
    verdicts: Sequence[Verdict],
    draw: Sequence[int],
    value: Sequence[float],
    advantage_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    reward_fn: Callable[[Sequence[Verdict], np.random.Generator], np.ndarray],
    rng: np.random.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A step's N rollouts (verdict, draw, the sampler's value of its prompt) -> (keep [N] bool,
    rewards [K], advantages [K]) of the K decided rollouts. An undecided rollout is no reward of
    0: it is left out before the rewards, so group means, stds and leave-one-out baselines are
    over decided rollouts only, and it is never trained on.

    >>> v = [Verdict.of(True), Verdict.fail("timeout", ""), Verdict.of(False)]
    >>> keep, r, a = decided_advantages(v, [0, 0, 0], [0.5] * 3, dr_grpo_advantages, verifier_rewards, None)
    >>> keep.tolist(), r.tolist(), a.tolist()
    ([True, False, True], [1.0, 0.0], [0.5, -0.5])
    """
    keep = torch.tensor([decided(v) for v in verdicts], dtype=torch.bool)  # [N]
    kept = [v for v, k in zip(verdicts, keep.tolist()) if k]
    rewards = torch.tensor(reward_fn(kept, rng), dtype=torch.float64)  # [K]
    if not kept:
        return keep, rewards, torch.zeros(0)
    group = torch.unique(torch.tensor(draw)[keep], return_inverse=True)[1]  # [K] dense group ids
    values = torch.tensor(value, dtype=torch.float64)[keep]  # [K]
    return keep, rewards, advantage_fn(rewards, group, values).float()


# -- the loss --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LossInput:
    """One micro-batch as the loss sees it: B completions, each padded to T tokens."""

    logprobs: torch.Tensor  # [B, T] of the sampled tokens under the policy now: the gradient flows through these
    old_logprobs: torch.Tensor  # [B, T] under the policy before the step's first update (departure 6)
    advantages: torch.Tensor  # [B] one per completion, broadcast over its tokens
    mask: torch.Tensor  # [B, T] 1 on completion tokens: the only ones the loss counts
    tokens: float  # completion tokens of the whole mini-batch, so micro-batch losses add up to its token mean
    ref_logprobs: torch.Tensor | None = None  # [B, T] under the reference; None: no KL measured


@dataclass(frozen=True)
class LossParts:
    loss: torch.Tensor  # scalar: this micro-batch's share of the mini-batch's token-mean loss
    clipped_tokens: torch.Tensor  # scalar: tokens whose gradient the clip removed
    kl_sum: torch.Tensor  # scalar: summed k3 KL over the tokens (0 without a reference)


def clipped_surrogate_loss(x: LossInput, config: GRPOConfig) -> LossParts:
    """PPO's clipped surrogate per token, with the ratio clipped to [1 - config.clip_low,
    1 + config.clip_high] and config.kl_coef times the k3 KL to the reference added, summed over
    the masked tokens and divided by `x.tokens`.

    >>> x = LossInput(torch.zeros(1, 2), torch.zeros(1, 2), torch.tensor([1.0]), torch.ones(1, 2), tokens=2.0)
    >>> clipped_surrogate_loss(x, GRPOConfig()).loss.item()  # ratio 1, advantage 1 on both tokens
    -1.0
    """
    ratio = torch.exp(x.logprobs - x.old_logprobs)  # [B, T]
    adv = x.advantages[:, None]  # [B, 1]
    unclipped = ratio * adv
    clipped = ratio.clamp(1.0 - config.clip_low, 1.0 + config.clip_high) * adv
    per_token = -torch.minimum(unclipped, clipped)  # [B, T]
    kl = torch.zeros_like(per_token)
    if x.ref_logprobs is not None:
        delta = x.ref_logprobs - x.logprobs  # k3 = exp(delta) - delta - 1 >= 0, unbiased for KL(policy || ref)
        kl = torch.exp(delta) - delta - 1.0
    per_token = per_token + config.kl_coef * kl
    mask = x.mask.to(per_token.dtype)
    return LossParts(
        loss=(per_token * mask).sum() / x.tokens,
        clipped_tokens=((clipped < unclipped).to(mask.dtype) * mask).sum().detach(),
        kl_sum=(kl * mask).sum().detach(),
    )


def token_logprobs(model: torch.nn.Module, ids: torch.Tensor, attention: torch.Tensor, temperature: float) -> torch.Tensor:
    """[B, T] ids -> [B, T] log-prob of each token given the ones before (column 0 is 0).

    Column t is log p(ids[:, t] | ids[:, :t]) under softmax(logits / temperature): the
    distribution the engine sampled from.
    """
    logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1].float() / temperature  # [B, T-1, V]
    picked = logits.gather(-1, ids[:, 1:, None]).squeeze(-1) - torch.logsumexp(logits, dim=-1)  # [B, T-1]
    return torch.nn.functional.pad(picked, (1, 0))


# -- processes: one, or torchrun's ------------------------------------------------------------

T = TypeVar("T")


class World:
    """This process's place among the training processes: rank 0 of 1 unless torchrun started it.

    Every torch.distributed call of the trainer is a method here, each a plain one-process
    operation without torchrun, so the loop reads the same for one process and for many.
    """

    def __init__(self) -> None:
        dist = torch.distributed
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.size = dist.get_world_size() if self.distributed else 1

    def gather(self, obj: Any) -> list[Any]:
        """Every process's `obj`, in rank order, on every process."""
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.size
        torch.distributed.all_gather_object(out, obj)
        return out

    def sum(self, value: float) -> float:
        """The sum of every process's `value`, on every process."""
        return sum(self.gather(value))

    def pad_to_busiest(self, items: list[T], filler: T) -> list[T]:
        """`items`, then `filler` as often as the process with the most items has more. FSDP runs
        collectives in every forward and backward, so every process runs as many micro-batches."""
        return items + [filler] * (max(self.gather(len(items))) - len(items))

    def shard(self, model: torch.nn.Module) -> torch.nn.Module:
        """FSDP2 across the processes: each decoder layer its own unit, the rest in the root."""
        if self.size == 1:
            return model
        from torch.distributed.fsdp import fully_shard

        blocks = set(getattr(model, "_no_split_modules", None) or [])
        for module in model.modules():
            if type(module).__name__ in blocks:
                fully_shard(module)
        fully_shard(model)
        return model

    def full_state(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        """The whole unsharded state dict on every process (plain modules: their own)."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))

    def optimizer_state(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        """The optimizer's whole unsharded state on every process: what a checkpoint saves."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        return get_optimizer_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True))

    def load_optimizer_state(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
        """The inverse of optimizer_state: each process keeps its shard of `state`."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True))

    @staticmethod
    def scalar(value: torch.Tensor) -> float:
        """A one-element tensor as a float; under FSDP a gradient norm is a DTensor, made whole first."""
        return float(value.full_tensor() if hasattr(value, "full_tensor") else value)


@contextmanager
def _quiet_transformers():
    """No "Loading weights" / "Writing model shards" bars in the trainer's output."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()


# -- rollouts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rollout:
    draw: int  # index of its draw in the step's batch: its group
    uid: str
    prompt_ids: tuple[int, ...]
    completion_ids: tuple[int, ...]
    text: str


def generate_rollouts(
    engine: RolloutEngine,
    items: Mapping[str, Prompt],
    draws: Sequence[tuple[int, str, int]],
    sampling: SamplingConfig,
) -> tuple[list[Rollout], Counter[str]]:
    """(draw index, uid, n) -> that many completions of each prompt, draw by draw in order, and
    the prompts the engine skipped, by reason code. Draws of equal n share one engine call."""
    by_n: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for index, uid, n in draws:
        by_n[n].append((index, uid))
    out: dict[int, list[Rollout]] = {}
    skipped: Counter[str] = Counter()
    for n, members in sorted(by_n.items()):
        results = engine.generate([items[uid].prompt for _, uid in members], n, sampling)
        for (index, uid), samples in zip(members, results):
            if isinstance(samples, Skipped):
                skipped[samples.reason] += 1
                continue
            prompt_ids = tuple(engine.encode(items[uid].prompt))
            out[index] = [Rollout(index, uid, prompt_ids, c.token_ids, c.text) for c in samples]
    return [r for index in sorted(out) for r in out[index]], skipped


def verify_rollouts(texts: Sequence[str], items: Sequence[Prompt], config: GRPOConfig) -> list[Verdict]:
    """One verdict per completion, from the verifiers' process pool (never in this process)."""
    batch = [p.check(t) for t, p in zip(texts, items)]
    return verify_batch(batch, workers=config.verifier_workers, timeout_s=config.verifier_timeout_s) if batch else []


# -- held-out evaluation ----------------------------------------------------------------------


@dataclass(frozen=True)
class EvalResult:
    step: int
    pass_at_1: float  # mean correctness of the decided samples of k at the training temperature (unbiased pass@1)
    pass_at_k: float  # share of prompts with at least one of k samples correct (prompts with k decided); nan if none
    k: int
    prompts: int  # prompts with a decided sample; pass@k counts those with k of them
    errors: int  # verdicts with status error or timeout: left out, never counted as incorrect
    # pass_at_1's standard error over the prompts (sample std of per-prompt pass rates / sqrt(prompts)):
    # what one evaluation's noise is; nan with fewer than two prompts, or in a checkpoint that predates it
    stderr: float = math.nan


EVAL_SEED_OFFSET = 7919  # evaluation samples with one fixed seed: steps differ only by weights


def evaluate(
    engine: RolloutEngine, prompts: Sequence[Prompt], config: GRPOConfig, step: int, world: World
) -> EvalResult:
    """pass@1 and pass@k of the engine's current weights on held-out prompts (split over processes),
    from decided samples only; more than config.max_verifier_failures timeout/error verdicts stop the run."""
    mine = list(prompts[world.rank :: world.size])
    sampling = SamplingConfig(temperature=config.temperature, max_tokens=config.max_tokens, seed=config.seed + EVAL_SEED_OFFSET)
    results = engine.generate([p.prompt for p in mine], config.eval_k, sampling) if mine else []
    texts, owners = [], []
    for p, samples in zip(mine, results):
        for c in [] if isinstance(samples, Skipped) else samples:
            texts.append(c.text)
            owners.append(p)
    verdicts = verify_rollouts(texts, owners, config)
    everyone = [x for part in world.gather([(p.verifier, v.status) for p, v in zip(owners, verdicts)]) for x in part]
    check_failures([s for _, s in everyone], [v for v, _ in everyone], config, f"held-out evaluation at step {step}")
    correct: Counter[str] = Counter()
    judged: Counter[str] = Counter()
    for p, v in zip(owners, verdicts):
        correct[p.uid] += solved(v)
        judged[p.uid] += decided(v)
    skipped = {p.uid for p, samples in zip(mine, results) if isinstance(samples, Skipped)}
    # A skipped prompt counts as unsolved (the model cannot take it); an undecided sample counts nowhere.
    counts = [(0, config.eval_k) if p.uid in skipped else (correct[p.uid], judged[p.uid]) for p in mine]
    counts = [(c, n) for part in world.gather(counts) for c, n in part if n > 0]
    k = config.eval_k
    rates = np.array([c / n for c, n in counts])
    return EvalResult(
        step=step,
        pass_at_1=float(rates.mean()) if counts else math.nan,
        pass_at_k=float(np.mean([pass_at_k(n, c, k) for c, n in counts if n >= k])) if any(n >= k for _, n in counts) else math.nan,
        k=k,
        prompts=len(counts),
        errors=sum(s in ("timeout", "error") for _, s in everyone),
        stderr=float(rates.std(ddof=1) / math.sqrt(len(rates))) if len(rates) > 1 else math.nan,
    )


# -- the learner: the policy and what trains it -----------------------------------------------


@dataclass(frozen=True)
class Learner:
    """The policy being trained on this process, and what trains it."""

    policy: torch.nn.Module  # train mode; FSDP-sharded under torchrun
    reference: torch.nn.Module | None  # the frozen starting policy for the KL; None when kl_coef is 0
    optimizer: torch.optim.Optimizer
    tokenizer: Any
    device: torch.device
    autocast: torch.autocast  # bf16 on a CUDA device that has it, else a no-op
    pad: int  # the token right-padding fills in

    @property
    def prompt_format(self) -> str:
        return "chat_template" if getattr(self.tokenizer, "chat_template", None) else "plain"


def load_learner(path: Path, weights: Path, config: GRPOConfig, world: World, device: str | None) -> Learner:
    """The tokenizer of the model folder `path`, the policy from `weights` (`path`, or the
    checkpoint a run resumes), the reference from `path`, and a fresh AdamW."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dev = torch.device(device or (f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"))
    bf16 = dev.type == "cuda" and torch.cuda.is_bf16_supported()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    with _quiet_transformers():
        policy = AutoModelForCausalLM.from_pretrained(weights, local_files_only=True, use_safetensors=True, dtype=torch.float32)
        reference = None
        if config.kl_coef > 0:
            reference = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, use_safetensors=True, dtype=torch.float32)
    policy = world.shard(policy.to(dev).train())
    if reference is not None:
        reference = world.shard(reference.to(dev).eval().requires_grad_(False))
    return Learner(
        policy=policy,
        reference=reference,
        optimizer=torch.optim.AdamW(policy.parameters(), lr=config.lr, weight_decay=config.weight_decay),
        tokenizer=tokenizer,
        device=dev,
        autocast=torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16),
        pad=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0),
    )


# -- checkpoints ------------------------------------------------------------------------------

STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.pt"


def checkpoint_state(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint's saved trainer state ({} where it has none): the steps done (`step`), the
    caller's run id (train's `run_id`), the config, ... As written; nothing checked."""
    state = Path(path) / STATE_FILE
    return json.loads(state.read_text()) if state.is_file() else {}


def save_checkpoint(
    path: Path,
    policy: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    tokenizer: Any,
    state: dict[str, Any],
    world: World,
) -> None:
    """A loadable model folder (safetensors, config, tokenizer) plus the optimizer state
    (torch.save of tensors, read back with weights_only=True) and trainer_state.json: step,
    config, sampler state, RNG states, history. Every process must call it (FSDP gathers)."""
    weights = world.full_state(policy)
    optim = world.optimizer_state(policy, optimizer)
    if world.rank != 0:
        return
    path.mkdir(parents=True, exist_ok=True)
    with _quiet_transformers():
        policy.save_pretrained(path, state_dict=weights, safe_serialization=True)
    tokenizer.save_pretrained(path)
    torch.save(optim, path / OPTIMIZER_FILE)
    (path / STATE_FILE).write_text(json.dumps(state, indent=1, sort_keys=True))


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state().tolist()}
    if torch.cuda.is_available():
        state["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]])


# Settings a resumed run may change: how long to train, and how verification runs (a run
# stopped by verifier failures resumes with a longer timeout). None changes a decided verdict.
RESUMABLE_CHANGES = ("steps", "verifier_workers", "verifier_timeout_s", "max_verifier_failures")


def _check_resumable(saved: Mapping[str, Any], config: GRPOConfig, path: Path) -> None:
    """A resumed run must be the same run: every setting but RESUMABLE_CHANGES equal (one an
    older checkpoint does not hold has its default)."""
    now, defaults = asdict(config), asdict(GRPOConfig())
    differ = sorted(k for k in now if k not in RESUMABLE_CHANGES and saved.get(k, defaults[k]) != now[k])
    if differ:
        raise TrainError(f"{path}: the checkpoint was made with other settings ({', '.join(differ)}); resume with the same ones")


def read_checkpoint(path: Path, config: GRPOConfig) -> dict[str, Any]:
    """A checkpoint's trainer state, checked to be of the same run (`_check_resumable`)."""
    if not (path / STATE_FILE).is_file():
        raise TrainError(f"{path}: not a trainer checkpoint (no {STATE_FILE})")
    saved = json.loads((path / STATE_FILE).read_text())
    _check_resumable(saved["config"], config, path)
    return saved


def resume(path: Path, saved: Mapping[str, Any], learner: Learner, sampler: Sampler, world: World) -> tuple[int, list, list[EvalResult]]:
    """Put the checkpoint at `path` (trainer state `saved`) back into the optimizer, the sampler
    and this process's RNG; returns its (step, history, evaluations) to continue from."""
    optim_state = torch.load(path / OPTIMIZER_FILE, weights_only=True, map_location="cpu")
    world.load_optimizer_state(learner.policy, learner.optimizer, optim_state)
    sampler.load_state_dict(saved["sampler"])
    _set_rng_state(saved["rng"][world.rank])
    return saved["step"], saved["history"], [EvalResult(**e) for e in saved["evals"]]


# -- the loop ---------------------------------------------------------------------------------


@dataclass
class TrainResult:
    steps: int  # rollout batches done, resumed ones included
    history: list[dict[str, float]]  # per step: the metrics passed to on_metrics
    evals: list[EvalResult]
    prompt_format: str  # "chat_template", or "plain" when the tokenizer has none
    checkpoint: Path | None = None  # the last checkpoint written


def _step_seed(seed: int, step: int, purpose: int) -> int:
    return int(np.random.SeedSequence([seed, step, purpose]).generate_state(1)[0])


# -- 1-3. collect: draw, sample, verify, observe; advantages -----------------------------------


def signal_groups(order: Sequence[tuple[int, Verdict, int]], wanted: int) -> set[int]:
    """DAPO's dynamic-sampling filter: the first `wanted` draws, in draw order, whose decided
    rollouts' verifier rewards are not all equal (a group of one has no signal).
    `order` holds (draw, verdict, tokens) per rollout.

    >>> right, wrong = Verdict.of(True), Verdict.of(False)
    >>> sorted(signal_groups([(0, right, 5), (0, right, 5), (1, right, 5), (1, wrong, 5), (2, wrong, 5), (2, right, 5)], 5))
    [1, 2]
    """
    rewards: dict[int, list[float]] = defaultdict(list)
    for d, verdict, _ in order:
        if decided(verdict):
            rewards[d].append(reward(verdict))
    return set([d for d in sorted(rewards) if max(rewards[d]) != min(rewards[d])][:wanted])


@dataclass
class _Sampled:
    """What one step has sampled so far, over its refill rounds."""

    drawn: int = 0  # draws so far, every process's: the next round's first draw index
    order: list[tuple[int, Verdict, int]] = field(default_factory=list)  # everyone's (draw, verdict, tokens), draw order
    values: list[float] = field(default_factory=list)  # per entry of order: its prompt's sampler value before the step
    local: list[Rollout] = field(default_factory=list)  # this process's rollouts, draw order
    verdicts: list[Verdict] = field(default_factory=list)  # their verdicts
    mine: set[int] = field(default_factory=set)  # the draws this process sampled
    skipped: Counter[str] = field(default_factory=Counter)  # prompts the engine skipped, every process's, by reason
    wanted: int = 0  # groups the step trains on with refills: as many as its first round sampled


def _sample_round(
    engine: RolloutEngine,
    sampler: Sampler,
    items: Mapping[str, Prompt],
    config: GRPOConfig,
    step: int,
    round_: int,
    world: World,
    sampled: _Sampled,
    on_observation: Callable[[Observation], None],
) -> None:
    """One sampler batch of `step`: drawn, sampled, verified and observed, added to `sampled`.

    Draws are the same on every process (same sampler state); each samples its share and
    everyone gathers everyone's verdicts, so what follows is computed identically everywhere.
    Too many verifier failures stop the run here, before anything of the round is used.
    """
    first = sampled.drawn
    draws = [(first + i, d.uid, d.n) for i, d in enumerate(sampler.next_batch())]
    unknown = [uid for _, uid, _ in draws if uid not in items]
    if unknown:
        raise TrainError(f"the sampler drew uids that are not among the prompts, e.g. {unknown[0]}")
    # Round 0 keeps the seed a run without refills has; refills get seeds of their own.
    seed = _step_seed(config.seed, step, 0 if round_ == 0 else 2 + round_)
    sampling = SamplingConfig(temperature=config.temperature, max_tokens=config.max_tokens, seed=seed)
    mine = draws[world.rank :: world.size]
    local, skipped = generate_rollouts(engine, items, mine, sampling)
    verdicts = verify_rollouts([r.text for r in local], [items[r.uid] for r in local], config)
    gathered = world.gather(([(r.draw, v, len(r.completion_ids)) for r, v in zip(local, verdicts)], dict(skipped)))
    order = sorted((o for part, _ in gathered for o in part), key=lambda o: o[0])  # stable within a draw
    skipped = sum((Counter(s) for _, s in gathered), Counter())
    if not order:
        raise TrainError(f"step {step}: the engine skipped every drawn prompt ({dict(skipped)})")
    check_failures([v.status for _, v, _ in order], [items[draws[d - first][1]].verifier for d, _, _ in order], config,
                   f"training step {step + 1}")
    # SPO's baseline is each prompt's value before these rewards of it are observed.
    sampled.values += [sampler.value(draws[d - first][1]) for d, _, _ in order]
    per_draw: dict[int, list[tuple[Verdict, int]]] = defaultdict(list)
    for d, verdict, tokens in order:
        per_draw[d].append((verdict, tokens))
    for d, seen in per_draw.items():
        uid = draws[d - first][1]
        scores = [reward(v) for v, _ in seen if decided(v)]
        if scores:
            sampler.observe(uid, scores)
        if world.rank == 0:
            on_observation(Observation.of(uid, [v for v, _ in seen], [tokens for _, tokens in seen], step))
    if round_ == 0:
        sampled.wanted = len(per_draw)
    sampled.drawn += len(draws)
    sampled.order += order
    sampled.local += local
    sampled.verdicts += verdicts
    sampled.mine |= {d for d, _, _ in mine}
    sampled.skipped += skipped


@dataclass(frozen=True)
class StepBatch:
    """One step's rollouts, collected: every process's verdicts, and this process's share to train on."""

    order: list[tuple[int, Verdict, int]]  # every process's (draw, verdict, tokens) in draw order: all the step sampled
    trained: set[int]  # the draws trained on: every one, or with refills the first groups with a signal
    draws: torch.Tensor  # [K] long: the draw of each of the K decided rollouts of the trained groups, every process's
    rewards: torch.Tensor  # [K] float64: their rewards
    rollouts: list[Rollout]  # [L] this process's share of the K, in draw order
    advantages: torch.Tensor  # [L] float32: their advantages
    skipped: Counter[str]  # prompts the engine skipped, every process's, by reason


def collect(
    engine: RolloutEngine,
    sampler: Sampler,
    items: Mapping[str, Prompt],
    config: GRPOConfig,
    step: int,
    world: World,
    on_observation: Callable[[Observation], None],
) -> StepBatch:
    """Steps 1-3 of `step`: draw, sample, verify and observe (`_sample_round`), then the advantages
    of the decided rollouts. With refill_rounds (DAPO's dynamic sampling) it samples again while
    zero-variance groups leave the batch short of groups with a signal; each round is observed
    before the next is drawn, so refills follow the evidence."""
    sampled = _Sampled()
    for round_ in range(1 + config.refill_rounds):
        _sample_round(engine, sampler, items, config, step, round_, world, sampled, on_observation)
        if not config.refill_rounds or len(signal_groups(sampled.order, sampled.wanted)) >= sampled.wanted:
            break
    trained = signal_groups(sampled.order, sampled.wanted) if config.refill_rounds else {d for d, _, _ in sampled.order}
    # (draw, verdict, the prompt's sampler value) of the N rollouts of the trained groups
    rows = [(d, v, value) for (d, v, _), value in zip(sampled.order, sampled.values) if d in trained]
    keep, rewards, advantages = decided_advantages(
        [v for _, v, _ in rows], [d for d, _, _ in rows], [value for _, _, value in rows],
        ADVANTAGES[config.advantage], REWARDS[config.reward], np.random.default_rng(_step_seed(config.seed, step, 1)),
    )  # [N], [K], [K]
    draws = torch.tensor([d for d, _, _ in rows], dtype=torch.long)[keep]  # [K]
    mine = torch.tensor([d in sampled.mine for d in draws.tolist()], dtype=torch.bool)  # [K]
    # The K are in draw order and so are this process's rollouts: its decided ones of the trained
    # groups line up with the K restricted to its draws.
    rollouts = [r for r, v in zip(sampled.local, sampled.verdicts) if decided(v) and r.draw in trained]
    return StepBatch(sampled.order, trained, draws, rewards, rollouts, advantages[mine], sampled.skipped)


# -- 4. update: mini-batches of micro-batches, the loss, the optimizer ------------------------


@dataclass(frozen=True)
class MicroBatch:
    """The rollouts of one forward and backward, on the training device, with the log-probs the
    loss compares against: those of the policy before the step's first update."""

    ids: torch.Tensor  # [b, T] long: prompt + completion tokens, right-padded
    attention: torch.Tensor  # [b, T] long: 1 on real tokens
    completion: torch.Tensor  # [b, T] bool: the completion tokens, the only ones trained on
    advantages: torch.Tensor  # [b]: one per rollout
    old_logprobs: torch.Tensor | None  # [b, T] float32: the policy's before the step's first update;
    # None in the first mini-batch, which trains that very policy: its forward's own, detached
    ref_logprobs: torch.Tensor | None  # [b, T] float32: the reference's; None without one
    weight: float  # 1.0, or 0.0 for a filler that only keeps FSDP's collectives in step

    def loss_input(self, logprobs: torch.Tensor, tokens: float) -> LossInput:
        """The loss's input, given the policy's log-probs now [b, T] and the mini-batch's completion tokens."""
        old = logprobs.detach() if self.old_logprobs is None else self.old_logprobs
        return LossInput(logprobs, old, self.advantages, self.completion, tokens, self.ref_logprobs)


def _sequences(rollouts: Sequence[Rollout], pad: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded prompt+completion ids [B, T], attention mask [B, T], completion mask [B, T]."""
    width = max(len(r.prompt_ids) + len(r.completion_ids) for r in rollouts)
    ids = torch.full((len(rollouts), width), pad, dtype=torch.long)
    attention = torch.zeros((len(rollouts), width), dtype=torch.long)
    completion = torch.zeros((len(rollouts), width), dtype=torch.bool)
    for b, r in enumerate(rollouts):
        p, c = len(r.prompt_ids), len(r.completion_ids)
        ids[b, : p + c] = torch.tensor(r.prompt_ids + r.completion_ids, dtype=torch.long)
        attention[b, : p + c] = 1
        completion[b, p : p + c] = True
    return ids.to(device), attention.to(device), completion.to(device)


def micro_batch(
    rollouts: Sequence[Rollout], advantages: torch.Tensor, weight: float, learner: Learner, temperature: float, first: bool
) -> MicroBatch:
    """`rollouts` and their `advantages` [b] as a MicroBatch, with the reference's log-probs of
    their tokens and, unless it belongs to the `first` mini-batch, the current policy's."""
    ids, attention, completion = _sequences(rollouts, learner.pad, learner.device)
    with torch.no_grad(), learner.autocast:
        old = None if first else token_logprobs(learner.policy, ids, attention, temperature).float()
        ref = token_logprobs(learner.reference, ids, attention, temperature).float() if learner.reference is not None else None
    return MicroBatch(ids, attention, completion, advantages.to(learner.device), old, ref, weight)


def _update_plan(rollouts: int, config: GRPOConfig, seed: int, world: World) -> list[list[tuple[list[int], float]]]:
    """Per optimizer step: its micro-batches as (rollout indices, weight).

    Mini-batches are the strided slices of a seeded permutation. A process with fewer
    micro-batches than the busiest one repeats rollout 0 at weight 0 (World.pad_to_busiest).
    """
    perm = list(range(rollouts))
    random.Random(seed).shuffle(perm)
    plan = []
    for u in range(config.updates_per_batch):
        mini = perm[u :: config.updates_per_batch]
        micro = [(mini[s : s + config.micro_batch], 1.0) for s in range(0, len(mini), config.micro_batch)]
        plan.append(world.pad_to_busiest(micro, ([0], 0.0)))
    return plan


def micro_batches(
    batch: StepBatch, filler: Rollout, learner: Learner, config: GRPOConfig, seed: int, world: World
) -> list[list[MicroBatch]]:
    """Per optimizer step (mini-batch), its micro-batches, every one built before the first update
    so its old log-probs are the step's starting policy's (the first mini-batch's are its own
    forward's: departure 6).
    A step with no decided rollout on any process has nothing to learn from and gets no mini-batch;
    a process without rollouts of its own runs `filler` at weight 0."""
    if not len(batch.rewards):
        return []
    pool, advantages = (batch.rollouts, batch.advantages) if batch.rollouts else ([filler], torch.zeros(1))
    plan = _update_plan(len(batch.rollouts), config, seed, world)
    return [[micro_batch([pool[i] for i in chunk], advantages[chunk], weight, learner, config.temperature, first=u == 0)
             for chunk, weight in mini] for u, mini in enumerate(plan)]


@dataclass(frozen=True)
class UpdateStats:
    """One step's optimizer steps, summed over the processes."""

    losses: list[float]  # per optimizer step: its mini-batch's token-mean loss
    grad_norms: list[float]  # per optimizer step, before clipping
    clipped_tokens: float  # tokens whose gradient the clip removed
    kl_sum: float  # summed k3 KL over the trained tokens
    tokens: float  # completion tokens trained on


def update(minis: Sequence[Sequence[MicroBatch]], learner: Learner, engine: RolloutEngine, config: GRPOConfig, world: World) -> UpdateStats:
    """Step 4: one optimizer step per mini-batch, its gradient accumulated over its micro-batches;
    the engine gets the new weights after each."""
    losses, grad_norms, clipped, kl, tokens_total = [], [], 0.0, 0.0, 0.0
    for mini in minis:
        # The mini-batch's completion tokens on every process: the loss's normalizer (departure 1).
        tokens = world.sum(sum(float(m.completion.sum()) * m.weight for m in mini))
        learner.optimizer.zero_grad(set_to_none=True)
        loss = 0.0
        for m in mini:
            with learner.autocast:
                logp = token_logprobs(learner.policy, m.ids, m.attention, config.temperature)  # [b, T]
            parts = clipped_surrogate_loss(m.loss_input(logp.float(), max(tokens, 1.0)), config)
            # FSDP averages gradients over processes; the loss is already a global token mean.
            (parts.loss * m.weight * world.size).backward()
            loss += parts.loss.item() * m.weight
            clipped += float(parts.clipped_tokens) * m.weight
            kl += float(parts.kl_sum) * m.weight
        norm = torch.nn.utils.clip_grad_norm_(learner.policy.parameters(), config.max_grad_norm)
        grad_norms.append(world.scalar(norm))
        learner.optimizer.step()
        engine.load_weights(world.full_state(learner.policy))
        losses.append(world.sum(loss))
        tokens_total += tokens
    return UpdateStats(losses, grad_norms, world.sum(clipped), world.sum(kl), tokens_total)


# -- 5. metrics -------------------------------------------------------------------------------


def step_metrics(step: int, batch: StepBatch, stats: UpdateStats, sampler_metrics: Mapping[str, float]) -> dict[str, float]:
    """Step 5: what `step` (0-based) reports; rewards, accuracy and group variance are over the
    decided rollouts."""
    by_group: dict[int, list[float]] = defaultdict(list)
    for d, r in zip(batch.draws.tolist(), batch.rewards.tolist()):
        by_group[d].append(r)
    zero_var = sum(len(rs) > 1 and max(rs) == min(rs) for rs in by_group.values())
    statuses = StatusCounts.of(v.status for _, v, _ in batch.order)
    groups = {d for d, _, _ in batch.order}
    return {
        "step": step + 1,
        "loss": float(np.mean(stats.losses)) if stats.losses else math.nan,
        "grad_norm": float(np.mean(stats.grad_norms)) if stats.grad_norms else math.nan,  # before clipping
        "reward": float(batch.rewards.mean()) if len(batch.rewards) else math.nan,
        "accuracy": statuses.pass_rate,
        "rollouts": len(batch.order),  # sampled this step, refills included: the budget spent
        "groups": len(groups),
        "zero_variance_groups": zero_var / len(by_group) if by_group else math.nan,  # of the groups trained on
        # every group sampled, by the verifier's decided rewards: what refills pay for
        "sampled_zero_variance_groups": 1 - len(signal_groups(batch.order, len(groups))) / len(groups),
        "dropped_groups": len(groups - batch.trained),
        "clip_fraction": stats.clipped_tokens / max(stats.tokens, 1.0),
        "kl": stats.kl_sum / max(stats.tokens, 1.0),
        "mean_tokens": float(np.mean([tokens for _, _, tokens in batch.order])),
        **{f"verdicts/{status}": float(n) for status, n in statuses.as_dict().items()},
        "skipped": sum(batch.skipped.values()),
        **{f"sampler/{k}": float(v) for k, v in sampler_metrics.items()},
    }


# -- train: the loop --------------------------------------------------------------------------


def _prompt_table(prompts: Sequence[Prompt], eval_prompts: Sequence[Prompt]) -> dict[str, Prompt]:
    """The training prompts by uid; unique uids, at least one prompt, no held-out prompt among them."""
    items = {p.uid: p for p in prompts}
    if len(items) != len(prompts):
        raise TrainError("prompt uids must be unique")
    if not items:
        raise TrainError("no training prompts")
    overlap = {p.prompt for p in prompts} & {p.prompt for p in eval_prompts}
    if overlap:
        raise TrainError(f"{len(overlap)} held-out prompts are also training prompts, e.g. {sorted(overlap)[0]!r}")
    return items


def train(
    policy_path: str | os.PathLike,
    prompts: Sequence[Prompt],
    sampler: Sampler,
    engine: RolloutEngine,
    config: GRPOConfig,
    eval_prompts: Sequence[Prompt] = (),
    on_observation: Callable[[Observation], None] = lambda obs: None,
    on_metrics: Callable[[dict[str, float]], None] = lambda metrics: None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume_from: str | os.PathLike | None = None,
    device: str | None = None,
    run_id: str | None = None,
    initial_eval: EvalResult | None = None,
) -> TrainResult:
    """Train the policy at `policy_path` (a folder or "toy") for `config.steps` rollout batches.

    `engine` samples the rollouts and must start with the same weights; it gets the policy's
    weights after every optimizer step. `sampler` picks uids of `prompts`. Observations and
    per-step metrics go to the callbacks (rank 0 only under torchrun). With `checkpoint_dir`,
    checkpoints are written to checkpoint_dir/step-NNNNNN every `checkpoint_every` steps and at
    the end; `resume_from` (such a folder) continues that run exactly where it stopped.
    `run_id`, the caller's name for the run, is saved in every checkpoint (`checkpoint_state`), so
    the caller of a resumed run can continue the same record. `initial_eval`, the caller's
    evaluation of the starting weights (evaluate at step 0 with the same eval_prompts and config),
    stands in for evaluating them again: runs from the same weights and seed share it.
    """
    if initial_eval is not None and initial_eval.step != 0:
        raise TrainError(f"initial_eval must be of the starting weights (step 0), got step {initial_eval.step}")
    world = World()
    items = _prompt_table(prompts, eval_prompts)
    try:
        path = resolve_model(policy_path)
    except EngineError as exc:
        raise TrainError(str(exc)) from None
    resume_from = Path(resume_from) if resume_from is not None else None
    saved = read_checkpoint(resume_from, config) if resume_from is not None else None
    learner = load_learner(path, resume_from or path, config, world, device)
    start, history, evals = resume(resume_from, saved, learner, sampler, world) if saved is not None else (0, [], [])
    engine.load_weights(world.full_state(learner.policy))
    # What a process without rollouts of its own runs at weight 0: a prompt, no completion.
    filler = Rollout(-1, "", tuple(engine.encode(prompts[0].prompt)), (), "")
    checkpoint = None

    def run_eval(step: int) -> None:
        if eval_prompts:
            evals.append(evaluate(engine, eval_prompts, config, step, world))
            if world.rank == 0:
                on_metrics({"step": step, **{f"eval/{k}": v for k, v in asdict(evals[-1]).items() if k != "step"}})

    def write_checkpoint(step: int) -> Path:
        target = Path(checkpoint_dir) / f"step-{step:06d}"
        state = {
            "step": step,
            "config": asdict(config),
            "sampler": sampler.state_dict(),
            "rng": world.gather(_rng_state()),
            "history": history,
            "evals": [asdict(e) for e in evals],
            "policy": str(path),
            "prompt_format": learner.prompt_format,
            "run_id": run_id,
        }
        save_checkpoint(target, learner.policy, learner.optimizer, learner.tokenizer, state, world)
        return target

    if start == 0 and initial_eval is not None:
        evals.append(initial_eval)
    elif start == 0:
        run_eval(0)
    rollouts_done = sum(m["rollouts"] for m in history)
    done = start
    for step in range(start, config.steps):
        if config.rollout_budget and rollouts_done >= config.rollout_budget:
            break  # a resumed run that had already spent its budget
        batch = collect(engine, sampler, items, config, step, world, on_observation)
        minis = micro_batches(batch, filler, learner, config, _step_seed(config.seed, step, 2), world)
        stats = update(minis, learner, engine, config, world)
        metrics = step_metrics(step, batch, stats, sampler.metrics())
        history.append(metrics)
        if world.rank == 0:
            on_metrics(metrics)
        rollouts_done += metrics["rollouts"]
        done = step + 1
        if done == config.steps or (config.rollout_budget and rollouts_done >= config.rollout_budget):
            break
        if config.eval_every and done % config.eval_every == 0:
            run_eval(done)
        if checkpoint_dir is not None and config.checkpoint_every and done % config.checkpoint_every == 0:
            checkpoint = write_checkpoint(done)
    if done > start or not evals:
        run_eval(done)
    if checkpoint_dir is not None:
        checkpoint = write_checkpoint(done)
    return TrainResult(done, history, evals, learner.prompt_format, checkpoint)
