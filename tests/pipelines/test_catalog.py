"""The catalog file: tables, schema version, where it lives."""

import duckdb
import pytest

from assay.pipelines.store.catalog import SCHEMA_VERSION, TABLES, Catalog, resolve_catalog_path
from assay.pipelines.errors import AssayError


def test_new_catalog_has_every_table_and_the_schema_version(tmp_path):
    with Catalog.open(tmp_path / "c.duckdb") as cat:
        assert set(cat.stats().tables) == set(TABLES)
        assert cat.con.execute("SELECT value FROM assay_meta").fetchall() == [(str(SCHEMA_VERSION),)]


def test_schema_version_is_checked_on_open(tmp_path):
    path = tmp_path / "c.duckdb"
    Catalog.open(path).close()
    con = duckdb.connect(str(path))
    con.execute("UPDATE assay_meta SET value = '999'")
    con.close()
    with pytest.raises(AssayError, match="schema version 999, this assay expects"):
        Catalog.open(path)


def test_foreign_duckdb_file_is_refused(tmp_path):
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (x INT)")
    con.close()
    with pytest.raises(AssayError, match="not an assay catalog"):
        Catalog.open(path)
    (tmp_path / "text.duckdb").write_text("hello")
    with pytest.raises(AssayError, match="text.duckdb"):
        Catalog.open(tmp_path / "text.duckdb")


def test_read_only_open_of_a_missing_catalog_says_what_to_do(tmp_path):
    with pytest.raises(AssayError, match="no catalog at .*assay ingest"):
        Catalog.open(tmp_path / "missing.duckdb", read_only=True)


def test_catalog_path_precedence(monkeypatch):
    monkeypatch.delenv("ASSAY_CATALOG", raising=False)
    assert str(resolve_catalog_path(None)) == "assay.duckdb"
    monkeypatch.setenv("ASSAY_CATALOG", "/data/env.duckdb")
    assert str(resolve_catalog_path(None)) == "/data/env.duckdb"
    assert str(resolve_catalog_path("cli.duckdb")) == "cli.duckdb"


def test_older_catalog_is_upgraded_by_its_migrations(tmp_path, monkeypatch):
    from assay.pipelines.store import catalog as catalog_module

    path = tmp_path / "c.duckdb"
    Catalog.open(path).close()  # written at the current version
    monkeypatch.setattr(catalog_module, "_MIGRATIONS", {**catalog_module._MIGRATIONS, SCHEMA_VERSION: "CREATE TABLE extra (x INT)"})
    monkeypatch.setattr(catalog_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(AssayError, match="any writing command"):
        Catalog.open(path, read_only=True)
    with Catalog.open(path) as cat:
        assert cat.con.execute("SELECT value FROM assay_meta").fetchone() == (str(SCHEMA_VERSION + 1),)
        assert cat.con.execute("SELECT count(*) FROM extra").fetchone() == (0,)


# The difficulty table as schema versions 1 and 2 wrote it, by hand: no status columns.
V2_DIFFICULTY = """
DROP TABLE difficulty;
CREATE TABLE difficulty (
    uid VARCHAR NOT NULL, model VARCHAR NOT NULL, sampling_hash VARCHAR NOT NULL,
    verifier_version VARCHAR NOT NULL, k INTEGER NOT NULL, n_correct INTEGER NOT NULL,
    mean_reward DOUBLE, mean_tokens DOUBLE, origin VARCHAR NOT NULL, step BIGINT,
    run_id VARCHAR NOT NULL, observed_at TIMESTAMPTZ NOT NULL
);
INSERT INTO difficulty VALUES ('u1', 'toy@1', 'h', 'v', 8, 3, 0.375, 20.0, 'offline', NULL, 'old-run', now());
INSERT INTO difficulty VALUES ('u1', 'toy@1', 'h', 'v', 4, 1, 0.25, 30.0, 'offline', NULL, 'old-run', now());
UPDATE assay_meta SET value = '2';
"""


def test_a_version_2_catalog_opens_and_its_difficulty_rows_stay_readable(tmp_path):
    from assay.curricula.difficulty import StatusCounts
    from assay.pipelines.store.catalog import _DDL, _MIGRATIONS, STATUS_SAMPLES
    from assay.trainers.rollout import Observation
    from assay.pipelines.steps.difficulty import Stored, stored_counts

    path = tmp_path / "v2.duckdb"
    con = duckdb.connect(str(path))
    con.execute(_DDL + "INSERT INTO assay_meta VALUES ('schema_version', '1');" + _MIGRATIONS[1] + V2_DIFFICULTY)
    con.close()
    with pytest.raises(AssayError, match="schema version 2; any writing command"):
        Catalog.open(path, read_only=True)
    with Catalog.open(path) as cat:
        # v2 recorded no statuses: its 12 samples read as decided, 4 correct and 8 incorrect.
        assert stored_counts(cat, "toy@1", "h", "v") == {"u1": Stored(drawn=12, decided=12, correct=4, tokens=280.0, bad_gold=0)}
        sums = ", ".join(f"sum({c})" for c in STATUS_SAMPLES.values())
        assert cat.con.execute(f"SELECT sum(k), {sums} FROM difficulty").fetchall() == [(12, 4, 8, 0, 0, 0, 0)]
        # A new row beside them keeps its statuses: 3 correct, 2 incorrect, 1 timeout is 5 decided of 6.
        cat.add_difficulty([Observation("u1", StatusCounts(correct=3, incorrect=2, timeout=1), 0.6, 10.0)], "toy@1", "h", "v", "new")
        assert stored_counts(cat, "toy@1", "h", "v")["u1"] == Stored(drawn=18, decided=17, correct=7, tokens=340.0, bad_gold=0)
    with Catalog.open(path, read_only=True) as cat:
        assert cat.con.execute("SELECT value FROM assay_meta").fetchall() == [(str(SCHEMA_VERSION),)]


def test_online_observations_are_written_once_per_run_step_and_prompt(tmp_path):
    from assay.curricula.difficulty import StatusCounts
    from assay.trainers.rollout import Observation

    rows = [Observation("u1", StatusCounts(correct=1, incorrect=3), 0.25, 12.0),
            Observation("u2", StatusCounts(incorrect=3, error=1), 0.0, 9.0)]
    with Catalog.open(tmp_path / "c.duckdb") as cat:
        write = lambda run, step, rows: cat.add_difficulty(rows, "m", "h", "v", run, origin="online", step=step)
        assert write("r1", 0, rows) == 2
        assert write("r1", 0, rows) == 0 and write("r1", 0, rows[1:]) == 0  # a redone step writes nothing
        assert write("r1", 1, rows[:1]) == 1 and write("r2", 0, rows) == 2  # another step, another run: new rows
        # Offline rows are not keyed: each round of a prompt is its own observation.
        assert cat.add_difficulty(rows, "m", "h", "v", "r1") == 2 and cat.add_difficulty(rows, "m", "h", "v", "r1") == 2
        assert cat.con.execute("SELECT count(*), sum(k), sum(n_error) FROM difficulty WHERE origin = 'online'").fetchall() == [(5, 20, 2)]
