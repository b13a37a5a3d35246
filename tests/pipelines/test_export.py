"""Shard export: every format loads where its trainer loads it, the manifest checks out, and a
tampered, partial or misdirected export is caught."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assay.curricula.plan import CurriculumConfig, Plan, build_plan
from assay.pipelines.errors import AssayError
from assay.pipelines.export import FORMATS, SHARD_SCHEMA, content_hash, export_plan, read_manifest, verify_manifest
from assay.pipelines.ingest import ingest, resolve_source
from assay.verifiers.rewards import trl_reward, verl_compute_scores


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
    # verl's batch reward manager, scoring the golds themselves and a wrong answer.
    golds = [r["reward_model"]["ground_truth"] for r in rows[:3]]
    scores = verl_compute_scores([r["data_source"] for r in rows[:3]], [f"\\boxed{{{g}}}" for g in golds[:2]] + ["\\boxed{x}"],
                                 golds, [r["extra_info"] for r in rows[:3]])
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
    with pytest.raises(AssayError, match="--format 'csv': unknown; choose one of " + ", ".join(FORMATS)):
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
