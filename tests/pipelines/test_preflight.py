"""Mistakes answered before anything slow: --model, --engine and shard folders are checked before
torch, Prefect or the catalog; a hub id resolves through the Hugging Face cache."""

import importlib.util
import shutil
import subprocess
import sys

import pytest

from assay.pipelines.steps import preflight
from assay.pipelines.errors import AssayError
from assay.pipelines.steps.difficulty import POLICIES
from assay.trainers.models import MODELS
from assay.trainers.rollout import ENGINE_CHOICES
from tests.helpers import assay_listing_heavy
from tests.pipelines.test_cli import assay


def test_builtin_and_local_folders(tmp_path):
    assert preflight.model_folder("toy") == MODELS["toy"]
    copy = shutil.copytree(MODELS["toy"], tmp_path / "copy")
    assert preflight.model_folder(str(copy)) == copy
    (tmp_path / "weights.bin").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    for spec, message in [
        ("/nonexistent", "no such folder, and not a hub id (ORG/NAME)"),
        (str(tmp_path / "weights.bin"), "a model is a checkpoint folder"),
        (str(tmp_path / "empty"), "not a Hugging Face checkpoint folder (no config.json)"),
    ]:
        with pytest.raises(AssayError, match="^--model ") as error:
            preflight.model_folder(spec)
        assert message in str(error.value)
    assert "hf download ORG/NAME" in str(pytest.raises(AssayError, preflight.model_folder, "/nonexistent").value)


def hub_cache(root, repo):
    """The Hugging Face hub cache as `hf download REPO` leaves it, holding a copy of the toy."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    folder = root / f"models--{repo.replace('/', '--')}"
    shutil.copytree(MODELS["toy"], folder / "snapshots" / commit)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit)
    return folder / "snapshots" / commit


def _resolve_in_fresh_process(spec, env):
    code = "import sys; from assay.pipelines.steps.preflight import model_folder; print(model_folder(sys.argv[1]))"
    return subprocess.run([sys.executable, "-c", code, spec], env=env, capture_output=True, text=True, timeout=120)


def test_hub_id_from_the_cache_and_offline_advice(tmp_path):
    snapshot = hub_cache(tmp_path / "hub", "acme/tiny-math")
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    found = _resolve_in_fresh_process("acme/tiny-math", env)
    assert found.returncode == 0 and found.stdout.strip() == str(snapshot), found.stderr
    missing = _resolve_in_fresh_process("acme/not-cached", env)
    assert missing.returncode == 1
    assert "not in the Hugging Face cache" in missing.stderr and "HF_HUB_OFFLINE is set" in missing.stderr
    assert "hf download acme/not-cached" in missing.stderr


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_engine_without_its_package():
    with pytest.raises(AssayError, match=r"--engine vllm needs the vllm package, which is not installed: make a vLLM environment with scripts/install-vllm"):
        preflight.check_engine("vllm")
    preflight.check_engine("transformers")  # no package beyond the base install


@pytest.mark.slow
def test_cli_answers_model_and_engine_mistakes_before_prefect(tmp_path):
    """Each mistake is one line on stderr, and nothing was started: no Prefect home (.assay) and
    no catalog were created."""
    cases = [
        (("difficulty", "--model", "/nonexistent"), "--model /nonexistent: no such folder"),
        (("train", "--shards", ".", "--model", "/nonexistent", "--steps", "1"), "--model /nonexistent: no such folder"),
        (("train", "--shards", "nope", "--model", "toy", "--steps", "1"), "nope: no such shard folder"),
    ]
    if importlib.util.find_spec("vllm") is None:
        cases.append((("difficulty", "--engine", "vllm"), "--engine vllm needs the vllm package"))
    for args, message in cases:
        failed = assay(*args, cwd=tmp_path, env={"HF_HUB_OFFLINE": "1"})
        assert failed.returncode == 2 and message in failed.stderr, (args, failed.stderr)
        assert failed.stderr.count("\n") == 1 and "Traceback" not in failed.stderr
    assert not (tmp_path / ".assay").exists() and not (tmp_path / "assay.duckdb").exists()


@pytest.mark.slow
def test_curate_checks_the_config_model_before_prefect(tmp_path):
    example = assay("curate", "--example-config", cwd=tmp_path).stdout
    (tmp_path / "c.toml").write_text(example.replace('model = "toy"', 'model = "/nonexistent"', 1))
    failed = assay("curate", "--config", "c.toml", cwd=tmp_path)
    assert failed.returncode == 2 and "[difficulty] model = /nonexistent: no such folder" in failed.stderr, failed.stderr
    assert not (tmp_path / ".assay").exists() and not (tmp_path / "assay.duckdb").exists()


@pytest.mark.slow  # one fresh interpreter per mistake
def test_argument_and_config_mistakes_import_no_torch_transformers_or_prefect(tmp_path):
    example = assay("curate", "--example-config", cwd=tmp_path).stdout
    (tmp_path / "typo.toml").write_text(example.replace("\nk = 16", "\nkk = 16", 1))
    (tmp_path / "model.toml").write_text(example.replace('model = "toy"', 'model = "/nonexistent"', 1))
    (tmp_path / "step.toml").write_text(example.replace('name = "dedup"', 'name = "dedupe"', 1))
    mistakes = [
        (("difficulty", "--k", "0"), "--k must be a positive number of samples, got 0"),
        (("difficulty", "--engine", "tpu"), f"--engine: unknown engine 'tpu'; valid: {', '.join(ENGINE_CHOICES)}\n"),
        (("difficulty", "--policy", "greedy"), f"--policy: unknown policy 'greedy'; valid: {', '.join(POLICIES)}\n"),
        (("difficulty", "--temperature", "-1"), "temperature must be a finite number >= 0, got -1.0"),
        (("difficulty", "--model", "/nonexistent"), "--model /nonexistent: no such folder"),
        (("curate", "--config", "typo.toml"), "[difficulty] unknown key 'kk'; valid: model, k,"),
        (("curate", "--config", "model.toml"), "[difficulty] model = /nonexistent: no such folder"),
        (("curate", "--config", "step.toml"), "[steps.1] unknown step 'dedupe'; valid: ingest, dedup, quality"),
        (("recurring", "--config", "step.toml"), "[steps.1] unknown step 'dedupe'; valid: ingest, dedup, quality"),
        (("train", "--shards", ".", "--model", "/nonexistent", "--steps", "1"), "--model /nonexistent: no such folder"),
    ]
    for args, message in mistakes:
        done, heavy = assay_listing_heavy(*args, cwd=tmp_path, env={"HF_HUB_OFFLINE": "1"})
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
        assert heavy == [], (args, heavy)
    for args in (("--help",), ("difficulty", "--help"), ("curate", "--help"), ("train", "--help")):
        done, heavy = assay_listing_heavy(*args, cwd=tmp_path)
        assert done.returncode == 0 and heavy == [], (args, heavy, done.stdout[-300:])


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_hub_model_from_the_cache_runs_through_difficulty_and_train(tmp_path):
    """`--model ORG/NAME` offline, found in the Hugging Face cache (a copy of the toy there), as a
    user who ran `hf download` elsewhere would have it: difficulty samples with it and records it,
    and a GRPO step trains it."""
    from tests.pipelines.test_train_pipeline import shard_rows, write_shards

    hub_cache(tmp_path / "hub", "acme/tiny-math")
    env = {"HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "ASSAY_CATALOG": "c.duckdb"}
    assert assay("ingest", "builtin:arithmetic", "--count", "3", cwd=tmp_path, env=env).returncode == 0
    done = assay("difficulty", "--model", "acme/tiny-math", "--k", "2", "--policy", "fixed", "--max-tokens", "32", "--workers", "1",
                 cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "6 samples drawn now" in done.stdout
    write_shards(tmp_path / "shards", [shard_rows(6)])
    done = assay("train", "--shards", "shards", "--model", "acme/tiny-math", "--steps", "1", "--prompts-per-step", "2",
                 "--rollouts-per-step", "4", "--eval-size", "2", "--eval-k", "1", "--eval-every", "0", "--max-tokens", "32",
                 "--out", "run", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    from assay.pipelines.store.catalog import Catalog

    with Catalog.open(tmp_path / "c.duckdb", read_only=True) as cat:
        origins = cat.con.execute("SELECT origin, count(DISTINCT model), sum(k) FROM difficulty GROUP BY ALL ORDER BY 1").fetchall()
    assert origins[0] == ("offline", 1, 6) and origins[1][:2] == ("online", 1)
