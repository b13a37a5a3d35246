"""The reports room: run reports (PREFIX.json and a self-contained PREFIX.html) from a run's
summary, validated; the SVG charts apart in `charts`.

May import: assay.pipelines.errors only. (tests/test_import_boundaries.py checks it.)
"""
