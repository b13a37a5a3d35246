"""The filters by name: what a curation config names, with the typed config each one takes.

| name           | function                        | config              | reads                               | stage        |
|----------------|---------------------------------|---------------------|-------------------------------------|--------------|
| dedup          | dedup.dedup                     | DedupConfig         | uid, prompt                         | rows         |
| quality        | quality.quality                 | QualityConfig       | prompt, answer, verifier            | rows         |
| gold           | gold.gold_verifiable            | GoldConfig          | answer, verifier, meta              | rows         |
| contamination  | decontam.contamination          | ContaminationConfig | uid (its config: the findings)      | rows         |
| pass_band      | learnability.pass_band          | PassBandConfig      | n, n_correct                        | learnability |
| variance       | learnability.variance           | VarianceConfig      | n, n_correct                        | learnability |
| posterior_band | learnability.posterior_band     | PosteriorBandConfig | n, n_correct                        | learnability |

Every filter is `fn(table, config) -> Decision`. Its stage says where a curation may run it:
a `rows` filter reads what ingestion stored, a `learnability` filter reads the pass counts that
difficulty estimation adds, so it can only come after that step. A new filter is its function,
its config and one entry below, nothing else: curation's step list reads the names and stages
from this table.

`contamination`'s config is its input, not options: the findings the decontamination step
stored, which the pipeline reads from the catalog for the batch's uids (a field with metadata
"input"); it is never built from a config file.

`make_config(name, params)` builds a filter's config from plain values (a parsed YAML or JSON
curation file): an unknown filter, an unknown option or a value of the wrong type fails
naming it and listing what is valid; range checks are the config's own.

Example:
    >>> spec = get_filter("posterior_band")
    >>> make_config("posterior_band", {"tau": 0.3, "lo": 0.05})
    PosteriorBandConfig(lo=0.05, hi=0.9, tau=0.3, prior_alpha=1.0, prior_beta=1.0)
    >>> make_config("dedup", {"treshold": 0.7})
    Traceback (most recent call last):
    ...
    assay.verifiers.names.UnknownName: unknown dedup option 'treshold'; valid: near, threshold, shingle, shingle_size, num_perm, seed
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Callable, Mapping, NamedTuple

from assay.filters.decontam import ContaminationConfig, contamination
from assay.filters.dedup import DedupConfig, dedup
from assay.filters.gold import GoldConfig, gold_verifiable
from assay.filters.learnability import (
    PassBandConfig,
    PosteriorBandConfig,
    VarianceConfig,
    pass_band,
    posterior_band,
    variance,
)
from assay.filters.quality import QualityConfig, quality
from assay.verifiers.names import check_names, choose


ROWS, LEARNABILITY = "rows", "learnability"


class FilterSpec(NamedTuple):
    fn: Callable[..., Any]  # (table, config) -> Decision
    config: type  # the frozen dataclass of its options (or, for contamination, of its input)
    stage: str = ROWS  # ROWS or LEARNABILITY (reads n and n_correct, so runs after difficulty)

    def input_field(self) -> str | None:
        """What the pipeline gives this filter as its config (a field with metadata "input"),
        or None for a filter configured by its options."""
        return next((f.metadata["input"] for f in dataclasses.fields(self.config) if "input" in f.metadata), None)


FILTERS: dict[str, FilterSpec] = {
    "dedup": FilterSpec(dedup, DedupConfig),
    "quality": FilterSpec(quality, QualityConfig),
    "gold": FilterSpec(gold_verifiable, GoldConfig),
    "contamination": FilterSpec(contamination, ContaminationConfig),
    "pass_band": FilterSpec(pass_band, PassBandConfig, LEARNABILITY),
    "variance": FilterSpec(variance, VarianceConfig, LEARNABILITY),
    "posterior_band": FilterSpec(posterior_band, PosteriorBandConfig, LEARNABILITY),
}


def get_filter(name: str) -> FilterSpec:
    """The filter called `name`; an unknown name fails listing the valid ones."""
    return choose(FILTERS, name, "filter")


def make_config(name: str, params: Mapping[str, Any]) -> Any:
    """The config of filter `name` with `params` set and every other option at its default.
    Lists are accepted for tuple options (JSON and YAML have no tuples)."""
    spec = get_filter(name)
    if (given := spec.input_field()) is not None:
        raise ValueError(f"filter {name!r} takes no options: its config is {given}, which the pipeline gives it")
    fields = {f.name: f for f in dataclasses.fields(spec.config)}
    check_names(fields, params, f"{name} option")
    hints = typing.get_type_hints(spec.config)
    values = {}
    for key, value in params.items():
        if isinstance(value, list):
            value = tuple(value)
        if not _has_type(value, hints[key]):
            raise ValueError(f"filter {name!r} option {key!r} must be {_type_name(hints[key])}, got {type(value).__name__} {value!r}")
        values[key] = value
    return spec.config(**values)


def _has_type(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_has_type(value, arg) for arg in typing.get_args(hint))
    if origin is tuple:
        return isinstance(value, tuple) and all(_has_type(v, typing.get_args(hint)[0]) for v in value)
    if hint is type(None):
        return value is None
    if isinstance(value, bool) and hint is not bool:
        return False  # True is an int in Python, never a threshold
    if hint is float:
        return isinstance(value, (int, float))
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
