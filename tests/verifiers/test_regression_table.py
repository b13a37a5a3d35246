"""The named regression table, run through `verify` one row at a time."""

import pytest

from assay.verifiers import VERIFIERS, check_gold, verify

from .regression_table import CASES


def test_table_is_large_and_names_are_unique():
    names = [case.name for case in CASES]
    assert len(CASES) >= 150
    assert len(set(names)) == len(names)
    assert {case.verifier for case in CASES} <= set(VERIFIERS)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_regression_case(case):
    verdict = verify(case.response, case.gold, case.verifier, **(case.options or {}))
    assert verdict.status == case.expected, verdict
    assert verdict.score == case.expected_score, verdict


@pytest.mark.timeout(60)
@pytest.mark.parametrize("verifier", VERIFIERS)
def test_every_verifier_has_rows_both_ways_and_its_usable_golds_verify_against_themselves(verifier):
    cases = [case for case in CASES if case.verifier == verifier]
    assert {"correct", "incorrect"} <= {case.expected for case in cases}, f"add rows for {verifier!r} to regression_table.py"
    golds = sorted({case.gold for case in cases if case.expected != "bad_gold"})
    failures = [(gold, check_gold(gold, verifier)) for gold in golds]
    assert [f for f in failures if f[1].status != "correct"] == []
