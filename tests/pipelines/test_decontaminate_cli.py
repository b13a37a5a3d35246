"""`assay bench` and `assay decontaminate` as a user runs them: output lines in order, the
catalog mode and its findings, the report (escaped, self-contained), the semantic layer offline,
and one-line errors."""

import json
import os
import subprocess
import sys

import pytest

from assay.filters.decontam import MASKED_POLICIES
from tests.pipelines import benchmark_shapes as shapes
from tests.helpers import packaged_minilm, write_jsonl


def assay(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "assay.pipelines.cli.main", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "ASSAY_CATALOG": "c.duckdb", "COLUMNS": "200", **(env or {})}, timeout=180)


def _register(tmp_path):
    write_jsonl(tmp_path / "aime24.jsonl", shapes.AIME24)
    write_jsonl(tmp_path / "gsm8k.jsonl", shapes.GSM8K_TEST)
    write_jsonl(tmp_path / "lcb.jsonl", shapes.LIVECODEBENCH)
    for args in (("aime24", "aime24.jsonl"), ("gsm8k", "gsm8k.jsonl"), ("lcb", "lcb.jsonl", "--preset", "livecodebench")):
        done = assay("bench", "add", *args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_bench_add_list_and_decontaminate_a_file(tmp_path):
    _register(tmp_path)
    listed = assay("bench", "list", cwd=tmp_path)
    assert all(name in listed.stdout for name in ("aime24", "gsm8k", "lcb")) and "livecodebench" in listed.stdout
    rows = [
        {"id": 1, "prompt": "Solve: " + shapes.AIME24[0]["Problem"].upper()},
        {"id": 2, "prompt": "What is 3 + 5?"},
        {"id": 3, "prompt": shapes.GSM8K_TEST[0]["question"].replace("16", "22").replace("$2", "$3")},
        {"id": 4, "prompt": ""},
        {"id": 5, "prompt": shapes.LIVECODEBENCH[1]["question_content"], "date": "2023-01-01"},
        {"id": 6, "prompt": "<script>alert('x')</script> " + shapes.AIME24[1]["Problem"]},
        {"question": shapes.GSM8K_TEST[1]["question"]},
    ]
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    with open(path, "a") as fh:
        fh.write("{not json\n")
    done = assay("decontaminate", "--input", "in.jsonl", "--output", "out.jsonl",
                 "--benchmark", "aime24", "--benchmark", "gsm8k", "--benchmark", "lcb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "4 of 8 rows contaminated, 0 near (kept), 2 not checked" in done.stdout
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [line["id"] for line in lines[:6]] == [1, 2, 3, 4, 5, 6] and lines[7]["id"] is None
    assert [line["contaminated"] for line in lines] == [True, False, True, False, False, True, True, False]
    assert lines[0]["matches"][0] | {"span": ""} == {"benchmark": "aime24", "benchmark_id": "2024-I-1", "method": "ngram",
                                                       "level": "contaminated", "score": 1.0, "span": ""}
    assert lines[0]["level"] == "contaminated" and lines[1]["level"] is None
    # gsm8k is human-written (its preset's masked policy is drop): a numbers-changed copy is dropped.
    assert (lines[2]["matches"][0]["method"], lines[2]["level"]) == ("ngram_masked", "contaminated")
    assert (lines[3]["skipped"], lines[7]["skipped"]) == ("empty_prompt", "bad_json")
    assert len(lines[6]["id"]) == 32  # no id field: the uid of (file stem, prompt)

    report = json.loads((tmp_path / "out.report.json").read_text())
    assert report["rows"] == 8 and report["rows_contaminated"] == 4
    assert report["skipped"] == {"empty_prompt": 1, "bad_json": 1}
    by_name = {b["name"]: b for b in report["benchmarks"]}
    assert by_name["lcb"]["dismissed_by_date"] == 1  # released 2024-04-21, the row is dated 2023-01-01
    assert by_name["lcb"]["temporal"] == {"cutoff": "2023-01-01", "after_cutoff": 2, "at_risk": 0, "undated": 0}
    assert by_name["aime24"]["findings"]["ngram"] == 2
    assert by_name["gsm8k"]["masked"] == "drop" and by_name["gsm8k"]["levels"] == {"contaminated": 2, "semantic": 0, "near": 0}
    assert report["levels"] == {"contaminated": 4, "semantic": 0, "near": 0} and report["rows_near"] == 0

    flagged = assay("decontaminate", "--input", "in.jsonl", "--output", "flag.jsonl", "--benchmark", "gsm8k",
                    "--masked", "gsm8k=flag", cwd=tmp_path)
    assert flagged.returncode == 0, flagged.stderr and "1 of 8 rows contaminated, 1 near (kept)" in flagged.stdout
    lines = [json.loads(line) for line in (tmp_path / "flag.jsonl").read_text().splitlines()]
    assert (lines[2]["contaminated"], lines[2]["level"], lines[2]["matches"][0]["level"]) == (False, "near", "near")
    assert json.loads((tmp_path / "flag.report.json").read_text())["benchmarks"][0]["masked"] == "flag"
    page = (tmp_path / "out.report.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "http" not in page.replace("http-equiv", "")  # self-contained: nothing fetched


@pytest.mark.slow
def test_decontaminate_the_catalog_writes_findings_and_the_filter_honours_them(tmp_path):
    _register(tmp_path)
    write_jsonl(tmp_path / "corpus.jsonl", [
        {"problem": "Repeat: " + shapes.AIME24[1]["Problem"], "answer": "33"},
        {"problem": "What is 7 times 6?", "answer": "42"},
    ])
    assert assay("ingest", "corpus.jsonl", "--preset", "answer", cwd=tmp_path).returncode == 0
    for _ in range(2):  # a rerun replaces the findings, it does not add to them
        done = assay("decontaminate", "--benchmark", "aime24", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "1 of 2 rows contaminated" in done.stdout and "1 findings written" in done.stdout
    from assay.pipelines.store.catalog import Catalog
    from assay.pipelines.steps.decontaminate import contamination_filter

    with Catalog.open(tmp_path / "c.duckdb") as cat:
        rows = cat.con.execute("SELECT benchmark, benchmark_id, method, score FROM contamination").fetchall()
        assert rows == [("aime24", "2024-II-4", "ngram", 1.0)]
        batch = cat.con.sql("SELECT uid, prompt FROM records ORDER BY prompt").to_arrow_table()
        decision = contamination_filter(cat, batch)
        assert decision.keep.to_pylist() == [False, True]
        runs = cat.con.execute("SELECT status FROM runs WHERE kind = 'decontaminate'").fetchall()
        assert runs == [("ok",), ("ok",)]
    reports = list((tmp_path / "reports").glob("*.html"))
    assert len(reports) == 2


@pytest.mark.slow
def test_one_line_errors(tmp_path):
    _register(tmp_path)
    write_jsonl(tmp_path / "in.jsonl", [{"prompt": "x"}])
    write_jsonl(tmp_path / "nofields.jsonl", [{"text": "x", "label": 1}])
    for args, message in [
        (("decontaminate", "--input", "in.jsonl", "--output", "o.jsonl", "--benchmark", "nope"),
         "unknown benchmark 'nope'; valid: aime24, gsm8k, lcb"),
        (("decontaminate", "--input", "in.jsonl", "--benchmark", "aime24"), "--input and --output go together"),
        (("decontaminate", "--input", "missing.jsonl", "--output", "o.jsonl", "--benchmark", "aime24"), "no such file"),
        (("decontaminate", "--input", "in.jsonl", "--output", "o.jsonl", "--benchmark", "aime24", "--semantic", "nowhere"),
         "not a local sentence-transformers model folder"),
        (("decontaminate", "--benchmark", "aime24", "--data-date", "yesterday"), "--data-date 'yesterday': expected YYYY-MM-DD"),
        (("bench", "add", "mine", "nofields.jsonl", "--preset", "math500"),
         "no row has the prompt column 'problem'; the rows have columns: label, text"),
        (("bench", "add", "mine", "nofields.jsonl"), "--preset (aime24, aime25, math500"),
        (("decontaminate", "--input", "in.jsonl", "--output", "o.jsonl", "--benchmark", "aime24", "--masked", "aime24=keep"),
         f"--masked aime24=keep: unknown masked policy 'keep'; valid: {', '.join(MASKED_POLICIES)}"),
        (("decontaminate", "--input", "in.jsonl", "--output", "o.jsonl", "--benchmark", "aime24", "--masked", "gsm8k=drop"),
         "--masked: unknown benchmark 'gsm8k'; valid: aime24"),
    ]:
        failed = assay(*args, cwd=tmp_path)
        assert failed.returncode == 2, (args, failed.stdout, failed.stderr)
        assert failed.stderr.count("\n") == 1 and message in failed.stderr, failed.stderr


@pytest.mark.slow
def test_semantic_layer_finds_a_paraphrase_offline(tmp_path):
    model = packaged_minilm()
    _register(tmp_path)
    paraphrase = ("Each day Janet's ducks produce 16 eggs. She has three for breakfast and uses four to bake muffins; "
                  "the rest she sells at the farmers' market for $2 apiece. How many dollars does she earn daily?")
    write_jsonl(tmp_path / "in.jsonl", [{"id": "p", "prompt": paraphrase}, {"id": "c", "prompt": "Name three primary colors."}])
    args = ("decontaminate", "--input", "in.jsonl", "--output", "o.jsonl", "--benchmark", "gsm8k")
    plain = assay(*args, cwd=tmp_path)
    assert plain.returncode == 0 and "0 of 2 rows contaminated" in plain.stdout
    done = assay(*args, "--semantic", model, cwd=tmp_path, env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert lines[0]["contaminated"] and lines[0]["matches"][0]["method"] == "semantic"
    report = json.loads((tmp_path / "o.report.json").read_text())
    threshold = report["benchmarks"][0]["semantic_threshold"]
    assert lines[0]["matches"][0]["benchmark_id"] == "0" and lines[0]["matches"][0]["score"] >= threshold
    assert lines[0]["level"] == "semantic" and report["levels"]["semantic"] == 1 and not lines[1]["contaminated"]
    assert not lines[1]["contaminated"]


def test_the_filter_drops_contaminated_and_semantic_findings_and_keeps_near_ones_and_pre_level_rows_drop(catalog):
    from datetime import datetime, timezone

    from assay.pipelines.steps.decontaminate import contamination_cells, contamination_filter

    now = datetime.now(timezone.utc)
    rows = [("u1", "ngram", "contaminated"), ("u2", "semantic", "semantic"), ("u3", "ngram_masked", "near"),
            ("u4", "ngram", None)]  # u4: written before findings had levels (schema v3)
    catalog.con.executemany("INSERT INTO contamination VALUES (?, 'b', '1', ?, 1.0, 'x', 'r', ?, ?)",
                            [(uid, method, now, level) for uid, method, level in rows])
    import pyarrow as pa

    decision = contamination_filter(catalog, pa.table({"uid": ["u1", "u2", "u3", "u4", "u5"]}))
    assert decision.keep.to_pylist() == [False, False, True, False, True]
    assert decision.scores["near"].to_pylist() == [0.0, 0.0, 1.0, 0.0, 0.0]
    assert [c["layer"] for c in contamination_cells(catalog, "r")] == [
        "ngram · contaminated", "ngram_masked · near", "semantic · semantic"]
