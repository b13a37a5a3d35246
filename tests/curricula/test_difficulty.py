"""Difficulty statistics against hand-derived values, and adaptive k on a simulated population."""

import math

import numpy as np
import pytest

from assay.curricula.difficulty import (
    DECIDED,
    STATUSES,
    AdaptiveK,
    BetaPosterior,
    StatusCounts,
    beta_cdf,
    beta_quantile,
    learnability,
    pass_at_k,
)


def test_pass_at_k_hand_values():
    assert pass_at_k(16, 4, 1) == pytest.approx(4 / 16)
    assert pass_at_k(4, 2, 2) == pytest.approx(1 - 1 / 6)  # 1 - C(2,2)/C(4,2)
    assert pass_at_k(10, 3, 5) == pytest.approx(1 - math.comb(7, 5) / math.comb(10, 5))
    assert pass_at_k(8, 0, 8) == 0.0 and pass_at_k(8, 8, 1) == 1.0
    assert pass_at_k(8, 5, 4) == 1.0  # fewer than k wrong: every k-subset holds a correct one
    with pytest.raises(ValueError):
        pass_at_k(4, 2, 5)
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)


def test_beta_cdf_closed_forms_and_quantiles():
    for x in (0.01, 0.3, 0.77):
        assert beta_cdf(x, 1, 5) == pytest.approx(1 - (1 - x) ** 5, rel=1e-12)
        assert beta_cdf(x, 4, 1) == pytest.approx(x**4, rel=1e-12)
    assert beta_cdf(0.5, 7.5, 7.5) == pytest.approx(0.5)
    assert beta_quantile(0.95, 1, 1) == pytest.approx(0.95)
    assert beta_quantile(0.5, 1, 5) == pytest.approx(1 - 0.5 ** (1 / 5))


def test_beta_posterior_summary():
    post = BetaPosterior.from_counts(16, 4)  # Beta(5, 13)
    assert post.mean == pytest.approx(5 / 18)
    lo, hi = post.interval(0.9)
    assert beta_cdf(lo, 5, 13) == pytest.approx(0.05) and beta_cdf(hi, 5, 13) == pytest.approx(0.95)
    assert BetaPosterior.from_counts(0, 0).interval(0.9) == pytest.approx((0.05, 0.95))
    assert BetaPosterior.from_counts(8, 0).prob_between(0.1, 0.9) == pytest.approx(0.9**9 - 0.1**9)
    assert learnability(0.5) == 0.25 and learnability(1.0) == 0.0


def _sample(ak, p, seed):
    rng = np.random.default_rng(seed)
    n = np.zeros(len(p), int)
    c = np.zeros(len(p), int)
    while (more := ak.more_samples(n, c)).any():
        c += rng.binomial(more, p)
        n += more
    return n, c


def test_adaptive_k_respects_first_k_budget_and_max_k():
    ak = AdaptiveK(first_k=4, step_k=2, max_k=10, budget=6)
    assert ak.more_samples(np.array([0, 2, 4]), np.array([0, 1, 2])).tolist() == [4, 2, 0]
    p = np.random.default_rng(0).uniform(0, 1, 500)
    n, _ = _sample(ak, p, 1)
    assert n.min() >= 4 and n.max() <= 10 and n.sum() <= 6 * 500
    assert np.array_equal(_sample(ak, p, 1)[0], n)  # same counts, same plan


def test_adaptive_k_stops_degenerate_prompts_at_first_k():
    p = np.r_[np.zeros(300), np.ones(300), np.full(50, 0.5)]
    n, c = _sample(AdaptiveK(), p, 0)
    assert (n[:600] == 4).mean() > 0.95  # solved-always and solved-never need no more
    assert n[600:].max() > 8  # middle prompts that looked degenerate at first get more
    # A p=0.5 prompt shows 0/4 or 4/4 one time in 8; among 600 exactly-degenerate prompts that
    # is rightly read as degenerate, so about 1/8 of the middle is the price of stopping early.
    assert AdaptiveK().is_learnable(n, c)[600:].mean() > 0.8


@pytest.mark.slow
def test_adaptive_k_matches_fixed_16_at_half_the_rollouts():
    rng = np.random.default_rng(0)
    size = 3000
    kind = rng.choice(3, size=size, p=[0.4, 0.4, 0.2])
    p = np.where(kind == 0, rng.beta(1, 40, size), np.where(kind == 1, rng.beta(40, 1, size), rng.uniform(0, 1, size)))
    truth = (p >= 0.1) & (p <= 0.9)
    c16 = rng.binomial(16, p)
    fixed_accuracy = (((c16 / 16) >= 0.1) & ((c16 / 16) <= 0.9) == truth).mean()
    ak = AdaptiveK()
    n, c = _sample(ak, p, 1)
    assert n.sum() <= 0.5 * 16 * size
    assert (ak.is_learnable(n, c) == truth).mean() >= fixed_accuracy - 0.005


def test_adaptive_k_rejects_bad_settings():
    with pytest.raises(ValueError, match="band"):
        AdaptiveK(band_lo=0.9, band_hi=0.1)
    with pytest.raises(ValueError, match="budget"):
        AdaptiveK(budget=2)


def test_status_counts_decide_the_denominator():
    # 3 correct, 2 incorrect, 1 timeout: pass rate 3/5 over k = 5 decided samples, not 3/6.
    counts = StatusCounts.of(["correct", "incorrect", "timeout", "correct", "incorrect", "correct"])
    assert (counts.total, counts.decided, counts.failed) == (6, 5, 1)
    assert counts.pass_rate == pytest.approx(3 / 5) and counts.failed_share == pytest.approx(1 / 6)
    # no_answer is the model's failure (decided); bad_gold is the reference's and counts in neither.
    both = counts + StatusCounts(no_answer=1, bad_gold=2, error=1)
    assert (both.decided, both.failed, both.total) == (6, 2, 10)
    assert both.as_dict() == {"correct": 3, "incorrect": 2, "no_answer": 1, "bad_gold": 2, "timeout": 1, "error": 1}
    assert StatusCounts.from_dict({"correct": 1, "timeout": None}) == StatusCounts(correct=1)
    assert math.isnan(StatusCounts(timeout=4).pass_rate)  # nothing decided: no pass rate at all
    with pytest.raises(ValueError, match=f"unknown status 'maybe'; valid: {', '.join(STATUSES)}$"):
        StatusCounts.of(["maybe"])


def test_status_names_are_the_verifiers():
    from assay.verifiers import DECIDED as VERIFIER_DECIDED
    from assay.verifiers import STATUSES as VERIFIER_STATUSES

    assert STATUSES == tuple(VERIFIER_STATUSES) and set(DECIDED) < set(STATUSES)
    assert DECIDED == VERIFIER_DECIDED
