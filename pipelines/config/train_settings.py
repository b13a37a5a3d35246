"""`assay train`'s settings: TrainRunConfig is the command's flags, its --config file and its
--example-config at once (assay.pipelines.config.settings derives all three from the fields).

Top-level keys are the run's; `[sampler]` is the online sampler (assay.curricula.sampler),
`[grpo]` the trainer (assay.trainers.grpo), `[template]` the prompt template. Importable without
torch: the command checks its flags and config file before anything heavy loads.

Example:
    >>> config = train_config({"shards": "s", "model": "toy", "steps": 3, "grpo": {"kl_coef": 0.05}}, "x")
    >>> config.grpo.kl_coef, config.grpo.lr, config.grpo.steps, config.sampler.decay
    (0.05, 3e-05, 3, 0.8)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from assay.curricula.sampler import SamplerConfig
from assay.pipelines.errors import AssayError, chosen
from assay.pipelines.config.settings import build, example_config, table
from assay.trainers.grpo_config import GRPOConfig
from assay.trainers.prompts import PromptTemplate
from assay.trainers.rollout import ENGINE_CHOICES, ENGINE_HELP

BUILTIN_EVAL = "builtin:arithmetic-eval"


@dataclass(frozen=True)
class TrainRunConfig:
    shards: str = field(metadata={"help": "Shard folder written by `assay export --format parquet` (or `assay curate`).",
                                  "example": "shards"})
    model: str = field(metadata={"help": "Built-in 'toy', a local checkpoint folder, or a hub id ORG/NAME.", "example": "toy"})
    steps: int = field(default=100, metadata={"help": "Rollout batches to train on."})
    eval: str | None = field(default=None, metadata={
        "help": f"Held-out set: {BUILTIN_EVAL} or a shard folder; unset: hold out eval_size of the shards' prompts."})
    eval_size: int = field(default=64, metadata={"help": "Held-out prompts evaluated."})
    engine: str = field(default="auto", metadata={"help": ENGINE_HELP})
    out: str | None = field(default=None, metadata={
        "help": "Run folder (metrics.jsonl, tensorboard/, checkpoints/); unset: runs/<run id> beside the catalog."})
    resume: str | None = field(default=None, metadata={
        "help": "Continue from a checkpoint folder of an earlier run (.../checkpoints/step-NNNNNN)."})
    trust_remote_code: bool = field(default=False, metadata={
        "help": "Run the checkpoint's own Python code. Only for code you have read."})
    verifier: str | None = field(default=None, metadata={
        "help": "Judge every prompt, held-out ones too, with this verifier: a built-in, an `assay.verifiers` entry point, "
                "or package.module:function (README: Your own reward); unset: each row's own."})
    sampler: SamplerConfig = table(
        SamplerConfig, "The online sampler: which prompts each step trains on, and how many rollouts each gets. "
        "Its seed is [grpo] seed.",
        flags={"strategy": ("--sampler",), "allocation": ("--allocation",), "prompts_per_batch": ("--prompts-per-step",),
               "rollouts_per_batch": ("--rollouts-per-step",)},
        set_by_run={"seed": "seed in [grpo]"})
    # The toy's settings, measured (tests/trainers/test_grpo_learning.py): lr 1e-4 already lowers
    # held-out accuracy, 3e-5 raises it within tens of steps; GRPOConfig's own defaults suit a library caller.
    grpo: GRPOConfig = table(
        GRPOConfig, "The GRPO trainer. assay train's defaults differ from GRPOConfig's in lr (3e-5, measured on the toy) "
        "and updates_per_batch (2). Its steps are the run's steps; its seed also seeds the sampler and the held-out split.",
        prefix="", defaults={"lr": 3e-5, "updates_per_batch": 2},
        flags={"updates_per_batch": ("--updates-per-step",), "verifier_timeout_s": ("--verifier-timeout",)},
        set_by_run={"steps": "steps at the top level (it is the run's)"})
    template: PromptTemplate | None = table(
        PromptTemplate, "The prompt template; unset: the one the shards' manifest records.", optional=True,
        flags={"system": ("--system-prompt",), "instruction": ("--instruction",), "position": ("--instruction-position",)})

    def __post_init__(self) -> None:
        chosen(ENGINE_CHOICES, self.engine, "engine", "--engine:")
        if self.eval_size < 1:
            raise AssayError(f"--eval-size must be positive, got {self.eval_size}")
        # One steps and one seed: the trainer's are the run's, the sampler's is the trainer's.
        object.__setattr__(self, "grpo", replace(self.grpo, steps=self.steps))
        object.__setattr__(self, "sampler", replace(self.sampler, seed=self.grpo.seed))


TRAIN_EXAMPLE_CONFIG = example_config(TrainRunConfig, """\
# assay train config: top-level keys are the run, [sampler] the online sampler, [grpo] the trainer,
# [template] the prompts. Omitted keys take the defaults shown; a flag given on the command line
# wins over this file. Each setting's flags are in brackets.""")


def train_config(raw: dict[str, Any], where: str) -> TrainRunConfig:
    """A TrainRunConfig from TOML-shaped values (a --config file with the flags laid over it). A
    mistake names its table and key, and the valid keys."""
    return build(TrainRunConfig, raw, where)
