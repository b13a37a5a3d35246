"""`assay verify` on a saturated machine: are the verdicts still right?

1,000 trivially correct items (`\\boxed{i}` against `i`, and multiple-choice letters) go through
the `assay` console script with its default settings, first on the idle machine (the baseline,
measured in the same run), then while 2, 4 and 8 processes burn CPU on the machine's cores. Each
run prints its statuses and its wall time against the idle run. Goal (issue 13): every item
correct at every load; only the time may grow.

    python bench/bench_verify_load.py [--items 1000] [--loads 0,2,4,8]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path


def write_items(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            item = {"response": f"The answer is $\\boxed{{{i}}}$.", "gold": str(i)} if i % 10 else {"response": "B", "gold": "B", "verifier": "mc"}
            f.write(json.dumps(item) + "\n")


def run_verify(assay: str, items: Path, out: Path, burners: int) -> tuple[Counter[str], float, int]:
    """(statuses, wall seconds, exit code) of one `assay verify` with `burners` CPU burners beside it."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(burners)]
    try:
        start = time.perf_counter()
        done = subprocess.run([assay, "verify", "--input", str(items), "--output", str(out)], capture_output=True, text=True)
        wall = time.perf_counter() - start
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        return Counter(), wall, done.returncode
    statuses = Counter(json.loads(line)["status"] for line in out.read_text(encoding="utf-8").splitlines())
    return statuses, wall, 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--loads", default="0,2,4,8", help="CPU burners per run, comma-separated; 0 is the idle baseline")
    args = parser.parse_args()
    assay = shutil.which("assay", path=str(Path(sys.executable).parent)) or shutil.which("assay")
    if assay is None:
        sys.exit("the `assay` console script is not installed next to this Python (pip install -e .)")
    loads = [int(x) for x in args.loads.split(",")]
    cores = len(os.sched_getaffinity(0))
    print(f"`assay verify` (default settings) on {args.items:,} trivially correct items, {cores} cores; "
          f"CPU burners beside it: {', '.join(map(str, loads))}")
    all_correct = True
    idle_s = None
    with tempfile.TemporaryDirectory() as tmp:
        items = Path(tmp) / "items.jsonl"
        write_items(items, args.items)
        for burners in loads:
            statuses, wall, code = run_verify(assay, items, Path(tmp) / f"out-{burners}.jsonl", burners)
            idle_s = wall if burners == 0 else idle_s
            ratio = f"{wall / idle_s:5.2f}x idle" if idle_s else "   (no idle run)"
            others = {k: v for k, v in statuses.items() if k not in ("correct", "timeout")}
            all_correct &= code == 0 and statuses["correct"] == args.items
            print(f"  burners {burners:>2} ({burners / cores:g} per core): correct {statuses['correct']:>5,}  "
                  f"timeout {statuses['timeout']:>5,}  other {sum(others.values()):>3} {dict(others) if others else ''}"
                  f"  exit {code}  {wall:6.1f} s  {ratio}")
    print(f"every item correct at every load: {'yes' if all_correct else 'NO'} (goal: yes)")


if __name__ == "__main__":
    main()
