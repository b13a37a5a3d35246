"""GRPOConfig, the GRPO trainer's settings (assay.trainers.grpo), importable without torch: a
command builds its flags and checks its config file from these fields before anything heavy
loads (assay.pipelines.config.settings). Each field has one default and one doc string
(`metadata={"help": ...}`).

Example:
    >>> GRPOConfig(steps=1, eval_every=0).lr
    1e-05
    >>> GRPOConfig(micro_batch=0)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ...
    TrainError: micro_batch must be positive, got 0
"""

from __future__ import annotations

from dataclasses import dataclass, field

from assay.verifiers import DEFAULT_TIMEOUT_S
from assay.verifiers.names import choose


class TrainError(ValueError):
    """A configuration, prompt set or checkpoint the trainer cannot use; the message says which."""


@dataclass(frozen=True)
class GRPOConfig:
    steps: int = field(default=100, metadata={"help": "Rollout batches; each is followed by `updates_per_batch` optimizer steps."})
    # The keys of assay.trainers.grpo's ADVANTAGES and REWARDS, spelled out: those tables hold torch
    # code, and these settings are read before torch loads (tests/trainers/test_grpo_math.py holds them in step).
    advantage: str = field(default="grpo", metadata={"help": "Advantage estimator: grpo, dr_grpo, rloo or spo."})
    reward: str = field(default="verifier", metadata={
        "help": "What a rollout is rewarded with: verifier or random (random: a fair coin, the spurious-reward control)."})
    lr: float = field(default=1e-5, metadata={
        "help": "AdamW learning rate, constant (3e-5 suits the toy; ~1e-6 suits billion-parameter LLMs)."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient norm clip per optimizer step."})
    clip_low: float = field(default=0.2, metadata={"help": "The ratio's lower clip is 1 - clip_low."})
    clip_high: float = field(default=0.28, metadata={"help": "The ratio's upper clip is 1 + clip_high (clip-higher)."})
    kl_coef: float = field(default=0.0, metadata={
        "help": "Weight of the k3 KL to the initial policy; > 0 keeps a frozen copy of it."})
    updates_per_batch: int = field(default=1, metadata={
        "help": "Optimizer steps per rollout batch, on disjoint mini-batches (later ones are clipped off-policy updates)."})
    micro_batch: int = field(default=64, metadata={
        "help": "Rollouts per forward/backward; gradients accumulate over a mini-batch (lower it to save memory)."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature of training rollouts and of evaluation."})
    max_tokens: int = field(default=256, metadata={"help": "Most tokens per completion."})
    eval_every: int = field(default=10, metadata={"help": "Steps between held-out evaluations; 0: only before and after training."})
    eval_k: int = field(default=4, metadata={"help": "Samples per held-out prompt: pass@1 is their mean, pass@k any correct."})
    checkpoint_every: int = field(default=0, metadata={
        "help": "Steps between checkpoints (with a checkpoint folder); 0: only at the end."})
    seed: int = field(default=0, metadata={
        "help": "Seed of the rollouts, the mini-batch order and random rewards (with the step)."})
    verifier_workers: int | None = field(default=None, metadata={"help": "Verifier processes; unset: one per core."})
    verifier_timeout_s: float = field(default=DEFAULT_TIMEOUT_S, metadata={
        "help": "Seconds one verification may take; one still running is a timeout: sampled again, never scored."})
    max_verifier_failures: float = field(default=0.05, metadata={
        "help": "Share of a step's verdicts that may be timeout or error; above it the run stops instead of recording "
                "(a loaded machine or a too short verifier timeout)."})
    refill_rounds: int = field(default=0, metadata={
        "help": "DAPO's dynamic sampling: a step's zero-variance groups are dropped and up to this many more sampler "
                "batches refill it, until it holds as many groups with a signal as its first draw had; 0: off "
                "(zero-variance groups stay in the batch with advantage 0)."})
    rollout_budget: int = field(default=0, metadata={
        "help": "Stop after the step whose rollouts (refills included) reach this; 0: `steps` alone."})

    def __post_init__(self) -> None:
        from assay.trainers.grpo import ADVANTAGES, REWARDS  # the strategy tables hold torch code: checked on use

        choose(ADVANTAGES, self.advantage, "advantage")
        choose(REWARDS, self.reward, "reward")
        positive = ("steps", "lr", "updates_per_batch", "micro_batch", "temperature", "max_tokens", "eval_k")
        for name in positive:
            if not getattr(self, name) > 0:
                raise TrainError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("clip_low", "clip_high", "kl_coef", "weight_decay", "eval_every", "checkpoint_every", "refill_rounds", "rollout_budget"):
            if getattr(self, name) < 0:
                raise TrainError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.verifier_timeout_s > 0:
            raise TrainError(f"verifier_timeout_s must be positive, got {self.verifier_timeout_s}")
        if not 0.0 <= self.max_verifier_failures <= 1.0:
            raise TrainError(f"max_verifier_failures must be a share in [0, 1], got {self.max_verifier_failures}")
        if self.clip_low >= 1:
            raise TrainError(f"clip_low must be below 1 (the ratio's lower bound is 1 - clip_low), got {self.clip_low}")
