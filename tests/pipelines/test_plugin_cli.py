"""`--verifier` on `assay verify`, `assay difficulty` and `assay train`, as a user runs them: a
plug-in package in the current folder, another installed as an entry point, the version each
leaves in the difficulty history, and mistakes answered before a model, torch or Prefect."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assay.pipelines.store.catalog import Catalog
from assay.verifiers import VERIFIERS
from tests.helpers import assay_listing_heavy, register_entry_point, write_jsonl, write_plugin

ASSAY = str(Path(sys.executable).with_name("assay"))  # the console script: its sys.path does not hold the current folder
def _run(folder: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([ASSAY, "--catalog", "c.duckdb", *args], cwd=folder, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


@pytest.mark.parametrize(
    "args, message",
    [
        (("difficulty", "--model", "/nonexistent", "--verifier", "answer-tag"),
         f"assay: error: --verifier: unknown verifier 'answer-tag'; valid: {', '.join(VERIFIERS)}, or package.module:function"),
        (("train", "--shards", "nowhere", "--model", "toy", "--steps", "1", "--verifier", "assay_test_absent.tags:answer_tag"),
         "assay: error: --verifier: assay_test_absent.tags:answer_tag: cannot import assay_test_absent.tags (ModuleNotFoundError"),
        (("verify", "--input", "nowhere.jsonl", "--output", "o.jsonl", "--verifier", "assay.verifiers.simple:absent"),
         "assay: error: --verifier: assay.verifiers.simple:absent: assay.verifiers.simple has no function absent"),
    ],
)
def test_a_bad_verifier_is_the_first_error_and_nothing_heavy_is_imported(tmp_path, args, message):
    done, heavy = assay_listing_heavy(*args, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith(message), done.stderr
    assert heavy == []  # neither torch, transformers, Prefect nor vllm was imported


def test_a_row_may_not_name_a_module_to_import(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [{"response": "/tmp/x", "gold": "y", "verifier": "shutil:rmtree"}])
    done = _run(tmp_path, "verify", "--input", "in.jsonl", "--output", "o.jsonl")
    assert done.returncode == 2 and "in.jsonl:1: shutil:rmtree: a package.module:function plug-in is chosen with --verifier" in done.stderr


@pytest.mark.slow
def test_a_plugin_runs_through_verify_difficulty_and_train(tmp_path):
    from tests.pipelines.test_train_pipeline import shard_rows, write_shards

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("\n### Your own reward\n"):]
    example = section[section.index("```python\n") + len("```python\n"):]
    write_plugin(tmp_path, "my_rewards", example[: example.index("```")])  # the README's, in the current folder
    site = write_plugin(tmp_path / "site", "my_installed_rewards")
    register_entry_point(site, "my-installed-rewards", "answer-tag", "my_installed_rewards.tags:answer_tag")
    installed = {"PYTHONPATH": str(site)}  # as if pip-installed there
    spec = "my_rewards.tags:answer_tag"

    # verify: a module path for every line, then an entry point named by the lines themselves.
    lines = [{"id": 1, "response": "<answer>18</answer>", "gold": "18", "verifier": "math"},
             {"id": 2, "response": "<answer>17</answer>", "gold": "18"},
             {"id": 3, "response": "\\boxed{18}", "gold": "18"}]
    write_jsonl(tmp_path / "in.jsonl", lines)
    done = _run(tmp_path, "verify", "--input", "in.jsonl", "--output", "out.jsonl", "--workers", "1", "--verifier", spec)
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(r["id"], r["verifier"], r["status"], r["score"]) for r in out] == [
        (1, spec, "correct", 1.0), (2, spec, "incorrect", 0.25), (3, spec, "incorrect", 0.0)]
    write_jsonl(tmp_path / "rows.jsonl", [{**line, "verifier": "answer-tag"} for line in lines])
    done = _run(tmp_path, "verify", "--input", "rows.jsonl", "--output", "rows-out.jsonl", "--workers", "1", env=installed)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["score"] for line in (tmp_path / "rows-out.jsonl").read_text().splitlines()] == [1.0, 0.25, 0.0]

    # difficulty: 3 prompts x 2 samples of the toy, judged by the plug-in; its version is in the history.
    assert _run(tmp_path, "ingest", "builtin:arithmetic", "--count", "3").returncode == 0
    done = _run(tmp_path, "difficulty", "--model", "toy", "--k", "2", "--policy", "fixed", "--max-tokens", "32", "--workers", "1",
                "--verifier", spec)
    assert done.returncode == 0, done.stderr
    assert "6 samples drawn now" in done.stdout

    # train: the shards' rows name the installed plug-in; one step (and any refill rounds), its observations in the history.
    rows = [{**row, "verifier": "answer-tag"} for row in shard_rows(6)]
    write_shards(tmp_path / "shards", [rows])
    done = _run(tmp_path, "train", "--shards", "shards", "--model", "toy", "--steps", "1", "--prompts-per-step", "2",
                "--rollouts-per-step", "4", "--eval-size", "2", "--eval-k", "1", "--eval-every", "0", "--max-tokens", "32",
                "--sampler", "uniform", "--out", "run", env=installed)
    assert done.returncode == 0, done.stderr
    with Catalog.open(tmp_path / "c.duckdb", read_only=True) as cat:
        history = cat.con.execute("SELECT origin, verifier_version, sum(k) FROM difficulty GROUP BY ALL ORDER BY 1").fetchall()
    assert [row[:2] for row in history] == [("offline", f"assay-verifiers-2+{spec}@1.0"), ("online", "assay-verifiers-2+answer-tag@1.0")]
    assert history[0][2] == 6 and history[1][2] >= 4
