"""Hostile programs against the `code` verifier, each judged from outside the sandbox.

The `host` fixture builds an outside world worth attacking: a secret in this process's
environment, in a 0600 root file, in /dev/shm, in a System V shared memory segment, and in
the environment of a victim process; a unix path socket where multiprocessing keeps its
forkserver's (/tmp/pymp-*/listener-*), an abstract unix socket, a TCP and a UDP port on
127.0.0.1, each of which hands the secret to whoever connects and records the visit.

Judges, all outside: a program that prints the secret passes its stdin/stdout test (the
expected output is the secret), so `correct` would mean it got out; the listeners must see no
visit; the victim must be alive; host paths the program aimed at must not exist; after the
verdict no process of the sandbox's uids, no process with a name the program chose, and no
cgroup of this process may be left; memory samples of the sandbox's processes and cgroup must
stay under the cap. Forgeries are judged by the verdict: a program that solves nothing must
not be `correct`, and one that loops or sleeps gets a decided `incorrect`, not `timeout`.

Runs where the host gives every layer (strict mode), and skips, saying which layers are
missing, where it does not; the refusal tests (a failing `unshare` on PATH) run everywhere.
"""

from __future__ import annotations

import ctypes
import glob
import os
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from assay.verifiers import Check, verify, verify_batch
from assay.verifiers.sandbox_host import CGROUP_PREFIX, SANDBOX_IDS, sandbox_check

LAYERS = sandbox_check()
MISSING = [name for name, why in LAYERS.items() if why]
needs_layers = pytest.mark.skipif(bool(MISSING), reason=f"this host lacks sandbox layers {MISSING} (see `assay verify --sandbox-check`)")
SANDBOX_UIDS = {uid for uid, _ in SANDBOX_IDS.values()}
IPC_CREAT, IPC_RMID = 0o1000, 0


@dataclass
class Host:
    secret: str
    folder: Path
    secret_file: Path
    unix_path: Path
    abstract: str
    tcp_port: int
    udp_port: int
    victim: subprocess.Popen
    shm_file: Path
    sysv_key: int | None
    visits: list[str] = field(default_factory=list)

    def stdio_gold(self) -> str:
        return '{"inputs": ["\\n"], "outputs": ["%s\\n"]}' % self.secret


def _listen(host: Host, stop: threading.Event, sockets: list[socket.socket]) -> None:
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            selector.register(sock, selectors.EVENT_READ)
        while not stop.is_set():
            for key, _ in selector.select(0.05):
                sock = key.fileobj
                if sock.type == socket.SOCK_DGRAM:
                    host.visits.append(f"udp: {sock.recv(4096)!r}")
                    continue
                conn, _ = sock.accept()
                host.visits.append(f"{sock.family.name} {sock.getsockname()!r}")
                try:
                    conn.sendall(host.secret.encode() + b"\n")
                finally:
                    conn.close()


def _sysv_segment(secret: str) -> tuple[int | None, int | None]:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    key = int(uuid.uuid4().int % 2**30) + 1
    shmid = libc.shmget(key, 4096, IPC_CREAT | 0o644)
    if shmid < 0:
        return None, None
    address = libc.shmat(shmid, None, 0)
    ctypes.memmove(address, secret.encode(), len(secret))
    libc.shmdt(ctypes.c_void_p(address))
    return key, shmid


@pytest.fixture(scope="module")
def host():
    secret = f"assay-hostile-{uuid.uuid4().hex}"
    folder = Path(tempfile.mkdtemp(prefix="pymp-"))  # where multiprocessing's forkserver listens
    secret_file = folder / "secret.txt"
    secret_file.write_text(secret + "\n")
    secret_file.chmod(0o600)
    unix_path = folder / f"listener-{uuid.uuid4().hex[:8]}"
    shm_file = Path("/dev/shm") / f"assay-hostile-{uuid.uuid4().hex}"
    shm_file.write_text(secret)
    sockets = []
    for family, kind, address in ((socket.AF_UNIX, socket.SOCK_STREAM, str(unix_path)),
                                  (socket.AF_UNIX, socket.SOCK_STREAM, f"\0{secret}-abstract"),
                                  (socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 0)),
                                  (socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", 0))):
        sock = socket.socket(family, kind)
        sock.bind(address)
        if kind == socket.SOCK_STREAM:
            sock.listen(16)
        sockets.append(sock)
    victim = subprocess.Popen(["sleep", "600"], env={"HOSTILE_SECRET": secret})
    key, shmid = _sysv_segment(secret)
    state = Host(secret, folder, secret_file, unix_path, f"\0{secret}-abstract", sockets[2].getsockname()[1],
                 sockets[3].getsockname()[1], victim, shm_file, key)
    os.environ["ASSAY_HOSTILE_SECRET"] = secret  # the parent of every sandbox holds it
    stop = threading.Event()
    listener = threading.Thread(target=_listen, args=(state, stop, sockets), daemon=True)
    listener.start()
    yield state
    stop.set()
    listener.join()
    del os.environ["ASSAY_HOSTILE_SECRET"]
    victim.kill()
    victim.wait()
    for sock in sockets:
        sock.close()
    shm_file.unlink()
    if shmid is not None:
        ctypes.CDLL(None).shmctl(shmid, IPC_RMID, None)
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


def _program(code: str) -> str:
    return f"```python\n{textwrap.dedent(code).strip()}\n```"


def _fill(template: str, host: Host) -> str:
    """The program with the host's coordinates put in ({secret_file}, {tcp_port}, ...)."""
    values = {"victim_pid": host.victim.pid, "secret_file": host.secret_file, "shm_file": host.shm_file, "sysv_key": host.sysv_key or 0,
              "unix_path": host.unix_path, "secret": host.secret, "tcp_port": host.tcp_port, "udp_port": host.udp_port,
              "base_prefix": sys.base_prefix}
    for key, value in values.items():
        template = template.replace("{" + key + "}", str(value))
    return template


def _parent(pid: int) -> int | None:
    try:  # the field after the command name, which may itself hold ")" or spaces
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _ours(cgroup_name: str) -> bool:
    """Whether a sandbox cgroup (`assay-sbx-CREATOR-N`) is this test's business: its creator is
    this process or a descendant (a verifier worker), or is gone, so nothing would clean up after
    it. Other test suites run sandboxes beside this one on a shared machine; theirs are not ours."""
    match = re.search(rf"{CGROUP_PREFIX}(\d+)-\d+", cgroup_name)
    if match is None:
        return True
    pid: int | None = int(match.group(1))
    if _parent(pid) is None:
        return True
    while pid is not None and pid > 1:
        if pid == os.getpid():
            return True
        pid = _parent(pid)
    return False


def _uid(pid: int) -> int | None:
    try:
        return int(next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Uid:")).split()[1])
    except (OSError, ValueError, StopIteration):
        return None


def _descends_from_us_or_escaped(pid: int) -> bool:
    """For a sandbox process in no sandbox cgroup: whether its parents lead to this process, or
    straight from sandbox users to init (an orphan that got out: ours to report). Another test
    suite's sandbox process leads through its own host processes to that suite instead."""
    inside = True
    parent = _parent(pid)
    while parent is not None and parent > 1:
        if parent == os.getpid():
            return True
        inside = inside and _uid(parent) in SANDBOX_UIDS
        parent = _parent(parent)
    return inside


def _our_sandbox_process(status: str) -> str | None:
    """`/proc/PID/status: NAME` for a process of a sandbox user that is ours, else None: one in a
    sandbox cgroup by that cgroup (see `_ours`), one in none by its parents."""
    try:
        fields = dict(line.split(":", 1) for line in Path(status).read_text().splitlines() if ":" in line)
        if int(fields["Uid"].split()[0]) not in SANDBOX_UIDS:
            return None
        named = [line for line in Path(status).with_name("cgroup").read_text().splitlines() if CGROUP_PREFIX in line]
    except (OSError, ValueError, KeyError):
        return None
    ours = any(_ours(line) for line in named) if named else _descends_from_us_or_escaped(int(Path(status).parent.name))
    return f"{status}: {fields['Name'].strip()}" if ours else None


def _sandbox_processes() -> list[str]:
    return [found for status in glob.glob("/proc/[0-9]*/status") if (found := _our_sandbox_process(status))]


def _own_cgroups() -> list[str]:
    """Sandbox cgroups of this process and of any verifier worker it started (or of a creator gone)."""
    return [path for path in glob.glob(f"/sys/fs/cgroup/**/{CGROUP_PREFIX}*", recursive=True) if _ours(Path(path).name)]


def _judge_nothing_left(host: Host) -> None:
    assert host.visits == [], host.visits
    assert host.victim.poll() is None, "the victim process was killed"
    assert _sandbox_processes() == []
    assert _own_cgroups() == []


# ---- escapes and exfiltration: the program prints the secret if it finds it -------------------

EXFILTRATION = {
    "environment_of_the_parent": """
        import os
        print(os.environ.get("ASSAY_HOSTILE_SECRET", "no secret"))
    """,
    "proc_environ_and_cmdline_of_every_process": """
        import os
        found = "no secret"
        for pid in os.listdir("/proc"):
            for name in ("environ", "cmdline"):
                try:
                    data = open(f"/proc/{pid}/{name}", "rb").read()
                except OSError:
                    continue
                for part in data.split(b"\\0"):
                    if b"assay-hostile-" in part:
                        found = part.split(b"=")[-1].decode()
        print(found)
    """,
    "victim_process_by_host_pid": """
        import os
        try:
            print(open("/proc/{victim_pid}/environ").read().split("=")[1].strip("\\0"))
        except OSError as exc:
            print(exc.errno)
    """,
    "root_0600_file": """
        print(open("{secret_file}").read().strip())
    """,
    "etc_shadow": """
        print(open("/etc/shadow").readline().strip())
    """,
    "host_dev_shm": """
        print(open("{shm_file}").read())
    """,
    "sysv_shared_memory_of_the_host": """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.shmat.restype = ctypes.c_void_p
        shmid = libc.shmget({sysv_key}, 4096, 0)
        address = libc.shmat(shmid, None, 0) if shmid >= 0 else None
        print(ctypes.string_at(address, 46).decode() if address not in (None, 2**64 - 1) else ctypes.get_errno())
    """,
    "symlinks_out_of_the_work_folder": """
        import os
        found = "no secret"
        for target in ("{secret_file}", "/proc/1/root{secret_file}", "/proc/self/root{secret_file}", "/proc/1/cwd/secret.txt"):
            try:
                os.symlink(target, "/tmp/link")
                found = open("/tmp/link").read().strip()
            except OSError:
                pass
            finally:
                if os.path.lexists("/tmp/link"):
                    os.unlink("/tmp/link")
        print(found)
    """,
    "walk_every_readable_small_file": """
        import os
        found = "no secret"
        for top in ("/", "/tmp", "/root", "/home", "/etc", "/var", "/run"):
            for folder, dirs, files in os.walk(top):
                if folder.startswith(("/proc", "/usr", "/sys", "{base_prefix}")):
                    dirs.clear()
                    continue
                for name in files:
                    try:
                        data = open(os.path.join(folder, name), "rb").read(65536)
                    except OSError:
                        continue
                    if b"assay-hostile-" in data:
                        found = data.decode(errors="replace").strip()
        print(found)
    """,
    "forkserver_unix_socket_by_path": """
        import socket
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect("{unix_path}")
            print(s.recv(200).decode().strip())
        except OSError as exc:
            print(exc.errno)
    """,
    "every_unix_socket_on_the_filesystem": """
        import os, socket, stat
        found = "no secret"
        for top in ("/tmp", "/run", "/var", "/dev", "/root", "/home"):
            for folder, dirs, files in os.walk(top):
                for name in files + dirs:
                    path = os.path.join(folder, name)
                    try:
                        if stat.S_ISSOCK(os.lstat(path).st_mode):
                            s = socket.socket(socket.AF_UNIX)
                            s.connect(path)
                            found = s.recv(200).decode().strip()
                    except OSError:
                        pass
        print(found)
    """,
    "abstract_unix_socket_of_the_host": """
        import socket
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect("\\0{secret}-abstract")
            print(s.recv(200).decode().strip())
        except OSError as exc:
            print(exc.errno)
    """,
    "tcp_on_localhost": """
        import socket
        try:
            print(socket.create_connection(("127.0.0.1", {tcp_port}), timeout=2).recv(200).decode().strip())
        except OSError as exc:
            print(exc.errno)
    """,
    "tcp_through_raw_system_calls": """
        import ctypes, struct
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.syscall(41, 2, 1, 0)  # socket(AF_INET, SOCK_STREAM), x86_64
        address = struct.pack("<H", 2) + struct.pack(">H", {tcp_port}) + bytes([127, 0, 0, 1]) + bytes(8)
        buffer = ctypes.create_string_buffer(200)
        ok = fd >= 0 and libc.connect(fd, address, 16) == 0 and libc.read(fd, buffer, 200) > 0
        print(buffer.value.decode().strip() if ok else ctypes.get_errno())
    """,
    "udp_to_localhost": """
        import socket
        try:
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"leak", ("127.0.0.1", {udp_port}))
            print("sent")
        except OSError as exc:
            print(exc.errno)
    """,
    "mount_the_host_back": """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        os.makedirs("/tmp/m", exist_ok=True)
        results = [libc.mount(b"none", b"/", None, 32 | 4096, None),            # remount / read-write
                   libc.mount(b"proc", b"/tmp/m", b"proc", 0, None),
                   libc.mount(b"/", b"/tmp/m", None, 4096 | 16384, None),        # bind the root
                   libc.mount(b"/dev/vda", b"/tmp/m", b"ext4", 0, None)]
        try:
            print(open("/tmp/m{secret_file}").read().strip())
        except OSError:
            print(results, ctypes.get_errno())
    """,
    "chroot_break_out": """
        import os
        try:
            os.makedirs("/tmp/jail", exist_ok=True)
            os.chroot("/tmp/jail")
            for _ in range(64):
                os.chdir("..")
            os.chroot(".")
            print(open("{secret_file}").read().strip())
        except OSError as exc:
            print(exc.errno)
    """,
    "setuid_binaries": """
        import subprocess
        for argv in (["su", "-c", "cat {secret_file}"], ["sudo", "cat", "{secret_file}"], ["/bin/mount", "-t", "proc", "proc", "/tmp"]):
            try:
                print(subprocess.run(argv, capture_output=True, text=True, timeout=5).stdout.strip())
            except (OSError, subprocess.SubprocessError) as exc:
                print(type(exc).__name__)
    """,
}


@needs_layers
@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(EXFILTRATION))
def test_exfiltration_and_escape_attempts_find_nothing(host, name):
    verdict = verify(_program(_fill(EXFILTRATION[name], host)), host.stdio_gold(), "code", time_limit_s=5.0)
    assert verdict.status == "incorrect", verdict
    assert host.secret not in verdict.reason and "assay-hostile" not in verdict.reason
    _judge_nothing_left(host)


# The kernel's wider surface: each call must fail with the filter's answer (EPERM; ENOSYS for
# clone3, whose flags a filter cannot read; EAFNOSUPPORT for sockets that are not unix ones).
# Without the filter most of them would succeed or fail otherwise (EINVAL, EFAULT).
ATTACK_SURFACE = """
    import ctypes, os, socket
    libc = ctypes.CDLL(None, use_errno=True)
    wrong = []
    calls = [("ptrace", 101, (0, 0, 0, 0), 1), ("process_vm_readv", 310, (1, 0, 0, 0), 1), ("bpf", 321, (0, 0, 0, 0), 1),
             ("perf_event_open", 298, (0, 0, -1, -1), 1), ("userfaultfd", 323, (0, 0, 0, 0), 1), ("keyctl", 250, (0, 0, 0, 0), 1),
             ("add_key", 248, (0, 0, 0, 0), 1), ("io_uring_setup", 425, (1, 0, 0, 0), 1), ("init_module", 175, (0, 0, 0, 0), 1),
             ("kexec_load", 246, (0, 0, 0, 0), 1), ("pidfd_getfd", 438, (0, 0, 0, 0), 1), ("mount", 165, (0, 0, 0, 0), 1),
             ("unshare", 272, (0x10000000, 0, 0, 0), 1), ("setns", 308, (0, 0, 0, 0), 1), ("open_by_handle_at", 304, (0, 0, 0, 0), 1),
             ("name_to_handle_at", 303, (0, 0, 0, 0), 1), ("pivot_root", 155, (0, 0, 0, 0), 1), ("chroot", 161, (0, 0, 0, 0), 1),
             ("clone3", 435, (0, 0, 0, 0), 38), ("clone_newuser", 56, (0x10000000 | 17, 0, 0, 0), 1)]
    for name, number, args, expected in calls:
        if libc.syscall(number, *args) != -1 or ctypes.get_errno() != expected:
            wrong.append((name, ctypes.get_errno()))
    for family, kind in ((socket.AF_INET, socket.SOCK_STREAM), (socket.AF_INET6, socket.SOCK_DGRAM), (16, socket.SOCK_RAW), (17, socket.SOCK_RAW)):
        try:
            socket.socket(family, kind)
            wrong.append(("socket", family))
        except OSError as exc:
            if exc.errno != 97:
                wrong.append(("socket", family, exc.errno))
    socket.socketpair()  # unix sockets stay: multiprocessing needs them
    print("blocked" if not wrong else wrong)
"""


@needs_layers
@pytest.mark.timeout(120)
def test_the_kernel_attack_surface_is_filtered(host):
    if os.uname().machine != "x86_64":
        pytest.skip("the raw system call numbers of this program are x86_64's")
    verdict = verify(_program(ATTACK_SURFACE), '{"inputs": ["\\n"], "outputs": ["blocked\\n"]}', "code", time_limit_s=5.0)
    assert verdict.status == "correct", verdict
    _judge_nothing_left(host)


# ---- processes that try to outlive, out-grow or take over the host ----------------------------


@needs_layers
@pytest.mark.timeout(120)
def test_setsid_daemons_die_with_the_verdict(host):
    name = f"d{uuid.uuid4().hex[:12]}"
    code = f"""
        import ctypes, os, time
        for _ in range(2):
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    ctypes.CDLL(None).prctl(15, b"{name}", 0, 0, 0)  # PR_SET_NAME
                    time.sleep(30)
                os._exit(0)
        def add(a, b):
            return a + b
    """
    verdict = verify(_program(code), "assert add(1, 2) == 3\n", "code", time_limit_s=5.0)
    assert verdict.status == "correct"  # it answered; its daemons must still be gone
    comms = [Path(p).read_text().strip() for p in glob.glob("/proc/[0-9]*/comm") if os.path.exists(p)]
    assert name not in comms
    _judge_nothing_left(host)


@needs_layers
@pytest.mark.timeout(120)
def test_signals_reach_no_host_process(host):
    code = f"""
        import os
        for pid in ({host.victim.pid}, 1, {os.getpid()}, -1):
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        print("still here")
    """
    verdict = verify(_program(code), host.stdio_gold(), "code", time_limit_s=5.0)
    assert verdict.status == "incorrect"
    _judge_nothing_left(host)


def _alive(status: Path) -> bool:
    """Whether the process of /proc/PID/status still runs (not gone, not a zombie)."""
    try:
        state = next(line for line in status.read_text().splitlines() if line.startswith("State:"))
    except (OSError, StopIteration):
        return False
    return state.split()[1] not in ("Z", "X")


class Sampler:
    """Samples, from outside, the memory of the sandbox's processes (the sum of their
    proportional anonymous and shared-memory sets: what they allocated, pages shared after fork
    counted once, the host's libraries left out) and of the sandbox memory cgroups of this
    process."""

    def __init__(self) -> None:
        self.pss = 0
        self.cgroup = 0
        self.limits: set[int] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            total, counted = 0, []
            for status in glob.glob("/proc/[0-9]*/status"):
                try:
                    if _our_sandbox_process(status):
                        rollup = Path(status).with_name("smaps_rollup").read_text()
                        total += sum(int(line.split()[1]) * 1024 for line in rollup.splitlines() if line.startswith(("Pss_Anon:", "Pss_Shmem:")))
                        counted.append(Path(status))
                except (OSError, ValueError):
                    continue
            # A process counted in this pass that has since ended (killed at the cap, its pages
            # freed for the next one to take) makes the sum one of two moments: not a sample.
            if all(_alive(status) for status in counted):
                self.pss = max(self.pss, total)
            for path in glob.glob(f"/sys/fs/cgroup/memory/**/{CGROUP_PREFIX}{os.getpid()}-*", recursive=True):
                try:
                    self.cgroup = max(self.cgroup, int(Path(path, "memory.usage_in_bytes").read_text()))
                    self.limits.add(int(Path(path, "memory.limit_in_bytes").read_text()))
                except OSError:
                    continue
            time.sleep(0.01)

    def __enter__(self) -> "Sampler":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


@needs_layers
@pytest.mark.timeout(180)
def test_memory_bomb_with_many_children_stays_under_the_cap(host):
    # 8 children of 200 MB each (each one under its own address-space limit): 1.6 GB wanted,
    # 256 MB allowed for all of them together.
    code = """
        import os, time
        for _ in range(8):
            if os.fork() == 0:
                try:
                    block = bytearray(200 * 2**20)
                    for i in range(0, len(block), 4096):
                        block[i] = 1
                except MemoryError:
                    pass
                time.sleep(2)
                os._exit(0)
        time.sleep(2)
        print("done")
    """
    with Sampler() as sampler:
        verdict = verify(_program(code), host.stdio_gold(), "code", time_limit_s=5.0, memory_mb=256)
    assert verdict.status == "incorrect"
    cap = (256 + 64 + 96) * 2**20  # the solution's memory + its tmpfs + the trusted processes
    assert sampler.limits == {cap}
    assert 0 < sampler.cgroup <= cap
    # The process table is read one process after another while the OOM killer frees one and
    # another grows: a sum of samples taken at different moments may pass the cap by a little.
    # Without the cap the 8 children hold 1.6 GB.
    assert 0 < sampler.pss <= cap + 64 * 2**20
    _judge_nothing_left(host)


@needs_layers
@pytest.mark.timeout(180)
def test_disk_bomb_fills_only_its_own_tmpfs(host):
    target = host.folder / "written-from-the-sandbox"
    code = f"""
        import os
        written = 0
        for path in ("{target}", "/usr/bomb", "{sys.base_prefix}/bomb", "/bomb", "/dev/shm/bomb") + tuple(f"/tmp/bomb{{i}}" for i in range(200)):
            try:
                with open(path, "wb") as f:
                    for _ in range(8):
                        f.write(b"x" * 2**20)
                        written += 1
            except OSError:
                pass
        print(written)
    """
    with Sampler() as sampler:
        verdict = verify(_program(code), host.stdio_gold(), "code", time_limit_s=10.0)
    assert verdict.status == "incorrect"
    assert not target.exists() and not Path(sys.base_prefix, "bomb").exists() and not Path("/usr/bomb").exists()
    assert not Path("/bomb").exists() and not Path("/dev/shm/bomb").exists()
    assert 0 < sampler.cgroup <= (1024 + 64 + 96) * 2**20
    _judge_nothing_left(host)


@pytest.mark.slow
@needs_layers
@pytest.mark.timeout(180)
def test_fork_bomb_is_capped_and_leaves_nothing(host):
    code = """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """
    peak = []
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            peak.append(len(_sandbox_processes()))
            time.sleep(0.01)

    counter = threading.Thread(target=count)
    counter.start()
    try:
        verdict = verify(_program(code), host.stdio_gold(), "code", time_limit_s=1.0)
    finally:
        stop.set()
        counter.join()
    assert verdict.status == "incorrect"
    assert 0 < max(peak) <= 32 + 3  # the pids cap of one sandbox
    assert subprocess.run(["true"]).returncode == 0
    _judge_nothing_left(host)


# ---- forged results: a program that solves nothing must not be `correct` -------------------------

ASSERTS = "assert add(1, 2) == 3\nassert add(2, 2) == 4\nassert abs(add(0.1, 0.2) - 0.3) < 1e-9\n"
FORGERIES = {
    "fake_result_frames_on_every_descriptor": ("""
        import json, marshal, os, struct
        for fd in range(256):
            for data in (json.dumps({"case": 0, "ok": True}).encode() + b"\\n",
                         struct.pack(">I", 40) + marshal.dumps({"case": 0, "end": "ok", "detail": ""}),
                         struct.pack(">I", 3) + b"T" + b"R" + b"T"):
                try:
                    os.write(fd, data)
                except OSError:
                    pass
        def add(a, b):
            return 0
    """, ASSERTS),
    "fake_reply_frames_before_answering": ("""
        import os, struct
        def add(a, b):
            for fd in (3, 4, 5, 6, 7):
                try:
                    os.write(fd, struct.pack(">I", 14) + b"Rt\\x00\\x00\\x00\\x02TN" + b"\\x00" * 5)
                except OSError:
                    pass
            return None
    """, ASSERTS),
    "always_equal_object": ("""
        class Anything:
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            def __sub__(self, other):
                return 0
        def add(a, b):
            return Anything()
    """, ASSERTS),
    "int_subclass_equal_to_everything": ("""
        class Int(int):
            def __eq__(self, other):
                return True
        def add(a, b):
            return Int(0)
    """, ASSERTS),
    "str_subclass_equal_to_everything": ("""
        class Str(str):
            def __eq__(self, other):
                return True
            __hash__ = str.__hash__
        def add(a, b):
            return Str("")
    """, ASSERTS),
    "generator_instead_of_a_value": ("""
        def add(a, b):
            yield a + b
    """, ASSERTS),
    "patched_encoder_sends_a_pickle": ("""
        import pickle, sys
        class Anything:
            def __eq__(self, other):
                return True
        for module in list(sys.modules.values()):
            if hasattr(module, "encode") and hasattr(module, "decode") and hasattr(module, "Refused"):
                module.encode = lambda value, max_bytes=0: pickle.dumps(Anything())
        def add(a, b):
            return 0
    """, ASSERTS),
    "patched_server_answers_true": ("""
        import sys
        roles = [m for m in sys.modules.values() if hasattr(m, "serve_solution")]
        for module in roles:
            module.reply = lambda target, args, kwargs: b"RT"
        def add(a, b):
            return 0
    """, ASSERTS),
    "shadowed_builtins": ("""
        def abs(x):
            return 0
        def len(x):
            return 0
        AssertionError = None
        def add(a, b):
            return 0
    """, ASSERTS),
    "sys_modules_and_builtins_tricks": ("""
        import builtins, sys
        builtins.AssertionError = SystemExit
        sys.modules["builtins"] = None
        def add(a, b):
            return 0
    """, ASSERTS),
    "exits_with_success_during_the_call": ("""
        import os
        def add(a, b):
            os._exit(0)
    """, ASSERTS),
    "kills_everything_it_can_see": ("""
        import os
        def add(a, b):
            for pid in (1, -1, 0, os.getppid()):
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
            return 0
    """, ASSERTS),
    "reads_the_expected_values_from_its_memory": ("""
        import re
        def add(a, b):
            # The tests were never in this process (it was forked before they arrived), nor
            # freed in its memory: a scan of everything it can read finds no expected value.
            pattern = re.compile(rb"add\\(%d, %d\\) == (\\d+)" % (a, b))
            with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb") as mem:
                for line in maps:
                    span, perms = line.split()[:2]
                    if "r" not in perms or "[vvar" in line or "[vsyscall" in line:
                        continue
                    start, end = (int(x, 16) for x in span.split("-"))
                    try:
                        mem.seek(start)
                        match = pattern.search(mem.read(end - start))
                    except (OSError, OverflowError, ValueError):
                        continue
                    if match:
                        return int(match.group(1))
            return 0
    """, ASSERTS),
    "traces_the_tests_process": ("""
        import ctypes, os, re
        libc = ctypes.CDLL(None, use_errno=True)
        def add(a, b):
            for pid in [p for p in os.listdir("/proc") if p.isdigit()] + [str(p) for p in range(1, 64)]:
                libc.ptrace(16, int(pid), 0, 0)  # PTRACE_ATTACH
                for name in ("mem", "environ", "cmdline"):
                    try:
                        data = open(f"/proc/{pid}/{name}", "rb").read(1 << 20)
                    except OSError:
                        continue
                    match = re.search(rb"add\\(%d, %d\\) == (\\d+)" % (a, b), data)
                    if match:
                        return int(match.group(1))
            return 0
    """, ASSERTS),
    "output_that_looks_like_results": ("""
        print('{"case": 0, "ok": true}')
        print('{"layers": []}')
        print("3")
    """, '{"inputs": ["\\n"], "outputs": ["42\\n"]}'),
    "exit_code_zero_without_output": ("""
        import os
        os._exit(0)
    """, '{"inputs": ["\\n"], "outputs": ["42\\n"]}'),
    "huge_return_value": ("""
        def add(a, b):
            return "x" * (200 * 2**20)
    """, ASSERTS),
    "starves_the_tests_with_a_huge_count": ("""
        def add(a, b):
            return 10**12
    """, "def check(candidate):\n    total = 0\n    for i in range(candidate(1, 2)):\n        total += i\n    assert total == 3\n\ncheck(add)\n"),
}


# The two that make the sandbox push or count a very large payload take seconds each.
SLOW_FORGERIES = ("huge_return_value", "starves_the_tests_with_a_huge_count")


@needs_layers
@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in SLOW_FORGERIES else name for name in sorted(FORGERIES)])
def test_forgeries_are_not_correct(host, name):
    code, gold = FORGERIES[name]
    verdict = verify(_program(code), gold, "code", time_limit_s=2.0)
    assert verdict.status == "incorrect", verdict
    _judge_nothing_left(host)


@pytest.mark.slow
@needs_layers
@pytest.mark.timeout(120)
def test_forgeries_through_the_pool_are_not_correct(host):
    items = [Check(_program(code), gold, "code", {"time_limit_s": 2.0}) for code, gold in FORGERIES.values()]
    assert {v.status for v in verify_batch(items, workers=2)} == {"incorrect"}
    _judge_nothing_left(host)


@pytest.mark.slow
@needs_layers
@pytest.mark.timeout(120)
@pytest.mark.parametrize("where", ["module", "function"])
def test_a_loop_is_the_same_decided_verdict_wherever_it_is(host, where):
    code = "while True:\n    pass\ndef add(a, b):\n    return a + b" if where == "module" else "def add(a, b):\n    while True:\n        pass"
    verdict = verify(_program(code), ASSERTS, "code", time_limit_s=1.0)
    assert (verdict.status, verdict.reason) == ("incorrect", "0/3 passed; case 0: time_limit")
    _judge_nothing_left(host)


# ---- a host without the layers refuses, unless the operator opts in ------------------------------


def _unshare_on_path(folder, monkeypatch, stderr_lines):
    """An `unshare` first on PATH that prints `stderr_lines` and exits 1; the default sandbox mode."""
    fake = folder / "unshare"
    fake.write_text("#!/bin/sh\n" + "".join(f"echo '{line}' >&2\n" for line in stderr_lines) + "exit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    monkeypatch.delenv("ASSAY_SANDBOX", raising=False)
    return fake


@pytest.fixture
def failing_unshare(tmp_path, monkeypatch):
    """A PATH whose `unshare` fails the way it does without user namespaces or CAP_SYS_ADMIN."""
    return _unshare_on_path(tmp_path, monkeypatch, ["unshare: unshare failed: Operation not permitted"])


@pytest.mark.timeout(120)
def test_a_supervisor_that_dies_before_reporting_is_not_called_an_unshare_failure(tmp_path, monkeypatch):
    # `unshare` made the namespaces and ran the supervisor, which crashed at once: its own
    # words, not unshare's, so the verdict must not blame unshare (or the host's namespaces).
    _unshare_on_path(tmp_path, monkeypatch, ["Traceback (most recent call last):", "MemoryError"])
    verdict = verify(_program("print(1)"), '{"inputs": ["\\n"], "outputs": ["1\\n"]}', "code")
    assert verdict.status == "error" and "`unshare` failed" not in verdict.reason
    if not any(LAYERS[name] for name in ("memory_cgroup", "pids_cgroup", "cpu_cgroup")):  # else those are named first
        assert "the sandbox supervisor stopped before reporting its layers (exit 1): Traceback" in verdict.reason
        assert "MemoryError" in verdict.reason
    assert _own_cgroups() == []


@pytest.mark.timeout(120)
def test_without_namespaces_strict_mode_refuses_and_names_the_opt_in(failing_unshare):
    verdict = verify(_program("print(1)"), '{"inputs": ["\\n"], "outputs": ["1\\n"]}', "code")
    assert verdict.status == "error" and verdict.score == 0.0
    assert "sandbox refused" in verdict.reason and "--sandbox weak" in verdict.reason and "ASSAY_SANDBOX=weak" in verdict.reason
    if not any(LAYERS[name] for name in ("memory_cgroup", "pids_cgroup", "cpu_cgroup")):  # else those are named first
        for words in ("mount_ns", "net_ns", "pid_ns", "ipc_ns", "unshare: unshare failed: Operation not permitted"):
            assert words in verdict.reason
    assert _own_cgroups() == []


@pytest.mark.timeout(120)
def test_without_namespaces_the_weak_opt_in_runs_and_says_it_is_weak(failing_unshare, monkeypatch):
    gold = '{"inputs": ["\\n"], "outputs": ["1\\n"]}'
    weak = verify(_program("print(1)"), gold, "code", sandbox="weak")
    assert weak.status == "correct"
    assert weak.reason.startswith("1/1 cases passed; weak sandbox, missing: mount_ns, net_ns, pid_ns, ipc_ns")
    monkeypatch.setenv("ASSAY_SANDBOX", "weak")
    assert "weak sandbox" in verify(_program("print(1)"), gold, "code").reason
    # Modules the standard library imports lazily still load for the sandbox's uid, even when
    # the interpreter lives in a folder that uid cannot search (here: /root, mode 0700).
    lazy = "import datetime\nprint(datetime.datetime.strptime('1', '%d').day, 'x'.encode('idna').decode())"
    assert verify(_program(lazy), '{"inputs": ["\\n"], "outputs": ["1 x\\n"]}', "code").status == "correct"
    assert _own_cgroups() == []


@needs_layers
@pytest.mark.timeout(120)
def test_the_weak_fallback_still_keeps_its_other_layers(failing_unshare, host):
    # No namespaces, but its own uid, seccomp (no sockets at all, without a network namespace),
    # cgroups and a PID namespace per process: the root file, the network, the host's unix
    # sockets and the victim stay out of reach.
    for name in ("root_0600_file", "tcp_on_localhost", "abstract_unix_socket_of_the_host", "forkserver_unix_socket_by_path",
                 "proc_environ_and_cmdline_of_every_process", "victim_process_by_host_pid"):
        verdict = verify(_program(_fill(EXFILTRATION[name], host)), host.stdio_gold(), "code", sandbox="weak", time_limit_s=5.0)
        assert verdict.status == "incorrect" and "weak sandbox" in verdict.reason, (name, verdict)
    _judge_nothing_left(host)


@needs_layers
@pytest.mark.timeout(120)
def test_a_killed_worker_leaves_cgroups_the_next_run_removes(tmp_path):
    # A worker killed in the middle of a verdict cannot remove its cgroups; the next sandbox
    # on this host does, once the worker's pid is gone.
    script = tmp_path / "worker.py"
    script.write_text("from assay.verifiers import verify\n"
                      "verify('```python\\nimport time\\ntime.sleep(60)\\n```', "
                      "'{\"inputs\": [\"\\\\n\"], \"outputs\": [\"1\\\\n\"]}', 'code', time_limit_s=30)\n")
    worker = subprocess.Popen([sys.executable, str(script)])
    deadline = time.monotonic() + 60
    pattern = f"/sys/fs/cgroup/**/{CGROUP_PREFIX}{worker.pid}-*"
    while not glob.glob(pattern, recursive=True) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = glob.glob(pattern, recursive=True)
    worker.kill()
    worker.wait()
    assert left, "the worker's sandbox never started"
    verify(_program("print(1)"), '{"inputs": ["\\n"], "outputs": ["1\\n"]}', "code")
    assert glob.glob(pattern, recursive=True) == []
    assert _sandbox_processes() == []
