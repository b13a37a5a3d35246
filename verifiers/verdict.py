"""The Verdict type every verifier returns: a failure is a value with a reason code, never an
exception.

Example:
    >>> Verdict.of(True, extracted="42")
    Verdict(status='correct', score=1.0, extracted='42', reason='')
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["correct", "incorrect", "no_answer", "bad_gold", "timeout", "error"]
STATUSES: tuple[str, ...] = ("correct", "incorrect", "no_answer", "bad_gold", "timeout", "error")


@dataclass(frozen=True)
class Verdict:
    """One verification result.

    status: correct | incorrect | no_answer (nothing answer-like in the response) | bad_gold (the
        reference itself is unusable) | timeout (the runner killed the work) | error (the input
        could not be checked: too large, too complex, a crash).
    score: the reward in [0, 1]: 1.0 for correct, 0.0 otherwise, except the code verifier, whose
        score is the fraction of test cases passed (status is correct only when all pass).
    extracted: the answer (or program) the verifier took from the response, when it found one.
    reason: a short code or message saying why, for audit; empty when there is nothing to add.
    """

    status: Status
    score: float
    extracted: str | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}; valid: {', '.join(STATUSES)}")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score must be in [0, 1], got {self.score}")

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
