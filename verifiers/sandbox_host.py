"""The host side of the code sandbox: the cgroups of one sandbox, how it is launched, and what
comes back.

`run_sandbox` makes the sandbox's cgroups (memory and pids caps and CPU accounting for all its
processes: one cgroup per v1 hierarchy, or one cgroup v2, per controller as the host allows),
starts the supervisor (sandbox_supervisor.py) as a fresh interpreter through util-linux
`unshare` found on PATH, with a clean environment and no descriptor but its pipes and the
cgroup files, sends it the job, moves it into the cgroups while it starts (a cgroup move
waits for an RCU grace period; this way the wait overlaps the interpreter's start-up), and
collects what it reports.
At its ceiling (`sandbox_ceiling`: time it was not kept waiting for a CPU, its CPU time, or
an absolute wall-clock last resort) it kills the whole sandbox (its process group; the kernel
then kills everything in its PID namespace). It returns only after every process is gone and every
cgroup removed. A cgroup left by a worker that was killed mid-run is removed by the next run
on this host (`sweep_stale_cgroups`).

How the namespaces are made depends on what this process may do (LAUNCH_PLANS): as host root
with CAP_SYS_ADMIN the supervisor runs in new mount, network, PID, IPC, UTS and cgroup
namespaces and its children switch to uids of their own; without CAP_SYS_ADMIN a user
namespace maps this user to root inside (no own uids then). Where `unshare` fails, a `strict`
run refuses; a `weak` run goes on without namespaces and says so.

Example:
    >>> sorted(LAUNCH_PLANS)
    ['none', 'root', 'rootless']
"""

from __future__ import annotations

import functools
import itertools
import marshal
import math
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from assay.verifiers import sandbox_protocol as protocol
from assay.verifiers.sandbox_clock import cgroup_cpu_ns
from assay.verifiers.sandbox_protocol import LAYERS

_NAMESPACES = ["--mount", "--net", "--pid", "--ipc", "--uts", "--cgroup", "--fork", "--kill-child"]
LAUNCH_PLANS: dict[str, tuple[list[str] | None, str]] = {
    "root": (_NAMESPACES, "CAP_SYS_ADMIN: new namespaces, children switch to the sandbox's own uids"),
    "rootless": (["--user", "--map-root-user", *_NAMESPACES], "no CAP_SYS_ADMIN: a user namespace maps this user to root inside"),
    "none": (None, "no namespaces: only where `unshare` fails, and only in weak mode"),
}
# Host ids of the sandbox's two roles (uid, gid): far above any login or subordinate range, so
# they own nothing on the host. Used where the supervisor may switch ids (host root).
SANDBOX_IDS = {"solution": (1_950_000_001, 1_950_000_001), "tests": (1_950_000_002, 1_950_000_002)}
BOOT = "import sys; sys.path.insert(0, {folder!r}); import sandbox_supervisor; del sys.path[0]; sandbox_supervisor.main()"
CAP_SYS_ADMIN = 21
TRUSTED_MB = 96  # the supervisor's and the tests process's memory, on top of the solution's cap
TRUSTED_PIDS = 3  # `unshare`, the supervisor and the tests process
MAX_STDERR = 16_384
CGROUP_PREFIX = "assay-sbx-"

_serial = itertools.count(1)


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox run (one solution against all its tests)."""

    time_limit_s: float = 10.0  # the solution's charged time, all cases together; the tests get as much
    memory_mb: int = 1024  # the solution's processes together (cgroup), and any one of them (RLIMIT_AS)
    disk_mb: int = 64  # the private tmpfs: /tmp, which is also the working folder
    output_mb: int = 8  # one case's stdout, and any one file it writes
    nproc: int = 32  # processes and threads of the solution together


WALL_START_S = 10.0  # interpreter and namespace start-up, unshared with the clocks
WALL_FACTOR = 3.0  # the ceiling allows a sandbox a third of a CPU on average
ABSOLUTE_FACTOR = 10.0  # the last resort: a sandbox kept waiting for a CPU nine tenths of the time
SAMPLE_S = 0.25  # how often the host reads the sandbox's run delays and CPU time


@dataclass(frozen=True)
class Ceiling:
    """When the host kills a sandbox, in seconds since it started it. `own_s` counts wall time
    less the time the sandbox's processes waited for a CPU, so a loaded machine extends it;
    `cpu_s` bounds what its processes use while waiting on each other; `wall_s` ends one that
    is stuck whatever it does (blocked in the kernel, or its supervisor hung)."""

    own_s: float
    cpu_s: float
    wall_s: float


def sandbox_ceiling(limits: Limits) -> Ceiling:
    """Both clocks (solution and tests) at a third of a CPU, plus start-up, in time not spent
    waiting for a CPU and in CPU time; ABSOLUTE_FACTOR times that in wall time. Only a
    supervisor that fails gets there: a solution that loops or sleeps runs out of its own
    clock first.

    Example:
        >>> sandbox_ceiling(Limits(time_limit_s=2.0))
        Ceiling(own_s=22.0, cpu_s=22.0, wall_s=220.0)
    """
    own = WALL_START_S + WALL_FACTOR * 2 * limits.time_limit_s
    return Ceiling(own_s=own, cpu_s=own, wall_s=ABSOLUTE_FACTOR * own)


CEILINGS = {
    "own": "time not spent waiting for a CPU passed Ceiling.own_s",
    "cpu": "CPU time of all its processes passed Ceiling.cpu_s",
    "wall": "wall time passed the absolute Ceiling.wall_s",
}


def crossed(ceiling: Ceiling, wall_s: float, own_s: float, cpu_s: float) -> str | None:
    """The CEILINGS key of the first ceiling a sandbox has reached, or None.

    Example:
        >>> crossed(Ceiling(own_s=22.0, cpu_s=22.0, wall_s=220.0), wall_s=100.0, own_s=10.0, cpu_s=3.0) is None
        True
    """
    used = {"own": (own_s, ceiling.own_s), "cpu": (cpu_s, ceiling.cpu_s), "wall": (wall_s, ceiling.wall_s)}
    return next((name for name in CEILINGS if used[name][0] >= used[name][1]), None)


def waited_ns(before: dict[int, int], after: dict[int, int]) -> int:
    """Run delay (ns waiting for a CPU) the tasks of `after` (tid -> run delay) added since
    `before`. A tid new to `after`, or whose delay went down (a new task with a reused tid),
    counts its whole delay; a task that ended since `before` adds nothing more.

    Example:
        >>> waited_ns({7: 100, 8: 50}, {7: 160, 9: 30})
        90
    """
    return sum(delay - before.get(tid, 0) if delay >= before.get(tid, 0) else delay for tid, delay in after.items())


def own_step_s(interval_s: float, waited_s: float) -> float:
    """Seconds of an interval to charge to `own_s`: the interval less its tasks' summed wait
    for a CPU. Several tasks that wait at once may sum to more than the interval, which then
    charges nothing (never less: waiting cannot earn time).

    Example:
        >>> own_step_s(0.5, 0.25), own_step_s(0.5, 0.75)
        (0.25, 0.0)
    """
    return max(0.0, interval_s - waited_s)


@dataclass
class SandboxResult:
    """What one sandbox run reported."""

    layers: dict[str, str | None] = field(default_factory=dict)  # LAYERS name -> None (held) or why not
    refused: list[str] = field(default_factory=list)  # required layers missing: nothing ran
    cases: dict[int, Any] = field(default_factory=dict)  # index -> {"end", "detail", "out"/"ret"}, or what `judge` made of it
    error: str | None = None  # the sandbox itself failed
    ceiling: str | None = None  # the CEILINGS key it was killed at
    finished: bool = False  # the supervisor reported its end
    solution_s: float = 0.0  # charged seconds
    tests_s: float = 0.0
    plan: str = ""  # the LAUNCH_PLANS entry used

    @property
    def timed_out(self) -> bool:
        return self.ceiling is not None

    @property
    def missing(self) -> list[str]:
        return [name for name in LAYERS if self.layers.get(name, "not reported")]


# ---- cgroups ------------------------------------------------------------------------------


@dataclass
class Cgroups:
    """The cgroups of one sandbox (one per v1 hierarchy, or one cgroup v2). The host moves the
    sandbox's first process into every `procs` file; everything it starts inherits them."""

    dirs: list[Path] = field(default_factory=list)  # in creation order; removed in reverse
    procs: list[Path] = field(default_factory=list)
    cpu: tuple[Path, int] | None = None  # CPU usage file, nanoseconds per unit
    oom: Path | None = None  # a file with an `oom_kill N` line
    layers: dict[str, str | None] = field(default_factory=dict)


@functools.lru_cache(maxsize=1)
def _cgroup_mounts() -> tuple[dict[str, Path], Path | None]:
    """v1 hierarchies by controller, and the cgroup2 mount, from /proc/self/mountinfo (read
    once: they do not move under a running process)."""
    v1: dict[str, Path] = {}
    v2 = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            head, _, tail = line.partition(" - ")
            fstype, _, options = tail.split()[:3]
            point = Path(head.split()[4])
            if fstype == "cgroup2":
                v2 = v2 or point
            elif fstype == "cgroup":
                for option in options.split(","):
                    v1.setdefault(option, point)
    return v1, v2


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup path per v1 controller, and under "" its cgroup2 path."""
    paths: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path.lstrip("/")
    return paths


def _parents(mount: Path, own: str) -> list[Path]:
    """Where a sandbox cgroup may go: under this process's own cgroup (limits then nest),
    else under the hierarchy's root."""
    return list(dict.fromkeys([mount / own, mount]))


def _mkdir_under(mount: Path, own: str, name: str) -> Path:
    for parent in _parents(mount, own):
        try:
            (parent / name).mkdir()
            return parent / name
        except OSError:
            continue
    raise OSError(f"cannot create a cgroup under {mount}")


V1_CONTROLLERS = {"memory_cgroup": "memory", "pids_cgroup": "pids", "cpu_cgroup": "cpuacct"}


def make_cgroups(limits: Limits) -> Cgroups:
    """Create the sandbox's cgroups with whatever controllers this host lets us use; the
    layers it could not give say why."""
    v1, v2 = _cgroup_mounts()
    own = _own_cgroups()
    name = f"{CGROUP_PREFIX}{os.getpid()}-{next(_serial)}"
    cgroups = Cgroups()
    memory = (limits.memory_mb + limits.disk_mb + TRUSTED_MB) * 2**20
    pids = limits.nproc + TRUSTED_PIDS
    sweep_stale_cgroups()
    for layer, controller in V1_CONTROLLERS.items():
        if controller not in v1:
            continue
        try:
            path = _mkdir_under(v1[controller], own.get(controller, ""), name)
            cgroups.dirs.append(path)
            if controller == "memory":
                (path / "memory.limit_in_bytes").write_text(str(memory))
                if (path / "memory.memsw.limit_in_bytes").exists():  # no swap either
                    (path / "memory.memsw.limit_in_bytes").write_text(str(memory))
                cgroups.oom = path / "memory.oom_control"
            elif controller == "pids":
                (path / "pids.max").write_text(str(pids))
            else:
                cgroups.cpu = (path / "cpuacct.usage", 1)
            cgroups.procs.append(path / "cgroup.procs")
            cgroups.layers[layer] = None
        except OSError as exc:
            cgroups.layers[layer] = f"cgroup v1 {controller}: {exc}"
    wanted = [layer for layer in V1_CONTROLLERS if layer not in cgroups.layers]
    if wanted and v2 is not None:
        _make_v2(cgroups, v2, own.get("", ""), name, wanted, memory, pids)
    for layer in V1_CONTROLLERS:
        cgroups.layers.setdefault(layer, f"no cgroup controller for {layer.split('_')[0]} is mounted")
    return cgroups


def _make_v2(cgroups: Cgroups, mount: Path, own: str, name: str, wanted: list[str], memory: int, pids: int) -> None:
    """One cgroup v2 for the layers v1 did not give. cpu.stat exists without the cpu
    controller; memory and pids must be delegated by the parent, and a cgroup that holds
    processes cannot delegate, so the parent is this process's cgroup only when it can."""
    controllers = [{"memory_cgroup": "memory", "pids_cgroup": "pids"}[layer] for layer in wanted if layer != "cpu_cgroup"]
    for parent in _parents(mount, own):
        try:
            available = (parent / "cgroup.controllers").read_text().split()
            if any(c not in available for c in controllers):
                continue
            enabled = (parent / "cgroup.subtree_control").read_text().split()
            if any(c not in enabled for c in controllers):
                (parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in controllers if c not in enabled))
            path = parent / name
            path.mkdir()
        except OSError:
            continue
        cgroups.dirs.append(path)
        try:
            if "memory" in controllers:
                (path / "memory.max").write_text(str(memory))
                if (path / "memory.swap.max").exists():
                    (path / "memory.swap.max").write_text("0")
                cgroups.oom = path / "memory.events"
            if "pids" in controllers:
                (path / "pids.max").write_text(str(pids))
        except OSError as exc:
            cgroups.layers.update({layer: f"cgroup v2: {exc}" for layer in wanted})
            return
        if "cpu_cgroup" in wanted:
            cgroups.cpu = (path / "cpu.stat", 1000)
        cgroups.procs.append(path / "cgroup.procs")
        cgroups.layers.update({layer: None for layer in wanted})
        return
    cgroups.layers.update({layer: "cgroup v2: no cgroup here can delegate " + (", ".join(controllers) or "cpu") for layer in wanted})


def _procs(path: Path) -> list[int]:
    try:
        return [int(p) for p in (path / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def remove_cgroup(path: Path, attempts: int = 100) -> bool:
    """Kill whatever is still in the cgroup and remove it; True once it is gone. The kernel
    releases a cgroup a moment after its last process is reaped."""
    for attempt in range(attempts):
        try:
            path.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            pass
        for pid in _procs(path):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.002 * min(attempt + 1, 10))
    return False


def remove_cgroups(cgroups: Cgroups) -> list[Path]:
    """Remove every cgroup of a sandbox (leaves first); the ones that would not go."""
    return [path for path in reversed(cgroups.dirs) if not remove_cgroup(path)]


def sweep_stale_cgroups() -> list[Path]:
    """Remove sandbox cgroups whose creating process is dead (a worker killed mid-run);
    returns what it removed."""
    v1, v2 = _cgroup_mounts()
    own = _own_cgroups()
    parents = {p for c in V1_CONTROLLERS.values() if c in v1 for p in _parents(v1[c], own.get(c, ""))}
    if v2 is not None:
        parents |= set(_parents(v2, own.get("", "")))
    removed = []
    for parent in parents:
        try:
            entries = [p for p in parent.iterdir() if p.name.startswith(CGROUP_PREFIX)]
        except OSError:
            continue
        for path in entries:
            match = re.fullmatch(rf"{CGROUP_PREFIX}(\d+)-\d+", path.name)
            if match is None or _alive(int(match.group(1))):
                continue
            if remove_cgroup(path, attempts=10):
                removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---- launching ------------------------------------------------------------------------------


def choose_plan() -> str:
    """"root" when this process holds CAP_SYS_ADMIN, else "rootless"."""
    with open("/proc/self/status") as f:
        caps = next((int(line.split()[1], 16) for line in f if line.startswith("CapEff:")), 0)
    return "root" if caps >> CAP_SYS_ADMIN & 1 else "rootless"


def _host_namespaces() -> dict[str, int]:
    return {kind: os.stat(f"/proc/self/ns/{kind}").st_ino for kind in ("mnt", "net", "pid", "ipc")}


def run_sandbox(job: dict[str, Any], limits: Limits, strict: bool = True, judge: Callable[[dict[str, Any]], Any] | None = None) -> SandboxResult:
    """Run one job ({"mode": "stdio"|"call"|"assert"|"probe", "code", "fn_name", "inputs",
    "imports", "setup", "tests"}) in a fresh sandbox. strict=True requires every layer and
    runs nothing without them; strict=False runs with what the host gives. `judge`, when
    given, turns each case's message into what `cases` keeps, as it arrives: a solution that
    prints megabytes in every case then costs the host one case's output at a time."""
    if sys.platform != "linux":  # namespaces, cgroups, seccomp and /proc are Linux's
        return SandboxResult(layers={name: f"not Linux ({sys.platform})" for name in LAYERS}, refused=sorted(LAYERS),
                             error=f"the code sandbox needs Linux, this is {sys.platform}")
    required = sorted(LAYERS) if strict else []
    cgroups = make_cgroups(limits)
    missing = [name for name, why in cgroups.layers.items() if why]
    if strict and missing:
        remove_cgroups(cgroups)
        return SandboxResult(layers=dict(cgroups.layers), refused=missing)
    folder = tempfile.mkdtemp(prefix=CGROUP_PREFIX)
    try:
        unshare = shutil.which("unshare")
        if unshare is None:
            result = SandboxResult(error="`unshare` not found on PATH")
        else:
            result = _launch(choose_plan(), unshare, job, limits, required, cgroups, folder, judge)
        if not result.layers and not result.timed_out:  # no supervisor reported its layers
            why = result.error
            if strict:
                namespaces = ["mount_ns", "net_ns", "pid_ns", "ipc_ns"]
                layers = {**cgroups.layers, **{name: why for name in namespaces}}
                return SandboxResult(layers=layers, refused=namespaces, error=why)
            result = _launch("none", "", job, limits, required, cgroups, folder, judge)
        return result
    finally:
        remove_cgroups(cgroups)
        shutil.rmtree(folder, ignore_errors=True)


def _launch(plan: str, unshare: str, job: dict[str, Any], limits: Limits, required: list[str], cgroups: Cgroups, folder: str,
            judge: Callable[[dict[str, Any]], Any] | None) -> SandboxResult:
    flags = LAUNCH_PLANS[plan][0]
    python = os.path.realpath(sys.executable)
    boot = BOOT.format(folder=str(Path(__file__).resolve().parent))
    argv = [python, "-I", "-S", "-c", boot]
    if flags is not None:
        argv = [unshare, *flags, "--", *argv]
    opened: list[int] = []

    def open_fd(path: Path, flags: int) -> int:
        opened.append(os.open(path, flags))
        return opened[-1]

    try:
        fds = {
            "sandbox": [open_fd(p, os.O_RDWR) for p in cgroups.procs],
            "cpu": (open_fd(cgroups.cpu[0], os.O_RDONLY), cgroups.cpu[1]) if cgroups.cpu else None,
            "oom": open_fd(cgroups.oom, os.O_RDONLY) if cgroups.oom else None,
        }
        message = {
            "plan": plan,
            "host_ns": _host_namespaces(),
            "root": folder,
            "mode": job["mode"],
            "code": job.get("code", ""),
            "fn_name": job.get("fn_name"),
            "inputs": job.get("inputs", []),
            "imports": job.get("imports", []),
            "limits": {
                "time_ns": int(limits.time_limit_s * 1e9),
                "cpu_s": math.ceil(limits.time_limit_s) + 1,
                "memory_bytes": limits.memory_mb * 2**20,
                "disk_mb": limits.disk_mb,
                "output_bytes": limits.output_mb * 2**20,
                "nproc": limits.nproc,
            },
            "required": required,
            "cgroups": fds,
            "cgroup_layers": cgroups.layers,
            "ids": SANDBOX_IDS,
        }
        frames = protocol.frame(marshal.dumps(message))
        if job["mode"] == "assert":  # read by the supervisor only after the solution is forked
            frames += protocol.frame(marshal.dumps({"setup": job["setup"], "tests": job["tests"]}))
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=opened,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            cwd="/",
            # Its own process group, killed as one; not a session of its own, which would also
            # make the scheduler build it an autogroup (measured: 11% more wall time per item).
            **({"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}),
        )
        os.set_blocking(proc.stdin.fileno(), False)
        try:  # the job first, so the supervisor can build its root while we wait below
            frames = frames[os.write(proc.stdin.fileno(), frames) :]
        except (BlockingIOError, BrokenPipeError):
            pass
        # Move the supervisor into the cgroups now, while its interpreter starts: the first
        # cgroup move after a quiet spell waits for an RCU grace period (milliseconds). Where
        # we cannot find it (no /proc/PID/task/TID/children), it joins by itself.
        targets = [proc.pid] if flags is None else [pid for pid in (_child(proc.pid), proc.pid) if pid]
        for fd in fds["sandbox"]:
            for pid in targets:
                try:
                    os.write(fd, str(pid).encode())
                except OSError:  # already gone: `unshare` failed
                    pass
    finally:
        for fd in opened:
            os.close(fd)
    result = SandboxResult(plan=plan)
    try:
        stderr = _exchange(proc, frames, Meter(cgroups, proc.pid, sandbox_ceiling(limits)), result, judge)
    finally:
        _kill(proc)
    if not result.layers:  # `unshare` could not make the namespaces, or the supervisor died before it said what it had
        said = stderr.strip()
        if flags is not None and said.startswith("unshare:"):  # util-linux's unshare names itself in its errors
            result.error = f"`unshare` failed: {said[-300:]}"
        else:
            result.error = f"the sandbox supervisor stopped before reporting its layers (exit {proc.returncode}): {said[-300:]}"
    elif not result.refused and not result.finished and not result.timed_out:
        result.error = f"the sandbox supervisor failed (exit {proc.returncode}): {stderr.strip()[-300:]}"
    return result


def _child(pid: int, wait_s: float = 0.2) -> int | None:
    """The first child `pid` forks (the supervisor `unshare` starts), once it exists."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:  # gone, or a kernel without CONFIG_PROC_CHILDREN
            return None
        if children:
            return int(children[0])
        time.sleep(0.0002)
    return None


class Meter:
    """A running sandbox's use of its Ceiling, read from the host every SAMPLE_S: wall time,
    `own` time (wall less the run delay of its cgroup's tasks, or of the supervisor's host
    process where it has no cgroup), and its cgroup's CPU time. The delay of a task that ends
    between two readings is not seen: the sandbox is charged it, never given time."""

    def __init__(self, cgroups: Cgroups, pid: int, ceiling: Ceiling) -> None:
        self.procs = cgroups.procs[0] if cgroups.procs else None
        self.cpu = cgroups.cpu
        self.pid = pid
        self.ceiling = ceiling
        self.start = self.last = time.monotonic()
        self.own_s = 0.0
        self.delays: dict[int, int] = {}

    def _pids(self) -> list[int]:
        if self.procs is None:
            return [self.pid]
        try:
            return [int(p) for p in self.procs.read_text().split()]
        except OSError:
            return []

    def _delays(self) -> dict[int, int]:
        delays = {}
        for pid in self._pids():
            try:
                tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
            except OSError:  # already gone
                continue
            for tid in tids:
                try:
                    delays[tid] = int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[1])
                except (OSError, IndexError, ValueError):
                    continue
        return delays

    def _cpu_s(self) -> float:
        if self.cpu is None:
            return 0.0
        try:
            fd = os.open(self.cpu[0], os.O_RDONLY)
        except OSError:
            return 0.0
        try:
            return cgroup_cpu_ns(fd, self.cpu[1]) / 1e9
        finally:
            os.close(fd)

    def over(self) -> str | None:
        """The CEILINGS key the sandbox has reached, or None; reads it at most every SAMPLE_S."""
        now = time.monotonic()
        if now - self.last < SAMPLE_S:
            return None
        delays = self._delays()
        self.own_s += own_step_s(now - self.last, waited_ns(self.delays, delays) / 1e9)
        self.delays.update(delays)
        self.last = now
        return crossed(self.ceiling, now - self.start, self.own_s, self._cpu_s())


def _exchange(proc: subprocess.Popen, frames: bytes, meter: Meter, result: SandboxResult, judge: Callable[[dict[str, Any]], Any] | None) -> str:
    """Send what is left of the job, read reports until the supervisor closes its stdout or
    `meter` reaches its ceiling; returns its stderr (capped). The supervisor's stdin stays
    open: closing it tells the sandbox its host is gone."""
    assert proc.stdin and proc.stdout and proc.stderr
    reader = protocol.FrameReader(protocol.MAX_VALUE_BYTES + 2**24)
    pending = memoryview(frames)
    stderr = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        selector.register(proc.stderr, selectors.EVENT_READ)
        if pending:
            selector.register(proc.stdin, selectors.EVENT_WRITE)
        while proc.stdout in [key.fileobj for key in selector.get_map().values()]:
            result.ceiling = meter.over()
            if result.timed_out:
                break
            for key, _ in selector.select(SAMPLE_S):
                if key.fileobj is proc.stdin:
                    try:
                        pending = pending[os.write(proc.stdin.fileno(), pending) :]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:
                        pending = pending[len(pending) :]
                    if not pending:
                        selector.unregister(proc.stdin)
                    continue
                data = os.read(key.fd, 1 << 20)
                if not data:
                    selector.unregister(key.fileobj)
                elif key.fileobj is proc.stderr:
                    stderr += data
                    del stderr[:-MAX_STDERR]
                else:
                    for frame in reader.feed(data):
                        _record(marshal.loads(frame), result, judge)
    return stderr.decode("utf-8", "replace")


def _record(message: dict[str, Any], result: SandboxResult, judge: Callable[[dict[str, Any]], Any] | None) -> None:
    if "layers" in message:
        result.layers = {name: message["layers"].get(name, "not reported") for name in LAYERS}
    elif "refused" in message:
        result.refused = list(message["refused"])
    elif "case" in message and message["case"] not in result.cases:
        result.cases[message["case"]] = judge(message) if judge else message
    elif "done" in message:
        result.finished = True
        result.solution_s = message["done"]["solution_s"]
        result.tests_s = message["done"]["tests_s"]


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None and not stream.closed:
            stream.close()
    proc.wait()


def sandbox_check(limits: Limits = Limits(time_limit_s=5.0)) -> dict[str, str | None]:
    """Every layer of LAYERS -> None when this host gives it, else why not (a weak probe run
    that starts the sandbox and runs nothing)."""
    result = run_sandbox({"mode": "probe"}, limits, strict=False)
    if result.layers:
        return dict(result.layers)
    return {name: result.error or "the sandbox did not start" for name in LAYERS}
