"""Curation filters at scale: dedup plus every filter over 1,000,000 generated records.

The records are shaped like a mixed RL corpus: GSM8K-style word problems, MATH-style LaTeX
problems (numbers, fractions, expressions, intervals as golds; some proofs and multi-part
questions), `Compute ...` arithmetic, multiple choice with its choices in meta, yes/no
questions, and code with JSON test suites. 4% are exact copies (into another source, or with
case and spacing changed), 4% near copies (a word inserted or changed), 2% carry bad golds
(empty, unbalanced LaTeX, prose). n / n_correct hold difficulty observations (n of 8, 16 or
64, pass rates from Beta(0.5, 0.5)); 10% are unscored (null). 0.5% have a contamination
finding.

Every filter runs on all rows (as `assay curate` would to record a decision per filter and
row), in one child process, so the reported peak memory (max RSS) is the filters' own; the
gold check's worker processes are not included.

Baseline, measured side by side in the same run: datasketch's MinHashLSH (128 permutations,
the same threshold and the same word 5-shingles, built in Python per row, the library's
documented query-then-insert loop) on the first --baseline-rows rows, with assay's dedup on the
same rows; the baseline's time for all rows is extrapolated linearly and labelled so. For
both, each dropped row's exact Jaccard with the row it was matched to is computed from the
shingle sets: drops below the threshold are false positives (LSH candidates that no
verification step rejected). When datasketch is not installed, the baseline is skipped and
says so.

Goal (issue 6, item 5): dedup plus all filters on 1,000,000 records in under 120 s.

    python bench/bench_filters.py [--rows 1000000] [--baseline-rows 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

GOAL_S = 120.0

NAMES = np.array(["Tom", "Maria", "Ahmed", "Li", "Sofia", "Ken", "Priya", "Olu", "Emma", "Diego", "Yuki", "Nina"])
ITEMS = np.array(["apples", "pencils", "stickers", "marbles", "books", "cookies", "coins", "cards", "shells", "tickets"])
PLACES = np.array(["market", "school fair", "bakery", "library sale", "toy store", "garage sale", "museum shop"])
FILLER = np.array([
    "It was a sunny morning.", "The shop had just opened.", "Everyone was in a good mood.",
    "The prices had gone up since last week.", "A friend came along to help.", "It took about an hour.",
    "Nobody else was in the queue.", "The weather forecast said rain later.",
])
FUNCS = np.array(["f", "g", "h", "p", "q"])


def _pick(rng: np.random.Generator, values: np.ndarray, count: int) -> list[str]:
    return values[rng.integers(0, len(values), count)].tolist()


def word_problems(rng: np.random.Generator, count: int) -> tuple[list[str], list[str]]:
    a, b, c = (rng.integers(2, 500, count).tolist() for _ in range(3))
    names, names2, items, places = _pick(rng, NAMES, count), _pick(rng, NAMES, count), _pick(rng, ITEMS, count), _pick(rng, PLACES, count)
    fill = [" ".join(_pick(rng, FILLER, k)) for k in rng.integers(0, 4, count).tolist()]
    prompts = [
        f"{n} has {x} {i}. {f} {n} buys {y} more {i} at the {p} and then gives {z} {i} to {m}. "
        f"How many {i} does {n} have now?"
        for n, m, i, p, x, y, z, f in zip(names, names2, items, places, a, b, c, fill)
    ]
    return prompts, [str(x + y - z) for x, y, z in zip(a, b, c)]


def math_problems(rng: np.random.Generator, count: int) -> tuple[list[str], list[str]]:
    a, b, c, d = (rng.integers(1, 5000, count).tolist() for _ in range(4))
    fn = _pick(rng, FUNCS, count)
    kind = rng.integers(0, 10, count).tolist()
    prompts, answers = [], []
    for k, f, x, y, z, w in zip(kind, fn, a, b, c, d):
        if k < 3:
            prompts.append(f"Let ${f}(x) = {x}x^2 + {y}x + {z}$. Find ${f}({w})$.")
            answers.append(str(x * w * w + y * w + z))
        elif k < 5:
            prompts.append(f"Simplify $\\dfrac{{{x * w}}}{{{y * w + z}}}$ to lowest terms, where the denominator is ${y * w + z}$.")
            answers.append(f"\\frac{{{x * w}}}{{{y * w + z}}}")
        elif k < 7:
            prompts.append(f"Find all real $x$ such that $x^2 - {x + y}x + {x * y} \\le 0$. Express your answer in interval notation.")
            answers.append(f"[{min(x, y)}, {max(x, y)}]")
        elif k < 8:
            prompts.append(f"What is the exact value of $\\sqrt{{{x * x * z}}}$ in simplest radical form, given the factor {z}?")
            answers.append(f"{x}\\sqrt{{{z}}}")
        elif k < 9:
            prompts.append(f"Prove that for every integer $n > {x * 60 + y}$, the number $n^{{{z}}} - n$ is divisible by {w + 1} whenever ${f}(n)$ holds.")
            answers.append("proof")
        else:
            prompts.append(f"Consider the sequence $a_n = {x}n + {y}$.\n(a) Find $a_{{{z}}}$.\n(b) Find the sum of the first {w} terms.")
            answers.append(f"(a) {x * z + y} (b) {x * w * (w + 1) // 2 + y * w}")
    return prompts, answers


def arithmetic(rng: np.random.Generator, count: int) -> tuple[list[str], list[str]]:
    a, b, c = (rng.integers(1, 1000, count).tolist() for _ in range(3))
    ops = _pick(rng, np.array(["+", "-", "*"]), count)
    prompts = [f"Compute {x}{o}{y}+{z}." for x, o, y, z in zip(a, ops, b, c)]
    answers = [str(eval(f"{x}{o}{y}+{z}")) for x, o, y, z in zip(a, ops, b, c)]  # noqa: S307 - our own digits
    return prompts, answers


def multiple_choice(rng: np.random.Generator, count: int) -> tuple[list[str], list[str], list[str]]:
    a, b = (rng.integers(2, 5000, count).tolist() for _ in range(2))
    correct = rng.integers(0, 4, count).tolist()
    prompts, answers, metas = [], [], []
    for x, y, k in zip(a, b, correct):
        options = [str(x * y + d) for d in ((0, 1, -1, 2), (1, 0, -1, 2), (1, -1, 0, 2), (1, -1, 2, 0))[k]]
        prompts.append(f"A rectangle has sides {x} cm and {y} cm. What is its area in square centimetres?\n\n"
                       + "\n".join(f"({letter}) {o}" for letter, o in zip("ABCD", options)))
        answers.append("ABCD"[k])
        metas.append(json.dumps({"verifier_options": {"choices": options}}))
    return prompts, answers, metas


def yes_no(rng: np.random.Generator, count: int) -> tuple[list[str], list[str]]:
    n = rng.integers(10, 10**9, count).tolist()
    return [f"Is {x} divisible by 7? Answer yes or no." for x in n], ["Yes" if x % 7 == 0 else "No" for x in n]


def code(rng: np.random.Generator, count: int) -> tuple[list[str], list[str]]:
    a, b = (rng.integers(1, 10**6, count).tolist() for _ in range(2))
    prompts = [f"Write a program that reads an integer n and prints n * {x} + {y}." for x, y in zip(a, b)]
    tests = [json.dumps({"inputs": [f"{i}\n" for i in range(3)], "outputs": [f"{i * x + y}\n" for i in range(3)]}) for x, y in zip(a, b)]
    return prompts, tests


# Share of the records per shape, and the verifier checking it.
SHAPES = (("gsm8k", 0.38, "math"), ("math", 0.30, "math"), ("arith", 0.10, "math"),
          ("mcq", 0.15, "mc"), ("yesno", 0.05, "math"), ("code", 0.02, "code"))
BAD_GOLDS = ["", "\\frac{1}{", "see the solution above", "The answer depends on the value of the constant, as explained "
             "in the second paragraph of the proof, and cannot be given as a single number.", "x = ", "\\sqrt{"]


def generate(rows: int, seed: int = 0) -> pa.Table:
    """`rows` records (a few more are made, and those whose source and prompt repeat dropped)."""
    from assay.pipelines.store.schema import make_uid

    rng = np.random.default_rng(seed)
    wanted, rows = rows, int(rows * 1.02) + 100
    cols: dict[str, list] = {k: [] for k in ("source", "prompt", "answer", "verifier", "meta")}
    for source, share, verifier in SHAPES:
        count = int(rows * share) if source != "code" else rows - sum(int(rows * s) for _, s, _ in SHAPES[:-1])
        made = {"gsm8k": word_problems, "math": math_problems, "arith": arithmetic, "mcq": multiple_choice,
                "yesno": yes_no, "code": code}[source](rng, count)
        cols["source"] += [source] * count
        cols["prompt"] += made[0]
        cols["answer"] += made[1]
        cols["verifier"] += [verifier] * count
        cols["meta"] += made[2] if len(made) == 3 else ["{}"] * count
    prompts, answers, sources = cols["prompt"], cols["answer"], cols["source"]
    n = len(prompts)
    # Copies: exact (other source, or case and spacing changed) and near (a word inserted or changed).
    targets = rng.choice(n, int(0.08 * n), replace=False).tolist()
    originals = rng.integers(0, n, len(targets)).tolist()
    half = len(targets) // 2
    copy_of: list[int | None] = [None] * n
    for k, (t, o) in enumerate(zip(targets, originals)):
        copy_of[t] = o
        text = prompts[o]
        if k < half // 2:
            prompts[t], sources[t] = text, "mirror"  # the same prompt from a second source
        elif k < half:
            prompts[t] = text.upper().replace(" ", "  ")
        elif k % 2:
            prompts[t] = text.replace(" ", " then ", 1) + " Explain."
        else:
            words = text.split(" ")
            words[len(words) // 2] = "exactly"
            prompts[t] = " ".join(words)
        answers[t], cols["verifier"][t], cols["meta"][t] = answers[o], cols["verifier"][o], cols["meta"][o]
    for t in rng.choice(n, int(0.02 * n), replace=False).tolist():
        if cols["verifier"][t] != "code":
            answers[t] = BAD_GOLDS[t % len(BAD_GOLDS)]
    uids = [make_uid(s, p) for s, p in zip(sources, prompts)]
    # Difficulty: the latest observation for one model; 10% never scored.
    k = rng.choice([8, 16, 64], n, p=[0.5, 0.3, 0.2])
    correct = rng.binomial(k, rng.beta(0.5, 0.5, n))
    unscored = rng.random(n) < 0.1
    table = pa.table({
        "uid": uids, "source": sources, "split": ["train"] * n, "prompt": prompts, "answer": answers,
        "verifier": cols["verifier"], "domain": ["math"] * n, "meta": cols["meta"],
        "n": pa.array(k, mask=unscored), "n_correct": pa.array(correct, mask=unscored),
        "copy_of": [None if o is None else uids[o] for o in copy_of],  # the planted copies, for recall
    })
    # The same source and prompt twice is one record (ingest refuses the second): keep the first.
    _, first = np.unique(np.array(uids), return_index=True)
    return table.take(pa.array(np.sort(first)[:wanted]))


# -- the measured side ----------------------------------------------------------------------

_TOKEN = re.compile(r"[\w]+|[^\w\s]")  # the tokens assay's word shingles use


def shingles(text: str) -> set[str]:
    """Word 5-shingles of a normalised prompt, in plain Python: the reference for exact Jaccard."""
    words = _TOKEN.findall(text)
    return {" ".join(words[i : i + 5]) for i in range(max(len(words) - 4, 1))}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b)


def planted_recall(table: pa.Table, keep: list[bool], threshold: float) -> tuple[int, int]:
    """(planted copy pairs whose exact Jaccard is >= threshold, of those the ones with a row dropped)."""
    from assay.filters.dedup import normalize_prompts

    uids = table.column("uid").to_pylist()
    index = {u: i for i, u in enumerate(uids)}
    pairs = [(i, index[c]) for i, c in enumerate(table.column("copy_of").to_pylist()) if c in index]
    texts = normalize_prompts(table.column("prompt")).to_pylist()
    close = [(a, b) for a, b in pairs if jaccard(shingles(texts[a]), shingles(texts[b])) >= threshold]
    return len(close), sum(not (keep[a] and keep[b]) for a, b in close)


def run_filters(path: str) -> None:
    """Child: every filter over the table at `path`; prints one JSON line of timings."""
    import resource

    from assay.filters.decontam import Finding
    from assay.filters.registry import FILTERS

    table = pq.read_table(path)
    rng = np.random.default_rng(1)
    flagged = rng.choice(table.num_rows, table.num_rows // 200, replace=False)
    findings = [Finding(int(r), "aime24", str(r % 30), "ngram", 1.0, "...") for r in flagged.tolist()]
    timings, kept = {}, {}
    for name, (fn, config) in FILTERS.items():
        start = time.perf_counter()
        decision = fn(table.num_rows, findings) if config is None else fn(table, config())
        timings[name] = time.perf_counter() - start
        kept[name] = decision.kept()
        if name == "dedup":
            dedup_keep = decision.keep.to_pylist()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    close, found = planted_recall(table, dedup_keep, 0.8)
    print(json.dumps({"rows": table.num_rows, "seconds": timings, "kept": kept, "planted_close": close,
                      "planted_found": found, "peak_rss_mb": usage.ru_maxrss / 1024}))


def run_baseline(path: str, rows: int, threshold: float) -> None:
    """Child: datasketch MinHashLSH and assay's dedup on the first `rows` rows, side by side."""
    from datasketch import MinHash, MinHashLSH

    from assay.filters.dedup import DedupConfig, dedup, normalize_prompts

    table = pq.read_table(path).slice(0, rows)
    start = time.perf_counter()
    texts = normalize_prompts(table.column("prompt")).to_pylist()
    uids = table.column("uid").to_pylist()
    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    pairs_base = []  # (dropped, the earlier rows it matched)
    for uid, text in zip(uids, texts):
        m = MinHash(num_perm=128)
        m.update_batch([s.encode("utf-8") for s in shingles(text)])
        matches = lsh.query(m)
        if matches:
            pairs_base.append((uid, matches))
        else:
            lsh.insert(uid, m)
    base_s = time.perf_counter() - start
    start = time.perf_counter()
    decision = dedup(table, DedupConfig(threshold=threshold))
    ours_s = time.perf_counter() - start
    pairs_ours = [(u, [r.split()[2]]) for u, r in zip(uids, decision.reason.to_pylist()) if r]  # "..._duplicate: of UID ..."
    # Precision: the exact Jaccard of each dropped row's shingle set with its closest match's.
    sets = dict(zip(uids, map(shingles, texts)))

    def below(pairs: list[tuple[str, list[str]]]) -> int:
        return sum(max(jaccard(sets[a], sets[b]) for b in bs) < threshold for a, bs in pairs)

    dropped_base = {a for a, _ in pairs_base}
    keep_base = [u not in dropped_base for u in uids]
    close, found_base = planted_recall(table, keep_base, threshold)
    _, found_ours = planted_recall(table, decision.keep.to_pylist(), threshold)
    print(json.dumps({"rows": rows, "baseline_s": base_s, "ours_s": ours_s, "dropped_baseline": len(pairs_base),
                      "dropped_ours": len(pairs_ours), "below_baseline": below(pairs_base), "below_ours": below(pairs_ours),
                      "planted_close": close, "found_baseline": found_base, "found_ours": found_ours}))


def child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=50_000)
    parser.add_argument("--generate", help=argparse.SUPPRESS)  # internal: write the records to this path
    parser.add_argument("--filters", help=argparse.SUPPRESS)  # internal: run the filters on this path
    parser.add_argument("--baseline", help=argparse.SUPPRESS)  # internal: run the baseline on this path
    args = parser.parse_args()
    if args.generate:
        pq.write_table(generate(args.rows), args.generate, row_group_size=100_000)
        return
    if args.filters:
        run_filters(args.filters)
        return
    if args.baseline:
        run_baseline(args.baseline, args.baseline_rows, 0.8)
        return
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "records.parquet")
        start = time.perf_counter()
        # Every side runs in a child: a child's max RSS includes its parent's size at fork time.
        subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--generate", path], check=True)
        print(f"generated {pq.read_metadata(path).num_rows:,} records in {time.perf_counter() - start:.0f} s "
              f"(not timed below); {cores} cores, load average {os.getloadavg()[0]:.1f} before the run")
        result = child("--filters", path)
        load_after = os.getloadavg()[0]
        total = sum(result["seconds"].values())
        print(f"\nfilters over {result['rows']:,} records (each on every row):")
        for name, seconds in result["seconds"].items():
            print(f"  {name:<15} {seconds:7.1f} s  kept {result['kept'][name]:>9,}")
        print(f"  {'total':<15} {total:7.1f} s  goal < {GOAL_S:.0f} s: {'met' if total < GOAL_S else 'NOT met'}")
        print(f"  dedup recall on planted copies with exact Jaccard >= 0.8: {result['planted_found']:,} of {result['planted_close']:,}"
              f" ({100 * result['planted_found'] / max(result['planted_close'], 1):.1f}%)")
        print(f"  peak memory (max RSS of the filtering process; the gold check's worker processes not included): {result['peak_rss_mb']:,.0f} MB")
        print(f"  load average {load_after:.1f} after the run on {cores} cores (other work on the machine inflates the times)")
        try:
            import datasketch  # noqa: F401
        except ImportError:
            print("\nbaseline skipped: datasketch is not installed (pip install datasketch)")
            return
        rows = min(args.baseline_rows, result["rows"])
        base = child("--baseline", path, "--baseline-rows", str(rows))
        print(f"\nbaseline, side by side on the first {rows:,} records (threshold 0.8, 128 permutations, word 5-shingles):")
        print(f"  datasketch MinHashLSH (per-row Python loop)  {base['baseline_s']:7.1f} s, drops {base['dropped_baseline']:,}, "
              f"of which {base['below_baseline']:,} below 0.8 exact Jaccard with every match")
        print(f"  assay dedup (exact + near)                    {base['ours_s']:7.1f} s, drops {base['dropped_ours']:,}, "
              f"of which {base['below_ours']:,} below 0.8 exact Jaccard with the kept row")
        print(f"  planted copies in these rows with exact Jaccard >= 0.8: {base['planted_close']:,}; "
              f"datasketch drops one of the pair for {base['found_baseline']:,}, assay for {base['found_ours']:,}")
        print(f"  ratio: assay is {base['baseline_s'] / base['ours_s']:.1f}x faster on the same rows")
        scaled = base["baseline_s"] * result["rows"] / rows
        print(f"  datasketch extrapolated linearly to {result['rows']:,} rows: {scaled:.0f} s "
              f"(assay measured: {result['seconds']['dedup']:.1f} s, {scaled / result['seconds']['dedup']:.1f}x)")


if __name__ == "__main__":
    main()
