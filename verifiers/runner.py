"""The batch runner: a process pool where a timeout kills the work.

`concurrent.futures` and `multiprocessing.Pool` cannot stop one task: a hung sympy call keeps
its worker forever, and killing a worker that shares the pool's queues can corrupt them. Here
every worker has its own pipe, so the parent can SIGKILL one worker, give its item `timeout`
(or `error` when the worker died on its own), requeue the rest of its chunk, start a
replacement, and go on. The batch always completes, in input order.

Workers come from a `forkserver` that has imported assay.verifiers (sympy, math-verify) once,
so a replacement starts in milliseconds and no worker is forked from a parent that may be
running threads. Items go out in small chunks (fewer round trips); each item's deadline starts
when the worker begins it. Each worker's address space is capped (MEMORY_LIMIT_MB), so a sympy
blow-up becomes a MemoryError verdict, not a swapping host.

Example:
    >>> from assay.verifiers import verify_batch
    >>> [v.status for v in verify_batch([{"response": "\\\\boxed{4}", "gold": "4"}], workers=1)]
    ['correct']
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Sequence

MEMORY_LIMIT_MB = 4096  # per worker (RLIMIT_AS); the code sandbox sets its own, lower, limit
CHUNK = 16  # items sent to a worker at once


@dataclass(frozen=True)
class Killed:
    """Stands in for the result of a call that did not return."""

    reason: str  # "timeout" | "died"
    detail: str


@dataclass
class RunStats:
    held_s: list[float] = field(default_factory=list)  # per call: seconds it held a worker
    killed: int = 0  # workers killed at a deadline
    died: int = 0  # workers that died by themselves
    started: int = 0  # workers started, replacements included


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" not in methods:
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    # The server imports these once; every worker is a fork of it. '__main__' is imported there
    # too, so workers do not each re-import the calling script.
    ctx.set_forkserver_preload(["__main__", "assay.verifiers", "assay.verifiers.warmup"])
    return ctx


def _worker(conn: Connection, fn: Callable[..., Any], memory_mb: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if memory_mb:
        limit = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            batch = conn.recv()
        except EOFError:
            return
        if batch is None:
            return
        for index, args in batch:
            start = time.perf_counter()
            try:
                result = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - reported as the item's result
                result = Killed("died", f"{type(exc).__name__}: {str(exc)[:200]}")
            conn.send((index, result, time.perf_counter() - start))


class _Slot:
    def __init__(self, ctx, fn: Callable[..., Any], memory_mb: int) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, fn, memory_mb), daemon=True)
        self.proc.start()
        child.close()
        self.queue: deque[int] = deque()
        self.started = 0.0  # when the worker began queue[0]

    def stop(self, kill: bool) -> None:
        if kill:
            self.proc.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.proc.join(timeout=None if kill else 2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


def run_isolated(
    fn: Callable[..., Any],
    calls: Sequence[tuple],
    workers: int,
    timeouts: Sequence[float],
    memory_mb: int = MEMORY_LIMIT_MB,
    chunk: int = CHUNK,
) -> tuple[list[Any], RunStats]:
    """fn(*calls[i]) for every i in worker processes; a call past timeouts[i] seconds is killed.

    Returns the results in input order (a `Killed` for each call that timed out or whose worker
    died) and per-call statistics. `fn` must be a picklable top-level function.
    """
    n = len(calls)
    results: list[Any] = [None] * n
    stats = RunStats(held_s=[0.0] * n)
    if n == 0:
        return results, stats
    ctx = _context()
    pending: deque[int] = deque(range(n))
    slots: list[_Slot] = []
    done = 0

    def fresh() -> _Slot:
        stats.started += 1
        return _Slot(ctx, fn, memory_mb)

    def retire(slot: _Slot, outcome: Killed, held: float) -> _Slot:
        nonlocal done
        index = slot.queue.popleft()
        results[index] = outcome
        stats.held_s[index] = held
        done += 1
        pending.extendleft(reversed(slot.queue))  # the rest of its chunk goes to another worker
        slot.queue.clear()
        slot.stop(kill=True)
        return fresh()

    try:
        slots = [fresh() for _ in range(max(1, min(workers, n)))]
        while done < n:
            now = time.monotonic()
            for slot in slots:
                if not slot.queue and pending:
                    size = max(1, min(chunk, len(pending) // (2 * len(slots))))
                    batch = [pending.popleft() for _ in range(min(size, len(pending)))]
                    slot.conn.send([(i, calls[i]) for i in batch])
                    slot.queue.extend(batch)
                    slot.started = now
            busy = [s for s in slots if s.queue]
            next_deadline = min(s.started + timeouts[s.queue[0]] for s in busy)
            ready = wait([s.conn for s in busy], timeout=max(0.0, next_deadline - time.monotonic()))
            for i, slot in enumerate(slots):
                if slot.conn not in ready:
                    continue
                try:
                    while slot.queue and slot.conn.poll():
                        index, result, held = slot.conn.recv()
                        if index != slot.queue[0]:
                            raise OSError(f"worker answered item {index}, expected {slot.queue[0]}")
                        slot.queue.popleft()
                        results[index] = result
                        stats.held_s[index] = held
                        done += 1
                        slot.started = time.monotonic()
                except (EOFError, OSError):
                    slot.proc.join(timeout=1)
                    stats.died += 1
                    code = slot.proc.exitcode
                    held = time.monotonic() - slot.started
                    slots[i] = retire(slot, Killed("died", f"worker exited with code {code}"), held)
            now = time.monotonic()
            for i, slot in enumerate(slots):
                if slot.queue and now >= slot.started + timeouts[slot.queue[0]]:
                    stats.killed += 1
                    limit = timeouts[slot.queue[0]]
                    slots[i] = retire(slot, Killed("timeout", f"killed after {limit:g} s"), now - slot.started)
    finally:
        for slot in slots:
            slot.stop(kill=done < n)
    return results, stats


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)
