"""The Filter contract's result: Arrow batch in, Decision out.

A filter never drops rows itself: it says, per row, keep or not, why not (a reason code with
detail), and the scores it computed, so dropped rows stay available for audit.

`require_columns` is the one input check every filter starts with: a missing column, a column
of the wrong type or a null where the record schema forbids one fails naming the column (and
the first row at fault), before any work is done.

Example:
    >>> import pyarrow as pa
    >>> d = Decision(pa.array([True, False]), pa.array([None, "contaminated: aime24/2024-I-1 (ngram 1.00)"]), {})
    >>> d.kept()
    1
    >>> require_columns(pa.table({"uid": ["a"]}), "dedup", text=("uid", "prompt"))
    Traceback (most recent call last):
    ...
    ValueError: dedup: input has no column 'prompt' (columns: uid)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)


@dataclass(frozen=True)
class Decision:
    keep: pa.BooleanArray  # (rows,) True = keep
    reason: pa.StringArray  # (rows,) null where kept; "code: detail" where dropped
    scores: dict[str, pa.Array] = field(default_factory=dict)  # name -> (rows,) score column

    def kept(self) -> int:
        return int(pa.compute.sum(self.keep.cast(pa.int64())).as_py() or 0)


def require_columns(
    table: pa.Table,
    filter_name: str,
    text: Sequence[str] = (),
    integer: Sequence[str] = (),
) -> None:
    """Fail unless `table` has each `text` column as non-null strings and each `integer` column
    as integers (nulls allowed there: they mean "no observation" and get a reason code)."""
    for name in (*text, *integer):
        if name not in table.column_names:
            raise ValueError(f"{filter_name}: input has no column {name!r} (columns: {', '.join(table.column_names)})")
    for name in text:
        column = table.column(name)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            raise ValueError(f"{filter_name}: column {name!r} must hold strings, got {column.type}")
        if column.null_count:
            row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise ValueError(f"{filter_name}: column {name!r} is null at row {row} ({column.null_count} null rows)")
    for name in integer:
        column = table.column(name)
        if not pa.types.is_integer(column.type) and not pa.types.is_null(column.type):
            raise ValueError(f"{filter_name}: column {name!r} must hold integers, got {column.type}")


def decision_from(keep: np.ndarray, reason: Sequence[str | None] | pa.Array, scores: dict[str, pa.Array]) -> Decision:
    """A Decision from a (rows,) bool mask and per-row reasons, checking that they agree: every
    dropped row has a reason and no kept row has one."""
    reasons = reason if isinstance(reason, pa.Array) else pa.array(reason, pa.string())
    has_reason = reasons.is_valid().to_numpy(zero_copy_only=False)
    if len(reasons) != len(keep) or (has_reason == keep).any():
        raise AssertionError("a dropped row without a reason, or a kept row with one")
    return Decision(pa.array(keep, pa.bool_()), reasons, scores)
