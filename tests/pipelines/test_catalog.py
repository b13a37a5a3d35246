"""The catalog file: tables, schema version, where it lives."""

import duckdb
import pytest

from assay.pipelines.catalog import SCHEMA_VERSION, TABLES, Catalog, resolve_catalog_path
from assay.pipelines.errors import AssayError


def test_new_catalog_has_every_table_and_the_schema_version(tmp_path):
    with Catalog.open(tmp_path / "c.duckdb") as cat:
        assert set(cat.stats().tables) == set(TABLES)
        assert cat.con.execute("SELECT value FROM assay_meta").fetchone() == (str(SCHEMA_VERSION),)


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
    from assay.pipelines import catalog as catalog_module

    path = tmp_path / "c.duckdb"
    Catalog.open(path).close()  # written at the current version
    monkeypatch.setattr(catalog_module, "_MIGRATIONS", {**catalog_module._MIGRATIONS, SCHEMA_VERSION: "CREATE TABLE extra (x INT)"})
    monkeypatch.setattr(catalog_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(AssayError, match="any writing command"):
        Catalog.open(path, read_only=True)
    with Catalog.open(path) as cat:
        assert cat.con.execute("SELECT value FROM assay_meta").fetchone() == (str(SCHEMA_VERSION + 1),)
        assert cat.con.execute("SELECT count(*) FROM extra").fetchone() == (0,)
