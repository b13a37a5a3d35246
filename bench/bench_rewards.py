"""Benchmark: what assay's reward functions for TRL, verl and OpenRLHF cost per call.

    python bench/bench_rewards.py [--items 512] [--workers N]

Items: responses to the built-in arithmetic corpus as a policy writes them (working, then a
\\boxed{} answer), half right and half with a slipped digit. Measured in this process, in order:
the first call (it starts the verifier workers: each imports and warms sympy), then warm calls
of every entry point on the same items:

- `trl_reward` over batches of 64 and of all items (TRL's form: one call per generation batch);
- `compute_score` once per item (verl's naive and dapo managers with a plain function);
- `compute_score_async`, every item awaited together (verl's reward loop: one batch);
- `reward_func` once per item (OpenRLHF 0.11: one query per call).

Baseline, side by side: `assay.verifiers.verify` in this process, one item after another (no
pool, no isolation, no timeouts): the ratio is what isolation costs per item. Wall-clock
seconds; the numbers vary with machine load, the verdicts do not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time

from assay.pipelines.steps.ingest import BUILTINS
from assay.verifiers import verify
from assay.verifiers.rewards import RewardSettings, compute_score, compute_score_async, reward_func, trl_reward


def items(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for row in BUILTINS["arithmetic"].rows(n, seed):
        answer = row["answer"]
        slipped = answer[:-1] + str((int(answer[-1]) + 1) % 10)
        final = answer if rng.random() < 0.5 else slipped
        out.append((f"{row['problem'].removeprefix('Compute ').rstrip('.')}={answer} \\boxed{{{final}}}", answer))
    return out


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=512)
    parser.add_argument("--workers", type=int, default=None, help="ASSAY_REWARD_WORKERS (default: min(4, CPUs))")
    args = parser.parse_args()
    if args.workers:
        import os

        os.environ["ASSAY_REWARD_WORKERS"] = str(args.workers)
    pairs = items(args.items)
    workers = RewardSettings.from_env().workers
    answers, responses = [g for _, g in pairs], [r for r, _ in pairs]
    options = dict(verifier=["math"] * len(pairs), verifier_options=["{}"] * len(pairs))

    def trl(lo: int, hi: int) -> list[float]:
        return trl_reward([None] * (hi - lo), responses[lo:hi], answer=answers[lo:hi], verifier=options["verifier"][lo:hi],
                          verifier_options=options["verifier_options"][lo:hi])

    first, _ = timed(lambda: trl(0, 64))
    baseline, expected = timed(lambda: [verify(r, g).score for r, g in pairs])
    batch64 = [timed(lambda lo=lo: trl(lo, lo + 64))[0] for lo in range(0, len(pairs) - 63, 64)]
    whole, trl_scores = timed(lambda: trl(0, len(pairs)))
    per_sample, verl_scores = timed(lambda: [compute_score("arithmetic", r, g, {"verifier": "math"}) for r, g in pairs])

    async def together():
        return await asyncio.gather(*[compute_score_async("arithmetic", r, g, {"verifier": "math"}) for r, g in pairs])

    batched, async_scores = timed(lambda: asyncio.run(together()))
    import torch  # noqa: F401 - imported by OpenRLHF long before its first reward call; not charged to the calls

    label = json.dumps({"answer": "", "verifier": "math", "verifier_options": {}})
    openrlhf, rlhf_scores = timed(lambda: [reward_func(["P" + r], ["P"], [json.loads(label) | {"answer": g}])["rewards"].item()
                                           for r, g in pairs])
    assert trl_scores == verl_scores == async_scores == rlhf_scores == expected, "an entry point disagrees with verify()"
    n = len(pairs)
    per = baseline / n

    def line(name: str, seconds: float, calls: int, items_per_call: int) -> None:
        each = seconds / calls
        print(f"  {name:<44} {each * 1e3:9.2f} ms/call  {seconds / (calls * items_per_call) * 1e3:7.3f} ms/item  "
              f"ratio per item vs baseline {seconds / (calls * items_per_call) / per:6.2f}x")

    print(f"reward calls on {n} arithmetic responses ({sum(expected):.0f} right), {workers} verifier workers")
    print(f"  first call (starts {workers} workers), 64 items       {first:9.2f} s")
    print(f"  baseline: verify() in this process, one by one   {per * 1e3:9.3f} ms/item")
    line("trl_reward, batches of 64 (median)", statistics.median(batch64), 1, 64)
    line(f"trl_reward, one batch of {n}", whole, 1, n)
    line("compute_score, one item per call (verl naive)", per_sample, n, 1)
    line(f"compute_score_async, {n} awaited together", batched, 1, n)
    line("reward_func, one query per call (OpenRLHF)", openrlhf, n, 1)


if __name__ == "__main__":
    main()
