"""The `assay` command as a user runs it: one-line errors, stats, the Hugging Face cache path."""

import json
import os
import shutil
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assay.pipelines.steps.presets import PRESETS
from tests.pipelines import dataset_shapes as shapes
from tests.helpers import assay_listing_heavy, write_jsonl

pytestmark = pytest.mark.slow  # whole ingest and cache runs, several CLI processes each


def assay(*args, cwd, env=None):
    return subprocess.run(
        [sys.executable, "-m", "assay.pipelines.cli.main", *args],
        cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=120,
    )


def test_ingest_then_stats_and_one_line_errors(tmp_path):
    write_jsonl(tmp_path / "gsm8k.jsonl", shapes.GSM8K + [{"question": "", "answer": "#### 1"}])
    done = assay("ingest", "gsm8k.jsonl", "--preset", "gsm8k", cwd=tmp_path, env={"ASSAY_CATALOG": "env.duckdb"})
    assert done.returncode == 0, done.stderr
    assert "4 rows read, 3 added, 0 already in the catalog, 1 quarantined" in done.stdout
    assert "empty_prompt" in done.stdout
    stats = assay("--catalog", "env.duckdb", "catalog", "stats", cwd=tmp_path)
    assert stats.returncode == 0 and "gsm8k" in stats.stdout and "empty_prompt" in stats.stdout

    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    for args, message in [
        (("ingest", "broken.parquet", "--preset", "answer"), "broken.parquet: not a readable Parquet file"),
        (("ingest", "gsm8k.jsonl"), f"--preset ({', '.join(PRESETS)}) or --prompt-col"),
        (("ingest", "gsm8k.jsonl", "--preset", "nope"), f"--preset: unknown preset 'nope'; valid: {', '.join(PRESETS)}\n"),
        (("ingest", "builtin:algebra"), "unknown built-in corpus 'builtin:algebra'; valid: builtin:arithmetic"),
        (("--catalog", "missing.duckdb", "catalog", "stats"), "no catalog at missing.duckdb"),
    ]:
        failed = assay(*args, cwd=tmp_path)
        assert failed.returncode == 2, (args, failed.stdout, failed.stderr)
        assert failed.stderr.count("\n") == 1 and message in failed.stderr, failed.stderr
        assert "Traceback" not in failed.stderr


def _cached_hub_dataset(cache, repo, config, splits):
    """Lay out `datasets`' own cache as a dataset downloaded earlier would leave it."""
    import datasets

    build = cache.parent / "build"
    files = {}
    for split, rows in splits.items():
        files[split] = str(build / f"{split}.parquet")
        build.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows), files[split])
    datasets.load_dataset("parquet", data_files=files, cache_dir=str(build / "cache"))
    built = next(p for p in (build / "cache" / "parquet").glob("*/*/*") if p.is_dir())
    owner, name = repo.split("/")
    target = cache / f"{owner}___{name}" / config / built.parent.name / built.name
    shutil.copytree(built, target)
    for arrow in target.glob("parquet-*.arrow"):
        arrow.rename(target / arrow.name.replace("parquet-", f"{name}-", 1))
    info = json.loads((target / "dataset_info.json").read_text())
    (target / "dataset_info.json").write_text(json.dumps({**info, "config_name": config}))


def test_hugging_face_dataset_from_the_local_cache_offline(tmp_path):
    cache = tmp_path / "hf-datasets"
    _cached_hub_dataset(cache, "acme/gsm8k-mini", "main", {"train": shapes.GSM8K[:2], "test": shapes.GSM8K[2:]})
    env = {"HF_DATASETS_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "ASSAY_CATALOG": "c.duckdb"}
    done = assay("ingest", "acme/gsm8k-mini", "--subset", "main", "--preset", "gsm8k", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "3 rows read, 3 added" in done.stdout
    stats = assay("catalog", "stats", cwd=tmp_path, env=env)
    assert "acme/gsm8k-mini" in stats.stdout and "test" in stats.stdout
    missing = assay("ingest", "acme/not-cached", "--preset", "gsm8k", cwd=tmp_path, env=env)
    assert missing.returncode == 2 and "not a local file or folder" in missing.stderr
    assert "local cache" in missing.stderr and missing.stderr.count("\n") == 1


def test_version_answers_without_torch_and_completion_is_on(tmp_path):
    from importlib.metadata import version

    from assay.verifiers import VERIFIER_VERSION

    done, heavy = assay_listing_heavy("--version", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"assay {version('assay')} (verifiers {VERIFIER_VERSION})"]
    assert "torch" not in heavy

    # The installed `assay` script, as a shell calls it: completion scripts name the program.
    script = os.path.join(os.path.dirname(sys.executable), "assay")
    shown = subprocess.run([script, "--show-completion", "bash"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"})
    assert shown.returncode == 0 and "complete -o default -F _assay_completion assay" in shown.stdout, shown.stderr
    completed = subprocess.run([script], cwd=tmp_path, capture_output=True, text=True, timeout=120, env={
        **os.environ, "_ASSAY_COMPLETE": "complete_bash", "COMP_WORDS": "assay catalog st", "COMP_CWORD": "2"})
    assert completed.stdout.split() == ["stats"]


def test_a_headerless_csv_is_one_line_that_says_so(tmp_path):
    (tmp_path / "plain.csv").write_text("What is 2+2?,4\nWhat is 3+3?,6\n")
    failed = assay("ingest", "plain.csv", "--prompt-col", "q", "--answer-col", "a", cwd=tmp_path)
    assert failed.returncode == 2 and failed.stderr.count("\n") == 1, failed.stderr
    assert "plain.csv: the column mapping needs 'q', 'a', not in this file; its columns: 'What is 2+2?', '4'" in failed.stderr
    assert "does the file lack a header line?" in failed.stderr
