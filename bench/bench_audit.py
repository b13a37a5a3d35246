"""The memorization audit, validated: plant memorization, then see whether the audit finds it.

The 20 hand-written problems of bench/decontam_fixture.py form a benchmark. The toy policy is
fine-tuned (plain text, assay.trainers.sft) on 10 of them; the audit then scores all 20 with
the fine-tuned model and with the untouched toy. Printed: the AUC with which each probe's score
separates the memorized half from the held-out half (1.0: perfectly; 0.5: not at all), and the
clean-control baseline (the same problems with their numbers changed).

Baseline, side by side: the untouched toy, which has seen neither half (its AUC should be
near 0.5).

    python bench/bench_audit.py [--steps 300]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from statistics import fmean

sys.path.insert(0, str(Path(__file__).parent))
import decontam_fixture as fixture  # noqa: E402

from assay.filters.decontam import BenchmarkProblem  # noqa: E402
from assay.filters.memorization import auc  # noqa: E402
from assay.pipelines.steps.audit import audit_problems  # noqa: E402
from assay.trainers.engines import TransformersEngine  # noqa: E402
from assay.trainers.sft import TextFinetune, finetune_text  # noqa: E402


def separation(items, memorized: set[str], score) -> float:
    inside = [score(i) for i in items if i.benchmark_id in memorized]
    outside = [score(i) for i in items if i.benchmark_id not in memorized]
    return auc(inside, outside)


def report(label: str, items, memorized: set[str]) -> None:
    mem = [i for i in items if i.benchmark_id in memorized]
    held = [i for i in items if i.benchmark_id not in memorized]
    print(f"  {label}")
    print(f"    completion ROUGE-L   AUC {separation(items, memorized, lambda i: i.item.completion_score):.3f}   "
          f"memorized {fmean(i.item.completion_score for i in mem):.3f}  held-out {fmean(i.item.completion_score for i in held):.3f}  "
          f"controls {fmean(i.control.completion_score for i in items):.3f}")
    print(f"    exact continuation   memorized {fmean(any(i.item.exact.values()) for i in mem):.0%}  "
          f"held-out {fmean(any(i.item.exact.values()) for i in held):.0%}  controls {fmean(any(i.control.exact.values()) for i in items):.0%}")
    print(f"    diversity (1-ROUGE)  AUC {separation(items, memorized, lambda i: -i.item.diversity):.3f}   "
          f"memorized {fmean(i.item.diversity for i in mem):.3f}  held-out {fmean(i.item.diversity for i in held):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help="fine-tuning steps on the memorized half")
    args = parser.parse_args()
    problems = [BenchmarkProblem("fixture", str(i), text) for i, (text, _) in enumerate(fixture.PAIRS)]
    memorized = {p.benchmark_id for p in problems[::2]}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        tuned = finetune_text("toy", [p.prompt for p in problems if p.benchmark_id in memorized], Path(tmp) / "tuned",
                              TextFinetune(steps=args.steps, lr=2e-3))
        tuned_s = time.perf_counter() - start
        planted = audit_problems(TransformersEngine(tuned, chat_template=False), TransformersEngine(tuned), problems, 4, 0, 64)
    untouched = audit_problems(TransformersEngine("toy", chat_template=False), TransformersEngine("toy"), problems, 4, 0, 64)
    print(f"memorization audit: {len(problems)} problems, toy fine-tuned {args.steps} steps ({tuned_s:.0f} s) on "
          f"{len(memorized)} of them")
    report("fine-tuned toy (planted memorization)", planted, memorized)
    report("untouched toy (baseline: no memorization)", untouched, memorized)


if __name__ == "__main__":
    main()
