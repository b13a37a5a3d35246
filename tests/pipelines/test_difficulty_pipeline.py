"""`assay difficulty` on the real toy model: history appended, reruns reuse it, kills resume."""

import json
import subprocess
import sys

import numpy as np
import pytest

from assay.pipelines.steps import difficulty
from assay.pipelines.store.catalog import Catalog
from assay.curricula.difficulty import StatusCounts
from assay.pipelines.steps.difficulty import (
    POLICIES,
    DifficultyConfig,
    FixedK,
    Verification,
    plan_round,
    Stored,
    estimate_difficulty,
    model_fingerprint,
    sampling_hash,
    stored_counts,
)
from assay.pipelines.errors import AssayError
from assay.pipelines.steps.ingest import ingest, resolve_source
from assay.pipelines.steps.presets import PRESETS
from assay.trainers.engines import SamplingConfig, TransformersEngine
from assay.trainers.rollout import Prompt
from assay.trainers.rollout import Observation
from tests.helpers import write_jsonl

FAST = SamplingConfig(temperature=1.0, max_tokens=200)


def fill(cat, count=24):
    source, name, preset = resolve_source("builtin:arithmetic", count=count, seed=0)
    ingest(cat, source, preset, name)


def rows(cat):
    return cat.con.execute("SELECT count(*), coalesce(sum(k), 0) FROM difficulty").fetchone()


@pytest.mark.slow
def test_fixed_k_appends_history_and_a_rerun_samples_nothing(catalog):
    fill(catalog)
    config = DifficultyConfig(model="toy", k=4, policy="fixed", sampling=FAST, workers=1)
    first = estimate_difficulty(catalog, config)
    assert first.sampled == 24 * 4 and rows(catalog) == (24, 96)
    assert all(p.n == 4 and 0 <= p.n_correct <= 4 for p in first.prompts)
    assert {p.pass_rate for p in first.prompts} >= {0.0}  # the toy fails some prompts...
    assert any(p.pass_rate > 0 for p in first.prompts)  # ...and solves others
    again = estimate_difficulty(catalog, config)
    assert again.sampled == 0 and rows(catalog) == (24, 96)
    assert [(p.uid, p.n_correct) for p in again.prompts] == [(p.uid, p.n_correct) for p in first.prompts]
    # Another config is another history: appended, the first left as it was.
    other = DifficultyConfig(model="toy", k=4, policy="fixed", sampling=SamplingConfig(temperature=0.7, max_tokens=200), workers=1)
    assert estimate_difficulty(catalog, other).sampled == 96 and rows(catalog) == (48, 192)
    statuses = catalog.con.execute("SELECT DISTINCT kind, status FROM runs WHERE kind = 'difficulty'").fetchall()
    assert statuses == [("difficulty", "ok")]


def _break_verifier(cat, uids):
    """Give these prompts a verifier whose options make it raise: each of their samples is an error."""
    for uid in uids:
        cat.con.execute("UPDATE records SET verifier = 'numeric', meta = ? WHERE uid = ?",
                        ['{"verifier_options": {"rel_tol": "wide"}}', uid])


def test_a_rerun_samples_again_what_was_not_decided(catalog):
    fill(catalog, 2)
    config = DifficultyConfig(model="toy", k=6, policy="fixed", sampling=FAST, workers=1)
    model_id = f"toy@{model_fingerprint(difficulty.model_folder('toy'))}"
    config_hash = sampling_hash(config.sampling, POLICIES["fixed"](6))
    first, second = [u for (u,) in catalog.con.execute("SELECT uid FROM records ORDER BY uid").fetchall()]
    # An earlier run left 3 correct, 2 incorrect and 1 timeout of the first prompt's 6 samples.
    catalog.add_difficulty([Observation(first, StatusCounts(correct=3, incorrect=2, timeout=1), 0.6, 10.0)],
                           model_id, config_hash, difficulty.VERIFIER_VERSION, "earlier")
    assert stored_counts(catalog, model_id, config_hash)[first] == Stored(drawn=6, decided=5, correct=3, tokens=60.0, bad_gold=0)
    result = estimate_difficulty(catalog, config)
    # 5 decided of 6 asked: the first prompt draws 1 more (not 0, not 6), the second all 6.
    assert result.sampled == 1 + 6 and result.statuses.total == 7
    by_uid = {p.uid: p for p in result.prompts}
    assert by_uid[first].n == 6 and by_uid[first].drawn == 7 and by_uid[second].n == 6
    assert by_uid[first].n_correct - 3 in (0, 1)


@pytest.mark.slow
def test_timeouts_and_errors_are_never_scored_and_too_many_stop_the_run(catalog):
    fill(catalog, 8)
    broken = catalog.con.execute("SELECT uid FROM records ORDER BY uid LIMIT 1").fetchone()[0]
    _break_verifier(catalog, [broken])
    config = DifficultyConfig(model="toy", k=2, policy="fixed", sampling=FAST, workers=1)
    # One chunk of 8 prompts x 2 samples: 2 errors of 16 verdicts is 12.5%, over the default 5%.
    with pytest.raises(AssayError, match=r"2 of 16 verdicts \(12.5%\) were timeout or error \(error 2; verifier numeric 2\), "
                                         r"more than the 5% allowed .*the verifier timeout is 2 s per item"):
        estimate_difficulty(catalog, config)
    assert rows(catalog) == (0, 0)  # nothing of the chunk was recorded
    assert catalog.con.execute("SELECT status FROM runs WHERE kind = 'difficulty'").fetchall() == [("failed",)]
    # Allowed, the errors are recorded as errors: the prompt has no decided sample, no pass
    # rate, and leaves this run instead of being sampled again and again.
    result = estimate_difficulty(catalog, DifficultyConfig(model="toy", k=2, policy="fixed", sampling=FAST, workers=1,
                                                           max_verifier_failures=0.2))
    assert result.unverified == 1 and result.statuses.error == 2 and result.statuses.decided == 14
    assert broken not in {p.uid for p in result.prompts} and len(result.prompts) == 7
    stored = catalog.con.execute("SELECT k, n_correct, n_error, mean_reward FROM difficulty WHERE uid = ?", [broken]).fetchall()
    assert stored == [(2, 0, 2, None)]  # no reward: nothing was decided
    # A rerun samples it again (the others are complete); the failing verifier fails again.
    again = estimate_difficulty(catalog, DifficultyConfig(model="toy", k=2, policy="fixed", sampling=FAST, workers=1,
                                                          max_verifier_failures=1.0))
    assert again.sampled == 2 and again.unverified == 1


@pytest.mark.slow
def test_summary_statistics_follow_the_counts(catalog):
    fill(catalog, 8)
    result = estimate_difficulty(catalog, DifficultyConfig(model="toy", k=8, policy="fixed", sampling=FAST, workers=1))
    for p in result.prompts:
        assert p.pass_at[1] == pytest.approx(p.n_correct / 8)
        assert p.posterior_mean == pytest.approx((1 + p.n_correct) / 10)
        assert p.interval90[0] <= p.posterior_mean <= p.interval90[1]
        assert p.learnability == pytest.approx(p.posterior_mean * (1 - p.posterior_mean))


@pytest.mark.slow
def test_a_run_killed_midway_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    config = DifficultyConfig(model="toy", k=4, policy="adaptive", sampling=FAST, workers=1, chunk_size=4)
    engine = TransformersEngine("toy")
    with Catalog.open(tmp_path / "whole.duckdb") as cat:
        fill(cat, 16)
        estimate_difficulty(cat, config, engine=engine)
        whole = stored_counts(cat, *_ids(cat))

    calls = {"n": 0}
    real_generate = engine.generate

    def dies_on_third_chunk(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real_generate(*args, **kwargs)

    with Catalog.open(tmp_path / "resumed.duckdb") as cat:
        fill(cat, 16)
        monkeypatch.setattr(engine, "generate", dies_on_third_chunk)
        with pytest.raises(KeyboardInterrupt):
            estimate_difficulty(cat, config, engine=engine)
        assert 0 < rows(cat)[0] < len(whole)  # two chunks recorded, whole
        monkeypatch.setattr(engine, "generate", real_generate)
        estimate_difficulty(cat, config, engine=engine)
        assert stored_counts(cat, *_ids(cat)) == whole
        assert cat.con.execute("SELECT status FROM runs WHERE kind = 'difficulty' ORDER BY started_at").fetchall() == [
            ("failed",), ("ok",)
        ]


@pytest.mark.slow  # samples the toy through the whole difficulty step
def test_progress_moves_per_generation_batch_and_adds_up_to_what_was_sampled(catalog, monkeypatch):
    monkeypatch.setattr(difficulty, "GENERATE_ROWS", 8)
    fill(catalog, 12)
    seen = []
    fixed = estimate_difficulty(catalog, DifficultyConfig(model="toy", k=2, policy="fixed", sampling=FAST, workers=1),
                                progress=seen.append)
    # One round, one chunk of 12 prompts x 2 samples, generated 4 prompts (8 rows) at a time.
    assert (fixed.rounds, fixed.sampled, seen) == (1, 24, [8, 8, 8])
    seen.clear()
    adaptive = estimate_difficulty(catalog, DifficultyConfig(model="toy", k=16, sampling=FAST, workers=1), progress=seen.append)
    # Its first round asks each prompt for 4 samples: 2 prompts (8 rows) per generate call; later
    # rounds ask for fewer. Every call reports what it sampled, so the count only rises, to the total.
    assert seen[:6] == [8] * 6 and min(seen) > 0 and sum(seen) == adaptive.sampled > 48


def test_a_round_is_cut_into_chunks_of_chunk_size_prompts():
    prompts = [Prompt(f"u{i}", "Compute 1+1.", "2", "math", source="s") for i in range(10)]
    none = np.zeros(10, dtype=int)
    chunks = plan_round(prompts, none, none, none, np.zeros(10, dtype=bool), FixedK(2), SamplingConfig(),
                        Verification(1, 2.0, 0.05), chunk_size=4)
    assert [c.indices for c in chunks] == [(0, 1, 2, 3), (4, 5, 6, 7), (8, 9)] and {c.m for c in chunks} == {2}
    with pytest.raises(AssayError, match="^--chunk-size must be a positive number of prompts, got 0$"):
        DifficultyConfig(model="toy", chunk_size=0)


def _ids(cat):
    return cat.con.execute("SELECT DISTINCT model, sampling_hash FROM difficulty").fetchone()


@pytest.mark.slow
def test_over_long_and_bad_requests(catalog, tmp_path):
    long_prompt = "Compute " + "+".join(["1"] * 200) + "."  # over the toy's 256-token context
    write_jsonl(tmp_path / "long.jsonl", [{"problem": long_prompt, "answer": "200"}, {"problem": "Compute 2+2.", "answer": "4"}])
    source, name, _ = resolve_source(str(tmp_path / "long.jsonl"))
    ingest(catalog, source, PRESETS["answer"], name)
    result = estimate_difficulty(catalog, DifficultyConfig(model="toy", k=2, policy="fixed", sampling=FAST, workers=1))
    assert result.skipped == {"prompt_too_long": 1} and len(result.prompts) == 1
    # Adaptive rounds go on past a skipped prompt: the others still get their later rounds.
    fill(catalog, 6)
    adaptive = estimate_difficulty(catalog, DifficultyConfig(model="toy", k=16, sampling=FAST, workers=1))
    assert adaptive.skipped == {"prompt_too_long": 1} and adaptive.rounds > 1
    assert sum(p.n for p in adaptive.prompts) > 4 * len(adaptive.prompts)
    with pytest.raises(AssayError, match="--k must be a positive"):
        DifficultyConfig(model="toy", k=0)
    with pytest.raises(AssayError, match=f"--policy: unknown policy 'greedy'; valid: {', '.join(POLICIES)}$"):
        DifficultyConfig(model="toy", policy="greedy")
    with pytest.raises(AssayError, match="no such folder, and not a hub id"):
        estimate_difficulty(catalog, DifficultyConfig(model=str(tmp_path / "nope")))
    with pytest.raises(AssayError, match="no records of source 'gsm8k'; sources: arithmetic, long"):
        estimate_difficulty(catalog, DifficultyConfig(model="toy", source="gsm8k"))


def test_a_checkpoint_that_is_not_a_causal_lm_is_refused(catalog, tmp_path):
    from transformers import ViTConfig, ViTModel

    fill(catalog, 2)
    folder = tmp_path / "vit"  # an image encoder: no causal-LM class exists for it
    config = ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, image_size=8, patch_size=4)
    ViTModel(config).save_pretrained(folder)
    with pytest.raises(AssayError, match="not a causal language model"):
        estimate_difficulty(catalog, DifficultyConfig(model=str(folder), k=2, sampling=FAST, workers=1))


@pytest.mark.slow
def test_cli_difficulty_writes_a_report(tmp_path):
    env_catalog = str(tmp_path / "c.duckdb")
    run = lambda *a: subprocess.run([sys.executable, "-m", "assay.pipelines.cli.main", "--catalog", env_catalog, *a],
                                    capture_output=True, text=True, timeout=300)
    assert run("ingest", "builtin:arithmetic", "--count", "12").returncode == 0
    done = run("difficulty", "--model", "toy", "--k", "4", "--policy", "fixed", "--max-tokens", "200",
               "--workers", "1", "--report", str(tmp_path / "d.jsonl"))
    assert done.returncode == 0, done.stderr
    assert "48 samples drawn now" in done.stdout and "prompts by pass rate" in done.stdout
    lines = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert len(lines) == 12 and {"pass_at", "posterior_mean", "interval90", "learnability"} <= set(lines[0])
    bad = run("difficulty", "--k", "0")
    assert bad.returncode == 2 and "--k must be a positive" in bad.stderr
    # Through the flow: a chunk with too many verifier errors stops the run in one line, recording nothing.
    with Catalog.open(env_catalog) as cat:
        _break_verifier(cat, [cat.con.execute("SELECT uid FROM records ORDER BY uid LIMIT 1").fetchone()[0]])
        before = rows(cat)
    stopped = run("difficulty", "--model", "toy", "--k", "2", "--policy", "fixed", "--max-tokens", "200", "--workers", "1",
                  "--seed", "1", "--verifier-timeout", "3")
    error = stopped.stderr.strip().splitlines()[-1]
    assert stopped.returncode == 2 and error.startswith("assay: error: difficulty chunk of 12 prompts x 2 samples: "), stopped.stderr
    assert "2 of 24 verdicts (8.3%) were timeout or error (error 2; verifier numeric 2)" in error
    assert "the verifier timeout is 3 s per item (--verifier-timeout)" in error
    with Catalog.open(env_catalog, read_only=True) as cat:
        assert rows(cat) == before


def test_model_fingerprint_follows_the_weights_not_the_folder(tmp_path):
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    from assay.trainers.engines import resolve_model

    copy = shutil.copytree(resolve_model("toy"), tmp_path / "copy")
    assert difficulty.model_fingerprint(copy) == difficulty.model_fingerprint(resolve_model("toy"))
    # A checkpoint of the same shape with one layer's weights moved, as a training step moves
    # them: same file names and sizes, another id (its stored difficulty is not the toy's).
    weights = load_file(copy / "model.safetensors")
    name = "model.layers.3.mlp.down_proj.weight"
    weights[name] = weights[name] + 1e-3 * torch.randn_like(weights[name])
    save_file(weights, copy / "model.safetensors", metadata={"format": "pt"})
    assert (copy / "model.safetensors").stat().st_size == (resolve_model("toy") / "model.safetensors").stat().st_size
    assert difficulty.model_fingerprint(copy) != difficulty.model_fingerprint(resolve_model("toy"))


def test_a_plugin_verifier_keys_the_history_by_its_version(catalog, tmp_path, monkeypatch):
    import importlib

    from tests.helpers import write_plugin

    monkeypatch.syspath_prepend(str(write_plugin(tmp_path / "plugin", "assay_test_tags_g")))
    fill(catalog, count=3)
    config = DifficultyConfig(model="toy", k=2, policy="fixed", sampling=SamplingConfig(max_tokens=32), workers=1,
                              verifier="assay_test_tags_g.tags:same_text")
    first = estimate_difficulty(catalog, config)
    assert first.sampled == 6 and first.verifier_version == "assay-verifiers-2+assay_test_tags_g.tags:same_text@1.0"
    assert estimate_difficulty(catalog, config).sampled == 0  # the same plug-in: its history is reused
    monkeypatch.setattr(importlib.import_module("assay_test_tags_g.tags"), "__version__", "1.1")  # its author bumps it
    assert estimate_difficulty(catalog, config).sampled == 6  # another version: a new history, the first kept
    versions = catalog.con.execute("SELECT verifier_version, sum(k) FROM difficulty GROUP BY 1 ORDER BY 1").fetchall()
    assert versions == [("assay-verifiers-2+assay_test_tags_g.tags:same_text@1.0", 6),
                        ("assay-verifiers-2+assay_test_tags_g.tags:same_text@1.1", 6)]
