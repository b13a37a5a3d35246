"""GRPO at an equal rollout budget, over seeds: does curation pay, outside the noise?

    python bench/bench_grpo.py [--seeds 5] [--steps 30] [--jobs 2] [--plot bench/grpo_curves.png]
    python bench/bench_grpo.py --quick        # a smoke run: 2 seeds, 4 steps, a small held-out set
    python bench/bench_grpo.py --sweep-decay 0.5,0.8,0.95,1 --seeds 3 --steps 15 --eval-every 15

Every arm trains the toy policy from the same checkpoint with the same GRPO settings and the
same rollout budget (steps x rollouts per step; an arm whose steps cost more rollouts, such as
DAPO's refills, stops when the budget is spent), once per seed. The arms (ARMS):
- uniform-raw (the baseline): every prompt of the built-in corpus, drawn uniformly, equal groups.
- uniform-curated: curation alone; the prompts the offline scoring kept, drawn uniformly.
- thompson (assay's default), spo, bandit: curated prompts, the online sampler's strategies
  with knapsack allocation, seeded by the offline counts.
- dapo: curated prompts drawn uniformly with DAPO's dynamic sampling (zero-variance groups
  dropped and the batch refilled), the field's common baseline.
- random-reward: the default arm trained on coin-flip rewards, the control that must not learn.

The held-out set is the built-in evaluation generator's (another seed than the corpus), at
least 1,000 problems, every one checked against the training corpus with assay's own n-gram
decontamination (flagged ones are removed, and the count printed). One evaluation's noise is
its standard error over problems; targets are the start plus 2 and plus 4 of them. Per arm,
over seeds: mean and 95% t-interval of held-out pass@1 at every evaluation (the start, then
every `--eval-every` steps and at the end), of the mean pass@1 over the budget (the area under
the pass@1-by-rollouts curve divided by the budget), and of the rollouts until a target is
reached (linear between evaluations; a seed that never reaches it counts as the whole budget,
and the printout says how many did). Differences against the baseline are paired by seed (same
start, same evaluation samples) and called outside the noise only when their 95% interval
excludes 0. Per arm, the zero-variance groups are split into all wrong and all correct, with
the sampler's posterior mean pass rate when it drew them.

Every run is a process of its own (`--jobs` at a time, one torch thread each), so the runs do
not share a verifier pool or a thread pool. The curated set and the held-out set are built once
in the parent and handed to the runs as JSON. What would be computed twice with the same result
is computed once: the evaluation of the starting weights depends only on the weights, the
held-out set and the seed, so it runs once per seed and every arm's run of that seed starts
from it; on a corpus of one source the bandit arm draws exactly what thompson draws (`twin`),
so it reports thompson's runs and says so.

`--sweep-decay` runs the default arm with each given posterior decay of the sampler instead of
the arms, and prints its zero-variance share and its held-out pass@1 at the end per decay.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from assay.curricula.names import UnknownName, check_names
from assay.curricula.sampler import OnlineSampler


@dataclass(frozen=True)
class Arm:
    help: str
    data: str  # "raw" or "curated"
    strategy: str  # a key of assay.curricula.sampler.STRATEGIES
    allocation: str  # a key of assay.curricula.sampler.ALLOCATIONS
    seeded: bool  # the sampler starts from the offline counts
    refill_rounds: int = 0  # GRPOConfig.refill_rounds: DAPO's dynamic sampling
    reward: str = "verifier"  # GRPOConfig.reward


ARMS: dict[str, Arm] = {
    "uniform-raw": Arm("the raw corpus, uniform draws, equal groups (baseline)", "raw", "uniform", "equal", False),
    "uniform-curated": Arm("curated prompts, uniform draws, equal groups (curation alone)", "curated", "uniform", "equal", False),
    "thompson": Arm("curated + thompson toward the learnable band, knapsack (assay's default)", "curated", "thompson", "knapsack", True),
    "spo": Arm("curated + spo priority sqrt(p(1-p)), knapsack", "curated", "spo", "knapsack", True),
    "bandit": Arm("curated + UCB bandit over sources, knapsack", "curated", "bandit", "knapsack", True),
    "dapo": Arm("curated + DAPO dynamic sampling (uniform draws, zero-variance groups refilled)", "curated", "uniform", "equal", False,
                refill_rounds=3),
    "random-reward": Arm("the default arm on coin-flip rewards (control: must not learn)", "curated", "thompson", "knapsack", True,
                         reward="random"),
}
BASELINE, DEFAULT = "uniform-raw", "thompson"
TARGET_STDERRS = (2, 4)  # targets: held-out pass@1 at the start plus this many standard errors of one evaluation


# -- one run: a process of its own --------------------------------------------------------------


class RecordingSampler(OnlineSampler):
    """The online sampler, noting each drawn prompt's posterior mean pass rate at the moment it was
    drawn (`drawn_at`), so a zero-variance group can be told apart by what the sampler believed
    when it chose it. It draws exactly as OnlineSampler does."""

    def next_batch(self) -> list:
        draws = super().next_batch()
        self.drawn_at = {d.uid: self.value(d.uid) for d in draws}
        return draws


def cpu_seconds() -> float:
    """CPU time of this process and of the processes it waited for (its verifier workers), start-up included."""
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


def _toy_config(setup: dict, seed: int, arm: Arm):
    from assay.pipelines.steps.train import TOY_GRPO

    # Steps beyond `steps` only for arms whose steps cost fewer rollouts; the budget ends every arm.
    return replace(TOY_GRPO, steps=4 * setup["steps"], rollout_budget=setup["steps"] * setup["batch"]["rollouts_per_batch"],
                   eval_every=setup["eval_every"], eval_k=setup["eval_k"], verifier_workers=1, seed=seed,
                   refill_rounds=arm.refill_rounds, reward=arm.reward)


def _prompts(rows: list[list]):
    from assay.trainers.rollout import Prompt

    return [Prompt(*p) for p in rows]


def evaluate_start(setup_path: Path, seed: int, out_path: Path) -> None:
    """The held-out evaluation of the starting weights under `seed`, written as JSON. It depends
    only on the weights, the held-out set and the evaluation seed, so every arm's run of that
    seed would compute the same figures: they are computed once and handed to the runs."""
    import torch

    torch.set_num_threads(1)
    from assay.trainers.engines import TransformersEngine
    from assay.trainers.grpo import World, evaluate

    setup = json.loads(setup_path.read_text())
    start = time.perf_counter()
    result = evaluate(TransformersEngine("toy", device="cpu"), _prompts(setup["eval"]), _toy_config(setup, seed, ARMS[DEFAULT]), 0, World())
    out_path.write_text(json.dumps({"eval": asdict(result), "seconds": time.perf_counter() - start, "cpu_seconds": cpu_seconds()}))


def run_one(setup_path: Path, arm_name: str, seed: int, start_path: Path, out_path: Path, decay: float | None = None) -> None:
    """Train one arm with one seed from the evaluation at start_path (evaluate_start's); write
    its evaluations, per-step figures and every sampled group's outcome as JSON. `decay`, when
    given, replaces the sampler's posterior decay (the sweep's)."""
    import torch

    torch.set_num_threads(1)  # `--jobs` runs share the cores: one thread each
    from assay.curricula.sampler import SamplerConfig, SamplerItem
    from assay.trainers.engines import TransformersEngine
    from assay.trainers.grpo import EvalResult, train

    setup = json.loads(setup_path.read_text())
    arm = ARMS[arm_name]
    prompts = _prompts(setup[arm.data])
    counts = setup["counts"]
    items = [SamplerItem(p.uid, p.source, *(counts[p.uid] if arm.seeded else (0, 0))) for p in prompts]
    options = setup["batch"] | ({} if decay is None else {"decay": decay})
    sampler = RecordingSampler(items, SamplerConfig(strategy=arm.strategy, allocation=arm.allocation, seed=seed, **options))
    groups = []  # [step, rollouts decided, correct, posterior mean when drawn] of every sampled group

    def on_observation(obs) -> None:
        groups.append([obs.step, obs.n, obs.n_correct, sampler.drawn_at[obs.uid]])

    initial = EvalResult(**json.loads(start_path.read_text())["eval"])
    start = time.perf_counter()
    result = train("toy", prompts, sampler, TransformersEngine("toy", device="cpu"), _toy_config(setup, seed, arm),
                   _prompts(setup["eval"]), on_observation=on_observation, initial_eval=initial)
    spent = np.cumsum([0] + [m["rollouts"] for m in result.history]).tolist()
    out_path.write_text(json.dumps({
        "arm": arm_name,
        "seed": seed,
        "evals": [{"step": e.step, "rollouts": spent[e.step], "pass_at_1": e.pass_at_1, "stderr": e.stderr} for e in result.evals],
        "sampled_zero_variance": [m["sampled_zero_variance_groups"] for m in result.history],
        "groups": groups,
        "rollouts": spent[-1],
        "seconds": time.perf_counter() - start,
        "cpu_seconds": cpu_seconds(),
    }))


# -- statistics over seeds ----------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    mean: float
    lo: float
    hi: float
    n: int

    def __str__(self) -> str:
        return self.format(".3f")

    def format(self, spec: str) -> str:
        return f"{self.mean:{spec}} [{self.lo:{spec}}, {self.hi:{spec}}]"

    def excludes_zero(self) -> bool:
        return self.lo > 0 or self.hi < 0


def t_interval(values) -> Interval:
    """Mean and 95% Student-t interval of independent per-seed values."""
    from scipy.stats import t

    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return Interval(float(x.mean()), math.nan, math.nan, len(x))
    half = t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return Interval(float(x.mean()), float(x.mean() - half), float(x.mean() + half), len(x))


def curve_mean(evals: list[dict], budget: int) -> float:
    """Mean held-out pass@1 over [0, budget] rollouts: the trapezoid area under the
    pass@1-by-rollouts curve divided by the budget (the last evaluation holds to the budget)."""
    x = [e["rollouts"] for e in evals] + [budget]
    y = [e["pass_at_1"] for e in evals] + [evals[-1]["pass_at_1"]]
    return float(np.trapezoid(y, x) / budget)


def rollouts_to(evals: list[dict], target: float) -> float | None:
    """Rollouts at which pass@1 first reaches target, linear between evaluations; None if never."""
    for a, b in zip(evals, evals[1:]):
        if a["pass_at_1"] >= target:
            return float(a["rollouts"])
        if b["pass_at_1"] >= target:
            return a["rollouts"] + (target - a["pass_at_1"]) / (b["pass_at_1"] - a["pass_at_1"]) * (b["rollouts"] - a["rollouts"])
    return float(evals[0]["rollouts"]) if evals and evals[0]["pass_at_1"] >= target else None


def on_grid(evals: list[dict], grid: np.ndarray) -> np.ndarray:
    return np.interp(grid, [e["rollouts"] for e in evals], [e["pass_at_1"] for e in evals])


# -- the parent: set-up, runs, report ---------------------------------------------------------


def build_setup(args) -> dict:
    """Ingest the built-in corpus, score it offline, keep the learnable prompts, build the
    decontaminated held-out set."""
    import torch

    torch.set_num_threads(args.jobs)
    from assay.curricula.difficulty import AdaptiveK
    from assay.filters.decontam import BenchmarkProblem, NgramIndex
    from assay.pipelines.store.catalog import Catalog
    from assay.pipelines.steps.difficulty import DifficultyConfig, adaptive_k, estimate_difficulty, select_prompts
    from assay.pipelines.steps.ingest import ingest, resolve_source
    from assay.pipelines.steps.train import builtin_eval_prompts
    from assay.trainers.engines import SamplingConfig

    with tempfile.TemporaryDirectory() as tmp, Catalog.open(Path(tmp) / "bench.duckdb") as cat:
        source, name, preset = resolve_source("builtin:arithmetic")
        ingest(cat, source, preset, name)
        rows = cat.con.execute("SELECT uid, prompt, answer, verifier, source FROM records ORDER BY uid").fetchall()
        raw = [[uid, prompt, answer, verifier, {}, src] for uid, prompt, answer, verifier, src in rows][: args.corpus]
        corpus = {r[0] for r in raw}
        start = time.perf_counter()
        scored = estimate_difficulty(
            cat, DifficultyConfig(model="toy", k=16, sampling=SamplingConfig(temperature=1.0, max_tokens=200), workers=args.jobs),
            prompts=[p for p in select_prompts(cat, None) if p.uid in corpus],
        )
        offline_s = time.perf_counter() - start
    counts = {p.uid: [p.n, p.n_correct] for p in scored.prompts}
    rule: AdaptiveK = adaptive_k(16)  # the learnable call of the same policy that chose the samples
    uids = sorted(counts)
    learnable = rule.is_learnable(np.array([counts[u][0] for u in uids]), np.array([counts[u][1] for u in uids]))
    keep = {u for u, ok in zip(uids, learnable) if ok}

    # The held-out set: disjoint from the corpus as text, and by assay's own n-gram decontamination.
    texts = {r[1] for r in raw}
    candidates = [p for p in builtin_eval_prompts(args.eval_size + args.eval_size // 2) if p.prompt not in texts]
    index = NgramIndex([BenchmarkProblem("corpus", r[0], r[1], r[2]) for r in raw])
    flagged = {f.row for f in index.match([p.prompt for p in candidates]) if f.method == "ngram"}
    held = [p for i, p in enumerate(candidates) if i not in flagged][: args.eval_size]
    return {
        "raw": raw,
        "curated": [r for r in raw if r[0] in keep],
        "counts": counts,
        "eval": [[p.uid, p.prompt, p.answer, p.verifier, dict(p.options), p.source] for p in held],
        "offline": {"rollouts": scored.sampled, "seconds": offline_s},
        "decontam": {"candidates": len(candidates), "flagged": len(flagged), "exact_copies_removed": args.eval_size + args.eval_size // 2 - len(candidates)},
        "made_with": setup_key(args),
    }


def setup_key(args) -> dict:
    """The settings the curated and held-out sets depend on."""
    return {"corpus": args.corpus, "eval_size": args.eval_size, "jobs": args.jobs}


def load_or_build_setup(args, path: Path) -> dict:
    """build_setup's sets, or with --setup those of that file when it was built with the same
    setup_key (else built and written there), plus this run's step settings; written to `path`
    for the runs."""
    if args.setup is not None and args.setup.exists():
        setup = json.loads(args.setup.read_text())
        if setup.get("made_with") != setup_key(args):
            raise SystemExit(f"--setup {args.setup}: built with {setup.get('made_with')}, not {setup_key(args)}")
        setup["offline"]["read_from"] = str(args.setup)
    else:
        setup = build_setup(args)
        if args.setup is not None:
            args.setup.write_text(json.dumps(setup))
    setup |= {
        "batch": {"prompts_per_batch": args.prompts, "rollouts_per_batch": args.rollouts, "max_group": args.rollouts // args.prompts * 2},
        "steps": args.steps,
        "eval_every": args.eval_every,
        "eval_k": args.eval_k,
    }
    path.write_text(json.dumps(setup))
    return setup


SAME_SETTINGS = ("seeds", "steps", "rollouts", "prompts", "eval_size", "eval_k", "eval_every", "corpus")


def setup_summary(setup: dict) -> dict:
    """The set-up without its prompt lists, plus what identifies them."""
    summary = {k: v for k, v in setup.items() if k not in ("raw", "curated", "eval", "counts")}
    return {**summary, "curated_uids": sorted(r[0] for r in setup["curated"]), "eval_uids": [p[0] for p in setup["eval"]]}


def reusable_runs(args, setup: dict, arms: list[str]) -> dict[str, list[dict]]:
    """The arms of `--reuse` that are among `arms`, after checking that file was made with the same
    settings, the same curated prompts and the same held-out set; {} without --reuse."""
    if args.reuse is None:
        return {}
    earlier = json.loads(args.reuse.read_text())
    differ = [k for k in SAME_SETTINGS if earlier["args"][k] != str(getattr(args, k))]
    if differ:
        raise SystemExit(f"--reuse {args.reuse}: made with other settings ({', '.join(differ)})")
    now = setup_summary(setup)
    # The prompt lists where the file holds them (files of the first version hold only their counts).
    same = {"batch": now["batch"], "decontam": now["decontam"], "offline rollouts": now["offline"]["rollouts"]}
    held = {"batch": earlier["setup"]["batch"], "decontam": earlier["setup"]["decontam"],
            "offline rollouts": earlier["setup"]["offline"]["rollouts"]}
    for key in ("curated_uids", "eval_uids"):
        if key in earlier["setup"]:
            same[key], held[key] = now[key], earlier["setup"][key]
    differ = [k for k in same if same[k] != held[k]]
    if differ:
        raise SystemExit(f"--reuse {args.reuse}: its set-up differs from this run's ({', '.join(differ)})")
    return {arm: rs for arm, rs in earlier["runs"].items() if arm in arms}


def launch(*argv) -> dict:
    """Run this file with `argv` in a process of its own; the JSON it wrote to its last argument."""
    done = subprocess.run([sys.executable, __file__, *map(str, argv)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv[:3]))} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(Path(argv[-1]).read_text())


def twin(arm_name: str, setup: dict) -> str | None:
    """Another arm whose runs are this arm's, draw for draw, on this set-up; None if there is none.
    On a corpus of one source the bandit has a single arm, and within an arm it picks prompts by
    thompson sampling toward the band from the same generator: it draws exactly what thompson
    draws, so its runs are thompson's (tests/bench checks the draws)."""
    arm = ARMS[arm_name]
    if arm.strategy != "bandit" or len({row[5] for row in setup[arm.data]}) > 1:
        return None
    same = replace(arm, strategy="thompson", help="")
    return next((name for name, other in ARMS.items() if replace(other, help="") == same), None)


def run_all(args, setup_path: Path, tmp: Path, jobs: list[tuple[str, int, float | None]]) -> dict[tuple, dict]:
    """Every (arm, seed, decay) of `jobs`, `args.jobs` processes at a time, after the evaluation
    of the starting weights once per seed (the runs of a seed share it). {job: run's figures}."""
    with ThreadPoolExecutor(args.jobs) as pool:
        # Submitted first, so every start is taken up before a run waits on it.
        starts = {seed: pool.submit(launch, "--start", seed, setup_path, tmp / f"start-{seed}.json")
                  for seed in sorted({seed for _, seed, _ in jobs})}

        def one(arm: str, seed: int, decay: float | None) -> dict:
            starts[seed].result()
            extra = [] if decay is None else ["--decay", decay]
            return launch("--one", arm, seed, setup_path, tmp / f"start-{seed}.json", *extra, tmp / f"{arm}-{seed}-{decay}.json")

        futures = {job: pool.submit(one, *job) for job in jobs}
        results = {}
        for n, (job, future) in enumerate(futures.items(), 1):
            results[job] = future.result()
            print(f"[{n}/{len(jobs)}] {job[0]} seed {job[1]}{'' if job[2] is None else f' decay {job[2]}'}: "
                  f"{results[job]['seconds']:.0f} s", file=sys.stderr, flush=True)
    return results


def report(setup: dict, runs: dict[str, list[dict]], args) -> None:
    budget = setup["steps"] * setup["batch"]["rollouts_per_batch"]
    seeds = args.seeds
    start = t_interval([r["evals"][0]["pass_at_1"] for r in runs[BASELINE]])
    noise = float(np.mean([r["evals"][0]["stderr"] for rs in runs.values() for r in rs]))
    targets = [start.mean + k * noise for k in TARGET_STDERRS]
    print(f"GRPO on the toy policy, {len(runs)} arms x {seeds} seeds, budget {budget:,} rollouts per run "
          f"({setup['steps']} steps x {setup['batch']['rollouts_per_batch']} rollouts, {setup['batch']['prompts_per_batch']} prompts/step)")
    d = setup["decontam"]
    print(f"held-out set: {len(setup['eval']):,} built-in evaluation problems x {setup['eval_k']} samples; "
          f"{d['exact_copies_removed']} exact copies of corpus prompts and {d['flagged']} of {d['candidates']:,} candidates "
          f"flagged by assay's n-gram decontamination against the {len(setup['raw']):,}-prompt training corpus removed")
    read = f", read from {setup['offline']['read_from']}" if "read_from" in setup["offline"] else ""
    print(f"offline scoring for curation: {setup['offline']['rollouts']:,} rollouts ({setup['offline']['seconds']:.0f} s{read}), "
          f"{len(setup['curated'])} of {len(setup['raw'])} prompts kept as learnable")
    print(f"start: held-out pass@1 {start} over seeds; one evaluation's standard error {noise:.4f}; "
          f"targets {', '.join(f'+{k} SE = {t:.3f}' for k, t in zip(TARGET_STDERRS, targets))}")
    summary = {}
    for name, rs in runs.items():
        evals = list(zip(*[r["evals"] for r in rs]))  # per evaluation point, every seed's
        zero = [z for r in rs for z in r["sampled_zero_variance"]]
        reach = [[rollouts_to(r["evals"], t) for r in rs] for t in targets]
        summary[name] = {
            "auc": [curve_mean(r["evals"], budget) for r in rs],
            "final": [r["evals"][-1]["pass_at_1"] for r in rs],
            "reach": [[budget if x is None else x for x in xs] for xs in reach],
        }
        print(f"\n{name}: {ARMS[name].help}  ({np.mean([r['seconds'] for r in rs]):.0f} s per run)")
        if len({len(r["evals"]) for r in rs}) == 1:
            points = "  ".join(f"{np.mean([e['rollouts'] for e in point]):,.0f}: {t_interval([e['pass_at_1'] for e in point])}" for point in evals)
            print(f"  held-out pass@1 by rollouts (mean [95% interval]): {points}")
        else:  # refills make the evaluation points differ between seeds
            print(f"  held-out pass@1 at the end: {t_interval(summary[name]['final'])}")
        print(f"  mean pass@1 over the budget (AUC / budget): {t_interval(summary[name]['auc'])}")
        for k, xs, raw_xs in zip(TARGET_STDERRS, summary[name]["reach"], reach):
            reached = sum(x is not None for x in raw_xs)
            print(f"  rollouts to start + {k} SE: {t_interval(xs).format(',.0f')}  ({reached}/{len(rs)} seeds reached it)")
        print(f"  zero-variance groups per batch: mean {np.mean(zero):.1%}, worst batch {np.max(zero):.1%}")
        if all("groups" in r for r in rs):  # runs of --reuse files made before the groups were recorded lack them
            print(f"  {describe_zero_variance(rs)}")
    print(f"\ndifferences against {BASELINE}, paired by seed (mean [95% interval]; outside the noise when the interval excludes 0):")
    for name in runs:
        if name == BASELINE:
            continue
        ours, base = summary[name], summary[BASELINE]
        parts = [("mean pass@1 over the budget", np.subtract(ours["auc"], base["auc"])),
                 ("final pass@1", np.subtract(ours["final"], base["final"]))]
        parts += [(f"rollouts to +{k} SE", np.subtract(a, b)) for k, a, b in zip(TARGET_STDERRS, ours["reach"], base["reach"])]
        cells = []
        for label, diff in parts:
            iv = t_interval(diff)
            spec = "+,.0f" if label.startswith("rollouts") else "+.3f"
            cells.append(f"{label} {iv.format(spec)} {'outside' if iv.excludes_zero() else 'inside'} the noise")
        print(f"  {name}: " + "; ".join(cells))
    default_zero = np.mean([z for r in runs.get(DEFAULT, []) for z in r["sampled_zero_variance"]]) if DEFAULT in runs else math.nan
    print(f"\nzero-variance groups per batch, {DEFAULT} (default arm): {default_zero:.1%} (goal <= 10%) -> "
          f"{'met' if default_zero <= 0.10 else 'not met'}")
    if DEFAULT in runs and BASELINE in runs:
        ratio = np.divide(summary[DEFAULT]["reach"][0], summary[BASELINE]["reach"][0])
        print(f"rollouts to start + {TARGET_STDERRS[0]} SE, {DEFAULT} / {BASELINE} per seed: {t_interval(ratio)}")


def zero_variance_breakdown(runs: list[dict]) -> dict[str, float]:
    """Over every sampled group of `runs` with two or more decided rollouts (run["groups"] rows:
    step, decided, correct, posterior mean when drawn): the share of groups all wrong and all
    correct, and the mean posterior mean when drawn and mean size of those and of the others."""
    rows = np.array([g for r in runs for g in r["groups"] if g[1] > 1], dtype=float).reshape(-1, 4)  # [groups, 4]
    kinds = {"all wrong": rows[:, 2] == 0, "all correct": rows[:, 2] == rows[:, 1]}
    kinds["with a signal"] = ~(kinds["all wrong"] | kinds["all correct"])
    out = {}
    for kind, mask in kinds.items():
        out[f"{kind} share"] = float(mask.mean())
        out[f"{kind} drawn at"] = float(rows[mask, 3].mean()) if mask.any() else math.nan
        out[f"{kind} size"] = float(rows[mask, 1].mean()) if mask.any() else math.nan
    return out


def describe_zero_variance(runs: list[dict]) -> str:
    z = zero_variance_breakdown(runs)
    return (f"of all groups {z['all wrong share']:.1%} all wrong and {z['all correct share']:.1%} all correct; "
            f"posterior mean pass rate when drawn {z['all wrong drawn at']:.3f} (all wrong), {z['all correct drawn at']:.3f} "
            f"(all correct), {z['with a signal drawn at']:.3f} (the others); mean group size {z['all wrong size']:.1f}, "
            f"{z['all correct size']:.1f}, {z['with a signal size']:.1f}")


def frozen_policy_zero_variance(setup: dict, decay: float | None, steps: int, seeds: int) -> float:
    """The default arm's sampler on the curated prompts with the policy frozen: each prompt's true
    pass rate is a draw from its offline posterior Beta(1 + correct, 1 + wrong), rewards are coin
    flips at that rate, and no training moves it. The mean zero-variance share of the sampled groups
    per batch over `steps` batches and `seeds` seeds; `decay` None: an oracle sampler that knows
    every true rate (seeded with a million samples of it) and never forgets."""
    from assay.curricula.sampler import SamplerConfig, SamplerItem

    uids = [row[0] for row in setup["curated"]]
    n, c = np.array([setup["counts"][u] for u in uids], dtype=float).T  # [P], [P]
    shares = []
    for seed in range(seeds):
        rng = np.random.default_rng([seed, 1])
        p = rng.beta(1 + c, 1 + n - c)  # [P] the frozen policy's pass rates
        seeded = zip(n, c) if decay is not None else ((10**6, round(10**6 * q)) for q in p)
        items = [SamplerItem(u, "", int(k), int(w)) for u, (k, w) in zip(uids, seeded)]
        sampler = OnlineSampler(items, SamplerConfig(seed=seed, decay=decay or 1.0, **setup["batch"]))
        at = {u: i for i, u in enumerate(uids)}
        for _ in range(steps):
            draws = sampler.next_batch()
            zero = 0
            for d in draws:
                rewards = (rng.random(d.n) < p[at[d.uid]]).astype(float)  # [n]
                zero += rewards.min() == rewards.max()
                sampler.observe(d.uid, rewards.tolist())
            shares.append(zero / len(draws))
    return float(np.mean(shares))


def sweep_report(setup: dict, by_decay: dict[float, list[dict]], args) -> None:
    """The decay sweep: per decay, the default arm's zero-variance share and held-out pass@1 at the
    end, the latter paired by seed against SamplerConfig's default decay when it is swept."""
    from assay.curricula.sampler import SamplerConfig

    default = SamplerConfig().decay
    print(f"the sampler alone, the policy frozen at pass rates drawn from the offline counts ({args.steps} batches x 20 draws of "
          f"the rates): zero-variance groups per batch " + ", ".join(
              f"decay {d:g} {frozen_policy_zero_variance(setup, d, args.steps, 20):.1%}" for d in by_decay)
          + f", a sampler that knows every rate {frozen_policy_zero_variance(setup, None, args.steps, 20):.1%}")
    print(f"decay sweep of {DEFAULT} ({ARMS[DEFAULT].help}): {args.seeds} seeds x {setup['steps']} steps x "
          f"{setup['batch']['rollouts_per_batch']} rollouts ({setup['batch']['prompts_per_batch']} prompts/step); held-out pass@1 on "
          f"{len(setup['eval']):,} problems x {setup['eval_k']} samples")
    for decay, rs in by_decay.items():
        zero = [z for r in rs for z in r["sampled_zero_variance"]]
        final = [r["evals"][-1]["pass_at_1"] for r in rs]
        line = (f"decay {decay:g}{' (the default)' if decay == default else ''}: zero-variance groups per batch mean {np.mean(zero):.1%}, "
                f"worst batch {np.max(zero):.1%}, {'met' if np.mean(zero) <= 0.10 else 'not met'} (goal <= 10%); "
                f"held-out pass@1 at step {rs[0]['evals'][-1]['step']} {t_interval(final)}")
        if decay != default and default in by_decay:
            diff = t_interval(np.subtract(final, [r["evals"][-1]["pass_at_1"] for r in by_decay[default]]))
            line += f", against decay {default:g} {diff.format('+.3f')} {'outside' if diff.excludes_zero() else 'inside'} the noise"
        print(line)
        print(f"  {describe_zero_variance(rs)}")


def plot(runs: dict[str, list[dict]], budget: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(0, budget, 61)
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, rs in runs.items():
        curves = np.array([on_grid(r["evals"], grid) for r in rs])  # [seeds, grid]
        ivs = [t_interval(curves[:, i]) for i in range(len(grid))]
        ax.plot(grid, [iv.mean for iv in ivs], label=name)
        ax.fill_between(grid, [iv.lo for iv in ivs], [iv.hi for iv in ivs], alpha=0.15)
    ax.set_xlabel("training rollouts")
    ax.set_ylabel("held-out pass@1 (mean over seeds, 95% band)")
    ax.set_title(f"GRPO on the toy policy, {len(next(iter(runs.values())))} seeds per arm")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    # A 256-colour palette draws the same figure in a quarter of the bytes (the README embeds it).
    from PIL import Image  # matplotlib's own dependency

    Image.open(path).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)


def print_time(wall: float, args) -> None:
    """The run's wall time, and the CPU time of this process and the processes it waited for: on a
    machine with nothing else running, the wall time of `--jobs` runs at a time approaches the CPU
    time divided by the cores (2 here); on a loaded one, the wall time is larger."""
    seconds = time.perf_counter() - wall
    cpu = cpu_seconds()
    print(f"\nwall time {seconds:,.0f} s ({seconds / 60:.1f} min) with {args.jobs} runs at a time; "
          f"CPU time {cpu:,.0f} s ({cpu / 60 / (os.cpu_count() or 1):.1f} min per core over {os.cpu_count()} cores)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--start":
        seed, setup, out = sys.argv[2:5]
        return evaluate_start(Path(setup), int(seed), Path(out))
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        arm, seed, setup, start = sys.argv[2:6]
        decay = float(sys.argv[7]) if sys.argv[6] == "--decay" else None
        return run_one(Path(setup), arm, int(seed), Path(start), Path(sys.argv[-1]), decay)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="arms:\n" + "\n".join(f"  {k:<16} {a.help}" for k, a in ARMS.items()))
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated keys of the arms below")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30, help="the budget is steps x rollouts per step")
    parser.add_argument("--rollouts", type=int, default=128, help="rollouts per step")
    parser.add_argument("--prompts", type=int, default=16, help="prompts per step")
    parser.add_argument("--eval-size", type=int, default=1000, help="held-out problems")
    parser.add_argument("--eval-k", type=int, default=2, help="samples per held-out problem")
    parser.add_argument("--eval-every", type=int, default=15, help="steps between held-out evaluations")
    parser.add_argument("--corpus", type=int, default=1000, help="prompts of the built-in training corpus")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, one CPU thread each")
    parser.add_argument("--plot", type=Path, default=None, help="write the pass@1-by-rollouts plot (PNG) here")
    parser.add_argument("--json", type=Path, default=None, help="write every run's figures here")
    parser.add_argument("--reuse", type=Path, default=None,
                        help="a --json file of an earlier run with the same settings: its arms are taken from it, not rerun "
                             "(every run is seeded, and its figures do not depend on the machine's load)")
    parser.add_argument("--setup", type=Path, default=None,
                        help="the curated and held-out sets: read from this file if an earlier run with the same --corpus, "
                             "--eval-size and --jobs wrote it, else built and written there (the offline scoring is the slow part)")
    parser.add_argument("--sweep-decay", default=None, metavar="D1,D2,...",
                        help=f"instead of the arms: the default arm ({DEFAULT}) with each of these sampler posterior decays, "
                             "for the zero-variance share of its groups and its held-out pass@1")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 seeds, 4 steps of 32 rollouts, 200 held-out problems")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.steps, args.rollouts, args.prompts, args.eval_size, args.eval_every, args.corpus = 2, 4, 32, 8, 200, 2, 300
    arms = args.arms.split(",")
    try:
        check_names(ARMS, arms, "arm")
    except UnknownName as exc:
        parser.error(str(exc))
    if BASELINE not in arms and args.sweep_decay is None:
        parser.error(f"the baseline arm {BASELINE} must be among --arms")
    if args.seeds < 2:
        parser.error("--seeds must be at least 2: an interval needs two")

    wall = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        setup_path = Path(tmp) / "setup.json"
        setup = load_or_build_setup(args, setup_path)
        if args.sweep_decay is not None:
            decays = [float(d) for d in args.sweep_decay.split(",")]
            results = run_all(args, setup_path, Path(tmp), [(DEFAULT, seed, d) for d in decays for seed in range(args.seeds)])
            by_decay = {d: [results[(DEFAULT, seed, d)] for seed in range(args.seeds)] for d in decays}
            sweep_report(setup, by_decay, args)
            print_time(wall, args)
            if args.json:
                args.json.write_text(json.dumps({"setup": setup_summary(setup), "sweep": {str(d): rs for d, rs in by_decay.items()},
                                                 "args": {k: str(v) for k, v in vars(args).items()}}, indent=1))
            return
        reused = reusable_runs(args, setup, arms)
        results = {(arm, seed): r for arm, rs in reused.items() for seed, r in enumerate(rs)}
        twins = {arm: twin(arm, setup) for arm in arms if arm not in reused and twin(arm, setup) in arms}
        jobs = [(arm, seed, None) for seed in range(args.seeds) for arm in arms if arm not in reused and arm not in twins]
        results |= {(arm, seed): r for (arm, seed, _), r in run_all(args, setup_path, Path(tmp), jobs).items()}
    results |= {(arm, seed): results[(other, seed)] for arm, other in twins.items() for seed in range(args.seeds)}
    runs = {arm: [results[(arm, seed)] for seed in range(args.seeds)] for arm in arms}
    report(setup, runs, args)
    for arm, other in twins.items():
        print(f"{arm}: the runs of {other}, not rerun: the corpus has one source, so the bandit has a single arm and draws what {other} draws")
    print_time(wall, args)
    if args.plot:
        plot(runs, args.steps * args.rollouts, args.plot)
        print(f"plot: {args.plot}")
    if args.json:
        args.json.write_text(json.dumps({"setup": setup_summary(setup), "runs": runs, "args": {k: str(v) for k, v in vars(args).items()}},
                                        indent=1))


if __name__ == "__main__":
    main()
