"""Time to the error message for a new user's first mistakes, against `assay --help`.

Baseline, measured side by side in the same run: `assay --help` (the fastest answer the
command line can give). Each mistake runs as a fresh `assay` process in a scratch folder with a
small catalog, exactly as a user types it; the ratio is its wall time over the median help
time. Goal (issue 16): every mistake within 1.5x of `assay --help`.

    python bench/bench_mistakes.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ASSAY = [sys.executable, "-m", "assay.pipelines.cli.main"]


def _example_with(old: str, new: str) -> str:
    text = subprocess.run([*ASSAY, "curate", "--example-config"], capture_output=True, text=True, check=True).stdout
    assert old in text, old
    return text.replace(old, new, 1)


def mistakes(folder: Path) -> dict[str, list[str]]:
    """name -> argv (after `assay`) of each mistake, with the files they read written to `folder`."""
    (folder / "typo.toml").write_text(_example_with("\nk = 16", "\nkk = 16"))
    (folder / "model.toml").write_text(_example_with('model = "toy"', 'model = "/nonexistent"'))
    cases = {
        "curate: config typo": ["curate", "--config", str(folder / "typo.toml")],
        "curate: no such model": ["curate", "--config", str(folder / "model.toml")],
        "difficulty --model /nonexistent": ["difficulty", "--model", "/nonexistent"],
        "difficulty --model ORG/NAME (offline)": ["difficulty", "--model", "no-such-org/no-such-model"],
        "train --model /nonexistent": ["train", "--shards", str(folder), "--model", "/nonexistent", "--steps", "1"],
        "difficulty --k 0": ["difficulty", "--k", "0"],
    }
    if importlib.util.find_spec("vllm") is None:
        cases["difficulty --engine vllm (no vllm)"] = ["difficulty", "--engine", "vllm"]
    return cases


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int, str]:
    start = time.perf_counter()
    done = subprocess.run([*ASSAY, *argv], cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, done.returncode, (done.stderr.strip().splitlines() or [""])[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "ASSAY_CATALOG": str(folder / "assay.duckdb")}
        subprocess.run([*ASSAY, "ingest", "builtin:arithmetic", "--count", "50"], cwd=folder, env=env, check=True,
                       capture_output=True)
        cases = mistakes(folder)
        helps = []
        print(f"time to the error message, {args.repeat} runs each (median), load average {os.getloadavg()[0]:.1f}")
        results = {name: [] for name in cases}
        for _ in range(args.repeat):
            helps.append(timed(["--help"], folder, env)[0])
            for name, argv in cases.items():
                results[name].append(timed(argv, folder, env))
        baseline = statistics.median(helps)
        print(f"{'assay --help (baseline)':<42} {baseline:6.2f} s   1.00x")
        for name, runs in results.items():
            seconds = statistics.median(r[0] for r in runs)
            status, message = runs[-1][1], runs[-1][2]
            print(f"{name:<42} {seconds:6.2f} s  {seconds / baseline:5.2f}x  exit {status}: {message[:110]}")


if __name__ == "__main__":
    main()
