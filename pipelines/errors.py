"""The one exception type the CLI turns into a one-line message instead of a traceback, and
the lookups of names the user gave in one of assay's tables (assay.verifiers.names) that fail
as one: `chosen` for one name, `check_given` for several.

Example:
    >>> chosen({"local": 1, "dask": 2}, "dask", "runner", "--runner:")
    2
    >>> try:
    ...     chosen(("parquet", "jsonl"), "csv", "format", "[export]")
    ... except AssayError as exc:
    ...     print(exc)
    [export] unknown format 'csv'; valid: parquet, jsonl
"""

from __future__ import annotations

from typing import Any, Collection, Iterable, Mapping, TypeVar

from assay.verifiers.names import UnknownName, check_names, choose

V = TypeVar("V")


class AssayError(Exception):
    """A problem with the user's input or environment, stated so they can fix it.

    The message names the file, row, option or table at fault. Anything else that escapes is
    a bug in assay and keeps its traceback.
    """


def chosen(table: Mapping[str, V] | Collection[str], name: Any, what: str, where: str = "") -> V:
    """`choose(table, name, what)` at the command line: an unknown name is an AssayError whose
    message starts with `where`, the flag with a colon ("--engine:") or the config section
    ("[export]") the name was given in."""
    try:
        return choose(table, name, what)
    except UnknownName as exc:
        raise _given(where, exc) from None


def check_given(table: Collection[str], names: Iterable[Any], what: str, where: str = "") -> None:
    """`check_names(table, names, what)` at the command line, as `chosen` is `choose`."""
    try:
        check_names(table, names, what)
    except UnknownName as exc:
        raise _given(where, exc) from None


def _given(where: str, exc: UnknownName) -> AssayError:
    return AssayError(f"{where} {exc}" if where else str(exc))
