"""Names from their tables: the one way a name is looked up in a table, refused when it is not
there, and listed in help.

Every extension point is one table, a dict from a name to what it stands for (VERIFIERS,
FILTERS, STRATEGIES, FORMATS, PRESETS, ...) or a tuple of names. Code that takes a name from a
user or a data row looks it up with `choose` (or `check_names` for several at once), and help
that lists the names is `names_help(TABLE)`: a new entry shows up in every "valid:" list and
help text, and nothing else has to learn its name.

A name that is not in its table raises UnknownName, a ValueError whose message is always
`unknown WHAT 'NAME'; valid: A, B, C`, the table's names in table order (several unknown
names: `unknown WHATs 'X', 'Y'; valid: ...`). At the command line the message is prefixed with
the flag or config section the name came from (assay.pipelines.errors.chosen).

verifiers/ and curricula/ each hold this file, byte for byte: both check names and neither may
import the other (DESIGN.md's layout). tests/test_names.py fails when the two copies differ.

Example:
    >>> choose({"uniform": 1, "thompson": 2}, "thompson", "strategy")
    2
    >>> print(UnknownName("engine", ("tpu",), ("auto", "vllm")))
    unknown engine 'tpu'; valid: auto, vllm
    >>> try:
    ...     check_names(("dedup", "gold"), ["dedupe", "gold", "qa"], "filter")
    ... except ValueError as exc:
    ...     print(exc)
    unknown filters 'dedupe', 'qa'; valid: dedup, gold
    >>> names_help({"uniform": 1, "thompson": 2, "spo": 3})
    'uniform, thompson or spo'
"""

from __future__ import annotations

from typing import Any, Collection, Iterable, Mapping, TypeVar

V = TypeVar("V")


class UnknownName(ValueError):
    """Names that are not in their table. `what` says what the table holds ("verifier"),
    `names` are the unknown ones as given, `valid` the table's names in order."""

    def __init__(self, what: str, names: tuple[Any, ...], valid: Iterable[str]) -> None:
        super().__init__(what, tuple(names), tuple(valid))  # the arguments, so it pickles
        self.what, self.names, self.valid = self.args

    def __str__(self) -> str:
        what = self.what if len(self.names) == 1 else f"{self.what}s"
        return f"unknown {what} {', '.join(repr(n) for n in self.names)}; valid: {', '.join(self.valid) or 'none'}"


def choose(table: Mapping[str, V] | Collection[str], name: Any, what: str) -> V:
    """The entry `name` of `table`: its value in a dict, the name itself in a tuple of names.
    A name not in it (or not a string) raises UnknownName listing the table's names."""
    if isinstance(name, str) and name in table:
        return table[name] if isinstance(table, Mapping) else name
    raise UnknownName(what, (name,), table)


def check_names(table: Collection[str], names: Iterable[Any], what: str) -> None:
    """Raise UnknownName naming every one of `names` that is not in `table`, in the order given."""
    unknown = tuple(n for n in names if not (isinstance(n, str) and n in table))
    if unknown:
        raise UnknownName(what, unknown, table)


def names_help(table: Iterable[str]) -> str:
    """The names of `table` in order, for a help text: 'a', 'a or b', 'a, b or c'."""
    names = list(table)
    return " or ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} or {names[-1]}"
