"""Learnability filters on the latest difficulty observations of the chosen model.

GRPO learns nothing from a prompt the policy always or never solves (every sample gets the
same reward, so every advantage is zero). Three ways to keep the prompts in between, each one
function with its own config, all reading columns `n` (decided samples: correct, incorrect or
no_answer) and `n_correct`, which the pipeline joins from the difficulty history. Samples whose
verifier timed out or erred, or refused the gold, are in neither: they say nothing about the
policy, so 3 correct, 2 incorrect and 1 timeout is n = 5, p_hat = 3/5:

| filter         | keep when                                   | score columns                |
|----------------|---------------------------------------------|------------------------------|
| pass_band      | lo <= p_hat <= hi, p_hat = n_correct / n    | p_hat                        |
| variance       | p_hat (1 - p_hat) >= min_variance           | p_hat, variance              |
| posterior_band | P(lo < p < hi) >= tau under the Beta        | p_hat, prob_in_band          |
|                | posterior Beta(a + n_correct, b + n - n_correct) |                         |

The first two use the point estimate only, so 0 of 8 and 0 of 64 look alike (p_hat = 0). The
posterior version does not: under the uniform prior, 0 of 8 leaves P(0.1 < p < 0.9) =
0.9**9 - 0.1**9 = 0.387 (the prompt may well be learnable), 0 of 64 leaves 0.9**65 = 0.001.

Reasons: `too_hard: ...` or `too_easy: ...` (which side of the band the row fell on, so the
curriculum can take easy rows for replay), `unscored: ...` when n or n_correct is null or n
is 0 (the prompt was never scored by this model), `bad_counts: ...` when n_correct is
negative or above n.

Example:
    >>> import pyarrow as pa
    >>> t = pa.table({"n": [8, 64, 8, None], "n_correct": [0, 0, 4, None]})
    >>> d = posterior_band(t, PosteriorBandConfig(tau=0.3))
    >>> d.keep.to_pylist(), [round(p, 3) for p in d.scores["prob_in_band"].to_pylist()[:3]]
    ([True, False, True, False], [0.387, 0.001, 0.998])
    >>> d.reason.to_pylist()[1]
    'too_hard: P(0.10 < p < 0.90) = 0.001 < 0.30 (0/64 correct)'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from assay.curricula.difficulty import BetaPosterior
from assay.filters.decision import Decision, decision_from, require_columns


def _check_band(name: str, lo: float, hi: float) -> None:
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"{name}: need 0 <= lo < hi <= 1, got lo={lo}, hi={hi}")


@dataclass(frozen=True)
class PassBandConfig:
    lo: float = 0.1  # keep p_hat >= lo (lower pass rates are too hard to learn from yet)
    hi: float = 0.9  # keep p_hat <= hi (higher ones are solved already)

    def __post_init__(self) -> None:
        _check_band("pass_band", self.lo, self.hi)


@dataclass(frozen=True)
class VarianceConfig:
    min_variance: float = 0.09  # keep p_hat (1 - p_hat) >= this; 0.09 is the band [0.1, 0.9], max 0.25 at p = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_variance <= 0.25:
            raise ValueError(f"variance: min_variance must be in [0, 0.25], got {self.min_variance}")


@dataclass(frozen=True)
class PosteriorBandConfig:
    lo: float = 0.1  # the learnable band of the true pass rate p, (lo, hi)
    hi: float = 0.9
    tau: float = 0.5  # keep when P(lo < p < hi | counts) >= tau; 0.5: more likely in the band than out
    prior_alpha: float = 1.0  # Beta prior pseudo-successes; (1, 1) is uniform
    prior_beta: float = 1.0  # Beta prior pseudo-failures

    def __post_init__(self) -> None:
        _check_band("posterior_band", self.lo, self.hi)
        if not 0.0 <= self.tau <= 1.0:
            raise ValueError(f"posterior_band: tau must be in [0, 1], got {self.tau}")
        if not (self.prior_alpha > 0 and self.prior_beta > 0):
            raise ValueError(f"posterior_band: prior_alpha and prior_beta must be positive, got {self.prior_alpha}, {self.prior_beta}")


@dataclass(frozen=True)
class _Counts:
    """The rows' counts as distinct (n, n_correct) pairs: every decision depends on the pair
    only, so each is made once per pair (a few thousand at most), not per row."""

    n: np.ndarray  # (K,) int64, distinct usable pairs
    c: np.ndarray  # (K,) int64
    pair: np.ndarray  # (rows,) int64 index into the pairs, -1 where the counts are unusable
    reason: np.ndarray  # (rows,) object: unscored / bad_counts reasons, None elsewhere


def _counts(table: pa.Table, filter_name: str) -> _Counts:
    require_columns(table, filter_name, integer=("n", "n_correct"))
    n_col, c_col = table.column("n"), table.column("n_correct")
    missing = n_col.is_null().to_numpy(zero_copy_only=False) | c_col.is_null().to_numpy(zero_copy_only=False)
    n = n_col.fill_null(0).to_numpy().astype(np.int64)
    c = c_col.fill_null(0).to_numpy().astype(np.int64)
    reason = np.full(table.num_rows, None, object)
    reason[missing] = "unscored: no difficulty observations for this model"
    zero = ~missing & (n == 0)
    reason[zero] = "unscored: 0 samples"
    bad = ~missing & ~zero & ((c < 0) | (c > n))
    for row in np.flatnonzero(bad).tolist():
        reason[row] = f"bad_counts: n_correct {c[row]} with n {n[row]}"
    usable = ~(missing | zero | bad)
    stride = int(c[usable].max()) + 1 if usable.any() else 1
    distinct, inverse = np.unique(n[usable] * stride + c[usable], return_inverse=True)
    pair = np.full(table.num_rows, -1, np.int64)
    pair[usable] = inverse.reshape(-1)
    return _Counts(distinct // stride, distinct % stride, pair, reason)


def _decide(counts: _Counts, ok: np.ndarray, easy: np.ndarray, detail: list[str], scores: dict[str, np.ndarray]) -> Decision:
    """Map per-pair calls to rows: pairs not ok are dropped as too_easy where `easy`, else
    too_hard; score columns are null on rows without usable counts.  ok, easy, detail,
    scores: (K,) per pair."""
    pair_reason = np.array([None] + [
        None if keep else f"{'too_easy' if e else 'too_hard'}: {d} ({c}/{n} correct)"
        for keep, e, d, n, c in zip(ok.tolist(), easy.tolist(), detail, counts.n.tolist(), counts.c.tolist())
    ], object)  # slot 0 stands for "unusable" (pair -1)
    usable = counts.pair >= 0
    reason = np.where(usable, pair_reason[counts.pair + 1], counts.reason)
    keep = usable & np.append(ok, False)[counts.pair]
    columns = {name: pa.array(np.append(v, 0.0)[counts.pair], mask=~usable) for name, v in scores.items()}
    return decision_from(keep, pa.array(reason.tolist(), pa.string()), columns)


def _p_hat(counts: _Counts) -> np.ndarray:
    return counts.c / counts.n  # (K,); n >= 1 for usable pairs


def pass_band(table: pa.Table, config: PassBandConfig = PassBandConfig()) -> Decision:
    """Keep rows with lo <= n_correct / n <= hi. Needs integer columns n, n_correct."""
    counts = _counts(table, "pass_band")
    p = _p_hat(counts)
    ok = (p >= config.lo) & (p <= config.hi)
    detail = [f"p_hat {v:.3f} outside [{config.lo:.2f}, {config.hi:.2f}]" for v in p.tolist()]
    return _decide(counts, ok, p > config.hi, detail, {"p_hat": p})


def variance(table: pa.Table, config: VarianceConfig = VarianceConfig()) -> Decision:
    """Keep rows whose reward variance p_hat (1 - p_hat) is at least min_variance."""
    counts = _counts(table, "variance")
    p = _p_hat(counts)
    var = p * (1.0 - p)
    ok = var >= config.min_variance - 1e-12  # 0.1 * 0.9 is 0.09000000000000001 in floating point
    detail = [f"variance {v:.3f} < {config.min_variance:.3f}" for v in var.tolist()]
    return _decide(counts, ok, p > 0.5, detail, {"p_hat": p, "variance": var})


def posterior_band(table: pa.Table, config: PosteriorBandConfig = PosteriorBandConfig()) -> Decision:
    """Keep rows whose Beta posterior puts at least tau of its mass on lo < p < hi."""
    counts = _counts(table, "posterior_band")
    prior = (config.prior_alpha, config.prior_beta)
    posteriors = [BetaPosterior.from_counts(n, c, prior) for n, c in zip(counts.n.tolist(), counts.c.tolist())]
    below = np.array([post.prob_between(0.0, config.lo) for post in posteriors])  # (K,)
    inside = np.array([post.prob_between(config.lo, config.hi) for post in posteriors])  # (K,)
    ok = inside >= config.tau
    easy = 1.0 - inside - below > below  # more mass above the band than below it
    detail = [f"P({config.lo:.2f} < p < {config.hi:.2f}) = {v:.3f} < {config.tau:.2f}" for v in inside.tolist()]
    return _decide(counts, ok, easy, detail, {"p_hat": _p_hat(counts), "prob_in_band": inside})
