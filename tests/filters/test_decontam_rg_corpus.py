"""The n-gram layers on the labeled reasoning-gym corpus (bench/decontam_rg_fixture.py): copies
found and attributed, same-template clean items not dropped, the masked policy's two meanings."""

import pytest

from bench import decontam_rg_fixture as fixture
from assay.filters.decontam import BenchmarkProblem, NgramIndex

COPIES = ("verbatim", "case_whitespace", "embedded", "latex_markdown")


@pytest.fixture(scope="module")
def corpus():
    problems, rows = fixture.load()
    items = [BenchmarkProblem("rg", str(i), text) for i, (_, text) in enumerate(problems)]
    return items, rows


def _levels(items, rows, masked):
    found = NgramIndex(items, masked=masked).match([r.text for r in rows])
    per_row: dict[int, set[tuple[str, int]]] = {}
    for f in found:
        per_row.setdefault(f.row, set()).add((f.level, int(f.benchmark_id)))
    return per_row


def test_copies_are_found_and_attributed_and_clean_items_are_not_dropped(corpus):
    items, rows = corpus
    per_row = _levels(items, rows, "flag")
    for kind in COPIES:
        idx = [i for i, r in enumerate(rows) if r.kind == kind]
        right = [i for i in idx if ("contaminated", rows[i].problem) in per_row.get(i, set())]
        assert len(right) >= 0.95 * len(idx), kind  # measured: all 60 of each kind
    clean = [i for i, r in enumerate(rows) if r.kind == "clean"]
    dropped = [i for i in clean if any(level == "contaminated" for level, _ in per_row.get(i, ()))]
    assert len(dropped) <= 0.02 * len(clean)  # measured: 2 of 1,000 (gsm_symbolic items sharing a template and numbers)
    # Same-template clean items the masked layer reports are kept, at level near.
    near = [i for i in clean if any(level == "near" for level, _ in per_row.get(i, ()))]
    assert near and all(rows[i].same_template for i in near)


def test_masked_policy_drop_turns_numbers_changed_copies_and_template_neighbours_into_drops(corpus):
    items, rows = corpus
    flag, drop = _levels(items, rows, "flag"), _levels(items, rows, "drop")
    changed = [i for i, r in enumerate(rows) if r.kind == "numbers_changed"]
    near_flag = {i for i in changed if any(level == "near" for level, _ in flag.get(i, ()))}
    dropped = {i for i in changed if any(level == "contaminated" for level, _ in drop.get(i, ()))}
    assert near_flag == dropped and len(dropped) >= 0.4 * len(changed)  # measured: 30 of 60
    assert not any(level == "contaminated" for i in changed for level, _ in flag.get(i, ()))
