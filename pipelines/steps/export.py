"""Shards: a curriculum plan joined with its records, written in a trainer's format, with a
manifest that makes the export checkable and reproducible.

`export_plan` reads a plan (stage, uid, weight per row; see assay.curricula.plan), joins each
uid with its record from the catalog and with the difficulty observations behind the plan,
and writes one of FORMATS:

- `parquet` / `jsonl`: assay's own columns (uid, source, split, prompt, answer, verifier,
  domain, meta, stage, weight, n, n_correct) in `data/part-NNNNN.*`; `assay train` reads these.
- `hf`: the same columns as a Hugging Face dataset repository (`data/train-NNNNN-of-NNNNN.parquet`
  and a README card with its `configs`): `datasets.load_dataset(DIR)` loads it, and
  `huggingface-cli upload` pushes it as is.
- `verl`: verl's RL parquet layout (data_source, prompt as chat messages, ability,
  reward_model {style, ground_truth}, extra_info); score with
  `assay.verifiers.rewards.compute_score` (or `compute_score_async`).
- `trl`: a `datasets` dataset saved with `save_to_disk` (`datasets.load_from_disk(DIR/dataset)`),
  with a conversational `prompt` and the columns `assay.verifiers.rewards.trl_reward` needs.
- `openrlhf`: JSON lines with a conversational `prompt` (`--input_key prompt
  --apply_chat_template`), a JSON `label` holding the answer, verifier and its options
  (`--label_key label`) and a `datasource`; score with `assay.verifiers.rewards.reward_func`
  (its file as `--remote_rm_url`).

A prompt template (assay.trainers.prompts: a system turn, an instruction before or after the
prompt) shapes the chat messages of the verl, trl and openrlhf layouts; every format records
it in the manifest, and `assay train` applies it to the prompts of parquet and jsonl shards.
`data_source` replaces each row's source as verl's `data_source` and OpenRLHF's `datasource`.

The manifest (`manifest.json`) holds the row count, each file's sha256 and row count, a
format-independent content hash of the rows, the export run id, and the plan's parameters:
the curriculum settings and, when the plan came from `assay curate`, the run ids, filters and
thresholds, and the model and sampling config behind the difficulty. `verify_manifest`
recomputes every hash. Shards are written into a temporary sibling folder and renamed into
place at the end, so a half-written export is never visible under `--out`. A run killed
between that rename and recording that it exported finds, when continued, its own complete
export under `--out` (its run id in the manifest, the same rows, every hash matching) and
keeps it instead of failing on a folder that exists.

Example:
    >>> content_hash(pa.table({"uid": ["a"], "weight": [1.0]})) == content_hash(pa.table({"uid": ["a"], "weight": [1.0]}))
    True
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq

from assay.curricula.plan import Plan
from assay.pipelines.store.catalog import Catalog, new_run_id, utc_now
from assay.pipelines.steps.difficulty import stored_counts
from assay.pipelines.errors import AssayError, chosen
from assay.pipelines.config.settings import table
from assay.pipelines.steps.ingest import verifier_options
from assay.trainers.prompts import PromptTemplate
from assay.verifiers.names import names_help

MANIFEST = "manifest.json"
ROWS_PER_SHARD = 100_000  # one file per 100k rows: trainers stream files, and hashes stay cheap to re-check

# The columns of assay's own formats, in order. n / n_correct: the difficulty observations
# behind the plan, decided samples only (null when the plan carries none).
SHARD_SCHEMA = pa.schema([
    ("uid", pa.string()), ("source", pa.string()), ("split", pa.string()), ("prompt", pa.string()),
    ("answer", pa.string()), ("verifier", pa.string()), ("domain", pa.string()), ("meta", pa.string()),
    ("stage", pa.int32()), ("weight", pa.float64()), ("n", pa.int64()), ("n_correct", pa.int64()),
])


@dataclass(frozen=True)
class ShardFile:
    path: str  # relative to the export folder, with forward slashes
    rows: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    format: str
    rows: int
    content_sha256: str  # content_hash of the exported rows: equal across formats and writers
    files: list[ShardFile]
    run_id: str
    created_at: str
    plan: dict[str, Any]  # the plan's params, as stored with the plan
    template: dict[str, Any] = field(default_factory=dict)  # PromptTemplate.to_dict(): {} when none
    data_source: str | None = None  # replaced each row's source in verl's data_source / OpenRLHF's datasource

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


@dataclass(frozen=True)
class Mismatch:
    path: str
    problem: str  # missing | rows | sha256 | content | unlisted


# -- the rows -------------------------------------------------------------------------------------

def shard_rows(cat: Catalog, plan: Plan) -> pa.Table:
    """The plan's rows joined with their records and difficulty counts, in export order
    (stage, then uid), as SHARD_SCHEMA. Every planned uid must be a catalog record."""
    rows = plan.table.select(["uid", "stage", "weight"])
    counts = _plan_counts(cat, plan)
    # A cursor of its own: the catalog's connection may hold an unfinished result (a fetchone
    # while opening it), and duckdb >= 2 refuses to register tables on such a connection.
    with cat.con.cursor() as con:
        con.register("_plan", rows)
        con.register("_counts", counts)
        missing = con.execute(
            "SELECT p.uid FROM _plan p ANTI JOIN records r USING (uid) ORDER BY p.uid LIMIT 3"
        ).fetchall()
        if missing:
            total = con.execute("SELECT count(*) FROM _plan p ANTI JOIN records r USING (uid)").fetchall()[0][0]
            raise AssayError(
                f"plan names {total} uid(s) not in the catalog {cat.path} (first: {', '.join(m[0] for m in missing)}); "
                "export with the catalog the plan was built from"
            )
        table = con.sql(
            """
            SELECT r.uid, r.source, r.split, r.prompt, r.answer, r.verifier, r.domain, r.meta,
                   p.stage::INTEGER AS stage, p.weight::DOUBLE AS weight,
                   c.n::BIGINT AS n, c.n_correct::BIGINT AS n_correct
            FROM _plan p JOIN records r USING (uid) LEFT JOIN _counts c USING (uid)
            ORDER BY p.stage, r.uid
            """
        ).to_arrow_table()
    return table.cast(SHARD_SCHEMA)


def _plan_counts(cat: Catalog, plan: Plan) -> pa.Table:
    """uid -> (n, n_correct) of the difficulty run the plan was built on, if it names one."""
    difficulty = plan.params.get("difficulty") or {}
    counts = stored_counts(cat, difficulty["model_id"], difficulty["sampling_hash"],
                           difficulty["verifier_version"]) if difficulty.get("model_id") else {}
    return pa.table({"uid": pa.array(list(counts), pa.string()),
                     "n": pa.array([s.decided for s in counts.values()], pa.int64()),
                     "n_correct": pa.array([s.correct for s in counts.values()], pa.int64())})


def content_hash(table: pa.Table) -> str:
    """sha256 over the rows as canonical JSON lines (sorted keys), in order: the same rows
    give the same hash whatever the file format or the writer's version."""
    digest = hashlib.sha256()
    for batch in table.to_batches(max_chunksize=10_000):
        for row in batch.to_pylist():
            digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
            digest.update(b"\n")
    return digest.hexdigest()


# -- formats: (rows, folder, layout) -> the files written, relative paths ---------------------------


@dataclass(frozen=True)
class Layout:
    """What shapes the trainer formats' rows beyond the rows themselves (`assay export`'s flags)."""

    template: PromptTemplate = table(
        PromptTemplate, "The prompt template every trainer format's rows carry.", inline=True, prefix="template-",
        flags={"system": ("--system-prompt",), "instruction": ("--instruction",), "position": ("--instruction-position",)})
    data_source: str | None = field(default=None, metadata={
        "help": "verl's data_source and OpenRLHF's datasource for every row; unset: the row's source."})

    def __post_init__(self) -> None:
        if self.data_source is not None and not self.data_source.strip():
            raise AssayError("--data-source must be non-empty text")


def _slices(table: pa.Table) -> list[pa.Table]:
    return [table.slice(start, ROWS_PER_SHARD) for start in range(0, max(table.num_rows, 1), ROWS_PER_SHARD)]


def _write_parquet(table: pa.Table, out: Path, layout: Layout = Layout()) -> list[str]:
    names = []
    for i, part in enumerate(_slices(table)):
        names.append(f"data/part-{i:05d}.parquet")
        pq.write_table(part, out / names[-1])
    return names


def _write_jsonl(table: pa.Table, out: Path, layout: Layout = Layout()) -> list[str]:
    names = []
    for i, part in enumerate(_slices(table)):
        names.append(f"data/part-{i:05d}.jsonl")
        with open(out / names[-1], "w", encoding="utf-8") as f:
            for row in part.to_pylist():
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return names


def _card(data_files: str, about: str) -> str:
    """A dataset card whose `configs` name the data files: `datasets.load_dataset(DIR)` then
    reads those, not manifest.json beside them."""
    return f"""---
configs:
- config_name: default
  data_files:
  - split: train
    path: {data_files}
---
# assay export

{about}
`manifest.json` records how this dataset was made and the sha256 of every file.
"""


_HF_ABOUT = """RL prompts curated by [assay](https://github.com/assay-rl/assay): one row per prompt with its gold
`answer`, the `verifier` that checks responses (assay.verifiers), the curriculum `stage` and
sampling `weight`, and the difficulty observations (`n` samples, `n_correct`) behind the plan."""

_OPENRLHF_ABOUT = """RL prompts curated by [assay](https://github.com/assay-rl/assay) for OpenRLHF: a chat `prompt`
(`--data.input_key prompt --data.apply_chat_template`) and a JSON `label` with the gold answer
and its verifier (`--data.label_key label`), scored by `assay.verifiers.rewards.reward_func`."""


def _write_hf(table: pa.Table, out: Path, layout: Layout = Layout()) -> list[str]:
    parts = _slices(table)
    names = []
    for i, part in enumerate(parts):
        names.append(f"data/train-{i:05d}-of-{len(parts):05d}.parquet")
        pq.write_table(part, out / names[-1])
    (out / "README.md").write_text(_card("data/train-*", _HF_ABOUT), encoding="utf-8")
    return names + ["README.md"]


MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


def _messages(prompts: pa.Array, template: PromptTemplate) -> pa.Array:
    return pa.array([template.messages(p) for p in prompts.to_pylist()], MESSAGES)


def _sources(table: pa.Table, layout: Layout) -> pa.Array:
    return pa.array([layout.data_source] * table.num_rows, pa.string()) if layout.data_source else table["source"]


def _options_json(table: pa.Table) -> pa.Array:
    """Each row's verifier options as canonical JSON text: parquet cannot hold a free-form dict per row."""
    return pa.array([json.dumps(verifier_options(m), sort_keys=True) for m in table["meta"].to_pylist()], pa.string())


def verl_rows(table: pa.Table, layout: Layout = Layout()) -> pa.Table:
    """SHARD_SCHEMA rows -> verl's RL dataset columns. The verifier and its options travel in
    extra_info, where assay's verl reward functions read them."""
    table = table.combine_chunks()
    options = _options_json(table)
    extra = pa.StructArray.from_arrays(
        [table["uid"].chunk(0), table["split"].chunk(0), pa.array(range(table.num_rows), pa.int64()),
         table["verifier"].chunk(0), options, table["stage"].chunk(0), table["weight"].chunk(0),
         table["n"].chunk(0), table["n_correct"].chunk(0)],
        names=["uid", "split", "index", "verifier", "verifier_options", "stage", "weight", "n", "n_correct"],
    )
    reward = pa.StructArray.from_arrays([pa.array(["rule"] * table.num_rows), table["answer"].chunk(0)],
                                        names=["style", "ground_truth"])
    return pa.table({"data_source": _sources(table, layout), "prompt": _messages(table["prompt"], layout.template),
                     "ability": table["domain"], "reward_model": reward, "extra_info": extra})


def _write_verl(table: pa.Table, out: Path, layout: Layout = Layout()) -> list[str]:
    return _write_parquet(verl_rows(table, layout), out)


def trl_rows(table: pa.Table, layout: Layout = Layout()) -> pa.Table:
    """SHARD_SCHEMA rows -> a conversational `prompt` plus the reward function's columns."""
    options = _options_json(table)
    return pa.table({"prompt": _messages(table["prompt"], layout.template), "answer": table["answer"], "verifier": table["verifier"],
                     "verifier_options": options, "uid": table["uid"],
                     "source": table["source"], "stage": table["stage"], "weight": table["weight"],
                     "n": table["n"], "n_correct": table["n_correct"]})


def _write_trl(table: pa.Table, out: Path, layout: Layout = Layout()) -> list[str]:
    import datasets

    datasets.Dataset(trl_rows(table, layout)).save_to_disk(str(out / "dataset"), max_shard_size="500MB")
    return sorted(p.relative_to(out).as_posix() for p in (out / "dataset").rglob("*") if p.is_file())


def openrlhf_rows(table: pa.Table, layout: Layout = Layout()) -> pa.Table:
    """SHARD_SCHEMA rows -> OpenRLHF's prompt dataset: `prompt` messages, a JSON `label` (all
    its reward function is given of a row), `datasource`, and assay's bookkeeping columns."""
    options = _options_json(table).to_pylist()
    labels = [json.dumps({"answer": a, "verifier": v, "verifier_options": json.loads(o)}, sort_keys=True, ensure_ascii=False)
              for a, v, o in zip(table["answer"].to_pylist(), table["verifier"].to_pylist(), options)]
    return pa.table({"prompt": _messages(table["prompt"], layout.template), "label": pa.array(labels, pa.string()),
                     "datasource": _sources(table, layout), "uid": table["uid"], "stage": table["stage"],
                     "weight": table["weight"], "n": table["n"], "n_correct": table["n_correct"]})


def _write_openrlhf(table: pa.Table, out: Path, layout: Layout = Layout()) -> list[str]:
    (out / "README.md").write_text(_card("data/part-*", _OPENRLHF_ABOUT), encoding="utf-8")
    return _write_jsonl(openrlhf_rows(table, layout), out) + ["README.md"]


FORMATS: dict[str, Callable[[pa.Table, Path, Layout], list[str]]] = {
    "parquet": _write_parquet,
    "jsonl": _write_jsonl,
    "hf": _write_hf,
    "verl": _write_verl,
    "trl": _write_trl,
    "openrlhf": _write_openrlhf,
}


# -- export and verification ----------------------------------------------------------------------

@dataclass(frozen=True)
class ExportSection:
    """Where and how shards are written: `assay export`'s --out and --format, `assay curate`'s [export]."""

    out: str | None = field(default=None, metadata={"help": "A new folder for the shards and manifest.json (never overwritten)."})
    format: str = field(default="parquet", metadata={"help": f"One of {names_help(FORMATS)}."})

    def __post_init__(self) -> None:
        chosen(FORMATS, self.format, "format")  # `assay curate` adds "[export]", its table


def export_plan(cat: Catalog, plan: Plan, fmt: str, out: Path, run_id: str | None = None, layout: Layout = Layout()) -> Manifest:
    """Write the plan's shards in `fmt` under `out` (which must not exist yet) with a manifest
    that records the layout's template and data source."""
    write = chosen(FORMATS, fmt, "format", "--format:")
    out = Path(out)
    own = _own_export(out, run_id)
    if out.exists() and own is None:
        raise AssayError(f"--out {out}: already exists; shards are never overwritten, choose a new folder")
    table = shard_rows(cat, plan)
    if own is not None:
        return _check_own_export(out, own, fmt, table)
    _remove_stale_staging(out)
    staging = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "data").mkdir(parents=True)
    try:
        names = write(table, staging, layout)
        files = [ShardFile(name, _file_rows(staging / name), _sha256(staging / name)) for name in names]
        manifest = Manifest(fmt, table.num_rows, content_hash(table), files, run_id or new_run_id("export"),
                            utc_now().isoformat(), plan.params, layout.template.to_dict(), layout.data_source)
        (staging / MANIFEST).write_text(manifest.to_json() + "\n", encoding="utf-8")
        os.replace(staging, out)  # the export appears whole or not at all
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _own_export(out: Path, run_id: str | None) -> Manifest | None:
    """The manifest at `out` when run `run_id` wrote it (a run continued after a kill)."""
    if run_id is None or not (out / MANIFEST).is_file():
        return None
    try:
        manifest = read_manifest(out)
    except AssayError:
        return None
    return manifest if manifest.run_id == run_id else None


def _check_own_export(out: Path, manifest: Manifest, fmt: str, table: pa.Table) -> Manifest:
    """This run's earlier export, if it is exactly what the run would write now."""
    problems = verify_manifest(out)
    if manifest.format != fmt or manifest.content_sha256 != content_hash(table) or problems:
        why = (f"{len(problems)} file(s) changed or missing" if problems else
               f"format {manifest.format}, not {fmt}" if manifest.format != fmt else "other rows than the plan's")
        raise AssayError(f"--out {out}: run {manifest.run_id} exported there before, but it holds {why}; "
                         "shards are never overwritten, choose a new folder")
    return manifest


def _remove_stale_staging(out: Path) -> None:
    """Staging folders of `out` left by exports that were killed: their process is gone."""
    for staging in out.parent.glob(f".{out.name}.partial-*"):
        pid = staging.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(staging, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_rows(path: Path) -> int:
    """Rows in a data file (parquet or JSON lines); 0 for side files (README, dataset metadata)."""
    if path.suffix == ".parquet":
        return pq.ParquetFile(path).metadata.num_rows
    if path.suffix == ".jsonl":
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    if path.suffix == ".arrow":
        with pa.memory_map(str(path)) as source:
            return pa.ipc.open_stream(source).read_all().num_rows
    return 0


def read_manifest(folder: Path) -> Manifest:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise AssayError(f"{folder}: no {MANIFEST}; not an assay export")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Manifest(**{**raw, "files": [ShardFile(**f) for f in raw["files"]]})
    except (ValueError, TypeError, KeyError) as e:
        raise AssayError(f"{path}: not a valid manifest ({e})") from None


def verify_manifest(folder: Path) -> list[Mismatch]:
    """Recompute every listed file's row count and sha256; report files missing, changed or
    not listed. An empty list means the export is exactly what its manifest says."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    problems = []
    for f in manifest.files:
        path = folder / f.path
        if not path.is_file():
            problems.append(Mismatch(f.path, "missing"))
        elif _sha256(path) != f.sha256:
            problems.append(Mismatch(f.path, "sha256"))
        elif _file_rows(path) != f.rows:
            problems.append(Mismatch(f.path, "rows"))
    listed = {f.path for f in manifest.files} | {MANIFEST}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.relative_to(folder).as_posix() not in listed:
            problems.append(Mismatch(path.relative_to(folder).as_posix(), "unlisted"))
    return problems
