"""Online prompt sampler and rollout-budget allocator: which prompts the GRPO trainer rolls out
each step, and how many rollouts each gets.

Every prompt carries a Beta posterior over its pass rate p under the current policy, seeded
from the catalog's offline pass@k counts (`SamplerItem.n`, `.n_correct`) and updated after
every group the trainer observes. A reward counts as a success when it is >= 0.5 (the
trainer's rewards are assay.verifiers.reward: 1 for a solve, else 0, so a success is a solve;
a caller's fractional rewards count from 0.5). Counts and rewards are of decided
samples only: the seeds' n and n_correct count correct, incorrect and no_answer verdicts, and
the trainer passes `observe` no reward for a rollout whose verifier timed out or erred (there
is none: it is not a failure of the policy). The policy improves on what it
trains on, so old evidence fades as new evidence arrives: each time a prompt is observed,
before its new counts are added, its posterior moves toward the prior,

    alpha <- prior_alpha + decay * (alpha - prior_alpha),   beta likewise.

Decay is per observation of that prompt, not per step: a prompt observed again and again in
groups of g settles at about g / (1 - decay) samples of evidence and follows the policy,
while a prompt not yet revisited keeps its catalog seed. Per-step decay of the whole pool
would erase the seeds of a large pool long before the sampler came back to them (on a pool
of 2,000 prompts, 16 a step, decay 0.99 a step leaves 0.29 of a seed after one pass), and
prompts the sampler never touches are re-scored by the next curation run instead. It costs
O(1) per observation, whatever the pool size.

A step is two choices, each one function picked from an explicit dict:
1. `STRATEGIES` picks `prompts_per_batch` candidate prompts: uniform, thompson (toward the
   learnable band), spo (priority sqrt(p(1-p))), bandit (UCB over item groups).
2. `ALLOCATIONS` splits `rollouts_per_batch` rollouts across the candidates: equal, or
   knapsack by the expected value of a non-degenerate group, E[1 - p^n - (1-p)^n], per
   rollout. Candidates the knapsack will not fund because their expected value per rollout
   is below `skip_below` are predicted zero-variance groups, skipped before any rollout.

A group whose rewards are all equal gives GRPO no gradient (the trainer drops it); `observe`
counts those as observed zero-variance groups. `metrics()` reports both counts, for the
last batch and in total, with rollouts per non-degenerate group.

Example:
    >>> items = [SamplerItem("a", n=8, n_correct=4), SamplerItem("b", n=16, n_correct=0), SamplerItem("c")]
    >>> config = SamplerConfig(prompts_per_batch=3, rollouts_per_batch=12, max_group=8)
    >>> sampler = OnlineSampler(items, config)
    >>> sorted((d.uid, d.n) for d in sampler.next_batch())   # "b" (0 of 16) is predicted useless
    [('a', 6), ('c', 6)]
    >>> sampler.observe("a", [1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    >>> sampler.observe("c", [0.0] * 6)
    >>> m = sampler.metrics()
    >>> m["batch/predicted_zero_variance_skipped"], m["batch/observed_zero_variance"], m["batch/rollouts_per_nondegenerate_group"]
    (1.0, 1.0, 12.0)
    >>> round(sampler.value("a"), 4)   # Beta(1 + 0.8 * 4 + 4, 1 + 0.8 * 4 + 2)
    0.5694
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from assay.curricula.names import choose, names_help

SUCCESS_AT = 0.5  # a reward >= this is a success for the pass-rate posterior


@dataclass(frozen=True)
class SamplerItem:
    uid: str
    group: str = ""  # source or difficulty bucket: the arms of the distribution-level bandit
    n: int = 0  # offline samples from the catalog that seed the posterior
    n_correct: int = 0  # how many of those n were correct


@dataclass(frozen=True)
class Draw:
    uid: str
    n: int  # rollouts allotted to this prompt this step (>= min_group)


# -- the exact expectation behind the knapsack -------------------------------------------------


def _beta_moments(alpha: np.ndarray, beta: np.ndarray, max_n: int) -> np.ndarray:
    """E[p^n] under Beta(alpha, beta) for n = 0..max_n: prod_{j<n} (alpha + j) / (alpha + beta + j),
    the ratio B(alpha + n, beta) / B(alpha, beta) as a running product.  [K, max_n + 1]"""
    alpha = np.asarray(alpha, dtype=float)[:, None]
    beta = np.asarray(beta, dtype=float)[:, None]
    j = np.arange(max_n, dtype=float)[None, :]
    factors = (alpha + j) / (alpha + beta + j)  # [K, max_n]
    return np.concatenate([np.ones_like(alpha), np.cumprod(factors, axis=1)], axis=1)


def nondegenerate_prob(alpha: np.ndarray, beta: np.ndarray, max_n: int) -> np.ndarray:
    """P(a group of n rollouts is not all-equal) = E[1 - p^n - (1-p)^n] under Beta(alpha, beta),
    exact, for n = 0..max_n; no group (n = 0) is worth 0.  [K, max_n + 1]

    >>> nondegenerate_prob([1.0], [1.0], 3).round(4).tolist()   # uniform prior: (n - 1) / (n + 1)
    [[0.0, 0.0, 0.3333, 0.5]]
    """
    value = 1.0 - _beta_moments(alpha, beta, max_n) - _beta_moments(beta, alpha, max_n)
    value[:, 0] = 0.0
    return value


# -- selection strategies: (pool, k, config, rng) -> k item positions, best first ----------------


@dataclass(frozen=True)
class Pool:
    """What a strategy may read: the sampler's arrays, by item position and arm."""

    alpha: np.ndarray  # [N] posterior Beta alpha of each item
    beta: np.ndarray  # [N]
    members: tuple[np.ndarray, ...]  # [G] item positions of each bandit arm (SamplerItem.group)
    arm_pulls: np.ndarray  # [G] groups observed per arm, each earlier one weighted by decay
    arm_reward: np.ndarray  # [G] sum of those groups' mean |advantage|, weighted alike


def uniform(pool: Pool, k: int, config: SamplerConfig, rng: np.random.Generator) -> np.ndarray:
    """k distinct prompts, uniformly at random."""
    return rng.choice(len(pool.alpha), size=k, replace=False)


def _toward_band(alpha: np.ndarray, beta: np.ndarray, k: int, band: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Positions (into alpha) of the k draws p ~ Beta(alpha, beta) nearest the band's midpoint,
    nearest first: every draw inside the band ranks ahead of every draw outside it.  [k]"""
    draws = rng.beta(alpha, beta)  # [M] one plausible pass rate per prompt
    distance = np.abs(draws - (band[0] + band[1]) / 2)  # [M]
    top = np.argpartition(distance, k - 1)[:k] if k < distance.size else np.arange(distance.size)
    return top[np.argsort(distance[top], kind="stable")]


def thompson(pool: Pool, k: int, config: SamplerConfig, rng: np.random.Generator) -> np.ndarray:
    """Thompson sampling toward the learnable band, after MoPPS and VADE: draw a plausible pass
    rate from every prompt's posterior and take the prompts whose draw lands nearest the middle
    of `config.band`. Aiming at the middle rather than anywhere in the band matters on a
    U-shaped pool: a prompt seen 0 of 8 still draws inside [0.1, 0.9] 39% of the time, but
    above 0.4 only 1% of the time. Uncertain prompts are still explored, because their draws
    spread; prompts known to be solved or hopeless are left alone."""
    return _toward_band(pool.alpha, pool.beta, k, config.band, rng)


def spo_priority(mean: np.ndarray, floor: float) -> np.ndarray:
    """sqrt(p(1-p)) of the posterior mean, at least `floor`: the reward's standard deviation.

    >>> spo_priority(np.array([0.5, 0.1, 0.0001]), 0.05).round(4).tolist()
    [0.5, 0.3, 0.05]
    """
    return np.maximum(np.sqrt(mean * (1.0 - mean)), floor)


def spo(pool: Pool, k: int, config: SamplerConfig, rng: np.random.Generator) -> np.ndarray:
    """k distinct prompts drawn with probability proportional to spo_priority (as in SPO's
    prioritized sampling): one at p = 0.5 is drawn 5/3 as often as one at p = 0.1."""
    weight = spo_priority(pool.alpha / (pool.alpha + pool.beta), config.spo_floor)  # [N]
    return rng.choice(weight.size, size=k, replace=False, p=weight / weight.sum())


def bandit(pool: Pool, k: int, config: SamplerConfig, rng: np.random.Generator) -> np.ndarray:
    """A distribution-level bandit over the arms (item groups), after DUMP and Self-Evolving
    Curriculum: an arm's reward is the mean |advantage| of a group observed from it (0 for a
    candidate the allocator skipped as predicted zero-variance). Each new group of an arm
    weights the arm's earlier ones by decay, so its mean tracks the policy and its pull count
    stays bounded (at 1 / (1 - decay)); the score is UCB on those discounted figures,
    mean + ucb_c * sqrt(log(1 + all pulls) / arm pulls). The k slots go one at a time to the
    best-scoring arm that still has unchosen prompts, each slot counting as a pull so the
    bonus spreads them; an arm never observed is tried first. Within an arm, prompts are
    chosen by Thompson sampling toward the band."""
    sizes = np.array([m.size for m in pool.members])  # [G]
    mean = np.divide(pool.arm_reward, pool.arm_pulls, out=np.zeros_like(pool.arm_reward), where=pool.arm_pulls > 0)
    slots = np.zeros(sizes.size, dtype=int)  # [G]
    for _ in range(k):
        pulls = pool.arm_pulls + slots  # [G]
        seen = pulls > 0
        bonus = np.full(sizes.size, np.inf)  # an arm never pulled scores first
        bonus[seen] = config.ucb_c * np.sqrt(np.log1p(pulls.sum()) / pulls[seen])
        score = np.where(slots < sizes, mean + bonus, -np.inf)
        slots[np.argmax(score)] += 1
    chosen = [
        members[_toward_band(pool.alpha[members], pool.beta[members], count, config.band, rng)]
        for members, count in zip(pool.members, slots)
        if count
    ]
    return np.concatenate(chosen)


Strategy = Callable[[Pool, int, "SamplerConfig", np.random.Generator], np.ndarray]
STRATEGIES: dict[str, Strategy] = {"uniform": uniform, "thompson": thompson, "spo": spo, "bandit": bandit}


# -- rollout allocations: (alpha, beta of the candidates, config) -> Allocation ------------------


@dataclass(frozen=True)
class Allocation:
    rollouts: np.ndarray  # [K] rollouts for each candidate; 0 = not rolled out this step
    skipped: np.ndarray  # [K] bool: predicted zero-variance, so given none on purpose


def equal(alpha: np.ndarray, beta: np.ndarray, config: SamplerConfig) -> Allocation:
    """Every candidate gets rollouts_per_batch // candidates, at most max_group."""
    each = min(config.max_group, config.rollouts_per_batch // alpha.size)
    return Allocation(np.full(alpha.size, each), np.zeros(alpha.size, dtype=bool))


def knapsack(alpha: np.ndarray, beta: np.ndarray, config: SamplerConfig) -> Allocation:
    """Greedy marginal-gain allocation of the budget (after Knapsack RL): maximise the expected
    number of non-degenerate groups, sum_i E[1 - p_i^n_i - (1-p_i)^n_i], at unit cost per rollout.
    A candidate enters with min_group rollouts at the value per rollout of that block, then
    grows one rollout at a time by its marginal value (which falls with n), up to max_group;
    each round funds the best value per rollout. Candidates whose entry value per rollout is
    below skip_below are predicted zero-variance and get none."""
    value = nondegenerate_prob(alpha, beta, config.max_group)  # [K, max_group + 1]
    entry = value[:, config.min_group] / config.min_group  # [K] value per rollout of the first block
    skipped = entry < config.skip_below
    rollouts = np.zeros(alpha.size, dtype=int)
    gain = np.where(skipped, -np.inf, entry)  # [K] value per rollout of each candidate's next step
    left = config.rollouts_per_batch
    while left > 0 and np.isfinite(gain.max()):
        i = int(np.argmax(gain))
        step = config.min_group if rollouts[i] == 0 else 1
        if step > left:  # cannot afford this entry; the others may still grow by one
            gain[i] = -np.inf
            continue
        rollouts[i] += step
        left -= step
        n = rollouts[i]
        gain[i] = value[i, n + 1] - value[i, n] if n < config.max_group else -np.inf
    return Allocation(rollouts, skipped)


Allocator = Callable[[np.ndarray, np.ndarray, "SamplerConfig"], Allocation]
ALLOCATIONS: dict[str, Allocator] = {"knapsack": knapsack, "equal": equal}


# -- the settings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SamplerConfig:
    strategy: str = field(default="thompson", metadata={
        "help": f"Which prompts each step draws: {names_help(STRATEGIES)}."})
    allocation: str = field(default="knapsack", metadata={
        "help": f"How a step's rollouts are split among its prompts: {names_help(ALLOCATIONS)}."})
    prompts_per_batch: int = field(default=16, metadata={
        "help": "Candidate prompts drawn per step, before the allocator funds them."})
    rollouts_per_batch: int = field(default=128, metadata={"help": "Rollout budget per step, split across the candidates."})
    min_group: int = field(default=2, metadata={
        "help": "Fewest rollouts a funded prompt gets (a group of one never has variance)."})
    max_group: int = field(default=16, metadata={"help": "Most rollouts one prompt gets in one step."})
    band: tuple[float, float] = field(default=(0.1, 0.9), metadata={
        "help": "The learnable band of pass rates (low, high) thompson aims at."})
    decay: float = field(default=0.8, metadata={
        "help": "Per observation, a prompt's evidence beyond the prior and its arm's bandit statistics are multiplied "
                "by this before its new group is added (1.0: never forget)."})
    prior: tuple[float, float] = field(default=(1.0, 1.0), metadata={
        "help": "Beta prior (alpha, beta) every posterior starts from."})
    seed: int = field(default=0, metadata={
        "help": "Seeds the generator behind every random choice; its state is saved in state_dict."})
    spo_floor: float = field(default=0.05, metadata={
        "help": "spo: least priority, so prompts believed solved or unsolvable still get drawn."})
    ucb_c: float = field(default=0.5, metadata={
        "help": "bandit: weight of the exploration bonus c * sqrt(log(1 + pulls) / arm pulls)."})
    # With m = 2 the value below is E[p(1-p)], at most 0.25; 0.05 skips a prompt seen 0 of 16 under a uniform prior.
    skip_below: float = field(default=0.05, metadata={
        "help": "knapsack: a candidate whose expected value per rollout of its first min_group rollouts, "
                "E[1 - p^m - (1-p)^m] / m, is below this gets none (a predicted zero-variance group)."})

    def __post_init__(self) -> None:
        choose(STRATEGIES, self.strategy, "strategy")
        choose(ALLOCATIONS, self.allocation, "allocation")
        if self.prompts_per_batch < 1:
            raise ValueError(f"prompts_per_batch must be >= 1, got {self.prompts_per_batch}")
        if not 2 <= self.min_group <= self.max_group:
            raise ValueError(f"need 2 <= min_group <= max_group, got min_group={self.min_group}, max_group={self.max_group}")
        if self.rollouts_per_batch < self.prompts_per_batch * self.min_group:
            raise ValueError(
                f"rollouts_per_batch ({self.rollouts_per_batch}) must cover min_group ({self.min_group}) "
                f"for each of prompts_per_batch ({self.prompts_per_batch})"
            )
        if not 0.0 <= self.band[0] < self.band[1] <= 1.0:
            raise ValueError(f"band must satisfy 0 <= lo < hi <= 1, got {self.band}")
        if not 0.0 < self.decay <= 1.0:
            raise ValueError(f"decay must be in (0, 1], got {self.decay}")
        if min(self.prior) <= 0.0:
            raise ValueError(f"prior alpha and beta must be > 0, got {self.prior}")
        if not 0.0 < self.spo_floor <= 0.5:
            raise ValueError(f"spo_floor must be in (0, 0.5], got {self.spo_floor}")
        if self.ucb_c < 0.0 or self.skip_below < 0.0:
            raise ValueError(f"ucb_c and skip_below must be >= 0, got {self.ucb_c}, {self.skip_below}")


# -- the sampler ---------------------------------------------------------------------------------

# Counted per batch (reset by next_batch) and in total: what was drawn, then what was observed.
_COUNTS = (
    "candidates",  # prompts the strategy proposed
    "drawn",  # prompts given rollouts
    "predicted_zero_variance_skipped",  # candidates the allocator refused as predicted zero-variance
    "rollouts",  # rollouts allotted
    "sum_p",  # posterior means of the drawn prompts, summed
    "groups",  # groups observed
    "observed_zero_variance",  # observed groups whose rewards were all equal
    "observed_rollouts",  # rewards observed
    "sum_abs_advantage",  # mean |r - mean(r)| of each observed group, summed
)


class OnlineSampler:
    """The sampler contract: `next_batch()` -> draws, `observe(uid, rewards)` after each group,
    `value(uid)`, `metrics()`, and `state_dict()` / `load_state_dict()` for exact resumption."""

    def __init__(self, items: Sequence[SamplerItem], config: SamplerConfig):
        if not items:
            raise ValueError("the sampler needs at least one item")
        self.config = config
        self._strategy = STRATEGIES[config.strategy]
        self._allocate = ALLOCATIONS[config.allocation]
        self._uids = [item.uid for item in items]
        self._index = {uid: i for i, uid in enumerate(self._uids)}
        if len(self._index) != len(self._uids):
            seen: set[str] = set()
            dup = next(uid for uid in self._uids if uid in seen or seen.add(uid))
            raise ValueError(f"duplicate uid {dup!r} in sampler items")
        n = np.fromiter((item.n for item in items), dtype=float, count=len(items))
        c = np.fromiter((item.n_correct for item in items), dtype=float, count=len(items))
        bad = np.flatnonzero((c < 0) | (c > n))
        if bad.size:
            item = items[int(bad[0])]
            raise ValueError(f"item {item.uid!r}: need 0 <= n_correct <= n, got n={item.n}, n_correct={item.n_correct}")
        self._alpha = config.prior[0] + c  # [N]
        self._beta = config.prior[1] + (n - c)  # [N]
        self._arms = sorted({item.group for item in items})
        arm_of = {name: g for g, name in enumerate(self._arms)}
        arm = np.fromiter((arm_of[item.group] for item in items), dtype=int, count=len(items))  # [N]
        order = np.argsort(arm, kind="stable")
        self._arm = arm
        self._members = tuple(np.split(order, np.cumsum(np.bincount(arm, minlength=len(self._arms)))[:-1]))
        self._arm_pulls = np.zeros(len(self._arms))  # [G]
        self._arm_reward = np.zeros(len(self._arms))  # [G]
        self._digest = hashlib.sha256("\n".join(self._uids).encode()).hexdigest()
        self._rng = np.random.default_rng(config.seed)
        self._step = 0
        self._batch = dict.fromkeys(_COUNTS, 0.0)
        self._total = dict.fromkeys(_COUNTS, 0.0)

    def next_batch(self) -> list[Draw]:
        """Start a step: pick candidates and fund them. A candidate skipped as predicted
        zero-variance counts as a group of its arm with |advantage| 0, so the bandit learns
        from arms whose prompts are all skipped instead of retrying them forever."""
        cfg = self.config
        self._step += 1
        pool = Pool(self._alpha, self._beta, self._members, self._arm_pulls, self._arm_reward)
        chosen = self._strategy(pool, min(cfg.prompts_per_batch, len(self._uids)), cfg, self._rng)  # [K]
        alloc = self._allocate(self._alpha[chosen], self._beta[chosen], cfg)
        funded = alloc.rollouts > 0
        for i in chosen[alloc.skipped].tolist():
            self._pull(self._arm[i], 0.0)
        mean = self._alpha[chosen] / (self._alpha[chosen] + self._beta[chosen])  # [K]
        self._batch = dict.fromkeys(_COUNTS, 0.0)
        self._count(
            candidates=chosen.size,
            drawn=int(funded.sum()),
            predicted_zero_variance_skipped=int(alloc.skipped.sum()),
            rollouts=int(alloc.rollouts.sum()),
            sum_p=float(mean[funded].sum()),
        )
        return [Draw(self._uids[i], int(n)) for i, n in zip(chosen.tolist(), alloc.rollouts.tolist()) if n > 0]

    def observe(self, uid: str, rewards: Sequence[float]) -> None:
        """After a group: update the prompt's posterior (success = reward >= 0.5), its arm's
        bandit statistics (mean |advantage|), and the counts (all-equal rewards = zero variance)."""
        i = self._position(uid)
        r = np.asarray(rewards, dtype=float)  # [n]
        if r.ndim != 1 or r.size == 0 or not np.isfinite(r).all():
            raise ValueError(f"observe({uid!r}): rewards must be a non-empty list of finite numbers, got {rewards!r}")
        wins = int((r >= SUCCESS_AT).sum())
        decay, (prior_a, prior_b) = self.config.decay, self.config.prior
        self._alpha[i] = prior_a + decay * (self._alpha[i] - prior_a) + wins
        self._beta[i] = prior_b + decay * (self._beta[i] - prior_b) + (r.size - wins)
        abs_advantage = float(np.abs(r - r.mean()).mean())
        self._pull(self._arm[i], abs_advantage)
        self._count(groups=1, observed_zero_variance=int(r.max() == r.min()), observed_rollouts=r.size, sum_abs_advantage=abs_advantage)

    def value(self, uid: str) -> float:
        """Posterior mean pass rate of a prompt: SPO's baseline. Read before observing this
        step's group for that prompt, it uses only earlier evidence."""
        i = self._position(uid)
        return float(self._alpha[i] / (self._alpha[i] + self._beta[i]))

    def metrics(self) -> dict[str, float]:
        """`batch/...` since the last next_batch, `total/...` since the start, `pool/...` now.
        Ratios with a zero denominator are nan."""
        out: dict[str, float] = {"step": float(self._step)}
        for scope, counts in (("batch", self._batch), ("total", self._total)):
            nondegenerate = counts["groups"] - counts["observed_zero_variance"]
            out.update({f"{scope}/{key}": counts[key] for key in _COUNTS if not key.startswith("sum_")})
            out[f"{scope}/mean_p"] = _ratio(counts["sum_p"], counts["drawn"])
            out[f"{scope}/observed_zero_variance_fraction"] = _ratio(counts["observed_zero_variance"], counts["groups"])
            out[f"{scope}/rollouts_per_nondegenerate_group"] = _ratio(counts["observed_rollouts"], nondegenerate)
            out[f"{scope}/mean_abs_advantage"] = _ratio(counts["sum_abs_advantage"], counts["groups"])
        mean = self._alpha / (self._alpha + self._beta)  # [N]
        out["pool/mean_p"] = float(mean.mean())
        out["pool/in_band"] = float(((mean >= self.config.band[0]) & (mean <= self.config.band[1])).mean())
        return out

    def state_dict(self) -> dict:
        """Everything the next steps depend on, JSON-serializable (floats round-trip exactly)."""
        return {
            "uids_sha256": self._digest,
            "arms": list(self._arms),
            "step": self._step,
            "alpha": self._alpha.tolist(),
            "beta": self._beta.tolist(),
            "arm_pulls": self._arm_pulls.tolist(),
            "arm_reward": self._arm_reward.tolist(),
            "batch": dict(self._batch),
            "total": dict(self._total),
            "rng": self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict) -> None:
        """Resume from state_dict(); the sampler must hold the same items, in the same order."""
        if state["uids_sha256"] != self._digest or state["arms"] != self._arms:
            raise ValueError("sampler state is for a different item list (uids or groups differ)")
        self._step = int(state["step"])
        self._alpha = np.array(state["alpha"], dtype=float)
        self._beta = np.array(state["beta"], dtype=float)
        self._arm_pulls = np.array(state["arm_pulls"], dtype=float)
        self._arm_reward = np.array(state["arm_reward"], dtype=float)
        self._batch = {key: float(state["batch"][key]) for key in _COUNTS}
        self._total = {key: float(state["total"][key]) for key in _COUNTS}
        self._rng.bit_generator.state = state["rng"]

    def _position(self, uid: str) -> int:
        if uid not in self._index:
            raise ValueError(f"unknown uid {uid!r}: not among the sampler's items")
        return self._index[uid]

    def _pull(self, arm: int, abs_advantage: float) -> None:
        self._arm_pulls[arm] = self.config.decay * self._arm_pulls[arm] + 1.0
        self._arm_reward[arm] = self.config.decay * self._arm_reward[arm] + abs_advantage

    def _count(self, **amounts: float) -> None:
        for key, amount in amounts.items():
            self._batch[key] += amount
            self._total[key] += amount


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")
