"""Difficulty statistics: how often the current policy solves a prompt, and how sure we are.

- `StatusCounts`: what a batch of verdicts says, per status. Only decided samples (correct,
  incorrect, no_answer: the verifier judged the model's answer) count toward a pass rate; a
  timeout or error is the verifier failing and bad_gold is the reference failing, so neither
  is evidence about the model. Every statistic below takes decided counts.
- `pass_at_k(n, c, k)`: the unbiased estimator of Chen et al. (2021) from n samples, c correct.
- `BetaPosterior`: the per-prompt posterior of the pass rate under a uniform Beta(1, 1) prior,
  with its mean, central interval and the probability of a band. It uses only that prompt's
  own samples, so what a report says about a prompt never depends on what else was scored.
- `learnability(p)`: p(1-p), the variance of a Bernoulli reward; GRPO gets no gradient from a
  prompt solved always or never.
- `AdaptiveK`: sequential sampling that stops early on prompts already confidently inside or
  outside the learnable band and keeps sampling the uncertain ones, up to max_k. Unlike the
  report, it pools across prompts (empirical Bayes): a population that is mostly solved or
  mostly failed makes "0 of 4" strong evidence, which a uniform prior never would be
  (Beta(1, 5) still puts 5% of its mass above 0.45).

Example:
    >>> round(pass_at_k(16, 4, 1), 4), round(pass_at_k(16, 4, 8), 4)
    (0.25, 0.9615)
    >>> counts = StatusCounts.of(["correct"] * 3 + ["incorrect"] * 2 + ["timeout"])
    >>> counts.decided, counts.correct, counts.failed, round(counts.pass_rate, 4)
    (5, 3, 1, 0.6)
    >>> counts.line()
    'correct 3, incorrect 2, timeout 1'
    >>> post = BetaPosterior.from_counts(16, 4)
    >>> round(post.mean, 4), [round(x, 3) for x in post.interval(0.9)]
    (0.2778, [0.124, 0.461])
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, fields
from typing import Iterable, Mapping, Sequence

import numpy as np

from assay.curricula.names import check_names

# The verifiers' statuses (assay.verifiers.STATUSES), split by what a sample of that status says
# about the model. curricula imports nothing of ours, so the names are spelled out here; a test
# checks that they are exactly the verifiers' statuses.
DECIDED = ("correct", "incorrect", "no_answer")  # the verifier judged the model's answer
VERIFIER_FAILURES = ("timeout", "error")  # the verifier did not judge it: checked again, never scored
BAD_GOLD = "bad_gold"  # the reference is unusable: a property of the prompt, not of the model


@dataclass(frozen=True)
class StatusCounts:
    """Samples per verdict status. `decided` is the denominator of every pass rate."""

    correct: int = 0
    incorrect: int = 0
    no_answer: int = 0
    bad_gold: int = 0
    timeout: int = 0
    error: int = 0

    @classmethod
    def of(cls, statuses: Iterable[str]) -> "StatusCounts":
        """Count statuses; an unknown one raises UnknownName (a ValueError) naming the valid ones."""
        seen = Counter(statuses)
        check_names(STATUSES, seen, "status")
        return cls(**seen)

    @classmethod
    def from_dict(cls, counts: Mapping[str, int]) -> "StatusCounts":
        return cls(**{status: int(counts.get(status) or 0) for status in STATUSES})

    def as_dict(self) -> dict[str, int]:
        return {status: getattr(self, status) for status in STATUSES}

    def __add__(self, other: "StatusCounts") -> "StatusCounts":
        return StatusCounts(*(getattr(self, s) + getattr(other, s) for s in STATUSES))

    def line(self) -> str:
        """The non-zero counts in status order, for a printed summary: 'correct 3, timeout 1'."""
        return ", ".join(f"{s} {n:,}" for s, n in self.as_dict().items() if n) or "no verdicts"

    @property
    def total(self) -> int:
        return sum(self.as_dict().values())

    @property
    def decided(self) -> int:
        return self.correct + self.incorrect + self.no_answer

    @property
    def failed(self) -> int:
        """Verdicts the verifier could not give: timeout or error."""
        return self.timeout + self.error

    @property
    def failed_share(self) -> float:
        """failed / total; 0 for no verdicts."""
        return self.failed / self.total if self.total else 0.0

    @property
    def pass_rate(self) -> float:
        """correct / decided; nan when nothing was decided (no evidence, not a pass rate of 0)."""
        return self.correct / self.decided if self.decided else math.nan


STATUSES: tuple[str, ...] = tuple(f.name for f in fields(StatusCounts))


def too_many_failures(statuses: Sequence[str], verifiers: Sequence[str], limit: float) -> str | None:
    """None when at most `limit` (a share) of the verdicts are timeout or error; else what
    happened, for the message that stops the run: the share, each status, each verifier.
    `verifiers[i]` is the verifier that gave `statuses[i]`.

    >>> too_many_failures(["correct"] * 18 + ["timeout", "error"], ["math"] * 19 + ["code"], 0.05)
    '2 of 20 verdicts (10.0%) were timeout or error (timeout 1, error 1; verifier math 1, code 1), more than the 5% allowed'
    >>> too_many_failures(["correct"] * 19 + ["timeout"], ["math"] * 20, 0.05) is None
    True
    """
    counts = StatusCounts.of(statuses)
    if counts.failed_share <= limit:
        return None
    by_status = ", ".join(f"{s} {getattr(counts, s)}" for s in VERIFIER_FAILURES if getattr(counts, s))
    by_verifier = Counter(v for s, v in zip(statuses, verifiers) if s in VERIFIER_FAILURES)
    named = ", ".join(f"{v} {n}" for v, n in by_verifier.most_common())
    return (f"{counts.failed} of {counts.total} verdicts ({counts.failed_share:.1%}) were timeout or error "
            f"({by_status}; verifier {named}), more than the {100 * limit:g}% allowed")


def pass_at_k(n: int, c: int, k: int) -> float:
    """P(at least one of k samples is correct), unbiased from n >= k samples with c correct."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got c={c}, n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    # 1 - C(n-c, k) / C(n, k), as a product to stay exact in floating point for large n.
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def learnability(p: float) -> float:
    """p(1-p): the reward variance of a prompt with pass rate p; 0.25 at p = 0.5."""
    return p * (1.0 - p)


def beta_cdf(x: float, a: float, b: float) -> float:
    """Regularised incomplete beta function I_x(a, b), the CDF of Beta(a, b) at x."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = a * math.log(x) + b * math.log1p(-x) - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))
    # The continued fraction converges fast only left of the mean; use the symmetry otherwise.
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(x, a, b) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(1.0 - x, b, a) / b


def _beta_continued_fraction(x: float, a: float, b: float) -> float:
    """Continued fraction of I_x(a, b), evaluated with the modified Lentz method."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1.0) < 1e-14:
            break
    return result


def beta_quantile(q: float, a: float, b: float) -> float:
    """Inverse of beta_cdf in x, by bisection (monotone, so always converges)."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile level must be in [0, 1], got {q}")
    lo, hi = 0.0, 1.0
    for _ in range(60):  # 2**-60: far below any printed precision
        mid = (lo + hi) / 2.0
        if beta_cdf(mid, a, b) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


@dataclass(frozen=True)
class BetaPosterior:
    alpha: float
    beta: float

    @classmethod
    def from_counts(cls, n: int, c: int, prior: tuple[float, float] = (1.0, 1.0)) -> "BetaPosterior":
        if not 0 <= c <= n:
            raise ValueError(f"need 0 <= c <= n, got c={c}, n={n}")
        return cls(prior[0] + c, prior[1] + n - c)

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    def interval(self, level: float = 0.9) -> tuple[float, float]:
        """Central credible interval holding `level` of the posterior mass."""
        tail = (1.0 - level) / 2.0
        return beta_quantile(tail, self.alpha, self.beta), beta_quantile(1.0 - tail, self.alpha, self.beta)

    def prob_between(self, lo: float, hi: float) -> float:
        return beta_cdf(hi, self.alpha, self.beta) - beta_cdf(lo, self.alpha, self.beta)


# -- adaptive k -------------------------------------------------------------------------------

_GRID = (np.arange(200) + 0.5) / 200  # pass-rate grid for the pooled prior, midpoints of 200 bins


@dataclass(frozen=True)
class AdaptiveK:
    """Sequential pass@k sampling that spends a fixed rollout budget where the learnable call
    is uncertain, instead of k samples on every prompt.

    Every prompt first gets `first_k` samples. Then, round by round, the prompts whose
    posterior probability of lying in the learnable band [band_lo, band_hi] is furthest from
    a sure call get `step_k` more each: at most `round_fraction` of all prompts per round,
    never past `max_k` samples, and only while P(in band) is within (1 - confidence,
    confidence). Sampling ends when `budget` samples per prompt (on average) are spent or no
    prompt is uncertain. Prompts already confidently in or out of the band (all 4 right or
    all 4 wrong in a mostly-solved or mostly-failed population) stop at `first_k`.

    The posterior pools across prompts: the population's pass-rate distribution is estimated
    on a grid by EM from all counts so far (non-parametric empirical Bayes), with
    `prior_strength` pseudo-prompts spread uniformly so a handful of prompts cannot make it
    overconfident. The plan is a pure function of the counts, so a resumed run continues
    exactly where it stopped.

    Example:
        >>> ak = AdaptiveK()
        >>> ak.more_samples(np.array([0, 0]), np.array([0, 0])).tolist()
        [4, 4]
    """

    first_k: int = 4  # samples every prompt gets before any decision
    step_k: int = 2  # samples added to an uncertain prompt per round
    max_k: int = 32  # most samples any one prompt gets
    budget: float = 8.0  # average samples per prompt to spend in all (fixed k=16 spends 16)
    band_lo: float = 0.1  # the learnable band of pass rates, [band_lo, band_hi]
    band_hi: float = 0.9
    confidence: float = 0.95  # P(in band) beyond this (or below 1 - this) is a sure call
    round_fraction: float = 0.25  # share of all prompts topped up per round
    prior_strength: float = 10.0  # uniform pseudo-prompts mixed into the pooled prior

    def __post_init__(self) -> None:
        if not 1 <= self.first_k <= self.max_k or self.step_k < 1:
            raise ValueError(f"need 1 <= first_k <= max_k and step_k >= 1, got {self}")
        if self.budget < self.first_k:
            raise ValueError(f"budget ({self.budget}) must be at least first_k ({self.first_k})")
        if not 0.0 <= self.band_lo < self.band_hi <= 1.0:
            raise ValueError(f"need 0 <= band_lo < band_hi <= 1, got [{self.band_lo}, {self.band_hi}]")
        if not 0.5 < self.confidence < 1.0:
            raise ValueError(f"confidence must be in (0.5, 1), got {self.confidence}")
        if not 0.0 < self.round_fraction <= 1.0:
            raise ValueError(f"round_fraction must be in (0, 1], got {self.round_fraction}")

    def prob_learnable(self, n: np.ndarray, c: np.ndarray) -> np.ndarray:
        """P(pass rate in band | counts) for each prompt, under the pooled prior.  [P]"""
        n = np.asarray(n, dtype=float)
        c = np.asarray(c, dtype=float)
        # log-likelihood of each prompt's counts at each grid rate.  [P, G]
        loglik = c[:, None] * np.log(_GRID)[None, :] + (n - c)[:, None] * np.log1p(-_GRID)[None, :]
        lik = np.exp(loglik - loglik.max(axis=1, keepdims=True))
        uniform = np.full(_GRID.size, 1.0 / _GRID.size)
        weights = uniform
        for _ in range(100):  # EM for the grid weights
            resp = lik * weights[None, :]
            resp /= resp.sum(axis=1, keepdims=True)
            weights = (resp.sum(axis=0) + self.prior_strength * uniform) / (len(n) + self.prior_strength)
        posterior = lik * weights[None, :]
        posterior /= posterior.sum(axis=1, keepdims=True)
        in_band = (_GRID >= self.band_lo) & (_GRID <= self.band_hi)
        return posterior[:, in_band].sum(axis=1)

    def more_samples(self, n: np.ndarray, c: np.ndarray) -> np.ndarray:
        """How many more samples each prompt gets next; all zeros means sampling is done.  [P]"""
        n = np.asarray(n, dtype=int)
        if (n < self.first_k).any():
            return np.maximum(self.first_k - n, 0)
        todo = np.zeros_like(n)
        left = int(self.budget * len(n)) - int(n.sum())
        if len(n) == 0 or left < self.step_k:
            return todo
        p = self.prob_learnable(n, c)
        doubt = np.minimum(p, 1.0 - p)  # chance the call is wrong  [P]
        open_ = (doubt > 1.0 - self.confidence) & (n < self.max_k)
        room = min(left // self.step_k, math.ceil(self.round_fraction * len(n)), int(open_.sum()))
        order = np.argsort(-np.where(open_, doubt, -1.0), kind="stable")[:room]
        todo[order] = np.minimum(self.step_k, self.max_k - n[order])
        return todo

    def is_learnable(self, n: np.ndarray, c: np.ndarray) -> np.ndarray:
        """The learnable call once sampling is done: posterior P(in band) > 1/2.  [P] bools"""
        return self.prob_learnable(n, c) > 0.5
