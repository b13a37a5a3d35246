"""The reasoning-gym labeled set (tests/verifiers/reasoning_gym_pairs.py), a few items per task:
assay's `math` agrees with every label; reasoning-gym's own scorer confirms the golds (the exact
forms score 1.0) and the wrong forms (none scores 1.0). bench/bench_reasoning_gym.py runs the
full set (4,992 pairs) and prints the figures."""

from __future__ import annotations

import pytest

from assay.verifiers import verify

pytest.importorskip("reasoning_gym")

from tests.verifiers.reasoning_gym_pairs import FORMS, TASKS, build_pairs  # noqa: E402

PAIRS = build_pairs(items_per_task=3, seed=1)


def test_set_covers_every_task_and_form():
    assert len(PAIRS) == len(TASKS) * 3 * len(FORMS) == 312
    assert {(p.task, p.form) for p in PAIRS} == {(t, f) for t in TASKS for f in FORMS}


def test_assay_agrees_with_every_label():
    wrong = [(p.task, p.form, p.gold, p.response[-60:]) for p in PAIRS if (verify(p.response, p.gold).status == "correct") != p.label]
    assert wrong == []


def test_reasoning_gym_scorer_confirms_golds_and_misses():
    exact = [p for p in PAIRS if p.form == "exact"]
    misses = [p for p in PAIRS if not p.label]
    assert [p.gold for p in exact if p.reasoning_gym_score < 1.0] == []
    assert [(p.task, p.answer) for p in misses if p.reasoning_gym_score >= 1.0] == []
