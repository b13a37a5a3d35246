"""Learnability filters on the latest difficulty observations of the chosen model.

GRPO learns nothing from a prompt the policy always or never solves (every sample gets the
same reward, so every advantage is zero). Three ways to keep the prompts in between, each one
function with its own config, all reading columns `n` (samples) and `n_correct`, which the
pipeline joins from the difficulty history:

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
    n: np.ndarray  # (rows,) int64, 0 where unusable
    c: np.ndarray  # (rows,) int64, 0 where unusable
    usable: np.ndarray  # (rows,) bool
    reason: list[str | None]  # unscored / bad_counts rows already filled in


def _counts(table: pa.Table, filter_name: str) -> _Counts:
    require_columns(table, filter_name, integer=("n", "n_correct"))
    n_col, c_col = table.column("n"), table.column("n_correct")
    missing = (n_col.is_null().to_numpy(zero_copy_only=False) | c_col.is_null().to_numpy(zero_copy_only=False))
    n = n_col.fill_null(0).to_numpy().astype(np.int64)
    c = c_col.fill_null(0).to_numpy().astype(np.int64)
    reason: list[str | None] = [None] * table.num_rows
    for row in np.flatnonzero(missing).tolist():
        reason[row] = "unscored: no difficulty observations for this model"
    zero = ~missing & (n == 0)
    for row in np.flatnonzero(zero).tolist():
        reason[row] = "unscored: 0 samples"
    bad = ~missing & ~zero & ((c < 0) | (c > n))
    for row in np.flatnonzero(bad).tolist():
        reason[row] = f"bad_counts: n_correct {c[row]} with n {n[row]}"
    usable = ~(missing | zero | bad)
    return _Counts(np.where(usable, n, 0), np.where(usable, c, 0), usable, reason)


def _p_hat(counts: _Counts) -> np.ndarray:
    return np.divide(counts.c, counts.n, out=np.zeros(len(counts.n)), where=counts.usable)


def _decide(counts: _Counts, ok: np.ndarray, easy: np.ndarray, detail: list[str], scores: dict[str, np.ndarray]) -> Decision:
    """Drop usable rows that are not ok, as too_easy where `easy` else too_hard; score columns
    are null on rows without usable counts.  ok, easy (rows,) bool; detail per row."""
    reason = counts.reason
    for row in np.flatnonzero(counts.usable & ~ok).tolist():
        reason[row] = f"{'too_easy' if easy[row] else 'too_hard'}: {detail[row]} ({counts.c[row]}/{counts.n[row]} correct)"
    keep = counts.usable & ok
    return decision_from(keep, reason, {name: pa.array(v, mask=~counts.usable) for name, v in scores.items()})


def _details(template: str, values: np.ndarray, rows: np.ndarray) -> list[str]:
    detail = [""] * len(values)
    for row in rows.tolist():
        detail[row] = template.format(values[row])
    return detail


def pass_band(table: pa.Table, config: PassBandConfig = PassBandConfig()) -> Decision:
    """Keep rows with lo <= n_correct / n <= hi. Needs integer columns n, n_correct."""
    counts = _counts(table, "pass_band")
    p = _p_hat(counts)
    ok = (p >= config.lo) & (p <= config.hi)
    easy = p > config.hi
    detail = _details("p_hat {:.3f} outside [" + f"{config.lo:.2f}, {config.hi:.2f}]", p, np.flatnonzero(counts.usable & ~ok))
    return _decide(counts, ok, easy, detail, {"p_hat": p})


def variance(table: pa.Table, config: VarianceConfig = VarianceConfig()) -> Decision:
    """Keep rows whose reward variance p_hat (1 - p_hat) is at least min_variance."""
    counts = _counts(table, "variance")
    p = _p_hat(counts)
    var = p * (1.0 - p)
    ok = var >= config.min_variance - 1e-12  # 0.1 * 0.9 is 0.09000000000000001 in floating point
    detail = _details("variance {:.3f} < " + f"{config.min_variance:.3f}", var, np.flatnonzero(counts.usable & ~ok))
    return _decide(counts, ok, p > 0.5, detail, {"p_hat": p, "variance": var})


def posterior_band(table: pa.Table, config: PosteriorBandConfig = PosteriorBandConfig()) -> Decision:
    """Keep rows whose Beta posterior puts at least tau of its mass on lo < p < hi."""
    counts = _counts(table, "posterior_band")
    prior = (config.prior_alpha, config.prior_beta)
    # The posterior depends on (n, c) only: evaluate each distinct pair once (a few thousand at
    # most), not each of a million rows.
    pairs, inverse = np.unique(np.stack([counts.n, counts.c]), axis=1, return_inverse=True)
    inverse = inverse.reshape(-1)
    below = np.empty(pairs.shape[1])
    inside = np.empty(pairs.shape[1])
    for k, (n, c) in enumerate(pairs.T.tolist()):
        posterior = BetaPosterior.from_counts(n, c, prior)
        below[k] = posterior.prob_between(0.0, config.lo)
        inside[k] = posterior.prob_between(config.lo, config.hi)
    prob, prob_below = inside[inverse], below[inverse]
    ok = prob >= config.tau
    easy = 1.0 - prob - prob_below > prob_below  # more mass above the band than below it
    detail = _details(f"P({config.lo:.2f} < p < {config.hi:.2f}) = " + "{:.3f} < " + f"{config.tau:.2f}", prob, np.flatnonzero(counts.usable & ~ok))
    return _decide(counts, ok, easy, detail, {"p_hat": _p_hat(counts), "prob_in_band": prob})
