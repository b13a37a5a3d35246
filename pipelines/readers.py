"""Readers: turn a source (file, folder, Hugging Face dataset, built-in corpus) into blocks of
raw rows, each row a dict with a location a person can find it by.

Rows that cannot even be parsed (a broken JSON line, invalid UTF-8, a JSON value that is not
an object) come out of the reader already rejected, with their location; everything else is
judged later by the column mapping. A file that cannot be read at all (a truncated Parquet
footer, a JSON array with a syntax error) raises AssayError naming the file and the line or
row group: that is a broken file, not a bad row.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow.parquet as pq

from assay.pipelines.errors import AssayError

BLOCK_ROWS = 20_000  # rows per block: one catalog transaction, and the unit of progress
FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")

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
        if path.suffix.lower() not in FILE_SUFFIXES:
            raise AssayError(f"{path}: unsupported file type {path.suffix!r}; assay reads {', '.join(FILE_SUFFIXES)}")
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


def _parse_line(line: bytes, location: str) -> dict[str, Any] | Reject:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Reject(location, "invalid_utf8", f"byte {exc.start} is not valid UTF-8",
                      line[:2000].decode("utf-8", "backslashreplace"))
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return Reject(location, "bad_json", f"{exc.msg} at column {exc.colno}", text)
    if not isinstance(value, dict):
        return Reject(location, "not_an_object", f"a JSON {type(value).__name__}, not an object", text)
    return value


def read_jsonl(path: Path, split: str) -> Iterator[RawBlock]:
    block = RawBlock(split)
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            block.progress += len(line)
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
                yield block
                block = RawBlock(split)
    yield block


# -- JSON (an array of objects, or JSON Lines under a .json name as many HF repos have) ------


def read_json(path: Path, split: str) -> Iterator[RawBlock]:
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip()
    if not head.startswith(b"["):
        yield from read_jsonl(path, split)
        return
    raw = path.read_bytes()
    try:
        values = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise AssayError(f"{path}:{line}: invalid UTF-8 in a JSON array file (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise AssayError(f"{path}:{exc.lineno}: broken JSON array ({exc.msg} at column {exc.colno})") from None
    for start in range(0, len(values), BLOCK_ROWS):
        block = RawBlock(split)
        for index in range(start, min(start + BLOCK_ROWS, len(values))):
            location = f"{path}[{index}]"
            value = values[index]
            if isinstance(value, dict):
                block.rows.append(value)
                block.locations.append(location)
            else:
                block.rejects.append(Reject(location, "not_an_object", f"a JSON {type(value).__name__}, not an object", value))
        block.progress = len(raw) * (len(block.rows) + len(block.rejects)) // len(values)
        yield block


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
            yield RawBlock(split, chunk, locations, progress=size * len(chunk) // total_rows)
        row += len(rows)


# -- CSV --------------------------------------------------------------------------------------


def read_csv(path: Path, split: str) -> Iterator[RawBlock]:
    size = path.stat().st_size
    done = 0
    # surrogateescape keeps a bad byte inspectable instead of failing the whole file.
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        if len(set(header)) != len(header):
            raise AssayError(f"{path}:1: duplicate column names in the header {header}")
        block = RawBlock(split)
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
                yield RawBlock(name, rows, locations, progress=len(rows))

    return Source(f"Hugging Face dataset {dataset_id}" + (f" ({subset})" if subset else ""), total, "rows", blocks)


def rows_source(description: str, rows: list[dict[str, Any]], split: str, location_prefix: str) -> Source:
    """Rows already in memory (the built-in corpora), read like any other source."""

    def blocks() -> Iterator[RawBlock]:
        for start in range(0, len(rows), BLOCK_ROWS):
            chunk = rows[start : start + BLOCK_ROWS]
            yield RawBlock(split, chunk, [f"{location_prefix}:{start + i}" for i in range(len(chunk))], progress=len(chunk))

    return Source(description, len(rows), "rows", blocks)

