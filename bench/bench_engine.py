"""Rollout speed of TransformersEngine on the built-in toy policy, and the toy's accuracy.

    python bench/bench_engine.py [--prompts 300] [--n 4] [--threads 2]

Workload: the first PROMPTS problems of the built-in corpus (`builtin:arithmetic`, seed 0,
default ArithmeticSpec), N samples each, at the toy's default sampling (temperature 1.0,
top-p 1.0). Both sides generate the same workload side by side in this run, with the same
batch size and KV cache:

- assay: `TransformersEngine.generate` (own batched decode loop, counter-based sampling,
  finished rows dropped from the cache).
- baseline: Hugging Face `model.generate`, batched: `num_return_sequences=N`, sampling,
  left padding, prompts in corpus order, in batches of the same size.

It prints generated tokens per second for each and their ratio, then the toy's accuracy
per step count from the assay side, sampled and greedy (last \\boxed{} integer equal to the
gold; the real verifiers live in assay.verifiers).
"""

from __future__ import annotations

import argparse
import re
import time
from collections import defaultdict

import torch

from assay.curricula.arithmetic import generate_arithmetic
from assay.trainers.engines import SamplingConfig, TransformersEngine, resolve_model

BOXED = re.compile(r"\\boxed\{(-?\d+)\}")


def boxed_int(text: str) -> int | None:
    found = BOXED.findall(text)
    return int(found[-1]) if found else None


def run_assay(engine: TransformersEngine, prompts: list[str], n: int, sampling: SamplingConfig):
    start = time.perf_counter()
    results = engine.generate(prompts, n, sampling)
    seconds = time.perf_counter() - start
    tokens = sum(c.tokens for r in results for c in r)
    return results, tokens, seconds


@torch.inference_mode()
def run_hf_generate(engine: TransformersEngine, prompts: list[str], n: int, sampling: SamplingConfig):
    """The baseline: HF generate over the same prompts, same batch size in sequences."""
    tok, model = engine.tokenizer, engine.model
    tok.padding_side = "left"
    per_batch = max(1, engine.batch_size // n)
    tokens, start = 0, time.perf_counter()
    torch.manual_seed(sampling.seed)
    for i in range(0, len(prompts), per_batch):
        ids = [engine.encode(p) for p in prompts[i : i + per_batch]]
        enc = tok.pad({"input_ids": ids}, return_tensors="pt")
        out = model.generate(
            **enc,
            do_sample=sampling.temperature > 0,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            # Same cap as the engine: no further than the model's context.
            max_new_tokens=min(sampling.max_tokens, engine.context - enc["input_ids"].shape[1]),
            num_return_sequences=n,
            pad_token_id=tok.pad_token_id,
        )
        new = out[:, enc["input_ids"].shape[1] :]
        # Count like the engine: tokens up to and including the first EOS.
        eos = new == tok.eos_token_id
        ended = eos.any(-1)
        first = eos.float().argmax(-1)
        tokens += int(torch.where(ended, first + 1, (new != tok.pad_token_id).sum(-1)).sum())
    return tokens, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=300)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    engine = TransformersEngine(resolve_model("toy"), device="cpu", batch_size=args.batch_size)
    sampling = SamplingConfig(temperature=1.0, top_p=1.0, max_tokens=224, seed=0)
    problems = generate_arithmetic(args.prompts, seed=0)
    prompts = [p.prompt for p in problems]
    engine.generate(prompts[:16], 1, sampling)  # warm-up

    results, ours, ours_s = run_assay(engine, prompts, args.n, sampling)
    theirs, theirs_s = run_hf_generate(engine, prompts, args.n, sampling)
    print(f"workload: {len(prompts)} built-in prompts x {args.n} samples, temperature 1.0, "
          f"batch {args.batch_size}, {torch.get_num_threads()} CPU threads")
    print(f"assay TransformersEngine      {ours:8,d} tokens in {ours_s:6.1f} s = {ours / ours_s:8,.0f} tokens/s")
    print(f"baseline HF generate, batched {theirs:8,d} tokens in {theirs_s:6.1f} s = {theirs / theirs_s:8,.0f} tokens/s")
    print(f"ratio assay / baseline: {(ours / ours_s) / (theirs / theirs_s):.2f}x")

    # Greedy next to sampled: the gap is what sampling noise costs, the part of the toy's errors
    # a policy gradient on verifier rewards can remove quickest (see assay.trainers.toy).
    greedy = engine.generate(prompts, 1, SamplingConfig(temperature=0.0, max_tokens=224, seed=0))
    right: dict[int, list[bool]] = defaultdict(list)
    right_greedy: dict[int, list[bool]] = defaultdict(list)
    for p, samples, best in zip(problems, results, greedy):
        right[p.steps] += [boxed_int(c.text) == int(p.answer) for c in samples]
        right_greedy[p.steps].append(boxed_int(best[0].text) == int(p.answer))
    print("toy accuracy by steps: temperature 1.0 | greedy")
    for steps in sorted(right):
        r, g = right[steps], right_greedy[steps]
        print(f"  {steps} steps: {sum(r) / len(r):5.1%}  ({sum(r)}/{len(r)})  |  {sum(g) / len(g):5.1%}  ({sum(g)}/{len(g)})")


if __name__ == "__main__":
    main()
