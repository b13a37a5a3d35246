"""Decontamination matching layers: normalisation, n-gram containment, number masking, the
anchor and boilerplate rules, short problems, spans, the temporal rule, the Filter decision."""

from datetime import date

import pyarrow as pa
import pytest

from assay.filters.decontam import (
    MASKED_POLICIES,
    BenchmarkProblem,
    ContaminationConfig,
    NgramIndex,
    contamination,
    impossible_by_date,
    match_tokens,
    release_window,
)

AIME = ("Every morning Aya goes for a $9$-kilometer-long walk and stops at a coffee shop afterwards. "
        "When she walks at a constant speed of $s$ kilometers per hour, the walk takes her 4 hours.")
PAIRS = "Find the number of ordered pairs $(m,n)$ of positive integers such that $m^2 n = 20^{20}$."
SHORT = "Compute $\\dbinom{16}{5}$."


def _index(**kw):
    return NgramIndex([BenchmarkProblem("b", "aime", AIME), BenchmarkProblem("b", "pairs", PAIRS),
                       BenchmarkProblem("b", "short", SHORT)], **kw)


def test_normalisation_unifies_latex_case_spacing_and_separators():
    assert match_tokens("\\dfrac{ 1 }{2}") == match_tokens("$\\frac{1}{2}$") == match_tokens("1/2") == ["1", "/", "2"]
    assert match_tokens("\\tfrac12") == ["1", "/", "2"]
    assert match_tokens("\\frac{\\frac{a}{b}}{c}") == ["a", "/", "b", "/", "c"]
    assert match_tokens("A\n  B\tc") == ["a", "b", "c"]
    assert match_tokens("1,250 and 1,234,567") == ["1250", "and", "1234567"]
    assert match_tokens("\\left( x \\right) \\leq 3x") == match_tokens("(x) ≤ 3x") == ["x", "<", "=", "3", "x"]
    assert match_tokens("ﬁnd Ⅸ") == ["find", "ix"]  # NFKC: ligature and roman numeral
    assert match_tokens("") == [] and match_tokens("$ {} $") == []


def test_operators_are_tokens_and_each_spelling_of_one_operator_is_one_token():
    assert match_tokens("2 - -1") == ["2", "-", "-", "1"]
    assert len({tuple(match_tokens(t)) for t in ("2 - -1", "2 + 1", "2 * 1", "2 / 1")}) == 4
    assert match_tokens("$3 \\times 4$") == match_tokens("3 \\cdot 4") == match_tokens("3*4") == match_tokens("3 × 4") == ["3", "*", "4"]
    assert match_tokens("6 \\div 3") == match_tokens("6 ÷ 3") == ["6", "/", "3"]
    assert match_tokens("$$x^2$$") == match_tokens("\\[x^2\\]") == match_tokens("\\(x^2\\)") == ["x", "^", "2"]
    assert match_tokens("5 − 2") == ["5", "-", "2"]  # U+2212 minus
    assert match_tokens("x \\neq 1") == match_tokens("x != 1") == ["x", "≠", "1"]
    # A hyphen inside a word joins words; markdown bullets and emphasis are not operators.
    assert match_tokens("a 9-kilometer-long walk") == ["a", "9", "kilometer", "long", "walk"]
    assert match_tokens("- **Find** x-2 and *y*") == ["find", "x", "-", "2", "and", "y"]


def test_verbatim_case_embedded_and_wrapped_copies_match_with_score_one():
    index = _index()
    prompts = [AIME, AIME.upper(), "Homework:\n\n" + AIME + "\n\nThanks!", AIME.replace(" ", "\n", 5).replace("$", "")]
    found = index.match(prompts)
    assert [(f.row, f.benchmark_id, f.method, f.score) for f in found] == [(i, "aime", "ngram", 1.0) for i in range(4)]
    assert found[0].span.startswith("every morning aya goes for a 9 kilometer long walk")


def test_stock_phrase_alone_does_not_fire_but_changed_numbers_do_in_the_masked_layer():
    index = _index()
    stock = "Find the number of ordered pairs $(m,n)$ of positive integers such that the ratio of books to boxes is 3."
    changed = PAIRS.replace("20", "30").replace("2 n", "3 n")
    found = index.match([stock, changed])
    # The stock phrase covers 6 of the problem's 11 grams (> 0.5) but no gram with a number: no finding.
    assert [(f.row, f.benchmark_id, f.method, f.score) for f in found] == [(1, "pairs", "ngram_masked", 1.0)]


def test_containment_threshold_is_hand_countable():
    # 12 distinct tokens -> 5 grams of 8; a prompt holding the first 10 tokens holds 3 of them (0.6).
    problem = BenchmarkProblem("b", "p", "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12")
    assert match_tokens(problem.prompt)[:2] == ["w", "1"]  # digits split from letters: 24 tokens, 17 grams
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima"
    index = NgramIndex([BenchmarkProblem("b", "p", words)], masked="off")
    first_ten = " ".join(words.split()[:10])
    assert [round(f.score, 4) for f in index.match([first_ten])] == [0.6]
    assert NgramIndex([BenchmarkProblem("b", "p", words)], min_containment=0.61).match([first_ten]) == []
    first_nine = " ".join(words.split()[:9])  # 2 of 5 grams: 0.4
    assert index.match([first_nine]) == []


def test_short_problems_are_found_inside_rows_where_no_expression_continues_them():
    index = _index()
    found = index.match([
        "compute \\binom{16}{5}",  # the whole row
        "Please compute binom 16 5 now",  # embedded
        "Homework 3:\n$$\\text{Compute } \\dbinom{16}{5}.$$ Thanks",  # wrapped and LaTeX-formatted
        "compute binom 16 5 + 1",  # another expression that starts with the problem's
        "Compute $\\binom{17}{4}$",  # both numbers changed
    ])
    # Row 4 changes both numbers of a 4-token problem: a new instance of a tiny template, not a
    # copy, so the masked layer leaves it alone.
    assert [(f.row, f.benchmark_id, f.method, f.score) for f in found] == [(i, "short", "ngram", 1.0) for i in range(3)]
    assert found[2].span == "compute binom 16 5"


def test_short_problems_without_numbers_or_of_two_tokens_match_only_as_a_whole():
    index = NgramIndex([BenchmarkProblem("b", "words", "Define entropy briefly"), BenchmarkProblem("b", "two", "Factor 91")])
    found = index.match(["define entropy briefly", "Please define entropy briefly in class", "factor 91", "Now factor 91 fast"])
    assert [(f.row, f.benchmark_id) for f in found] == [(0, "words"), (2, "two")]


def test_masked_policy_per_benchmark_sets_the_level_or_turns_the_layer_off():
    human = BenchmarkProblem("gsm", "1", PAIRS)
    procedural = BenchmarkProblem("rg", "1", AIME)
    changed = [PAIRS.replace("20", "30").replace("2 n", "3 n"), AIME.replace("9", "7").replace("4 hours", "5 hours")]
    index = NgramIndex([human, procedural], masked={"gsm": "drop"})  # rg gets the default, flag
    assert [(f.row, f.benchmark, f.method, f.level) for f in index.match(changed)] == [
        (0, "gsm", "ngram_masked", "contaminated"), (1, "rg", "ngram_masked", "near")]
    assert [f.benchmark for f in NgramIndex([human, procedural], masked={"gsm": "drop", "rg": "off"}).match(changed)] == ["gsm"]
    assert NgramIndex([human, procedural], masked="off").match(changed) == []
    assert [f.level for f in NgramIndex([human], masked="off").match([PAIRS])] == ["contaminated"]  # the plain layer
    with pytest.raises(ValueError, match=f"unknown masked policy 'keep'; valid: {', '.join(MASKED_POLICIES)}$"):
        NgramIndex([human], masked="keep")


def test_boilerplate_grams_shared_by_many_problems_are_not_indexed():
    frame = "the input is given from standard input in the following format"
    problems = [BenchmarkProblem("lcb", str(i), f"{frame} task{i} number {i}") for i in range(10)]
    index = NgramIndex(problems, max_problem_df=8)
    # The frame's grams occur in 10 problems (> 8): not indexed; only the specific tail remains.
    assert index.match([frame + " something else entirely"]) == []
    assert [f.benchmark_id for f in index.match([f"{frame} task3 number 3"])] == ["3"]


def test_empty_null_and_huge_prompts():
    index = _index()
    huge = ("lorem ipsum " * 200_000) + AIME
    found = index.match(pa.array(["", None, "   ", huge], pa.large_string()))
    assert [(f.row, f.benchmark_id) for f in found] == [(3, "aime")]
    assert index.match([]) == []
    assert NgramIndex([]).match([AIME]) == []


def test_temporal_rule():
    assert impossible_by_date(date(2023, 5, 1), date(2024, 2, 10))
    assert not impossible_by_date(date(2024, 3, 1), date(2024, 2, 10))
    assert not impossible_by_date(None, date(2024, 2, 10)) and not impossible_by_date(date(2024, 1, 1), None)
    days = [date(2023, 5, 13), date(2024, 4, 21), None, date(2024, 1, 1)]
    assert release_window(days, date(2024, 1, 1)) == {"after_cutoff": 1, "at_risk": 2, "undated": 1}


def _decide(found):
    """The Filter's decision on a batch of two rows whose findings `found` are (uids u0, u1)."""
    return contamination(pa.table({"uid": ["u0", "u1"]}), ContaminationConfig.of_matches(["u0", "u1"], found))


def test_filter_decision_drops_contaminated_rows_with_a_reason():
    found = _index().match(["clean prompt", AIME])
    decision = _decide(found)
    assert decision.keep.to_pylist() == [True, False]
    assert decision.reason.to_pylist() == [None, "contaminated: b/aime (ngram 1.00)"]
    assert decision.scores["contamination"].to_pylist() == [0.0, 1.0] and decision.kept() == 1


def test_filter_decision_keeps_rows_whose_findings_are_near():
    changed = PAIRS.replace("20", "30").replace("2 n", "3 n")
    found = _index(masked="flag").match([changed, PAIRS])
    assert [(f.row, f.level) for f in found] == [(0, "near"), (1, "contaminated")]
    decision = _decide(found)
    assert decision.keep.to_pylist() == [True, False] and decision.reason.to_pylist()[0] is None
    assert decision.scores["near"].to_pylist() == [1.0, 0.0]
