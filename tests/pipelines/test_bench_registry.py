"""The benchmark registry: presets by real layouts, content hash, replace/unchanged, bad input."""

from collections import Counter
from datetime import date

import pytest

from tests.pipelines import benchmark_shapes as shapes
from assay.pipelines.steps.benchmarks import (
    BENCH_PRESETS,
    content_hash,
    default_masked,
    list_benchmarks,
    load_problems,
    map_rows,
    register_benchmark,
    resolve_bench_preset,
)
from assay.pipelines.store.catalog import SCHEMA_VERSION
from assay.pipelines.errors import AssayError


@pytest.mark.parametrize("preset, rows, first_id, first_answer", [
    ("aime24", shapes.AIME24, "2024-I-1", "204"),
    ("aime25", shapes.AIME25, "0", "70"),
    ("math500", shapes.MATH500, "test/precalculus/807.json", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    ("amc23", shapes.AMC23, "0", "27"),
    ("gsm8k", shapes.GSM8K_TEST, "0", "18"),
    ("gpqa_diamond", shapes.GPQA_DIAMOND, "recj2QNYIyQv3JKWT", "10^-4 eV"),
    ("livecodebench", shapes.LIVECODEBENCH, "abc301_a", '[{"input": "5\\nTTAAT\\n", "output": "T\\n", "testtype": "stdin"}]'),
])
def test_every_preset_reads_its_layout(preset, rows, first_id, first_answer):
    problems, skipped = map_rows(preset, rows, BENCH_PRESETS[preset])
    assert len(problems) == len(rows) and not skipped
    assert (problems[0].benchmark_id, problems[0].answer) == (first_id, first_answer)
    assert problems[0].prompt.strip()


def test_livecodebench_release_dates():
    problems, _ = map_rows("lcb", shapes.LIVECODEBENCH, BENCH_PRESETS["livecodebench"])
    assert [p.released for p in problems] == [date(2023, 5, 13), date(2024, 4, 21)]


def test_rows_missing_fields_are_skipped_with_reasons_and_a_missing_column_is_an_error():
    rows = [*shapes.AIME25, {"problem": "", "answer": "1", "id": "9"}, {"problem": "x y", "id": "8"},
            {"problem": "dup", "answer": "1", "id": "0"}]
    problems, skipped = map_rows("aime25", rows, BENCH_PRESETS["aime25"])
    assert len(problems) == 2 and skipped == Counter(empty_prompt=1, missing_answer=1, duplicate_id=1)
    with pytest.raises(AssayError, match="no row has the prompt column 'question'; the rows have columns: answer, id, problem"):
        map_rows("gsm8k", shapes.AIME25, BENCH_PRESETS["gsm8k"])
    bad_date = [{**shapes.LIVECODEBENCH[0], "contest_date": "soon"}]
    assert map_rows("lcb", bad_date, BENCH_PRESETS["livecodebench"])[1] == Counter(bad_date=1)


def test_preset_resolution():
    assert resolve_bench_preset("gsm8k", None, None, None, None, None)[0] == "gsm8k"
    label, custom = resolve_bench_preset("mine", None, "q", "a", "key", None)
    assert label == "columns prompt=q answer=a id=key" and custom.prompt_cols == ("q",)
    with pytest.raises(AssayError, match=f"--preset: unknown benchmark preset 'nope'; valid: {', '.join(BENCH_PRESETS)}$"):
        resolve_bench_preset("mine", "nope", None, None, None, None)
    with pytest.raises(AssayError, match="--preset .* or --prompt-col"):
        resolve_bench_preset("mine", None, None, None, None, None)
    # A built-in source names its own layout; columns given still win.
    assert resolve_bench_preset("mine", None, None, None, None, None, "builtin:arithmetic-eval")[0] == "arithmetic-eval"
    assert resolve_bench_preset("mine", None, "q", "a", None, None, "builtin:arithmetic-eval")[0].startswith("columns")
    with pytest.raises(AssayError, match="--preset .* or --prompt-col"):
        resolve_bench_preset("mine", None, None, None, None, None, "builtin:arithmetic")  # a corpus, not a benchmark layout


def test_a_benchmark_of_problem_texts_alone_needs_no_answers_and_keeps_the_flag_policy(catalog):
    label, preset = resolve_bench_preset("texts", None, "q", None, None, None)
    assert label == "columns prompt=q" and preset.answer_cols == () and preset.masked == "flag"
    problems, skipped = map_rows("texts", [{"q": "Compute 17 * 23."}, {"q": ""}, {"other": 1}], preset)
    assert [(p.benchmark_id, p.prompt, p.answer) for p in problems] == [("0", "Compute 17 * 23.", "")]
    assert skipped == {"empty_prompt": 1, "missing_prompt": 1}
    register_benchmark(catalog, "texts", problems, skipped, "texts.jsonl", label)
    register_benchmark(catalog, "gsm8k", *map_rows("gsm8k", shapes.GSM8K_TEST, BENCH_PRESETS["gsm8k"]), "g.jsonl", "gsm8k")
    assert default_masked(catalog) == {"gsm8k": "drop", "texts": "flag"}


def test_register_list_load_and_content_hash(catalog):
    problems, skipped = map_rows("math500", shapes.MATH500, BENCH_PRESETS["math500"])
    first = register_benchmark(catalog, "math500", problems, skipped, "m.jsonl", "math500")
    assert (first.status, first.problems, first.content_hash) == ("added", 3, content_hash(problems))
    assert register_benchmark(catalog, "math500", problems, skipped, "m.jsonl", "math500").status == "unchanged"
    assert register_benchmark(catalog, "math500", problems[:2], skipped, "m.jsonl", "math500").status == "replaced"
    (info,) = list_benchmarks(catalog)
    assert (info.name, info.problems, info.dated) == ("math500", 2, 0)
    loaded = load_problems(catalog, ["math500"])
    assert [(p.benchmark_id, p.answer) for p in loaded] == [(p.benchmark_id, p.answer) for p in problems[:2]]
    with pytest.raises(AssayError, match="unknown benchmark 'aime24'; valid: math500$"):
        load_problems(catalog, ["aime24"])
    with pytest.raises(AssayError, match="no usable problem"):
        register_benchmark(catalog, "empty", [], Counter(empty_prompt=2), "e.jsonl", "aime25")
    with pytest.raises(AssayError, match="benchmark name"):
        register_benchmark(catalog, "bad name!", problems, skipped, "m.jsonl", "math500")
    assert catalog.con.execute("SELECT value FROM assay_meta").fetchone() == (str(SCHEMA_VERSION),)


def test_unknown_benchmark_with_none_registered(catalog):
    with pytest.raises(AssayError, match="unknown benchmark 'gsm8k'; valid: none: register one with `assay bench add NAME SOURCE`"):
        load_problems(catalog, ["gsm8k"])


def test_version_1_catalog_is_upgraded_with_the_benchmark_tables(tmp_path):
    import duckdb

    from assay.pipelines.store.catalog import _DDL, Catalog

    path = tmp_path / "v1.duckdb"
    con = duckdb.connect(str(path))
    con.execute(_DDL)
    con.execute("INSERT INTO assay_meta VALUES ('schema_version', '1')")
    con.close()
    with Catalog.open(path) as cat:
        assert cat.stats().tables["benchmarks"] == 0 and cat.stats().tables["benchmark_problems"] == 0
