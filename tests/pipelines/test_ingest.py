"""Ingestion of each preset's real layout, bad rows to quarantine, idempotence, transactions."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assay.pipelines.steps import readers
from assay.pipelines.store.catalog import Catalog
from assay.pipelines.errors import AssayError
from assay.pipelines.steps.ingest import ingest, resolve_source, verifier_options
from assay.pipelines.steps.presets import PRESETS, Mapped, Rejected, resolve_preset
from assay.verifiers import VERIFIERS
from assay.pipelines.store.schema import MAX_FIELD_CHARS, make_uid
from tests.helpers import write_jsonl
from tests.pipelines import dataset_shapes as shapes


def run(cat, spec, preset=None, name=None, **flags):
    source, default_name, implied = resolve_source(str(spec), flags.pop("split", None))
    mapping = implied or resolve_preset(preset, **{k: flags.get(k) for k in ("prompt_col", "answer_col", "answer_regex", "verifier")})
    report = ingest(cat, source, mapping, name or default_name)
    assert report.accounted(), report
    return report


def records(cat, source):
    return cat.con.execute(
        "SELECT prompt, answer, verifier, domain, split, meta FROM records WHERE source = ? ORDER BY prompt", [source]
    ).fetchall()


def quarantine(cat):
    return sorted(cat.con.execute("SELECT location, reason FROM quarantine").fetchall())


def test_gsm8k_preset_extracts_the_final_answer(catalog, tmp_path):
    report = run(catalog, write_jsonl(tmp_path / "gsm8k" / "train.jsonl", shapes.GSM8K), "gsm8k", "gsm8k")
    assert (report.rows_read, report.added) == (3, 3)
    answers = {prompt[:9]: answer for prompt, answer, *_ in records(catalog, "gsm8k")}
    assert answers == {"Natalia s": "72", "Weng earn": "10", "A stadium": "5000"}
    assert {r[2:5] for r in records(catalog, "gsm8k")} == {("math", "math", "train")}


def test_math_preset_prefers_answer_column_else_last_boxed(catalog, tmp_path):
    write_jsonl(tmp_path / "math500" / "test.jsonl", shapes.MATH500)
    write_jsonl(tmp_path / "hendrycks.jsonl", shapes.HENDRYCKS)
    run(catalog, tmp_path / "math500", "math", "math500")
    run(catalog, tmp_path / "hendrycks.jsonl", "math", "hendrycks")
    assert [r[1] for r in records(catalog, "math500")] == ["\\left( 3, \\frac{\\pi}{2} \\right)", "\\frac{14}{3}"]
    assert {r[4] for r in records(catalog, "math500")} == {"test"}  # split from the file name
    assert sorted(r[1] for r in records(catalog, "hendrycks")) == ["10", "2"]
    meta = json.loads(records(catalog, "math500")[0][5])
    assert meta == {"subject": "Precalculus", "level": 2, "unique_id": "test/precalculus/807.json"}


def test_numina_preset_quarantines_proofs_without_a_boxed_answer(catalog, tmp_path):
    report = run(catalog, write_jsonl(tmp_path / "numina.jsonl", shapes.NUMINA), "numina")
    assert report.added == 1 and report.quarantined == {"no_gold": 1}
    assert records(catalog, "numina")[0][1] == "24"
    assert json.loads(records(catalog, "numina")[0][5])["source"] == "synthetic_math"


def test_answer_preset_reads_deepscaler_layout_from_parquet(catalog, tmp_path):
    path = tmp_path / "deepscaler.parquet"
    pq.write_table(pa.Table.from_pylist(shapes.DEEPSCALER), path)
    run(catalog, path, "answer")
    assert sorted(r[1] for r in records(catalog, "deepscaler")) == ["35", "869"]


def test_mc_preset_handles_index_answers_and_arc_labels(catalog, tmp_path):
    run(catalog, write_jsonl(tmp_path / "mmlu.jsonl", shapes.MMLU), "mc")
    run(catalog, write_jsonl(tmp_path / "arc.jsonl", shapes.ARC), "mc")
    mmlu = records(catalog, "mmlu")
    assert [r[1] for r in mmlu] == ["B", "B"]
    assert mmlu[1][0].endswith("A. Abdominal\nB. Cranial\nC. Pleural\nD. Spinal")
    assert mmlu[0][2:4] == ("mc", "multiple_choice")
    assert sorted(r[1] for r in records(catalog, "arc")) == ["A", "A"]  # label "1" is the first choice
    assert verifier_options(mmlu[1][5]) == {"choices": ["Abdominal", "Cranial", "Pleural", "Spinal"]}
    assert json.loads(mmlu[1][5])["subject"] == "anatomy"


def test_code_preset_keeps_tests_as_text(catalog, tmp_path):
    run(catalog, write_jsonl(tmp_path / "code.jsonl", shapes.CODE), "code")
    rows = records(catalog, "code")
    assert rows[0][1] == json.dumps({"inputs": ["2 3\n", "10 10\n"], "outputs": ["6\n", "100\n"]})
    assert rows[1][1].startswith("assert add(1, 2) == 3")
    assert {r[2] for r in rows} == {"code"}


def test_csv_with_column_flags_and_answer_regex(catalog, tmp_path):
    path = tmp_path / "custom.csv"
    path.write_text('q,a\n"What is 6*7?","The answer: 42"\n"Half of 10?","nothing here"\n')
    report = run(catalog, path, prompt_col="q", answer_col="a", answer_regex=r"answer: (\d+)")
    assert report.added == 1 and report.quarantined == {"no_gold": 1}
    assert records(catalog, "custom")[0][1] == "42"


def test_json_array_and_json_lines_under_json_suffix(catalog, tmp_path):
    (tmp_path / "array.json").write_text(json.dumps(shapes.DEEPSCALER))
    write_jsonl(tmp_path / "lines.json", shapes.DEEPSCALER)
    assert run(catalog, tmp_path / "array.json", "answer").added == 2
    assert run(catalog, tmp_path / "lines.json", "answer").added == 2


def test_bad_rows_go_to_quarantine_with_reasons(catalog, tmp_path):
    path = tmp_path / "messy.jsonl"
    lines = [
        json.dumps({"problem": "What is 1+1?", "answer": "2"}),
        json.dumps({"answer": "3"}),  # 2: no prompt
        json.dumps({"problem": "   ", "answer": "3"}),  # 3: blank prompt
        json.dumps({"problem": "What is 2+2?", "answer": ""}),  # 4: empty answer
        json.dumps({"problem": ["not", "text"], "answer": "1"}),  # 5: wrong type
        '{"problem": "broken", "answer": ',  # 6: broken JSON line
        json.dumps({"problem": "x" * 10_000_001, "answer": "1"}),  # 7: a 10 MB field
        json.dumps(["an", "array"]),  # 8: not an object
        json.dumps({"problem": "What is  1+1?", "answer": "2"}),  # 9: same prompt after normalisation
        json.dumps({"problem": "Lone \ud800 surrogate", "answer": "1"}),  # 10: escaped lone surrogate
        "",  # blank line: no row
        json.dumps({"problem": "What is 3+3?", "answer": 6}),  # 12: numbers are fine as answers
    ]
    data = ("\n".join(lines) + "\n").encode() + b'{"problem": "caf\xe9?", "answer": "1"}\n'  # 13: Latin-1 byte
    path.write_bytes(data)
    report = run(catalog, path, "answer")
    assert report.rows_read == 12 and report.added == 2
    expected = {
        2: "missing_prompt", 3: "empty_prompt", 4: "empty_answer", 5: "wrong_type", 6: "bad_json",
        7: "field_too_large", 8: "not_an_object", 9: "duplicate_prompt", 10: "invalid_utf8", 13: "invalid_utf8",
    }
    assert quarantine(catalog) == sorted((f"{path}:{line}", reason) for line, reason in expected.items())
    raw, detail = catalog.con.execute("SELECT raw, detail FROM quarantine WHERE reason = 'field_too_large'").fetchone()
    assert len(raw) < 2100 and "10,000,001 characters" in detail
    assert sorted(r[1] for r in records(catalog, "messy")) == ["2", "6"]


BOM = "\ufeff"


def test_a_utf8_byte_order_mark_is_skipped_in_every_format(catalog, tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "BLOCK_ROWS", 2)  # the first line is read in a block of its own
    rows = [{"problem": f"What is {i}+1?", "answer": str(i + 1)} for i in range(5)]
    (tmp_path / "lines.jsonl").write_text(BOM + "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "lines.json").write_text(BOM + "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "array.json").write_text(BOM + json.dumps(rows, indent=1), encoding="utf-8")
    (tmp_path / "table.csv").write_text(BOM + "problem,answer\n" + "".join(f"{r['problem']},{r['answer']}\n" for r in rows),
                                        encoding="utf-8")
    for name in ("lines.jsonl", "lines.json", "array.json", "table.csv"):
        report = run(catalog, tmp_path / name, "answer", name)
        assert (report.rows_read, report.added, report.quarantined) == (5, 5, {}), name
        assert [r[1] for r in records(catalog, name)] == ["1", "2", "3", "4", "5"]


def test_json_too_deep_or_with_a_repeated_key_is_quarantined_and_the_rest_read(catalog, tmp_path):
    deep = '{"problem": "deep", "answer": ' + "[" * 100_000 + "]" * 100_000 + "}"
    just_deep_enough = '{"problem": "nested", "answer": "1", "x": ' + "[" * 99 + "]" * 99 + "}"
    rows = [
        '{"problem": "What is 1+1?", "answer": "2"}',
        deep,  # 2 / [1]: 100,000 levels, past Python's own recursion limit
        '{"problem": "one", "answer": "1", "x": ' + "[" * 100 + "]" * 100 + "}",  # 3 / [2]: 101 levels
        '{"problem": "twice \\" ]} [", "answer": "1", "answer": "2"}',  # 4 / [3]: brackets in a string are text
        '{"problem": "inner", "answer": "1", "x": {"k": 1, "k": 2}}',  # 5 / [4]: a nested object too
        '{"problem": "huge", "answer": ' + "7" * 5000 + "}",  # 6 / [5]: more digits than int() reads
        just_deep_enough,  # 7 / [6]: 100 levels is allowed
        json.dumps({"problem": "Brackets: " + "[{" * 200, "answer": "4"}),  # text, not nesting
    ]
    (tmp_path / "lines.jsonl").write_text("\n".join(rows) + "\n")
    (tmp_path / "array.json").write_text("[\n" + ",\n".join(rows) + "\n]")
    expected = {2: "bad_json", 3: "bad_json", 4: "duplicate_key", 5: "duplicate_key", 6: "bad_json"}
    for name, where in (("lines.jsonl", ":{}"), ("array.json", "[{}]")):
        catalog.con.execute("DELETE FROM quarantine")
        report = run(catalog, tmp_path / name, "answer", name)
        assert (report.rows_read, report.added) == (8, 3), name
        shift = 1 if name == "lines.jsonl" else 0  # line numbers count from 1, array indexes from 0
        assert quarantine(catalog) == sorted((f"{tmp_path / name}" + where.format(n - 1 + shift), reason)
                                             for n, reason in expected.items())
        details = [d for (d,) in catalog.con.execute("SELECT detail FROM quarantine ORDER BY location").fetchall()]
        assert details[:4] == ["nested deeper than 100 levels", "nested deeper than 100 levels",
                               "key 'answer' appears twice in one object", "key 'k' appears twice in one object"]
        assert details[4].startswith("Exceeds the limit (4300 digits) for integer string conversion")
        assert sorted(r[1] for r in records(catalog, name)) == ["1", "2", "4"]


def test_a_column_the_mapping_needs_missing_from_a_whole_file_is_one_error(catalog, tmp_path):
    headerless = tmp_path / "headerless.csv"
    headerless.write_text("What is 2+2?,4\nWhat is 3+3?,6\n")
    with pytest.raises(AssayError) as info:
        run(catalog, headerless, prompt_col="question", answer_col="answer")
    assert str(info.value) == (
        f"{headerless}: the column mapping needs 'question', 'answer', not in this file; its columns: 'What is 2+2?', '4'"
        " -- these look like data, not column names: does the file lack a header line?"
    )
    jsonl = write_jsonl(tmp_path / "typo.jsonl", [{"question": "2+2?", "solution": "4"}, {"question": "3+3?"}])
    with pytest.raises(AssayError, match=r"typo\.jsonl: the column mapping needs 'answer', not in this file; "
                                         r"its columns: 'question', 'solution'$"):
        run(catalog, jsonl, prompt_col="question", answer_col="answer")
    parquet = tmp_path / "mmlu.parquet"
    pq.write_table(pa.Table.from_pylist([{"question": "q?", "options": ["a", "b"], "answer": 0}]), parquet)
    with pytest.raises(AssayError, match=r"mmlu\.parquet: the column mapping needs 'choices', not in this file; "
                                         r"its columns: 'question', 'options', 'answer'$"):
        run(catalog, parquet, "mc")
    assert catalog.stats().tables["records"] == 0 and catalog.stats().tables["quarantine"] == 0
    # Either of a choice is enough: math takes 'answer' when there is no 'solution'.
    assert run(catalog, write_jsonl(tmp_path / "m.jsonl", [{"problem": "1+1?", "answer": "2"}]), "math").added == 1


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet"])
def test_every_format_has_the_same_field_limit(catalog, tmp_path, suffix):
    rows = [
        {"q": "Long: " + "x" * 200_000, "a": "1"},  # over the csv module's own 131,072 default
        {"q": "Too long: " + "y" * MAX_FIELD_CHARS, "a": "2"},
        {"q": "Short", "a": "3"},
    ]
    path = tmp_path / f"wide{suffix}"
    if suffix == ".csv":
        path.write_text("q,a\n" + "".join(f"{r['q']},{r['a']}\n" for r in rows))
    elif suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        write_jsonl(path, rows)
    report = run(catalog, path, prompt_col="q", answer_col="a")
    assert (report.rows_read, report.added, report.quarantined) == (3, 2, {"field_too_large": 1})
    assert sorted(r[1] for r in records(catalog, "wide")) == ["1", "3"]
    assert catalog.con.execute("SELECT detail FROM quarantine").fetchone() == (
        f"column 'q' has {MAX_FIELD_CHARS + 10:,} characters (limit {MAX_FIELD_CHARS:,})",
    )


def test_numbers_are_kept_exactly_or_quarantined(catalog, tmp_path):
    lines = [
        '{"problem": "p1", "answer": NaN}',
        '{"problem": "p2", "answer": Infinity}',
        '{"problem": "p3", "answer": -Infinity}',
        '{"problem": "p4", "answer": 1e400}',  # too large for a float: inf
        '{"problem": NaN, "answer": "5"}',
        '{"problem": "p6", "answer": 9007199254740993.0}',  # 2^53 + 1: a float holds 2^53
        '{"problem": "p7", "answer": 1e-400}',  # underflows to 0.0
        '{"problem": "p8", "answer": 9007199254740993}',  # an integer: exact at any size
        '{"problem": "p9", "answer": 123456789012345678901234567890}',
        '{"problem": "p10", "answer": 1e5}',  # the same number as 100000.0
        '{"problem": "p11", "answer": 2.50}',
        '{"problem": "p12", "answer": 0.1}',  # not exact in binary, but reads back as written
    ]
    path = tmp_path / "numbers.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = run(catalog, path, "answer")
    expected = {1: "non_finite", 2: "non_finite", 3: "non_finite", 4: "non_finite", 5: "non_finite",
                6: "imprecise_number", 7: "imprecise_number"}
    assert quarantine(catalog) == sorted((f"{path}:{line}", reason) for line, reason in expected.items())
    assert sorted(r[1] for r in records(catalog, "numbers")) == sorted(
        ["9007199254740993", "123456789012345678901234567890", "100000", "2.5", "0.1"]
    )
    assert report.added == 5
    assert catalog.con.execute("SELECT detail FROM quarantine WHERE location = ?", [f"{path}:6"]).fetchone() == (
        "column 'answer' is 9007199254740993.0, which a 64-bit float rounds to 9007199254740992.0; "
        "write it as a string to keep its digits",
    )
    parquet = tmp_path / "floats.parquet"
    pq.write_table(pa.Table.from_pylist([{"problem": "a", "answer": float("nan")}, {"problem": "b", "answer": 3.0}]), parquet)
    assert run(catalog, parquet, "answer").quarantined == {"non_finite": 1}
    assert [r[1] for r in records(catalog, "floats")] == ["3"]


def test_reingesting_adds_nothing(catalog, tmp_path):
    path = write_jsonl(tmp_path / "gsm8k.jsonl", shapes.GSM8K + [{"question": "no answer", "answer": "none"}])
    first = run(catalog, path, "gsm8k")
    second = run(catalog, path, "gsm8k")
    assert (first.added, second.added, second.already_present) == (3, 0, 3)
    assert second.quarantined == {"no_gold": 1}  # reported again, stored once
    assert catalog.stats().tables["records"] == 3 and catalog.stats().tables["quarantine"] == 1
    assert catalog.con.execute("SELECT count(*), count(DISTINCT status) FROM runs").fetchone() == (2, 1)


def test_same_prompt_in_another_split_is_a_quarantined_conflict(catalog, tmp_path):
    write_jsonl(tmp_path / "train.jsonl", shapes.DEEPSCALER)
    write_jsonl(tmp_path / "test.jsonl", shapes.DEEPSCALER[:1])
    run(catalog, tmp_path / "train.jsonl", "answer", "ds")
    report = run(catalog, tmp_path / "test.jsonl", "answer", "ds")
    assert report.quarantined == {"conflicting_duplicate": 1}
    assert catalog.con.execute("SELECT reason, location FROM quarantine").fetchone() == (
        "conflicting_duplicate", f"{tmp_path / 'test.jsonl'}:1",
    )


def test_a_crash_inside_a_batch_leaves_whole_batches_only(catalog, tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "BLOCK_ROWS", 2)
    rows = [{"problem": f"Problem {i}", "answer": str(i)} for i in range(5)] + [{"problem": "x", "answer": ""}]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    calls = {"n": 0}
    original = Catalog._insert_counted

    def crash_on_second_batch(self, table, *args):
        if table == "quarantine":
            calls["n"] += 1
            if calls["n"] == 2:  # records of batch 2 are written, then the process "dies"
                raise RuntimeError("simulated crash")
        return original(self, table, *args)

    monkeypatch.setattr(Catalog, "_insert_counted", crash_on_second_batch)
    with pytest.raises(RuntimeError):
        run(catalog, path, "answer")
    assert catalog.stats().tables["records"] == 2  # batch 1 whole, batch 2 rolled back
    assert catalog.con.execute("SELECT status FROM runs").fetchone() == ("failed",)
    monkeypatch.setattr(Catalog, "_insert_counted", original)
    report = run(catalog, path, "answer")
    assert (report.added, report.already_present, report.quarantined) == (3, 2, {"empty_answer": 1})


def test_uid_is_stable_and_normalised():
    assert make_uid("s", "What is\u00a02+2?\n") == make_uid("s", " What is 2+2? ")  # NFKC turns NBSP into space
    assert make_uid("s", "What is 2+2?") != make_uid("t", "What is 2+2?")
    # Pinned: changing the uid silently would orphan every stored difficulty observation.
    assert make_uid("s", "What is 2+2?") == "2aec5a0c0da8edd0157cbf39fa12a453"


def test_folder_of_files_infers_splits(catalog, tmp_path):
    folder = tmp_path / "gsm8k" / "main"
    pq.write_table(pa.Table.from_pylist(shapes.GSM8K[:2]), folder.mkdir(parents=True) or folder / "train-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist(shapes.GSM8K[2:]), folder / "test-00000-of-00001.parquet")
    run(catalog, tmp_path / "gsm8k", "gsm8k")
    assert catalog.stats().records == [("gsm8k", "test", 1), ("gsm8k", "train", 2)]


def test_broken_files_give_one_line_errors(catalog, tmp_path):
    good = tmp_path / "good.parquet"
    pq.write_table(pa.Table.from_pylist(shapes.DEEPSCALER), good)
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(good.read_bytes()[:-20])
    with pytest.raises(AssayError, match=r"truncated\.parquet: not a readable Parquet file"):
        run(catalog, truncated, "answer")
    broken_array = tmp_path / "broken.json"
    broken_array.write_text('[\n{"problem": "a", "answer": "1"},\n{"problem": "b" "answer": "2"}\n]')
    with pytest.raises(AssayError, match=r"broken\.json:3: broken JSON array"):
        run(catalog, broken_array, "answer")
    with pytest.raises(AssayError, match="no such file"):
        run(catalog, tmp_path / "missing.jsonl", "answer")


def test_preset_and_flag_errors_name_the_options():
    with pytest.raises(AssayError, match=f"--preset: unknown preset 'gsm8'; valid: {', '.join(PRESETS)}$"):
        resolve_preset("gsm8", None, None, None, None)
    with pytest.raises(AssayError, match="--prompt-col and --answer-col"):
        resolve_preset(None, "q", None, None, None)
    with pytest.raises(AssayError, match="exactly one capture group"):
        resolve_preset(None, "q", "a", r"\d+", None)
    with pytest.raises(AssayError, match=f"--verifier: unknown verifier 'maths'; valid: {', '.join(VERIFIERS)}$"):
        resolve_preset(None, "q", "a", None, "maths")


# One row of each preset's layout (tests/pipelines/dataset_shapes.py) and the (prompt start, gold)
# it maps to, by hand. A new preset adds its row here.
PRESET_ROWS = {
    "gsm8k": (shapes.GSM8K[2], "A stadium holds", "5000"),
    "math": (shapes.MATH500[1], "If $f(x)", "\\frac{14}{3}"),
    "numina": (shapes.NUMINA[0], "Find the sum", "24"),
    "answer": (shapes.DEEPSCALER[1], "Compute $\\sqrt", "869"),
    "mc": (shapes.ARC[1], "Which technology was developed most recently?\n\nA. cellular telephone\nB. television", "A"),
    "code": (shapes.CODE[0], "Write a function add", "assert add(1, 2) == 3\nassert add(-1, 1) == 0"),
}


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_maps_a_row_of_its_layout_and_rejects_a_row_without_it(name):
    preset = PRESETS[name]
    assert name in PRESET_ROWS, f"give preset {name!r} a row of its layout in PRESET_ROWS"
    row, prompt, gold = PRESET_ROWS[name]
    mapped = preset.map_row(row)
    assert isinstance(mapped, Mapped) and mapped.prompt.startswith(prompt) and mapped.answer == gold
    assert isinstance(preset.map_row({}), Rejected)
    assert preset.verifier in VERIFIERS
    assert {column for choice in preset.required for column in choice} <= set(preset.columns)


@pytest.mark.parametrize("verifier", VERIFIERS)
def test_a_column_mapping_takes_every_verifier(verifier):
    preset = resolve_preset(None, "q", "a", None, verifier)
    assert (preset.verifier, preset.map_row({"q": "Say 7.", "a": " 7 "})) == (verifier, Mapped("Say 7.", "7"))
    assert preset.domain


# The domains the built-in verifiers' rows get, by hand; a verifier not named here gets its own name.
DOMAINS = {"math": "math", "numeric": "math", "mc": "multiple_choice", "exact": "text", "code": "code", "new": "new"}


@pytest.mark.parametrize("verifier, domain", DOMAINS.items())
def test_a_column_mappings_domain_follows_its_verifier(verifier, domain, monkeypatch):
    monkeypatch.setitem(VERIFIERS, "new", VERIFIERS["exact"])  # a verifier no domain was written down for
    assert resolve_preset(None, "q", "a", None, verifier).domain == domain


def test_builtin_arithmetic_is_seeded_and_idempotent(catalog):
    first = run(catalog, "builtin:arithmetic")
    assert first.added == 1000
    source, name, preset = resolve_source("builtin:arithmetic", count=1000, seed=0)
    assert ingest(catalog, source, preset, name).added == 0
    source, name, preset = resolve_source("builtin:arithmetic", count=50, seed=1)
    assert ingest(catalog, source, preset, name).added > 0
    prompt, answer, verifier, domain, split, meta = records(catalog, "arithmetic")[0]
    assert prompt.startswith("Compute ") and verifier == "math" and split == "train"
    assert set(json.loads(meta)) == {"steps", "solution"}
    with pytest.raises(AssayError, match="only to builtin"):
        resolve_source("data.jsonl", count=5)


@pytest.mark.slow
def test_sigkill_mid_ingest_leaves_whole_blocks_and_a_rerun_completes(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    rows = [{"problem": f"What is {i} plus {i + 1}? (item {i})", "answer": str(2 * i + 1)} for i in range(150_000)]
    path = write_jsonl(tmp_path / "big.jsonl", rows)
    args = [sys.executable, "-m", "assay.pipelines.cli.main", "--catalog", str(tmp_path / "c.duckdb"), "ingest", str(path), "--preset", "answer"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    with_rows = 0
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if (tmp_path / "c.duckdb.wal").exists() or (tmp_path / "c.duckdb").exists():
            with_rows += 1
            if with_rows == 8:  # a little after the catalog appears: mid-ingest
                os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Catalog.open(tmp_path / "c.duckdb") as cat:
        partial = cat.stats().tables["records"]
        assert partial % readers.BLOCK_ROWS == 0 and partial < 150_000  # killed mid-way: whole blocks only
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with Catalog.open(tmp_path / "c.duckdb") as cat:
        assert cat.stats().tables["records"] == 150_000
        assert cat.con.execute("SELECT count(DISTINCT uid) FROM records").fetchone() == (150_000,)
