"""GRPO at an equal training-rollout budget: uniform sampling from the raw corpus (the baseline)
against curated prompts plus the online sampler.

    python bench/bench_grpo.py [--steps 30] [--rollouts 128]

Both arms train the toy policy from the same checkpoint with the same GRPO settings, the same
steps and the same rollouts per step, and are evaluated on the same built-in held-out set.
- uniform (baseline): every prompt of the built-in corpus, drawn uniformly, equal groups.
- curated + online: the corpus scored offline with the toy (assay.pipelines.difficulty,
  adaptive pass@k), the prompts whose learnable call holds kept, their offline counts seeding
  the online sampler (Thompson toward the learnable band, knapsack allocation).
Printed: zero-variance groups per batch (goal: at most 10%), rollouts per non-degenerate group,
and training rollouts until held-out pass@1 reaches a target (goal: at most half of
uniform's). The offline scoring's rollouts are printed too: they are spent once per policy,
not per training run.

Torch and everything that imports it load inside main(): the verifiers' process pool
preloads this script as __main__, and its workers must not inherit torch.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path


def arm(name, prompts, sampler, eval_prompts, config, target):
    """Train one arm; its per-step figures and the rollouts spent when pass@1 first reached target."""
    from assay.trainers.engines import TransformersEngine
    from assay.trainers.grpo import train

    start = time.perf_counter()
    result = train("toy", prompts, sampler, TransformersEngine("toy", device="cpu"), config, eval_prompts)
    rollouts_by_step = [0]
    for m in result.history:
        rollouts_by_step.append(rollouts_by_step[-1] + m["rollouts"])
    reached = next((rollouts_by_step[e.step] for e in result.evals if e.pass_at_1 >= target), None)
    zero_var = sum(m["zero_variance_groups"] for m in result.history) / len(result.history)
    groups = sum(m["groups"] * (1 - m["zero_variance_groups"]) for m in result.history)
    return {
        "name": name,
        "prompts": len(prompts),
        "rollouts": rollouts_by_step[-1],
        "zero_var": zero_var,
        "per_group": rollouts_by_step[-1] / groups if groups else float("inf"),
        "evals": [(e.step, e.pass_at_1) for e in result.evals],
        "reached": reached,
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rollouts", type=int, default=128, help="rollouts per step (both arms)")
    parser.add_argument("--prompts", type=int, default=16, help="prompts per step (both arms)")
    parser.add_argument("--eval-size", type=int, default=150)
    parser.add_argument("--gain", type=float, default=0.02, help="target: held-out pass@1 at step 0 plus this")
    args = parser.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(1)  # on a shared 2-core machine a second thread mostly waits
    from assay.curricula.difficulty import AdaptiveK
    from assay.curricula.sampler import OnlineSampler, SamplerConfig, SamplerItem
    from assay.pipelines.catalog import Catalog
    from assay.pipelines.difficulty import DifficultyConfig, adaptive_k, estimate_difficulty
    from assay.pipelines.ingest import ingest, resolve_source
    from assay.pipelines.train import TOY_GRPO, builtin_eval_prompts
    from assay.trainers.engines import SamplingConfig
    from assay.trainers.grpo import PromptItem

    # The toy's measured settings (quickstart's): lr 3e-5, two updates per batch.
    config = replace(TOY_GRPO, steps=args.steps, eval_every=5, verifier_workers=1)

    with tempfile.TemporaryDirectory() as tmp, Catalog.open(Path(tmp) / "bench.duckdb") as cat:
        source, name, preset = resolve_source("builtin:arithmetic")
        ingest(cat, source, preset, name)
        rows = cat.con.execute("SELECT uid, prompt, answer, verifier, source FROM records ORDER BY uid").fetchall()
        raw = [PromptItem(uid, prompt, answer, verifier, {}, src) for uid, prompt, answer, verifier, src in rows]
        # The held-out set shares no prompt with either arm (two seeds can draw the same problem).
        eval_prompts = [p for p in builtin_eval_prompts(args.eval_size) if p.prompt not in {r.prompt for r in raw}]
        t = time.perf_counter()
        scored = estimate_difficulty(
            cat, DifficultyConfig(model="toy", k=16, sampling=SamplingConfig(temperature=1.0, max_tokens=200), workers=1)
        )
        offline_s = time.perf_counter() - t
    counts = {p.uid: (p.n, p.n_correct) for p in scored.prompts}
    rule: AdaptiveK = adaptive_k(16)  # the learnable call of the same policy that chose the samples
    uids = sorted(counts)
    learnable = rule.is_learnable(np.array([counts[u][0] for u in uids]), np.array([counts[u][1] for u in uids]))
    keep = {u for u, ok in zip(uids, learnable) if ok}
    curated = [p for p in raw if p.uid in keep]

    batch = dict(prompts_per_batch=args.prompts, rollouts_per_batch=args.rollouts, max_group=args.rollouts // args.prompts * 2)
    uniform_sampler = OnlineSampler([SamplerItem(p.uid, p.group) for p in raw], SamplerConfig(strategy="uniform", allocation="equal", **batch))
    online_sampler = OnlineSampler([SamplerItem(p.uid, p.group, *counts[p.uid]) for p in curated], SamplerConfig(**batch))

    # The target is set from the shared starting point: both arms begin from the same weights.
    from assay.trainers.engines import TransformersEngine
    from assay.trainers.grpo import World, evaluate

    start = evaluate(TransformersEngine("toy", device="cpu"), eval_prompts, config, 0, World()).pass_at_1
    target = start + args.gain
    base = arm("uniform, raw corpus", raw, uniform_sampler, eval_prompts, config, target)
    ours = arm("curated + online sampler", curated, online_sampler, eval_prompts, config, target)

    print(f"GRPO on the toy policy: {args.steps} steps x {args.rollouts} rollouts ({args.prompts} prompts/step) per arm, "
          f"held-out set {len(eval_prompts)} built-in problems, pass@1 at step 0 {start:.3f}, target {target:.3f}")
    print(f"offline scoring for curation: {scored.sampled:,} rollouts ({offline_s:.0f} s), "
          f"{len(curated)} of {len(raw)} prompts kept as learnable")
    for r in (base, ours):
        evals = "  ".join(f"{s}:{p:.3f}" for s, p in r["evals"])
        reached = f"{r['reached']:,} rollouts" if r["reached"] is not None else "not reached"
        print(f"  {r['name']:<26} prompts {r['prompts']:>5}  rollouts {r['rollouts']:>6,}  zero-variance groups {r['zero_var']:6.1%}  "
              f"rollouts per non-degenerate group {r['per_group']:6.1f}  target {reached}  ({r['seconds']:.0f} s)")
        print(f"  {'':<26} held-out pass@1 by step: {evals}")
    zero_ok = ours["zero_var"] <= 0.10
    print(f"zero-variance groups: {ours['zero_var']:.1%} vs uniform {base['zero_var']:.1%} "
          f"(ratio {ours['zero_var'] / base['zero_var']:.2f}x; goal <= 10%) -> {'met' if zero_ok else 'not met'}")
    print(f"rollouts per non-degenerate group: {ours['per_group']:.1f} vs uniform {base['per_group']:.1f} "
          f"(ratio {ours['per_group'] / base['per_group']:.2f}x)")
    if ours["reached"] is not None and base["reached"] is not None:
        ratio = ours["reached"] / base["reached"]
        print(f"rollouts to reach pass@1 {target:.3f}: {ours['reached']:,} vs uniform {base['reached']:,} "
              f"(ratio {ratio:.2f}x; goal <= 0.5x) -> {'met' if ratio <= 0.5 else 'not met'}")
    else:
        print(f"rollouts to reach pass@1 {target:.3f}: curated {ours['reached'] or 'not reached'}, "
              f"uniform {base['reached'] or 'not reached'} within {base['rollouts']:,} -> no ratio (goal <= 0.5x not shown)")


if __name__ == "__main__":
    main()
