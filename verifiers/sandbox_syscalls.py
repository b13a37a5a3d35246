"""The Linux system calls the code sandbox needs that Python's os module lacks (mount,
pivot_root, unshare, setns, prctl, capset, seccomp), through ctypes, and the seccomp filter
as a classic BPF program. Standard library only: the sandbox supervisor imports this file by
its bare name.

The filter (`seccomp_program`) checks the audit architecture first (a 32-bit or x32 system call
on x86_64 would otherwise slip past a table of 64-bit numbers), then answers EPERM for every
call in DENIED, EPERM for clone with a namespace flag, ENOSYS for clone3 (its flags live in
memory a filter cannot read; glibc falls back to clone), and EAFNOSUPPORT for a socket of any
family but AF_UNIX (of any family at all where the sandbox has no network namespace). Everything else is allowed: the filter narrows the kernel's surface; the
namespaces, the uid and the cgroups do the confining.

Example:
    >>> len(seccomp_program("x86_64")) % 8
    0
"""

import ctypes
import errno
import os
import struct

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
NAMESPACE_FLAGS = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_RELATIME = 0x200000
MNT_DETACH = 0x2
# statvfs f_flag bits that are also mount flags with the same value; a read-only remount of a
# bind mount made inside a user namespace must keep the ones the source mount has (locked).
KEEP_FLAGS = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME

PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
CAP_LAST_CAP_GUESS = 63  # PR_CAPBSET_DROP answers EINVAL past the kernel's last capability
AF_UNIX = 1

# Per architecture: the audit arch the filter insists on, and the numbers it needs.
ARCHES = {
    "x86_64": {
        "audit_arch": 0xC000003E,
        "x32_bit": 0x40000000,  # x32 ABI calls carry this bit; they are refused wholesale
        "numbers": {
            "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "mount": 165, "umount2": 166,
            "pivot_root": 155, "unshare": 272, "setns": 308, "keyctl": 250, "add_key": 248, "request_key": 249,
            "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "kexec_load": 246, "kexec_file_load": 320,
            "init_module": 175, "finit_module": 313, "delete_module": 176, "open_by_handle_at": 304,
            "name_to_handle_at": 303, "mount_setattr": 442, "move_mount": 429, "open_tree": 428, "fsopen": 430,
            "fsconfig": 431, "fsmount": 432, "fspick": 433, "io_uring_setup": 425, "io_uring_enter": 426,
            "io_uring_register": 427, "pidfd_getfd": 438, "process_madvise": 440, "kcmp": 312, "chroot": 161,
            "acct": 163, "swapon": 167, "swapoff": 168, "reboot": 169, "syslog": 103, "quotactl": 179,
            "quotactl_fd": 443, "vhangup": 153, "personality": 135, "fanotify_init": 300, "lookup_dcookie": 212,
            "iopl": 172, "ioperm": 173, "uselib": 134, "clone": 56, "clone3": 435, "socket": 41, "capset": 126,
        },
    },
    "aarch64": {
        "audit_arch": 0xC00000B7,
        "x32_bit": None,
        "numbers": {
            "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "mount": 40, "umount2": 39,
            "pivot_root": 41, "unshare": 97, "setns": 268, "keyctl": 219, "add_key": 217, "request_key": 218,
            "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "kexec_load": 104, "kexec_file_load": 294,
            "init_module": 105, "finit_module": 273, "delete_module": 106, "open_by_handle_at": 265,
            "name_to_handle_at": 264, "mount_setattr": 442, "move_mount": 429, "open_tree": 428, "fsopen": 430,
            "fsconfig": 431, "fsmount": 432, "fspick": 433, "io_uring_setup": 425, "io_uring_enter": 426,
            "io_uring_register": 427, "pidfd_getfd": 438, "process_madvise": 440, "kcmp": 272, "chroot": 51,
            "acct": 89, "swapon": 224, "swapoff": 225, "reboot": 142, "syslog": 116, "quotactl": 60,
            "quotactl_fd": 443, "vhangup": 58, "personality": 92, "fanotify_init": 262, "lookup_dcookie": 18,
            "clone": 220, "clone3": 435, "socket": 198, "capset": 91,
        },
    },
}
# Refused outright (EPERM). The x86-only port and module calls are skipped where absent.
DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root", "unshare", "setns",
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "open_by_handle_at", "name_to_handle_at", "mount_setattr",
    "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "pidfd_getfd", "process_madvise", "kcmp", "chroot", "acct", "swapon", "swapoff", "reboot",
    "syslog", "quotactl", "quotactl_fd", "vhangup", "personality", "fanotify_init", "lookup_dcookie", "iopl",
    "ioperm", "uselib",
)

_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_RET_KILL_PROCESS = 0x80000000
_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data (args[0]'s low word on little-endian)


def _op(code, k, jt=0, jf=0):
    return struct.pack("=HBBI", code, jt, jf, k)


def seccomp_program(machine, unix_sockets=True):
    """The filter for `machine` (os.uname().machine) as packed sock_filter instructions;
    KeyError for an architecture without a table. unix_sockets=False refuses every socket
    (socketpair stays): without a network namespace of its own, a unix socket could reach the
    host's abstract and path sockets."""
    arch = ARCHES[machine]
    numbers = arch["numbers"]
    ops = [_op(_LD_W_ABS, _ARCH), _op(_JEQ_K, arch["audit_arch"], 1, 0), _op(_RET_K, _RET_KILL_PROCESS), _op(_LD_W_ABS, _NR)]
    if arch["x32_bit"] is not None:
        ops += [_op(_JGE_K, arch["x32_bit"], 0, 1), _op(_RET_K, _RET_ERRNO | errno.EPERM)]
    for name in DENIED:
        if name in numbers:
            ops += [_op(_JEQ_K, numbers[name], 0, 1), _op(_RET_K, _RET_ERRNO | errno.EPERM)]
    ops += [_op(_JEQ_K, numbers["clone3"], 0, 1), _op(_RET_K, _RET_ERRNO | errno.ENOSYS)]
    # clone: refuse namespace flags. The A register keeps the call number on the other path.
    ops += [_op(_JEQ_K, numbers["clone"], 0, 4), _op(_LD_W_ABS, _ARG0), _op(_JSET_K, NAMESPACE_FLAGS, 0, 1),
            _op(_RET_K, _RET_ERRNO | errno.EPERM), _op(_RET_K, _RET_ALLOW)]
    # socket: only AF_UNIX (its path sockets live in the sandbox's tmpfs, its abstract ones in
    # the sandbox's network namespace).
    allowed = AF_UNIX if unix_sockets else 0xFFFFFFFF  # no family has that number
    ops += [_op(_JEQ_K, numbers["socket"], 0, 4), _op(_LD_W_ABS, _ARG0), _op(_JEQ_K, allowed, 1, 0),
            _op(_RET_K, _RET_ERRNO | errno.EAFNOSUPPORT), _op(_RET_K, _RET_ALLOW)]
    ops.append(_op(_RET_K, _RET_ALLOW))
    return b"".join(ops)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def _check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _path(path):
    return None if path is None else os.fsencode(path)


def mount(source, target, fstype, flags, data=None):
    _check(_libc.mount(_path(source), _path(target), _path(fstype), ctypes.c_ulong(flags), _path(data)), f"mount {target}")


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def mount_setattr(target, flags, attr_set):
    """Add mount attributes (MOUNT_ATTR_*) to `target`, and with AT_RECURSIVE to every mount
    below it (Linux 5.12+; ENOSYS before)."""
    attr = _MountAttr(attr_set, 0, 0, 0)
    number = ARCHES[os.uname().machine]["numbers"]["mount_setattr"]
    _check(_libc.syscall(number, -100, _path(target), flags, ctypes.byref(attr), ctypes.sizeof(attr)), f"mount_setattr {target}")


def umount2(target, flags):
    _check(_libc.umount2(_path(target), flags), f"umount {target}")


def pivot_root(new_root, put_old):
    number = ARCHES[os.uname().machine]["numbers"]["pivot_root"]
    _check(_libc.syscall(number, _path(new_root), _path(put_old)), "pivot_root")


def unshare(flags):
    _check(_libc.unshare(flags), "unshare")


def setns(fd, nstype):
    _check(_libc.setns(fd, nstype), "setns")


def prctl(option, arg2=0, arg3=0, arg4=0, arg5=0):
    _check(_libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")


def drop_bounding_set():
    """Empty the capability bounding set: no exec can bring a capability back. Needs
    CAP_SETPCAP, so it comes before any uid change."""
    for cap in range(CAP_LAST_CAP_GUESS + 1):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            if ctypes.get_errno() == errno.EINVAL:
                break
            _check(-1, f"drop capability {cap}")


def clear_capabilities():
    """Empty the permitted, effective and inheritable sets (always allowed)."""
    header = struct.pack("=Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = bytes(24)  # two {effective, permitted, inheritable} u32 triples, all zero
    number = ARCHES[os.uname().machine]["numbers"]["capset"]
    _check(_libc.syscall(number, header, data), "capset")


def install_seccomp(program):
    """Load `program` (needs no_new_privs, set first). It holds for this process, its threads
    and children, and across exec; nothing can remove it."""
    prog = _SockFprog(len(program) // 8, program)
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0), "seccomp")
