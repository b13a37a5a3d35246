"""Offline curriculum plans against hand-derived stages, weights and shares."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assay.curricula.plan import (
    MIXTURES,
    STAGINGS,
    TARGETS,
    CurriculumConfig,
    Plan,
    build_plan,
    mixture_temperature,
    stage_easy_to_hard,
    stage_fixed_edges,
    target_gaussian,
)


def _scored(rows):
    """rows: (uid, source, n, n_correct) tuples."""
    uid, source, n, c = zip(*rows)
    return pa.table({"uid": list(uid), "source": list(source), "n": list(n), "n_correct": list(c)})


def _by_uid(plan, column):
    return dict(zip(plan.table["uid"].to_pylist(), plan.table[column].to_pylist()))


# Eight prompts of two sources scored with n = 4: pass rates (c + 1) / 6.
EIGHT = _scored([(f"{s}{c}", s, 4, c) for s in "xy" for c in (0, 1, 3, 4)])
POOL = _scored([(f"easy{i}", "x" if i % 2 else "y", 4, 4) for i in range(10)])


def test_pass_rate_is_the_beta_posterior_mean():
    plan = build_plan(_scored([("a", "x", 4, 0), ("b", "x", 64, 0), ("c", "x", 4, 3)]), CurriculumConfig())
    assert _by_uid(plan, "pass_rate") == pytest.approx({"a": 1 / 6, "b": 1 / 66, "c": 4 / 6})


def test_easy_to_hard_quantile_stages_keep_ties_together():
    config = CurriculumConfig(stages=3)
    p = np.array([0.4, 0.9, 0.6, 0.8, 0.5, 0.7])
    # rows strictly easier: 5, 0, 3, 1, 4, 2 -> stage floor(3 * easier / 6)
    assert stage_easy_to_hard(p, config).tolist() == [2, 0, 1, 0, 2, 1]
    # three tied easiest rows fill quantiles 0 and 1 together; stage 1 stays empty
    assert stage_easy_to_hard(np.array([0.9, 0.9, 0.9, 0.2]), config).tolist() == [0, 0, 0, 2]


def test_fixed_edges_and_single_stage():
    p = np.array([5 / 6, 4 / 6, 0.7, 2 / 6, 0.3, 1 / 6])
    assert stage_fixed_edges(p, CurriculumConfig(stage_edges=(0.7, 0.3))).tolist() == [0, 1, 0, 1, 1, 2]
    plan = build_plan(EIGHT, CurriculumConfig(staging="single"))
    assert plan.summary().stage_rows == {0: 8}


def test_temperature_mixture_by_source_size():
    sizes = {"big": 400, "small": 100}
    assert mixture_temperature(sizes, CurriculumConfig(temperature=1.0)) == pytest.approx({"big": 0.8, "small": 0.2})
    # T = 2: sqrt sizes 20 and 10
    assert mixture_temperature(sizes, CurriculumConfig(temperature=2.0)) == pytest.approx({"big": 2 / 3, "small": 1 / 3})
    assert mixture_temperature(sizes, CurriculumConfig(temperature=1e9)) == pytest.approx({"big": 0.5, "small": 0.5})
    scored = _scored([(f"b{i}", "big", 4, 2) for i in range(4)] + [("s0", "small", 4, 2)])
    plan = build_plan(scored, CurriculumConfig(temperature=2.0, target="none"))
    # sqrt(4) : sqrt(1) = 2 : 1, spread evenly over each source's rows
    assert plan.summary().source_weight == pytest.approx({"big": 2 / 3, "small": 1 / 3})
    assert _by_uid(plan, "weight")["b0"] == pytest.approx(1 / 6)


def test_gaussian_target_on_two_bins():
    symmetric = CurriculumConfig(target_mean=0.5, target_std=0.2, target_bins=2)
    # target 1/2 per bin; empirical 3/4 low, 1/4 high -> ratios 2/3 and 2
    w = target_gaussian(np.array([0.1, 0.2, 0.3, 0.8]), symmetric)
    assert w.tolist() == pytest.approx([2 / 3, 2 / 3, 2 / 3, 2])
    # N(0.25, 0.25) on [0, 1]: bin masses Phi(1) - Phi(-1) = 0.682689 and Phi(3) - Phi(1) = 0.157305
    low, high = 0.682689 / 0.839995, 0.157305 / 0.839995
    skewed = CurriculumConfig(target="gaussian", target_mean=0.25, target_std=0.25, target_bins=2, mixture="fixed",
                              source_weights={"x": 1.0, "y": 1.0})
    plan = build_plan(EIGHT, skewed)
    # x0, x1 (1/6, 2/6) in the low bin, x3, x4 (4/6, 5/6) in the high one; empirical 1/2 each
    weights = _by_uid(plan, "weight")
    assert [weights[u] for u in ("x0", "x1", "x3", "x4")] == pytest.approx([low / 4, low / 4, high / 4, high / 4], rel=1e-5)


def test_gaussian_weights_are_capped():
    p = np.array([0.1] + [0.9] * 9)
    config = CurriculumConfig(target_bins=2, target_std=0.2)
    assert target_gaussian(p, config)[0] == pytest.approx(5.0)  # 0.5 / 0.1
    assert target_gaussian(p, CurriculumConfig(target_bins=2, target_std=0.2, weight_cap=2.0))[0] == 2.0
    plan = build_plan(_scored([("lo", "x", 4, 0)] + [(f"hi{i}", "x", 4, 4) for i in range(9)]),
                      CurriculumConfig(target_bins=2, target_std=0.2, weight_cap=2.0))
    assert _by_uid(plan, "weight")["lo"] == pytest.approx(2 / 7)  # 2 / (2 + 9 * 5/9)


def test_fixed_mixture_weights_and_replay_share():
    config = CurriculumConfig(staging="easy_to_hard", stages=2, target="none", mixture="fixed",
                              source_weights={"x": 3.0, "y": 1.0}, replay_share=0.2)
    plan = build_plan(EIGHT, config, replay_pool=POOL)
    summary = plan.summary()
    assert summary.source_weight == pytest.approx({"x": 0.6, "y": 0.2})  # (3/4, 1/4) * (1 - 0.2)
    assert summary.replay_weight == pytest.approx(0.2)
    assert plan.table["weight"].to_numpy().sum() == pytest.approx(1.0)
    # round(0.2 / 0.8 * 8) = 2 pool prompts, one in each stage (a uid appears once in a plan)
    replay = plan.table.filter(plan.table["replay"])
    assert replay.num_rows == 2 and len(set(replay["uid"].to_pylist())) == 2
    assert replay["stage"].to_pylist() == [0, 1]
    assert plan.params["replay_rows"] == 2 and plan.params["replay_pool_rows"] == 10
    for stage, total in summary.stage_weight.items():
        in_stage = replay.filter(pa.compute.equal(replay["stage"], stage))
        assert in_stage["weight"].to_numpy().sum() == pytest.approx(0.2 * total)
    assert summary.stage_rows == {0: 5, 1: 5}  # x3 x4 y3 y4 | x0 x1 y0 y1, plus 1 replay row each


def test_plan_is_independent_of_row_order():
    config = CurriculumConfig(stages=2, temperature=2.0, replay_share=0.3, seed=7)
    plan = build_plan(EIGHT, config, replay_pool=POOL)
    rng = np.random.default_rng(0)
    for _ in range(3):
        shuffled = build_plan(EIGHT.take(rng.permutation(8)), config, replay_pool=POOL.take(rng.permutation(10)))
        assert shuffled.table.equals(plan.table) and shuffled.params == plan.params
    reseeded = build_plan(EIGHT, CurriculumConfig(stages=2, temperature=2.0, replay_share=0.3, seed=8), POOL)
    picked = lambda p: set(p.table.filter(p.table["replay"])["uid"].to_pylist())  # noqa: E731
    assert picked(reseeded) != picked(plan)


def test_parquet_round_trip(tmp_path):
    plan = build_plan(EIGHT, CurriculumConfig(mixture="fixed", source_weights={"x": 1.0, "y": 2.0}, replay_share=0.1),
                      replay_pool=POOL)
    plan.to_parquet(tmp_path / "plan.parquet")
    back = Plan.read(tmp_path / "plan.parquet")
    assert back.table.equals(plan.table) and back.params == plan.params
    assert back.params["config"]["source_weights"] == {"x": 1.0, "y": 2.0}
    assert back.params["mixture"] == pytest.approx({"x": 1 / 3, "y": 2 / 3})
    rebuilt = build_plan(EIGHT, CurriculumConfig(**back.params["config"]), replay_pool=POOL)  # reproducible from params
    assert rebuilt.table.equals(plan.table) and rebuilt.params == plan.params
    pq.write_table(EIGHT, tmp_path / "other.parquet")
    with pytest.raises(ValueError, match="not a curriculum plan"):
        Plan.read(tmp_path / "other.parquet")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"staging": "hardest_first"}, f"unknown staging 'hardest_first'; valid: {', '.join(STAGINGS)}$"),
        ({"target": "uniform"}, f"unknown target 'uniform'; valid: {', '.join(TARGETS)}$"),
        ({"mixture": "equal"}, f"unknown mixture 'equal'; valid: {', '.join(MIXTURES)}$"),
        ({"source_weights": {"x": -1.0}}, "source_weights must be finite and >= 0"),
        ({"source_weights": {"x": 0.0}}, "all zero"),
        ({"replay_share": 1.0}, r"replay_share must be in \[0, 1\)"),
        ({"replay_share": -0.1}, r"replay_share must be in \[0, 1\)"),
        ({"stages": 0}, "stages must be >= 1"),
        ({"stage_edges": (0.3, 0.7)}, "strictly descending"),
        ({"target_std": 0.0}, "target_std > 0"),
        ({"weight_cap": 0.0}, "weight_cap > 0"),
        ({"temperature": 0.0}, "temperature must be > 0"),
    ],
)
def test_bad_config_values(options, message):
    with pytest.raises(ValueError, match=message):
        CurriculumConfig(**options)


def test_bad_inputs_name_what_is_wrong():
    with pytest.raises(ValueError, match=r"scored lacks columns \['n_correct'\]"):
        build_plan(EIGHT.drop_columns(["n_correct"]), CurriculumConfig())
    with pytest.raises(ValueError, match="row uid='b': need 1 <= n, 0 <= n_correct <= n; got 4, 5"):
        build_plan(_scored([("a", "x", 4, 1), ("b", "x", 4, 5)]), CurriculumConfig())
    with pytest.raises(ValueError, match="repeated uids, e.g. 'a'"):
        build_plan(_scored([("a", "x", 4, 1), ("a", "x", 4, 2)]), CurriculumConfig())
    with pytest.raises(ValueError, match="column 'n' has 1 nulls"):
        build_plan(pa.table({"uid": ["a"], "source": ["x"], "n": pa.array([None], pa.int64()), "n_correct": [0]}),
                   CurriculumConfig())
    with pytest.raises(ValueError, match=r"source_weights lacks sources \['y'\]"):
        build_plan(EIGHT, CurriculumConfig(mixture="fixed", source_weights={"x": 1.0}))
    with pytest.raises(ValueError, match="needs a non-empty replay_pool"):
        build_plan(EIGHT, CurriculumConfig(replay_share=0.1))
    with pytest.raises(ValueError, match="replay_pool shares 1 uids with scored, e.g. 'x0'"):
        build_plan(EIGHT, CurriculumConfig(replay_share=0.1), replay_pool=_scored([("x0", "x", 4, 4)]))
    with pytest.raises(ValueError, match="replay_pool lacks columns"):
        build_plan(EIGHT, CurriculumConfig(replay_share=0.1), replay_pool=POOL.drop_columns(["source"]))
