"""bench_grpo's statistics, by hand: the t-interval over seeds, the area under a pass@1-by-rollouts
curve, and the interpolated rollouts to a target."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("bench_grpo", Path(__file__).resolve().parents[2] / "bench" / "bench_grpo.py")
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_grpo"] = bench  # dataclasses look their module up there
_spec.loader.exec_module(bench)

EVALS = [{"rollouts": 0, "pass_at_1": 0.10}, {"rollouts": 100, "pass_at_1": 0.20}, {"rollouts": 200, "pass_at_1": 0.16}]


def test_t_interval_of_five_seeds():
    iv = bench.t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    # mean 3, sample std sqrt(2.5), t(0.975, 4) = 2.7764: half-width 2.7764 * 1.5811 / sqrt(5) = 1.9632
    assert (iv.mean, iv.n) == (3.0, 5)
    assert iv.lo == pytest.approx(3 - 1.9632, abs=1e-4) and iv.hi == pytest.approx(3 + 1.9632, abs=1e-4)
    assert iv.excludes_zero() and not bench.t_interval([-1.0, 1.0, 0.5]).excludes_zero()


def test_curve_mean_is_the_trapezoid_area_over_the_budget():
    # (0.10 + 0.20) / 2 * 100 + (0.20 + 0.16) / 2 * 100 = 33, then 0.16 held for 100 more: 49 / 300
    assert bench.curve_mean(EVALS, 300) == pytest.approx(49 / 300)
    assert bench.curve_mean(EVALS, 200) == pytest.approx(33 / 200)


def test_rollouts_to_a_target_interpolate_between_evaluations():
    assert bench.rollouts_to(EVALS, 0.15) == pytest.approx(50.0)  # halfway from 0.10 to 0.20
    assert bench.rollouts_to(EVALS, 0.10) == 0.0
    assert bench.rollouts_to(EVALS, 0.25) is None


def test_every_arm_names_known_strategies_and_rewards():
    from assay.curricula.sampler import ALLOCATIONS, STRATEGIES
    from assay.trainers.grpo import REWARDS

    assert bench.BASELINE in bench.ARMS and bench.DEFAULT in bench.ARMS
    for arm in bench.ARMS.values():
        assert arm.strategy in STRATEGIES and arm.allocation in ALLOCATIONS and arm.reward in REWARDS and arm.data in ("raw", "curated")


def test_the_bandit_on_one_source_draws_what_thompson_draws():
    from assay.curricula.sampler import OnlineSampler, SamplerConfig, SamplerItem

    items = [SamplerItem(f"u{i}", "one source", n=8, n_correct=i % 9) for i in range(40)]
    samplers = [OnlineSampler(items, SamplerConfig(strategy=s, prompts_per_batch=6, rollouts_per_batch=40, seed=3))
                for s in ("bandit", "thompson")]
    for step in range(8):
        batches = [s.next_batch() for s in samplers]
        assert batches[0] == batches[1]
        for draw in batches[0]:  # the same outcomes for both: a fixed pattern of the uid and step
            rewards = [float((int(draw.uid[1:]) + step + j) % 3 == 0) for j in range(draw.n)]
            for s in samplers:
                s.observe(draw.uid, rewards)
    one = {"curated": [["u1", "p", "1", "math", {}, "a"], ["u2", "q", "2", "math", {}, "a"]]}
    two = {"curated": [["u1", "p", "1", "math", {}, "a"], ["u2", "q", "2", "math", {}, "b"]]}
    assert bench.twin("bandit", one) == "thompson"
    assert bench.twin("bandit", two) is None and bench.twin("spo", one) is None


def test_zero_variance_breakdown_by_hand():
    # groups [step, decided, correct, posterior mean when drawn]; the group of one decided rollout is left out
    runs = [{"groups": [[0, 4, 0, 0.1], [0, 4, 4, 0.9], [0, 4, 2, 0.5]]}, {"groups": [[1, 8, 0, 0.3], [1, 6, 3, 0.4], [1, 1, 1, 0.5]]}]
    z = bench.zero_variance_breakdown(runs)
    assert (z["all wrong share"], z["all correct share"], z["with a signal share"]) == (0.4, 0.2, 0.4)
    assert z["all wrong drawn at"] == pytest.approx(0.2) and z["all wrong size"] == 6.0
    assert z["with a signal drawn at"] == pytest.approx(0.45) and z["with a signal size"] == 5.0
    assert z["all correct drawn at"] == 0.9
