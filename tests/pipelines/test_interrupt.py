"""A quickstart as a user runs it: while it samples, the catalog answers readers and tells a
second writer who holds it; Ctrl-C (SIGINT to the process group) or a SIGTERM to the command
alone stops it with a message, leaving no process behind, and its run reads as interrupted."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assay.pipelines.cli.interrupt import descendants
from tests.pipelines.test_cli import assay

WORKER = "worker_main"  # in the command line of every verifier worker (verifiers/runner.py)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _session(sid: int) -> list[int]:
    """Processes of session `sid` that still run (zombies have ended: only their exit status is left)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return found


def _start_quickstart(folder: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "assay.pipelines.cli.main", "quickstart", "--count", "300"], cwd=folder,
                            stdout=open(folder / "out.txt", "w"), stderr=open(folder / "err.txt", "w"),
                            start_new_session=True)


def _wait_for_verifier_workers(proc: subprocess.Popen, folder: Path) -> None:
    deadline = time.monotonic() + 540
    while not any(WORKER in _cmdline(pid) for pid in descendants(proc.pid)):
        assert proc.poll() is None, (folder / "err.txt").read_text()
        assert time.monotonic() < deadline, "no verifier worker started"
        time.sleep(0.5)


@pytest.mark.slow
def test_ctrl_c_stops_a_quickstart_and_its_children_while_readers_look_in(tmp_path):
    proc = _start_quickstart(tmp_path)
    try:
        _wait_for_verifier_workers(proc, tmp_path)
        family = descendants(proc.pid)
        assert any("uvicorn" in _cmdline(pid) for pid in family)  # the temporary Prefect server

        # Readers get in while it works; a second writer is told who holds the catalog.
        stats = assay("catalog", "stats", "--json", cwd=tmp_path)
        assert stats.returncode == 0, stats.stderr
        assert json.loads(stats.stdout)["tables"]["records"] == 300
        runs = {r["kind"]: r for r in json.loads(assay("runs", "--json", cwd=tmp_path).stdout)}
        assert runs["curate"]["status"] == "running" and f"(PID {proc.pid})" in runs["curate"]["owner"]
        assert "`assay quickstart --count 300`" in runs["curate"]["owner"]
        second = assay("ingest", "builtin:arithmetic", "--count", "5", cwd=tmp_path)
        assert second.returncode == 2 and "is busy: curate run" in second.stderr, second.stderr
        assert f"(PID {proc.pid}) is in progress; pass --wait SECONDS" in second.stderr

        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal
        assert proc.wait(timeout=120) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    err = (tmp_path / "err.txt").read_text()
    assert "assay: SIGINT: stopping" in err and "run the same command again to continue" in err, err
    assert _session(proc.pid) == []  # the server, verifier workers and anything else they started
    runs = {r["kind"]: r for r in json.loads(assay("runs", "--json", cwd=tmp_path).stdout)}
    assert runs["curate"]["status"] == "interrupted"


@pytest.mark.slow
def test_sigterm_to_the_command_alone_stops_its_children_too(tmp_path):
    proc = _start_quickstart(tmp_path)
    try:
        _wait_for_verifier_workers(proc, tmp_path)
        proc.send_signal(signal.SIGTERM)  # only the assay process: its children get nothing from the sender
        assert proc.wait(timeout=120) == 143
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "assay: SIGTERM: stopping" in (tmp_path / "err.txt").read_text()
    assert _session(proc.pid) == []
    # The next writer records the run as interrupted, and a rerun of curate could continue it.
    assert assay("ingest", "builtin:arithmetic", "--count", "5", cwd=tmp_path).returncode == 0
    status = assay("catalog", "query", "SELECT status FROM runs WHERE kind = 'curate'", "--json", cwd=tmp_path)
    assert json.loads(status.stdout) == [{"status": "interrupted"}]


# In a process of its own: in pytest's, stop_descendants would also kill the verifier pool
# that earlier tests left running.
FAMILY = """
import json, os, subprocess, sys, time
from assay.pipelines.cli.interrupt import descendants, stop_descendants
code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); " \\
       "print('ready', flush=True); time.sleep(120)"
child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
assert child.stdout.readline() == "ready\\n"
family = descendants(os.getpid())
stopped = stop_descendants()
print(json.dumps({"child": child.pid, "family": family, "stopped": stopped, "returncode": child.wait(timeout=60)}))
"""


def test_stop_descendants_stops_grandchildren():
    done = subprocess.run([sys.executable, "-c", FAMILY], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert len(result["family"]) == 2 and result["family"][0] == result["child"]  # parents before children
    assert result["stopped"] == 2 and result["returncode"] == -signal.SIGKILL
    grandchild = result["family"][1]
    assert not Path(f"/proc/{grandchild}").exists() or "sleep" not in _cmdline(grandchild)
