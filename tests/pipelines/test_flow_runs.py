"""Real flow runs: a curate run (the real CLI) SIGKILLed during difficulty estimation and again
during export finishes, when started again, with exactly the catalog and shards of an
uninterrupted run of the plain steps; the Dask runner on a LocalCluster (and the Ray runner on a
local Ray, where prefect-ray is installed) gives the observations of a plain local estimation; the decontaminate, audit and train flows write what their steps
write;
and `assay serve` starts a Prefect server, a scheduled recurring run completes, and Ctrl-C
stops both.

Each process that runs a flow pays Prefect's start-up, so the flow runs here (except the serve
test's own) report to one Prefect server started for the module, instead of each starting a
temporary one."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assay.pipelines.store.catalog import Catalog
from assay.pipelines.steps.curate import curate, load_config
from assay.pipelines.steps.difficulty import DifficultyConfig, estimate_difficulty
from assay.pipelines.steps.export import read_manifest, verify_manifest
from assay.pipelines.steps.ingest import ingest, resolve_source
from assay.pipelines.flows.serve import port_free, start_server, stop_server, wait_until_healthy
from assay.trainers.engines import SamplingConfig

pytestmark = pytest.mark.slow  # every test starts a Prefect server or a flow run in processes of its own

CHUNK = 4  # prompts per difficulty chunk in these runs (128 by default), so a run has several

QUIET = r"\|\s*(DEBUG|INFO|WARNING|ERROR)\s*\|"  # a Prefect or Dask log line looks like "12:00:00.000 | INFO | ..."

CONFIG = """
[[sources]]
spec = "builtin:arithmetic"
count = {count}

{benchmarks}

[difficulty]
model = "toy"
k = 2
policy = "fixed"
max_tokens = 24
workers = 1
chunk_size = {chunk}

[learnability]
method = "posterior_band"
settings = {{ lo = 0.05, hi = 0.95, tau = 0.3 }}

[curriculum]
stages = 2

[export]
out = "{out}"
format = "{format}"
"""
BENCHMARK = '[[benchmarks]]\nname = "arith-eval"\nspec = "builtin:arithmetic-eval"'


def write_config(path: Path, out: Path, count: int, fmt: str = "parquet", benchmarks: str = BENCHMARK) -> Path:
    path.write_text(CONFIG.format(count=count, out=out, format=fmt, benchmarks=benchmarks, chunk=CHUNK))
    return path


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory):
    """One Prefect server for the module's flow runs; their environment points at it."""
    home = tmp_path_factory.mktemp("prefect-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    port = _free_port()
    with pytest.MonkeyPatch.context() as mp:  # start_server hands its environment to the server
        for key in [k for k in os.environ if k.startswith("PREFECT_")]:
            mp.delenv(key)
        for key, value in env.items():
            mp.setenv(key, value)
        server = start_server(port, home / "server.log")
    url = f"http://127.0.0.1:{port}/api"
    try:
        wait_until_healthy(url, server, home / "server.log")
        yield {**env, "PREFECT_API_URL": url}
    finally:
        stop_server(server)


def assay(env, cwd, *args, **popen):
    argv = [sys.executable, "-m", "assay.pipelines.cli.main", *args]
    if popen:
        return subprocess.Popen(argv, cwd=cwd, env=env, **popen)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def kill_when(proc, ready, what, timeout=300):
    """SIGKILL `proc` as soon as `ready()` holds (polled every 20 ms)."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"the run ended (status {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def completed_chunks(env) -> int:
    """Difficulty chunk tasks the module's Prefect server has seen complete."""
    import httpx

    query = {"task_runs": {"name": {"like_": "sample-chunk"}, "state": {"type": {"any_": ["COMPLETED"]}}}}
    return httpx.post(f"{env['PREFECT_API_URL']}/task_runs/count", json=query, timeout=10).json()


def catalog_rows(path: Path) -> dict:
    """Every table's rows without run ids and timestamps, sorted: what the data is, not when."""
    queries = {
        "records": "SELECT uid, source, split, prompt, answer, verifier, domain, meta FROM records",
        "quarantine": "SELECT qid, source, split, location, reason, detail, raw FROM quarantine",
        "difficulty": "SELECT uid, model, sampling_hash, verifier_version, k, n_correct, mean_reward, mean_tokens, origin, step FROM difficulty",
        "contamination": "SELECT uid, benchmark, benchmark_id, method, score, span FROM contamination",
        "decisions": "SELECT uid, filter, keep, reason, scores FROM decisions",
        "benchmarks": "SELECT name, source, preset, content_hash, problems, dated, skipped FROM benchmarks",
        "benchmark_problems": "SELECT * FROM benchmark_problems",
    }
    with Catalog.open(path, read_only=True) as cat:
        return {table: sorted(cat.con.execute(query).fetchall()) for table, query in queries.items()}


def shard_content(folder: Path) -> dict:
    manifest = read_manifest(folder)
    assert verify_manifest(folder) == []
    # datasets.save_to_disk stamps state.json with a random fingerprint; the row data is what must match.
    return {"rows": manifest.rows, "content": manifest.content_sha256, "format": manifest.format,
            "files": sorted((f.path, f.rows, f.sha256 if f.path.endswith(".arrow") else "") for f in manifest.files)}


def test_curate_killed_during_difficulty_and_during_export_resumes_exactly(tmp_path, prefect_api):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    for folder in (whole, killed):
        folder.mkdir()
        write_config(folder / "curate.toml", folder / "shards", count=16, fmt="trl")
    args = ("--catalog", "c.duckdb", "curate", "--config", "curate.toml")
    # The uninterrupted run: the plain steps, no Prefect (the flow only wires them, so it must agree).
    with Catalog.open(whole / "c.duckdb") as cat:
        curate(cat, load_config(whole / "curate.toml"))

    # SIGKILL once the second difficulty chunk has finished: the first is in the catalog by then.
    chunks_before = completed_chunks(prefect_api)
    proc = assay(prefect_api, killed, *args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(proc, lambda: completed_chunks(prefect_api) >= chunks_before + 2, "second difficulty chunk")
    with Catalog.open(killed / "c.duckdb", read_only=True) as cat:
        sampled = cat.con.execute("SELECT count(DISTINCT uid) FROM difficulty").fetchall()[0][0]
    assert sampled in (CHUNK, 2 * CHUNK)  # mid-estimation: whole chunks of the 15 prompts in play, not all

    # Started again, then SIGKILLed while the export writes its staging folder.
    proc = assay(prefect_api, killed, *args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(proc, lambda: any(killed.glob(".shards.partial-*")), "export staging folder")
    assert not (killed / "shards").exists()  # no half-written shards where they belong
    assert list(killed.glob(".shards.partial-*"))

    finished = assay(prefect_api, killed, *args)
    assert finished.returncode == 0, finished.stderr
    # Quiet: our progress bars on stdout, no Prefect log lines (datasets draws its own bar when saving).
    assert re.search(QUIET, finished.stderr) is None, finished.stderr
    assert not list(killed.glob(".shards.partial-*"))
    assert catalog_rows(killed / "c.duckdb") == catalog_rows(whole / "c.duckdb")
    assert shard_content(killed / "shards") == shard_content(whole / "shards")
    with Catalog.open(killed / "c.duckdb", read_only=True) as cat:  # one curate run, continued twice
        assert cat.con.execute("SELECT status FROM runs WHERE kind = 'curate'").fetchall() == [("ok",)]
    # The results a resumed flow loads are plain JSON, in a folder only its owner may write.
    data = killed / ".assay"
    assert data.stat().st_mode & 0o777 == 0o700
    records = result_records(data / "results")
    assert {r["metadata"]["serializer"]["type"] for r in records} == {"assay-plain-json"}
    assert all(isinstance(json.loads(r["result"]), dict) for r in records)


# The real CLI, SIGKILLed by itself the moment export has renamed its shards into place: before
# Prefect records the export step's result and before the run is marked finished.
KILLED_AFTER_EXPORT = ("import os, signal, assay.pipelines.steps.curate as c; real = c.export_plan; "
                       "c.export_plan = lambda *a, **k: (real(*a, **k), os.kill(os.getpid(), signal.SIGKILL)); "
                       "from assay.pipelines.cli.main import main; main()")


def test_curate_killed_between_export_and_its_record_finishes_on_its_own_shards(tmp_path, prefect_api):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    for folder in (whole, killed):
        folder.mkdir()
        write_config(folder / "curate.toml", folder / "shards", count=12, benchmarks="")
    with Catalog.open(whole / "c.duckdb") as cat:
        curate(cat, load_config(whole / "curate.toml"))
    args = ("--catalog", "c.duckdb", "curate", "--config", "curate.toml")
    died = subprocess.run([sys.executable, "-c", KILLED_AFTER_EXPORT, *args], cwd=killed, env=prefect_api,
                          capture_output=True, text=True, timeout=600)
    assert died.returncode == -signal.SIGKILL, died.stderr
    assert verify_manifest(killed / "shards") == []  # the shards are whole, the run is not finished
    with Catalog.open(killed / "c.duckdb", read_only=True) as cat:
        assert cat.con.execute("SELECT status FROM runs WHERE kind = 'curate'").fetchall() == [("running",)]
    finished = assay(prefect_api, killed, *args)
    assert finished.returncode == 0, finished.stderr  # not "--out shards: already exists"
    assert catalog_rows(killed / "c.duckdb") == catalog_rows(whole / "c.duckdb")
    assert shard_content(killed / "shards") == shard_content(whole / "shards")
    with Catalog.open(killed / "c.duckdb", read_only=True) as cat:
        assert cat.con.execute("SELECT status FROM runs WHERE kind = 'curate'").fetchall() == [("ok",)]
    # Another run of the same config is another run: the shards it would write are not its own.
    again = assay(prefect_api, killed, *args)
    assert again.returncode == 2 and "already exists" in again.stderr


def result_records(folder: Path) -> list[dict]:
    """Every persisted task result under `folder`, as the JSON record Prefect wrote."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files, f"no results under {folder}"
    return [json.loads(p.read_bytes()) for p in files]  # a pickle would not parse as JSON


DIFFICULTY_SCRIPT = """
import json, sys, threading
from pathlib import Path

def main(folder, runner_name):
    import assay.pipelines.steps.difficulty as difficulty
    from assay.pipelines.flows import prefect_env
    env = prefect_env.configure(folder / "c.duckdb")
    from assay.pipelines.flows import flows
    from assay.pipelines.store.catalog import Catalog
    from assay.pipelines.steps.ingest import ingest, resolve_source
    from assay.pipelines.flows.runners import RunnerConfig, task_runner
    from assay.trainers.engines import SamplingConfig
    with Catalog.open(folder / "c.duckdb") as cat:
        source, name, preset = resolve_source("builtin:arithmetic", count=16, seed=0)
        ingest(cat, source, preset, name)
    config = difficulty.DifficultyConfig(model="toy", k=16, policy="adaptive", workers=1, chunk_size=4,
                                         sampling=SamplingConfig(temperature=1.0, max_tokens=24))
    runner = RunnerConfig(runner_name)
    # Progress as the CLI reports it: a callable that cannot be pickled, and need not be.
    lock, advanced = threading.Lock(), []
    def advance(n):
        with lock:
            advanced.append(n)
    with flows.reporting(advance=advance):
        result = flows.run_flow(flows.difficulty_flow, task_runner(runner, env),
                                {"catalog": str(folder / "c.duckdb"), "config": config, "runner": runner})
    print(json.dumps({"sampled": result.sampled, "rounds": result.rounds, "advanced": sum(advanced),
                      "engines_here": len(flows._ENGINES)}))

if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
"""


# CI installs prefect-dask (the dev extra); prefect-ray and ray only where `assay[ray]` is installed.
@pytest.mark.parametrize("runner, package", [("dask", "prefect_dask"), ("ray", "prefect_ray")])
def test_a_cluster_runner_on_this_machine_matches_the_local_run(runner, package, tmp_path, prefect_api):
    pytest.importorskip(package)
    script = tmp_path / "difficulty_flow.py"
    script.write_text(DIFFICULTY_SCRIPT)
    (tmp_path / runner).mkdir()
    done = subprocess.run([sys.executable, str(script), str(tmp_path / runner), runner], env=prefect_api,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert re.search(QUIET, done.stderr) is None, done.stderr
    run = json.loads(done.stdout.strip().splitlines()[-1])
    assert run["engines_here"] == 0  # every chunk was sampled on a worker, none in the flow's process
    assert run["advanced"] == run["sampled"]  # the progress hook saw every sample, from the flow process
    # The same estimation in this process, without Prefect: the same observations.
    with Catalog.open(tmp_path / "local.duckdb") as cat:
        source, name, preset = resolve_source("builtin:arithmetic", count=16, seed=0)
        ingest(cat, source, preset, name)
        local = estimate_difficulty(cat, DifficultyConfig(model="toy", k=16, policy="adaptive", workers=1,
                                                          sampling=SamplingConfig(temperature=1.0, max_tokens=24)))
    assert run["rounds"] == local.rounds > 1 and run["sampled"] == local.sampled > 16 * 4
    remote = catalog_rows(tmp_path / runner / "c.duckdb")["difficulty"]
    assert remote == catalog_rows(tmp_path / "local.duckdb")["difficulty"] and len({row[0] for row in remote}) == 16


def test_decontaminate_and_audit_flows(tmp_path, prefect_api):
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, PREFECT_LOCAL_STORAGE_PATH, temporary_settings

    from assay.pipelines.steps import benchmarks as bench
    from assay.pipelines.flows import flows
    from assay.pipelines.steps.audit import AuditConfig
    from assay.pipelines.steps.decontaminate import Settings

    with Catalog.open(tmp_path / "c.duckdb") as cat:
        source, name, preset = resolve_source("builtin:arithmetic", count=40, seed=0)
        ingest(cat, source, preset, name)
        label, mapping = bench.resolve_bench_preset("arith-eval", None, "problem", "answer", "id", None)
        rows, _ = bench.read_source_rows(resolve_source("builtin:arithmetic-eval")[0])
        problems, skipped = bench.map_rows("arith-eval", rows, mapping)
        bench.register_benchmark(cat, "arith-eval", problems, skipped, "builtin:arithmetic-eval", label)
    updates = {PREFECT_API_URL: prefect_api["PREFECT_API_URL"], PREFECT_LOCAL_STORAGE_PATH: str(tmp_path / "results")}
    with temporary_settings(updates=updates):
        check = flows.decontaminate_flow(str(tmp_path / "c.duckdb"), ["arith-eval"], Settings())
        audit = flows.audit_flow(str(tmp_path / "c.duckdb"), AuditConfig(model="toy", benchmarks=("arith-eval",), k=2,
                                 max_tokens=16, max_items=3), Settings(), str(tmp_path / "toy-audit"))
        # Send this process's run logs and events now, while the module's server is up to take them.
        APILogWorker.drain_all()
        EventsWorker.drain_all()
    # Problem 0 of the corpus is planted in the evaluation set: found, written, reported.
    assert check.findings >= 1 and check.summary["rows_contaminated"] >= 1 and check.html_path.is_file()
    assert audit.dataset.findings == check.findings  # findings replace the earlier ones: same count
    assert len(audit.model.items) == 3
    # One report for both: the dataset's findings per benchmark and layer, and the model's probes.
    summary = json.loads((tmp_path / "toy-audit.json").read_text())
    assert audit.report == tmp_path / "toy-audit.html" and audit.report.is_file()
    assert sum(c["findings"] for c in summary["contamination"]) == check.findings
    assert [m["items"] for m in summary["memorization"]] == [3]
    assert (tmp_path / summary["links"]["decontamination report"]).resolve() == audit.dataset.html_path.resolve()
    with Catalog.open(tmp_path / "c.duckdb", read_only=True) as cat:
        assert cat.con.execute("SELECT count(*) FROM contamination").fetchall() == [(check.findings,)]
        assert cat.con.execute("SELECT status FROM runs WHERE kind = 'decontaminate'").fetchall() == [("ok",), ("ok",)]


def test_train_flow_writes_the_online_difficulty(tmp_path, prefect_api):
    import pyarrow as pa
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, PREFECT_LOCAL_STORAGE_PATH, temporary_settings

    from assay.curricula.plan import CurriculumConfig, build_plan
    from assay.pipelines.flows import flows
    from assay.pipelines.steps.export import export_plan
    from assay.pipelines.steps.train import BUILTIN_EVAL, TrainRunConfig
    from assay.curricula.sampler import SamplerConfig
    from assay.trainers.grpo import GRPOConfig

    with Catalog.open(tmp_path / "c.duckdb") as cat:
        source, name, preset = resolve_source("builtin:arithmetic", count=24, seed=0)
        ingest(cat, source, preset, name)
        uids = [u for (u,) in cat.con.execute("SELECT uid FROM records ORDER BY uid").fetchall()]
        plan = build_plan(pa.table({"uid": uids, "source": [name] * 24, "n": [4] * 24, "n_correct": [2] * 24}),
                          CurriculumConfig(stages=1))
        export_plan(cat, plan, "parquet", tmp_path / "shards")
    config = TrainRunConfig(shards=str(tmp_path / "shards"), model="toy", steps=2,
                            sampler=SamplerConfig(prompts_per_batch=4, rollouts_per_batch=8),
                            eval=BUILTIN_EVAL, eval_size=8, grpo=GRPOConfig(eval_every=0, max_tokens=32, eval_k=2))
    seen = []
    updates = {PREFECT_API_URL: prefect_api["PREFECT_API_URL"], PREFECT_LOCAL_STORAGE_PATH: str(tmp_path / "results")}
    with temporary_settings(updates=updates), flows.reporting(on_metrics=seen.append):
        result = flows.train_flow(str(tmp_path / "c.duckdb"), config)
        APILogWorker.drain_all()
        EventsWorker.drain_all()
    assert [m["step"] for m in seen if "reward" in m] == [1, 2] and result.observations > 0
    with Catalog.open(tmp_path / "c.duckdb", read_only=True) as cat:
        online = cat.con.execute("SELECT count(*), sum(k), min(step), max(step) FROM difficulty WHERE origin = 'online'").fetchall()
        # Every rollout of both steps, under the policy step that sampled it (0: before the first update).
        assert online == [(result.observations, 2 * 8, 0, 1)]
        assert cat.con.execute("SELECT status FROM runs WHERE kind = 'train'").fetchall() == [("ok",)]


def test_the_local_runner_reports_each_generation_batch_from_inside_its_tasks(tmp_path, prefect_api, monkeypatch):
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, PREFECT_LOCAL_STORAGE_PATH, temporary_settings

    from assay.pipelines.steps import difficulty

    from assay.pipelines.flows import flows
    from assay.pipelines.flows.runners import RunnerConfig

    monkeypatch.setattr(difficulty, "GENERATE_ROWS", 8)
    with Catalog.open(tmp_path / "c.duckdb") as cat:
        source, name, preset = resolve_source("builtin:arithmetic", count=12, seed=0)
        ingest(cat, source, preset, name)
    config = DifficultyConfig(model="toy", k=2, policy="fixed", workers=1, sampling=SamplingConfig(temperature=1.0, max_tokens=24))
    seen = []
    updates = {PREFECT_API_URL: prefect_api["PREFECT_API_URL"], PREFECT_LOCAL_STORAGE_PATH: str(tmp_path / "results")}
    with temporary_settings(updates=updates), flows.reporting(advance=seen.append):
        result = flows.difficulty_flow(str(tmp_path / "c.duckdb"), config, RunnerConfig("local"))
        APILogWorker.drain_all()
        EventsWorker.drain_all()
    # One chunk task of 12 prompts x 2 samples, sampled 4 prompts (8 rows) per generate call, each
    # reported as it was sampled; nothing is reported twice when the task's result comes back.
    assert (result.rounds, result.sampled, seen) == (1, 24, [8, 8, 8])


def test_serve_runs_the_recurring_flow_on_schedule_and_ctrl_c_stops_both(tmp_path):
    import httpx
    import psutil

    config = write_config(tmp_path / "curate.toml", tmp_path / "unused", count=12, benchmarks="")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"))
    serve = subprocess.Popen(
        [sys.executable, "-m", "assay.pipelines.cli.main", "--catalog", str(tmp_path / "c.duckdb"), "serve", "--config", str(config),
         "--shards", str(tmp_path / "shards"), "--interval", "15", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline, states = time.monotonic() + 420, []
        while "COMPLETED" not in states:
            assert serve.poll() is None, f"assay serve exited: {serve.communicate()}"
            assert time.monotonic() < deadline, f"no scheduled run completed; runs: {states}"
            time.sleep(2)
            try:
                runs = httpx.post(f"{api}/flow_runs/filter", json={}, timeout=10).json()
            except httpx.HTTPError:
                continue  # the server is still starting
            states = [r["state_type"] for r in runs]
            assert "FAILED" not in states and "CRASHED" not in states, [r["state"]["message"] for r in runs]
        assert verify_manifest(tmp_path / "shards" / "v0001") == []
        deployment = httpx.post(f"{api}/deployments/filter", json={}, timeout=10).json()[0]
        assert deployment["schedules"][0]["schedule"]["interval"] == 15.0
        family = [serve.pid] + [p.pid for p in psutil.Process(serve.pid).children(recursive=True)]
    finally:
        serve.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = serve.communicate(timeout=120)
    assert serve.returncode == 0, err
    assert f"dashboard (Prefect UI): http://127.0.0.1:{port}" in out and "stopped" in out
    time.sleep(1)
    left = [pid for pid in family if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert left == [] and port_free(port)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
