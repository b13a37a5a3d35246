"""TRL's GRPOTrainer on a trl export and the toy, from the README's example script (top-level
code, `import torch` first, no main guard): the rewards TRL logged are assay's verdicts on the
same completions, and not all zero."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from assay.pipelines.steps.export import export_plan, verify_manifest
from assay.verifiers import Check, verify_batch
from tests.clients.plans import one_step_plan

pytest.importorskip("trl")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train_trl.py"


@pytest.mark.slow
def test_grpo_trainer_logs_assays_verdicts(catalog, tmp_path):
    import datasets

    export_plan(catalog, one_step_plan(catalog), "trl", tmp_path / "trl")
    assert verify_manifest(tmp_path / "trl") == []
    done = subprocess.run([sys.executable, str(EXAMPLE), "trl", "--model", "toy", "--steps", "2", "--out", "run"],
                          cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    logged = datasets.load_dataset("parquet", data_files=sorted(str(p) for p in (tmp_path / "run" / "completions").glob("*.parquet")),
                                   split="train", cache_dir=str(tmp_path / "cache"))
    assert sorted(set(logged["step"])) == [1, 2] and logged.num_rows == 16  # 2 steps x 2 prompts x 4 completions
    dataset = datasets.load_from_disk(str(tmp_path / "trl" / "dataset"))
    gold = {p[0]["content"]: a for p, a in zip(dataset["prompt"], dataset["answer"])}
    items = [Check(c[-1]["content"], gold[p[-1]["content"]]) for p, c in zip(logged["prompt"], logged["completion"])]
    verdicts = [v.score for v in verify_batch(items, workers=2)]
    assert logged["trl_reward"] == verdicts
    assert 0 < sum(verdicts)


@pytest.mark.slow
def test_grpo_trainer_stops_when_verdicts_cannot_be_given(catalog, tmp_path):
    # Verifier options the numeric verifier cannot use: every verdict is an error, and TRL stops
    # with the reason instead of training on zeros.
    import datasets

    export_plan(catalog, one_step_plan(catalog), "trl", tmp_path / "trl")
    broken = datasets.load_from_disk(str(tmp_path / "trl" / "dataset")).map(
        lambda row: {"verifier": "numeric", "verifier_options": '{"rel_tol": "wide"}'})
    broken.save_to_disk(str(tmp_path / "broken" / "dataset"))
    done = subprocess.run([sys.executable, str(EXAMPLE), "broken", "--model", "toy", "--steps", "1", "--out", "run"],
                          cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert done.returncode != 0
    assert "RewardError: every one of 8 verdicts was a timeout or an error" in done.stderr, done.stderr[-3000:]
