"""The Verdict and its three readings (decided, solved, reward), and its rule that a score of
1.0 is exactly a correct verdict, so "solved" has one meaning for every verifier."""

import pytest

from assay.verifiers import OperatorSpec, Verdict, decided, reward, solved, verify
from tests.helpers import write_plugin

# (verdict, decided, solved, reward), by hand from verifiers/verdict.py.
READINGS = [
    (Verdict.of(True), True, True, 1.0),
    (Verdict.of(False), True, False, 0.0),
    (Verdict("incorrect", 0.75, reason="3/4 passed; case 3: wrong_output"), True, False, 0.0),  # partial credit is no solve
    (Verdict.fail("no_answer", "no boxed answer"), True, False, 0.0),
    (Verdict.fail("bad_gold", "gold 'E' is not one of the letters A..B"), False, False, 0.0),
    (Verdict("timeout", 0.5, reason="2/4 passed; case 2: wall_clock_ceiling"), False, False, 0.0),
    (Verdict.fail("error", "input_too_large"), False, False, 0.0),
]


@pytest.mark.parametrize("verdict, is_decided, is_solved, value", READINGS)
def test_the_three_readings_of_a_verdict(verdict, is_decided, is_solved, value):
    assert (decided(verdict), solved(verdict), reward(verdict)) == (is_decided, is_solved, value)


def test_a_score_of_one_is_exactly_a_correct_verdict():
    with pytest.raises(ValueError, match="scores 1.0 exactly when it is correct, got correct with score 0.5"):
        Verdict("correct", 0.5)
    with pytest.raises(ValueError, match="got incorrect with score 1.0"):
        Verdict("incorrect", 1.0)


def test_a_plugin_verdict_against_the_rule_is_an_error_not_a_solve(tmp_path, monkeypatch):
    source = "from assay.verifiers import Verdict\n\ndef half(response, gold, **options):\n    return Verdict('correct', 0.5)\n"
    monkeypatch.syspath_prepend(str(write_plugin(tmp_path, "assay_test_verdict_rule", source)))
    verdict = verify("x", "y", OperatorSpec("assay_test_verdict_rule.tags:half"))
    assert verdict.status == "error" and "scores 1.0 exactly when it is correct" in verdict.reason
