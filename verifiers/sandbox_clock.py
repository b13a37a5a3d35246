"""Charged time inside the code sandbox: what a process did, not what the machine made it wait.
Standard library only: the supervisor and the tests process import it by its bare name.

A span runs from the moment a process is handed work (it is forked, or sent a request) to the
moment it hands something back (it exits, or its reply arrives). The span is charged its wall
time minus the time the process's main thread spent waiting on a run queue (`run_delay`, the
second field of /proc/PID/schedstat) and minus the observer's own wait for a CPU after the
event woke it (`timed_poll`). What is left is CPU time plus time the process chose to block
(sleep, or waiting on itself): a loop and a sleep are charged alike, a starved process is not.
A clock may also take a CPU counter (all of a solution's processes, from its cgroup); it is
then charged at least that, so threads and children add no speed for free.

Example:
    >>> clock = Clock(budget_ns=10)
    >>> clock.start(100, lambda: 0)
    >>> clock.stop(107)
    >>> clock.used, clock.exhausted(200)
    (7, False)
"""

import os
import select
import time

POLL_IN = select.POLLIN | select.POLLHUP | select.POLLERR


def schedstat(fd):
    """(ns on a CPU, ns waiting on a run queue) from an open /proc/PID/schedstat."""
    words = os.pread(fd, 128, 0).split()
    return int(words[0]), int(words[1])


def cgroup_cpu_ns(fd, unit_ns):
    """CPU nanoseconds of a cgroup's processes from its open usage file: v1 cpuacct.usage (a
    count of ns, unit_ns 1) or v2 cpu.stat (first line usage_usec, unit_ns 1000)."""
    words = os.pread(fd, 4096, 0).split()
    return int(words[1] if words[0] == b"usage_usec" else words[0]) * unit_ns


class Clock:
    """Charged nanoseconds of one process against its budget."""

    def __init__(self, budget_ns, cpu=None):
        self.budget = budget_ns
        self.used = 0
        self.span = None  # (start ns, delay callable, its value at the start)
        self.cpu = cpu  # callable -> CPU ns to charge at least, or None
        self.cpu0 = cpu() if cpu else 0

    def start(self, start, delay, delay0=None):
        """Start a span at `start` (monotonic ns); `delay` returns the process's run_delay."""
        self.span = (start, delay, delay() if delay0 is None else delay0)

    def stop(self, end):
        if self.span is not None:
            start, delay, delay0 = self.span
            self.used += max(0, end - start - (delay() - delay0))
            self.span = None

    def charged(self, now):
        total = self.used
        if self.span is not None:
            start, delay, delay0 = self.span
            total += max(0, now - start - (delay() - delay0))
        if self.cpu is not None:
            total = max(total, self.cpu() - self.cpu0)
        return total

    def left(self, now):
        return self.budget - self.charged(now)

    def exhausted(self, now):
        return self.left(now) <= 0

    def exhaust(self):
        """The process was stopped at its limit: nothing more to charge."""
        self.span = None
        self.used = max(self.used, self.budget)


def timed_poll(poller, timeout_ns, own_stat):
    """poller.poll for up to timeout_ns. Returns (events, when): `when` is the wake-up time
    less the caller's own wait for a CPU since it went to sleep (its run_delay, read from
    `own_stat`, an open /proc/self/schedstat, or None), i.e. about when the event happened."""
    before = time.monotonic_ns()
    delay = schedstat(own_stat)[1] if own_stat is not None else 0
    events = poller.poll(max(1, -(-max(0, timeout_ns) // 1_000_000)))
    woke = time.monotonic_ns()
    lag = schedstat(own_stat)[1] - delay if own_stat is not None else 0
    return events, woke - min(max(0, lag), woke - before)
