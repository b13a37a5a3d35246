"""A catalog others can look into while a job works: long jobs release the file between writes,
readers and writers wait for each other with a message naming the holder, runs record their
owner process, and a run whose process is gone is marked interrupted."""

import json
import os
import subprocess
import sys
import threading

import pytest

from assay.pipelines.store.catalog import (
    Catalog,
    describe_owner,
    list_quarantine,
    list_runs,
    owner_alive,
    process_owner,
    query_catalog,
)
from assay.pipelines.errors import AssayError
from tests.pipelines.test_cli import assay

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def _gone_owner() -> str:
    """The owner string of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    owner = process_owner(child.pid)
    child.wait()
    return owner


def test_owner_liveness():
    assert owner_alive(process_owner()) is True
    assert owner_alive(_gone_owner()) is False
    assert owner_alive("elsewhere.example:1:42") is None  # another host: unknown
    assert owner_alive(None) is False  # a run written before owners were recorded
    assert describe_owner("elsewhere.example:7:1") == "PID 7 on host elsewhere.example"


def _insert_run(cat, run_id, owner, kind="curate"):
    cat.con.execute("INSERT INTO runs (run_id, kind, args, status, started_at, owner) VALUES (?, ?, '{}', 'running', now(), ?)",
                    [run_id, kind, owner])


def test_a_run_whose_process_is_gone_is_interrupted_by_the_next_writer(tmp_path):
    path = tmp_path / "c.duckdb"
    with Catalog.open(path) as cat:
        _insert_run(cat, "killed", _gone_owner())
        _insert_run(cat, "mine", process_owner())
    with Catalog.open(path, read_only=True) as cat:  # a reader shows it, cannot record it
        assert {r.run_id: r.status for r in list_runs(cat)} == {"killed": "interrupted", "mine": "running"}
        assert cat.con.execute("SELECT status FROM runs WHERE run_id = 'killed'").fetchone() == ("running",)
    with Catalog.open(path) as cat:
        statuses = dict(cat.con.execute("SELECT run_id, status FROM runs").fetchall())
        assert statuses == {"killed": "interrupted", "mine": "running"}
        # An interrupted run is continued by a rerun, and is owned by the process continuing it.
        assert cat.continue_run("killed", "curate")
        assert cat.con.execute("SELECT owner FROM runs WHERE run_id = 'killed'").fetchone() == (process_owner(),)
        assert [r.status for r in list_runs(cat, status="running")] == ["running", "running"]


def test_another_process_s_run_in_progress_makes_a_new_run_wait(tmp_path, monkeypatch):
    path = tmp_path / "c.duckdb"
    sleeper = subprocess.Popen(SLEEPER)
    try:
        with Catalog.open(path) as cat:
            _insert_run(cat, "theirs", process_owner(sleeper.pid), kind="difficulty")
            with pytest.raises(AssayError, match=r"is busy: difficulty run theirs of .* \(PID \d+\) is in progress; pass --wait"):
                cat.start_run("ingest", {})
            # Waiting: the other process ends while this one waits, and its run is then interrupted.
            monkeypatch.setenv("ASSAY_WAIT", "600")
            threading.Timer(1.0, sleeper.kill).start()
            run_id = cat.start_run("ingest", {})
            statuses = dict(cat.con.execute("SELECT run_id, status FROM runs").fetchall())
        assert statuses == {"theirs": "interrupted", run_id: "running"}
    finally:
        sleeper.kill()
        sleeper.wait()


HOLD = ("import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); con.execute('SELECT 1'); "
        "print('held', flush=True); time.sleep(120)")


@pytest.mark.slow
def test_a_locked_file_is_waited_for_and_named_never_duckdb_s_lock_text(tmp_path):
    path = tmp_path / "c.duckdb"
    Catalog.open(path).close()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(AssayError) as error:
            Catalog.open(path, read_only=True, wait_s=0.2)
        assert f"(PID {holder.pid}) and stayed locked for 0.2 s; pass --wait SECONDS" in str(error.value)
        assert "Conflicting lock" not in str(error.value)
        stats = assay("--catalog", str(path), "--wait", "0.2", "catalog", "stats", cwd=tmp_path)
        assert stats.returncode == 2 and f"(PID {holder.pid})" in stats.stderr and "Conflicting" not in stats.stderr
    finally:
        holder.kill()
        holder.wait()
    with Catalog.open(path, read_only=True, wait_s=0.2) as cat:  # the holder is gone: it opens
        assert cat.stats().tables["records"] == 0


@pytest.mark.slow
def test_release_lets_a_reader_in_and_the_writer_continues(tmp_path):
    path = tmp_path / "c.duckdb"
    with Catalog.open(path) as cat:
        run_id = cat.start_run("curate", {})
        cat.release()
        stats = assay("--catalog", str(path), "--wait", "0", "catalog", "stats", "--json", cwd=tmp_path)
        assert stats.returncode == 0, stats.stderr
        assert json.loads(stats.stdout)["tables"]["runs"] == 1
        runs = assay("--catalog", str(path), "runs", "--json", cwd=tmp_path)
        [shown] = json.loads(runs.stdout)
        assert shown["run_id"] == run_id and shown["status"] == "running" and f"(PID {os.getpid()})" in shown["owner"]
        cat.finish_run(run_id, "ok", {})  # the file opens again on its next use
    with Catalog.open(path, read_only=True) as cat:
        assert [r.status for r in list_runs(cat)] == ["ok"]


@pytest.mark.slow
def test_query_is_read_only_and_reads_no_other_file(tmp_path):
    path = tmp_path / "c.duckdb"
    with Catalog.open(path) as cat:
        cat.start_run("ingest", {"source": "x"})
    assert query_catalog(path, "SELECT kind, status FROM runs") == (["kind", "status"], [("ingest", "running")])
    for sql, message in [
        ("DELETE FROM runs", "read-only"),
        (f"COPY runs TO '{tmp_path / 'out.csv'}'", "file system operations are disabled"),
        ("SELECT * FROM read_csv('/etc/hostname')", "file system operations are disabled"),
        ("SELEC 1", "Parser Error"),
    ]:
        with pytest.raises(AssayError, match="^query: ") as error:
            query_catalog(path, sql)
        assert message in str(error.value), sql
    assert not (tmp_path / "out.csv").exists()
    done = assay("--catalog", str(path), "catalog", "query", "SELECT count(*) AS n FROM runs", "--json", cwd=tmp_path)
    assert done.returncode == 0 and json.loads(done.stdout) == [{"n": 1}]


@pytest.mark.slow
def test_quarantine_listing_filters_by_source_and_reason(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"prompt": "What is 2+2?", "answer": "4"}\n{"prompt": "", "answer": "1"}\nnot json\n')
    done = assay("--catalog", "c.duckdb", "ingest", "a.jsonl", "--prompt-col", "prompt", "--answer-col", "answer", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with Catalog.open(tmp_path / "c.duckdb", read_only=True) as cat:
        assert sorted(r["reason"] for r in list_quarantine(cat)) == ["bad_json", "empty_prompt"]
        assert [r["location"] for r in list_quarantine(cat, reason="bad_json")] == ["a.jsonl:3"]
        assert list_quarantine(cat, source="elsewhere") == []
    shown = assay("--catalog", "c.duckdb", "catalog", "quarantine", "--reason", "empty_prompt", "--json", cwd=tmp_path)
    assert [r["reason"] for r in json.loads(shown.stdout)] == ["empty_prompt"]
