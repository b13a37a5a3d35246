"""The Verdict type every verifier returns: a failure is a value with a reason code, never an
exception.

Example:
    >>> Verdict.of(True, extracted="42")
    Verdict(status='correct', score=1.0, extracted='42', reason='')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
