"""The named regression table, run through `verify` one row at a time."""

import pytest

from assay.verifiers import check_gold, verify

from .regression_table import CASES


def test_table_is_large_and_names_are_unique():
    names = [case.name for case in CASES]
    assert len(CASES) >= 150
    assert len(set(names)) == len(names)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_regression_case(case):
    verdict = verify(case.response, case.gold, case.verifier, **(case.options or {}))
    assert verdict.status == case.expected, verdict
    assert verdict.score == case.expected_score, verdict


GOLDS = sorted({(case.gold, case.verifier) for case in CASES if case.expected != "bad_gold"})


@pytest.mark.timeout(60)
def test_every_usable_gold_verifies_against_itself():
    failures = [(gold, verifier, check_gold(gold, verifier)) for gold, verifier in GOLDS]
    assert [f for f in failures if f[2].status != "correct"] == []
