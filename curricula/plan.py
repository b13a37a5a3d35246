"""Offline curriculum builders: scored prompts in, a plan out, stored as data.

A plan is a table of (stage, uid, source, weight, pass_rate, replay) rows plus `params`, the
JSON dict of everything that determined it. The exporter writes shards from it; nothing about
a curriculum lives in code paths of the trainer. `build_plan` composes four choices, each one
function picked from an explicit dict by a `CurriculumConfig` field:

- staging (`STAGINGS`): which stage each prompt belongs to, easiest first.
- target (`TARGETS`): row weights within a source, e.g. so its weighted pass-rate histogram
  follows a Gaussian centred on 0.5, where GRPO learns most.
- mixture (`MIXTURES`): each source's share of the total weight.
- replay: a share `replay_share` of the total weight goes to easy (solved) prompts the
  learnability filter dropped, because dropping every solved prompt has been reported to
  destabilise training. The sampled replay prompts are dealt round-robin to the stages, each stage giving
  them `replay_share` of its own weight, so easy prompts never disappear from any stage.

Weights: within a source, rows' weights sum to the source's mixture weight times
(1 - replay_share); replay rows get replay_share; all weights sum to 1. A prompt's pass rate is
its Beta(1, 1) posterior mean (c + 1) / (n + 2), so 0 of 4 and 0 of 64 differ. Inputs are
sorted by uid first, so the plan is the same for any input row order.

Example:
    >>> import pyarrow as pa
    >>> scored = pa.table({"uid": ["a", "b", "c", "d"], "source": ["x", "x", "y", "y"],
    ...                    "n": [4, 4, 4, 4], "n_correct": [4, 3, 1, 0]})
    >>> plan = build_plan(scored, CurriculumConfig(staging="easy_to_hard", stages=2, target="none"))
    >>> plan.table.select(["stage", "uid", "weight"]).to_pylist()[:2]
    [{'stage': 0, 'uid': 'a', 'weight': 0.25}, {'stage': 0, 'uid': 'b', 'weight': 0.25}]
    >>> plan.summary().stage_rows
    {0: 2, 1: 2}
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from assay.curricula.difficulty import BetaPosterior
from assay.curricula.names import choose, names_help

PARAMS_KEY = b"assay.plan.params"  # parquet schema metadata key holding Plan.params as JSON
PLAN_SCHEMA = pa.schema(
    [
        ("stage", pa.int32()),
        ("uid", pa.string()),
        ("source", pa.string()),
        ("weight", pa.float64()),
        ("pass_rate", pa.float64()),  # the Beta posterior mean the plan was built from
        ("replay", pa.bool_()),  # True for easy prompts replayed from the replay pool
    ]
)


# -- strategies ---------------------------------------------------------------------------------
# staging: (pass rates [R], config) -> stage ids [R], 0 = easiest


def stage_easy_to_hard(p: np.ndarray, config: CurriculumConfig) -> np.ndarray:
    """`stages` equal-count quantile stages by pass rate, highest first; equal pass rates always
    share a stage (so stages can be uneven, or empty where one value fills several quantiles)."""
    ascending = np.sort(p)
    easier = len(p) - np.searchsorted(ascending, p, side="right")  # rows strictly easier  [R]
    return (config.stages * easier // len(p)).astype(np.int32)


def stage_fixed_edges(p: np.ndarray, config: CurriculumConfig) -> np.ndarray:
    """Stage i holds stage_edges[i-1] > p >= stage_edges[i]: len(stage_edges) + 1 stages."""
    edges = np.asarray(config.stage_edges, dtype=float)
    return (p[:, None] < edges[None, :]).sum(axis=1).astype(np.int32)  # [R, E] -> [R]


def stage_single(p: np.ndarray, config: CurriculumConfig) -> np.ndarray:
    """Everything in stage 0."""
    return np.zeros(len(p), dtype=np.int32)


STAGINGS: dict[str, Callable[[np.ndarray, CurriculumConfig], np.ndarray]] = {
    "easy_to_hard": stage_easy_to_hard,
    "fixed_edges": stage_fixed_edges,
    "single": stage_single,
}

# target: (one source's pass rates [R], config) -> unnormalised row weights [R], >= 0


def target_gaussian(p: np.ndarray, config: CurriculumConfig) -> np.ndarray:
    """Importance weights that make the source's weighted pass-rate histogram follow
    N(target_mean, target_std) truncated to [0, 1]: per bin, target mass / empirical mass,
    capped at weight_cap. Bins without rows cannot be filled; the others keep their ratios."""
    bins = config.target_bins
    edges = np.linspace(0.0, 1.0, bins + 1)
    z = (edges - config.target_mean) / (config.target_std * math.sqrt(2.0))  # [B + 1]
    cdf = np.array([0.5 * (1.0 + math.erf(x)) for x in z])  # normal CDF at the bin edges
    target = np.diff(cdf) / (cdf[-1] - cdf[0])  # [B] probability mass per bin
    which = np.minimum((p * bins).astype(int), bins - 1)  # [R] bin of each row
    empirical = np.bincount(which, minlength=bins) / len(p)  # [B]
    return np.minimum(target[which] / empirical[which], config.weight_cap)


def target_none(p: np.ndarray, config: CurriculumConfig) -> np.ndarray:
    """Every row of a source weighs the same."""
    return np.ones(len(p))


TARGETS: dict[str, Callable[[np.ndarray, CurriculumConfig], np.ndarray]] = {
    "gaussian": target_gaussian,
    "none": target_none,
}

# mixture: ({source: rows}, config) -> {source: share}, shares sum to 1


def mixture_fixed(rows: dict[str, int], config: CurriculumConfig) -> dict[str, float]:
    """The user's source_weights, normalised; every source with rows must be named and every
    named source must have rows (a weight on an empty source would vanish unnoticed)."""
    missing = sorted(set(rows) - set(config.source_weights))
    unused = sorted(set(config.source_weights) - set(rows))
    if missing or unused:
        raise ValueError(f"mixture 'fixed': source_weights lacks sources {missing}, names rowless sources {unused}")
    total = sum(config.source_weights[s] for s in rows)
    return {s: config.source_weights[s] / total for s in rows}


def mixture_temperature(rows: dict[str, int], config: CurriculumConfig) -> dict[str, float]:
    """w_s ∝ N_s^(1/T): T = 1 is proportional to size, T -> infinity uniform."""
    scaled = {s: n ** (1.0 / config.temperature) for s, n in rows.items()}
    total = sum(scaled.values())
    return {s: w / total for s, w in scaled.items()}


MIXTURES: dict[str, Callable[[dict[str, int], CurriculumConfig], dict[str, float]]] = {
    "fixed": mixture_fixed,
    "temperature": mixture_temperature,
}


# -- the settings -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CurriculumConfig:
    """How to turn scored prompts into a plan. Strategy fields are keys of the dicts above."""

    staging: str = field(default="easy_to_hard", metadata={
        "help": f"Which stage each prompt belongs to: {names_help(STAGINGS)} (easy_to_hard: pass-rate quantiles)."})
    stages: int = field(default=3, metadata={"help": "easy_to_hard: number of pass-rate quantile stages."})
    stage_edges: tuple[float, ...] = field(default=(0.7, 0.3), metadata={
        "help": "fixed_edges: descending pass-rate edges between stages, see stage_fixed_edges."})
    target: str = field(default="gaussian", metadata={
        "help": f"Row weights within a source: {names_help(TARGETS)} (gaussian: toward pass rates near target_mean)."})
    target_mean: float = field(default=0.5, metadata={"help": "gaussian: centre of the target pass-rate density."})
    target_std: float = field(default=0.2, metadata={"help": "gaussian: its standard deviation (truncated to [0, 1])."})
    target_bins: int = field(default=10, metadata={
        "help": "gaussian: equal-width pass-rate bins on [0, 1] for both histograms."})
    weight_cap: float = field(default=10.0, metadata={
        "help": "gaussian: largest importance ratio (target / empirical) a row gets."})
    mixture: str = field(default="temperature", metadata={
        "help": f"Each source's share of the weight: {names_help(MIXTURES)} (temperature: w ∝ size^(1/T))."})
    source_weights: dict[str, float] = field(default_factory=dict, metadata={
        "help": "fixed: weight per source, any scale (NAME=WEIGHT, repeated; a table in a config)."})
    temperature: float = field(default=1.0, metadata={
        "help": "temperature: w_s ∝ N_s^(1/T); 1 is proportional to size, large is uniform."})
    replay_share: float = field(default=0.0, metadata={
        "help": "Share of the total weight on replayed easy (solved) prompts, in [0, 1)."})
    seed: int = field(default=0, metadata={"help": "Seeds which replay-pool prompts are sampled."})

    def __post_init__(self) -> None:
        # params store stage_edges as a JSON list; CurriculumConfig(**plan.params["config"]) rebuilds this config
        object.__setattr__(self, "stage_edges", tuple(self.stage_edges))
        choose(STAGINGS, self.staging, "staging")
        choose(TARGETS, self.target, "target")
        choose(MIXTURES, self.mixture, "mixture")
        edges = self.stage_edges
        if self.stages < 1:
            raise ValueError(f"stages must be >= 1, got {self.stages}")
        if not all(0.0 < e < 1.0 for e in edges) or any(a <= b for a, b in zip(edges, edges[1:])):
            raise ValueError(f"stage_edges must be strictly descending pass rates in (0, 1), got {edges}")
        if not 0.0 <= self.target_mean <= 1.0 or not self.target_std > 0.0:
            raise ValueError(f"need 0 <= target_mean <= 1, target_std > 0; got {self.target_mean}, {self.target_std}")
        if self.target_bins < 1 or not self.weight_cap > 0.0:
            raise ValueError(f"need target_bins >= 1 and weight_cap > 0, got {self.target_bins}, {self.weight_cap}")
        bad = {s: w for s, w in self.source_weights.items() if not (math.isfinite(w) and w >= 0.0)}
        if bad:
            raise ValueError(f"source_weights must be finite and >= 0, got {bad}")
        if self.source_weights and sum(self.source_weights.values()) <= 0.0:
            raise ValueError("source_weights are all zero")
        if not self.temperature > 0.0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not 0.0 <= self.replay_share < 1.0:
            raise ValueError(f"replay_share must be in [0, 1), got {self.replay_share}")


# -- the plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanSummary:
    stage_rows: dict[int, int]  # stage -> rows in it, replay rows included
    stage_weight: dict[int, float]  # stage -> total weight of its rows
    source_weight: dict[str, float]  # source -> total weight of its curriculum rows (replay excluded)
    replay_weight: float  # total weight of replay rows: the replay share

    def __str__(self) -> str:
        lines = [f"stage {s}: {n} rows, weight {self.stage_weight[s]:.4f}" for s, n in self.stage_rows.items()]
        lines += [f"source {s}: weight {w:.4f}" for s, w in self.source_weight.items()]
        return "\n".join([*lines, f"replay: weight {self.replay_weight:.4f}"])


@dataclass(frozen=True)
class Plan:
    table: pa.Table  # PLAN_SCHEMA rows, sorted by (stage, replay, source, uid)
    params: dict  # JSON-serialisable: the config and what was derived from the inputs

    def to_parquet(self, path: str | os.PathLike) -> None:
        metadata = {PARAMS_KEY: json.dumps(self.params, sort_keys=True).encode()}
        pq.write_table(self.table.replace_schema_metadata(metadata), path)

    @classmethod
    def read(cls, path: str | os.PathLike) -> "Plan":
        table = pq.read_table(path)
        metadata = table.schema.metadata or {}
        if PARAMS_KEY not in metadata or table.schema.remove_metadata() != PLAN_SCHEMA:
            raise ValueError(f"{path}: not a curriculum plan (needs columns {PLAN_SCHEMA.names} and params metadata)")
        return cls(table.replace_schema_metadata(None), json.loads(metadata[PARAMS_KEY]))

    def summary(self) -> PlanSummary:
        stage = self.table["stage"].to_numpy()
        weight = self.table["weight"].to_numpy()
        replay = self.table["replay"].to_numpy(zero_copy_only=False)
        source = np.asarray(self.table["source"].to_pylist(), dtype=object)
        stages = np.unique(stage).tolist()
        return PlanSummary(
            stage_rows={s: int((stage == s).sum()) for s in stages},
            stage_weight={s: float(weight[stage == s].sum()) for s in stages},
            source_weight={s: float(weight[(source == s) & ~replay].sum()) for s in sorted(set(source[~replay]))},
            replay_weight=float(weight[replay].sum()),
        )


def build_plan(scored: pa.Table, config: CurriculumConfig, replay_pool: pa.Table | None = None) -> Plan:
    """The plan for `scored` (columns uid, source, n, n_correct; one row per uid) under `config`;
    n counts decided samples (correct, incorrect, no_answer), never timeouts or errors.

    `replay_pool` (same columns) holds the solved prompts the learnability filter dropped; it
    is needed when config.replay_share > 0 and must not share uids with `scored`. Replay takes
    round(share / (1 - share) * len(scored)) pool prompts (at least one per stage, at most all),
    sampled with config.seed, so a replay row weighs about what a curriculum row does; they are
    dealt round-robin to the stages, each uid once, and share their stage's replay weight. Raises ValueError naming the column, row or option at
    fault.
    """
    uid, source, p = _read_scored(scored, "scored")
    if len(uid) == 0:
        raise ValueError("scored has no rows")
    rows = {s: int(n) for s, n in zip(*np.unique(source, return_counts=True))}
    mixture = choose(MIXTURES, config.mixture, "mixture")(rows, config)
    stage = choose(STAGINGS, config.staging, "staging")(p, config)
    target = choose(TARGETS, config.target, "target")
    weight = np.zeros(len(uid))
    for s in rows:
        mask = source == s
        w = target(p[mask], config)
        if not w.sum() > 0.0:
            raise ValueError(f"source {s!r}: target {config.target!r} weighs all its rows 0 (widen target_std)")
        weight[mask] = w / w.sum() * mixture[s] * (1.0 - config.replay_share)

    parts = [_part(stage, uid, source, weight, p, replay=False)]
    pool_rows, replayed = 0 if replay_pool is None else replay_pool.num_rows, 0
    if config.replay_share > 0.0:
        if not pool_rows:
            raise ValueError(f"replay_share={config.replay_share} needs a non-empty replay_pool")
        r_uid, r_source, r_p = _read_scored(replay_pool, "replay_pool")
        overlap = np.intersect1d(uid, r_uid)
        if len(overlap):
            raise ValueError(f"replay_pool shares {len(overlap)} uids with scored, e.g. {overlap[0]!r}")
        stages = np.unique(stage)
        wanted = max(len(stages), round(config.replay_share / (1.0 - config.replay_share) * len(uid)))
        replayed = min(len(r_uid), wanted)
        pick = np.sort(np.random.default_rng(config.seed).permutation(len(r_uid))[:replayed])
        # Round-robin over the stages: each replayed prompt sits in one stage (a uid appears
        # once in a plan, so a trainer sees one row per prompt), and every stage gets some.
        home = stages[np.arange(replayed) % len(stages)]
        r_weight = np.zeros(replayed)
        for s in np.unique(home):
            # This stage's replay weight is share / (1 - share) of its curriculum weight, so
            # every stage with replay rows, and the plan as a whole, gives replay `replay_share`.
            mine = home == s
            r_weight[mine] = weight[stage == s].sum() * config.replay_share / (1.0 - config.replay_share) / mine.sum()
        # With fewer pool prompts than stages, some stages have none: the plan still gives replay its share.
        r_weight *= weight.sum() * config.replay_share / (1.0 - config.replay_share) / r_weight.sum()
        parts.append(_part(home.astype(np.int32), r_uid[pick], r_source[pick], r_weight, r_p[pick], replay=True))
    table = pa.concat_tables(parts)
    total = pc.sum(table["weight"]).as_py()
    table = table.set_column(3, "weight", pc.divide(table["weight"], total))  # sums to 1 in exact arithmetic already; this drops the float drift
    table = table.sort_by([(column, "ascending") for column in ("stage", "replay", "source", "uid")])
    params = {
        "config": dataclasses.asdict(config),
        "pass_rate": "beta posterior mean, prior (1, 1)",
        "source_rows": rows,
        "mixture": mixture,
        "replay_pool_rows": pool_rows,
        "replay_rows": replayed,
    }
    return Plan(table, json.loads(json.dumps(params)))  # JSON round trip: what read() gives back


def _part(stage, uid, source, weight, p, replay: bool) -> pa.Table:
    return pa.table([stage, uid, source, weight, p, np.full(len(uid), replay)], schema=PLAN_SCHEMA)


_STRINGS = (pa.types.is_string, pa.types.is_large_string)
_INTEGERS = (pa.types.is_integer,)


def _read_scored(table: pa.Table, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uid, source, pass rate) of `table`, sorted by uid, after checking its columns and rows."""
    missing = [c for c in ("uid", "source", "n", "n_correct") if c not in table.column_names]
    if missing:
        raise ValueError(f"{name} lacks columns {missing} (has {table.column_names})")
    for column, kinds in (("uid", _STRINGS), ("source", _STRINGS), ("n", _INTEGERS), ("n_correct", _INTEGERS)):
        if not any(is_kind(table[column].type) for is_kind in kinds):
            raise ValueError(f"{name} column {column!r} has type {table[column].type}")
        if table[column].null_count:
            raise ValueError(f"{name} column {column!r} has {table[column].null_count} nulls")
    table = table.sort_by("uid")
    uid = np.asarray(table["uid"].to_pylist(), dtype=object)
    n = table["n"].to_numpy().astype(np.int64)
    c = table["n_correct"].to_numpy().astype(np.int64)
    bad = np.flatnonzero((n < 1) | (c < 0) | (c > n))
    if len(bad):
        i = bad[0]
        raise ValueError(f"{name} row uid={uid[i]!r}: need 1 <= n, 0 <= n_correct <= n; got {n[i]}, {c[i]}")
    dup = uid[1:][uid[1:] == uid[:-1]]
    if len(dup):
        raise ValueError(f"{name} has {len(dup)} repeated uids, e.g. {dup[0]!r}")
    # The posterior mean per distinct (n, c) pair: few pairs, so few calls however many rows.
    pairs, inverse = np.unique(np.stack([n, c], axis=1), axis=0, return_inverse=True)
    means = np.array([BetaPosterior.from_counts(int(a), int(b)).mean for a, b in pairs])
    return uid, np.asarray(table["source"].to_pylist(), dtype=object), means[inverse.reshape(-1)]
