"""The catalog: one DuckDB file holding records, quarantine, difficulty history, contamination
findings, filter decisions and runs.

Every write of a batch is one transaction, and every table that ingestion writes is keyed, so
a batch is either wholly in the catalog or not at all, and writing it again adds nothing. The
file carries a schema version, checked on open, so an old assay never misreads a newer
catalog and vice versa.

Where the catalog lives: `--catalog PATH`, else the environment variable ASSAY_CATALOG, else
./assay.duckdb (see `resolve_catalog_path`).

Sharing the file. DuckDB lets one process write a file, or several read it, never both at
once. So a long job holds the file only while it writes: it calls `release()` before slow work
(sampling a difficulty chunk, a training step) and the next use of `con` opens the file again.
Readers (`assay catalog stats`, `query`, `runs`, any DuckDB client) get in between. Opening a
file another process holds is retried for up to `wait_s` seconds (`--wait`, ASSAY_WAIT;
default LOCK_WAIT_S), then fails naming the assay command and PID that holds it, never with
DuckDB's lock text.

Runs have owners. Each run records the host, PID and process start time of the process that
runs it. One run is in progress at a time: starting (or continuing) a run while another
process's run is still in progress waits up to ASSAY_WAIT seconds (default 0), then fails
naming that command. A run whose owner process is gone (killed) is marked `interrupted` by the
next command that opens the catalog for writing; readers show it as interrupted.

Example:
    >>> with Catalog.open("/tmp/doc-example.duckdb") as cat:  # doctest: +SKIP
    ...     cat.stats().tables["records"]
    0
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

from assay.curricula.difficulty import STATUSES
from assay.filters.decision import Decision
from assay.pipelines.errors import AssayError
from assay.pipelines.store.schema import QUARANTINE_SCHEMA, make_qid, raw_excerpt
from assay.trainers.rollout import Observation

DEFAULT_CATALOG = "assay.duckdb"
CATALOG_ENV = "ASSAY_CATALOG"

# Difficulty is history: offline pass@k and online trainer observations are rows of one
# table and are never updated in place.
_DDL = """
CREATE TABLE assay_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE runs (
    run_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, args VARCHAR NOT NULL,
    status VARCHAR NOT NULL, started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ,
    summary VARCHAR
);
CREATE TABLE records (
    uid VARCHAR PRIMARY KEY, source VARCHAR NOT NULL, split VARCHAR NOT NULL,
    prompt VARCHAR NOT NULL, answer VARCHAR NOT NULL, verifier VARCHAR NOT NULL,
    domain VARCHAR NOT NULL, meta VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL, ingested_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE quarantine (
    qid VARCHAR PRIMARY KEY, source VARCHAR NOT NULL, split VARCHAR NOT NULL,
    location VARCHAR NOT NULL, reason VARCHAR NOT NULL, detail VARCHAR NOT NULL,
    raw VARCHAR NOT NULL, run_id VARCHAR NOT NULL, quarantined_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE difficulty (
    uid VARCHAR NOT NULL, model VARCHAR NOT NULL, sampling_hash VARCHAR NOT NULL,
    verifier_version VARCHAR NOT NULL, k INTEGER NOT NULL, n_correct INTEGER NOT NULL,
    mean_reward DOUBLE, mean_tokens DOUBLE, origin VARCHAR NOT NULL, step BIGINT,
    run_id VARCHAR NOT NULL, observed_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE contamination (
    uid VARCHAR NOT NULL, benchmark VARCHAR NOT NULL, benchmark_id VARCHAR NOT NULL,
    method VARCHAR NOT NULL, score DOUBLE NOT NULL, span VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL, found_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE decisions (
    uid VARCHAR NOT NULL, filter VARCHAR NOT NULL, keep BOOLEAN NOT NULL,
    reason VARCHAR NOT NULL, scores VARCHAR NOT NULL, run_id VARCHAR NOT NULL,
    decided_at TIMESTAMPTZ NOT NULL
);
"""

# Schema changes after version 1: _MIGRATIONS[v] takes a version-v catalog to version v + 1.
# Append, never edit: a catalog written by any earlier assay must still open (and upgrade).
_MIGRATIONS: dict[int, str] = {
    # v1 -> v2: the benchmark registry (`assay bench add`). One row per registered evaluation
    # set with the content hash of its problems, and the problems themselves, which the
    # decontamination index and the memorization audit read.
    1: """
    CREATE TABLE benchmarks (
        name VARCHAR PRIMARY KEY, source VARCHAR NOT NULL, preset VARCHAR NOT NULL,
        content_hash VARCHAR NOT NULL, problems INTEGER NOT NULL, dated INTEGER NOT NULL,
        skipped VARCHAR NOT NULL, run_id VARCHAR NOT NULL, added_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE benchmark_problems (
        benchmark VARCHAR NOT NULL, benchmark_id VARCHAR NOT NULL, position INTEGER NOT NULL,
        prompt VARCHAR NOT NULL, answer VARCHAR NOT NULL, released DATE, meta VARCHAR NOT NULL,
        PRIMARY KEY (benchmark, benchmark_id)
    );
    """,
    # v2 -> v3: a difficulty observation's samples per verdict status. `k` stays the samples
    # drawn and `n_correct` the correct ones; a pass rate's denominator is the decided samples
    # (correct + incorrect + no_answer), never the ones whose verifier timed out or erred, nor
    # bad_gold ones (the reference failed, not the model). Rows written before v3 have NULL
    # here: they recorded no statuses, and are read as k decided samples (DECIDED_SAMPLES).
    2: """
    ALTER TABLE difficulty ADD COLUMN n_incorrect INTEGER;
    ALTER TABLE difficulty ADD COLUMN n_no_answer INTEGER;
    ALTER TABLE difficulty ADD COLUMN n_bad_gold INTEGER;
    ALTER TABLE difficulty ADD COLUMN n_timeout INTEGER;
    ALTER TABLE difficulty ADD COLUMN n_error INTEGER;
    """,
    # v3 -> v4: a contamination finding's level of evidence (assay.filters.decontam.LEVELS):
    # contaminated and semantic findings drop their row, near ones are kept for review. Rows
    # written before v4 have NULL, read as contaminated (every finding was dropped then).
    # And who runs a run (host:pid:process start time), so a run whose process is gone is told
    # apart from one in progress; NULL for runs written before v4.
    3: """
    ALTER TABLE contamination ADD COLUMN level VARCHAR;
    ALTER TABLE runs ADD COLUMN owner VARCHAR;
    """,
}
SCHEMA_VERSION = 1 + len(_MIGRATIONS)

# SQL over a difficulty row: its decided samples, and its samples per status (a v2 row: all
# k decided, with n_correct correct and the rest incorrect, as v2 scored them).
DECIDED_SAMPLES = "coalesce(n_correct + n_incorrect + n_no_answer, k)"
STATUS_SAMPLES = {
    "correct": "n_correct", "incorrect": "coalesce(n_incorrect, k - n_correct)", "no_answer": "coalesce(n_no_answer, 0)",
    "bad_gold": "coalesce(n_bad_gold, 0)", "timeout": "coalesce(n_timeout, 0)", "error": "coalesce(n_error, 0)",
}

TABLES = ("records", "quarantine", "difficulty", "contamination", "decisions", "runs", "benchmarks", "benchmark_problems")

@dataclass(frozen=True)
class BatchResult:
    added: int  # new records
    already_present: int  # same uid, same content: re-ingestion, nothing to do
    conflicts: int  # same uid already in the catalog with another split or answer: quarantined
    quarantined: int  # new quarantine rows (conflicts included)


@dataclass(frozen=True)
class CatalogStats:
    path: str
    file_bytes: int
    tables: dict[str, int]  # rows per table
    records: list[tuple[str, str, int]]  # (source, split, rows)
    quarantine: list[tuple[str, str, int]]  # (source, reason, rows)
    runs: list[tuple[str, str, str, str]] = field(default_factory=list)  # latest runs


def resolve_catalog_path(cli_value: str | os.PathLike[str] | None) -> Path:
    """--catalog wins, then $ASSAY_CATALOG, then ./assay.duckdb."""
    if cli_value:
        return Path(cli_value)
    return Path(os.environ.get(CATALOG_ENV) or DEFAULT_CATALOG)


LOCK_WAIT_S = 30.0  # default wait for another process's write to the file to end
WAIT_ENV = "ASSAY_WAIT"  # seconds to wait for the file and for another process's run (--wait)
REOPEN_WAIT_S = 600.0  # a long job reopening the file between its writes waits at least this long


def wait_setting(default: float) -> float:
    """ASSAY_WAIT (set by `assay --wait S`) if given, else `default`."""
    value = os.environ.get(WAIT_ENV)
    try:
        return float(value) if value else default
    except ValueError:
        raise AssayError(f"{WAIT_ENV}={value!r}: expected a number of seconds") from None


def _start_time(pid: int) -> str | None:
    """A process's start time in clock ticks since boot (/proc/PID/stat field 22); None when it
    is gone or a zombie. Together with the PID it names one process: a PID reused later has another."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:  # no procfs (not Linux): whether the PID exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ""
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]  # a zombie has ended: it only waits to be reaped


def process_owner(pid: int | None = None) -> str:
    """host:pid:start of a process (default: this one), as the runs table records it."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_time(pid) or ''}"


def owner_alive(owner: str | None) -> bool | None:
    """Whether the process that recorded `owner` still runs: True or False on this host, None
    (unknown) for another host's. A run without an owner predates v4: its writer held the file
    for the whole run, so a writer that has the file now knows it is gone."""
    if not owner:
        return False
    host, pid, start = owner.rsplit(":", 2)
    if host != socket.gethostname():
        return None
    return _start_time(int(pid)) == start


def command_of(pid: int) -> str:
    """What process `pid` runs, as the user typed it where it is an assay command."""
    try:
        argv = [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0") if a]
    except OSError:
        return "a process"
    for i, arg in enumerate(argv):
        if arg.endswith(("/assay", "assay.pipelines.cli.main")) or arg == "assay":
            return "`" + " ".join(["assay", *argv[i + 1:]])[:160] + "`"
    return "`" + " ".join(argv)[:160] + "`"


def describe_owner(owner: str | None) -> str:
    if not owner:
        return "an earlier assay"
    host, pid, _ = owner.rsplit(":", 2)
    if host != socket.gethostname():
        return f"PID {pid} on host {host}"
    return f"{command_of(int(pid))} (PID {pid})" if owner_alive(owner) else f"PID {pid}, ended"


_LOCK_HOLDER = re.compile(r"\(PID (\d+)\)")


def _connect(path: Path, read_only: bool, wait_s: float, config: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """A connection to `path`, retried while another process holds the file (up to wait_s)."""
    deadline = time.monotonic() + wait_s
    pause = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=config or {})
        except duckdb.IOException as exc:
            text = str(exc)
            holder = _LOCK_HOLDER.search(text)
            if "lock" not in text.lower() or holder is None:
                raise AssayError(f"cannot open catalog {path}: {text.splitlines()[0]}") from None
            if time.monotonic() >= deadline:
                raise AssayError(
                    f"catalog {path} is in use by {command_of(int(holder.group(1)))} (PID {holder.group(1)}) and stayed "
                    f"locked for {wait_s:g} s; pass --wait SECONDS to wait longer (or stop that command)") from None
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
        except duckdb.Error as exc:
            raise AssayError(f"{path} is not a DuckDB catalog: {str(exc).splitlines()[0]}") from None


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def new_run_id(kind: str) -> str:
    return f"{kind}-{utc_now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


class Catalog:
    """A connection to one catalog file. Use as a context manager; one writer at a time, and
    `release()` lets readers in while a long job works between its writes."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, read_only: bool = False, wait_s: float = LOCK_WAIT_S):
        self._con: duckdb.DuckDBPyConnection | None = con
        self.path = path
        self.read_only = read_only
        self.wait_s = wait_s

    @classmethod
    def open(cls, path: str | os.PathLike[str], read_only: bool = False, wait_s: float | None = None) -> "Catalog":
        path = Path(path)
        if read_only and not path.exists():
            raise AssayError(f"no catalog at {path} (run `assay ingest` first, or pass --catalog)")
        if path.parent != Path("") and not path.parent.exists():
            path.parent.mkdir(parents=True)
        wait_s = wait_setting(LOCK_WAIT_S) if wait_s is None else wait_s
        catalog = cls(_connect(path, read_only, wait_s), path, read_only, wait_s)
        try:
            catalog._check_or_create_schema(read_only)
            if not read_only:
                catalog.mark_interrupted()
        except BaseException:
            catalog.close()
            raise
        return catalog

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The open connection; after `release()`, the file opened again (waiting for a reader
        or another writer to let go of it)."""
        if self._con is None:
            self._con = _connect(self.path, self.read_only, max(self.wait_s, REOPEN_WAIT_S))
        return self._con

    def release(self) -> None:
        """Close the file until the next use of `con`: other processes can open it meanwhile.
        Call only between transactions, with nothing registered on the connection."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def _check_or_create_schema(self, read_only: bool) -> None:
        tables = {row[0] for row in self.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if not tables and not read_only:
            self.con.execute("BEGIN")
            self.con.execute(_DDL)
            self.con.execute("INSERT INTO assay_meta VALUES ('schema_version', '1')")
            self._migrate(1)  # commits
            return
        if "assay_meta" not in tables:
            raise AssayError(f"{self.path} is a DuckDB file but not an assay catalog (no assay_meta table)")
        row = self.con.execute("SELECT value FROM assay_meta WHERE key = 'schema_version'").fetchone()
        found = int(row[0]) if row else None
        if found is None or found > SCHEMA_VERSION:
            raise AssayError(
                f"catalog {self.path} has schema version {found}, this assay expects {SCHEMA_VERSION}; "
                "use the assay version that wrote it, or start a new catalog"
            )
        if found < SCHEMA_VERSION:
            if read_only:
                raise AssayError(
                    f"catalog {self.path} has schema version {found}; any writing command (e.g. `assay ingest`) "
                    f"upgrades it to {SCHEMA_VERSION}"
                )
            self.con.execute("BEGIN")
            self._migrate(found)

    def _migrate(self, found: int) -> None:
        """Apply the migrations from `found` to SCHEMA_VERSION inside the open transaction."""
        try:
            for version in range(found, SCHEMA_VERSION):
                self.con.execute(_MIGRATIONS[version])
            self.con.execute("UPDATE assay_meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)])
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.release()

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs -----------------------------------------------------------------------------

    def start_run(self, kind: str, args: dict[str, Any]) -> str:
        self.wait_for_other_runs()
        run_id = new_run_id(kind)
        self.con.execute(
            "INSERT INTO runs (run_id, kind, args, status, started_at, owner) VALUES (?, ?, ?, 'running', ?, ?)",
            [run_id, kind, json.dumps(args, sort_keys=True, default=str), utc_now(), process_owner()],
        )
        return run_id

    def resume_run(self, kind: str, args: dict[str, Any]) -> str | None:
        """The latest run of `kind` with exactly these args, if it did not finish ok (it was
        killed, or failed), marked running again; None if there is none."""
        self.wait_for_other_runs()
        row = self.con.execute(
            "SELECT run_id, status FROM runs WHERE kind = ? AND args = ? ORDER BY started_at DESC LIMIT 1",
            [kind, json.dumps(args, sort_keys=True, default=str)],
        ).fetchone()
        if row is None or not self.continue_run(row[0], kind):
            return None
        return row[0]

    def continue_run(self, run_id: str, kind: str) -> bool:
        """Mark run `run_id` of `kind` running again, owned by this process, if it did not
        finish ok; False if there is no such unfinished run (then the caller starts a new one)."""
        self.wait_for_other_runs()
        return self.con.execute(
            "UPDATE runs SET status = 'running', finished_at = NULL, summary = NULL, owner = ? "
            "WHERE run_id = ? AND kind = ? AND status <> 'ok'",
            [process_owner(), run_id, kind],
        ).fetchall()[0][0] == 1

    def mark_interrupted(self) -> list[str]:
        """Mark the runs still `running` whose owner process is gone as `interrupted`; their ids."""
        rows = self.con.execute("SELECT run_id, owner FROM runs WHERE status = 'running'").fetchall()
        gone = [(run_id, owner) for run_id, owner in rows if owner_alive(owner) is False]
        for run_id, owner in gone:
            self.con.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ?, summary = ? WHERE run_id = ? AND status = 'running'",
                [utc_now(), json.dumps({"interrupted": f"its process ({describe_owner(owner)}) is gone; a rerun continues it"}),
                 run_id])
        return [run_id for run_id, _ in gone]

    def wait_for_other_runs(self) -> None:
        """Return once no other process has a run in progress; wait up to ASSAY_WAIT seconds
        (default 0), holding the file only to look, then fail naming the run and its command."""
        me = process_owner()
        deadline = time.monotonic() + wait_setting(0.0)
        while True:
            rows = self.con.execute("SELECT run_id, kind, owner FROM runs WHERE status = 'running'").fetchall()
            busy = [(run_id, kind, owner) for run_id, kind, owner in rows if owner != me and owner_alive(owner) is not False]
            if not busy:
                self.mark_interrupted()  # some may have ended while we waited
                return
            if time.monotonic() >= deadline:
                run_id, kind, owner = busy[0]
                raise AssayError(f"catalog {self.path} is busy: {kind} run {run_id} of {describe_owner(owner)} is in progress; "
                                 f"pass --wait SECONDS to wait for it")
            self.release()
            time.sleep(1.0)

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        self.con.execute(
            "UPDATE runs SET status = ?, finished_at = ?, summary = ? WHERE run_id = ?",
            [status, utc_now(), json.dumps(summary, sort_keys=True, default=str), run_id],
        )

    # -- ingestion ------------------------------------------------------------------------

    def add_batch(self, records: pa.Table, quarantine: pa.Table, run_id: str) -> BatchResult:
        """Write one batch of records and quarantine rows in a single transaction.

        `records` has the RECORD_SCHEMA columns plus `location` (where the row came from).
        A record whose uid is already stored with the same split, prompt and answer is a
        re-ingestion and is skipped; one stored with another split or answer is a conflicting
        duplicate and goes to quarantine naming both versions.
        """
        now = utc_now()
        con = self.con
        con.register("_batch", records)
        con.execute("BEGIN")
        try:
            conflicts = con.execute(
                """
                SELECT b.source, b.split, b.location, b.prompt, b.answer, r.split, r.answer
                FROM _batch b JOIN records r USING (uid)
                WHERE r.split <> b.split OR r.answer <> b.answer OR r.prompt <> b.prompt
                """
            ).fetchall()
            con.register("_quarantine", pa.concat_tables([quarantine, _conflict_rows(conflicts)]))
            added = self._insert_counted(
                "records",
                "SELECT uid, source, split, prompt, answer, verifier, domain, meta, $run, $now FROM _batch",
                run_id,
                now,
            )
            quarantined = self._insert_counted(
                "quarantine",
                "SELECT qid, source, split, location, reason, detail, raw, $run, $now FROM _quarantine",
                run_id,
                now,
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.unregister("_batch")
            con.unregister("_quarantine")
        return BatchResult(
            added=added,
            already_present=records.num_rows - added - len(conflicts),
            conflicts=len(conflicts),
            quarantined=quarantined,
        )

    def _insert_counted(self, table: str, select: str, run_id: str, now: datetime) -> int:
        before = self.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        self.con.execute(f"INSERT INTO {table} {select} ON CONFLICT DO NOTHING", {"run": run_id, "now": now})
        return self.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] - before

    # -- difficulty history ---------------------------------------------------------------

    def add_difficulty(
        self,
        rows: list[Observation],
        model: str,
        sampling_hash: str,
        verifier_version: str,
        run_id: str,
        origin: str = "offline",
        step: int | None = None,
    ) -> int:
        """Append observations in one transaction; returns the rows written.

        Never updates a row: difficulty is history. `origin` is "offline" (pass@k estimation)
        or "online" (the trainer, with its policy `step`: the step of every row given, one step
        per call). An online row is keyed by run, step
        and uid: a resumed run that redoes a step writes nothing twice."""
        if not rows:
            return 0
        statuses = {f"n_{s}": [r.counts.as_dict()[s] for r in rows] for s in STATUSES}
        self.con.register("_obs", pa.table({
            "uid": [r.uid for r in rows], "k": [r.counts.total for r in rows], **statuses,
            "mean_reward": pa.array([r.mean_reward for r in rows], pa.float64()),
            "mean_tokens": pa.array([r.mean_tokens for r in rows], pa.float64()),
        }))
        try:
            return self.con.execute(
                """
                INSERT INTO difficulty (uid, model, sampling_hash, verifier_version, k, n_correct, mean_reward, mean_tokens,
                                        origin, step, run_id, observed_at, n_incorrect, n_no_answer, n_bad_gold, n_timeout, n_error)
                SELECT uid, $model, $hash, $version, k, n_correct, mean_reward, mean_tokens, $origin, $step, $run, $now,
                       n_incorrect, n_no_answer, n_bad_gold, n_timeout, n_error
                FROM _obs o
                WHERE $step IS NULL OR NOT EXISTS (
                    SELECT 1 FROM difficulty x WHERE x.run_id = $run AND x.origin = $origin AND x.step = $step AND x.uid = o.uid)
                """,
                {"model": model, "hash": sampling_hash, "version": verifier_version, "origin": origin,
                 "step": step, "run": run_id, "now": utc_now()},
            ).fetchall()[0][0]
        finally:
            self.con.unregister("_obs")

    def add_decisions(self, uids: pa.Array, filter_name: str, decision: Decision, run_id: str) -> int:
        """Record the rows `decision` drops, each with its reason and scores (JSON), in one
        transaction. Kept rows are not written: a row's absence means it passed. A row already
        recorded for this uid, filter and run is not written again, so a resumed run that
        repeats a step adds nothing twice. Returns rows written."""
        dropped = pa.compute.invert(decision.keep)
        count = int(pa.compute.sum(dropped.cast(pa.int64())).as_py() or 0)
        scores = pa.table(decision.scores).filter(dropped).to_pylist() if decision.scores else [{}] * count
        table = pa.table({"uid": uids.filter(dropped), "reason": decision.reason.filter(dropped),
                          "scores": [json.dumps(s, sort_keys=True) for s in scores]})
        if table.num_rows == 0:
            return 0
        self.con.register("_dropped", table)
        try:
            # An INSERT answers with the number of rows it wrote.
            return self.con.execute(
                """
                INSERT INTO decisions SELECT uid, $filter, false, reason, scores, $run, $now FROM _dropped d
                WHERE NOT EXISTS (SELECT 1 FROM decisions x WHERE x.uid = d.uid AND x.filter = $filter AND x.run_id = $run)
                """,
                {"filter": filter_name, "run": run_id, "now": utc_now()},
            ).fetchall()[0][0]
        finally:
            self.con.unregister("_dropped")

    # -- reading --------------------------------------------------------------------------

    def stats(self) -> CatalogStats:
        con = self.con
        tables = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        records = con.execute(
            "SELECT source, split, count(*) FROM records GROUP BY ALL ORDER BY source, split"
        ).fetchall()
        quarantine = con.execute(
            "SELECT source, reason, count(*) FROM quarantine GROUP BY ALL ORDER BY source, count(*) DESC"
        ).fetchall()
        runs = con.execute(
            "SELECT run_id, kind, status, coalesce(summary, '') FROM runs ORDER BY started_at DESC LIMIT 5"
        ).fetchall()
        # The write-ahead log holds what is not yet checkpointed into the file itself.
        size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}.wal")) if p.exists())
        return CatalogStats(str(self.path), size, tables, records, quarantine, runs)


def query_catalog(path: str | os.PathLike[str], sql: str, wait_s: float | None = None) -> tuple[list[str], list[tuple]]:
    """Run read-only SQL on the catalog: (column names, rows). The connection is read-only and
    has no file system access (no reading or writing other files, no ATTACH), so a query only
    reads the catalog's tables. Errors come back as AssayError with DuckDB's message."""
    path = Path(path)
    if not path.exists():
        raise AssayError(f"no catalog at {path} (run `assay ingest` first, or pass --catalog)")
    con = _connect(path, True, wait_setting(LOCK_WAIT_S) if wait_s is None else wait_s,
                   {"enable_external_access": False})
    try:
        cursor = con.execute(sql)
        if cursor.description is None:
            return [], []
        return [d[0] for d in cursor.description], cursor.fetchall()
    except duckdb.Error as exc:
        raise AssayError(f"query: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()


@dataclass(frozen=True)
class RunRow:
    run_id: str
    kind: str
    status: str  # running, ok, failed, interrupted; a run whose process is gone reads as interrupted
    started_at: datetime
    finished_at: datetime | None
    owner: str  # the command and PID that ran it, as far as this host can tell
    summary: dict[str, Any]


def list_runs(cat: Catalog, kind: str | None = None, status: str | None = None, limit: int = 20) -> list[RunRow]:
    """The latest runs, newest first. A run still marked running whose process is gone is shown
    as interrupted (a writing command records that; a reader cannot)."""
    rows = cat.con.execute(
        "SELECT run_id, kind, status, started_at, finished_at, owner, summary FROM runs "
        "WHERE (? IS NULL OR kind = ?) ORDER BY started_at DESC",
        [kind, kind],
    ).fetchall()
    out = []
    for run_id, run_kind, run_status, started, finished, owner, summary in rows:
        if run_status == "running" and owner_alive(owner) is False:
            run_status = "interrupted"
        if status is None or run_status == status:
            out.append(RunRow(run_id, run_kind, run_status, started, finished, describe_owner(owner),
                              json.loads(summary) if summary else {}))
    return out[:limit]


def list_quarantine(cat: Catalog, source: str | None = None, reason: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Quarantined rows, newest first: where each came from, why, and an excerpt of it."""
    cursor = cat.con.execute(
        "SELECT source, split, location, reason, detail, raw, run_id, quarantined_at FROM quarantine "
        "WHERE (? IS NULL OR source = ?) AND (? IS NULL OR reason = ?) ORDER BY quarantined_at DESC, location LIMIT ?",
        [source, source, reason, reason, limit],
    )
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


def _conflict_rows(conflicts: list[tuple]) -> pa.Table:
    rows: dict[str, list[str]] = {name: [] for name in QUARANTINE_SCHEMA.names}
    for source, split, location, prompt, answer, old_split, old_answer in conflicts:
        rows["qid"].append(make_qid(source, location, "conflicting_duplicate"))
        rows["source"].append(source)
        rows["split"].append(split)
        rows["location"].append(location)
        rows["reason"].append("conflicting_duplicate")
        rows["detail"].append(
            f"prompt already in the catalog as split={old_split!r} answer={old_answer!r}; "
            f"this row has split={split!r} answer={answer!r}"
        )
        rows["raw"].append(raw_excerpt({"prompt": prompt, "answer": answer}))
    return pa.table(rows, schema=QUARANTINE_SCHEMA)
