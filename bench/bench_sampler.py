"""Online sampler strategies and rollout allocations at an equal rollout budget, in simulation.

Baseline, side by side in the same run: uniform sampling with equal allocation (16 prompts a
step, 128 rollouts split 8 each), what a trainer without a sampler does. Every other pairing
of a strategy (assay.curricula.sampler.STRATEGIES) with an allocation (ALLOCATIONS) gets the
same budget, the same pool, the same catalog seeds and the same number of steps.

The pool (no model): prompts with known true pass rates, U-shaped like a real corpus scored by
a small policy: 40% near 0 (Beta(1, 40)), 40% near 1 (Beta(40, 1)), 20% uniform. The catalog
seeds every posterior with an offline pass@16 count drawn from the starting rates; the bandit's
arms are five difficulty buckets of that count (0, 1-4, 5-11, 12-15, 16 of 16). The policy
improves slowly, and only on what it trains on: every non-degenerate group raises that prompt's
logit pass rate by 0.1, so a sampler has to keep tracking which prompts are still learnable.

Printed per pairing: the fraction of rolled-out groups with zero variance (all rewards equal:
GRPO drops them), rollouts spent per non-degenerate group, non-degenerate groups, rollouts and
candidates skipped before rollout as predicted zero-variance per step, and the pool's mean true
pass rate at the end; then next_batch time on a pool of a million prompts. Ratios are against
the baseline. The knapsack funds only candidates worth a rollout, so where few of the drawn
candidates are (uniform or spo on this pool) it leaves part of the budget unspent: compare
rollouts per step, not only the zero-variance fraction.

    python bench/bench_sampler.py [--prompts 2000] [--steps 300]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from assay.curricula.sampler import ALLOCATIONS, STRATEGIES, OnlineSampler, SamplerConfig, SamplerItem

BASELINE = ("uniform", "equal")
BUCKETS = (0, 1, 5, 12, 16)  # lower edges of the difficulty buckets, in correct of 16


def u_shaped_pool(size: int, rng: np.random.Generator) -> np.ndarray:
    """True pass rates: 40% near 0, 40% near 1, 20% anywhere.  [size]"""
    kind = rng.choice(3, size=size, p=[0.4, 0.4, 0.2])
    return np.where(kind == 0, rng.beta(1, 40, size), np.where(kind == 1, rng.beta(40, 1, size), rng.uniform(0, 1, size)))


def catalog_items(rates: np.ndarray, rng: np.random.Generator) -> list[SamplerItem]:
    """Offline pass@16 counts at the starting rates, bucketed for the bandit."""
    correct = rng.binomial(16, rates)
    bucket = np.searchsorted(BUCKETS, correct, side="right") - 1
    return [SamplerItem(f"p{i}", group=f"b{bucket[i]}", n=16, n_correct=int(c)) for i, c in enumerate(correct)]


def train(items: list[SamplerItem], rates: np.ndarray, config: SamplerConfig, steps: int, seed: int) -> dict[str, float]:
    """Run the simulated trainer for `steps` steps; the figures of one pairing."""
    rates = rates.copy()
    logit = np.log(rates) - np.log1p(-rates)
    rng = np.random.default_rng(seed)
    sampler = OnlineSampler(items, config)
    for _ in range(steps):
        for draw in sampler.next_batch():
            i = int(draw.uid[1:])
            rewards = (rng.random(draw.n) < rates[i]).astype(float)  # [n] 0/1 verifier scores
            sampler.observe(draw.uid, rewards.tolist())
            if rewards.min() != rewards.max():  # a gradient step on this prompt
                logit[i] += 0.1
                rates[i] = 1.0 / (1.0 + np.exp(-logit[i]))
    m = sampler.metrics()
    return {
        "zero_variance": m["total/observed_zero_variance_fraction"],
        "rollouts_per_nondegenerate": m["total/rollouts_per_nondegenerate_group"],
        "skipped": m["total/predicted_zero_variance_skipped"] / steps,
        "rollouts": m["total/observed_rollouts"] / steps,
        "nondegenerate": (m["total/groups"] - m["total/observed_zero_variance"]) / steps,
        "final_p": float(rates.mean()),
    }


def time_next_batch(size: int, repeats: int) -> dict[str, float]:
    """Median CPU seconds of one next_batch on `size` prompts, per strategy (knapsack allocation):
    CPU time of this process, so other load on a shared machine does not count."""
    rng = np.random.default_rng(0)
    correct = rng.binomial(16, u_shaped_pool(size, rng))
    items = [SamplerItem(f"p{i}", group=f"b{i % 5}", n=16, n_correct=int(c)) for i, c in enumerate(correct)]
    out = {}
    for strategy in STRATEGIES:
        sampler = OnlineSampler(items, SamplerConfig(strategy=strategy))
        times = []
        for _ in range(repeats):
            start = time.process_time()
            sampler.next_batch()
            times.append(time.process_time() - start)
        out[strategy] = float(np.median(times))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--decay", type=float, default=SamplerConfig.decay)
    parser.add_argument("--timing-prompts", type=int, default=1_000_000)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    rates = u_shaped_pool(args.prompts, rng)
    items = catalog_items(rates, rng)
    start_learnable = float(((rates >= 0.1) & (rates <= 0.9)).mean())
    print(f"pool: {args.prompts:,} prompts, U-shaped true pass rates ({start_learnable:.0%} in [0.1, 0.9]), "
          f"mean {rates.mean():.3f}; {args.steps} steps of 16 prompts and 128 rollouts; decay {args.decay}")
    pairings = [BASELINE] + [(s, a) for s in STRATEGIES for a in ALLOCATIONS if (s, a) != BASELINE]
    results = {
        pair: train(items, rates, SamplerConfig(strategy=pair[0], allocation=pair[1], decay=args.decay), args.steps, seed=1)
        for pair in pairings
    }
    base = results[BASELINE]
    print(f"{'strategy + allocation':<22} {'zero-var groups':>15} {'ratio':>6} {'rollouts/useful':>15} {'ratio':>6} "
          f"{'useful/step':>11} {'rollouts/step':>13} {'skipped/step':>12} {'final mean p':>12}")
    for (strategy, allocation), r in results.items():
        name = f"{strategy} + {allocation}" + (" (base)" if (strategy, allocation) == BASELINE else "")
        print(f"{name:<22} {r['zero_variance']:>15.3f} {r['zero_variance'] / base['zero_variance']:>5.2f}x "
              f"{r['rollouts_per_nondegenerate']:>15.2f} {r['rollouts_per_nondegenerate'] / base['rollouts_per_nondegenerate']:>5.2f}x "
              f"{r['nondegenerate']:>11.2f} {r['rollouts']:>13.1f} {r['skipped']:>12.2f} {r['final_p']:>12.3f}")

    times = time_next_batch(args.timing_prompts, repeats=5)
    print(f"next_batch on {args.timing_prompts:,} prompts (CPU time, median of 5), against uniform:")
    for strategy, seconds in times.items():
        print(f"  {strategy:<9} {seconds * 1e3:7.1f} ms   {seconds / times['uniform']:6.1f}x")


if __name__ == "__main__":
    main()
