"""Shard export: every format loads where its trainer loads it, the manifest checks out, and a
tampered, partial or misdirected export is caught."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assay.curricula.plan import CurriculumConfig, Plan, build_plan
from assay.pipelines.errors import AssayError
from assay.pipelines.store.catalog import Catalog
from assay.pipelines.steps.export import FORMATS, SHARD_SCHEMA, Layout, content_hash, export_plan, read_manifest, verify_manifest
from assay.pipelines.steps.ingest import ingest, resolve_source
from assay.trainers.prompts import POSITIONS, PromptTemplate
from assay.verifiers.rewards import compute_score, reward_func, trl_reward


@pytest.fixture
def planned(catalog):
    source, name, preset = resolve_source("builtin:arithmetic", count=40)
    ingest(catalog, source, preset, name)
    uids = [u for (u,) in catalog.con.execute("SELECT uid FROM records ORDER BY uid").fetchall()]
    scored = pa.table({"uid": uids[:30], "source": ["arithmetic"] * 30,
                       "n": [8] * 30, "n_correct": [i % 7 + 1 for i in range(30)]})
    replay = pa.table({"uid": uids[30:], "source": ["arithmetic"] * 10, "n": [8] * 10, "n_correct": [8] * 10})
    plan = build_plan(scored, CurriculumConfig(stages=2, replay_share=0.1), replay)
    return catalog, plan


def test_parquet_export_rows_manifest_and_reproducibility(planned, tmp_path):
    cat, plan = planned
    manifest = export_plan(cat, plan, "parquet", tmp_path / "a")
    table = pq.read_table(tmp_path / "a" / "data" / "part-00000.parquet")
    assert table.schema == SHARD_SCHEMA
    assert manifest.rows == table.num_rows == plan.table.num_rows
    # Export order is (stage, uid); weights are the plan's and still sum to 1.
    keys = list(zip(table["stage"].to_pylist(), table["uid"].to_pylist()))
    assert keys == sorted(keys)
    assert sum(table["weight"].to_pylist()) == pytest.approx(1.0)
    assert manifest.plan["config"]["replay_share"] == 0.1 and manifest.plan["replay_rows"] > 0
    assert verify_manifest(tmp_path / "a") == []
    # The same plan exported again is byte-identical; another format holds the same content.
    again = export_plan(cat, plan, "parquet", tmp_path / "b")
    assert [f.sha256 for f in again.files] == [f.sha256 for f in manifest.files]
    assert export_plan(cat, plan, "jsonl", tmp_path / "c").content_sha256 == manifest.content_sha256
    assert content_hash(table) == manifest.content_sha256


def test_hf_export_loads_with_datasets_offline(planned, tmp_path):
    import datasets

    cat, plan = planned
    manifest = export_plan(cat, plan, "hf", tmp_path / "hf")
    loaded = datasets.load_dataset(str(tmp_path / "hf"), split="train", cache_dir=str(tmp_path / "hf-cache"))
    assert loaded.num_rows == manifest.rows
    assert set(SHARD_SCHEMA.names) <= set(loaded.column_names)
    assert verify_manifest(tmp_path / "hf") == []


def test_verl_layout_and_its_reward_function(planned, tmp_path):
    cat, plan = planned
    export_plan(cat, plan, "verl", tmp_path / "verl")
    rows = pq.read_table(tmp_path / "verl" / "data" / "part-00000.parquet").to_pylist()
    first = rows[0]
    assert set(first) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
    assert first["data_source"] == "arithmetic" and first["ability"] == "math"
    assert first["prompt"][0]["role"] == "user" and first["prompt"][0]["content"].startswith("Compute ")
    assert first["reward_model"]["style"] == "rule"
    assert {"uid", "split", "index", "verifier", "verifier_options", "stage", "weight"} <= set(first["extra_info"])
    # verl's per-sample reward form, scoring the golds themselves and a wrong answer.
    golds = [r["reward_model"]["ground_truth"] for r in rows[:3]]
    responses = [f"\\boxed{{{g}}}" for g in golds[:2]] + ["\\boxed{x}"]
    scores = [compute_score(r["data_source"], s, g, r["extra_info"]) for r, s, g in zip(rows, responses, golds)]
    assert scores == [1.0, 1.0, 0.0]


def test_trl_dataset_and_its_reward_function(planned, tmp_path):
    import datasets

    cat, plan = planned
    manifest = export_plan(cat, plan, "trl", tmp_path / "trl")
    loaded = datasets.load_from_disk(str(tmp_path / "trl" / "dataset"))
    assert loaded.num_rows == manifest.rows == sum(f.rows for f in manifest.files)
    row = loaded[0]
    assert row["prompt"] == [{"role": "user", "content": row["prompt"][0]["content"]}]
    batch = loaded[:2]
    completions = [[{"role": "assistant", "content": f"\\boxed{{{batch['answer'][0]}}}"}],
                   [{"role": "assistant", "content": "no idea"}]]
    assert trl_reward(batch["prompt"], completions, answer=batch["answer"], verifier=batch["verifier"],
                      verifier_options=batch["verifier_options"]) == [1.0, 0.0]
    assert verify_manifest(tmp_path / "trl") == []


def test_verify_manifest_catches_changed_missing_and_unlisted_files(planned, tmp_path):
    cat, plan = planned
    out = tmp_path / "x"
    export_plan(cat, plan, "jsonl", out)
    part = out / "data" / "part-00000.jsonl"
    lines = part.read_text().splitlines()
    row = json.loads(lines[0])
    row["answer"] = "12345"
    part.write_text("\n".join([json.dumps(row)] + lines[1:]) + "\n")
    (out / "data" / "extra.jsonl").write_text("{}\n")
    assert {(m.path, m.problem) for m in verify_manifest(out)} == {
        ("data/part-00000.jsonl", "sha256"), ("data/extra.jsonl", "unlisted")}
    part.unlink()
    assert ("data/part-00000.jsonl", "missing") in {(m.path, m.problem) for m in verify_manifest(out)}


def test_export_refuses_bad_input_with_clear_errors(planned, tmp_path):
    cat, plan = planned
    (tmp_path / "taken").mkdir()
    with pytest.raises(AssayError, match="already exists"):
        export_plan(cat, plan, "parquet", tmp_path / "taken")
    with pytest.raises(AssayError, match=f"--format: unknown format 'csv'; valid: {', '.join(FORMATS)}$"):
        export_plan(cat, plan, "csv", tmp_path / "y")
    stranger = Plan(plan.table.set_column(1, "uid", pa.array(["f" * 32] * plan.table.num_rows)), plan.params)
    with pytest.raises(AssayError, match=r"not in the catalog .*first: f{32}"):
        export_plan(cat, stranger, "parquet", tmp_path / "z")
    # Nothing half-written is left behind by the failed exports.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "assay.duckdb" and not p.name.startswith("assay.duckdb")) == ["taken"]
    with pytest.raises(AssayError, match="no manifest.json"):
        read_manifest(tmp_path / "taken")


def test_a_run_finds_its_own_finished_export_and_nothing_else(planned, tmp_path):
    cat, plan = planned
    first = export_plan(cat, plan, "parquet", tmp_path / "s", run_id="curate-1")
    # The same run again (continued after a kill right after the rename): its own shards stand.
    assert export_plan(cat, plan, "parquet", tmp_path / "s", run_id="curate-1") == first
    with pytest.raises(AssayError, match="already exists"):  # another run, or a plain export
        export_plan(cat, plan, "parquet", tmp_path / "s", run_id="curate-2")
    with pytest.raises(AssayError, match="already exists"):
        export_plan(cat, plan, "parquet", tmp_path / "s")
    with pytest.raises(AssayError, match="run curate-1 exported there before, but it holds format parquet, not jsonl"):
        export_plan(cat, plan, "jsonl", tmp_path / "s", run_id="curate-1")
    fewer = Plan(plan.table.slice(1), plan.params)
    with pytest.raises(AssayError, match="other rows than the plan's"):
        export_plan(cat, fewer, "parquet", tmp_path / "s", run_id="curate-1")
    (tmp_path / "s" / "data" / "part-00000.parquet").write_bytes(b"changed")
    with pytest.raises(AssayError, match=r"1 file\(s\) changed or missing"):
        export_plan(cat, plan, "parquet", tmp_path / "s", run_id="curate-1")


def test_openrlhf_layout_and_its_reward_function(planned, tmp_path):
    import datasets

    cat, plan = planned
    manifest = export_plan(cat, plan, "openrlhf", tmp_path / "o")
    assert verify_manifest(tmp_path / "o") == []
    # Its card names the data files, so a folder load reads the rows, not manifest.json.
    loaded = datasets.load_dataset(str(tmp_path / "o"), split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.num_rows == manifest.rows
    row = loaded[0]
    assert {"prompt", "label", "datasource", "uid", "stage", "weight", "n", "n_correct"} == set(row)
    label = json.loads(row["label"])
    assert label == {"answer": label["answer"], "verifier": "math", "verifier_options": {}}
    assert row["prompt"] == [{"role": "user", "content": row["prompt"][0]["content"]}] and row["datasource"] == "arithmetic"
    prompt = "<bos><|user|>" + row["prompt"][0]["content"] + "<|assistant|>"
    queries = [prompt + f"\\boxed{{{label['answer']}}}<eos>", prompt + "\\boxed{x}<eos>"]
    assert reward_func(queries, [prompt] * 2, [row["label"]] * 2)["rewards"].tolist() == [1.0, 0.0]


def test_template_and_data_source_shape_the_trainer_layouts_and_are_recorded(planned, tmp_path):
    import datasets

    cat, plan = planned
    template = PromptTemplate(system="Be careful.", instruction="Answer in \\boxed{}.", position="prepend")
    layout = Layout(template, "math-rl")
    plain = pq.read_table(tmp_path / "plain" / export_plan(cat, plan, "verl", tmp_path / "plain").files[0].path).to_pylist()[0]
    verl = export_plan(cat, plan, "verl", tmp_path / "verl", layout=layout)
    row = pq.read_table(tmp_path / "verl" / verl.files[0].path).to_pylist()[0]
    prompt = plain["prompt"][0]["content"]
    assert row["prompt"] == [{"role": "system", "content": "Be careful."}, {"role": "user", "content": "Answer in \\boxed{}.\n\n" + prompt}]
    assert row["data_source"] == "math-rl" and plain["data_source"] == "arithmetic"
    trl = export_plan(cat, plan, "trl", tmp_path / "trl", layout=layout)
    assert datasets.load_from_disk(str(tmp_path / "trl" / "dataset"))[0]["prompt"] == row["prompt"]
    parquet = export_plan(cat, plan, "parquet", tmp_path / "pq", layout=layout)
    # assay's own columns keep the raw prompt; the manifest carries the template for `assay train`.
    assert pq.read_table(tmp_path / "pq" / "data" / "part-00000.parquet")["prompt"][0].as_py() == prompt
    for manifest, folder in ((verl, "verl"), (trl, "trl"), (parquet, "pq")):
        assert manifest.template == {"system": "Be careful.", "instruction": "Answer in \\boxed{}.", "position": "prepend"}
        assert read_manifest(tmp_path / folder) == manifest and manifest.data_source == "math-rl"
    # The template changes the layout's messages, not the rows: the content hash is the same.
    assert len({verl.content_sha256, trl.content_sha256, parquet.content_sha256}) == 1
    with pytest.raises(AssayError, match="--data-source must be non-empty"):
        Layout(data_source=" ")


def test_export_from_a_catalog_opened_read_only_as_the_cli_does(planned, tmp_path):
    # duckdb >= 2: opening a catalog leaves an unfinished result on its connection, and
    # registering the plan on that connection failed (ResourceInUseException).
    cat, plan = planned
    cat.con.execute("CHECKPOINT")
    path = cat.path
    cat.con.close()
    with Catalog.open(path, read_only=True) as ro:
        for fmt in FORMATS:
            assert export_plan(ro, plan, fmt, tmp_path / fmt).rows == plan.table.num_rows


@pytest.mark.slow
def test_export_command_with_template_options(planned, tmp_path):
    import os
    import subprocess
    import sys

    cat, plan = planned
    plan.to_parquet(tmp_path / "plan.parquet")
    path = cat.path
    cat.con.close()

    def assay(*args):
        return subprocess.run([sys.executable, "-m", "assay.pipelines.cli.main", "--catalog", str(path), "export", "--plan", "plan.parquet", *args],
                              cwd=tmp_path, env=dict(os.environ), capture_output=True, text=True, timeout=120)

    done = assay("--format", "openrlhf", "--out", "o", "--system-prompt", "Be brief.", "--instruction", "Solve:",
                 "--instruction-position", "prepend", "--data-source", "arith")
    assert done.returncode == 0, done.stderr
    assert f"o: {plan.table.num_rows} rows in 2 files (openrlhf)" in done.stdout  # 30 scored + 3 replay rows; data + card
    row = json.loads((tmp_path / "o" / "data" / "part-00000.jsonl").read_text().splitlines()[0])
    assert row["prompt"][0] == {"role": "system", "content": "Be brief."} and row["prompt"][1]["content"].startswith("Solve:\n\nCompute ")
    assert row["datasource"] == "arith" and read_manifest(tmp_path / "o").template["position"] == "prepend"
    bad = assay("--format", "verl", "--out", "v", "--instruction", "x", "--instruction-position", "middle")
    assert bad.returncode == 2 and f"unknown instruction position 'middle'; valid: {', '.join(POSITIONS)}\n" in bad.stderr
