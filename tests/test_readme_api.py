"""The README's Python API example, run as a user would paste it: in a fresh folder, in a fresh
interpreter. It curates 200 built-in problems and trains the toy briefly, so it is slow."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

pytestmark = pytest.mark.slow


def api_example() -> str:
    """The first python block under the README's "## Python API" heading."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Python API\n"):]
    block = section[section.index("```python\n") + len("```python\n"):]
    return block[: block.index("```")]


@pytest.mark.timeout(3600)  # about 3 minutes idle; far longer on a machine shared with other work
def test_the_readme_api_example_curates_trains_and_writes_difficulty_back(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", api_example()], cwd=tmp_path, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "correct"
    funnel = {name.strip(): counts for name, counts in (line.split(":", 1) for line in lines[1:] if "->" in line)}
    assert list(funnel)[0] == "ingest" and funnel["ingest"].strip() == "200 -> 200"
    assert list(funnel)[-1] == "export"
    evals = ast.literal_eval(next(line for line in lines if line.startswith("held-out pass@1:")).split(":", 1)[1].strip())
    assert len(evals) >= 2 and all(0.0 <= e <= 1.0 for e in evals)
    origins = dict(ast.literal_eval(lines[-1]))
    assert origins["offline"] > 0 and origins["online"] > 0  # the trainer's pass rates went back into the catalog
    assert (tmp_path / "assay.duckdb").exists() and (tmp_path / "shards" / "api-example").is_dir()
