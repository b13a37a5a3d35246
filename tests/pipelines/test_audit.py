"""The memorization audit, validated for real: plant memorization by fine-tuning the toy on half
of a benchmark and check the audit tells the halves apart, while the untouched toy does not."""

import random

import pytest

from assay.filters.decontam import BenchmarkProblem
from assay.filters.memorization import auc
from assay.pipelines.steps.audit import audit_problems
from assay.trainers.engines import TransformersEngine
from assay.trainers.sft import TextFinetune, finetune_text

TEMPLATES = [
    "{a} buys {x} apples at the market and gives {y} of them to her neighbour. How many apples does {a} keep?",
    "A train leaves the station at {x} km per hour and travels for {y} hours. How far does the train go?",
    "The rectangle has a length of {x} meters and a width of {y} meters. What is its perimeter in meters?",
    "{a} reads {x} pages every evening for {y} evenings in a row. How many pages has {a} read in total?",
    "A box holds {x} red pens and {y} blue pens. If two pens are taken out at random, what is the chance both are red?",
    "Find the remainder when {x} to the power of {y} is divided by seven, and explain each step of the reasoning.",
]
NAMES = ["Mara", "Tomas", "Ines", "Kofi", "Lena", "Ravi", "Yuki", "Omar"]


def fixture_benchmark(per_template=4, seed=0):
    rng = random.Random(seed)
    problems = []
    for t, template in enumerate(TEMPLATES):
        for j in range(per_template):
            x, y = rng.randint(12, 97), rng.randint(2, 9)
            text = template.format(a=rng.choice(NAMES), x=x, y=y)
            problems.append(BenchmarkProblem("fixture", f"{t}-{j}", text, str(x + y)))
    return problems


def separation(items, memorized_ids):
    scores = {i.benchmark_id: i.item.completion_score for i in items}
    inside = [s for b, s in scores.items() if b in memorized_ids]
    outside = [s for b, s in scores.items() if b not in memorized_ids]
    return auc(inside, outside)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_audit_separates_planted_memorization_and_not_the_untouched_toy(tmp_path):
    problems = fixture_benchmark()
    memorized = problems[::2]  # two of each template: the held-out half shares every template
    memorized_ids = {p.benchmark_id for p in memorized}
    tuned = finetune_text("toy", [p.prompt for p in memorized], tmp_path / "tuned", TextFinetune(steps=300, lr=2e-3))

    planted = audit_problems(TransformersEngine(tuned, chat_template=False), TransformersEngine(tuned), problems, 3, 0, 48)
    untouched = audit_problems(TransformersEngine("toy", chat_template=False), TransformersEngine("toy"), problems, 3, 0, 48)

    assert separation(planted, memorized_ids) >= 0.9
    assert 0.25 <= separation(untouched, memorized_ids) <= 0.75
    # Memorized items are completed far better than their number-changed controls.
    memorized_items = [i for i in planted if i.benchmark_id in memorized_ids]
    assert sum(i.item.completion_score > i.control.completion_score for i in memorized_items) >= 0.75 * len(memorized_items)
    assert sum(any(i.item.exact.values()) for i in memorized_items) >= len(memorized_items) // 2
    assert not any(any(i.item.exact.values()) for i in planted if i.benchmark_id not in memorized_ids)


@pytest.mark.slow
def test_cli_audit_model_reports_per_benchmark_and_per_item(tmp_path):
    import json
    import subprocess
    import sys

    def run(*args):
        return subprocess.run([sys.executable, "-m", "assay.pipelines.cli.main", "--catalog", str(tmp_path / "c.duckdb"), *args],
                              capture_output=True, text=True, timeout=300)

    added = run("bench", "add", "arith-eval", "builtin:arithmetic-eval", "--prompt-col", "problem", "--answer-col", "answer", "--id-col", "id")
    assert added.returncode == 0, added.stderr
    done = run("audit-model", "--model", "toy", "--benchmark", "arith-eval", "--max-items", "3", "--k", "2",
               "--max-tokens", "16", "--report", str(tmp_path / "audit"))
    assert done.returncode == 0, done.stderr
    assert "memorization audit" in done.stdout
    assert f"report: {tmp_path / 'audit.html'}" in " ".join(done.stdout.split())
    payload = json.loads((tmp_path / "audit-items.json").read_text())
    assert payload["benchmarks"]["arith-eval"]["items"] == 3 and len(payload["items"]) == 3
    assert {"item", "control"} <= set(payload["items"][0])
    summary = json.loads((tmp_path / "audit.json").read_text())
    assert summary["kind"] == "audit" and [m["items"] for m in summary["memorization"]] == [3]
    assert summary["links"] == {"per-item scores": "audit-items.json"} and "contamination" not in summary
    # --dataset: the same probes plus the catalog's records against the benchmark, as one
    # Prefect flow and one report (the catalog has no records here: no findings, still a section).
    both = run("audit-model", "--dataset", "--benchmark", "arith-eval", "--max-items", "2", "--k", "2", "--max-tokens", "16",
               "--report", str(tmp_path / "both"))
    assert both.returncode == 0, both.stderr
    assert "decontaminate" in both.stdout and "memorization audit" in both.stdout
    summary = json.loads((tmp_path / "both.json").read_text())
    assert summary["contamination"] == [] and [m["items"] for m in summary["memorization"]] == [2]
    assert summary["lines"][0].startswith("dataset: 0 of 0 catalog rows match arith-eval")
    missing = run("audit-model", "--benchmark", "aime24")
    assert missing.returncode == 2 and "arith-eval" in missing.stderr  # the error lists what is registered


@pytest.mark.slow
def test_a_benchmark_without_answers_skips_the_answer_probe_and_says_so():
    from assay.pipelines.steps.audit import AuditResult
    from assay.pipelines.reports.summary import section_memorization

    problems = [BenchmarkProblem("texts", str(i), p.prompt) for i, p in enumerate(fixture_benchmark(1)[:2])]
    items = audit_problems(TransformersEngine("toy", chat_template=False), TransformersEngine("toy"), problems, 2, 0, 16)
    assert all(i.item.answer == {} and i.control.answer == {} and i.item.rouge for i in items)
    summary = AuditResult("toy", items).by_benchmark()["texts"]
    assert summary["answer_rate"] is None and summary["control_answer_rate"] is None
    assert "skipped: no answers" in section_memorization([{"benchmark": "texts", **summary}])
