"""Benchmark: agreement with labels on responses built from reasoning-gym's generated answers.

    python bench/bench_reasoning_gym.py [--items 48] [--seed 0] [--workers 2]

13 numeric reasoning-gym tasks x `--items` generated items x 8 responses each (exact, boxed,
prose, answer tag, an equivalent form, three wrong forms; tests/verifiers/reasoning_gym_pairs.py
builds and labels them). With the defaults that is 4,992 (response, gold) pairs.

Printed: assay's `math` verifier (through verify_batch) and math-verify (parse + verify, the
baseline of bench_verify, on the same pairs), each as agreement with the labels, overall, per
task and per form; the pairs where math-verify is right and assay wrong; and a cross-check of
the labels with reasoning-gym's own scorer (`score_answer` on the answer as written, counted
correct at 1.0): its agreement with the labels per form. reasoning-gym's scorers compare
strings for most tasks, so they reject equivalent forms (and boxed LaTeX) that are right; the
cross-check is meaningful on the exact and wrong forms, where it confirms the golds and the
misses.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

from assay.verifiers import Check, solved, verify_batch
from assay.verifiers.runner import Killed, run_isolated

# Workers never import this script: the baseline lives in a module importable from the root.
ROOT = str(Path(__file__).resolve().parent.parent)
sys.path.insert(0, ROOT)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
from tests.verifiers.baselines import math_verify_pair  # noqa: E402
from tests.verifiers.reasoning_gym_pairs import FORMS, TASKS, build_pairs  # noqa: E402

BASELINE_KILL_S = 5.0


def _table(name: str, right: list[bool], keys: list[str], order: tuple[str, ...]) -> str:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for ok, key in zip(right, keys):
        totals[key][0] += ok
        totals[key][1] += 1
    return f"  {name}: " + ", ".join(f"{k} {totals[k][0]}/{totals[k][1]}" for k in order if k in totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=48, help="generated items per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    pairs = build_pairs(args.items, seed=args.seed)
    labels = [p.label for p in pairs]
    print(f"reasoning-gym agreement benchmark: {len(pairs):,} pairs = {len(TASKS)} tasks x {args.items} items x {len(FORMS)} forms, seed {args.seed}")

    start = time.perf_counter()
    verdicts = verify_batch([Check(p.response, p.gold, "math") for p in pairs], workers=args.workers)
    assay_s = time.perf_counter() - start
    assay_right = [solved(v) == y for v, y in zip(verdicts, labels)]

    start = time.perf_counter()
    calls = [(p.response, p.gold, "math") for p in pairs]
    results, _ = run_isolated(math_verify_pair, calls, workers=args.workers, budgets=[BASELINE_KILL_S] * len(calls))
    mv_s = time.perf_counter() - start
    mv_right = [(r is True) == y for r, y in zip(results, labels)]
    killed = sum(isinstance(r, Killed) for r in results)

    rg_right = [(p.reasoning_gym_score >= 1.0) == p.label for p in pairs]
    for name, right, seconds in (("assay math", assay_right, assay_s), ("math-verify", mv_right, mv_s)):
        print(f"{name}: agreement with the labels {sum(right) / len(pairs):.1%} ({sum(right):,}/{len(pairs):,}) in {seconds:.1f} s")
        print(_table("per task", right, [p.task for p in pairs], TASKS))
        print(_table("per form", right, [p.form for p in pairs], FORMS))
    print(f"math-verify pairs killed at {BASELINE_KILL_S:g} s: {killed}")
    mv_only = [i for i, (a, m) in enumerate(zip(assay_right, mv_right)) if m and not a]
    print(f"pairs where math-verify is right and assay wrong: {len(mv_only)} (goal 0); where assay is right and math-verify wrong: "
          f"{sum(1 for a, m in zip(assay_right, mv_right) if a and not m)}")
    print(f"reasoning-gym's own scorer (score_answer == 1.0 on the answer as written) against the labels: {sum(rg_right) / len(pairs):.1%}")
    print(_table("per form", rg_right, [p.form for p in pairs], FORMS))
    for i in mv_only[:5]:
        print(f"  pair {i}: {pairs[i].task} {pairs[i].form} gold {pairs[i].gold!r}, response ...{pairs[i].response[-80:]!r}, "
              f"assay {verdicts[i]}", file=sys.stderr)


if __name__ == "__main__":
    main()
