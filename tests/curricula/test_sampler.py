"""The online sampler against hand-derived numbers, and each strategy in small simulations
where the true pass rates are known."""

import json
import math

import numpy as np
import pytest

from assay.curricula.sampler import (
    ALLOCATIONS,
    STRATEGIES,
    OnlineSampler,
    SamplerConfig,
    SamplerItem,
    equal,
    knapsack,
    nondegenerate_prob,
    spo_priority,
)


def rollout(rng, p, n):
    return (rng.random(n) < p).astype(float).tolist()


def test_nondegenerate_prob_is_exact_under_the_beta():
    # Beta(1, 1): E[p^n] = 1 / (n + 1), so 1 - 2 / (n + 1).
    assert nondegenerate_prob([1.0], [1.0], 4)[0].tolist() == pytest.approx([0.0, 0.0, 1 / 3, 1 / 2, 3 / 5])
    # Beta(2, 2): E[p^2] = 2*3 / (4*5) = 0.3, E[p^3] = 2*3*4 / (4*5*6) = 0.2, E[p^4] = 120/840 = 1/7.
    assert nondegenerate_prob([2.0], [2.0], 4)[0].tolist() == pytest.approx([0.0, 0.0, 0.4, 0.6, 5 / 7])
    # Beta(2, 1): E[p^2] = 2*3 / (3*4) = 1/2, E[(1-p)^2] = 1*2 / (3*4) = 1/6.
    assert nondegenerate_prob([2.0], [1.0], 2)[0, 2] == pytest.approx(1 / 3)
    # Beta(1, 17) (0 of 16 under a uniform prior), 16 rollouts: E[(1-p)^16] = 17/33, E[p^16] = 16! 17! / 33!.
    tiny = math.factorial(16) * math.factorial(17) / math.factorial(33)
    assert nondegenerate_prob([1.0], [17.0], 16)[0, 16] == pytest.approx(1 - 17 / 33 - tiny, rel=1e-12)
    # Not the plug-in value at the mean: 1 - 2 * 0.5^2 = 0.5 for Beta(1, 1) and n = 2.
    assert nondegenerate_prob([1.0], [1.0], 2)[0, 2] < 0.5


def test_knapsack_tiny_example_by_hand():
    # A = Beta(1, 1): values by n 0, 0, 1/3, 1/2, 3/5; entry 1/6 a rollout, then +1/6, +1/10.
    # B = Beta(2, 2): 0, 0, 0.4, 0.6, 5/7; entry 0.2 a rollout, then +0.2, +0.114.
    # C = Beta(1, 20): entry E[p(1-p)] = 20 / (21*22) = 0.043 < skip_below 0.05: skipped.
    alpha, beta = np.array([1.0, 2.0, 1.0]), np.array([1.0, 2.0, 20.0])
    config = SamplerConfig(prompts_per_batch=3, rollouts_per_batch=7, min_group=2, max_group=4, skip_below=0.05)
    # Greedy on value per rollout: B enters (2), B grows (3), A enters (2), A grows (3), B grows (4).
    alloc = knapsack(alpha, beta, config)
    assert alloc.rollouts.tolist() == [3, 4, 0]
    assert alloc.skipped.tolist() == [False, False, True]
    # One rollout less: the last step (B to 4, worth 0.114) is the one not taken.
    six = SamplerConfig(prompts_per_batch=3, rollouts_per_batch=6, min_group=2, max_group=4)
    assert knapsack(alpha, beta, six).rollouts.tolist() == [3, 3, 0]
    # max_group 2 caps both at 2; the rest of the budget stays unspent rather than fund C.
    capped = SamplerConfig(prompts_per_batch=3, rollouts_per_batch=7, min_group=2, max_group=2)
    assert knapsack(alpha, beta, capped).rollouts.tolist() == [2, 2, 0]
    # equal: 7 // 3 = 2 each, nothing skipped.
    assert equal(alpha, beta, config).rollouts.tolist() == [2, 2, 2]
    assert not equal(alpha, beta, config).skipped.any()


def test_decay_weights_earlier_evidence_at_each_observation():
    config = SamplerConfig(prompts_per_batch=1, rollouts_per_batch=4, decay=0.5, strategy="uniform")
    sampler = OnlineSampler([SamplerItem("x", n=10, n_correct=4)], config)
    assert sampler.value("x") == pytest.approx(5 / 12)  # Beta(1 + 4, 1 + 6)
    sampler.next_batch()  # steps alone change nothing: the seed waits until the prompt is seen again
    assert sampler.value("x") == pytest.approx(5 / 12)
    sampler.observe("x", [1.0, 1.0, 1.0])  # alpha = 1 + 0.5 * 4 + 3 = 6, beta = 1 + 0.5 * 6 = 4
    assert sampler.value("x") == pytest.approx(0.6)
    sampler.observe("x", [0.0, 0.0])  # alpha = 1 + 0.5 * 5 = 3.5, beta = 1 + 0.5 * 3 + 2 = 4.5
    state = sampler.state_dict()
    assert (state["alpha"], state["beta"]) == ([3.5], [4.5])
    for _ in range(60):  # evidence settles at g / (1 - decay) = 2 / 0.5 = 4 samples: Beta(1 + 4, 1)
        sampler.observe("x", [1.0, 1.0])
    assert sampler.value("x") == pytest.approx(5 / 6)


def test_success_threshold_and_zero_variance_use_the_rewards_as_given():
    config = SamplerConfig(prompts_per_batch=1, rollouts_per_batch=2, decay=1.0)
    sampler = OnlineSampler([SamplerItem("x")], config)
    sampler.observe("x", [0.5, 0.49])  # one success (>= 0.5), one failure: Beta(2, 2)
    assert sampler.value("x") == pytest.approx(0.5)
    sampler.observe("x", [0.3, 0.4])  # no success, yet the rewards differ: a group with variance
    sampler.observe("x", [0.3, 0.3])  # all equal: zero variance
    m = sampler.metrics()
    assert sampler.value("x") == pytest.approx(2 / 8)
    assert (m["total/groups"], m["total/observed_zero_variance"]) == (3.0, 1.0)
    assert m["total/rollouts_per_nondegenerate_group"] == pytest.approx(6 / 2)


def test_zero_variance_counted_when_predicted_and_when_observed():
    items = [SamplerItem("hopeless", n=16, n_correct=0), SamplerItem("fresh"), SamplerItem("known", n=8, n_correct=4)]
    config = SamplerConfig(prompts_per_batch=3, rollouts_per_batch=8, max_group=4, decay=1.0)
    sampler = OnlineSampler(items, config)
    draws = sampler.next_batch()
    assert sorted(d.uid for d in draws) == ["fresh", "known"]  # Beta(1, 17): 0.0497 a rollout < 0.05
    assert sum(d.n for d in draws) == 8
    n = {d.uid: d.n for d in draws}
    sampler.observe("fresh", [1.0] * n["fresh"])  # all solved: observed zero variance
    sampler.observe("known", [1.0, 0.0] + [1.0] * (n["known"] - 2))
    m = sampler.metrics()
    assert m["batch/predicted_zero_variance_skipped"] == 1.0
    assert m["batch/observed_zero_variance"] == 1.0
    assert m["batch/observed_zero_variance_fraction"] == 0.5
    assert m["batch/rollouts_per_nondegenerate_group"] == 8.0
    assert m["batch/mean_p"] == pytest.approx((1 / 2 + 5 / 10) / 2)
    sampler.next_batch()  # batch counts restart; totals keep the first step
    m = sampler.metrics()
    assert m["batch/observed_zero_variance"] == 0.0 and math.isnan(m["batch/rollouts_per_nondegenerate_group"])
    assert m["total/observed_zero_variance"] == 1.0 and m["total/candidates"] == 6.0


def simulate(config, rates, groups=None, steps=40, seed=1):
    """Roll out against known pass rates; return the true rate of every drawn prompt, by step."""
    groups = groups or [""] * len(rates)
    items = [SamplerItem(f"u{i}", group=g) for i, g in enumerate(groups)]
    sampler = OnlineSampler(items, config)
    rng = np.random.default_rng(seed)
    drawn = []
    for _ in range(steps):
        draws = sampler.next_batch()
        for d in draws:
            sampler.observe(d.uid, rollout(rng, rates[int(d.uid[1:])], d.n))
        drawn.append([rates[int(d.uid[1:])] for d in draws])
    return drawn


def test_thompson_concentrates_on_learnable_prompts():
    rates = [0.0] * 50 + [1.0] * 50 + [0.5] * 50  # a third learnable, nothing seeded
    share = {}
    for strategy in ("uniform", "thompson"):
        drawn = simulate(SamplerConfig(strategy=strategy, allocation="equal"), rates)
        late = np.concatenate(drawn[-10:])
        share[strategy] = float((late == 0.5).mean())
    assert share["uniform"] < 0.45
    assert share["thompson"] > 0.8


def test_spo_draws_in_proportion_to_reward_std():
    # Means 0.5 and 0.1: priorities 0.5 and 0.3, so "a" comes first 5/8 of the time.
    items = [SamplerItem("a"), SamplerItem("b", n=8, n_correct=0)]
    config = SamplerConfig(strategy="spo", allocation="equal", prompts_per_batch=1, rollouts_per_batch=2, decay=1.0)
    sampler = OnlineSampler(items, config)
    first = [sampler.next_batch()[0].uid for _ in range(4000)]
    assert first.count("a") / 4000 == pytest.approx(5 / 8, abs=0.025)
    assert spo_priority(np.array([0.5, 0.1, 0.0001]), 0.05).tolist() == pytest.approx([0.5, 0.3, 0.05])


def test_bandit_moves_to_the_group_with_larger_advantage():
    rates = [1.0] * 60 + [0.5] * 60  # "solved" groups all score 1: |advantage| 0
    groups = ["solved"] * 60 + ["mid"] * 60
    drawn = simulate(SamplerConfig(strategy="bandit", allocation="equal"), rates, groups)
    assert np.mean(drawn[0]) == pytest.approx(0.75)  # neither arm observed: slots split evenly
    late = np.concatenate(drawn[-10:])
    assert (late == 0.5).mean() > 0.8


def test_bandit_learns_from_arms_whose_candidates_the_knapsack_skips():
    # "dead" prompts were seen 0 of 16 offline: the knapsack skips them, so they are never rolled
    # out. Each skip counts as a group with |advantage| 0 for their arm, which the bandit leaves.
    items = [SamplerItem(f"d{i}", group="dead", n=16) for i in range(40)]
    items += [SamplerItem(f"l{i}", group="live", n=16, n_correct=8) for i in range(40)]
    sampler = OnlineSampler(items, SamplerConfig(strategy="bandit"))
    rng = np.random.default_rng(0)
    skipped = []
    for _ in range(10):
        for d in sampler.next_batch():
            sampler.observe(d.uid, rollout(rng, 0.5, d.n))
        skipped.append(sampler.metrics()["batch/predicted_zero_variance_skipped"])
    assert skipped[0] == 8.0  # neither arm observed yet: 8 slots each
    assert skipped[-3:] == [0.0, 0.0, 0.0]


def test_knapsack_skips_prompts_the_catalog_saw_always_fail_or_pass():
    rates = [0.0] * 100 + [1.0] * 100 + [0.5] * 100
    items = [SamplerItem(f"u{i}", n=16, n_correct=int(16 * p)) for i, p in enumerate(rates)]
    metrics = {}
    for allocation in ALLOCATIONS:
        sampler = OnlineSampler(items, SamplerConfig(strategy="uniform", allocation=allocation, decay=1.0))
        rng = np.random.default_rng(0)
        for _ in range(20):
            for d in sampler.next_batch():
                sampler.observe(d.uid, rollout(rng, rates[int(d.uid[1:])], d.n))
        metrics[allocation] = sampler.metrics()
    # Seeded 0 or 16 of 16: E[p(1-p)] = 17 / (18 * 19) = 0.0497 a rollout, under skip_below 0.05;
    # 8 of 16: 81 / (18 * 19) = 0.237. So knapsack funds only the learnable third.
    assert metrics["equal"]["total/observed_zero_variance_fraction"] > 0.5
    assert metrics["knapsack"]["total/observed_zero_variance_fraction"] < 0.05
    assert metrics["knapsack"]["total/predicted_zero_variance_skipped"] > 0.5 * metrics["knapsack"]["total/candidates"]
    # About 5 of 16 uniform candidates are learnable: each gets max_group = 16 rollouts (all
    # equal with probability 2 / 2^16) and the rest of the budget stays unspent.
    assert metrics["knapsack"]["total/rollouts_per_nondegenerate_group"] == pytest.approx(16.0, abs=0.01)
    assert metrics["knapsack"]["total/rollouts"] < metrics["equal"]["total/rollouts"]


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize("allocation", sorted(ALLOCATIONS))
def test_draws_respect_the_budget(strategy, allocation):
    rng = np.random.default_rng(3)
    items = [SamplerItem(f"u{i}", group=f"g{i % 4}", n=8, n_correct=int(rng.integers(0, 9))) for i in range(100)]
    config = SamplerConfig(strategy=strategy, allocation=allocation, prompts_per_batch=10, rollouts_per_batch=40, max_group=8)
    sampler = OnlineSampler(items, config)
    for _ in range(5):
        draws = sampler.next_batch()
        assert len({d.uid for d in draws}) == len(draws) <= 10
        assert sum(d.n for d in draws) <= 40 and all(2 <= d.n <= 8 for d in draws)
        for d in draws:
            sampler.observe(d.uid, rollout(rng, 0.5, d.n))


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_state_round_trip_continues_identically(strategy):
    rng = np.random.default_rng(2)
    items = [SamplerItem(f"u{i}", group=f"g{i % 3}", n=4, n_correct=int(rng.integers(0, 5))) for i in range(60)]
    config = SamplerConfig(strategy=strategy, prompts_per_batch=8, rollouts_per_batch=48)

    def run(sampler, steps, seed):
        rewards = np.random.default_rng(seed)
        out = []
        for _ in range(steps):
            draws = sampler.next_batch()
            for d in draws:
                sampler.observe(d.uid, rollout(rewards, 0.4, d.n))
            out.append(draws)
        return out

    first = OnlineSampler(items, config)
    run(first, 5, seed=7)
    saved = json.dumps(first.state_dict())
    expected = run(first, 5, seed=8)
    resumed = OnlineSampler(items, config)
    resumed.load_state_dict(json.loads(saved))
    assert run(resumed, 5, seed=8) == expected
    assert resumed.state_dict() == first.state_dict()
    assert resumed.metrics() == pytest.approx(first.metrics(), nan_ok=True)


def test_state_from_another_item_list_is_refused():
    state = OnlineSampler([SamplerItem("a"), SamplerItem("b")], SamplerConfig()).state_dict()
    with pytest.raises(ValueError, match="different item list"):
        OnlineSampler([SamplerItem("a"), SamplerItem("c")], SamplerConfig()).load_state_dict(state)


def test_unknown_keys_and_bad_input_fail_clearly():
    with pytest.raises(ValueError, match=f"unknown strategy 'greedy'; valid: {', '.join(STRATEGIES)}$"):
        SamplerConfig(strategy="greedy")
    with pytest.raises(ValueError, match=f"unknown allocation 'dp'; valid: {', '.join(ALLOCATIONS)}$"):
        SamplerConfig(allocation="dp")
    with pytest.raises(ValueError, match="rollouts_per_batch"):
        SamplerConfig(prompts_per_batch=16, rollouts_per_batch=20)
    with pytest.raises(ValueError, match="decay"):
        SamplerConfig(decay=0.0)
    with pytest.raises(ValueError, match="duplicate uid 'a'"):
        OnlineSampler([SamplerItem("a"), SamplerItem("a")], SamplerConfig())
    with pytest.raises(ValueError, match="item 'b': need 0 <= n_correct <= n"):
        OnlineSampler([SamplerItem("a"), SamplerItem("b", n=2, n_correct=3)], SamplerConfig())
    sampler = OnlineSampler([SamplerItem("a")], SamplerConfig())
    with pytest.raises(ValueError, match="unknown uid 'z'"):
        sampler.observe("z", [1.0])
    with pytest.raises(ValueError, match="non-empty"):
        sampler.observe("a", [])
    with pytest.raises(ValueError, match="finite"):
        sampler.observe("a", [float("nan")])
