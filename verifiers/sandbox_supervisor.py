"""The code sandbox's supervisor: process 1 of the sandbox, the only trusted code inside it.

The host starts it as a fresh interpreter (`unshare --mount --net --pid --ipc --uts --cgroup
--fork --kill-child python -I -S -c "...; sandbox_supervisor.main()"`), with an environment of
two variables and no descriptor but three pipes and the cgroup files the host opened. Nothing
it runs is a descendant of the verifier pool or sees its memory.

1. It reads the job (marshal, from the host), checks that each namespace really is new (a
   lying `unshare` cannot make it mount on the host), builds the minimal root (a tmpfs holding read-only binds of /usr, the library folders and
   the interpreter's prefix at its own path, four device files, a /proc of its own PID
   namespace that lists only the reader's own processes, and a size-capped /tmp), pivots into
   it, detaches the old root, and remounts its own root read-only. Before it forks anything
   it makes sure it is in the sandbox's cgroups (the host moves `unshare` there while the
   interpreter starts; the supervisor joins itself when that raced with `unshare`'s fork).
2. It forks the solution (one process per stdin/stdout case, or one server process for call
   and assert-style tests) and, for assert-style tests, the tests process under another uid,
   each in a fresh PID namespace of its own, so that killing it kills everything it started.
   Each child drops to its uid, loses every capability, sets no_new_privs, loads the seccomp
   filter, reports what it could not get, closes every descriptor but its own, and only then
   runs untrusted code. With the first report the supervisor tells the host every layer of
   sandbox_protocol.LAYERS; a child missing a layer the job requires exits without running
   anything, and the supervisor answers `refused`. The tests reach the solution only through
   the supervisor, which relays calls as encoded plain values.

Time: every process has a Clock. A span runs from the moment the supervisor hands a process
work (fork, a request, a reply) to the moment that process hands something back (exit, a
reply, a call); it is charged its wall time minus the time the process's main thread waited
for a CPU (run_delay in /proc/PID/schedstat) and minus the supervisor's own wake-up delay. So a
span counts CPU time and time the process chose to block (sleep, waiting on itself) but not
time the machine made it wait. The solution is also charged at least the CPU time of all its
processes together (the sandbox's cgroup less the trusted processes' own), so threads and
children add no speed for free. When a clock passes its budget the process is killed and the
outcome is decided: `time_limit` (or `tests_time_limit`). A sleep-forever is charged like a
loop and fails the same way; only the host's much larger wall-clock ceiling, which needs the
machine to starve the sandbox, leaves a verdict undecided.

Messages to the host are marshal frames: {"layers": {name: None or why missing}},
{"refused": [names]}, {"case": i, "end": code, "detail": text, "out"/"ret": bytes}, and
{"done": {"solution_s": ..., "tests_s": ...}}. `end` is one of END_CODES.

Example (run by the host; see sandbox_host.run_sandbox):
    >>> sorted(END_CODES)[:3]
    ['crash', 'died', 'failed']
"""

import fcntl
import gc
import marshal
import os
import resource
import select
import sys
import time

try:  # inside the sandbox this folder is on sys.path; on the host these are package modules
    import sandbox_protocol as protocol
    import sandbox_roles as roles
    import sandbox_syscalls as sc
    from sandbox_clock import POLL_IN, Clock, cgroup_cpu_ns, schedstat, timed_poll
except ImportError:
    from assay.verifiers import sandbox_protocol as protocol
    from assay.verifiers import sandbox_roles as roles
    from assay.verifiers import sandbox_syscalls as sc
    from assay.verifiers.sandbox_clock import POLL_IN, Clock, cgroup_cpu_ns, schedstat, timed_poll

SIGKILL, SIGXCPU, SIGXFSZ = 9, 24, 25  # the same on x86_64 and aarch64 (no enum import: start-up time)
END_CODES = {
    "ok": "ran to its end (stdio: output follows; call: return value follows; assert: passed)",
    "failed": "a test statement raised (detail: the exception type)",
    "crash": "the program raised an uncaught exception (detail: its type)",
    "raised": "the called function raised (detail: its type)",
    "load_error": "the program raised while loading as a module (detail: its type)",
    "refused": "the value it returned is not plain data",
    "time_limit": "the solution's clock passed its budget",
    "tests_time_limit": "the tests' clock passed their budget",
    "memory_limit": "killed by the sandbox's memory cap",
    "output_limit": "wrote more than the output cap",
    "died": "killed by a signal or exited in the middle (detail: how)",
    "setup_failed": "the tests' setup statements raised (detail: the exception type)",
    "tests_died": "the tests process died on its own",
    "protocol": "the solution wrote something that is not a reply",
}
CHILD_FAILED = 70  # a child could not lock itself down; nothing untrusted ran
MAX_JOB_BYTES = 1 << 30
# Weak mode without a mount namespace: the interpreter's prefix, opened by the supervisor, for
# a sandbox uid that cannot reach it by its path (Python under a 0700 home): the children
# import through /proc/self/fd/PREFIX_FD, which needs no search permission on the folders above.
PREFIX_FD = 9
ROOT_SOURCES = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc/ld.so.cache")
DEVICES = ("null", "zero", "urandom", "random")
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC = 0x1, 0x2, 0x4, 0x8
AT_RECURSIVE = 0x8000
PIPE_BYTES = 1 << 20
# The standard-library modules a program imports at top level are imported here once, before
# the fork: the solution, the tests process and every stdin/stdout case inherit them instead of
# each paying for them, and where there is no mount namespace (weak mode) and the interpreter
# lives where the sandbox's uid cannot read it (Python under a 0700 home), they still load. Not
# these, which do something when imported (print, open a browser, start a GUI, touch the
# terminal, install, run a test suite) rather than define things, nor any `__main__` module;
# and no more than PRELOAD_MAX: the rest the program imports itself, on its own clock.
NEVER_PRELOAD = frozenset({"__hello__", "__phello__", "antigravity", "ensurepip", "idlelib", "readline", "test", "this", "tkinter",
                           "turtle", "turtledemo", "venv"})
PRELOAD_MAX = 32


def main():
    sc.prctl(sc.PR_SET_DUMPABLE, 0)  # no other process may read our memory or /proc files
    frame = protocol.read_frame(0, MAX_JOB_BYTES)
    if frame is not None:
        Supervisor(marshal.loads(frame)).run()
    os._exit(0)


def send(message):
    protocol.write_frame(1, marshal.dumps(message))


class Refusal(Exception):
    """A child lacks a layer the job requires: nothing untrusted ran."""


class Child:
    """One forked process: its pidfd, and its main thread's schedstat for the clocks."""

    def __init__(self, pid, report):
        self.pid = pid
        self.report = report  # the read end of its lock-down report
        self.pidfd = os.pidfd_open(pid)
        try:
            self.stat = os.open(f"/proc/{pid}/schedstat", os.O_RDONLY)
        except FileNotFoundError:  # no CONFIG_SCHED_INFO (the schedstat layer says so): wall time
            self.stat = None
        self.status = None
        self.final = (0, 0)

    def schedstat(self):
        """(ns on a CPU, ns waiting on a run queue) of its main thread."""
        return self.final if self.status is not None or self.stat is None else schedstat(self.stat)

    def delay(self):
        return self.schedstat()[1]

    def kill(self):
        if self.status is None:
            try:
                os.kill(self.pid, SIGKILL)
            except ProcessLookupError:
                pass

    def reap(self):
        """Its wait status, once it is gone (its schedstat is read first: a zombie keeps it)."""
        if self.status is None:
            self.final = self.schedstat()
            self.status = os.waitpid(self.pid, 0)[1]
            os.close(self.pidfd)
            if self.stat is not None:
                os.close(self.stat)
        return self.status


class Supervisor:
    def __init__(self, job):
        self.job = job
        self.limits = job["limits"]
        self.required = set(job["required"])
        self.workdir = job["root"]
        self.nested = False  # each child in a PID namespace of its own
        self.switch_ids = False
        self.own_stat = None  # our /proc/self/schedstat
        self.devnull = None
        self.pidns_fd = None
        self.prefix_fd = None  # see PREFIX_FD
        self.layers = {}
        self.reported = False
        self.writes = {}  # fd -> bytes still to write (non-blocking pipes to children)
        self.children = []
        self.trusted = []  # children whose CPU is not the solution's (the tests)
        self.cpus = len(os.sched_getaffinity(0))  # how fast the solution's processes can use CPU time
        self.machine = os.uname().machine
        self.seccomp = None  # the filter, built once for every child (establish)

    # ---- setting up ---------------------------------------------------------------------

    def run(self):
        self.establish()
        _preload(_imported(self.job["code"]))
        # Children are forks of this process: objects the collector never visits again are
        # pages a child's collections never copy.
        gc.freeze()
        mode = self.job["mode"]
        try:
            if mode == "probe":
                self.confirm(self.spawn("solution", {0: self.devnull, 1: self.devnull, 2: self.devnull}, None)).reap()
                solution_s, tests_s = 0.0, 0.0
            elif mode == "stdio":
                solution_s, tests_s = self.run_stdio()
            else:
                solution_s, tests_s = self.run_server(mode)
            send({"done": {"solution_s": solution_s, "tests_s": tests_s}})
        except Refusal:
            send({"refused": sorted(name for name in self.required if self.layers.get(name))})
        finally:
            for child in self.children:
                child.kill()
            for child in self.children:
                child.reap()

    def establish(self):
        """Join the cgroups, build the root, and note which layers hold (None) or not (why)."""
        job = self.job
        layers = dict(job["cgroup_layers"])
        new = {kind: os.stat(f"/proc/self/ns/{kind}").st_ino != inode for kind, inode in job["host_ns"].items()}
        namespaced = job["plan"] != "none"
        self.switch_ids = self._ids_mapped()
        if not namespaced:
            layers["mount_ns"] = "no namespaces: `unshare` was not used"
        elif not new["mnt"]:
            layers["mount_ns"] = "the mount namespace is the host's"
        else:
            layers["mount_ns"] = self.build_root()
        if layers["mount_ns"] and self.switch_ids:
            os.chown(self.workdir, *self.job["ids"]["solution"])
            self.prefix_fd = os.open(os.path.realpath(sys.base_prefix), os.O_RDONLY | os.O_DIRECTORY)
        layers["net_ns"] = None if namespaced and new["net"] else "no new network namespace: the host's network is reachable"
        if self.machine in sc.ARCHES:
            self.seccomp = sc.seccomp_program(self.machine, unix_sockets=layers["net_ns"] is None)
        layers["ipc_ns"] = None if namespaced and new["ipc"] else "no new IPC namespace"
        layers["schedstat"] = None
        try:
            self.own_stat = os.open("/proc/self/schedstat", os.O_RDONLY)
        except OSError:
            layers["schedstat"] = "no /proc/PID/schedstat (kernel without CONFIG_SCHED_INFO): time limits count wall time"
        self.devnull = os.open("/dev/null", os.O_RDWR)
        self.pidns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY)
        try:
            sc.unshare(sc.CLONE_NEWPID)
            sc.setns(self.pidns_fd, sc.CLONE_NEWPID)
            self.nested = True
        except OSError as exc:
            layers["pid_ns"] = f"cannot give each process a PID namespace ({exc.strerror})"
        if not (namespaced and new["pid"] and os.getpid() == 1):
            layers["pid_ns"] = "no new PID namespace: host processes are visible"
        layers.setdefault("pid_ns", None)
        self.layers = layers
        for procs in job["cgroups"]["sandbox"]:  # before anything is forked, so all of it is inside
            if str(os.getpid()).encode() not in os.pread(procs, 1 << 16, 0).split():
                os.write(procs, b"0")  # the host's move lost the race with `unshare`'s fork
            os.close(procs)

    def _ids_mapped(self):
        """Whether children may switch to the job's uids and gids (host root, or a user
        namespace that maps them)."""
        if os.geteuid() != 0:
            return False
        for kind, index in (("uid", 0), ("gid", 1)):
            with open(f"/proc/self/{kind}_map") as f:
                ranges = [tuple(int(x) for x in line.split()) for line in f if line.strip()]
            for role in ("solution", "tests"):
                value = self.job["ids"][role][index]
                if not any(inside <= value < inside + count for inside, _, count in ranges):
                    return False
        return True

    def build_root(self):
        """The minimal root (module docstring, step 1); None, or why it could not be built."""
        root = self.job["root"]
        old_umask = os.umask(0)
        try:
            sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
            sc.mount("tmpfs", root, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV, "size=4m,nr_inodes=4096,mode=0755")
            for source in _root_sources():
                _bind_readonly(source, root + source)
            os.mkdir(root + "/dev", 0o755)
            for name in DEVICES:
                target = f"{root}/dev/{name}"
                os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o666))
                sc.mount(f"/dev/{name}", target, None, sc.MS_BIND)
                _setattr(target, 0, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC)
            for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                                 ("stderr", "/proc/self/fd/2"), ("shm", "/tmp")):
                os.symlink(target, f"{root}/dev/{name}")
            os.mkdir(root + "/proc", 0o555)
            proc_flags = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC
            try:  # list only processes the reader may trace, and nothing of the kernel's but pids
                sc.mount("proc", root + "/proc", "proc", proc_flags, "hidepid=invisible,subset=pid")
            except OSError:
                sc.mount("proc", root + "/proc", "proc", proc_flags, "hidepid=2")
            os.mkdir(root + "/tmp", 0o1777)
            disk = int(self.limits["disk_mb"])
            sc.mount("tmpfs", root + "/tmp", "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, f"size={disk}m,nr_inodes=16384,mode=1777")
            os.chdir(root)
            sc.pivot_root(".", ".")
            sc.umount2(".", sc.MNT_DETACH)  # the old root, stacked on top of ours, goes away
            os.chdir("/")
            sc.mount(None, "/", None, sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV)
        except OSError as exc:
            return f"cannot build the minimal root: {exc}"
        finally:
            os.umask(old_umask)
        self.workdir = "/tmp"
        return None

    # ---- children ----------------------------------------------------------------------

    def spawn(self, role, fds, run):
        """Fork a child (in a PID namespace of its own when we can make one) that locks itself
        down, reports what it could not get, keeps only `fds` ({target: source}) and calls
        run(); a child that lacks a required layer exits without running anything. Read its
        report with `confirm` before relying on it."""
        report_r, report_w = os.pipe()
        if self.nested:
            sc.unshare(sc.CLONE_NEWPID)  # the next fork's child is process 1 of a new namespace
        try:
            pid = os.fork()
        except BaseException:
            if self.nested:
                sc.setns(self.pidns_fd, sc.CLONE_NEWPID)
            raise
        if pid == 0:
            status = CHILD_FAILED
            try:
                os.close(report_r)
                missing = self.enter(role, report_w)
                if self.prefix_fd is not None:
                    _place_fds({**fds, PREFIX_FD: self.prefix_fd})
                    _import_through(os.path.realpath(sys.base_prefix), f"/proc/self/fd/{PREFIX_FD}")
                else:
                    _place_fds(fds)
                if not self.required & set(missing):
                    if run is not None:
                        run()
                    status = 0
            finally:
                os._exit(status)
        if self.nested:
            sc.setns(self.pidns_fd, sc.CLONE_NEWPID)  # back: unshare(CLONE_NEWPID) works once per namespace
        os.close(report_w)
        child = Child(pid, report_r)
        self.children.append(child)
        if role == "tests":
            self.trusted.append(child)
        return child

    def confirm(self, child):
        """Read the child's lock-down report. The first one completes the layers sent to the
        host; Refusal when the child lacks a layer the job requires."""
        try:  # written by our own code in the child before anything untrusted ran
            missing = marshal.loads(_read_all(child.report))
        except (EOFError, ValueError, TypeError):
            missing = {"no_caps": "the child failed while locking down"}
        if not self.reported:
            self.reported = True
            self.layers.update({name: missing.get(name) for name in ("own_uid", "no_caps", "seccomp")})
            send({"layers": self.layers})
        if self.required & set(missing):
            raise Refusal()
        return child

    def enter(self, role, report):
        """In the child, before untrusted code: memory priority, limits, environment, then
        lock_down; writes what it missed to `report` and returns it."""
        if role == "solution":
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("1000")  # the memory cap's OOM killer takes the solution first
        limits = self.limits
        cpu = int(limits["cpu_s"])
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # a backstop: the clocks decide first
        resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"], limits["memory_bytes"]))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits["output_bytes"], limits["output_bytes"]))
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if self.layers.get("pids_cgroup"):  # without a pids cgroup the per-uid limit is all there is
            resource.setrlimit(resource.RLIMIT_NPROC, (limits["nproc"], limits["nproc"]))
        os.chdir(self.workdir)
        os.umask(0o077)
        os.environ.clear()
        os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": self.workdir, "TMPDIR": self.workdir, "LANG": "C.UTF-8"})
        missing = self.lock_down(role)
        os.write(report, marshal.dumps(missing))
        os.close(report)
        return missing

    def lock_down(self, role):
        """Drop to the role's uid, every capability, no_new_privs, then seccomp. Returns the
        layers it could not apply, with why."""
        missing = {}
        uid, gid = self.job["ids"][role]
        if os.geteuid() == 0:
            sc.drop_bounding_set()
        if self.switch_ids:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
        else:
            missing["own_uid"] = "the sandbox's uids are not available (not root, or a user namespace that maps one uid)"
        sc.clear_capabilities()
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
        with open("/proc/self/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        if int(status["CapEff"], 16) or int(status["CapPrm"], 16) or status["NoNewPrivs"].strip() != "1":
            missing["no_caps"] = "capabilities could not be dropped"
        if self.seccomp is None:
            missing["seccomp"] = f"no system call table for {self.machine}"
        else:
            try:
                sc.install_seccomp(self.seccomp)
            except OSError as exc:
                missing["seccomp"] = f"the kernel refused the filter ({exc.strerror})"
        if role == "tests":
            sc.prctl(sc.PR_SET_DUMPABLE, 0)  # the tests hold the expected values
        return missing

    # ---- waiting and timing ------------------------------------------------------------

    def own_cpu(self):
        return schedstat(self.own_stat)[0] if self.own_stat is not None else 0

    def wait(self, fds, clocks):
        """Poll `fds` (and pending writes) until one is readable or a clock may have run out.
        Returns (ready fds, when the event happened): the wake-up time less our own wait for
        a CPU since we slept. The host closing our stdin ends everything."""
        now = time.monotonic_ns()
        timeout = 1_000_000_000
        for clock in clocks:
            if clock.span is not None or clock.cpu is not None:
                left = clock.budget - clock.charged(now)
                timeout = min(timeout, left // self.cpus if clock.cpu is not None else left)
        poller = select.poll()
        for fd in fds:
            poller.register(fd, POLL_IN)
        for fd in self.writes:
            poller.register(fd, select.POLLOUT)
        poller.register(0, POLL_IN)
        events, when = timed_poll(poller, timeout, self.own_stat)
        ready = set()
        for fd, event in events:
            if fd == 0:
                raise SystemExit("the host went away")
            if fd in self.writes and event & select.POLLOUT:
                self._flush(fd)
            if event & POLL_IN:
                ready.add(fd)
        return ready, when

    def queue(self, fd, message):
        """Send a frame on a non-blocking pipe to a child; what does not fit waits for POLLOUT."""
        self.writes[fd] = self.writes.get(fd, b"") + protocol.frame(message)
        self._flush(fd)

    def _flush(self, fd):
        try:
            written = os.write(fd, self.writes[fd])
        except BlockingIOError:
            return
        except BrokenPipeError:
            written = len(self.writes[fd])
        rest = self.writes[fd][written:]
        if rest:
            self.writes[fd] = rest
        else:
            del self.writes[fd]

    def oom_kills(self):
        """OOM kills in the sandbox's memory cgroup so far."""
        fd = self.job["cgroups"]["oom"]
        if fd is None:
            return 0
        for line in os.pread(fd, 4096, 0).decode().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def solution_cpu(self):
        """CPU nanoseconds of the solution's processes: the sandbox cgroup's (v1 cpuacct.usage
        in ns, or v2 cpu.stat usage_usec) less our own and the tests process's."""
        return cgroup_cpu_ns(*self.job["cgroups"]["cpu"]) - self.own_cpu() - sum(child.schedstat()[0] for child in self.trusted)

    def solution_clock(self):
        return Clock(self.limits["time_ns"], self.solution_cpu if self.job["cgroups"]["cpu"] is not None else None)

    def ending(self, child, oom_before):
        """(end code, detail) for a child that is gone, never "ok": a solution that exits in
        the middle of serving calls has not answered them."""
        status = child.reap()
        if self.oom_kills() > oom_before:
            return "memory_limit", ""
        if os.WIFSIGNALED(status):
            signal = os.WTERMSIG(status)
            if signal == SIGXCPU:
                return "time_limit", ""
            if signal == SIGXFSZ:
                return "output_limit", ""
            return "died", f"signal {signal}"
        code = os.WEXITSTATUS(status)
        return ("crash", "") if code == 1 else ("died", f"exit {code}")

    def run_child(self, child, clock):
        """Wait for the child's exit while its clock runs. True when it exited, False when the
        clock ran out first (it is then killed)."""
        while True:
            ready, when = self.wait([child.pidfd], [clock])
            if ready:
                clock.stop(when)
                return True
            if clock.exhausted(time.monotonic_ns()) and not _readable(child.pidfd):
                clock.exhaust()
                child.kill()
                child.reap()
                return False

    # ---- modes -------------------------------------------------------------------------

    def run_stdio(self):
        """One process per case; the bytes in its stdout file are the output. Returns the
        charged seconds (solution, tests)."""
        code = self.job["code"]
        clock = self.solution_clock()
        cap = self.limits["output_bytes"]
        for index, text in enumerate(self.job["inputs"]):
            if clock.exhausted(time.monotonic_ns()):
                send({"case": index, "end": "time_limit", "detail": ""})
                continue
            stdin, out, status = os.memfd_create("stdin"), os.memfd_create("stdout"), os.memfd_create("status")
            os.write(stdin, text)
            os.lseek(stdin, 0, os.SEEK_SET)
            oom = self.oom_kills()
            start = time.monotonic_ns()
            child = self.confirm(self.spawn("solution", {0: stdin, 1: out, 2: self.devnull, 3: status}, lambda: roles.run_stdio_case(code)))
            clock.start(start, child.delay, 0)
            if not self.run_child(child, clock):
                end, detail = "time_limit", ""
            elif child.reap() == 0 and self.oom_kills() == oom:
                end, detail = "ok", ""
            else:
                end, detail = self.ending(child, oom)
            message = {"case": index, "end": end, "detail": detail}
            if end in ("ok", "crash") and os.fstat(out).st_size >= cap:
                message.update(end="output_limit", detail="")
            elif end == "ok":
                message["out"] = os.pread(out, cap, 0)
            elif end == "crash":
                message["detail"] = _identifier(os.pread(status, 64, 0))
            for fd in (stdin, out, status):
                os.close(fd)
            self.children.remove(child)
            send(message)
        return clock.charged(time.monotonic_ns()) / 1e9, 0.0

    def run_server(self, mode):
        """Call mode (fn_name): the supervisor calls the solution with each case's arguments.
        Assert mode: the tests process calls the solution itself (run_tests). Returns the
        charged seconds (solution, tests)."""
        job = self.job
        requests_r, requests_w = os.pipe()
        replies_r, replies_w = os.pipe()
        fcntl.fcntl(requests_w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        fcntl.fcntl(replies_w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        clock = self.solution_clock()
        oom = self.oom_kills()
        start = time.monotonic_ns()
        child = self.spawn("solution", {0: self.devnull, 1: self.devnull, 2: self.devnull, 3: requests_r, 4: replies_w},
                           lambda: roles.serve_solution(job["code"], job["imports"], job["fn_name"]))
        os.close(requests_r)
        os.close(replies_w)
        if mode == "assert":
            return self.run_tests(child, requests_w, replies_r, start, clock, oom)
        os.set_blocking(requests_w, False)
        os.set_blocking(replies_r, False)
        self.confirm(child)
        server = Server(self, child, requests_w, replies_r, clock, oom)
        clock.start(start, child.delay, 0)
        loaded = server.receive()
        for index, args in enumerate(job["inputs"]):
            if loaded is None or loaded[:1] != b"Y":
                send(_load_failure(index, loaded, server.gone))
                continue
            if server.gone is None:
                server.call(job["fn_name"], args)
                reply = server.receive()
            send(_call_case(index, reply if server.gone is None else None, server.gone))
        return clock.charged(time.monotonic_ns()) / 1e9, 0.0

    def run_tests(self, solution, requests_w, replies_r, start, clock, oom):
        """Assert mode: the tests process (forked while the solution loads) gets the solution's
        pipes and its schedstat and times each call itself (sandbox_roles.run_tests); here we
        cap the CPU of both, kill the solution when the tests give up on it, and report each
        case. Returns the charged seconds (solution, tests)."""
        jobs_r, jobs_w = os.pipe()
        reports_r, reports_w = os.pipe()
        tests = self.spawn("tests", {0: self.devnull, 1: self.devnull, 2: self.devnull, 3: jobs_r, 4: reports_w,
                                     5: solution.stat if solution.stat is not None else self.devnull, 6: replies_r, 7: requests_w},
                           roles.run_tests)
        for fd in (jobs_r, reports_w, replies_r, requests_w):
            os.close(fd)
        self.confirm(solution)
        self.confirm(tests)
        os.set_blocking(jobs_w, False)
        # The tests reach us only now: neither child was forked with them.
        suite = marshal.loads(protocol.read_frame(0, MAX_JOB_BYTES))
        self.queue(jobs_w, marshal.dumps({**suite, "budget_ns": self.limits["time_ns"], "started_ns": start}))
        tests_clock = Clock(self.limits["time_ns"], lambda: tests.schedstat()[0])
        reader = protocol.FrameReader(1 << 20)
        reported = set()
        gone = None  # why the solution can no longer answer
        finished = None  # (end, detail) for every case not reported by the tests
        charged = 0
        while finished is None:
            ready, when = self.wait([reports_r, tests.pidfd] + ([solution.pidfd] if gone is None else []), [clock, tests_clock])
            if gone is None and solution.pidfd in ready:
                gone = self.ending(solution, oom)
            if reports_r in ready:
                data = os.read(reports_r, 1 << 20)
                for message in (protocol.decode(frame) for frame in reader.feed(data)):
                    kind = message[0]
                    if kind == "solution" and gone is None:
                        solution.kill()  # the tests gave up on it, or found it gone
                        gone = self.ending(solution, oom) if message[1] == "solution_gone" else (message[1], "")
                    elif kind == "case":
                        reported.add(message[1])
                        send(_test_case(message[1], message[2], message[3], gone))
                    elif kind == "load_failed":
                        finished = ("load_error", _identifier(message[1].encode()))
                    elif kind == "setup_failed":
                        finished = ("setup_failed", _identifier(message[1].encode()))
                    elif kind == "done":
                        charged = message[1]
                        finished = finished or gone or ("no_result", "")
                if not data and finished is None:
                    finished = self._tests_ending(tests, oom)
            elif tests.pidfd in ready and finished is None:
                finished = self._tests_ending(tests, oom)
            now = time.monotonic_ns()
            if gone is None and clock.exhausted(now):
                solution.kill()
                solution.reap()
                gone = ("time_limit", "")
            if finished is None and tests_clock.exhausted(now):
                tests.kill()
                finished = ("tests_time_limit", "")
        for index in range(len(suite["tests"])):
            if index not in reported:
                send({"case": index, "end": finished[0], "detail": finished[1]})
        solution_ns = max(charged, clock.charged(time.monotonic_ns()))
        return solution_ns / 1e9, tests_clock.charged(time.monotonic_ns()) / 1e9

    def _tests_ending(self, child, oom):
        end, detail = self.ending(child, oom)
        return (end, detail) if end == "memory_limit" else ("tests_died", detail)


class Server:
    """The solution's server process as the supervisor sees it: requests out, replies in,
    its clock, and why it is gone once it is."""

    def __init__(self, supervisor, child, requests, replies, clock, oom):
        self.supervisor = supervisor
        self.child = child
        self.requests = requests
        self.replies = replies
        self.clock = clock
        self.oom = oom
        self.reader = protocol.FrameReader(protocol.MAX_VALUE_BYTES + 64)
        self.gone = None  # (end code, detail) once it is gone

    def call(self, name, args):
        self.clock.start(time.monotonic_ns(), self.child.delay)
        self.supervisor.queue(self.requests, marshal.dumps({"name": name, "args": args}))

    def receive(self):
        """Wait, its clock running, for its next frame; None once it is gone."""
        while self.gone is None:
            ready, when = self.supervisor.wait([self.replies, self.child.pidfd], [self.clock])
            if ready:
                frame = self.collect(ready, when)
                if frame is not None:
                    return frame
            elif self.clock.exhausted(time.monotonic_ns()):
                self.fail("time_limit", "")
        return None

    def collect(self, ready, when):
        """Read what arrived. Returns one complete frame (its clock stops at `when`), or None:
        nothing complete yet, or the solution is gone (then `gone` says why)."""
        frames, closed = [], False
        try:
            data = os.read(self.replies, 1 << 20)
            closed = not data
            frames = self.reader.feed(data)
        except BlockingIOError:
            pass
        except protocol.Refused:
            self.fail("output_limit", "")
            return None
        if len(frames) > 1:
            self.fail("protocol", "")
            return None
        self.clock.stop(when)
        if frames:
            return frames[0]
        if closed or self.child.pidfd in ready:
            self.child.kill()  # a solution that closed its reply pipe is done too
            self.gone = self.supervisor.ending(self.child, self.oom)
        else:
            self.clock.start(when, self.child.delay)  # part of a frame: still working
        return None

    def fail(self, end, detail):
        if end == "time_limit":
            self.clock.exhaust()
        self.clock.span = None
        self.child.kill()
        self.child.reap()
        self.gone = (end, detail)


def _imported(code):
    """Module names in the import statements of `code`, dotted names with their parents
    (`import a.b` gives a and a.b; `from a.b import c` also tries a.b.c). A textual scan:
    nothing of the program runs here."""
    names = set()
    for line in code.splitlines():
        words = line.replace(",", " ").replace("(", " ").replace(")", " ").split()
        if len(words) > 3 and words[0] == "from" and words[2] == "import":
            imported = [w for i, w in enumerate(words[3:], 3) if w != "as" and words[i - 1] != "as"]
            dotted = [words[1]] + [f"{words[1]}.{w}" for w in imported]
        elif len(words) > 1 and words[0] == "import":
            dotted = [part.split()[0] for part in line.split(None, 1)[1].split(",") if part.strip()]
        else:
            continue
        for name in dotted:
            parts = name.split(".")
            names.update(".".join(parts[: i + 1]) for i in range(len(parts)) if all(p.isidentifier() for p in parts[: i + 1]))
    return names


def _preload(names):
    """Import the standard-library modules among `names` (see NEVER_PRELOAD), with our stdout
    (the host's pipe) pointed away while they load."""
    wanted = sorted(n for n in names if n.split(".")[0] in sys.stdlib_module_names and n.split(".")[0] not in NEVER_PRELOAD
                    and "__main__" not in n.split("."))[:PRELOAD_MAX]
    if not wanted:
        return
    saved = os.dup(1)
    os.dup2(os.open("/dev/null", os.O_WRONLY), 1)
    try:
        for name in wanted:
            try:
                __import__(name)
            except BaseException:  # noqa: BLE001 - `from a import function` names no module
                pass
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _root_sources():
    sources = [p for p in ROOT_SOURCES if os.path.lexists(p)]
    for extra in (os.path.realpath(sys.base_prefix), os.path.dirname(os.path.realpath(sys.executable))):
        if not any(extra == s or extra.startswith(s + "/") for s in sources):
            sources.append(extra)
    return sources


def _bind_readonly(source, target):
    if os.path.islink(source):  # merged /usr: /bin -> usr/bin
        os.symlink(os.readlink(source), target)
        return
    os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
    if os.path.isdir(source):
        os.makedirs(target, 0o755, exist_ok=True)
    else:
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
    sc.mount(source, target, None, sc.MS_BIND | sc.MS_REC)
    if not _setattr(target, AT_RECURSIVE, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV):
        flags = sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV
        sc.mount(None, target, None, flags | (os.statvfs(source).f_flag & sc.KEEP_FLAGS))


def _setattr(target, flags, attrs):
    """mount_setattr where the kernel has it (5.12+); False where it does not."""
    try:
        sc.mount_setattr(target, flags, attrs)
    except OSError as exc:
        if exc.errno == 38:  # ENOSYS
            return False
        raise
    return True


def _read_all(fd):
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    os.close(fd)
    return data


def _readable(fd):
    poller = select.poll()
    poller.register(fd, POLL_IN)
    return bool(poller.poll(0))


def _identifier(raw):
    """An exception type name from the sandbox, cut to what may appear in a reason."""
    text = raw.decode("ascii", "replace") if type(raw) is bytes else ""
    return "".join(c for c in text[:60] if c.isalnum() or c in "_.") or "?"


def _decoded(encoded):
    try:
        return protocol.decode(encoded)
    except protocol.Refused:
        return None


def _load_failure(index, loaded, gone):
    if loaded is None:
        return {"case": index, "end": gone[0], "detail": gone[1]}
    name = _decoded(loaded[1:])
    return {"case": index, "end": "load_error", "detail": _identifier(name.encode()) if type(name) is str else "?"}


def _call_case(index, reply, gone):
    if reply is None:
        return {"case": index, "end": gone[0], "detail": gone[1]}
    kind = reply[:1]
    if kind == b"R":
        return {"case": index, "end": "ok", "detail": "", "ret": reply[1:]}
    if kind == b"E":
        value = _decoded(reply[1:])
        name = value[0] if type(value) is tuple and value and type(value[0]) is str else ""
        return {"case": index, "end": "raised", "detail": _identifier(name.encode())}
    return {"case": index, "end": "refused", "detail": ""}


def _test_case(index, passed, why, gone):
    if passed is True:
        return {"case": index, "end": "ok", "detail": ""}
    if why == "solution_gone" and gone is not None:
        return {"case": index, "end": gone[0], "detail": gone[1]}
    if why == "refused":
        return {"case": index, "end": "refused", "detail": ""}
    return {"case": index, "end": "failed", "detail": _identifier(why.encode() if type(why) is str else b"")}


def _import_through(prefix, via):
    """Import from `via` wherever sys.path or an imported package's __path__ names `prefix`."""

    def moved(paths):
        return [via + path[len(prefix):] if path == prefix or path.startswith(prefix + "/") else path for path in paths]

    sys.path[:] = moved(sys.path)
    for module in list(sys.modules.values()):
        paths = getattr(module, "__path__", None)
        if type(paths) is list:
            paths[:] = moved(paths)
    sys.path_importer_cache.clear()


def _place_fds(mapping):
    """Make the child's descriptors exactly `mapping` ({target: source}); close all others."""
    high = {target: fcntl.fcntl(source, fcntl.F_DUPFD_CLOEXEC, 64) for target, source in mapping.items()}
    for target, fd in high.items():
        os.dup2(fd, target, inheritable=target <= 2)
    for name in os.listdir("/proc/self/fd"):
        if int(name) not in mapping:
            try:
                os.close(int(name))
            except OSError:
                pass
