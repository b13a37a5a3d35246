"""`assay curate` end to end on a small built-in corpus: the funnel accounts for every row, the
decisions are recorded, the shards verify, and a rerun reuses the difficulty it already paid for."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from assay.pipelines.store.catalog import Catalog
from assay.pipelines.steps.curate import EXAMPLE_CONFIG, BenchmarkConfig, curate, parse_config
from assay.pipelines.errors import AssayError
from assay.pipelines.steps.export import read_manifest, verify_manifest


def small_config(out, count=60):
    text = (EXAMPLE_CONFIG.replace("count = 1000", f"count = {count}")
            .replace("k = 16 ", "k = 4 ").replace('policy = "adaptive"', 'policy = "fixed"')
            .replace('out = "shards" ', f'out = "{out}" ')
            # k = 4 leaves 0 of 4 a 0.59 chance of being in the band: tau 0.6 drops it (too_hard).
            .replace("tau = 0.5", "tau = 0.6").replace("replay_share = 0.1", "replay_share = 0.0"))
    return parse_config(text, "test")


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


@pytest.mark.parametrize("edit, message", [
    (lambda t: t + "\n[shards]\nx = 1\n", r"unknown section\(s\) shards"),
    (lambda t: t.replace("[difficulty]", "[difficulty]\nsamples = 3"), r"\[difficulty\] unknown key\(s\) samples; valid: model, k"),
    (lambda t: t.replace('method = "posterior_band"', 'method = "magic"'),
     r"\[learnability\] method .magic. is unknown; valid: pass_band, variance, posterior_band"),
    (lambda t: t.replace("[[sources]]", "[[sourcez]]"), r"unknown section\(s\) sourcez"),
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
