"""`assay train` on shards: input checked before any rollout, online difficulty in the catalog,
a verifier that raises, a model without a chat template, and the command as a user runs it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from assay.curricula.arithmetic import generate_arithmetic
from assay.curricula.sampler import SamplerConfig
from assay.pipelines.errors import AssayError
from assay.pipelines.store.schema import make_uid
from assay.pipelines.steps.train import BUILTIN_EVAL, TrainRunConfig, builtin_eval_prompts, read_shards, run_training
from assay.trainers.engines import resolve_model
from assay.trainers.grpo import ADVANTAGES, GRPOConfig

SCHEMA = pa.schema([("uid", pa.string()), ("source", pa.string()), ("split", pa.string()), ("prompt", pa.string()),
                    ("answer", pa.string()), ("verifier", pa.string()), ("domain", pa.string()), ("meta", pa.string()),
                    ("stage", pa.int32()), ("weight", pa.float64()), ("n", pa.int64()), ("n_correct", pa.int64())])


def shard_rows(count: int, seed: int = 0) -> list[dict]:
    return [
        {"uid": make_uid("arithmetic", p.prompt), "source": "arithmetic", "split": "train", "prompt": p.prompt, "answer": p.answer,
         "verifier": "math", "domain": "math", "meta": json.dumps({"steps": p.steps}), "stage": 0, "weight": 1.0,
         "n": None, "n_correct": None}
        for p in generate_arithmetic(count, seed)
    ]


def write_shards(folder: Path, parts: list[list[dict]], drop: str | None = None) -> Path:
    """The export format: data/part-NNNNN.parquet plus manifest.json listing them."""
    (folder / "data").mkdir(parents=True)
    files = []
    for i, rows in enumerate(parts):
        schema = pa.schema([f for f in SCHEMA if f.name != drop])
        table = pa.table({f.name: [r[f.name] for r in rows] for f in schema}, schema=schema)
        path = folder / "data" / f"part-{i:05d}.parquet"
        pq.write_table(table, path)
        files.append({"path": f"data/{path.name}", "rows": len(rows), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
    (folder / "manifest.json").write_text(json.dumps({"format": "parquet", "files": files}))
    return folder


def test_shards_without_a_verifier_column_fail_before_any_rollout(tmp_path, catalog):
    good = write_shards(tmp_path / "good", [shard_rows(4)])
    assert len(read_shards(good).prompts) == 4
    # The second file lacks `answer`: the error names it and the column, before the first is used.
    bad = tmp_path / "bad"
    write_shards(bad, [shard_rows(4)])
    (bad / "data" / "part-00000.parquet").rename(bad / "data" / "keep.parquet")
    write_shards(tmp_path / "tmp", [shard_rows(4, seed=1)], drop="answer")
    shutil.move(tmp_path / "tmp" / "data" / "part-00000.parquet", bad / "data" / "part-00001.parquet")
    manifest = {"format": "parquet", "files": [{"path": "data/keep.parquet"}, {"path": "data/part-00001.parquet"}]}
    (bad / "manifest.json").write_text(json.dumps(manifest))
    config = TrainRunConfig(shards=str(bad), model="toy", steps=1)
    with pytest.raises(AssayError, match=r"part-00001.parquet: shard has no column 'answer', which the verifier needs"):
        run_training(catalog, config)
    assert catalog.con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0  # nothing started
    rows = shard_rows(2)
    rows[1]["verifier"] = "oracle"
    write_shards(tmp_path / "unknown", [rows])
    with pytest.raises(AssayError, match=r"part-00000.parquet row 1: unknown verifier 'oracle'; valid: math"):
        read_shards(tmp_path / "unknown")
    with pytest.raises(AssayError, match="no such shard folder"):
        read_shards(tmp_path / "nowhere")


def test_builtin_held_out_set_leaves_out_the_planted_corpus_copies():
    held = builtin_eval_prompts(50)
    corpus = {p.prompt for p in generate_arithmetic(1000, 0)}
    assert len(held) == 50 and not corpus & {p.prompt for p in held}


@pytest.mark.slow
def test_online_observations_reach_the_catalog_and_a_raising_verifier_is_masked_or_stops_the_run(tmp_path, catalog):
    torch.set_num_threads(1)
    rows = shard_rows(6)
    rows[0].update(n=16, n_correct=0)  # offline: never solved, so the sampler predicts a zero-variance group
    rows[1].update(verifier="numeric", meta=json.dumps({"verifier_options": {"rel_tol": "wide"}}))  # raises on every sample
    shards = write_shards(tmp_path / "shards", [rows[:3], rows[3:]])
    grpo = GRPOConfig(lr=1e-4, max_tokens=96, eval_k=2, eval_every=0, verifier_workers=1)
    config = TrainRunConfig(shards=str(shards), model="toy", steps=2,
                            sampler=SamplerConfig(prompts_per_batch=6, rollouts_per_batch=24), eval=BUILTIN_EVAL,
                            eval_size=6, out=str(tmp_path / "stopped"), grpo=grpo)
    # Its errors are more than 5% of the first step's verdicts: the run stops before recording the step.
    with pytest.raises(AssayError, match=r"training step 1: \d+ of 24 verdicts \(.*%\) were timeout or error \(error \d+; "
                                         r"verifier numeric \d+\), more than the 5% allowed.*verifier timeout is 2 s per item"):
        run_training(catalog, config)
    assert catalog.con.execute("SELECT count(*) FROM difficulty").fetchall() == [(0,)]
    assert catalog.con.execute("SELECT status FROM runs").fetchall() == [("failed",)]
    # Allowed, every error is recorded as an error and masked: no reward, no decided sample.
    config = replace(config, out=str(tmp_path / "run"), grpo=replace(grpo, max_verifier_failures=1.0))
    result = run_training(catalog, config)
    online = catalog.con.execute(
        "SELECT uid, step, k, n_correct, model, origin, run_id, n_error, mean_reward FROM difficulty "
        "WHERE run_id = ? ORDER BY step, uid", [result.run_id]
    ).fetchall()
    assert {r[5] for r in online} == {"online"} and {r[1] for r in online} == {0, 1}
    assert {r[4] for r in online} == {result.model_id} and result.model_id.startswith("toy@")
    assert {r[6] for r in online} == {result.run_id} and result.observations == len(online)
    assert sum(r[2] for r in online) == sum(m["rollouts"] for m in result.history) == 2 * 24
    drawn = {r[0] for r in online}
    assert rows[0]["uid"] not in drawn  # the offline counts seeded the sampler
    assert rows[1]["uid"] in drawn
    raising = [r for r in online if r[0] == rows[1]["uid"]]
    assert all(r[3] == 0 and r[7] == r[2] and r[8] is None for r in raising)  # every sample an error, none scored
    assert result.statuses.error == sum(r[2] for r in raising) > 0 and result.statuses.total == 2 * 24
    for m in result.history:  # accuracy over the decided rollouts only
        assert m["accuracy"] == pytest.approx(m["verdicts/correct"] / (m["rollouts"] - m["verdicts/error"]))
    assert catalog.con.execute("SELECT status FROM runs WHERE run_id = ?", [result.run_id]).fetchall() == [("ok",)]
    logged = [json.loads(line) for line in result.log.read_text().splitlines()]
    assert [m["step"] for m in logged if "loss" in m] == [1, 2]
    assert [m["step"] for m in logged if "eval/pass_at_1" in m] == [0, 2]
    assert (result.checkpoint / "model.safetensors").is_file()
    # The report: one point per logged step and per evaluation, the numbers of the log.
    assert result.report == catalog.path.parent / "reports" / f"{result.run_id}.html" and result.report.is_file()
    summary = json.loads(result.report.with_suffix(".json").read_text())
    curves = summary["training"]
    assert curves["step"] == [0, 1, 2]
    assert curves["reward"] == [None] + [m["reward"] for m in logged if "loss" in m]
    assert curves["heldout_accuracy"] == [m["eval/pass_at_1"] for m in logged if "eval/pass_at_1" in m][:1] + [None] + [result.evals[-1].pass_at_1]
    assert curves["zero_variance_fraction"][1:] == [m["zero_variance_groups"] for m in result.history]
    assert summary["settings"]["grpo.lr"] == 1e-4 and summary["links"]["metrics (JSON lines)"].endswith("metrics.jsonl")
    assert "held-out pass@1" in summary["lines"][1]
    assert summary["verdicts"] == result.statuses.as_dict()


@pytest.mark.slow
def test_assay_train_command_with_a_model_without_chat_template(tmp_path):
    plain = tmp_path / "plain-model"
    shutil.copytree(resolve_model("toy"), plain)
    (plain / "chat_template.jinja").unlink(missing_ok=True)
    tokenizer_config = json.loads((plain / "tokenizer_config.json").read_text())
    tokenizer_config.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    write_shards(tmp_path / "shards", [shard_rows(8)])
    done = subprocess.run(
        [sys.executable, "-m", "assay.pipelines.cli.main", "--catalog", "c.duckdb", "train", "--shards", "shards", "--model", str(plain),
         "--steps", "1", "--prompts-per-step", "2", "--rollouts-per-step", "4", "--eval-size", "2", "--eval-k", "2",
         "--max-tokens", "32", "--sampler", "uniform", "--advantage", "rloo", "--out", "run"],
        cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "prompt format: plain text (the model's tokenizer has no chat template)" in done.stdout
    assert "held-out evaluation" in done.stdout and "observations appended to the catalog" in done.stdout
    assert (tmp_path / "run" / "metrics.jsonl").is_file()
    bad = subprocess.run(
        [sys.executable, "-m", "assay.pipelines.cli.main", "train", "--shards", "shards", "--model", "toy", "--steps", "1",
         "--advantage", "ppo"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert bad.returncode == 2 and f"unknown advantage 'ppo'; valid: {', '.join(ADVANTAGES)}\n" in bad.stderr


# The real CLI, SIGKILLed by itself when the final evaluation starts: after the last step's
# observations are in the catalog, before the last checkpoint is written.
KILLED_AT_FINAL_EVAL = (
    "import os, signal, assay.trainers.grpo as g; real = g.evaluate; "
    "g.evaluate = lambda e, p, c, step, w: os.kill(os.getpid(), signal.SIGKILL) if step == c.steps else real(e, p, c, step, w); "
    "from assay.pipelines.cli.main import main; main()"
)
TRAIN_ARGS = ("train", "--shards", "shards", "--model", "toy", "--steps", "2", "--checkpoint-every", "1", "--prompts-per-step", "2",
              "--rollouts-per-step", "8", "--eval-size", "2", "--eval-k", "2", "--eval-every", "0", "--max-tokens", "32",
              "--sampler", "uniform", "--out", "run")


def _assay(folder: Path, *args: str, program: tuple[str, ...] = ("-m", "assay.pipelines.cli.main")) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *program, "--catalog", "c.duckdb", *args], cwd=folder, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)


def _history(folder: Path) -> dict:
    from assay.pipelines.store.catalog import Catalog

    with Catalog.open(folder / "c.duckdb", read_only=True) as cat:
        return {
            "online": sorted(cat.con.execute("SELECT uid, step, k, n_correct, mean_reward, mean_tokens FROM difficulty").fetchall()),
            "runs": cat.con.execute("SELECT kind, status, args FROM runs").fetchall(),
        }


@pytest.mark.slow
def test_a_train_run_killed_after_a_step_and_resumed_writes_its_history_once(tmp_path):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    for folder in (clean, killed):
        write_shards(folder / "shards", [shard_rows(10)])
    assert _assay(clean, *TRAIN_ARGS).returncode == 0
    died = _assay(killed, *TRAIN_ARGS, program=("-c", KILLED_AT_FINAL_EVAL))
    assert died.returncode == -9, died.stderr
    assert (killed / "run" / "checkpoints" / "step-000001").is_dir() and not (killed / "run" / "checkpoints" / "step-000002").exists()
    resumed = _assay(killed, *TRAIN_ARGS, "--resume", "run/checkpoints/step-000001")
    assert resumed.returncode == 0, resumed.stderr
    whole, again = _history(clean), _history(killed)
    # 2 steps x 2 prompts, 8 rollouts a step: 4 rows and 16 samples. Before observations were
    # keyed, the redone step wrote its 2 rows again (6 and 24) under a second run record.
    assert (len(whole["online"]), sum(r[2] for r in whole["online"])) == (4, 16)
    assert again == whole and [r[:2] for r in again["runs"]] == [("train", "ok")]
    # The log too: the killed run had logged step 2, which the resumed run did again; it is in
    # metrics.jsonl once, and the lines are the uninterrupted run's.
    logged = [(folder / "run" / "metrics.jsonl").read_text().splitlines() for folder in (clean, killed)]
    assert [json.loads(line)["step"] for line in logged[1]] == [0, 1, 2, 2]  # start eval, 2 steps, final eval
    assert logged[1] == logged[0]
