"""The Filter contract's result: Arrow batch in, Decision out.

A filter never drops rows itself: it says, per row, keep or not, why not (a reason code with
detail), and the scores it computed, so dropped rows stay available for audit.

Example:
    >>> import pyarrow as pa
    >>> d = Decision(pa.array([True, False]), pa.array([None, "contaminated: aime24/2024-I-1 (ngram 1.00)"]), {})
    >>> d.kept()
    1
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)


@dataclass(frozen=True)
class Decision:
    keep: pa.BooleanArray  # (rows,) True = keep
    reason: pa.StringArray  # (rows,) null where kept; "code: detail" where dropped
    scores: dict[str, pa.Array] = field(default_factory=dict)  # name -> (rows,) score column

    def kept(self) -> int:
        return int(pa.compute.sum(self.keep.cast(pa.int64())).as_py() or 0)
