"""Ingest 1,000,000 short JSON Lines records; compare with `datasets` on the same file.

Baseline, measured side by side in the same run: `datasets.load_dataset("json")` followed by
`Dataset.to_parquet`, the usual way a JSONL corpus becomes a Parquet file. assay does more per
row (uid hashing with Unicode normalisation, validation with quarantine, gold extraction, a
keyed DuckDB insert that makes re-ingestion a no-op), so the ratio says what that costs.

Each side runs in its own process so its peak memory (max RSS) is its own.
Goal (issue 2): assay under 60 s with peak memory under 2 GB on the 2-core machine.

    python bench/bench_ingest.py [--rows 1000000]
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

ASSAY = """
import sys
from assay.pipelines.store.catalog import Catalog
from assay.pipelines.steps.ingest import ingest, resolve_source
from assay.pipelines.steps.presets import PRESETS
source, _, _ = resolve_source(sys.argv[1])
with Catalog.open(sys.argv[2]) as cat:
    report = ingest(cat, source, PRESETS["answer"], "bench")
assert report.accounted() and report.added == int(sys.argv[3]), report
"""

BASELINE = """
import sys
import datasets
datasets.disable_progress_bars()
ds = datasets.load_dataset("json", data_files=sys.argv[1], split="train", cache_dir=sys.argv[2])
ds.to_parquet(sys.argv[3])
assert ds.num_rows == int(sys.argv[4])
"""


def write_corpus(path: Path, rows: int) -> None:
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(rows):
            a, b = rng.randint(1, 10**6), rng.randint(1, 10**6)
            row = {"id": i, "problem": f"What is {a} plus {b}? Give the exact value. (item {i})", "answer": str(a + b)}
            fh.write(json.dumps(row) + "\n")


def measure(code: str, *args: str) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of `code` run in a fresh interpreter."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args])
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark child failed with status {status}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        write_corpus(corpus, args.rows)
        size_mb = corpus.stat().st_size / 1e6
        base_t, base_mem = measure(BASELINE, str(corpus), f"{tmp}/hf-cache", f"{tmp}/out.parquet", str(args.rows))
        assay_t, assay_mem = measure(ASSAY, str(corpus), f"{tmp}/bench.duckdb", str(args.rows))
        again_t, _ = measure(ASSAY.replace("report.added == int(sys.argv[3])", "report.added == 0"),
                             str(corpus), f"{tmp}/bench.duckdb", "0")
    print(f"ingest {args.rows:,} jsonl records ({size_mb:.0f} MB) on {os.cpu_count()} cores")
    print(f"  assay ingest             {assay_t:6.1f} s   peak {assay_mem:6.0f} MB   {args.rows / assay_t:9,.0f} rows/s")
    print(f"  datasets json+to_parquet {base_t:6.1f} s   peak {base_mem:6.0f} MB   {args.rows / base_t:9,.0f} rows/s")
    print(f"  ratio assay/baseline     time {assay_t / base_t:.2f}x   memory {assay_mem / base_mem:.2f}x")
    print(f"  re-ingest (adds nothing) {again_t:6.1f} s")
    print(f"  goal: < 60 s and < 2048 MB -> {'met' if assay_t < 60 and assay_mem < 2048 else 'NOT met'}")


if __name__ == "__main__":
    main()
