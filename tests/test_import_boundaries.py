"""The architecture as DESIGN.md's layout table draws it: every import of one of assay's own
subpackages points down the table, Prefect is imported only in pipelines/flows/, and the leaves
(verifiers, filters, curricula) import without torch, transformers, Prefect or DuckDB's catalog.
Inside pipelines/ the rooms have their own table (ROOMS, the README's architecture section):
Prefect only in the flows room, and every arrow between rooms points down.

LAYOUT is a copy of the table's "may import" column; where the design document is checked out
beside the repository (../shared/DESIGN.md) the copy must match it, so the two cannot drift.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT.parent / "shared" / "DESIGN.md"

# folder -> the subpackages of ours it may import (besides itself), as DESIGN.md's table says.
LAYOUT: dict[str, frozenset[str]] = {
    "verifiers": frozenset(),
    "curricula": frozenset(),
    "filters": frozenset({"verifiers", "curricula"}),
    "trainers": frozenset({"verifiers", "curricula"}),
    "pipelines": frozenset({"verifiers", "filters", "curricula", "trainers"}),
}
LEAVES = ("verifiers", "filters", "curricula")
# The one folder that may import Prefect (anywhere: module level or inside a function).
PREFECT_HOME = "pipelines/flows/"

# pipelines/ room -> the rooms it may import (besides itself). Every room may import
# assay.pipelines.errors, the one exception type the CLI turns into a one-line message.
ROOMS: dict[str, frozenset[str]] = {
    "store": frozenset(),  # the record schema and the DuckDB catalog
    "config": frozenset(),  # typed settings: a dataclass is a command's flags and config file
    "reports": frozenset(),  # report data and validation; the SVG charts apart
    "steps": frozenset({"store", "config", "reports"}),  # each step a plain function
    "flows": frozenset({"steps", "store", "config", "reports"}),  # Prefect wires the steps
    "cli": frozenset({"flows", "steps", "store", "config", "reports"}),  # the `assay` command
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every import statement in a file, nested ones included."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.extend([(node.lineno, node.module)] + [(node.lineno, f"{node.module}.{a.name}") for a in node.names])
    return found


def wrong_arrows(unit: str, table: dict[str, frozenset[str]] = LAYOUT, under: tuple[str, ...] = ()) -> list[str]:
    """Imports in `unit` (a folder of `table`, under the folders `under`) of a sibling the table
    does not allow, or of Prefect outside PREFECT_HOME. Modules beside the table's folders (such
    as assay.pipelines.errors) are not the table's to check."""
    allowed, depth, folder = table[unit] | {unit}, len(under) + 1, "/".join((*under, unit)) + "/"
    problems = []
    for path in sorted(ROOT.joinpath(*under, unit).rglob("*.py")):
        for line, module in imported_modules(path):
            parts = module.split(".")
            where = f"{path.relative_to(ROOT)}:{line}"
            if parts[:depth] == ["assay", *under] and parts[depth:depth + 1] and parts[depth] in table and parts[depth] not in allowed:
                problems.append(f"{where} imports {module}: {folder} may import {sorted(table[unit]) or 'no other ' + ('room' if under else 'folder')}")
            if parts[0] == "prefect" and not PREFECT_HOME.startswith(folder):
                problems.append(f"{where} imports {module}: only {PREFECT_HOME} may")
    return problems


def test_the_table_copy_matches_design_md_where_it_is_checked_out() -> None:
    if not DESIGN.exists():
        pytest.skip(f"{DESIGN} is not checked out beside the repository; the copy in this test stands")
    rows = re.findall(r"^\| (\w+)/ \| assay\.\w+ \| [^|]+ \| ([^|]+) \|$", DESIGN.read_text(encoding="utf-8"), re.M)
    table = {folder: frozenset(re.findall(r"\b(verifiers|filters|curricula|trainers|pipelines)\b", may))
             if "everything" not in may else frozenset(LAYOUT) - {folder} for folder, may in rows}
    assert table == LAYOUT


@pytest.mark.parametrize("folder", sorted(LAYOUT))
def test_imports_point_down_the_layout_table(folder: str) -> None:
    assert wrong_arrows(folder) == []


def test_pipelines_is_rooms_and_nothing_else() -> None:
    loose = sorted(p.name for p in (ROOT / "pipelines").glob("*.py"))
    rooms = sorted(p.name for p in (ROOT / "pipelines").iterdir() if p.is_dir() and p.name != "__pycache__")
    assert loose == ["__init__.py", "errors.py"]
    assert rooms == sorted(ROOMS)


@pytest.mark.parametrize("room", sorted(ROOMS))
def test_imports_point_down_the_rooms_table(room: str) -> None:
    assert wrong_arrows(room, ROOMS, ("pipelines",)) == []


def test_a_room_arrow_pointing_up_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pipelines" / "steps").mkdir(parents=True)
    (tmp_path / "pipelines" / "steps" / "bad.py").write_text(
        "from assay.pipelines.errors import AssayError\nfrom assay.pipelines.flows import runners\nimport prefect.futures\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert wrong_arrows("steps", ROOMS, ("pipelines",)) == [
        "pipelines/steps/bad.py:2 imports assay.pipelines.flows: pipelines/steps/ may import ['config', 'reports', 'store']",
        "pipelines/steps/bad.py:2 imports assay.pipelines.flows.runners: pipelines/steps/ may import ['config', 'reports', 'store']",
        "pipelines/steps/bad.py:3 imports prefect.futures: only pipelines/flows/ may",
    ]


def test_an_arrow_pointing_up_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "verifiers").mkdir()
    (tmp_path / "verifiers" / "bad.py").write_text("def f():\n    from assay.pipelines.store.catalog import Catalog\n    import prefect\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert wrong_arrows("verifiers") == [
        "verifiers/bad.py:2 imports assay.pipelines.store.catalog: verifiers/ may import no other folder",
        "verifiers/bad.py:2 imports assay.pipelines.store.catalog.Catalog: verifiers/ may import no other folder",
        "verifiers/bad.py:3 imports prefect: only pipelines/flows/ may",
    ]


def test_the_leaves_import_without_torch_transformers_prefect_or_the_catalog() -> None:
    modules = sorted(
        "assay." + ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for folder in LEAVES for path in (ROOT / folder).rglob("*.py")
    )
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "heavy = ('torch', 'transformers', 'prefect', 'assay.pipelines', 'assay.trainers')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
