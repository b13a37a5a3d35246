"""The named regression table, run through `verify` one row at a time."""

import pytest

from assay.verifiers import verify

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
    assert verdict.score == (1.0 if case.expected == "correct" else verdict.score)
