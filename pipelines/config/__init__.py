"""The config room: a command's settings as one typed dataclass, from which its CLI flags,
its TOML config and `--example-config` are derived.

May import: assay.pipelines.errors only. (tests/test_import_boundaries.py checks it.)
"""
