"""Runs untrusted Python inside the sandbox. Standard library only: this file is executed as a
script by a fresh interpreter (`python -I -B sandbox_harness.py`), never imported by assay.

It reads one job (JSON) on stdin, locks itself in, then runs the solution against each case and
writes one JSON line per case on stdout (the solution's own prints are captured, not mixed in):

    {"layers": [...]}                                 first: which protections are active
    {"case": 0, "ok": true}                           assert-style case
    {"case": 1, "out": "3\\n"}                        stdin/stdout case: the parent compares
    {"case": 2, "ret": [1, 2]}                        call case (fn_name): the parent compares
    {"case": 3, "error": "MemoryError: ..."}          the case raised

Locking in, in this order (each step is skipped only when the job says so):
  1. filesystem: `/` is remounted read-only recursively (mount_setattr) and only the job's
     temp dir is bind-mounted writable. This happens in the mount namespace that `unshare`
     created for us, so the host's mounts are untouched.
  2. user namespace: we unshare into a new user namespace mapping root to root, which
     (a) locks the read-only mounts so the solution cannot remount them, and (b) takes away
     every capability over the host (root inside is mapped to our uid, so it can still read
     the interpreter and its libraries).
  3. processes: the pids cgroup the parent created (a hard cap that holds for root, where
     RLIMIT_NPROC does not), plus resource limits: CPU seconds, address space, file size,
     number of processes (RLIMIT_NPROC, effective when not root), no core files, few open files.
  4. Python guards (an audit hook, which Python code cannot remove): no sockets, no new
     processes, no ctypes, no writes outside the temp dir. These are a second layer, and the
     only layer where namespaces are unavailable.
"""

import ctypes
import io
import json
import os
import resource
import signal
import sys
import traceback

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_BIND = 4096
MS_REC = 16384
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
SYS_MOUNT_SETATTR = 442  # the same number on every architecture (new syscalls are unified)


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount_setattr(libc, path, flags, attr_set, attr_clr):
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    _check(libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, path.encode(), flags, ctypes.byref(attr), ctypes.sizeof(attr)), f"mount_setattr {path}")


def lock_filesystem(tmpdir):
    """Everything read-only except `tmpdir` (and /proc until `enter_user_namespace` is done);
    needs the private mount namespace `unshare --mount` gave us."""
    libc = _libc()
    _mount_setattr(libc, "/", AT_RECURSIVE, MOUNT_ATTR_RDONLY, 0)
    _check(libc.mount(tmpdir.encode(), tmpdir.encode(), None, MS_BIND | MS_REC, None), "bind mount")
    _mount_setattr(libc, tmpdir, 0, 0, MOUNT_ATTR_RDONLY)
    _mount_setattr(libc, "/proc", 0, 0, MOUNT_ATTR_RDONLY)


def enter_user_namespace():
    """Fork; the child moves into a new user namespace whose root is mapped to our uid, and
    then into a mount namespace of its own, where the read-only mounts it inherits are locked.
    The parent writes the child's id maps through /proc, makes /proc read-only (a writable
    /proc/sys would let mapped root change kernel settings), waits for the child, and exits
    with its status. Returns in the child only."""
    libc = _libc()
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        os.close(go_w)
        _check(libc.unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)")
        os.write(ready_w, b"1")
        if os.read(go_r, 1) != b"1":
            os._exit(4)
        _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        os.close(ready_w)
        os.close(go_r)
        return
    os.close(ready_w)
    os.close(go_r)
    status = 4
    try:
        if os.read(ready_r, 1) == b"1":
            uid, gid = os.geteuid(), os.getegid()
            with open(f"/proc/{pid}/uid_map", "w") as f:
                f.write(f"{uid} {uid} 1")
            with open(f"/proc/{pid}/gid_map", "w") as f:
                f.write(f"{gid} {gid} 1")
            _mount_setattr(libc, "/proc", 0, MOUNT_ATTR_RDONLY, 0)
            os.write(go_w, b"1")
        os.close(go_w)
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    finally:
        os._exit(status if status >= 0 else 128 - status)


def set_limits(limits):
    cpu = int(limits["cpu_s"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    memory = int(limits["memory_mb"]) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    fsize = int(limits["fsize_mb"]) * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_NPROC, (int(limits["nproc"]), int(limits["nproc"])))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


_BLOCKED = {
    "socket.__new__": "network access",
    "socket.connect": "network access",
    "socket.bind": "network access",
    "socket.getaddrinfo": "network access",
    "os.fork": "creating processes",
    "os.forkpty": "creating processes",
    "os.posix_spawn": "creating processes",
    "os.exec": "creating processes",
    "os.system": "creating processes",
    "subprocess.Popen": "creating processes",
    "os.kill": "signalling processes",
    "os.killpg": "signalling processes",
    "ctypes.dlopen": "ctypes",
    "ctypes.dlsym": "ctypes",
    "ctypes.cdata": "ctypes",
}
_PATH_EVENTS = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.symlink", "os.link", "os.truncate", "shutil.rmtree", "os.utime"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def install_guards(tmpdir):
    root = os.path.realpath(tmpdir) + os.sep

    def inside(path):
        if isinstance(path, int):
            return True  # an fd the process already holds
        try:
            path = os.fsdecode(path)
        except Exception:
            return False
        return (os.path.realpath(path) + os.sep).startswith(root)

    def hook(event, args):
        if event in _BLOCKED:
            raise PermissionError(f"sandbox: {_BLOCKED[event]} is blocked ({event})")
        if event == "open" and args:
            path, mode, flags = (list(args) + [None, None, 0])[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (isinstance(flags, int) and flags & _WRITE_FLAGS)
            if writing and not inside(path):
                raise PermissionError(f"sandbox: writing outside the temp dir is blocked ({path!r})")
        elif event in _PATH_EVENTS and args and not inside(args[0]):
            raise PermissionError(f"sandbox: changing files outside the temp dir is blocked ({event})")

    sys.addaudithook(hook)


class CaseTimeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise CaseTimeout()


def _describe(exc):
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def _run(code, namespace, stdin_text):
    """Exec `code` with stdin/stdout redirected; returns what it printed."""
    stdin = io.TextIOWrapper(io.BytesIO(stdin_text.encode()), encoding="utf-8")
    stdout_bytes = io.BytesIO()
    stdout = io.TextIOWrapper(stdout_bytes, encoding="utf-8", write_through=True)
    saved = sys.stdin, sys.stdout
    sys.stdin, sys.stdout = stdin, stdout
    try:
        try:
            exec(code, namespace)
        except SystemExit:
            pass
    finally:
        sys.stdin, sys.stdout = saved
        stdout.flush()
    return stdout_bytes.getvalue().decode("utf-8", "replace")


def run_job(job, emit):
    case_s = float(job["case_time_s"])
    signal.signal(signal.SIGALRM, _on_alarm)
    try:
        solution = compile(job["code"], "<solution>", "exec")
    except SyntaxError as exc:
        emit({"compile_error": _describe(exc)})
        return
    mode = job["mode"]

    def timed(index, fn):
        signal.setitimer(signal.ITIMER_REAL, case_s)
        try:
            result = fn()
            signal.setitimer(signal.ITIMER_REAL, 0)
            emit({"case": index, **result})
        except CaseTimeout:
            emit({"case": index, "error": f"timeout: case ran past {case_s:g} s"})
        except BaseException as exc:  # the solution's failure, reported per case
            signal.setitimer(signal.ITIMER_REAL, 0)
            emit({"case": index, "error": _describe(exc)})

    if mode == "stdio":
        for i, text in enumerate(job["inputs"]):
            timed(i, lambda: {"out": _run(solution, {"__name__": "__main__"}, text)})
    elif mode == "call":
        namespace = {"__name__": "__solution__"}
        try:
            signal.setitimer(signal.ITIMER_REAL, case_s)
            _run(solution, namespace, "")
            signal.setitimer(signal.ITIMER_REAL, 0)
        except BaseException as exc:
            emit({"setup_error": _describe(exc) if not isinstance(exc, CaseTimeout) else "timeout in module code"})
            return
        name = job["fn_name"]
        owner = namespace["Solution"]() if "Solution" in namespace and name not in namespace else None
        fn = getattr(owner, name, None) if owner is not None else namespace.get(name)
        if not callable(fn):
            emit({"setup_error": f"NameError: the solution defines no function {name!r}"})
            return
        for i, args in enumerate(job["inputs"]):
            timed(i, lambda: {"ret": _jsonable(fn(*args))})
    else:  # assert-style: setup statements, then each test statement is one case
        namespace = {"__name__": "__main__"}
        try:
            signal.setitimer(signal.ITIMER_REAL, case_s)
            _run(solution, namespace, "")
            for setup in job["setup"]:
                _run(compile(setup, "<tests>", "exec"), namespace, "")
            signal.setitimer(signal.ITIMER_REAL, 0)
        except BaseException as exc:
            emit({"setup_error": _describe(exc) if not isinstance(exc, CaseTimeout) else "timeout in module code"})
            return
        for i, test in enumerate(job["tests"]):
            code = compile(test, "<tests>", "exec")
            timed(i, lambda: (_run(code, namespace, ""), {"ok": True})[1])


def _jsonable(value):
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        if isinstance(value, (tuple, set, frozenset)):
            return [_jsonable(v) for v in value]
        return repr(value)


def main():
    job = json.loads(sys.stdin.read())
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)

    def emit(obj):
        out.write(json.dumps(obj) + "\n")

    layers = []
    tmpdir = job["tmpdir"]
    if job["cgroup"]:
        # Join the pids cgroup the parent made: a hard cap on processes and threads that holds
        # for root too, unlike RLIMIT_NPROC. /sys is read-only below, so the solution cannot
        # move itself out.
        with open(os.path.join(job["cgroup"], "cgroup.procs"), "w") as f:
            f.write("0")
        layers.append("pids_cgroup")
    if job["namespaces"]:
        lock_filesystem(tmpdir)
        layers.append("readonly_fs")
        enter_user_namespace()
        layers.append("userns")
    set_limits(job["limits"])
    layers.append("rlimits")
    os.chdir(tmpdir)
    os.environ.clear()
    os.environ.update({"HOME": tmpdir, "TMPDIR": tmpdir, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    if job["guards"]:
        install_guards(tmpdir)
        layers.append("audit_hook")
    emit({"layers": layers})
    run_job(job, emit)
    out.flush()
    os._exit(0)


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        sys.stderr.write(traceback.format_exc()[-2000:])
        os._exit(3)
