"""`--engine`: the commands say which engine they use, `auto` picks vLLM exactly where it can run
(`vllm_support`), and `assay difficulty` and `assay train` work end to end on that engine. In the
vLLM-CPU environment (.ci/run) this is `assay difficulty` and `assay train --engine vllm` on vLLM's
CPU platform; elsewhere it is the TransformersEngine."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from assay.pipelines.steps.audit import AuditConfig
from assay.pipelines.store.catalog import Catalog
from assay.pipelines.steps.difficulty import DifficultyConfig
from assay.pipelines.errors import AssayError
from assay.pipelines.steps.train import TrainRunConfig
from assay.trainers.engines import choose_engine
from assay.trainers.rollout import ENGINE_CHOICES
from tests.pipelines.test_train_pipeline import shard_rows, write_shards


def assay(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assay.pipelines.cli.main", "--catalog", "c.duckdb", *args], cwd=tmp_path,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_difficulty_and_train_say_and_use_the_chosen_engine(tmp_path):
    auto = choose_engine("auto")
    assert assay(tmp_path, "ingest", "builtin:arithmetic", "--count", "12").returncode == 0
    done = assay(tmp_path, "difficulty", "--k", "2", "--policy", "fixed", "--max-tokens", "48")
    assert done.returncode == 0, done.stderr
    assert f"engine: {auto.kind} ({auto.why})" in " ".join(done.stdout.split())  # rich wraps long lines
    with Catalog.open(tmp_path / "c.duckdb", read_only=True) as cat:
        samples = cat.con.execute("SELECT sum(k) FROM difficulty").fetchone()[0]
    assert samples == 12 * 2

    write_shards(tmp_path / "shards", [shard_rows(8)])
    done = assay(tmp_path, "train", "--shards", "shards", "--model", "toy", "--steps", "2", "--prompts-per-step", "2",
                 "--rollouts-per-step", "4", "--eval-size", "2", "--eval-k", "2", "--max-tokens", "32", "--engine", auto.kind,
                 "--out", "run")
    assert done.returncode == 0, done.stderr
    assert f"engine: {auto.kind} (asked for by name)" in " ".join(done.stdout.split())
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) >= 2


@pytest.mark.parametrize("config", [
    lambda: DifficultyConfig(model="toy", engine="tpu"),
    lambda: TrainRunConfig(shards="shards", model="toy", engine="tpu"),
    lambda: AuditConfig(model="toy", benchmarks=("aime24",), engine="tpu"),
])
def test_an_unknown_engine_fails_listing_the_valid_ones(config):
    with pytest.raises(AssayError, match=f"--engine: unknown engine 'tpu'; valid: {', '.join(ENGINE_CHOICES)}$"):
        config()
