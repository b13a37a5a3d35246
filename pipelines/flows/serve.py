"""`assay serve`: recurring curation on a schedule, with a real Prefect server.

Prefect's temporary per-process server runs flows but schedules nothing, so recurring runs
need a server that stays up: `assay serve` starts `prefect server start` on 127.0.0.1 (its
database under PREFECT_HOME, its log in PREFECT_HOME/server.log), or uses an existing one
(`--api-url`), registers the recurring flow (assay.pipelines.flows.flows.recurring_flow) as a
deployment with a cron or interval schedule, and runs the scheduled runs until Ctrl-C, which
stops the runner and then the server it started. The server's UI (http://127.0.0.1:PORT) is
the dashboard: runs, their states and timings, and each step's task runs.

`assay serve --print-cron` prints the alternative with no server: one crontab line that runs
`assay recurring` with the same options.

Example:
    >>> crontab_line("0 3 * * *", ["/venv/bin/assay", "recurring", "--config", "/p/curate.toml"], Path("/p"), Path("/p/.assay/recurring.log"))
    '0 3 * * * cd /p && /venv/bin/assay recurring --config /p/curate.toml >> /p/.assay/recurring.log 2>&1'
"""

from __future__ import annotations

import hashlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from assay.pipelines.errors import AssayError
from assay.pipelines.flows.runners import api_healthy

SERVER_START_TIMEOUT_S = 180  # a first start builds the database and the UI; minutes on a busy machine
SERVER_STOP_TIMEOUT_S = 20


def port_free(port: int) -> bool:
    """No server listens on 127.0.0.1:port (connections lingering in TIME_WAIT do not count:
    a server binds with SO_REUSEADDR, as this check does)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def deployment_name(catalog: Path) -> str:
    """One deployment per catalog on a shared server: its folder name plus a hash of its path."""
    return f"{catalog.parent.name or 'catalog'}-{hashlib.sha256(str(catalog).encode()).hexdigest()[:8]}"


def start_server(port: int, log: Path) -> subprocess.Popen:
    """`prefect server start` on 127.0.0.1:port, in its own process group (Ctrl-C reaches
    assay, which stops the runner first and then the server), its output to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port), "--analytics-off"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )


def wait_until_healthy(api_url: str, server: subprocess.Popen | None, log: Path | None,
                       timeout_s: float = SERVER_START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if api_healthy(api_url):
            return
        if server is not None and server.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise AssayError(f"the Prefect server exited with status {server.returncode}; its log ({log}) ends:\n{tail}")
        time.sleep(0.5)
    raise AssayError(f"no Prefect server answered at {api_url} within {timeout_s:.0f} s" + (f"; see {log}" if log else ""))


def stop_server(server: subprocess.Popen) -> None:
    """SIGINT to the server's process group (a clean uvicorn shutdown), SIGKILL if it lingers."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGINT)
    try:
        server.wait(SERVER_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def crontab_line(cron: str, argv: list[str], cwd: Path, log: Path) -> str:
    """One crontab entry running `argv` from `cwd` on `cron`, appending its output to `log`."""
    if len(cron.split()) != 5:
        raise AssayError(f"--cron {cron!r}: a crontab schedule has 5 fields (minute hour day month weekday)")
    return f"{cron} cd {shlex.quote(str(cwd))} && {shlex.join(argv)} >> {shlex.quote(str(log))} 2>&1"


@contextmanager
def prefect_api(home: Path, api_url: str | None, port: int) -> Iterator[str]:
    """The Prefect API to serve against, set as PREFECT_API_URL: `api_url` once it answers, or
    a server started on 127.0.0.1:`port` (log: HOME/server.log), stopped when the block ends."""
    if api_url:
        os.environ["PREFECT_API_URL"] = api_url
        wait_until_healthy(api_url, None, None, timeout_s=10)
        yield api_url
        return
    if not port_free(port):
        raise AssayError(f"port {port} is in use (a Prefect server already? use it with --api-url "
                         f"http://127.0.0.1:{port}/api), or pick another --port")
    url = os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
    log = home / "server.log"
    server = start_server(port, log)
    try:
        wait_until_healthy(url, server, log)
        yield url
    finally:
        stop_server(server)
