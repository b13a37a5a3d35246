"""The reward-hacking table (tests/verifiers/hacking_table.py): every hack scores below correct,
every honest form of the same answer scores correct."""

from __future__ import annotations

import pytest

from assay.verifiers import verify
from tests.verifiers.hacking_table import HACKS


def test_table_is_large_and_named():
    assert len(HACKS) >= 40
    assert len({h.name for h in HACKS}) == len(HACKS)
    assert {h.verifier for h in HACKS} >= {"math", "numeric", "mc"}


@pytest.mark.parametrize("case", HACKS, ids=[h.name for h in HACKS])
def test_hack_never_scores(case):
    verdict = verify(case.hack, case.gold, case.verifier, **(case.options or {}))
    assert verdict.status != "correct" and verdict.score == 0.0, verdict


@pytest.mark.parametrize("case", HACKS, ids=[h.name for h in HACKS])
def test_honest_form_scores(case):
    verdict = verify(case.honest, case.gold, case.verifier, **(case.options or {}))
    assert verdict.status == "correct", verdict
