"""The code sandbox's supervisor: process 1 of the sandbox, the only trusted code inside it.

The host starts it as a fresh interpreter (`unshare --mount --net --pid --ipc --uts --cgroup
--fork --kill-child python -I -S -c "...; sandbox_supervisor.main()"`), with an environment of
two variables and no descriptor but three pipes and the cgroup files the host opened. Nothing
it runs is a descendant of the verifier pool or sees its memory.

1. It reads the job (marshal, from the host), joins the sandbox's cgroups, checks that each
   namespace really is new (a lying `unshare` cannot make it mount on the host), builds the
   minimal root (a tmpfs holding read-only binds of /usr, the library folders and the
   interpreter's prefix at its own path, four device files, a /proc of its own PID namespace
   showing only a process's own kind, and a size-capped /tmp), pivots into it, detaches the
   old root, and remounts its own root read-only.
2. It probes the layers a child gets (uid switch, no capabilities, seccomp) in a throwaway
   child, reports every layer of sandbox_protocol.LAYERS, and when the job requires one this
   host lacks it answers `refused` and runs nothing.
3. It forks the solution (one process per stdin/stdout case, or one server process for call
   and assert-style tests) and, for assert-style tests, the tests process under another uid,
   each in a fresh PID namespace of its own so that killing it kills everything it started.
   Each child joins its cgroups, drops to its uid, loses every capability, sets no_new_privs,
   loads the seccomp filter, and only then runs untrusted code. The tests reach the solution
   only through the supervisor, which relays calls as encoded plain values.

Time: every process has a Clock. A span runs from the moment the supervisor hands a process
work (fork, a request, a reply) to the moment that process hands something back (exit, a
reply, a call); it is charged its wall time minus the time the process's main thread waited
for a CPU (run_delay in /proc/PID/schedstat) and minus the supervisor's own wake-up delay. So a
span counts CPU time and time the process chose to block (sleep, waiting on itself) but not
time the machine made it wait. The solution is charged at least the CPU time of all its
processes together (its cgroup), so threads and children do not add speed for free. When a
clock passes its budget the process is killed and the outcome is decided: `time_limit` (or
`tests_time_limit`). A sleep-forever is charged like a loop and fails the same way; only the
host's much larger wall-clock ceiling, which needs the machine to starve the sandbox, leaves
a verdict undecided.

Messages to the host are marshal frames: {"layers": {name: None or why missing}},
{"refused": [names]}, {"case": i, "end": code, "detail": text, "out"/"ret": bytes}, and
{"done": {"solution_s": ..., "tests_s": ...}}. `end` is one of END_CODES.

Example (run by the host; see sandbox_host.run_sandbox):
    >>> sorted(END_CODES)[:3]
    ['crash', 'died', 'failed']
"""

import fcntl
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
except ImportError:
    from assay.verifiers import sandbox_protocol as protocol
    from assay.verifiers import sandbox_roles as roles
    from assay.verifiers import sandbox_syscalls as sc

SIGKILL, SIGXCPU, SIGXFSZ = 9, 24, 25  # the same on x86_64 and aarch64 (no enum import: start-up time)
END_CODES = {
    "ok": "ran to its end (stdio: output follows; call: return value follows; assert: passed)",
    "failed": "a test statement raised (detail: the exception type)",
    "crash": "the program raised an uncaught exception (detail: its type)",
    "raised": "the called function raised (detail: its type)",
    "load_error": "the program raised while loading as a module (detail: its type)",
    "refused": "the value it returned is not plain data",
    "time_limit": "the solution's clock passed its budget",
    "tests_time_limit": "the tests' clock passed its budget",
    "memory_limit": "killed by the sandbox's memory cap",
    "output_limit": "wrote more than the output cap",
    "died": "killed by a signal (detail: which)",
    "setup_failed": "the tests' setup statements raised (detail: the exception type)",
    "tests_died": "the tests process died on its own",
    "protocol": "the solution wrote something that is not a reply",
}
CHILD_FAILED = 70  # a child could not lock itself down; nothing untrusted ran
MAX_JOB_BYTES = 1 << 30
ROOT_SOURCES = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc/ld.so.cache")
DEVICES = ("null", "zero", "urandom", "random")
POLL_IN = select.POLLIN | select.POLLHUP | select.POLLERR
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4
AT_RECURSIVE = 0x8000
PIPE_BYTES = 1 << 20


def main():
    sc.prctl(sc.PR_SET_DUMPABLE, 0)  # no other process may read our memory or /proc files
    frame = protocol.read_frame(0, MAX_JOB_BYTES)
    if frame is not None:
        Supervisor(marshal.loads(frame)).run()
    os._exit(0)


def send(message):
    protocol.write_frame(1, marshal.dumps(message))


class Child:
    """One forked process: its pidfd, and its main thread's schedstat for the clocks."""

    def __init__(self, pid):
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)
        self.stat = os.open(f"/proc/{pid}/schedstat", os.O_RDONLY)
        self.status = None
        self.final_delay = 0

    def delay(self):
        """Nanoseconds its main thread has waited on a run queue."""
        if self.status is not None:
            return self.final_delay
        return int(os.pread(self.stat, 128, 0).split()[1])

    def kill(self):
        if self.status is None:
            try:
                os.kill(self.pid, SIGKILL)
            except ProcessLookupError:
                pass

    def reap(self):
        """Its wait status, once it is gone (a zombie's schedstat is read first)."""
        if self.status is None:
            self.final_delay = self.delay()
            self.status = os.waitpid(self.pid, 0)[1]
            os.close(self.pidfd)
            os.close(self.stat)
        return self.status


class Clock:
    """Charged nanoseconds of one process (see the module docstring)."""

    def __init__(self, budget_ns, cpu=None):
        self.budget = budget_ns
        self.used = 0
        self.span = None  # (child, start ns, its run_delay at the start)
        self.cpu = cpu  # callable -> CPU ns of all the solution's processes, or None
        self.cpu0 = cpu() if cpu else 0

    def start(self, child, start, delay):
        self.span = (child, start, delay)

    def stop(self, end):
        if self.span is not None:
            child, start, delay = self.span
            self.used += max(0, end - start - (child.delay() - delay))
            self.span = None

    def charged(self, now):
        total = self.used
        if self.span is not None:
            child, start, delay = self.span
            total += max(0, now - start - (child.delay() - delay))
        if self.cpu is not None:
            total = max(total, self.cpu() - self.cpu0)
        return total

    def exhaust(self):
        """The process was killed at its limit: nothing more to charge."""
        self.span = None
        self.used = max(self.used, self.budget)

    def exhausted(self, now):
        return self.charged(now) >= self.budget


class Supervisor:
    def __init__(self, job):
        self.job = job
        self.limits = job["limits"]
        self.required = set(job["required"])
        self.workdir = job["root"]
        self.nested = False  # each child in a PID namespace of its own
        self.switch_ids = False
        self.own_delay_fd = None
        self.devnull = None
        self.pidns_fd = None
        self.layers = {}
        self.writes = {}  # fd -> bytes still to write (non-blocking pipes to children)
        self.children = []

    # ---- setting up ---------------------------------------------------------------------

    def run(self):
        layers = self.establish()
        send({"layers": layers})
        missing = sorted(name for name in self.required if layers.get(name))
        if missing:
            send({"refused": missing})
            return
        mode = self.job["mode"]
        try:
            solution_s, tests_s = self.run_stdio() if mode == "stdio" else self.run_server(mode) if mode != "probe" else (0.0, 0.0)
            send({"done": {"solution_s": solution_s, "tests_s": tests_s}})
        finally:
            for child in self.children:
                child.kill()
            for child in self.children:
                child.reap()

    def establish(self):
        """Join the cgroups, build the root, and find out which layers hold (None) or not (why)."""
        job = self.job
        for fd in job["cgroups"]["sandbox"]:
            os.write(fd, b"0")  # before anything else exists, so everything is inside
            os.close(fd)
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
        layers["net_ns"] = None if namespaced and new["net"] else "no new network namespace: the host's network is reachable"
        layers["ipc_ns"] = None if namespaced and new["ipc"] else "no new IPC namespace"
        layers["schedstat"] = None
        try:
            self.own_delay_fd = os.open("/proc/self/schedstat", os.O_RDONLY)
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
        layers.update(self.probe_child())
        for name in ("own_uid", "no_caps", "seccomp"):
            layers.setdefault(name, None)
        self.layers = layers
        return layers

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
            for source in self._root_sources():
                self._bind_readonly(source, root + source)
            os.mkdir(root + "/dev", 0o755)
            for name in DEVICES:
                target = f"{root}/dev/{name}"
                os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o666))
                sc.mount(f"/dev/{name}", target, None, sc.MS_BIND)
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

    def _root_sources(self):
        sources = [p for p in ROOT_SOURCES if os.path.lexists(p)]
        for extra in (os.path.realpath(sys.base_prefix), os.path.dirname(os.path.realpath(sys.executable))):
            if not any(extra == s or extra.startswith(s + "/") for s in sources):
                sources.append(extra)
        return sources

    def _bind_readonly(self, source, target):
        if os.path.islink(source):  # merged /usr: /bin -> usr/bin
            os.symlink(os.readlink(source), target)
            return
        os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
        if os.path.isdir(source):
            os.makedirs(target, 0o755, exist_ok=True)
        else:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        sc.mount(source, target, None, sc.MS_BIND | sc.MS_REC)
        try:  # read-only down every submount too (Linux 5.12+)
            sc.mount_setattr(target, AT_RECURSIVE, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)
        except OSError:
            flags = sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV
            sc.mount(None, target, None, flags | (os.statvfs(source).f_flag & sc.KEEP_FLAGS))

    def probe_child(self):
        """Lock a throwaway child down as a real one is; the layers it could not get."""
        read, write = os.pipe()
        child = self.spawn("probe", {0: self.devnull, 1: self.devnull, 2: self.devnull, 3: write}, None)
        os.close(write)
        data = b""
        while chunk := os.read(read, 65536):
            data += chunk
        os.close(read)
        child.reap()
        self.children.remove(child)
        return marshal.loads(data) if data else {"no_caps": "the probe process failed", "seccomp": "the probe process failed"}

    # ---- children ----------------------------------------------------------------------

    def spawn(self, role, fds, run):
        """Fork a child (in a PID namespace of its own when we can make one) that takes `fds`
        as its descriptors, locks itself down and calls run(). A child that misses a layer
        the job requires exits with CHILD_FAILED before running anything; the probe writes
        what it missed to fd 3 instead."""
        if self.nested:
            sc.unshare(sc.CLONE_NEWPID)  # the next fork's child is process 1 of a new namespace
        try:
            pid = os.fork()
        except BaseException:
            if self.nested:
                sc.setns(self.pidns_fd, sc.CLONE_NEWPID)
            raise
        if pid != 0 and self.nested:
            sc.setns(self.pidns_fd, sc.CLONE_NEWPID)  # back: unshare(CLONE_NEWPID) works only once per namespace
        if pid == 0:
            status = CHILD_FAILED
            try:
                missing = self.enter(role, fds)
                if role == "probe":
                    os.write(3, marshal.dumps(missing))
                elif not self.required & set(missing):
                    run()
                status = 0
            finally:
                os._exit(status)
        child = Child(pid)
        self.children.append(child)
        return child

    def enter(self, role, fds):
        """In the child: cgroups, descriptors, limits, environment, then lock_down."""
        if role == "solution":
            for fd in self.job["cgroups"]["solution"]:
                os.write(fd, b"0")
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("1000")  # the memory cap's OOM killer takes the solution first
        _place_fds(fds)
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
        return self.lock_down("tests" if role == "tests" else "solution")

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
        machine = os.uname().machine
        if machine not in sc.ARCHES:
            missing["seccomp"] = f"no system call table for {machine}"
        else:
            try:
                sc.install_seccomp(sc.seccomp_program(machine))
            except OSError as exc:
                missing["seccomp"] = f"the kernel refused the filter ({exc.strerror})"
        if role == "tests":
            sc.prctl(sc.PR_SET_DUMPABLE, 0)  # the tests hold the expected values
        return missing

    # ---- waiting and timing ------------------------------------------------------------

    def own_delay(self):
        return int(os.pread(self.own_delay_fd, 128, 0).split()[1]) if self.own_delay_fd is not None else 0

    def wait(self, fds, clocks):
        """Poll `fds` (and pending writes) until one is readable or a clock may have run out.
        Returns (ready fds, when the event happened): the wake-up time less our own wait for
        a CPU since we slept. The host closing our stdin ends everything."""
        now = time.monotonic_ns()
        timeout = 1_000_000_000
        cpus = os.cpu_count() or 1
        for clock in clocks:
            if clock.span is not None or clock.cpu is not None:
                left = clock.budget - clock.charged(now)
                timeout = min(timeout, left // cpus if clock.cpu is not None else left)
        poller = select.poll()
        for fd in fds:
            poller.register(fd, POLL_IN)
        for fd in self.writes:
            poller.register(fd, select.POLLOUT)
        poller.register(0, POLL_IN)
        before = self.own_delay()
        events = poller.poll(max(1, -(-max(0, timeout) // 1_000_000)))
        woke = time.monotonic_ns()
        lag = min(max(0, self.own_delay() - before), woke - now)
        ready = set()
        for fd, event in events:
            if fd == 0:
                raise SystemExit("the host went away")
            if fd in self.writes and event & select.POLLOUT:
                self._flush(fd)
            if event & POLL_IN and fd != 0:
                ready.add(fd)
        return ready, woke - lag

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

    def cpu_usage(self):
        """CPU nanoseconds of all the solution's processes (cgroup v1 ns, or v2 usage_usec)."""
        fd, unit_ns = self.job["cgroups"]["cpu"]
        words = os.pread(fd, 4096, 0).split()
        return int(words[1] if words[0] == b"usage_usec" else words[0]) * unit_ns

    def solution_clock(self):
        return Clock(self.limits["time_ns"], self.cpu_usage if self.job["cgroups"]["cpu"] is not None else None)

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
        if code == CHILD_FAILED:
            raise RuntimeError("a sandbox child could not lock itself down")
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
            child = self.spawn("solution", {0: stdin, 1: out, 2: self.devnull, 3: status}, lambda: roles.run_stdio_case(code))
            clock.start(child, start, 0)
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
        Assert mode: the tests process runs the tests and calls the solution through us."""
        job = self.job
        requests_r, requests_w = os.pipe()
        replies_r, replies_w = os.pipe()
        fcntl.fcntl(requests_w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        fcntl.fcntl(replies_w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        os.set_blocking(requests_w, False)
        os.set_blocking(replies_r, False)
        start = time.monotonic_ns()
        oom = self.oom_kills()
        child = self.spawn("solution", {0: self.devnull, 1: self.devnull, 2: self.devnull, 3: requests_r, 4: replies_w},
                           lambda: roles.serve_solution(job["code"], job["imports"], job["fn_name"]))
        os.close(requests_r)
        os.close(replies_w)
        # The tests reach us only now: the solution process was forked without them.
        tests = marshal.loads(protocol.read_frame(0, MAX_JOB_BYTES)) if mode == "assert" else None
        server = Server(self, child, requests_w, replies_r, self.solution_clock(), oom)
        server.clock.start(child, start, 0)
        loaded = server.receive()
        count = len(job["inputs"]) if mode == "call" else len(tests["tests"])
        tests_s = 0.0
        if loaded is None or loaded[:1] != b"Y":
            end, detail = server.gone if loaded is None else ("load_error", _identifier(_decoded_text(loaded[1:])))
            for index in range(count):
                send({"case": index, "end": end, "detail": detail})
        elif mode == "call":
            for index, args in enumerate(job["inputs"]):
                if server.gone is None:
                    server.call(job["fn_name"], args)
                    reply = server.receive()
                send(_call_case(index, reply if server.gone is None else None, server.gone))
        else:
            tests_s = self.run_tests(server, loaded[1:], tests)
        return server.clock.charged(time.monotonic_ns()) / 1e9, tests_s

    def run_tests(self, server, names, tests):
        """Run the tests process, relaying its calls to the solution; report each case.
        Returns the tests' charged seconds."""
        requests_r, requests_w = os.pipe()
        replies_r, replies_w = os.pipe()
        os.set_blocking(requests_w, False)
        start = time.monotonic_ns()
        oom = self.oom_kills()
        child = self.spawn("tests", {0: self.devnull, 1: self.devnull, 2: self.devnull, 3: requests_r, 4: replies_w}, roles.run_tests)
        os.close(requests_r)
        os.close(replies_w)
        clock = Clock(self.limits["time_ns"])
        clock.start(child, start, 0)
        self.queue(requests_w, marshal.dumps({"names": names, "setup": tests["setup"], "tests": tests["tests"]}))
        reader = protocol.FrameReader(protocol.MAX_VALUE_BYTES + 4096)
        reported = set()
        waiting = False  # the tests called the solution and wait for its answer
        finished = None  # (end, detail) for every case not reported yet

        def answer(message, now):
            nonlocal waiting
            self.queue(requests_w, marshal.dumps(message))
            clock.start(child, now, child.delay())
            waiting = False

        while finished is None:
            fds = [replies_r, child.pidfd] + ([server.replies, server.child.pidfd] if server.gone is None else [])
            ready, when = self.wait(fds, [clock, server.clock])
            now = time.monotonic_ns()
            if server.gone is None and ready & {server.replies, server.child.pidfd}:
                reply = server.collect(ready, when)
                if reply is not None and not waiting:
                    server.fail("protocol", "")
                elif waiting and (reply is not None or server.gone is not None):
                    answer({"reply": reply} if reply is not None else {"dead": server.gone[0]}, now)
            if replies_r in ready:
                data = os.read(replies_r, 1 << 20)
                for message in (protocol.decode(frame) for frame in reader.feed(data)):
                    if message[0] == "call":
                        clock.stop(when)
                        waiting = True
                        if server.gone is not None:
                            answer({"dead": server.gone[0]}, now)
                        else:
                            server.call(message[1], message[2])
                    elif message[0] == "case":
                        reported.add(message[1])
                        send(self._test_case(message[1], message[2], message[3], server))
                    else:  # "setup_failed" or "done"
                        finished = ("setup_failed", message[1]) if message[0] == "setup_failed" else ("tests_died", "")
                if not data and finished is None:
                    child.kill()
                    finished = self._tests_ending(child, oom)
            elif child.pidfd in ready and finished is None:
                finished = self._tests_ending(child, oom)
            if finished is None and clock.exhausted(now):
                clock.exhaust()
                child.kill()
                finished = ("tests_time_limit", "")
            if server.gone is None and server.clock.exhausted(now):
                server.fail("time_limit", "")
                if waiting:
                    answer({"dead": "time_limit"}, now)
        clock.stop(time.monotonic_ns())
        for index in range(len(tests["tests"])):
            if index not in reported:
                send({"case": index, "end": finished[0], "detail": finished[1]})
        return clock.used / 1e9

    def _test_case(self, index, passed, why, server):
        if passed:
            return {"case": index, "end": "ok", "detail": ""}
        if why == "solution_gone" and server.gone is not None:
            return {"case": index, "end": server.gone[0], "detail": server.gone[1]}
        if why == "refused":
            return {"case": index, "end": "refused", "detail": ""}
        return {"case": index, "end": "failed", "detail": _identifier(why.encode() if type(why) is str else b"")}

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
        self.clock.start(self.child, time.monotonic_ns(), self.child.delay())
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
            while True:
                data = os.read(self.replies, 1 << 20)
                if not data:
                    closed = True
                    break
                frames += self.reader.feed(data)
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
        elif self.clock.span is None:
            self.clock.start(self.child, when, self.child.delay())  # a partial frame: still working
        return None

    def fail(self, end, detail):
        if end == "time_limit":
            self.clock.exhaust()
        self.clock.span = None
        self.child.kill()
        self.child.reap()
        self.gone = (end, detail)


def _readable(fd):
    poller = select.poll()
    poller.register(fd, POLL_IN)
    return bool(poller.poll(0))


def _decoded_text(encoded):
    try:
        value = protocol.decode(encoded)
    except protocol.Refused:
        return b""
    return value.encode() if type(value) is str else b""


def _identifier(raw):
    """An exception type name from the sandbox, cut to what may appear in a reason."""
    text = raw.decode("ascii", "replace") if type(raw) is bytes else ""
    return "".join(c for c in text[:60] if c.isalnum() or c in "_.") or "?"


def _call_case(index, reply, gone):
    if reply is None:
        return {"case": index, "end": gone[0], "detail": gone[1]}
    kind = reply[:1]
    if kind == b"R":
        return {"case": index, "end": "ok", "detail": "", "ret": reply[1:]}
    if kind == b"E":
        value = _decoded_tuple(reply[1:])
        return {"case": index, "end": "raised", "detail": _identifier(value[0].encode()) if value else "?"}
    return {"case": index, "end": "refused", "detail": ""}


def _decoded_tuple(encoded):
    try:
        value = protocol.decode(encoded)
    except protocol.Refused:
        return None
    return value if type(value) is tuple and value and type(value[0]) is str else None


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
