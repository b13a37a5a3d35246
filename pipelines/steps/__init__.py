"""The steps room: each step of the loop as a plain function testable without Prefect:
ingest, decontaminate, difficulty, curate, export, train, audit, verify.

May import: store, config and reports; never flows or cli, and never Prefect. (tests/test_import_boundaries.py checks it.)
"""
