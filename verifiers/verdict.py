"""The Verdict type every verifier returns (a failure is a value with a reason code, never an
exception), and the three readings of one that everything downstream uses:

- `decided(v)`: the verifier judged the answer (correct, incorrect, no_answer). Only decided
  verdicts are evidence about the model: pass rates, posteriors, rewards and learnability
  count them, and a timeout, error or bad_gold is never counted as a wrong answer.
- `solved(v)`: the status is correct. A correct verdict always scores 1.0 and no other does
  (the Verdict refuses anything else), so "solved" is also "score 1.0" and "reward 1.0".
- `reward(v)`: what assay's trainer trains on and the difficulty history's mean_reward
  averages: 1.0 when solved, else 0.0. Partial credit (the code verifier's share of tests
  passed, a plug-in's fractional score) stays in `score`: it is not a solve, and only the
  reward functions for other trainers (assay.verifiers.rewards) hand it out.

Example:
    >>> Verdict.of(True, extracted="42")
    Verdict(status='correct', score=1.0, extracted='42', reason='')
    >>> partial = Verdict("incorrect", 0.75, reason="3/4 passed")
    >>> decided(partial), solved(partial), reward(partial), partial.score
    (True, False, 0.0, 0.75)
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Literal

from assay.verifiers.names import check_names

Status = Literal["correct", "incorrect", "no_answer", "bad_gold", "timeout", "error"]
STATUSES: tuple[str, ...] = ("correct", "incorrect", "no_answer", "bad_gold", "timeout", "error")
DECIDED: tuple[str, ...] = ("correct", "incorrect", "no_answer")  # the verifier judged the model's answer


@dataclass(frozen=True)
class Verdict:
    """One verification result.

    status: correct | incorrect | no_answer (nothing answer-like in the response) | bad_gold (the
        reference itself is unusable) | timeout (the runner killed the work) | error (the input
        could not be checked: too large, too complex, a crash).
    score: in [0, 1]: 1.0 exactly when correct; 0.0 otherwise, except partial credit (the code
        verifier's fraction of test cases passed, a plug-in's fractional score).
    extracted: the answer (or program) the verifier took from the response, when it found one.
    reason: a short code or message saying why, for audit; empty when there is nothing to add.
    """

    status: Status
    score: float
    extracted: str | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        check_names(STATUSES, [self.status], "status")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score must be in [0, 1], got {self.score}")
        if (self.status == "correct") != (self.score == 1.0):
            raise ValueError(f"a verdict scores 1.0 exactly when it is correct, got {self.status} with score {self.score}")

    @classmethod
    def of(cls, correct: bool, extracted: str | None = None, reason: str = "") -> "Verdict":
        """correct/incorrect with the binary score."""
        return cls("correct" if correct else "incorrect", 1.0 if correct else 0.0, extracted, reason)

    @classmethod
    def fail(cls, status: Status, reason: str, extracted: str | None = None) -> "Verdict":
        """Any non-correct status with score 0."""
        return cls(status, 0.0, extracted, reason)


def as_verdict(result: Any) -> Verdict:
    """A verifier's return value as a Verdict: a Verdict as it is; a bool as correct/incorrect;
    a number in [0, 1] as its score, correct at 1 and incorrect below (like the code verifier's
    share of tests passed); anything else (None, NaN, 1.5, text) is status error.

    >>> as_verdict(True), as_verdict(0.25).status, as_verdict(2).status
    (Verdict(status='correct', score=1.0, extracted=None, reason=''), 'incorrect', 'error')
    """
    if isinstance(result, Verdict):
        return result
    if isinstance(result, bool):
        return Verdict.of(result)
    if isinstance(result, numbers.Real) and 0.0 <= result <= 1.0:  # NaN fails both comparisons
        return Verdict("correct" if result == 1 else "incorrect", float(result))
    return Verdict.fail("error", f"the verifier returned {type(result).__name__} {str(result)[:40]!r}: "
                                 "expected a Verdict, a bool or a number in [0, 1]")


def decided(verdict: Verdict) -> bool:
    """The verifier judged the answer (correct, incorrect, no_answer): evidence about the model."""
    return verdict.status in DECIDED


def solved(verdict: Verdict) -> bool:
    """The answer is right: status correct (score 1.0). What pass@k, pass rates and n_correct count."""
    return verdict.status == "correct"


def reward(verdict: Verdict) -> float:
    """The reward of a decided verdict: 1.0 when solved, else 0.0 (a code answer passing 3 of 4
    tests is not a solve). An undecided verdict is no reward at all: callers leave it out."""
    return 1.0 if solved(verdict) else 0.0
