"""The GRPO trainer's pure parts with hand-derived numbers: advantages, the clipped surrogate
with clip-higher, token-level aggregation, the k3 KL, and the config's strategy tables."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from assay.trainers.grpo import (
    ADVANTAGES,
    REWARDS,
    STD_EPS,
    GRPOConfig,
    LossInput,
    TrainError,
    clipped_surrogate_loss,
    decided_advantages,
    dr_grpo_advantages,
    grpo_advantages,
    random_rewards,
    rloo_advantages,
    spo_advantages,
    token_logprobs,
    train,
    verifier_rewards,
)
from assay.trainers.rollout import Prompt
from assay.verifiers import Verdict
from assay.verifiers.names import UnknownName, names_help

# Three groups: one of four rollouts with one success, a solved pair, a group of one.
REWARDS_ = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.5])
GROUP = torch.tensor([0, 0, 0, 0, 1, 1, 2])
NO_VALUE = torch.zeros(7)
# The loss's settings where a test does not vary them: clip to [0.8, 1.28], no KL.
CLIPS = GRPOConfig(clip_low=0.2, clip_high=0.28, kl_coef=0.0)


def test_grpo_advantages_group_mean_and_sample_std():
    # Group 0: mean 1/4; sample variance ((3/4)^2 + 3 (1/4)^2) / 3 = 1/4, so std 1/2.
    s = 0.5 + STD_EPS
    expected = [0.75 / s, -0.25 / s, -0.25 / s, -0.25 / s, 0.0, 0.0, 0.0]  # solved pair and lone rollout: 0
    assert grpo_advantages(REWARDS_, GROUP, NO_VALUE).tolist() == pytest.approx(expected, rel=1e-6)


def test_dr_grpo_advantages_mean_only():
    expected = [0.75, -0.25, -0.25, -0.25, 0.0, 0.0, 0.0]
    assert dr_grpo_advantages(REWARDS_, GROUP, NO_VALUE).tolist() == pytest.approx(expected)


def test_rloo_advantages_leave_one_out():
    # 1 - mean(0, 0, 0) = 1; 0 - mean(1, 0, 0) = -1/3; a group of one has no others: 0.
    expected = [1.0, -1 / 3, -1 / 3, -1 / 3, 0.0, 0.0, 0.0]
    assert rloo_advantages(REWARDS_, GROUP, NO_VALUE).tolist() == pytest.approx(expected)


def test_spo_advantages_value_baseline_normalized_over_the_batch():
    rewards = torch.tensor([1.0, 0.0, 1.0, 0.0])
    value = torch.tensor([0.5, 0.5, 0.25, 0.75])  # the sampler's posterior means
    # r - v = [0.5, -0.5, 0.75, -0.75]: mean 0, population std sqrt(1.625 / 4).
    s = math.sqrt(1.625 / 4) + STD_EPS
    expected = [0.5 / s, -0.5 / s, 0.75 / s, -0.75 / s]
    # No groups needed: every rollout in its own group gives the same advantages.
    for group in (torch.zeros(4, dtype=torch.long), torch.arange(4)):
        assert spo_advantages(rewards, group, value).tolist() == pytest.approx(expected, rel=1e-6)


def test_spo_gives_signal_where_grpo_has_a_zero_variance_group():
    rewards = torch.tensor([1.0, 1.0, 0.0, 1.0])
    group = torch.tensor([0, 0, 1, 1])
    value = torch.tensor([0.2, 0.2, 0.5, 0.5])  # group 0 is solved twice but believed hard
    assert grpo_advantages(rewards, group, value)[:2].tolist() == [0.0, 0.0]
    assert (spo_advantages(rewards, group, value)[:2] > 0).all()


def _loss(ratios, advantages, clip_high, tokens=4.0):
    old = torch.zeros(len(ratios), 1)
    logp = torch.log(torch.tensor(ratios))[:, None].requires_grad_(True)  # [B, 1]: one token each
    parts = clipped_surrogate_loss(LossInput(logp, old, torch.tensor(advantages), torch.ones(len(ratios), 1), tokens),
                                   GRPOConfig(clip_low=0.2, clip_high=clip_high))
    parts.loss.backward()
    return parts, logp.grad[:, 0].tolist()


def test_clipped_surrogate_with_clip_higher_hand_example():
    # Per token -min(r A, clip(r, 0.8, 1.28) A):
    #   r=1.5, A=+1 -> -1.28 (clipped: no gradient)   r=0.5, A=+1 -> -0.5 (unclipped)
    #   r=1.1, A=-1 -> +1.1 (unclipped)               r=0.7, A=-1 -> +0.8 (clipped)
    parts, grad = _loss([1.5, 0.5, 1.1, 0.7], [1.0, 1.0, -1.0, -1.0], clip_high=0.28)
    assert parts.loss.item() == pytest.approx((-1.28 - 0.5 + 1.1 + 0.8) / 4)
    assert float(parts.clipped_tokens) == 2
    # d/dlogp of -r A / 4 is -r A / 4 where unclipped.
    assert grad == pytest.approx([0.0, -0.5 / 4, 1.1 / 4, 0.0])


def test_clip_higher_keeps_the_gradient_a_symmetric_clip_removes():
    # r = 1.25 with A > 0: inside 1 + 0.28, outside 1 + 0.2.
    _, asymmetric = _loss([1.25], [1.0], clip_high=0.28, tokens=1.0)
    _, symmetric = _loss([1.25], [1.0], clip_high=0.2, tokens=1.0)
    assert asymmetric == pytest.approx([-1.25])
    assert symmetric == [0.0]


def test_token_level_aggregation_weights_long_completions_by_their_tokens():
    # Two completions at ratio 1: 1 token with A = +1, 3 tokens with A = -1 (mask [B, T]).
    logp = torch.zeros(2, 3)
    mask = torch.tensor([[1, 0, 0], [1, 1, 1]])
    parts = clipped_surrogate_loss(LossInput(logp, logp, torch.tensor([1.0, -1.0]), mask, tokens=4.0), CLIPS)
    # Token mean: (-1 + 3) / 4 = 0.5 (a mean of per-sequence means would give 0).
    assert parts.loss.item() == pytest.approx(0.5)


def test_micro_batches_add_up_to_the_full_batch_gradient():
    torch.manual_seed(0)
    logp = torch.randn(6, 5).requires_grad_(True)
    old = logp.detach() + 0.1 * torch.randn(6, 5)
    adv = torch.randn(6)
    mask = (torch.rand(6, 5) > 0.3).long()
    tokens = float(mask.sum())
    clipped_surrogate_loss(LossInput(logp, old, adv, mask, tokens), CLIPS).loss.backward()
    full = logp.grad.clone()
    logp.grad = None
    for rows in (slice(0, 2), slice(2, 5), slice(5, 6)):  # uneven micro-batches, one normalizer
        clipped_surrogate_loss(LossInput(logp[rows], old[rows], adv[rows], mask[rows], tokens), CLIPS).loss.backward()
    assert torch.allclose(logp.grad, full, atol=1e-7)


def test_the_first_mini_batch_uses_its_own_forward_as_old_log_probs():
    # Departure 6: the first mini-batch trains the policy its old log-probs would be computed
    # from, so they are its own forward's, detached; later mini-batches keep theirs from before
    # the first update. The gradient equals the one against a separate no-grad forward.
    from assay.trainers.engines import resolve_model
    from assay.trainers.grpo import Rollout, World, load_learner, micro_batches, StepBatch

    config = GRPOConfig(updates_per_batch=2, micro_batch=2, temperature=1.0)
    learner = load_learner(resolve_model("toy"), resolve_model("toy"), config, World(), "cpu")
    rollouts = [Rollout(i % 2, f"u{i % 2}", (5, 6, 7), tuple(range(8, 8 + i)), "") for i in range(1, 5)]
    batch = StepBatch([], {0, 1}, torch.tensor([0, 1, 0, 1]), torch.tensor([1.0, 0.0, 0.0, 1.0]), rollouts,
                      torch.tensor([1.0, -1.0, -1.0, 1.0]), {})
    minis = micro_batches(batch, rollouts[0], learner, config, seed=0, world=World())
    assert [[m.old_logprobs is None for m in mini] for mini in minis] == [[True], [False]]
    first = minis[0][0]
    with torch.no_grad():
        separate = token_logprobs(learner.policy, first.ids, first.attention, 1.0)
    grads = []
    for old in (None, separate):
        learner.policy.zero_grad()
        logp = token_logprobs(learner.policy, first.ids, first.attention, 1.0)
        m = dataclasses.replace(first, old_logprobs=old)
        clipped_surrogate_loss(m.loss_input(logp, 4.0), config).loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in learner.policy.parameters() if p.grad is not None]))
    assert torch.equal(grads[0], grads[1])


def test_k3_kl_to_the_reference():
    logp = torch.log(torch.tensor([[0.5]]))
    ref = torch.log(torch.tensor([[0.25]]))
    parts = clipped_surrogate_loss(LossInput(logp, logp, torch.zeros(1), torch.ones(1, 1), 1.0, ref),
                                   GRPOConfig(clip_low=0.2, clip_high=0.28, kl_coef=0.1))
    # delta = log(0.25 / 0.5); k3 = e^delta - delta - 1 = 0.5 + ln 2 - 1.
    k3 = 0.5 + math.log(2) - 1
    assert float(parts.kl_sum) == pytest.approx(k3)
    assert parts.loss.item() == pytest.approx(0.1 * k3)


def test_rewards_table():
    verdicts = [Verdict.of(True), Verdict.of(False), Verdict.fail("error", "boom"), Verdict("incorrect", 0.75)]
    assert verifier_rewards(verdicts, np.random.default_rng(0)).tolist() == [1.0, 0.0, 0.0, 0.0]
    coin = random_rewards([Verdict.of(True)] * 2000, np.random.default_rng(0))
    assert set(coin.tolist()) == {0.0, 1.0} and abs(coin.mean() - 0.5) < 0.05


def test_the_torch_free_settings_help_names_every_estimator_and_reward():
    # GRPOConfig is read before torch loads, so its help cannot import the tables; it spells their keys.
    help = {f.name: f.metadata["help"] for f in dataclasses.fields(GRPOConfig)}
    assert names_help(ADVANTAGES) in help["advantage"] and names_help(REWARDS) in help["reward"]


def test_config_rejects_unknown_strategies_listing_the_valid_ones():
    with pytest.raises(UnknownName, match=f"unknown advantage 'ppo'; valid: {', '.join(ADVANTAGES)}$"):
        GRPOConfig(advantage="ppo")
    with pytest.raises(UnknownName, match=f"unknown reward 'human'; valid: {', '.join(REWARDS)}$"):
        GRPOConfig(reward="human")
    with pytest.raises(TrainError, match="micro_batch must be positive"):
        GRPOConfig(micro_batch=0)


def test_undecided_rollouts_are_masked_not_scored_zero():
    # Group 0: correct, incorrect, timeout, correct, error; group 1: bad_gold, timeout.
    verdicts = [Verdict.of(True), Verdict.of(False), Verdict.fail("timeout", ""), Verdict.of(True), Verdict.fail("error", ""),
                Verdict.fail("bad_gold", ""), Verdict.fail("timeout", "")]
    keep, rewards, advantages = decided_advantages(verdicts, [0, 0, 0, 0, 0, 1, 1], [0.5] * 7, grpo_advantages, verifier_rewards,
                                                   np.random.default_rng(0))
    assert keep.tolist() == [True, True, False, True, False, False, False]
    # Decided rewards 1, 0, 1: mean 2/3, sample variance (1/9 + 4/9 + 1/9) / 2 = 1/3 (with the
    # undecided ones as 0 the mean would be 2/5). Group 1 has nothing decided: no rollout, no group.
    assert rewards.tolist() == [1.0, 0.0, 1.0]
    s = math.sqrt(1 / 3) + STD_EPS
    assert advantages.tolist() == pytest.approx([(1 / 3) / s, (-2 / 3) / s, (1 / 3) / s], rel=1e-6)
    # RLOO's leave-one-out baseline sees the decided others only: 1 - mean(0, 1) = 0.5, 0 - 1 = -1.
    assert decided_advantages(verdicts, [0] * 5 + [1] * 2, [0.5] * 7, rloo_advantages, verifier_rewards, None)[2].tolist() == [0.5, -1.0, 0.5]
    # Nothing decided: nothing to train on.
    keep, rewards, advantages = decided_advantages(verdicts[5:], [1, 1], [0.5, 0.5], grpo_advantages, verifier_rewards, None)
    assert keep.tolist() == [False, False] and rewards.numel() == 0 and advantages.numel() == 0


def test_train_refuses_a_prompt_set_it_cannot_use_before_loading_anything():
    # The checks come first: no sampler, engine or model is touched (None would fail on use).
    one = Prompt("u1", "Compute 4*2.", "8", "math")
    for prompts, eval_prompts, message in [
        ([one, replace(one, prompt="Compute 1+1.")], [], "prompt uids must be unique"),
        ([], [], "no training prompts"),
        ([one], [replace(one, uid="e1")], "1 held-out prompts are also training prompts, e.g. 'Compute 4\\*2.'"),
    ]:
        with pytest.raises(TrainError, match=message):
            train("toy", prompts, None, None, GRPOConfig(), eval_prompts)
