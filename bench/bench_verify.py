"""Benchmark: assay's verify_batch against math-verify parse + verify, on the same pairs.

    python bench/bench_verify.py [--pairs 20000] [--baseline-pairs 1000] [--workers 2] [--seed 0]

The pairs are generated (seeded) to look like pass@k rollouts: 8 responses per gold, with
chain-of-thought prose before the answer, a mix of GSM8K-style integers, MATH-style answers
(fractions, radicals, multiples of pi, intervals, tuples, polynomials, root lists, degrees),
AIME integers and multiple-choice letters, written in the formats models use (\\boxed{},
"####", "The answer is", "Answer:", bold, a final number, \\dfrac, decimals, thousands
separators, units, leading zeros). Each response is built to be right or wrong, so every pair
has a known label. 1% of responses are pathological: 5,000 nested parentheses, numeric power
towers such as 10^{10^{10^{10}}}, huge exponents, deeply nested fractions, 40,000-character
expressions.

Printed: samples/s of verify_batch over all pairs (wall clock, pool start-up included); the
baseline's samples/s; their ratio; agreement between the two; accuracy of each against the
labels; the pairs where math-verify is right and assay wrong (goal 0); and the longest time
any single input held an assay worker (goal <= 2 s).

The baseline is math-verify 0.9 used as documented (tests/verifiers/baselines.py): `parse(gold)`, `parse(response)`,
`verify(gold, pred)` one pair after another in one process, with its default signal-based
timeouts (5 s). It can still hang: signal.alarm cannot interrupt a long C-level computation
such as the big-integer power sympy starts for 10^{10^{10}}. So it runs in a child process with
a watchdog that kills a pair after BASELINE_KILL_S and charges it BASELINE_KILL_S (less than
math-verify's own worst case of 5 s per call, so this favours the baseline). Its throughput is
pairs / summed per-pair compute time (process start-up and IPC excluded, which also favours
it). Running it over all 20,000 pairs on 2 cores would take many minutes, so it runs on a
seeded random subset, stated in the output.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from fractions import Fraction

from pathlib import Path

from assay.verifiers import Check, RunStats, solved, verify_batch
from assay.verifiers.runner import Killed, run_isolated

# The baseline runs in verifier workers, which never import this script: it lives in a module
# they can import from the repository root (on their PYTHONPATH as on ours).
ROOT = str(Path(__file__).resolve().parent.parent)
sys.path.insert(0, ROOT)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
from tests.verifiers.baselines import math_verify_pair  # noqa: E402

BASELINE_KILL_S = 5.0
RESPONSES_PER_GOLD = 8
PATHOLOGICAL_RATE = 0.01

# ---------------------------------------------------------------------------------------------
# Pair generation


def _prose(rng: random.Random) -> str:
    """Chain-of-thought filler with the numbers and LaTeX a real response carries."""
    steps = []
    for _ in range(rng.randint(4, 12)):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        steps.append(
            rng.choice(
                [
                    f"First, we compute ${a} \\times {b} = {a * b}$.",
                    f"Next, subtracting gives {a + b} - {b} = {a}.",
                    f"We know that $\\frac{{{a}}}{{{b}}}$ is the ratio of the two quantities, so we set up the equation accordingly.",
                    f"Let $x$ be the number of items. Then $x + {a} = {a + b}$, so $x = {b}$.",
                    f"Checking the constraint: since {a} < {a + b}, the condition holds.",
                    "Let me double-check this step to make sure nothing was missed in the case analysis.",
                    f"By the Pythagorean theorem, $c^2 = {a}^2 + {b}^2 = {a * a + b * b}$.",
                ]
            )
        )
    return " ".join(steps) + "\n\n"


def _int_forms(v: int) -> list[str]:
    return [
        f"#### {v}",
        f"The answer is {v:,}.",
        f"Therefore, the final answer is $\\boxed{{{v}}}$.",
        f"**Answer:** {v} dollars",
        f"Answer: ${v:,}$".replace(",", "{,}"),
        f"So in total there are {v} of them.",
        f"$\\boxed{{{v}.00}}$",
    ]


def _gsm8k(rng: random.Random):
    v = rng.randint(2, 60000)
    wrong = [v + 1, v - 1, v * 10, max(1, v // 2), v + rng.randint(2, 100)]
    right = lambda: rng.choice(_int_forms(v))
    bad = lambda: rng.choice(_int_forms(rng.choice(wrong)))
    return str(v), "math", right, bad


def _aime(rng: random.Random):
    v = rng.randint(1, 999)
    right = lambda: rng.choice([f"$\\boxed{{{v}}}$", f"$\\boxed{{{v:03d}}}$", f"Hence the final answer is {v}.", f"so $m + n = \\boxed{{{v}}}$"])
    bad = lambda: f"$\\boxed{{{(v + rng.randint(1, 998)) % 1000}}}$"
    return str(v), "math", right, bad


def _mc(rng: random.Random):
    letters = "ABCD"
    g = rng.choice(letters)
    forms = ["The answer is ({}).", "$\\boxed{{{}}}$", "Answer: {}", "**Answer: ({})**", "Comparing the options, ({}) is correct."]
    right = lambda: rng.choice(forms).format(g)
    bad = lambda: rng.choice(forms).format(rng.choice([c for c in letters if c != g]))
    return g, "mc", right, bad


def _math(rng: random.Random):
    kind = rng.randrange(8)
    if kind == 0:  # fractions
        b = rng.choice([2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 16, 20, 25])
        a = rng.choice([n for n in range(1, 3 * b) if math.gcd(n, b) == 1])
        f = Fraction(a, b)
        forms = [f"\\boxed{{\\dfrac{{{a}}}{{{b}}}}}", f"\\boxed{{{a}/{b}}}", f"\\boxed{{\\frac{{{2 * a}}}{{{2 * b}}}}}", f"The answer is $\\frac{{{a}}}{{{b}}}$."]
        if 10**6 % b == 0:
            forms.append(f"\\boxed{{{float(f):g}}}")
        wrong = [f"\\boxed{{\\frac{{{a + 1}}}{{{b}}}}}", f"\\boxed{{\\frac{{{b}}}{{{a}}}}}" if a != b else "\\boxed{0}", f"\\boxed{{{float(f) + 0.1:.3f}}}"]
        return f"\\frac{{{a}}}{{{b}}}", forms, wrong
    if kind == 1:  # radicals
        a, b = rng.randint(2, 9), rng.choice([2, 3, 5, 6, 7])
        return f"{a}\\sqrt{{{b}}}", [f"\\boxed{{{a}\\sqrt{{{b}}}}}", f"\\boxed{{\\sqrt{{{a * a * b}}}}}", f"\\boxed{{{a} \\sqrt {b}}}"], [
            f"\\boxed{{{a + 1}\\sqrt{{{b}}}}}",
            f"\\boxed{{{a}\\sqrt{{{b + 4}}}}}",
        ]
    if kind == 2:  # multiples of pi
        k = rng.randint(2, 30)
        return f"{k}\\pi", [f"\\boxed{{{k}\\pi}}", f"\\boxed{{\\pi \\cdot {k}}}", f"The area is ${k}\\pi$ square units."], [f"\\boxed{{{k + 1}\\pi}}", f"\\boxed{{{k}}}"]
    if kind == 3:  # intervals
        a = rng.randint(-9, 9)
        return f"[{a}, \\infty)", [f"\\boxed{{[{a},\\infty)}}", f"\\boxed{{x \\ge {a}}}", f"\\boxed{{\\left[{a}, \\infty\\right)}}"], [f"\\boxed{{({a}, \\infty)}}", f"\\boxed{{(-\\infty, {a}]}}"]
    if kind == 4:  # tuples
        a, b = rng.sample(range(-9, 10), 2)
        return f"({a}, {b})", [f"\\boxed{{({a},{b})}}", f"\\boxed{{\\left( {a}, {b} \\right)}}"], [f"\\boxed{{({b},{a})}}", f"\\boxed{{({a},{b + 1})}}"]
    if kind == 5:  # polynomials
        a = rng.randint(1, 9)
        return f"x^2 + {2 * a}x + {a * a}", [f"\\boxed{{(x+{a})^2}}", f"\\boxed{{x^2+{2 * a}x+{a * a}}}", f"\\boxed{{{a * a} + {2 * a}x + x^2}}"], [f"\\boxed{{(x-{a})^2}}", f"\\boxed{{x^2+{a}x+{a * a}}}"]
    if kind == 6:  # root lists
        r1, r2 = rng.sample(range(-9, 10), 2)
        return f"{r1}, {r2}", [f"\\boxed{{{r2}, {r1}}}", f"\\boxed{{{r1},{r2}}}"], [f"\\boxed{{{r1}, {-r2 if r2 else 1}}}", f"\\boxed{{{r1}}}"]
    k = rng.choice([30, 45, 60, 72, 90, 108, 120, 135, 150])  # degrees
    return str(k), [f"\\boxed{{{k}^\\circ}}", f"The angle is ${k}^{{\\circ}}$.", f"\\boxed{{{k}}}"], [f"\\boxed{{{180 - k if k != 90 else 45}^\\circ}}"]


def _math_family(rng: random.Random):
    gold, forms, wrong = _math(rng)
    return gold, "math", lambda: rng.choice(forms), lambda: rng.choice(wrong)


def _pathological(rng: random.Random) -> str:
    return rng.choice(
        [
            "\\boxed{" + "(" * 5000 + "1" + ")" * 5000 + "}",
            "$\\boxed{10^{10^{10^{10}}}}$",
            "$\\boxed{9^{9^{9}}}$",
            "$\\boxed{10^{100000000}}$",
            "$\\boxed{" + "\\frac{1}{" * 300 + "2" + "}" * 300 + "}$",
            "The answer is $" + "+".join(["1"] * 20000) + "$",
        ]
    )


def make_pairs(n_pairs: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    families = [(_gsm8k, 0.40), (_math_family, 0.35), (_aime, 0.15), (_mc, 0.10)]
    pairs: list[dict] = []
    while len(pairs) < n_pairs:
        family = rng.choices([f for f, _ in families], weights=[w for _, w in families])[0]
        gold, verifier, right, bad = family(rng)
        for _ in range(RESPONSES_PER_GOLD):
            label = rng.random() < 0.5
            pairs.append({"response": _prose(rng) + (right() if label else bad()), "gold": gold, "verifier": verifier, "label": label})
    pairs = pairs[:n_pairs]
    # Exactly 1% pathological responses, on math golds whose value none of them has (1, 2,
    # 20000 and astronomically large numbers).
    eligible = [i for i, p in enumerate(pairs) if p["verifier"] == "math" and p["gold"] not in ("1", "2", "20000")]
    for i in rng.sample(eligible, round(PATHOLOGICAL_RATE * len(pairs))):
        pairs[i].update(response=_prose(rng) + _pathological(rng), label=False, pathological=True)
    return pairs


# ---------------------------------------------------------------------------------------------
# Baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=20_000)
    parser.add_argument("--baseline-pairs", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    pairs = make_pairs(args.pairs, args.seed)
    n_golds = len({(p["gold"], i // RESPONSES_PER_GOLD) for i, p in enumerate(pairs)})
    n_path = sum(p.get("pathological", False) for p in pairs)
    print(f"assay verify benchmark: {len(pairs):,} pairs ({n_golds:,} golds x {RESPONSES_PER_GOLD} responses, "
          f"{n_path} pathological = {n_path / len(pairs):.1%}), seed {args.seed}, {args.workers} workers, timeout {args.timeout:g} s")

    stats = RunStats()
    start = time.perf_counter()
    verdicts = verify_batch([Check(p["response"], p["gold"], p["verifier"]) for p in pairs], workers=args.workers,
                            timeout_s=args.timeout, stats=stats)
    assay_s = time.perf_counter() - start
    assay_rate = len(pairs) / assay_s
    statuses: dict[str, int] = {}
    for v in verdicts:
        statuses[v.status] = statuses.get(v.status, 0) + 1
    assay_right = [solved(v) == p["label"] for v, p in zip(verdicts, pairs)]
    print(f"assay verify_batch: {len(pairs):,} pairs in {assay_s:.1f} s = {assay_rate:,.0f} samples/s; "
          f"max time one input held a worker {max(stats.held_s):.2f} s; workers killed {stats.killed}; statuses {statuses}")
    print(f"assay accuracy against the generator's labels, all pairs: {sum(assay_right) / len(pairs):.2%}")

    subset = sorted(random.Random(args.seed + 1).sample(range(len(pairs)), min(args.baseline_pairs, len(pairs))))
    calls = [(pairs[i]["response"], pairs[i]["gold"], pairs[i]["verifier"]) for i in subset]
    start = time.perf_counter()
    results, base_stats = run_isolated(math_verify_pair, calls, workers=1, budgets=[BASELINE_KILL_S] * len(calls))
    base_wall = time.perf_counter() - start
    base_busy = sum(base_stats.held_s)
    base_rate = len(calls) / base_busy
    killed = sum(isinstance(r, Killed) for r in results)
    print(f"math-verify baseline (parse + verify, sequential, its default 5 s signal timeouts, watchdog kill at "
          f"{BASELINE_KILL_S:g} s charged {BASELINE_KILL_S:g} s): seeded random subset of {len(calls):,} of the {len(pairs):,} pairs, "
          f"{base_busy:.1f} s of compute ({base_wall:.1f} s wall) = {base_rate:,.1f} samples/s; pairs killed by the watchdog {killed}")
    print(f"speed ratio assay / math-verify: {assay_rate / base_rate:,.1f}x  (goal >= 10x)")
    normal = [k for k, i in enumerate(subset) if not pairs[i].get("pathological")]
    normal_rate = len(normal) / sum(base_stats.held_s[k] for k in normal)
    print(f"  without the {len(subset) - len(normal)} pathological pairs in the subset, math-verify runs at {normal_rate:,.1f} samples/s: "
          f"ratio {assay_rate / normal_rate:,.1f}x (assay's rate still includes its pathological pairs)")

    base_ok = [r is True for r in results]
    ours = [solved(verdicts[i]) for i in subset]
    labels = [pairs[i]["label"] for i in subset]
    agree = sum(a == b for a, b in zip(ours, base_ok))
    mv_right_assay_wrong = [i for i, a, b, y in zip(subset, ours, base_ok, labels) if b == y and a != y]
    assay_right_mv_wrong = sum(1 for a, b, y in zip(ours, base_ok, labels) if a == y and b != y)
    print(f"on the subset: agreement assay vs math-verify {agree / len(subset):.2%} ({agree:,}/{len(subset):,}); "
          f"accuracy vs labels: assay {sum(a == y for a, y in zip(ours, labels)) / len(subset):.2%}, "
          f"math-verify {sum(b == y for b, y in zip(base_ok, labels)) / len(subset):.2%}")
    print(f"pairs where math-verify is right and assay wrong: {len(mv_right_assay_wrong)} (goal 0); "
          f"where assay is right and math-verify wrong: {assay_right_mv_wrong}")
    mv_wrong = [i for i, b, y in zip(subset, base_ok, labels) if b != y]
    kinds: dict[str, int] = {}
    for i in mv_wrong:
        kind = "pathological" if pairs[i].get("pathological") else f"{pairs[i]['verifier']}, labelled {'right' if pairs[i]['label'] else 'wrong'}"
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"math-verify's misses on the subset by kind: {kinds}")
    for i in mv_right_assay_wrong[:5]:
        print(f"  pair {i}: gold {pairs[i]['gold']!r}, answer {pairs[i]['response'][-80:]!r}, assay {verdicts[i]}", file=sys.stderr)


if __name__ == "__main__":
    main()
