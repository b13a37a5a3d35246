"""The store room: the prompt record schema and the DuckDB catalog (records, quarantine,
difficulty history, findings, decisions, runs).

May import: assay.pipelines.errors only; every other room may import it. (tests/test_import_boundaries.py checks it.)
"""
