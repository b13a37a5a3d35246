"""DAPO's dynamic sampling (refill_rounds) and the rollout budget, on the toy policy: a step's
zero-variance groups are dropped and refilled, every sampled group is still observed, and a
budget ends training at the step that reaches it."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from assay.curricula.arithmetic import ArithmeticSpec, generate_arithmetic
from assay.curricula.sampler import OnlineSampler, SamplerConfig, SamplerItem
from assay.trainers.engines import TransformersEngine
from assay.trainers.grpo import GRPOConfig, TrainError, train
from assay.trainers.rollout import Prompt

# One-operation problems the toy solves about half the time (groups with a signal) beside
# six-operation ones it almost never solves (groups of 4 all wrong: zero variance).
EASY = generate_arithmetic(6, 3, ArithmeticSpec(max_steps=1))
HARD = generate_arithmetic(6, 4, ArithmeticSpec(min_steps=6, max_steps=6))
PROMPTS = [Prompt(f"p{i}", p.prompt, p.answer, "math") for i, p in enumerate(EASY + HARD)]
CONFIG = GRPOConfig(steps=3, lr=3e-4, max_tokens=40, eval_every=0, verifier_workers=1)


def run(config, eval_prompts=(), **options):
    torch.set_num_threads(1)
    sampler = OnlineSampler([SamplerItem(p.uid) for p in PROMPTS],
                            SamplerConfig(strategy="uniform", allocation="equal", prompts_per_batch=4, rollouts_per_batch=16, seed=3))
    history, observed = [], []
    result = train("toy", PROMPTS, sampler, TransformersEngine("toy", device="cpu"), config, eval_prompts,
                   on_observation=observed.append, on_metrics=history.append, **options)
    return result, [m for m in history if "loss" in m], observed


@pytest.mark.slow
def test_refills_replace_zero_variance_groups_and_every_sampled_group_is_observed():
    plain, plain_log, plain_obs = run(CONFIG)
    refilled, log, observed = run(replace(CONFIG, refill_rounds=4))
    # Without refills the zero-variance groups stay in the batch (the hard prompts make them).
    assert sum(m["zero_variance_groups"] for m in plain_log) > 0
    assert all(m["dropped_groups"] == 0 and m["sampled_zero_variance_groups"] == m["zero_variance_groups"] for m in plain_log)
    # The first round of step 1 is the same draw with the same seed as the run without refills.
    assert [(o.uid, o.counts) for o in observed[:4]] == [(o.uid, o.counts) for o in plain_obs[:4]]
    for m in log:
        # Trained: only groups with a signal, at most the first round's 4; dropped: the rest.
        assert m["zero_variance_groups"] == 0
        assert m["groups"] - m["dropped_groups"] <= 4
        assert m["rollouts"] == 16 * m["groups"] / 4
    assert any(m["dropped_groups"] > 0 for m in log)
    # Every sampled group, trained or dropped, is a difficulty observation with all its rollouts.
    assert len(observed) == sum(m["groups"] for m in log)
    assert sum(o.counts.total for o in observed) == sum(m["rollouts"] for m in log)


def test_a_rollout_budget_ends_training_at_the_step_that_reaches_it():
    eval_prompts = [Prompt("e0", "Compute 2+2.", "4", "math")]
    result, log, _ = run(replace(CONFIG, steps=5, rollout_budget=20, eval_every=1), eval_prompts)
    # 16 rollouts a step: step 1 leaves the budget unspent (16 < 20), step 2 reaches it.
    assert result.steps == 2 and [m["step"] for m in log] == [1, 2]
    assert [e.step for e in result.evals] == [0, 1, 2]


def test_refill_rounds_and_budget_must_not_be_negative():
    with pytest.raises(TrainError, match="refill_rounds must be >= 0"):
        GRPOConfig(refill_rounds=-1)
    with pytest.raises(TrainError, match="rollout_budget must be >= 0"):
        GRPOConfig(rollout_budget=-5)


def test_an_evaluation_carries_the_standard_error_of_its_pass_at_1():
    import math

    import numpy as np

    from assay.trainers.engines import SamplingConfig
    from assay.trainers.grpo import EVAL_SEED_OFFSET, World, evaluate
    from assay.verifiers import Check, verify_batch

    torch.set_num_threads(1)
    engine = TransformersEngine("toy", device="cpu")
    config = replace(CONFIG, eval_k=4)
    prompts = PROMPTS[:3] + PROMPTS[-2:]
    result = evaluate(engine, prompts, config, 0, World())
    # The same samples drawn and judged by hand: per-prompt pass rates, their mean and its standard error.
    samples = engine.generate([p.prompt for p in prompts], 4, SamplingConfig(temperature=1.0, max_tokens=40, seed=EVAL_SEED_OFFSET))
    rates = []
    for p, completions in zip(prompts, samples):
        verdicts = verify_batch([Check(c.text, p.answer, "math") for c in completions], workers=1)
        rates.append(sum(v.status == "correct" for v in verdicts) / 4)
    assert result.pass_at_1 == pytest.approx(np.mean(rates))
    assert result.stderr == pytest.approx(np.std(rates, ddof=1) / math.sqrt(5))


def test_a_run_given_its_starting_evaluation_matches_one_that_evaluates_it():
    eval_prompts = [Prompt("e0", "Compute 2+2.", "4", "math"), Prompt("e1", "Compute 7*3.", "21", "math")]
    config = replace(CONFIG, steps=2, eval_every=1, eval_k=4)
    itself, log, _ = run(config, eval_prompts)
    given, given_log, _ = run(config, eval_prompts, initial_eval=itself.evals[0])
    # The start is the caller's; what follows (draws, updates, later evaluations) is the same run.
    assert given.evals == itself.evals and [e.step for e in given.evals] == [0, 1, 2]
    assert [m["loss"] for m in given_log] == [m["loss"] for m in log]
    with pytest.raises(TrainError, match="step 0"):
        run(config, eval_prompts, initial_eval=itself.evals[1])
