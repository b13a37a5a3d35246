"""Names from their tables (assay.verifiers.names): the one message for an unknown name, its two
copies kept identical, and the help texts that list a table's keys naming every key."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from typer.main import get_command

from assay.curricula.plan import MIXTURES, STAGINGS, TARGETS
from assay.curricula.sampler import ALLOCATIONS, STRATEGIES, SamplerConfig
from assay.pipelines.cli.main import app
from assay.pipelines.errors import AssayError, check_given, chosen
from assay.pipelines.flows.runners import RUNNERS
from assay.pipelines.steps.benchmarks import BENCH_PRESETS, BenchmarkConfig
from assay.pipelines.steps.curate import EXAMPLE_CONFIG, LEARNABILITY_FILTERS, CurateConfig
from assay.pipelines.steps.difficulty import POLICIES
from assay.pipelines.steps.export import FORMATS
from assay.pipelines.steps.presets import PRESETS
from assay.trainers.prompts import POSITIONS
from assay.trainers.rollout import ENGINE_CHOICES
from assay.verifiers import VERIFIERS
from assay.verifiers.code_verifier import SANDBOX_MODES
from assay.verifiers.names import UnknownName, check_names, choose, names_help

ROOT = Path(__file__).resolve().parents[1]


def test_verifiers_and_curricula_hold_the_same_helper():
    # Neither leaf may import the other (DESIGN.md), so each has the file; they must not drift.
    assert (ROOT / "curricula" / "names.py").read_bytes() == (ROOT / "verifiers" / "names.py").read_bytes()


def test_choose_returns_the_entry_or_fails_listing_the_table_in_order():
    table = {"uniform": 1, "thompson": 2, "spo": 3}
    assert choose(table, "spo", "strategy") == 3
    assert choose(("auto", "vllm"), "vllm", "engine") == "vllm"
    with pytest.raises(UnknownName) as caught:
        choose(table, "greedy", "strategy")
    assert str(caught.value) == "unknown strategy 'greedy'; valid: uniform, thompson, spo"
    assert (caught.value.what, caught.value.names, caught.value.valid) == ("strategy", ("greedy",), ("uniform", "thompson", "spo"))
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("name, shown", [(None, "None"), (3, "3"), (["spo"], "['spo']"), ("", "''")])
def test_a_name_that_is_not_a_string_or_is_empty_is_unknown(name, shown):
    with pytest.raises(UnknownName) as caught:
        choose({"spo": 1}, name, "strategy")
    assert str(caught.value) == f"unknown strategy {shown}; valid: spo"


def test_several_unknown_names_are_named_together_in_the_order_given():
    check_names(("dedup", "gold"), ["gold", "dedup"], "filter")
    with pytest.raises(UnknownName, match=r"^unknown filters 'qa', 'dedupe'; valid: dedup, gold$"):
        check_names(("dedup", "gold"), ["qa", "gold", "dedupe"], "filter")
    with pytest.raises(UnknownName, match=r"^unknown benchmark 'gsm8k'; valid: none$"):
        check_names((), ["gsm8k"], "benchmark")


def test_the_error_survives_pickling_whole():
    # A Prefect task or a worker process sends its exception back pickled.
    error = pickle.loads(pickle.dumps(UnknownName("engine", ("tpu",), ("auto", "vllm"))))
    assert (type(error), str(error)) == (UnknownName, "unknown engine 'tpu'; valid: auto, vllm")


def test_at_the_command_line_it_is_an_assay_error_prefixed_with_where_the_name_was_given():
    assert chosen({"local": 1}, "local", "runner", "--runner:") == 1
    with pytest.raises(AssayError, match=r"^--runner: unknown runner 'spark'; valid: local, dask$"):
        chosen({"local": 1, "dask": 2}, "spark", "runner", "--runner:")
    with pytest.raises(AssayError, match=r"^\[filters\] unknown filter 'qa'; valid: dedup$"):
        check_given(("dedup",), ["qa"], "filter", "[filters]")
    with pytest.raises(AssayError, match=r"^unknown benchmark 'x'; valid: a$"):
        check_given(("a",), ["x"], "benchmark")


@pytest.mark.parametrize("names, text", [(["a"], "a"), (["a", "b"], "a or b"), (["a", "b", "c"], "a, b or c")])
def test_names_help(names, text):
    assert names_help(dict.fromkeys(names)) == names_help(names) == text


def _option_help(command: str, flag: str) -> str:
    (param,) = [p for p in get_command(app).commands[command].params if flag in p.opts]
    return param.help


@pytest.mark.parametrize("help, table", [
    (lambda: _option_help("ingest", "--preset"), PRESETS),
    (lambda: _option_help("ingest", "--verifier"), VERIFIERS),
    (lambda: _option_help("verify", "--verifier"), VERIFIERS),
    (lambda: _option_help("verify", "--sandbox"), SANDBOX_MODES),
    (lambda: _option_help("export", "--format"), FORMATS),
    (lambda: _option_help("export", "--instruction-position"), POSITIONS),
    (lambda: _option_help("train", "--sampler"), STRATEGIES),
    (lambda: _option_help("train", "--sampler-allocation"), ALLOCATIONS),
    (lambda: _option_help("train", "--engine"), ENGINE_CHOICES),
    (lambda: _option_help("difficulty", "--policy"), POLICIES),
    (lambda: _option_help("difficulty", "--runner"), RUNNERS),
    (lambda: _option_help("curate", "--export-format"), FORMATS),
    (lambda: _option_help("curate", "--curriculum-staging"), STAGINGS),
    (lambda: _option_help("curate", "--curriculum-target"), TARGETS),
    (lambda: _option_help("curate", "--curriculum-mixture"), MIXTURES),
    (lambda: BenchmarkConfig.__dataclass_fields__["preset"].metadata["help"], BENCH_PRESETS),
    (lambda: CurateConfig.__dataclass_fields__["steps"].metadata["help"], LEARNABILITY_FILTERS),
    (lambda: EXAMPLE_CONFIG, FORMATS),
], ids=["ingest --preset", "ingest --verifier", "verify --verifier", "verify --sandbox", "export --format",
        "export --instruction-position", "train --sampler", "train --sampler-allocation", "train --engine",
        "difficulty --policy", "difficulty --runner", "curate --export-format", "curate --curriculum-staging",
        "curate --curriculum-target", "curate --curriculum-mixture", "bench add --preset", "curate [[steps]]",
        "curate --example-config"])
def test_help_that_lists_a_tables_keys_lists_all_of_them_in_order(help, table):
    assert names_help(table) in help()


def test_the_sampler_settings_help_comes_from_its_tables():
    fields = SamplerConfig.__dataclass_fields__
    assert names_help(STRATEGIES) in fields["strategy"].metadata["help"]
    assert names_help(ALLOCATIONS) in fields["allocation"].metadata["help"]
