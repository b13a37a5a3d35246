"""Readers: turn a source (file, folder, Hugging Face dataset, built-in corpus) into blocks of
raw rows, each row a dict with a location a person can find it by.

Rows that cannot even be parsed (a broken JSON line, invalid UTF-8, a JSON value that is not
an object, JSON nested deeper than MAX_JSON_DEPTH, an object that repeats a key) come out of the
reader already rejected, with their location; everything else is judged later by the column
mapping. A UTF-8 byte order mark at the start of a file is skipped in every format.

JSON numbers keep their meaning exactly: integers are Python ints (any size), and a number
written with a fraction or exponent that a 64-bit float cannot hold as written (9007199254740993.0,
0.1000000000000000000001, 1e-400) comes back as an `InexactNumber`, so the column mapping can
quarantine it as `imprecise_number` instead of storing a rounded gold. NaN, Infinity and
numbers too large for a float (1e400) come back as non-finite floats, quarantined as
`non_finite` by the mapping. A file that cannot be read at all (a truncated Parquet
footer, a JSON array with a syntax error) raises AssayError naming the file and the line or
row group: that is a broken file, not a bad row.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow.parquet as pq

from assay.pipelines.errors import AssayError, chosen

BLOCK_ROWS = 20_000  # rows per block: one catalog transaction, and the unit of progress
FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")
BOM = b"\xef\xbb\xbf"  # the UTF-8 byte order mark some editors (and Excel) put at the start of a file

# A JSON row nested deeper than this is quarantined as `bad_json`. No prompt record needs more
# than a few levels; the bound is fixed, so whether a row parses never depends on how deep the
# call stack happens to be (Python's parser and json.dumps recurse, and give up near 1,000).
MAX_JSON_DEPTH = 100

# The csv module refuses fields over 131,072 characters by default and then cannot go on
# reading the file. Its own limit is lifted while a CSV file is read, so an over-long field
# reaches the one limit every format shares (schema.MAX_FIELD_CHARS, a `field_too_large` row).
_CSV_FIELD_LIMIT = 2**31 - 1

# Split names as the Hugging Face layouts spell them in file names, mapped to canonical names.
_SPLIT_WORDS = {"train": "train", "test": "test", "validation": "validation", "valid": "validation",
                "val": "validation", "dev": "validation"}
_SPLIT_RE = re.compile(r"(?<![a-z])(" + "|".join(sorted(_SPLIT_WORDS, key=len, reverse=True)) + r")(?![a-z])")


@dataclass(frozen=True)
class Reject:
    """A row turned away before or during mapping. `reason` is a stable code."""

    location: str
    reason: str
    detail: str
    raw: Any


@dataclass
class RawBlock:
    split: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    progress: int = 0  # units done by this block (bytes for files, rows otherwise)
    # Only on the first block of a file or split: its name and its columns (a CSV header, a
    # Parquet or dataset schema, the keys of a JSON file's first block), so a column mapping
    # that names a column the file lacks can fail once instead of rejecting every row.
    origin: str = ""
    columns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Source:
    """A resolved source: how to read it and how big it is, for the progress bar."""

    description: str
    total: int  # in progress units
    unit: str  # "bytes" or "rows"
    blocks: Callable[[], Iterator[RawBlock]]


def infer_split(path: Path) -> str:
    """The split a file's name or folder names: `data/test-00000-of-00001.parquet` is test."""
    for part in reversed(path.parts):
        found = _SPLIT_RE.search(part.lower())
        if found:
            return _SPLIT_WORDS[found.group(1)]
    return "train"


def list_files(path: Path) -> list[Path]:
    if path.is_file():
        chosen(FILE_SUFFIXES, path.suffix.lower(), "file type", f"{path}:")
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in FILE_SUFFIXES)
    if not files:
        raise AssayError(f"{path}: folder holds no {', '.join(FILE_SUFFIXES)} files")
    return files


def file_source(path: Path, split: str | None) -> Source:
    files = list_files(path)
    total = sum(f.stat().st_size for f in files)

    def blocks() -> Iterator[RawBlock]:
        for f in files:
            yield from _READERS[f.suffix.lower()](f, split or infer_split(f.relative_to(path) if path.is_dir() else f))

    return Source(f"{path} ({len(files)} file{'s' if len(files) != 1 else ''})", total, "bytes", blocks)


# -- JSON Lines -------------------------------------------------------------------------------


class InexactNumber(float):
    """A JSON number a 64-bit float cannot hold as written: the rounded float, and `source`,
    the number's text in the file."""

    __slots__ = ("source",)

    def __new__(cls, value: float, source: str) -> InexactNumber:
        number = super().__new__(cls, value)
        number.source = source
        return number


class _BadValue(Exception):
    """Well-formed JSON that cannot be a row as written: (reason code, detail)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of repeated keys without a word; which one the author meant is unknown.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _BadValue("duplicate_key", f"key {key!r} appears twice in one object")
            seen.add(key)
    return obj


def _exact_float(text: str) -> float:
    value = float(text)
    # repr is the shortest text that reads back as the same float: equal to the source, or
    # the same decimal number (1e5, 2.50), means nothing was lost.
    if math.isfinite(value) and repr(value) != text and Decimal(repr(value)) != Decimal(text):
        return InexactNumber(value, text)
    return value


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_float=_exact_float)
_WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON's four whitespace characters
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)  # a string, or a bracket
_SCALAR = re.compile(r"[^ \t\n\r,\]}]*")  # a number or literal: up to the next delimiter


def _decode_value(text: str, start: int) -> tuple[Any, int]:
    """The JSON value at text[start] (no leading whitespace) and the index just after it.

    Raises json.JSONDecodeError for text that is not JSON, and _BadValue for JSON that cannot
    be a row: nested deeper than MAX_JSON_DEPTH, an object with a repeated key, or an integer
    with more digits than Python converts (sys.get_int_max_str_digits).

        >>> _decode_value('{"a": [1, 2.5]} tail', 0)
        ({'a': [1, 2.5]}, 15)
    """
    try:
        value, end = _DECODER.raw_decode(text, start)
    except RecursionError:
        raise _BadValue("bad_json", f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # int() refusing a number of thousands of digits
        raise _BadValue("bad_json", _first_line(exc)) from None
    if _nesting(text, start, end) > MAX_JSON_DEPTH:
        raise _BadValue("bad_json", f"nested deeper than {MAX_JSON_DEPTH} levels")
    return value, end


def _nesting(text: str, start: int, end: int) -> int:
    """How deep brackets nest in text[start:end] outside strings; 0 when there are too few
    brackets, in strings or not, to pass MAX_JSON_DEPTH."""
    if text.count("[", start, end) + text.count("{", start, end) <= MAX_JSON_DEPTH:
        return 0  # too few brackets to be too deep: the usual row costs two counts
    depth = deepest = 0
    for token in _TOKEN.finditer(text, start, end):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif bracket in "]}":
            depth -= 1
    return deepest


def _value_end(text: str, start: int) -> int | None:
    """Where the JSON value at text[start] ends, found without parsing it (no recursion), or
    None if it never closes."""
    if text[start] not in "[{":
        return _SCALAR.match(text, start).end()  # type: ignore[union-attr]
    depth = 0
    for token in _TOKEN.finditer(text, start):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
        elif bracket in "]}":
            depth -= 1
            if depth == 0:
                return token.end()
    return None


def _row_value(value: Any, location: str, raw: Any) -> dict[str, Any] | Reject:
    if not isinstance(value, dict):
        return Reject(location, "not_an_object", f"a JSON {type(value).__name__}, not an object", raw)
    return value


def _parse_line(line: bytes, location: str) -> dict[str, Any] | Reject:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Reject(location, "invalid_utf8", f"byte {exc.start} is not valid UTF-8",
                      line[:2000].decode("utf-8", "backslashreplace"))
    try:
        value, end = _decode_value(text, _WHITESPACE.match(text).end())  # type: ignore[union-attr]
        if _WHITESPACE.match(text, end).end() != len(text):  # type: ignore[union-attr]
            raise json.JSONDecodeError("Extra data", text, end)
    except json.JSONDecodeError as exc:
        return Reject(location, "bad_json", f"{exc.msg} at column {exc.colno}", text)
    except _BadValue as exc:
        return Reject(location, *exc.args, text)
    return _row_value(value, location, text)


def _keys(rows: list[dict[str, Any]]) -> tuple[str, ...]:
    """Every key of the rows, in the order they first appear."""
    return tuple(dict.fromkeys(key for row in rows for key in row))


def read_jsonl(path: Path, split: str) -> Iterator[RawBlock]:
    block = RawBlock(split, origin=str(path))
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            block.progress += len(line)
            if lineno == 1 and line.startswith(BOM):
                line = line[len(BOM) :]
            if not line.strip():
                continue  # blank lines carry no row; JSON Lines readers all skip them
            location = f"{path}:{lineno}"
            parsed = _parse_line(line, location)
            if isinstance(parsed, Reject):
                block.rejects.append(parsed)
            else:
                block.rows.append(parsed)
                block.locations.append(location)
            if len(block.rows) + len(block.rejects) >= BLOCK_ROWS:
                yield _with_keys(block)
                block = RawBlock(split)
    yield _with_keys(block)


def _with_keys(block: RawBlock) -> RawBlock:
    """A JSON file's first block with rows declares their keys as the file's columns."""
    if block.origin and block.rows:
        block.columns = _keys(block.rows)
    return block


# -- JSON (an array of objects, or JSON Lines under a .json name as many HF repos have) ------


def read_json(path: Path, split: str) -> Iterator[RawBlock]:
    with open(path, "rb") as fh:
        head = fh.read(4096).removeprefix(BOM).lstrip()
    if not head.startswith(b"["):
        yield from read_jsonl(path, split)
        return
    raw = path.read_bytes()
    try:
        text = raw.removeprefix(BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise AssayError(f"{path}:{line}: invalid UTF-8 in a JSON array file (byte {exc.start})") from None
    block = RawBlock(split, origin=str(path))
    done = 0
    for index, (start, value) in enumerate(_array_items(path, text)):
        location = f"{path}[{index}]"
        parsed = value if isinstance(value, Reject) else _row_value(value, location, value)
        if isinstance(parsed, Reject):
            block.rejects.append(Reject(location, parsed.reason, parsed.detail, parsed.raw))
        else:
            block.rows.append(parsed)
            block.locations.append(location)
        if len(block.rows) + len(block.rejects) >= BLOCK_ROWS:
            block.progress = len(raw) * start // len(text) - done
            done += block.progress
            yield _with_keys(block)
            block = RawBlock(split)
    block.progress = len(raw) - done
    yield _with_keys(block)


def _array_items(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    """(start offset, value) of each element of the JSON array `text`, one at a time, so an
    element too deep to parse or with a repeated key is one Reject (location filled in by the
    caller) while the elements around it still parse. A syntax error anywhere is a broken file."""

    def broken(message: str, pos: int) -> AssayError:
        return AssayError(f"{path}:{text.count(chr(10), 0, pos) + 1}: broken JSON array ({message})")

    pos = _WHITESPACE.match(text).end()  # type: ignore[union-attr]
    if not text.startswith("[", pos):
        raise broken("expected '[' at the start", pos)
    pos = _WHITESPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
    if text.startswith("]", pos):
        pos += 1
    else:
        while True:
            try:
                value, end = _decode_value(text, pos)
            except json.JSONDecodeError as exc:
                raise AssayError(f"{path}:{exc.lineno}: broken JSON array ({exc.msg} at column {exc.colno})") from None
            except _BadValue as exc:
                found = _value_end(text, pos)
                if found is None:
                    raise broken("an element never closes", pos) from None
                value, end = Reject("", *exc.args, text[pos:found]), found
            yield pos, value
            pos = _WHITESPACE.match(text, end).end()  # type: ignore[union-attr]
            if text.startswith("]", pos):
                pos += 1
                break
            if not text.startswith(",", pos):
                raise broken("expected ',' or ']' after an element", pos)
            pos = _WHITESPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
    if _WHITESPACE.match(text, pos).end() != len(text):  # type: ignore[union-attr]
        raise broken("text after the closing ']'", pos)


# -- Parquet ----------------------------------------------------------------------------------


def read_parquet(path: Path, split: str) -> Iterator[RawBlock]:
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError variants for bad footers
        raise AssayError(f"{path}: not a readable Parquet file ({_first_line(exc)})") from None
    size = path.stat().st_size
    total_rows = max(parquet.metadata.num_rows, 1)
    row = 0
    groups = parquet.num_row_groups
    for group in range(groups):
        try:
            rows = parquet.read_row_group(group).to_pylist()
        except Exception as exc:
            raise AssayError(f"{path}: row group {group} of {groups} is unreadable ({_first_line(exc)})") from None
        for start in range(0, len(rows), BLOCK_ROWS):
            chunk = rows[start : start + BLOCK_ROWS]
            locations = [f"{path}:row {row + start + i}" for i in range(len(chunk))]
            block = RawBlock(split, chunk, locations, progress=size * len(chunk) // total_rows)
            if row + start == 0:
                block.origin, block.columns = str(path), tuple(parquet.schema_arrow.names)
            yield block
        row += len(rows)


# -- CSV --------------------------------------------------------------------------------------


def read_csv(path: Path, split: str) -> Iterator[RawBlock]:
    limit = csv.field_size_limit(_CSV_FIELD_LIMIT)
    try:
        yield from _read_csv(path, split)
    finally:
        csv.field_size_limit(limit)  # the limit is process-wide: leave it as it was found


def _read_csv(path: Path, split: str) -> Iterator[RawBlock]:
    size = path.stat().st_size
    done = 0
    # surrogateescape keeps a bad byte inspectable instead of failing the whole file; utf-8-sig
    # drops a byte order mark, which would otherwise become part of the first column's name.
    with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        if len(set(header)) != len(header):
            raise AssayError(f"{path}:1: duplicate column names in the header {header}")
        block = RawBlock(split, origin=str(path), columns=tuple(header))
        try:
            for row in reader:
                location = f"{path}:{reader.line_num}"
                reject = _check_csv_row(row, location, len(header))
                if reject:
                    block.rejects.append(reject)
                else:
                    block.rows.append(row)
                    block.locations.append(location)
                # Text-mode files cannot tell() while iterating: count characters instead.
                block.progress += sum(len(v) + 1 for v in row.values() if isinstance(v, str))
                if len(block.rows) + len(block.rejects) >= BLOCK_ROWS:
                    done += block.progress
                    yield block
                    block = RawBlock(split)
        except csv.Error as exc:
            raise AssayError(f"{path}:{reader.line_num}: unreadable CSV ({exc})") from None
        block.progress = max(size - done, 0)
        yield block


def _check_csv_row(row: dict[Any, Any], location: str, width: int) -> Reject | None:
    if None in row:  # DictReader files surplus fields under the key None
        return Reject(location, "bad_csv_row", f"{width + len(row[None])} fields, header has {width}", _printable(row))
    if any(v is None for v in row.values()):
        return Reject(location, "bad_csv_row", f"fewer fields than the header's {width}", _printable(row))
    for key, value in row.items():
        if _has_surrogate(value):
            return Reject(location, "invalid_utf8", f"column {key!r} is not valid UTF-8", _printable(row))
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _printable(row: dict[Any, Any]) -> dict[str, Any]:
    return {str(k): (v.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") if isinstance(v, str) else v)
            for k, v in row.items()}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


_READERS: dict[str, Callable[[Path, str], Iterator[RawBlock]]] = {
    ".jsonl": read_jsonl,
    ".json": read_json,
    ".parquet": read_parquet,
    ".csv": read_csv,
}


# -- Hugging Face datasets --------------------------------------------------------------------


def hf_source(dataset_id: str, subset: str | None, split: str | None) -> Source:
    """A dataset from the Hugging Face hub, read with `datasets`.

    `datasets` uses the local cache first and the hub when it can reach it; with
    HF_HUB_OFFLINE=1 it never tries the network. Either way a dataset that is in neither
    gives one clear error.
    """
    import datasets  # heavy import, only when a hub dataset is asked for

    datasets.disable_progress_bars()  # ours replaces it
    datasets.logging.set_verbosity_error()  # cache fallbacks are normal here, not warnings
    try:
        loaded = datasets.load_dataset(dataset_id, subset, split=split)
    except Exception as exc:  # datasets raises many types: DatasetNotFoundError, ConnectionError, ...
        raise AssayError(
            f"{dataset_id!r} is not a local file or folder, and loading it as a Hugging Face dataset failed: "
            f"{_first_line(exc)} (it must be in the local cache, {datasets.config.HF_DATASETS_CACHE}, "
            "or the hub must be reachable)"
        ) from None
    splits = {split: loaded} if split else dict(loaded)
    total = sum(ds.num_rows for ds in splits.values())

    def blocks() -> Iterator[RawBlock]:
        for name, ds in splits.items():
            for start in range(0, ds.num_rows, BLOCK_ROWS):
                columns = ds[start : start + BLOCK_ROWS]
                names = list(columns)
                rows = [dict(zip(names, values)) for values in zip(*columns.values())]
                locations = [f"{dataset_id}[{name}]:row {start + i}" for i in range(len(rows))]
                block = RawBlock(name, rows, locations, progress=len(rows))
                if start == 0:
                    block.origin, block.columns = f"{dataset_id}[{name}]", tuple(ds.column_names)
                yield block

    return Source(f"Hugging Face dataset {dataset_id}" + (f" ({subset})" if subset else ""), total, "rows", blocks)


def rows_source(description: str, rows: list[dict[str, Any]], split: str, location_prefix: str) -> Source:
    """Rows already in memory (the built-in corpora), read like any other source."""

    def blocks() -> Iterator[RawBlock]:
        for start in range(0, len(rows), BLOCK_ROWS):
            chunk = rows[start : start + BLOCK_ROWS]
            yield RawBlock(split, chunk, [f"{location_prefix}:{start + i}" for i in range(len(chunk))], progress=len(chunk))

    return Source(description, len(rows), "rows", blocks)

