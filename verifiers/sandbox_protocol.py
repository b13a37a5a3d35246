"""What crosses the code sandbox's walls: the table of isolation layers, length-prefixed frames,
and the one encoding in which values leave an untrusted process.

Standard library only: the sandbox supervisor imports this file by its bare name inside the
sandbox, and the host imports it as `assay.verifiers.sandbox_protocol`.

Values cross as a tagged encoding of exact builtin types: None, bool, int, float (nan and inf
included), complex, str, bytes, and list, tuple, dict, set, frozenset of those. The test is
`type(x) is int`, never isinstance, so an int or str subclass that overrides `__eq__`, an object
whose `__eq__` is always True, a generator or a class instance is refused with a reason instead
of reaching the comparison. The decoder is the authority: it builds exact builtin objects from
bytes, checks every length against what is left, and caps depth, node count and size, so a
forged byte stream yields `Refused`, never an object of the sender's choosing.

Example:
    >>> decode(encode([1, (2.5, "a"), {"k": {None}}]))
    [1, (2.5, 'a'), {'k': {None}}]
    >>> class Always(int):
    ...     def __eq__(self, other): return True
    >>> try:
    ...     encode(Always(3))
    ... except Refused as exc:
    ...     print(exc)
    a value of type Always is not a plain builtin value
"""

import os
import struct

# name -> what the layer protects. A `strict` sandbox needs every one of them; `weak` runs with
# what the host gives and says which are missing. The supervisor reports each by these names.
LAYERS = {
    "mount_ns": "mount namespace with a minimal read-only root (interpreter, standard library, "
    "/dev/null, /dev/zero, /dev/random, /dev/urandom) and a private size-capped tmpfs: no host file, no host "
    "socket path, no /proc of host processes is visible, and writes cannot reach the host disk",
    "net_ns": "network namespace with nothing in it: no network, no loopback service of the host, "
    "no abstract unix socket of the host",
    "pid_ns": "PID namespaces: no host process can be seen or signalled, and every process a "
    "solution starts (setsid daemons included) dies with it",
    "ipc_ns": "IPC namespace: no System V IPC object or POSIX message queue of the host",
    "own_uid": "the solution and the tests run as two unprivileged uids of their own: they own no "
    "host file and cannot signal or trace each other",
    "no_caps": "no capabilities and no_new_privs: setuid binaries and file capabilities grant nothing",
    "seccomp": "system call filter: no ptrace, process_vm_*, mount, pivot_root, namespaces, "
    "keyrings, bpf, perf_event_open, userfaultfd, io_uring, kexec or modules, and only unix sockets "
    "(none at all without a network namespace of its own)",
    "memory_cgroup": "memory of all the sandbox's processes together (and its tmpfs) is capped",
    "pids_cgroup": "processes and threads of the sandbox together are capped, for root too",
    "cpu_cgroup": "CPU time of all the solution's processes together counts against its time limit",
    "schedstat": "time limits count CPU and sleep but not waiting for a CPU: a verdict does not "
    "depend on machine load",
}

MAX_DEPTH = 100  # nesting of one value
MAX_NODES = 2_000_000  # objects in one value
MAX_VALUE_BYTES = 16 * 2**20  # encoded size of one value
# Dict keys and set items whose hash is not randomized per process (everything but str and
# bytes): crafted ints that all collide make building a dict quadratic, so the trusted side
# never builds more than this many from one value.
MAX_FIXED_HASH_ITEMS = 10_000

_U32 = struct.Struct(">I")
_F64 = struct.Struct(">d")
_C128 = struct.Struct(">dd")


class Refused(Exception):
    """A value that may not cross: a type that is not an exact builtin, too deep, too large,
    or bytes that are not a well-formed encoding."""


def encode(value, max_bytes=MAX_VALUE_BYTES):
    """The bytes of `value`; Refused when it holds anything but exact builtin plain types."""
    out = bytearray()
    _encode(value, out, 0, [MAX_NODES, MAX_FIXED_HASH_ITEMS], max_bytes)
    return bytes(out)


_SEQUENCE_TAGS = {list: b"l", tuple: b"t", set: b"e", frozenset: b"z"}


def _count(budget, depth):
    # budget = [nodes left, fixed-hash items left]
    if depth > MAX_DEPTH:
        raise Refused(f"value nested deeper than {MAX_DEPTH}")
    budget[0] -= 1
    if budget[0] < 0:
        raise Refused(f"value has more than {MAX_NODES} parts")


def _hashed(budget, key):
    if type(key) is not str and type(key) is not bytes:
        budget[1] -= 1
        if budget[1] < 0:
            raise Refused(f"more than {MAX_FIXED_HASH_ITEMS} dict keys or set items that are not str or bytes")


def _encode(value, out, depth, nodes, max_bytes):
    _count(nodes, depth)
    kind = type(value)
    if value is None:
        out += b"N"
    elif kind is bool:
        out += b"T" if value else b"F"
    elif kind is int:
        size = (value.bit_length() + 8) // 8
        out += b"i" + _U32.pack(size) + value.to_bytes(size, "big", signed=True)
    elif kind is float:
        out += b"f" + _F64.pack(value)
    elif kind is complex:
        out += b"c" + _C128.pack(value.real, value.imag)
    elif kind is str or kind is bytes:
        data = value.encode("utf-8", "surrogatepass") if kind is str else value
        out += (b"s" if kind is str else b"b") + _U32.pack(len(data)) + data
    elif kind in _SEQUENCE_TAGS:
        out += _SEQUENCE_TAGS[kind] + _U32.pack(len(value))
        hashed = kind is set or kind is frozenset
        for item in value:
            if hashed:
                _hashed(nodes, item)
            _encode(item, out, depth + 1, nodes, max_bytes)
    elif kind is dict:
        out += b"d" + _U32.pack(len(value))
        for key, item in value.items():
            _hashed(nodes, key)
            _encode(key, out, depth + 1, nodes, max_bytes)
            _encode(item, out, depth + 1, nodes, max_bytes)
    else:
        raise Refused(f"a value of type {type_name(kind)} is not a plain builtin value")
    if len(out) > max_bytes:
        raise Refused(f"value larger than {max_bytes} bytes")


def decode(data):
    """The value `data` encodes, built from exact builtin types; Refused when malformed."""
    view = memoryview(data)
    try:
        value, end = _decode(view, 0, 0, [MAX_NODES, MAX_FIXED_HASH_ITEMS])
    except (struct.error, IndexError, UnicodeDecodeError, OverflowError):
        raise Refused("malformed value encoding") from None
    except TypeError:
        raise Refused("unhashable dict key or set item") from None
    if end != len(view):
        raise Refused("malformed value encoding (trailing bytes)")
    return value


_CONSTANTS = {ord("N"): None, ord("T"): True, ord("F"): False}
_SEQUENCE_BUILDERS = {ord("l"): list, ord("t"): tuple, ord("e"): set, ord("z"): frozenset}


def _length(view, pos):
    size = _U32.unpack_from(view, pos)[0]
    if size > len(view) - pos - 4:
        raise Refused("malformed value encoding (length past the end)")
    return size, pos + 4


def _decode(view, pos, depth, nodes):
    _count(nodes, depth)
    tag = view[pos]
    pos += 1
    if tag in _CONSTANTS:
        return _CONSTANTS[tag], pos
    if tag == ord("i"):
        size, pos = _length(view, pos)
        return int.from_bytes(view[pos : pos + size], "big", signed=True), pos + size
    if tag == ord("f"):
        return _F64.unpack_from(view, pos)[0], pos + 8
    if tag == ord("c"):
        real, imag = _C128.unpack_from(view, pos)
        return complex(real, imag), pos + 16
    if tag == ord("s") or tag == ord("b"):
        size, pos = _length(view, pos)
        raw = bytes(view[pos : pos + size])
        return (raw.decode("utf-8", "surrogatepass") if tag == ord("s") else raw), pos + size
    if tag in _SEQUENCE_BUILDERS:
        count, pos = _length(view, pos)  # every item takes at least one byte
        items = []
        hashed = tag == ord("e") or tag == ord("z")
        for _ in range(count):
            item, pos = _decode(view, pos, depth + 1, nodes)
            if hashed:
                _hashed(nodes, item)
            items.append(item)
        return _SEQUENCE_BUILDERS[tag](items), pos
    if tag == ord("d"):
        count, pos = _length(view, pos)
        result = {}
        for _ in range(count):
            key, pos = _decode(view, pos, depth + 1, nodes)
            _hashed(nodes, key)
            result[key], pos = _decode(view, pos, depth + 1, nodes)
        return result, pos
    raise Refused(f"malformed value encoding (tag {tag})")


def type_name(kind):
    """A type's name cut to a safe identifier: the only text of a solution's that reaches a reason."""
    name = getattr(kind, "__name__", "?")
    name = name if type(name) is str else "?"
    return "".join(c for c in name[:60] if c.isascii() and (c.isalnum() or c in "_.")) or "?"


def frame(body):
    """`body` with its length in front: one frame."""
    return _U32.pack(len(body)) + body


def write_frame(fd, body):
    """Write one length-prefixed frame to a blocking fd."""
    view = memoryview(frame(body))
    while view:
        view = view[os.write(fd, view) :]


def read_frame(fd, max_bytes):
    """Read one frame from a blocking fd; None at end of file; Refused when over max_bytes."""
    head = _read_exactly(fd, 4)
    if head is None:
        return None
    size = _U32.unpack(head)[0]
    if size > max_bytes:
        raise Refused(f"frame of {size} bytes over the {max_bytes} limit")
    body = _read_exactly(fd, size)
    if body is None:
        return None
    return body


def _read_exactly(fd, size):
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


class FrameReader:
    """Frames from a non-blocking fd, assembled as bytes arrive."""

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self.buffer = bytearray()

    def feed(self, data):
        """Add bytes; return the frames now complete. Refused when one is over max_bytes."""
        self.buffer += data
        frames = []
        while len(self.buffer) >= 4:
            size = _U32.unpack_from(self.buffer, 0)[0]
            if size > self.max_bytes:
                raise Refused(f"frame of {size} bytes over the {self.max_bytes} limit")
            if len(self.buffer) < 4 + size:
                break
            frames.append(bytes(self.buffer[4 : 4 + size]))
            del self.buffer[: 4 + size]
        return frames
