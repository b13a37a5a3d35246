import json
from pathlib import Path

import pytest

from assay.pipelines.catalog import Catalog


@pytest.fixture
def catalog(tmp_path):
    with Catalog.open(tmp_path / "assay.duckdb") as cat:
        yield cat


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
