"""GRPO with TRL on an `assay export --format trl` folder, rewarded by assay's verifiers.

    assay export --plan plans/RUN.parquet --format trl --out trl-shards
    python examples/train_trl.py trl-shards --model toy                  # CPU: the built-in toy policy
    python examples/train_trl.py trl-shards --model Qwen/Qwen2.5-0.5B-Instruct --steps 200   # a GPU

Written the way TRL's own examples are: top-level code, `import torch` first, no
`if __name__ == "__main__"` guard. None is needed: assay's verifier workers are fresh
interpreters that never import this script. On CPU, bf16 must be off (TRL's GRPOConfig turns
it on by default and fails with "Your setup doesn't support bf16/gpu"); this script turns it
on only where CUDA supports it. `log_completions` writes every step's prompts, completions and
`trl_reward` values to OUT/completions/completions_NNNNN.parquet. `trl_reward` raises
assay.verifiers.rewards.RewardError instead of training on zeros when verdicts cannot be given.
"""

import argparse

import torch
from datasets import load_from_disk
from trl import GRPOConfig, GRPOTrainer

from assay.trainers.engines import MODELS
from assay.verifiers.rewards import trl_reward

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("shards", help="a folder written by `assay export --format trl`")
parser.add_argument("--model", default="toy", help="a Hugging Face model id or folder, or 'toy' (assay's built-in policy)")
parser.add_argument("--out", default="trl-run", help="TRL's output_dir")
parser.add_argument("--steps", type=int, default=20, help="optimizer steps")
parser.add_argument("--prompts-per-step", type=int, default=2)
parser.add_argument("--generations", type=int, default=4, help="completions per prompt (the GRPO group)")
parser.add_argument("--max-completion-length", type=int, default=128, help="tokens; the toy's context is 256")
parser.add_argument("--lr", type=float, default=3e-5, help="3e-5 suits the toy; ~1e-6 suits billion-parameter models")
args = parser.parse_args()

dataset = load_from_disk(f"{args.shards}/dataset")
bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
config = GRPOConfig(
    output_dir=args.out,
    max_steps=args.steps,
    per_device_train_batch_size=args.prompts_per_step * args.generations,
    num_generations=args.generations,
    max_completion_length=args.max_completion_length,
    learning_rate=args.lr,
    bf16=bf16,  # False on CPU: required there
    logging_steps=1,
    log_completions=True,
    report_to="none",
    save_strategy="no",
    seed=0,
)
trainer = GRPOTrainer(
    model=str(MODELS.get(args.model, args.model)),
    reward_funcs=[trl_reward],
    args=config,
    train_dataset=dataset,
)
trainer.train()
