"""The verifier pool: worker processes whose verdicts do not depend on machine load.

`concurrent.futures` and `multiprocessing.Pool` cannot stop one task: a hung sympy call keeps
its worker forever, and killing a worker that shares the pool's queues can corrupt them. Here
every worker has its own pipes, so the parent can SIGKILL one worker, requeue the rest of its
chunk, start a replacement, and go on. The batch always completes, in input order.

Why the verdict cannot depend on load:
- A worker is a fresh interpreter (`python -c`, never a fork of the caller and never
  multiprocessing's forkserver): it imports assay.verifiers and warms sympy, says it is ready,
  and only then gets work. It never imports the caller's `__main__`, so the `assay` console
  script, `python -c`, a script on stdin, a notebook or a Dask worker all behave the same, and
  start-up time is never charged to an item.
- An item's budget is the worker's own CPU time (its main thread's run time, from
  /proc/<pid>/schedstat), not the wall clock: a worker that is merely waiting for a CPU spends
  none of it. A second limit, CEILING_FACTOR times larger, counts the time the worker was
  neither running nor waiting for a CPU (sleeping, blocked, stopped), so a stuck worker is also
  let go; a starved worker never reaches either limit, however long it waits.
- An item killed at a limit, or whose worker died, is tried once more on another worker before
  it is reported (`Killed`), so one unlucky kill never becomes a verdict.

One pool per process is kept and reused by every batch (difficulty chunks, training steps, the
gold filter); it grows to the largest `workers` asked for. Workers get a minimal environment (no
secrets from the caller's), an address-space cap (MEMORY_LIMIT_MB: a sympy blow-up becomes a
MemoryError verdict, not a swapping host), and leave when the caller exits or dies. Results come
back as JSON, never as pickles, so a worker that parsed hostile text cannot hand the caller code.

Where /proc/<pid>/schedstat is missing (not Linux), both limits count wall-clock time.

Example:
    >>> from assay.verifiers import Check, verify_batch
    >>> [v.status for v in verify_batch([Check("\\\\boxed{4}", "4")], workers=1)]
    ['correct']
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Sequence

MEMORY_LIMIT_MB = 4096  # per worker (RLIMIT_AS); the code sandbox sets its own limits
CHUNK = 16  # items sent to a worker at once
CEILING_FACTOR = 10.0  # time off the CPU (not waiting for one) an item may take, as a multiple of its CPU budget
TRIES = 2  # an item is retried once on another worker before it is reported killed
POLL_S = 0.05  # how often busy workers' clocks are read while no result arrives
BOOT_BUDGET_S = 600.0  # CPU or blocked seconds a new worker may take to import and warm up
MAX_RESULT_BYTES = 64 * 2**20  # one result message; more means a broken worker
# What a worker keeps of the caller's environment: enough to find programs and temp space.
# Everything else (tokens, keys, credentials) stays with the caller.
WORKER_ENV = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "LC_CTYPE", "SYSTEMROOT")
WORKER_ENV_PREFIX = "ASSAY_"  # assay's own settings reach the workers
WARMUP = "assay.verifiers.warmup"  # imported by every worker before it reports ready

# The worker's entry point, run with `python -I -c`: the caller's sys.path comes as JSON in argv,
# so modules the caller can import resolve the same way, but nothing of the caller's runs.
_BOOT = "import json, sys; sys.path[:] = json.loads(sys.argv[1]); from assay.verifiers.runner import worker_main; worker_main(*map(int, sys.argv[2:]))"


@dataclass(frozen=True)
class Budget:
    """What one item may spend in its worker.

    cpu_s: CPU seconds of the worker's main thread.
    blocked_s: seconds it may spend neither on a CPU nor waiting for one (asleep, blocked on
        I/O or a child process, stopped). A verifier that waits on a subprocess (the code
        sandbox) needs this to be as long as the subprocess may legitimately run.
    """

    cpu_s: float
    blocked_s: float

    @classmethod
    def cpu(cls, cpu_s: float) -> "Budget":
        return cls(cpu_s, CEILING_FACTOR * cpu_s)


@dataclass(frozen=True)
class Killed:
    """Stands in for the result of a call that did not return, after every try."""

    reason: str  # "timeout" (a limit was reached) | "died" (the worker died or the call raised)
    detail: str


@dataclass
class RunStats:
    """What one batch did. The runner fills cpu_s, held_s, killed, retried, died and started;
    verify_batch adds counts per verdict status."""

    cpu_s: list[float] = field(default_factory=list)  # per call: CPU seconds of its last try
    held_s: list[float] = field(default_factory=list)  # per call: wall seconds its last try held a worker
    killed: int = 0  # tries stopped at a limit (killed there, or finished past it)
    retried: int = 0  # calls tried again after a kill or a dead worker
    died: int = 0  # workers that died by themselves
    started: int = 0  # workers started for this batch, replacements included
    counts: Counter[str] = field(default_factory=Counter)  # verify_batch: verdict status -> items

    def summary(self) -> str:
        statuses = ", ".join(f"{status} {n:,}" for status, n in self.counts.most_common()) or "no items"
        return f"{statuses}; retried {self.retried}, killed {self.killed}, workers died {self.died}, started {self.started}"


@dataclass(frozen=True)
class _Clock:
    """A worker's main thread: CPU seconds run and seconds spent waiting for a CPU, at a time."""

    wall: float
    cpu: float
    waited: float

    def since(self, then: "_Clock") -> tuple[float, float, float]:
        """(cpu, blocked, wall) seconds between `then` and this reading."""
        wall = self.wall - then.wall
        cpu = self.cpu - then.cpu
        return cpu, max(0.0, wall - cpu - (self.waited - then.waited)), wall


def _read_clock(path: str) -> _Clock:
    now = time.monotonic()
    try:
        with open(path, "rb") as f:
            run_ns, wait_ns = f.read().split()[:2]
        return _Clock(now, int(run_ns) / 1e9, int(wait_ns) / 1e9)
    except (OSError, ValueError):
        # No schedstat (not Linux, or the task is gone): the wall clock is all there is.
        return _Clock(now, now, 0.0)


# ---------------------------------------------------------------------------------------------
# The worker side.


def _function(ref: str) -> Callable[..., Any]:
    module, _, qualname = ref.partition(":")
    fn: Any = importlib.import_module(module)
    for part in qualname.split("."):
        fn = getattr(fn, part)
    return fn


def _encode(result: Any) -> bytes:
    from assay.verifiers.verdict import Verdict

    if isinstance(result, Verdict):
        message = {"verdict": [result.status, result.score, result.extracted, result.reason]}
    else:
        message = {"value": result}
    try:
        return json.dumps(message).encode()
    except (TypeError, ValueError) as exc:
        return json.dumps({"raised": f"result is not JSON: {exc}"[:300]}).encode()


def _watch_parent(parent: int) -> None:
    # A worker busy in sympy never reads its pipe; this notices a caller that died.
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def worker_main(read_fd: int, write_fd: int, parent: int, memory_mb: int) -> None:
    """A worker's life: warm up, say ready, then run (index, function, args) chunks until told
    to stop. Every message it sends is JSON with its clock reading, for the parent's budgets."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle
    inbox, outbox = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    os.dup2(os.open(os.devnull, os.O_RDWR), 0)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    clock = f"/proc/{os.getpid()}/task/{os.getpid()}/schedstat"

    def send(message: dict[str, Any], body: bytes = b"") -> None:
        reading = _read_clock(clock)
        stamp = json.dumps({**message, "clock": [reading.wall, reading.cpu, reading.waited]}).encode()
        outbox.send_bytes(stamp + b"\n" + body)

    if memory_mb:
        limit = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        importlib.import_module(WARMUP)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
        send({"boot_error": f"{type(exc).__name__}: {exc}"[:2000]})
        return
    send({"ready": True})
    functions: dict[str, Callable[..., Any]] = {}
    while True:
        try:
            chunk = inbox.recv()
        except EOFError:
            return
        if chunk is None:
            return
        for index, ref, args in chunk:
            try:
                fn = functions.get(ref) or functions.setdefault(ref, _function(ref))
                body = _encode(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - the call's failure is its result
                body = json.dumps({"raised": f"{type(exc).__name__}: {str(exc)[:200]}"}).encode()
            send({"index": index}, body)


# ---------------------------------------------------------------------------------------------
# The parent side.


def _worker_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in WORKER_ENV or k.startswith(WORKER_ENV_PREFIX)}


class _Worker:
    def __init__(self, memory_mb: int) -> None:
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        argv = [_executable(), "-I", "-c", _BOOT, json.dumps(sys.path), str(to_worker_r), str(from_worker_w), str(os.getpid()), str(memory_mb)]
        try:
            self.proc = subprocess.Popen(
                argv, pass_fds=(to_worker_r, from_worker_w), stdin=subprocess.DEVNULL, env=_worker_env(),
                start_new_session=True,  # the terminal's Ctrl-C goes to the caller, which decides
            )
        finally:
            os.close(to_worker_r)
            os.close(from_worker_w)
        self.outbox = Connection(to_worker_w, readable=False)
        self.inbox = Connection(from_worker_r, writable=False)
        self.clock_path = f"/proc/{self.proc.pid}/task/{self.proc.pid}/schedstat"
        self.mark = _read_clock(self.clock_path)  # when the current item (or the boot) began
        self.ready = False
        self.queue: deque[int] = deque()

    def clock(self) -> _Clock:
        return _read_clock(self.clock_path)

    def receive(self) -> tuple[dict[str, Any], bytes]:
        head, _, body = self.inbox.recv_bytes(MAX_RESULT_BYTES).partition(b"\n")
        message = json.loads(head)
        wall, cpu, waited = message.pop("clock")
        self.mark = _Clock(wall, cpu, waited)
        return message, body

    def stop(self, kill: bool) -> None:
        if not kill:
            try:
                self.outbox.send(None)
            except OSError:
                kill = True
        if kill:
            self.proc.kill()
        try:
            self.proc.wait(timeout=None if kill else 5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.outbox.close()
        self.inbox.close()


def _executable() -> str:
    # multiprocessing's choice (sys.executable, or what set_executable was given), so embedded
    # interpreters configure both pools the same way.
    from multiprocessing import spawn

    return spawn.get_executable()


def _decode(body: bytes) -> Any:
    from assay.verifiers.verdict import Verdict

    message = json.loads(body)
    if "verdict" in message:
        status, score, extracted, reason = message["verdict"]
        return Verdict(status, float(score), extracted, reason)
    if "raised" in message:
        return Killed("died", str(message["raised"]))
    return message["value"]


def _reference(fn: Callable[..., Any]) -> str:
    """`module:qualname` of a function a fresh interpreter can import, or ValueError."""
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if module in (None, "__main__") or "<" in qualname:
        raise ValueError(
            f"{qualname or fn!r} must be a top-level function of an importable module (it is in {module}): "
            "verifier workers never import the calling script"
        )
    try:
        found = _function(f"{module}:{qualname}")
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"{module}:{qualname} cannot be imported by a worker: {exc}") from None
    if found is not fn:
        raise ValueError(f"{module}:{qualname} names another object than the function given")
    return f"{module}:{qualname}"


def _over(used: tuple[float, float, float], budget: Budget) -> str | None:
    """What of `budget` a try has overrun ((cpu, blocked, wall) seconds), or None."""
    cpu, blocked, _ = used
    if cpu > budget.cpu_s:
        return f"{cpu:.2f} s of CPU (budget {budget.cpu_s:g} s)"
    if blocked > budget.blocked_s:
        return f"{blocked:.1f} s off the CPU (budget {budget.blocked_s:g} s)"
    return None


class Pool:
    """Warm workers kept between batches; `run` is one batch. Not for concurrent use: the
    module's `run_isolated` holds a lock around it."""

    def __init__(self, memory_mb: int = MEMORY_LIMIT_MB) -> None:
        self.memory_mb = memory_mb
        self.workers: list[_Worker] = []

    def close(self) -> None:
        for worker in self.workers:
            worker.stop(kill=bool(worker.queue) or not worker.ready)
        self.workers.clear()

    def run(self, fn: Callable[..., Any], calls: Sequence[tuple], budgets: Sequence[Budget], workers: int, chunk: int = CHUNK) -> tuple[list[Any], RunStats]:
        n = len(calls)
        ref = _reference(fn)
        results: list[Any] = [None] * n
        stats = RunStats(cpu_s=[0.0] * n, held_s=[0.0] * n)
        if n == 0:
            return results, stats
        tries = [0] * n
        boot_deaths = 0
        pending: deque[int] = deque(range(n))
        done = 0
        while len(self.workers) < min(workers, n):
            self.workers.append(_Worker(self.memory_mb))
            stats.started += 1
        team = self.workers[: max(1, min(workers, n))]

        def finish(index: int, result: Any, used: tuple[float, float, float]) -> None:
            nonlocal done
            results[index] = result
            stats.cpu_s[index], stats.held_s[index] = used[0], used[2]
            done += 1

        def replace(slot: int, outcome: Killed, used: tuple[float, float, float]) -> None:
            """Kill team[slot]; its current item is retried or gets `outcome`; the rest of its
            chunk goes back to the queue."""
            worker = team[slot]
            index = worker.queue.popleft()
            pending.extendleft(reversed(worker.queue))
            worker.queue.clear()
            retry_or_finish(index, outcome, used)
            renew(slot)

        def retry_or_finish(index: int, outcome: Killed, used: tuple[float, float, float]) -> None:
            tries[index] += 1
            if tries[index] < TRIES:
                stats.retried += 1
                pending.appendleft(index)
            else:
                finish(index, outcome, used)

        def renew(slot: int) -> None:
            worker = team[slot]
            worker.stop(kill=True)
            fresh = _Worker(self.memory_mb)
            stats.started += 1
            self.workers[self.workers.index(worker)] = team[slot] = fresh

        try:
            while done < n:
                for slot, worker in enumerate(team):
                    if worker.ready and not worker.queue and pending:
                        size = max(1, min(chunk, len(pending) // (2 * len(team))))
                        batch = [pending.popleft() for _ in range(min(size, len(pending)))]
                        worker.mark = worker.clock()  # its time idle between batches is not the item's
                        try:
                            worker.outbox.send([(i, ref, calls[i]) for i in batch])
                        except OSError:  # it died while idle: nothing of ours was lost
                            pending.extendleft(reversed(batch))
                            stats.died += 1
                            renew(slot)
                            continue
                        worker.queue.extend(batch)
                ready = wait([w.inbox for w in team if w.queue or not w.ready], timeout=POLL_S)
                for slot, worker in enumerate(team):
                    if worker.inbox not in ready:
                        continue
                    start = worker.mark
                    try:
                        while worker.inbox.poll():
                            message, body = worker.receive()
                            if "boot_error" in message:
                                raise RuntimeError(f"a verifier worker could not start: {message['boot_error']}")
                            if "ready" in message:
                                worker.ready = True
                                continue
                            index = message["index"]
                            if not worker.queue or index != worker.queue[0]:
                                raise OSError(f"worker answered item {index}, expected {list(worker.queue)[:1]}")
                            worker.queue.popleft()
                            used = worker.mark.since(start)
                            over = _over(used, budgets[index])
                            if over is None:
                                finish(index, _decode(body), used)
                            else:  # it finished, but past its budget: how often we looked must not decide
                                stats.killed += 1
                                retry_or_finish(index, Killed("timeout", f"stopped after {over}, {TRIES} tries"), used)
                            start = worker.mark
                    except (EOFError, OSError, ValueError, KeyError) as exc:
                        # It died (or spoke nonsense): kill it for certain, then see what it held.
                        worker.proc.kill()
                        code = worker.proc.wait()
                        stats.died += 1
                        if not worker.ready:
                            boot_deaths += 1
                            if boot_deaths > TRIES * len(team):
                                raise RuntimeError(f"verifier workers keep dying while starting (last exit code {code}): {exc}") from None
                            renew(slot)
                        elif worker.queue:
                            replace(slot, Killed("died", f"worker exited with code {code}"), (0.0, 0.0, time.monotonic() - start.wall))
                        else:
                            renew(slot)
                for slot, worker in enumerate(team):
                    if not worker.queue and worker.ready:
                        continue
                    cpu, blocked, wall = used = worker.clock().since(worker.mark)
                    if not worker.ready:
                        if max(cpu, blocked) > BOOT_BUDGET_S:
                            raise RuntimeError(f"a verifier worker did not start within {BOOT_BUDGET_S:g} s of its own time")
                        continue
                    over = _over(used, budgets[worker.queue[0]])
                    if over is not None:
                        stats.killed += 1
                        replace(slot, Killed("timeout", f"stopped after {over}, {TRIES} tries"), used)
        except BaseException:
            # Interrupted (Ctrl-C) or broken: busy workers are in an unknown state; idle ones stay.
            for worker in [w for w in team if w.queue or not w.ready]:
                worker.stop(kill=True)
                self.workers.remove(worker)
            raise
        return results, stats


_POOL: Pool | None = None
_POOL_LOCK = threading.Lock()


def _forget_pool_in_child() -> None:
    # A forked child must not drive (or kill at exit) its parent's workers.
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()


def close_pool() -> None:
    """Stop this process's verifier workers (they also stop when it exits); the next batch
    starts new ones."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None:
            _POOL.close()
            _POOL = None


os.register_at_fork(after_in_child=_forget_pool_in_child)
atexit.register(close_pool)


def run_isolated(
    fn: Callable[..., Any],
    calls: Sequence[tuple],
    workers: int,
    budgets: Sequence[Budget | float],
    memory_mb: int = MEMORY_LIMIT_MB,
    chunk: int = CHUNK,
) -> tuple[list[Any], RunStats]:
    """fn(*calls[i]) for every i in this process's worker pool, each within budgets[i].

    A number as a budget means that many CPU seconds (Budget.cpu). Returns the results in input
    order (a `Killed` for each call that reached a limit, or whose worker died, on both tries,
    or that raised) and the batch's statistics. `fn` must be a top-level function of an
    importable module (not `__main__`); its results must be Verdicts or JSON values.
    """
    global _POOL
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    budgets = [b if isinstance(b, Budget) else Budget.cpu(float(b)) for b in budgets]
    if len(budgets) != len(calls):
        raise ValueError(f"{len(calls)} calls but {len(budgets)} budgets")
    with _POOL_LOCK:
        if _POOL is None or _POOL.memory_mb != memory_mb:
            if _POOL is not None:
                _POOL.close()
            _POOL = Pool(memory_mb)
        return _POOL.run(fn, calls, budgets, workers, chunk)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)
