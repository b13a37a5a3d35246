"""Ctrl-C and SIGTERM: stop the whole command at once, with everything it started.

A flow-backed command has children: the temporary Prefect server (uvicorn), verifier workers,
code sandboxes, Dask workers. Ctrl-C sends SIGINT to the whole process group, so those die
first and Prefect's client would then retry a dead server for minutes; a SIGTERM sent to the
command alone leaves them all running. So `install()` replaces both signals' handling in the
`assay` process: say what happened, kill every descendant process, and exit with 128 + the
signal number.

The exit is immediate (os._exit): no Python clean-up runs in a process whose threads may hold
the catalog mid-transaction. That is what a kill does, and assay's history is made to survive
kills: every batch is one DuckDB transaction (an unfinished one is rolled back when the file
is next opened), the run stays `running` with this process as owner until the next command
marks it interrupted, and a rerun of the same command continues from what was written.

Example:
    >>> os.getpid() in descendants(os.getppid())
    True
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process this user can see (from /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # it ended while we looked
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children, ...), parents before children."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found, queue = [], list(children.get(pid, []))
    while queue:
        child = queue.pop(0)
        found.append(child)
        queue.extend(children.get(child, []))
    return found


def stop_descendants() -> int:
    """Kill every descendant of this process; the number killed.

    They are frozen first (SIGSTOP), so none can end on its own and wake a thread of this
    process with a broken pipe (which could record the run as failed in the moments before
    exit), then killed (SIGKILL). No grace period: the Prefect server is temporary, a
    verifier worker holds nothing, and a sandbox cgroup left behind is removed by the next
    sandbox run on this host (verifiers/sandbox_host.py)."""
    family = descendants(os.getpid())
    for pid in family:
        _signal(pid, signal.SIGSTOP)
    family += [pid for pid in descendants(os.getpid()) if pid not in family]  # started meanwhile
    for pid in family:
        _signal(pid, signal.SIGKILL)
    return len(family)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


_stop_once = threading.Lock()
_handled = set(EXIT_CODES)  # the signals this module stops the command on


def _say(text: str) -> None:
    os.write(2, text.encode())  # no Python stream lock: another thread may hold sys.stderr's


def _stop(signum: int) -> None:
    """Stop every descendant and exit; only the first caller does (the other returns)."""
    if not _stop_once.acquire(blocking=False):
        return
    _say(f"\nassay: {signal.Signals(signum).name}: stopping (Prefect server, verifier workers, sandboxes)...\n")
    stopped = stop_descendants()
    _say(f"assay: stopped {stopped} child process(es). Work already recorded is kept: run the same command again to "
         "continue (`assay runs` shows this run as interrupted).\n")
    os._exit(EXIT_CODES.get(signum, 128 + signum))


def _watch(read_fd: int) -> None:
    """The signal watcher thread: the C-level handler writes each signal's number to the wakeup
    pipe at once, whatever the main thread is doing (a Python handler would wait until the main
    thread runs Python again, which can take a whole sampling chunk)."""
    while True:
        for signum in os.read(read_fd, 64):
            if signum in _handled:
                _stop(signum)


def _handle(signum: int, frame: object) -> None:
    _stop(signum)  # reached only if the watcher has not stopped the process first


def install() -> None:
    """Handle SIGINT and SIGTERM as the module docstring says (call in the main thread)."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    for signum in EXIT_CODES:
        signal.signal(signum, _handle)  # a Python handler: without one the wakeup pipe is not written
    threading.Thread(target=_watch, args=(read_fd,), name="assay-signals", daemon=True).start()


def restore_ctrl_c() -> None:
    """Give Ctrl-C back to Python (KeyboardInterrupt): for a command that stops itself cleanly
    on Ctrl-C (`assay serve`)."""
    _handled.discard(signal.SIGINT)  # the wakeup pipe still hears it: the watcher must not act
    signal.signal(signal.SIGINT, signal.default_int_handler)
