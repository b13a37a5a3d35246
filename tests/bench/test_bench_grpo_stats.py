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
