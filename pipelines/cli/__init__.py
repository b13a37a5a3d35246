"""The cli room: the `assay` command (Typer) and its Ctrl-C handling.

May import: every other room. (tests/test_import_boundaries.py checks it.)
"""
