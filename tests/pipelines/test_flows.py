"""The pieces around the Prefect flows that need no flow run: shard versions, checkpoints,
Prefect's settings, runner checks, crontab lines, resumable runs, idempotent decisions and
stale export staging. (Flow runs themselves: test_flow_runs.py.)"""

import os
import subprocess
import sys
import time

import pyarrow as pa
import pytest

from assay.filters.decision import Decision
from assay.pipelines.errors import AssayError
from assay.pipelines.flows.prefect_env import PrefectEnv, configure, prefect_environment
from assay.pipelines.flows.runners import RUNNERS, RunnerConfig, api_healthy, remote_problems, task_runner
from assay.pipelines.flows.serve import crontab_line, deployment_name, port_free


def test_next_version_counts_past_the_highest_version_folder(tmp_path):
    from assay.pipelines.flows.flows import next_version

    assert next_version(tmp_path / "missing") == tmp_path / "missing" / "v0001"
    for name in ("v0002", "v0010", "notes", "v12", ".v0011.partial-123"):  # only vNNNN folders count
        (tmp_path / name).mkdir()
    (tmp_path / "v0099").write_text("a file, not a version")
    assert next_version(tmp_path).name == "v0011"


def test_latest_checkpoint_is_the_newest_config(tmp_path):
    from assay.pipelines.flows.flows import latest_checkpoint

    with pytest.raises(AssayError, match="no checkpoint folder"):
        latest_checkpoint(tmp_path)
    for i, name in enumerate(("step-00200", "step-00100", "nested/step-00050")):
        folder = tmp_path / name
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
        os.utime(folder / "config.json", ns=(10**18 + i * 10**9, 10**18 + i * 10**9))  # written in this order
    assert latest_checkpoint(tmp_path) == tmp_path / "nested" / "step-00050"


def test_a_chunk_key_changes_with_the_checkpoint_files_the_prompts_and_the_verifier_timeout(tmp_path):
    import shutil
    from dataclasses import replace

    from assay.pipelines.steps.difficulty import Chunk, EngineSpec, Verification
    from assay.pipelines.flows.flows import chunk_key
    from assay.trainers.engines import SamplingConfig, resolve_model
    from assay.trainers.rollout import Prompt

    for name in ("step-1", "step-2"):  # two checkpoints of the same shape
        shutil.copytree(resolve_model("toy"), tmp_path / name)
    check = Verification(workers=1, timeout_s=2.0, max_failures=0.05)
    chunk = Chunk((0,), (Prompt("u1", "Compute 1+1.", "2", "math", {}, "s"),), 4, SamplingConfig(seed=7), check)
    one, two = EngineSpec("transformers", str(tmp_path / "step-1")), EngineSpec("transformers", str(tmp_path / "step-2"))
    assert chunk_key(one, chunk) == chunk_key(one, chunk) != chunk_key(two, chunk)
    before = chunk_key(one, chunk)
    weights = next((tmp_path / "step-1").glob("*.safetensors"))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))  # written again
    assert chunk_key(one, chunk) != before
    other = Chunk((0,), (Prompt("u1", "Compute 1+1.", "3", "math", {}, "s"),), 4, SamplingConfig(seed=7), check)  # another gold
    assert chunk_key(one, other) != chunk_key(one, chunk)
    # A longer timeout can decide what timed out: another key. Workers and the allowed share cannot.
    assert chunk_key(one, replace(chunk, verification=replace(check, timeout_s=8.0))) != chunk_key(one, chunk)
    assert chunk_key(one, replace(chunk, verification=Verification(4, 2.0, 0.5))) == chunk_key(one, chunk)


def test_prefect_defaults_live_beside_the_catalog_and_yield_to_the_user(tmp_path, monkeypatch):
    env = prefect_environment(tmp_path / "c.duckdb", {"PREFECT_HOME": "/elsewhere"})
    assert "PREFECT_HOME" not in env
    assert env["PREFECT_LOCAL_STORAGE_PATH"] == str(tmp_path / ".assay" / "results")
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false" and env["DO_NOT_TRACK"] == "1"
    assert env["PREFECT_LOGGING_LEVEL"] == "WARNING"
    for key in (*env, "PREFECT_HOME", "PREFECT_API_URL", "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK"):
        monkeypatch.setenv(key, "")  # restored after the test, whatever configure sets
        monkeypatch.delenv(key)
    done = configure(tmp_path / "c.duckdb")
    assert done == PrefectEnv(tmp_path / ".assay" / "prefect", tmp_path / ".assay" / "results", None, False)
    assert done.home.is_dir()
    monkeypatch.setenv("PREFECT_LOCAL_STORAGE_PATH", "/mnt/shared/results")
    assert configure(tmp_path / "c.duckdb").results_set_by_user


def test_runner_options_are_checked_before_any_work():
    with pytest.raises(AssayError, match=f"--runner: unknown runner 'spark'; valid: {', '.join(RUNNERS)}$"):
        RunnerConfig("spark")
    with pytest.raises(AssayError, match="--cluster needs --runner dask or --runner ray"):
        RunnerConfig("local", "tcp://10.0.0.1:8786")


def test_remote_workers_need_a_reachable_api_and_shared_results(tmp_path):
    closed = f"http://127.0.0.1:{_closed_port()}/api"
    assert not api_healthy(closed)
    unreachable = PrefectEnv(tmp_path, tmp_path / "results", closed, results_set_by_user=True)
    assert remote_problems(unreachable) == [f"Prefect API {closed} does not answer: start the server, or fix PREFECT_API_URL"]
    embedded = PrefectEnv(tmp_path, tmp_path / "results", None, results_set_by_user=False)
    with pytest.raises(AssayError) as error:
        task_runner(RunnerConfig("dask", "tcp://10.0.0.1:8786"), embedded)
    message = str(error.value)
    assert "no Prefect API: set PREFECT_API_URL" in message and "no shared result storage" in message
    assert str(tmp_path / "results") in message


def test_ray_without_prefect_ray_says_how_to_install_it(tmp_path):
    pytest.importorskip("prefect")
    if _importable("prefect_ray"):
        pytest.skip("prefect-ray is installed here")
    env = PrefectEnv(tmp_path, tmp_path / "results", None, results_set_by_user=False)
    with pytest.raises(AssayError, match=r"--runner ray needs prefect-ray: pip install 'assay\[ray\]'"):
        task_runner(RunnerConfig("ray"), env)


def test_crontab_line_quotes_paths_and_checks_the_schedule(tmp_path):
    line = crontab_line("*/15 * * * *", ["/opt/my venv/bin/python", "-m", "assay.pipelines.cli.main", "recurring"],
                        tmp_path / "my project", tmp_path / "log")
    assert line == (f"*/15 * * * * cd '{tmp_path}/my project' && '/opt/my venv/bin/python' -m assay.pipelines.cli.main "
                    f"recurring >> {tmp_path}/log 2>&1")
    with pytest.raises(AssayError, match="a crontab schedule has 5 fields"):
        crontab_line("@hourly 5", ["assay"], tmp_path, tmp_path / "log")
    assert deployment_name(tmp_path / "proj" / "assay.duckdb").startswith("proj-")
    assert deployment_name(tmp_path / "a" / "assay.duckdb") != deployment_name(tmp_path / "b" / "assay.duckdb")


@pytest.mark.slow
def test_print_cron_prints_one_line_for_recurring(tmp_path):
    config = tmp_path / "curate.toml"
    config.write_text("[[sources]]\nspec = 'builtin:arithmetic'\n")
    args = [sys.executable, "-m", "assay.pipelines.cli.main", "--catalog", str(tmp_path / "c.duckdb"), "serve", "--config",
            str(config), "--cron", "0 3 * * *", "--print-cron", "--checkpoints", str(tmp_path / "ckpt")]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert line.startswith(f"0 3 * * * cd {tmp_path} && {sys.executable} -m assay.pipelines.cli.main --catalog={tmp_path}/c.duckdb recurring ")
    assert f"--config={config}" in line and f"--checkpoints={tmp_path}/ckpt" in line and "--runner=local" in line
    assert line.endswith(f">> {tmp_path}/.assay/recurring.log 2>&1")
    bad = subprocess.run(args[:-5] + ["--interval", "60", "--print-cron"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--print-cron needs --cron" in bad.stderr
    none = subprocess.run(args[:-5], capture_output=True, text=True, timeout=120)
    assert none.returncode == 2 and "give a schedule: --cron EXPR or --interval SECONDS" in none.stderr


def test_an_unfinished_run_is_resumed_and_a_finished_one_is_not(catalog):
    assert catalog.resume_run("curate", {"config": {"a": 1}}) is None
    first = catalog.start_run("curate", {"config": {"a": 1}})  # killed: left running
    assert catalog.resume_run("curate", {"config": {"a": 2}}) is None  # another config
    assert catalog.resume_run("curate", {"config": {"a": 1}}) == first
    catalog.finish_run(first, "failed", {"error": "x"})
    assert catalog.resume_run("curate", {"config": {"a": 1}}) == first
    assert catalog.con.execute("SELECT status, summary FROM runs").fetchall() == [("running", None)]
    catalog.finish_run(first, "ok", {})
    assert catalog.resume_run("curate", {"config": {"a": 1}}) is None


def test_decisions_are_written_once_per_uid_filter_and_run(catalog):
    uids = pa.array(["a", "b", "c"])
    decision = Decision(keep=pa.array([True, False, False]), reason=pa.array([None, "short: 3 chars", "short: 2 chars"]),
                        scores={"chars": pa.array([40, 3, 2])})
    assert catalog.add_decisions(uids, "quality", decision, "run-1") == 2
    assert catalog.add_decisions(uids, "quality", decision, "run-1") == 0  # a resumed step repeats it
    assert catalog.add_decisions(uids, "dedup", decision, "run-1") == 2  # another filter
    assert catalog.add_decisions(uids, "quality", decision, "run-2") == 2  # another run
    rows = catalog.con.execute("SELECT uid, filter, reason, scores, run_id FROM decisions ORDER BY ALL").fetchall()
    assert rows[:2] == [("b", "dedup", "short: 3 chars", '{"chars": 3}', "run-1"), ("b", "quality", "short: 3 chars", '{"chars": 3}', "run-1")]
    assert len(rows) == 6


def test_an_export_removes_staging_left_by_a_killed_export(catalog, tmp_path):
    from assay.curricula.plan import CurriculumConfig, build_plan
    from assay.pipelines.steps.export import export_plan
    from assay.pipelines.steps.ingest import ingest, resolve_source

    source, name, preset = resolve_source("builtin:arithmetic", count=10)
    ingest(catalog, source, preset, name)
    uids = [u for (u,) in catalog.con.execute("SELECT uid FROM records ORDER BY uid").fetchall()]
    plan = build_plan(pa.table({"uid": uids, "source": ["arithmetic"] * 10, "n": [4] * 10, "n_correct": [2] * 10}),
                      CurriculumConfig(stages=1))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".shards.partial-{dead.pid}"  # as a SIGKILLed export leaves it
    (stale / "data").mkdir(parents=True)
    (stale / "data" / "part-00000.parquet").write_bytes(b"half a file")
    live = tmp_path / f".shards.partial-{os.getppid()}"  # an export still running elsewhere
    live.mkdir()
    export_plan(catalog, plan, "parquet", tmp_path / "shards")
    assert not stale.exists() and live.exists()
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == ["data", "manifest.json"]


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    time.sleep(0.05)
    assert port_free(port)
    return port


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_persisted_results_are_plain_json_and_round_trip():
    import pyarrow as pa

    from assay.curricula.difficulty import StatusCounts
    from assay.curricula.plan import Plan
    from assay.pipelines.steps.curate import State, StepResult
    from assay.pipelines.steps.difficulty import ChunkResult
    from assay.trainers.rollout import Observation
    from assay.pipelines.flows.flows import PLAIN, chunk_result_plain, plain_chunk_result, plain_step, step_plain

    chunk = ChunkResult(((3, Observation("u3", StatusCounts(correct=2, timeout=1), 1.0, 12.5)), (5, Observation("u5", StatusCounts(error=2), None, 9.0))),
                        ((7, "prompt_too_long"),), 5, 60)
    blob = PLAIN.dumps(chunk_result_plain(chunk))
    assert not blob.startswith(b"\x80") and plain_chunk_result(PLAIN.loads(blob)) == chunk  # JSON, not a pickle
    rows = pa.table({"uid": ["a", "b"], "n": pa.array([4, None], pa.int64())})
    state = State(rows=rows, scored=rows, difficulty={"model_id": "toy@1"},
                  plan=Plan(pa.table({"uid": ["a"], "stage": pa.array([0], pa.int32())}), {"config": {"stages": 1}}))
    result, back = plain_step(PLAIN.loads(PLAIN.dumps(step_plain(StepResult("dedup", 3, 2, {"duplicate": 1}), state))))
    assert result == StepResult("dedup", 3, 2, {"duplicate": 1}) and back.rows.equals(rows) and back.counts is None
    assert back.plan.table.equals(state.plan.table) and back.plan.params == state.plan.params
    assert back.difficulty == state.difficulty
    # Anything but plain values fails to persist, instead of being pickled.
    with pytest.raises(TypeError):
        PLAIN.dumps(object())
    assert PLAIN.loads(PLAIN.dumps(ValueError("too many"))) == {"exception": "ValueError", "message": "too many"}
