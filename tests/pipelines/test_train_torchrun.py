"""`assay train` under torchrun: two CPU processes (gloo), an FSDP-sharded policy, each process
sampling its share of the draws; rank 0 alone writes the catalog, logs and checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from safetensors.torch import load_file

from assay.pipelines.store.catalog import Catalog
from tests.pipelines.test_train_pipeline import shard_rows, write_shards


@pytest.mark.slow
def test_two_processes_train_one_policy_and_rank_zero_records(tmp_path):
    rows = shard_rows(10)
    write_shards(tmp_path / "shards", [rows])
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "assay.pipelines.cli.main",
         "--catalog", "c.duckdb", "train", "--shards", "shards", "--model", "toy", "--steps", "2", "--prompts-per-step", "4",
         "--rollouts-per-step", "16", "--eval-size", "2", "--eval-k", "2", "--max-tokens", "48", "--out", "run"],
        cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with Catalog.open(tmp_path / "c.duckdb", read_only=True) as cat:
        runs = cat.con.execute("SELECT kind, status FROM runs").fetchall()
        online = cat.con.execute("SELECT step, sum(k), count(*) FROM difficulty GROUP BY step ORDER BY step").fetchall()
    assert runs == [("train", "ok")]
    # Both processes' rollouts are recorded: every draw of each step, the full budget.
    assert [(step, k) for step, k, _ in online] == [(0, 16), (1, 16)]
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["rollouts"] for m in logged if "loss" in m] == [16, 16]
    weights = load_file(tmp_path / "run" / "checkpoints" / "step-000002" / "model.safetensors")
    assert "model.norm.weight" in weights and weights["model.embed_tokens.weight"].shape[0] > 100  # whole, unsharded tensors
