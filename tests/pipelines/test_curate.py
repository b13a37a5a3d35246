"""`assay curate` end to end on a small built-in corpus: the funnel accounts for every row, the
decisions are recorded, the shards verify, and a rerun reuses the difficulty it already paid for;
the step list a config writes (tuned, added, reordered filters) is what runs, and a list the
steps cannot run fails before any work, naming what is valid."""

import dataclasses
import json
import tomllib
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from assay.filters.dedup import DedupConfig
from assay.filters.learnability import PosteriorBandConfig, VarianceConfig
from assay.filters.quality import QualityConfig
from assay.pipelines.store.catalog import Catalog
from assay.pipelines.steps.curate import (
    DEFAULT_STEPS,
    EXAMPLE_CONFIG,
    LEARNABILITY,
    LEARNABILITY_FILTERS,
    LEGACY_FILTERS,
    QUICKSTART,
    ROWS,
    STEPS,
    BenchmarkConfig,
    Step,
    config_from,
    curate,
    parse_config,
)
from assay.pipelines.errors import AssayError
from assay.pipelines.steps.export import FORMATS, read_manifest, verify_manifest
from assay.pipelines.config.settings import overlay
from assay.verifiers.names import names_help


def small_config(out, count=60, steps=QUICKSTART.steps):
    """The quickstart's config on `count` problems, k = 4 fixed, no replay, shards to `out`."""
    # k = 4 leaves 0 of 4 a 0.59 chance of being in the band: tau 0.6 drops it (too_hard).
    steps = tuple(Step(s.name, replace(s.settings, tau=0.6)) if s.name == "posterior_band" else s for s in steps)
    return replace(QUICKSTART, sources=[replace(QUICKSTART.sources[0], count=count)], steps=steps,
                   difficulty=replace(QUICKSTART.difficulty, k=4, policy="fixed"), export=replace(QUICKSTART.export, out=str(out)),
                   curriculum=replace(QUICKSTART.curriculum, replay_share=0.0))


@pytest.mark.slow
def test_curate_funnel_decisions_shards_and_rerun(tmp_path):
    with Catalog.open(tmp_path / "assay.duckdb") as cat:
        result = curate(cat, small_config(tmp_path / "v1"))
        steps = {s.step: s for s in result.steps}
        assert [s.step for s in result.steps] == ["ingest", "dedup", "contamination", "quality", "gold", "difficulty",
                                                 "posterior_band", "curriculum", "export"]
        assert steps["ingest"].rows_in == steps["ingest"].rows_out == 60
        # Every filter step: what came in either went out or was dropped with a reason, and recorded.
        for before, after in zip(result.steps[:6], result.steps[1:7]):
            assert before.rows_out == after.rows_in
        for s in result.steps[1:7]:
            assert s.rows_in - s.rows_out == sum(s.dropped.values())
        recorded = dict(cat.con.execute(
            "SELECT filter, count(*) FROM decisions WHERE run_id = ? GROUP BY filter", [result.run_id]).fetchall())
        assert recorded == {s.step: s.rows_in - s.rows_out for s in result.steps[1:7] if s.rows_in > s.rows_out}
        # Problem 0 of the corpus is planted in the built-in evaluation set.
        assert steps["contamination"].dropped.get("contaminated", 0) >= 1
        assert steps["posterior_band"].dropped.get("too_hard", 0) >= 1
        assert cat.con.execute("SELECT status FROM runs WHERE run_id = ?", [result.run_id]).fetchone()[0] == "ok"

        manifest = read_manifest(tmp_path / "v1")
        assert verify_manifest(tmp_path / "v1") == []
        assert manifest.rows == steps["export"].rows_out > 0
        assert manifest.plan["curate_run"] == result.run_id
        assert manifest.plan["difficulty"]["model_id"].startswith("toy@")
        assert manifest.plan["learnability"]["method"] == "posterior_band"
        shard = pq.read_table(tmp_path / "v1" / "data" / "part-00000.parquet")
        assert shard["n"].null_count == 0 and min(shard["n"].to_pylist()) >= 4
        # The difficulty step's verdicts, per status, in the step and in the report.
        statuses = steps["difficulty"].detail["statuses"]
        assert sum(statuses.values()) == steps["difficulty"].detail["sampled"] and statuses["correct"] > 0
        summary = json.loads(result.report.with_suffix(".json").read_text())
        assert summary["verdicts"] == statuses and any(line.startswith("verdicts: correct") for line in summary["lines"])

        # Same config, new folder: nothing is sampled again and the shards hold the same rows.
        again = curate(cat, small_config(tmp_path / "v2"))
        assert {s.step: s for s in again.steps}["difficulty"].detail["sampled"] == 0
        assert read_manifest(tmp_path / "v2").content_sha256 == manifest.content_sha256


# The quickstart's config as the format of earlier versions wrote it: [filters.NAME] and
# [learnability] tune the default step list.
EARLIER_FORMAT = """
[[sources]]
spec = "builtin:arithmetic"
count = 1000

[[benchmarks]]
name = "arith-eval"
spec = "builtin:arithmetic-eval"

[filters.dedup]
threshold = 0.8

[filters.quality]
min_prompt_chars = 8

[difficulty]
max_tokens = 256

[learnability]
method = "posterior_band"
settings = { lo = 0.1, hi = 0.9, tau = 0.5 }

[curriculum]
replay_share = 0.1
"""


@pytest.mark.parametrize("edit, message", [
    (lambda t: t + "\n[shards]\nx = 1\n", r"curate\.toml: unknown section 'shards'; valid: sources, benchmarks"),
    (lambda t: t.replace("[difficulty]", "[difficulty]\nsamples = 3"), r"\[difficulty\] unknown key 'samples'; valid: model, k"),
    (lambda t: EARLIER_FORMAT.replace('method = "posterior_band"', 'method = "magic"'),
     rf"\[learnability\] unknown method 'magic'; valid: {', '.join(LEARNABILITY_FILTERS)}$"),
    (lambda t: EARLIER_FORMAT.replace("[filters.dedup]", "[filters.dedupe]"),
     rf"\[filters\] unknown filter 'dedupe'; valid: {', '.join(LEGACY_FILTERS)}$"),
    (lambda t: t.replace("[[sources]]", "[[sourcez]]"), "unknown section 'sourcez'"),
    (lambda t: "splits = ['train']\n", r"no \[\[sources\]\]; name at least one corpus"),
    (lambda t: t.replace("replay_share = 0.1", "replay_share = 1.5"), r"\[curriculum\] replay_share must be in \[0, 1\)"),
    (lambda t: t.replace("[[sources]]", "[[sources"), "not valid TOML"),
    (lambda t: t.replace("max_verifier_failures = 0.05", "max_verifier_failures = 5"),
     r"\[difficulty\] --max-verifier-failures must be a share in \[0, 1\], got 5"),
])
def test_config_mistakes_name_the_section_and_key(edit, message):
    with pytest.raises(AssayError, match=message):
        parse_config(edit(EXAMPLE_CONFIG), "curate.toml")


@pytest.mark.slow
def test_cli_example_config_round_trips_and_errors_are_one_line(tmp_path):
    def assay(*args):
        return subprocess.run([sys.executable, "-m", "assay.pipelines.cli.main", *args], cwd=tmp_path,
                              env=os.environ, capture_output=True, text=True, timeout=120)

    example = assay("curate", "--example-config")
    assert example.returncode == 0 and example.stdout == EXAMPLE_CONFIG
    parse_config(example.stdout, "stdout")
    missing = assay("curate", "--config", "nope.toml")
    assert missing.returncode == 2 and missing.stderr.strip() == "assay: error: --config nope.toml: No such file or directory"
    (tmp_path / "bad.toml").write_text(EXAMPLE_CONFIG.replace("k = 16", "k = 0"))
    bad = assay("curate", "--config", "bad.toml")
    assert bad.returncode == 2 and "--k must be a positive number of samples" in bad.stderr


def test_a_failed_run_writes_its_report_naming_the_step(tmp_path):
    """A benchmark that is neither registered nor given a spec fails the decontaminate step,
    after ingest and dedup: the run is marked failed and its report says where and why."""
    config = dataclasses.replace(small_config(tmp_path / "shards", count=20), benchmarks=[BenchmarkConfig("nowhere")])
    with Catalog.open(tmp_path / "assay.duckdb") as cat:
        with pytest.raises(AssayError) as error:
            curate(cat, config)
        status, summary = cat.con.execute("SELECT status, summary FROM runs WHERE kind = 'curate'").fetchone()
    assert status == "failed" and json.loads(summary)["failed_step"] == "decontaminate"
    report = json.loads(Path(json.loads(summary)["report"]).with_suffix(".json").read_text())
    assert report["title"].endswith("(failed at decontaminate)")
    assert report["lines"][0].startswith("failed at step decontaminate: ") and "nowhere" in report["lines"][0]
    assert [s["step"] for s in report["funnel"]] == ["ingest", "dedup"]
    assert any(note.startswith("report of the failed run: ") for note in error.value.__notes__)


def test_the_example_config_is_the_quickstart_s_and_lists_its_steps():
    assert parse_config(EXAMPLE_CONFIG, "example") == QUICKSTART
    assert [step["name"] for step in tomllib.loads(EXAMPLE_CONFIG)["steps"]] == [
        "ingest", "dedup", "decontaminate", "quality", "gold", "difficulty", "posterior_band", "curriculum", "export"]
    # What the quickstart changes from the defaults (its funnel, 1,000 -> 991 -> 309 -> 310 shard rows, rests on them).
    steps = {s.name: s.settings for s in QUICKSTART.steps}
    assert steps["quality"] == QualityConfig(min_prompt_chars=8) and steps["dedup"] == DedupConfig()
    assert steps["posterior_band"] == PosteriorBandConfig(lo=0.1, hi=0.9, tau=0.5)
    assert (QUICKSTART.difficulty.sampling.max_tokens, QUICKSTART.difficulty.k, QUICKSTART.curriculum.replay_share) == (256, 16, 0.1)
    assert [s.name for s in DEFAULT_STEPS] == [s.name for s in QUICKSTART.steps]


def test_a_config_of_the_earlier_format_reads_as_the_default_list():
    assert parse_config(EARLIER_FORMAT, "old.toml") == QUICKSTART
    with pytest.raises(AssayError, match=r"\[filters\] and \[learnability\] tune the default steps; with \[\[steps\]\]"):
        parse_config(EARLIER_FORMAT + '[[steps]]\nname = "ingest"\n', "old.toml")


def steps_toml(*entries: str) -> str:
    """A config with the built-in corpus and these [[steps]] entries (TOML key lines, ';'-separated)."""
    return '[[sources]]\nspec = "builtin:arithmetic"\n' + "".join(
        "\n[[steps]]\n" + "\n".join(entry.split(";")) + "\n" for entry in entries)


DEFAULT_LIST = ['name = "ingest"', 'name = "dedup"', 'name = "decontaminate"', 'name = "quality"', 'name = "gold"',
                'name = "difficulty"', 'name = "posterior_band"', 'name = "curriculum"', 'name = "export"']


def test_a_step_list_tunes_adds_and_reorders_filters():
    written = steps_toml('name = "ingest"', 'name = "gold"', 'name = "dedup";threshold = 0.7', 'name = "quality"',
                         'name = "quality";max_prompt_chars = 400', 'name = "difficulty"', 'name = "posterior_band";tau = 0.3',
                         'name = "variance";min_variance = 0.1', 'name = "curriculum"', 'name = "export"')
    config = parse_config(written, "c.toml")
    assert [(s.name, s.settings) for s in config.steps] == [
        ("ingest", None), ("gold", DEFAULT_STEPS[4].settings), ("dedup", DedupConfig(threshold=0.7)), ("quality", QualityConfig()),
        ("quality", QualityConfig(max_prompt_chars=400)), ("difficulty", None), ("posterior_band", PosteriorBandConfig(tau=0.3)),
        ("variance", VarianceConfig(min_variance=0.1)), ("curriculum", None), ("export", None)]
    # No decontaminate step: a list may leave it out. The default list written out is the default.
    assert parse_config(steps_toml(*DEFAULT_LIST), "c.toml").steps == DEFAULT_STEPS


# A learnability filter that is only a function, a config and a registry entry: curation must place it
# after difficulty and take its settings from a [[steps]] entry, with nothing else edited.
NEW_FILTER = """
import dataclasses, pyarrow as pa
from assay.filters import registry
from assay.filters.decision import Decision

@dataclasses.dataclass(frozen=True)
class AtLeastConfig:
    min_correct: int = 1

def at_least(table, config):
    \"\"\"Keep the prompts solved at least min_correct times.\"\"\"
    solved = table.column("n_correct").to_pylist()
    keep = [c >= config.min_correct for c in solved]
    return Decision(pa.array(keep), pa.array([None if k else f"too_hard: {c} correct" for k, c in zip(keep, solved)], pa.string()))

registry.FILTERS["at_least"] = registry.FilterSpec(at_least, AtLeastConfig, registry.LEARNABILITY)
from assay.pipelines.steps.curate import LEARNABILITY, STEPS, parse_config
"""


def test_a_new_learnability_filter_is_a_step_from_its_registry_entry_alone():
    script = NEW_FILTER + f"""
print(STEPS["at_least"].phase == LEARNABILITY)
config = parse_config({steps_toml(*DEFAULT_LIST[:6], 'name = "at_least";min_correct = 2', *DEFAULT_LIST[7:])!r}, "c.toml")
print([(s.name, s.settings) for s in config.steps if s.name == "at_least"])
try:
    parse_config({steps_toml(*DEFAULT_LIST[:2], 'name = "at_least"', *DEFAULT_LIST[2:])!r}, "c.toml")
except Exception as error:
    print(error)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[:2] == ["True", "[('at_least', AtLeastConfig(min_correct=2))]"]
    assert out[2].endswith("learnability filters (pass_band, variance, posterior_band or at_least), curriculum, export")  # not before difficulty


ROW_STEPS, LEARNABILITY_STEPS = ([name for name, kind in STEPS.items() if kind.phase == phase] for phase in (ROWS, LEARNABILITY))
ORDER = (rf"a list runs ingest, then row filters \({names_help(ROW_STEPS)}\), difficulty, learnability filters "
         rf"\({names_help(LEARNABILITY_STEPS)}\), curriculum, export$")


@pytest.mark.parametrize("entries, message", [
    (DEFAULT_LIST[:1] + ['name = "dedupe"'] + DEFAULT_LIST[2:], rf"^\[steps.1\] unknown step 'dedupe'; valid: {', '.join(STEPS)}$"),
    (DEFAULT_LIST[:1] + ['threshold = 0.7'] + DEFAULT_LIST[2:], r"^\[steps.1\] unknown step None; valid: ingest"),
    (DEFAULT_LIST[:1] + ['name = "dedup";treshold = 0.7'] + DEFAULT_LIST[2:],
     rf"^\[steps.1\] unknown dedup option 'treshold'; valid: {', '.join(f.name for f in dataclasses.fields(DedupConfig))}$"),
    (DEFAULT_LIST[:1] + ['name = "dedup";threshold = 1.5'] + DEFAULT_LIST[2:], r"^\[steps.1\] dedup: threshold must be in \(0, 1\]"),
    (DEFAULT_LIST[:5] + ['name = "difficulty";k = 4'] + DEFAULT_LIST[6:], r"^\[steps.5\] difficulty takes no keys but name, got k"),
    (DEFAULT_LIST[:1] + DEFAULT_LIST[5:6] + DEFAULT_LIST[1:5] + DEFAULT_LIST[6:], r"^\[c.toml\] steps ingest, difficulty, dedup, \.\.\.: " + ORDER),
    (DEFAULT_LIST[:5] + DEFAULT_LIST[6:7] + DEFAULT_LIST[5:6] + DEFAULT_LIST[7:], ORDER),  # learnability before difficulty
    (DEFAULT_LIST[:6] + DEFAULT_LIST[7:], ORDER),  # no learnability filter
    (DEFAULT_LIST[:-1], ORDER),  # no export
    (DEFAULT_LIST[:3] + DEFAULT_LIST[2:], ORDER),  # decontaminate twice
    (DEFAULT_LIST[:6] + DEFAULT_LIST[5:], ORDER),  # difficulty twice
    (DEFAULT_LIST[1:], ORDER),  # no ingest
])
def test_a_list_the_steps_cannot_run_fails_naming_what_is_valid(entries, message):
    with pytest.raises(AssayError, match=message):
        parse_config(steps_toml(*entries), "c.toml")


def test_flags_lay_over_the_config_file_and_the_run_s_settings_are_not_keys():
    raw = tomllib.loads(EXAMPLE_CONFIG)
    config = config_from(overlay(raw, {"difficulty": {"k": 4, "chunk_size": 8}, "export": {"format": "jsonl"}}), "c.toml")
    assert (config.difficulty.k, config.difficulty.chunk_size, config.difficulty.sampling.max_tokens) == (4, 8, 256)
    assert config.export == replace(QUICKSTART.export, format="jsonl") and config.steps == QUICKSTART.steps
    with pytest.raises(AssayError, match=r"^\[difficulty\] source: set the \[\[sources\]\] to curate"):
        config_from(overlay(raw, {"difficulty": {"source": "gsm8k"}}), "c.toml")
    with pytest.raises(AssayError, match=rf"^\[export\] unknown format 'csv'; valid: {', '.join(FORMATS)}$"):
        config_from(overlay(raw, {"export": {"format": "csv"}}), "c.toml")


@pytest.mark.slow
def test_the_written_list_is_what_runs(tmp_path):
    """Gold before dedup, no decontaminate step, and a variance filter after the learnability
    filter: the funnel is the list, each filter's drops are recorded under its name, and the
    plan records the list."""
    order = [Step("ingest"), DEFAULT_STEPS[4], DEFAULT_STEPS[1], DEFAULT_STEPS[3], Step("difficulty"), DEFAULT_STEPS[6],
             Step("variance", VarianceConfig(min_variance=0.2)), Step("curriculum"), Step("export")]
    config = small_config(tmp_path / "shards", count=30, steps=tuple(order))
    with Catalog.open(tmp_path / "assay.duckdb") as cat:
        result = curate(cat, config)
        recorded = dict(cat.con.execute(
            "SELECT filter, count(*) FROM decisions WHERE run_id = ? GROUP BY filter", [result.run_id]).fetchall())
    assert [s.step for s in result.steps] == ["ingest", "gold", "dedup", "quality", "difficulty", "posterior_band",
                                             "variance", "curriculum", "export"]
    for before, after in zip(result.steps[:6], result.steps[1:7]):
        assert before.rows_out == after.rows_in
    assert recorded == {s.step: s.rows_in - s.rows_out for s in result.steps[1:7] if s.rows_in > s.rows_out}
    # p_hat (1 - p_hat) >= 0.2 of 4 samples keeps 2 correct only (1 or 3 of 4: 0.1875); no replay rows (share 0).
    shard = pq.read_table(tmp_path / "shards" / "data" / "part-00000.parquet")
    assert set(shard["n"].to_pylist()) == {4} and set(shard["n_correct"].to_pylist()) == {2}
    assert [s["name"] for s in read_manifest(tmp_path / "shards").plan["steps"]] == [s.name for s in order]
