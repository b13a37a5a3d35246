"""The vLLM engine on a GPU machine, in a few minutes: the weight-push round trip and data
parallelism, with timings, then the CUDA tests. For the first time a GPU machine is at hand.

    python bench/bench_vllm_gpu.py [--prompts 512] [--n 8]

Needs vLLM's CUDA build beside assay: `scripts/install-vllm cuda`, then run this script with
.venv-vllm/bin/python.

1. One replica (tp=1): start time, sampling rate on the built-in prompts, and the weight push:
   negate the final norm, see the greedy outputs change, push the toy's weights back, see the
   original greedy outputs; the push's time.
2. With 2+ GPUs, two data-parallel replicas side by side with (1) on the same workload: start
   time, rate, ratio to one replica, and the same push round trip through both replicas.
3. pytest on tests/trainers/test_vllm_engine.py and test_grpo_vllm.py (the CUDA data-parallel
   test included), timed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import assay.trainers  # noqa: F401  (before torch: passive OpenMP waits)
import torch

from assay.curricula.arithmetic import generate_arithmetic
from assay.trainers.engines import SamplingConfig, TransformersEngine, VLLMEngine, vllm_support

GREEDY = SamplingConfig(temperature=0.0, max_tokens=224)
PROBE = ["Compute 4*2.", "Compute 86-13.", "Compute 12+75-3."]


def measure(label: str, dp: int, prompts: list[str], n: int, weights: dict) -> float:
    start = time.perf_counter()
    engine = VLLMEngine("toy", data_parallel_size=dp, gpu_memory_utilization=0.3)
    started = time.perf_counter() - start
    try:
        engine.generate(prompts[:8], 1, GREEDY)  # warm-up
        start = time.perf_counter()
        out = engine.generate(prompts, n, SamplingConfig(temperature=1.0, max_tokens=224, seed=0))
        seconds = time.perf_counter() - start
        tokens = sum(c.tokens for r in out for c in r)
        before = engine.generate(PROBE * dp, 1, GREEDY)
        start = time.perf_counter()
        engine.load_weights({"model.norm.weight": -weights["model.norm.weight"]})
        pushed = time.perf_counter() - start
        changed = engine.generate(PROBE * dp, 1, GREEDY)
        start = time.perf_counter()
        engine.load_weights(weights)
        full = time.perf_counter() - start
        restored = engine.generate(PROBE * dp, 1, GREEDY) == before
        print(f"{label:22s} start {started:5.1f} s | {tokens:9,d} tokens in {seconds:6.2f} s = {tokens / seconds:9,.0f} tokens/s | "
              f"push: 1 tensor {pushed * 1e3:6.1f} ms, full {full * 1e3:6.1f} ms, outputs changed {changed != before}, "
              f"originals restored {restored}")
        return tokens / seconds
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--n", type=int, default=8)
    args = parser.parse_args()
    support = vllm_support()
    print(f"vLLM: {support.detail}; GPUs: {[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}")
    if support.platform != "cuda":
        sys.exit("no CUDA vLLM here")
    prompts = [p.prompt for p in generate_arithmetic(args.prompts, seed=0)]
    weights = TransformersEngine("toy", device="cpu").model.state_dict()
    print(f"workload: {len(prompts)} built-in prompts x {args.n} samples, temperature 1.0, at most 224 tokens")
    one = measure("1 replica (tp=1)", 1, prompts, args.n, weights)
    if torch.cuda.device_count() >= 2:
        two = measure("2 replicas (dp=2)", 2, prompts, args.n, weights)
        print(f"ratio dp=2 / dp=1: {two / one:.2f}x")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "tests/trainers/test_vllm_engine.py",
                           "tests/trainers/test_grpo_vllm.py"])
    print(f"CUDA tests: exit {done.returncode} in {time.perf_counter() - start:.0f} s")
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
