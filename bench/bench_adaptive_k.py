"""Adaptive k against fixed k = 16: rollouts spent, and the learnable / not-learnable call.

Baseline, side by side in the same run: fixed k = 16 on every prompt, learnable when its pass
rate c/16 lies in the band [0.1, 0.9]. Adaptive k (assay.curricula.difficulty.AdaptiveK, as
`assay difficulty --policy adaptive --k 16` configures it: 4 samples first, half of fixed k's
budget in all, at most 32 on one prompt) calls a prompt learnable when its pooled posterior
puts more than half its mass in the band.

1. Simulation: 10,000 prompts with a U-shaped pass-rate distribution (40% near 0 drawn from
   Beta(1, 40), 40% near 1 from Beta(40, 1), 20% uniform), so the true rates are known.
2. The toy model on the built-in corpus: the real pipeline (`estimate_difficulty`) in two
   fresh catalogs, one per policy; no truth here, so agreement with fixed k is what is shown.

Goal (issue 4): the same or better classification with at most 50% of fixed k's rollouts.

    python bench/bench_adaptive_k.py [--prompts 300]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from assay.pipelines.store.catalog import Catalog
from assay.pipelines.steps.difficulty import DifficultyConfig, adaptive_k, estimate_difficulty
from assay.pipelines.steps.ingest import ingest, resolve_source
from assay.trainers.engines import SamplingConfig, TransformersEngine

BAND = (0.1, 0.9)


def fixed_call(n: np.ndarray, c: np.ndarray) -> np.ndarray:
    rate = c / n
    return (rate >= BAND[0]) & (rate <= BAND[1])


def simulate(size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    kind = rng.choice(3, size=size, p=[0.4, 0.4, 0.2])
    p = np.where(kind == 0, rng.beta(1, 40, size), np.where(kind == 1, rng.beta(40, 1, size), rng.uniform(0, 1, size)))
    truth = (p >= BAND[0]) & (p <= BAND[1])
    fixed = fixed_call(np.full(size, 16), rng.binomial(16, p))
    policy = adaptive_k(16)
    n, c = np.zeros(size, int), np.zeros(size, int)
    rounds = 0
    while (more := policy.more_samples(n, c)).any():
        c += rng.binomial(more, p)
        n += more
        rounds += 1
    adaptive = policy.is_learnable(n, c)
    print(f"simulation: {size:,} prompts, U-shaped pass rates ({truth.mean():.0%} truly learnable)")
    print(f"  fixed k=16     rollouts {16 * size:>8,}   accuracy vs true rates {(fixed == truth).mean():.2%}")
    print(f"  adaptive k     rollouts {n.sum():>8,}   accuracy vs true rates {(adaptive == truth).mean():.2%}"
          f"   ({rounds} rounds, max {n.max()} on one prompt)")
    print(f"  rollouts adaptive/fixed {n.sum() / (16 * size):.2f}x   agreement adaptive vs fixed {(adaptive == fixed).mean():.2%}")


def toy(prompts: int) -> None:
    engine = TransformersEngine("toy")
    sampling = SamplingConfig(temperature=1.0, max_tokens=256)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for policy in ("fixed", "adaptive"):
            with Catalog.open(Path(tmp) / f"{policy}.duckdb") as cat:
                source, name, preset = resolve_source("builtin:arithmetic", count=prompts, seed=0)
                ingest(cat, source, preset, name)
                results[policy] = estimate_difficulty(cat, DifficultyConfig(model="toy", k=16, policy=policy, sampling=sampling), engine=engine)
    fixed = {p.uid: p for p in results["fixed"].prompts}
    adaptive = {p.uid: p for p in results["adaptive"].prompts}
    uids = sorted(fixed)
    fixed_calls = fixed_call(np.array([fixed[u].n for u in uids]), np.array([fixed[u].n_correct for u in uids]))
    n = np.array([adaptive[u].n for u in uids])
    c = np.array([adaptive[u].n_correct for u in uids])
    adaptive_calls = adaptive_k(16).is_learnable(n, c)
    spent = {k: r.sampled for k, r in results.items()}
    print(f"toy model on the built-in corpus: {prompts:,} prompts, temperature 1.0")
    print(f"  fixed k=16     rollouts {spent['fixed']:>8,}   learnable {fixed_calls.mean():.1%}")
    print(f"  adaptive k     rollouts {spent['adaptive']:>8,}   learnable {adaptive_calls.mean():.1%}"
          f"   ({results['adaptive'].rounds} rounds)")
    print(f"  rollouts adaptive/fixed {spent['adaptive'] / spent['fixed']:.2f}x   agreement adaptive vs fixed "
          f"{(adaptive_calls == fixed_calls).mean():.2%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=300, help="built-in prompts for the toy-model part")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    simulate(10_000, args.seed)
    toy(args.prompts)


if __name__ == "__main__":
    main()
