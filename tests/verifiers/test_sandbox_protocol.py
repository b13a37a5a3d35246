"""The pieces of the code sandbox that need no sandbox: the plain-value encoding, the seccomp
program, the clock arithmetic, and the supervisor's import scan."""

import math
import re
import struct
from pathlib import Path

import pytest

from assay.verifiers import sandbox_supervisor, sandbox_syscalls
from assay.verifiers.sandbox_clock import Clock
from assay.verifiers.sandbox_protocol import MAX_DEPTH, MAX_FIXED_HASH_ITEMS, FrameReader, Refused, decode, encode, frame

PLAIN = [
    None, True, False, 0, -1, 2**200, -(2**70) + 3, 1.5, -0.0, math.inf, -math.inf, 1e-310, 3 + 4j, "", "héllo \U0001f600",
    "\ud800 lone surrogate", b"", b"\x00\xff", [], (), {}, set(), frozenset(),
    [1, [2, [3, (4, {5: "six"})]]], {"a": [1, 2], (1, "b"): {None}}, {frozenset({1, 2}), (3,)}, (True, 1, 1.0),
]


@pytest.mark.parametrize("value", PLAIN, ids=[repr(v)[:30] for v in PLAIN])
def test_plain_values_round_trip_with_their_exact_types(value):
    back = decode(encode(value))
    assert back == value and type(back) is type(value)
    if isinstance(value, float):
        assert math.copysign(1, back) == math.copysign(1, value)


def test_nan_round_trips():
    assert math.isnan(decode(encode(float("nan"))))


class AlwaysEqual:
    def __eq__(self, other):
        return True


class SneakyInt(int):
    def __eq__(self, other):
        return True


class SneakyStr(str):
    def __eq__(self, other):
        return True

    __hash__ = str.__hash__


class SneakyList(list):
    pass


class SneakyDict(dict):
    pass


NOT_PLAIN = [
    (AlwaysEqual(), "AlwaysEqual"),
    (SneakyInt(3), "SneakyInt"),
    (SneakyStr("x"), "SneakyStr"),
    (SneakyList([1]), "SneakyList"),
    (SneakyDict(a=1), "SneakyDict"),
    ((x for x in range(3)), "generator"),
    ([1, AlwaysEqual()], "AlwaysEqual"),
    ({"k": SneakyInt(1)}, "SneakyInt"),
    ({SneakyStr("k"): 1}, "SneakyStr"),
    (range(3), "range"),
    (bytearray(b"x"), "bytearray"),
    (print, "builtin_function_or_method"),
]


@pytest.mark.parametrize("value,name", NOT_PLAIN, ids=[n for _, n in NOT_PLAIN])
def test_anything_but_exact_builtin_types_is_refused_naming_the_type(value, name):
    with pytest.raises(Refused, match=f"type {name} is not a plain builtin value"):
        encode(value)


def test_depth_and_size_caps():
    deep = []
    for _ in range(MAX_DEPTH + 2):
        deep = [deep]
    with pytest.raises(Refused, match="nested deeper"):
        encode(deep)
    cyclic = []
    cyclic.append(cyclic)
    with pytest.raises(Refused, match="nested deeper"):
        encode(cyclic)
    with pytest.raises(Refused, match="larger than 100 bytes"):
        encode("x" * 200, max_bytes=100)
    with pytest.raises(Refused, match="dict keys or set items"):
        encode(set(range(MAX_FIXED_HASH_ITEMS + 1)))
    assert len(decode(encode({str(i): i for i in range(MAX_FIXED_HASH_ITEMS + 1)}))) == MAX_FIXED_HASH_ITEMS + 1


# Forged byte streams: the decoder, not the sender, decides what arrives.
FORGED = [
    (b"", "malformed"),
    (b"Q", "tag 81"),
    (b"s\x00\x00\x00\x05ab", "length past the end"),
    (b"l\xff\xff\xff\xff", "length past the end"),
    (b"NN", "trailing bytes"),
    (b"f\x00", "malformed"),
    (b"s\x00\x00\x00\x01\xff", "malformed"),
    (b"d\x00\x00\x00\x01l\x00\x00\x00\x00N", "unhashable"),
    (b"e\x00\x00\x00\x01d\x00\x00\x00\x00", "unhashable"),
    (b"l\x00\x00\x00\x01" * (MAX_DEPTH + 2) + b"N", "nested deeper"),
]


@pytest.mark.parametrize("data,why", FORGED, ids=[w for _, w in FORGED])
def test_forged_bytes_are_refused(data, why):
    with pytest.raises(Refused, match=why):
        decode(data)


def test_hash_flooding_is_capped_on_decode():
    # ints that all hash alike: building a set of them is quadratic, so their count is capped
    colliding = [(2**61 - 1) * k for k in range(MAX_FIXED_HASH_ITEMS + 1)]
    data = b"e" + struct.pack(">I", len(colliding)) + b"".join(encode(v) for v in colliding)
    with pytest.raises(Refused, match="dict keys or set items"):
        decode(data)


def test_frames_are_reassembled_and_capped():
    reader = FrameReader(max_bytes=8)
    stream = frame(b"abc") + frame(b"") + frame(b"12345678")
    assert reader.feed(stream[:2]) == []
    assert reader.feed(stream[2:9]) == [b"abc"]
    assert reader.feed(stream[9:]) == [b"", b"12345678"]
    with pytest.raises(Refused, match="frame of 9 bytes"):
        reader.feed(frame(b"123456789"))


def test_clock_charges_wall_time_less_run_queue_wait_and_at_least_cpu():
    # hand-derived: a span of 100 ns during which the process waited 30 ns for a CPU costs 70
    waited = iter([5, 35])
    clock = Clock(budget_ns=100)
    clock.start(1_000, lambda: next(waited))
    clock.stop(1_100)
    assert clock.used == 70 and not clock.exhausted(0)
    cpu = iter([0, 150])
    greedy = Clock(budget_ns=100, cpu=lambda: next(cpu))
    assert greedy.charged(0) == 150 and greedy.used == 0  # four threads out-ran the wall clock
    clock.exhaust()
    assert clock.exhausted(0)


def test_supervisor_scans_import_statements_without_running_them():
    code = "from typing import List\nimport math, re as regex\n    import collections.abc\nx = 'import os'\nfrom . import y\nfrom os import path, sep as s\n"
    assert sandbox_supervisor._imported(code) == {"typing", "typing.List", "math", "re", "collections", "collections.abc",
                                                   "os", "os.path", "os.sep"}


def _header_numbers(path: Path) -> dict[str, int]:
    text = path.read_text()
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"#define __NR(?:3264)?_(\w+)\s+(\d+)", text)}


@pytest.mark.parametrize("machine,header", [("x86_64", "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"), ("aarch64", "/usr/include/asm-generic/unistd.h")])
def test_seccomp_system_call_numbers_match_the_kernel_headers(machine, header):
    if not Path(header).exists():
        pytest.skip(f"{header} is not installed (linux-libc-dev)")
    numbers = _header_numbers(Path(header))
    table = sandbox_syscalls.ARCHES[machine]["numbers"]
    assert {name: numbers.get(name) for name in table} == table


def test_seccomp_program_denies_every_listed_call_and_checks_the_architecture():
    program = sandbox_syscalls.seccomp_program("x86_64")
    ops = [struct.unpack("=HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    assert ops[0] == (0x20, 0, 0, 4) and ops[1][3] == 0xC000003E  # load arch, compare
    compared = {op[3] for op in ops if op[0] == 0x15}
    numbers = sandbox_syscalls.ARCHES["x86_64"]["numbers"]
    assert {numbers[name] for name in sandbox_syscalls.DENIED} <= compared
    assert ops[-1] == (0x06, 0, 0, 0x7FFF0000)  # everything else is allowed
    assert len(ops) < 4096  # the kernel's BPF_MAXINSNS
