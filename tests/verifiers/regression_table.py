"""Named regression table: (gold, response, expected) written from realistic model outputs.

Every row was written by hand from the kind of text models produce on GSM8K, MATH, AIME,
multiple-choice and short-answer sets; `expected` is the verdict status a careful human grader
gives. The `mv_false_positive_*` rows are math-verify's known false positives: pairs it calls
equal that are not.
"""

from __future__ import annotations

from typing import NamedTuple


class Case(NamedTuple):
    name: str
    gold: str
    response: str
    expected: str  # a Verdict status
    verifier: str = "math"
    options: dict | None = None
    # The expected score where it is not the status's own (1.0 for correct, 0.0 otherwise): the
    # code verifier scores the fraction of test cases passed.
    score: float | None = None

    @property
    def expected_score(self) -> float:
        if self.score is not None:
            return self.score
        return 1.0 if self.expected == "correct" else 0.0


C = "correct"
I = "incorrect"  # noqa: E741
N = "no_answer"

GSM8K = [
    Case("gsm8k_hash_line", "18", "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18 every day at the farmer's market.\n#### 18", C),
    Case("gsm8k_hash_wrong", "18", "She has 16 - 3 - 4 = 9 eggs left.\nShe makes 9 * 3 = 27 dollars.\n#### 27", I),
    Case("gsm8k_dollar_sign_answer", "18", "She earns 9 x $2 = $18 per day.\nThe answer is $18.", C),
    Case("gsm8k_answer_is_dollars", "70000", "The house is worth 80,000 + 50,000 = 130,000 after repairs... so profit is 200,000 - 130,000 = $70,000.\nThe answer is 70,000.", C),
    Case("gsm8k_thousands_boxed", "70000", "Profit = 200{,}000 - 130{,}000 = 70{,}000.\n\nFinal answer: $\\boxed{70{,}000}$", C),
    Case("gsm8k_thousands_thin_space", "70000", "So the profit is $\\boxed{70\\,000}$ dollars.", C),
    Case("gsm8k_decimal_zero", "18", "Each day she makes 9 * 2 = 18.00 dollars.\n#### 18.00", C),
    Case("gsm8k_units_text", "540", "He runs 3 sprints 3 times a week, 60 meters each: 3*3*60 = 540.\nAnswer: 540 meters", C),
    Case("gsm8k_units_boxed_text", "540", "Total distance: $\\boxed{540 \\text{ meters}}$", C),
    Case("gsm8k_last_number", "3", "Each dress needs 2 bolts of blue and 1 of white, so 2 + 1 = 3", C),
    Case("gsm8k_last_number_wrong", "3", "Blue fiber is 2 bolts and white is half that, 2/2 = 1 bolt. In total 2 + 2 = 4", I),
    Case("gsm8k_bold_answer", "20", "Wendi gives 15 + 25 = 40 cups in the first two meals. She needs 60 total, so 60 - 40 = 20.\n\n**20 cups**", C),
    Case("gsm8k_bold_final_answer", "20", "Step 1: 3 x 20 = 60 cups per day.\nStep 2: 60 - 15 - 25 = 20.\n\n**Final Answer:** 20", C),
    Case("gsm8k_percent_gold_number", "25", "The discount is 5/20 = 0.25, i.e. 25%.\n#### 25%", C),
    Case("gsm8k_negative", "-5", "The temperature dropped from 10 to -5 degrees.\nThe answer is -5.", C),
    Case("gsm8k_no_answer", "42", "I'm sorry, I can't help with that request.", N),
    Case("gsm8k_answer_then_explanation", "12", "The answer is 12 because each box holds 4 and there are 3 boxes.", C),
    Case("gsm8k_answer_word_number", "4", "Counting the remaining apples gives four.\nThe answer is four.", C),
    Case("gsm8k_currency_latex", "1.5", "Each pencil costs $\\$1.50$.\n\nAnswer: $\\$1.50$", C),
    Case("gsm8k_money_cents_wrong", "1.5", "Each pencil costs \\$1.05.\nAnswer: 1.05", I),
    Case("gsm8k_later_answer_wins", "7", "Answer: 6\nWait, I double counted Monday. Recounting: 3 + 4 = 7.\nAnswer: 7", C),
    Case("gsm8k_big_number", "1000000", "Total = 1,000 x 1,000 = 1,000,000.\n#### 1,000,000", C),
    Case("gsm8k_decimal_gold", "2.5", "He walks 5 miles in 2 hours, so 5/2 = 2.5 miles per hour.\n#### 2.5", C),
    Case("gsm8k_fraction_for_decimal", "2.5", "Speed = $\\frac{5}{2}$ miles per hour.\n\nThe answer is $\\frac{5}{2}$.", C),
    Case("gsm8k_minerva_style", "64", "Final Answer: The final answer is $64$. I hope it is correct.", C),
    Case("gsm8k_markdown_answer_colon_bold", "156", "So she earns 156 dollars in total.\n\n**Answer: 156**", C),
    Case("gsm8k_equation_in_answer", "35", "Total students = 20 + 15 = 35.\nAnswer: 20 + 15 = 35", C),
    Case("gsm8k_trailing_period", "8", "She needs 8 more stickers.\n#### 8.", C),
    Case("gsm8k_hash_wrong_decimal", "8", "#### 8.5", I),
    Case("gsm8k_time_format_wrong", "90", "It takes 1.5 hours.\nThe answer is 1.5", I),
    Case("gsm8k_mixed_number", "7/2", "She needs $3\\frac{1}{2}$ cups of flour.\nAnswer: $3\\frac{1}{2}$", C),
    Case("gsm8k_mixed_number_plain", "3.5", "#### 3 1/2", C),
    Case("gsm8k_compound_number_word", "42", "The answer is forty-two.", C),
    Case("gsm8k_result_verb", "5", "After giving away 3, he has 5 apples left.", C),
    Case("gsm8k_currency_prose", "42", "So the toy costs $42.", C),
    Case("gsm8k_unit_after_math", "25\\pi", "The area is $25\\pi$ square units.", C),
]

MATH = [
    Case("math_boxed_fraction", "\\frac{1}{2}", "Thus the probability is $\\boxed{\\frac{1}{2}}$.", C),
    Case("math_dfrac", "\\frac{1}{2}", "The probability is $\\boxed{\\dfrac{1}{2}}$.", C),
    Case("math_tfrac", "\\frac{3}{4}", "The ratio is $\\boxed{\\tfrac34}$.", C),
    Case("math_frac_shorthand", "\\frac{1}{3}", "So $p = \\boxed{\\frac13}$.", C),
    Case("math_decimal_for_fraction", "\\frac{1}{2}", "The answer is $\\boxed{0.5}$.", C),
    Case("math_fraction_for_decimal_gold", "0.25", "$\\boxed{\\frac{1}{4}}$", C),
    Case("math_slash_fraction", "\\frac{3}{8}", "The probability is 3/8.", C),
    Case("math_wrong_fraction", "\\frac{3}{8}", "The probability is $\\boxed{\\frac{5}{8}}$.", I),
    Case("math_rounded_decimal_too_coarse", "\\frac{1}{3}", "$\\boxed{0.33}$", I),
    Case("math_decimal_six_places", "\\frac{1}{3}", "$\\boxed{0.333333}$", C),
    Case("math_repeating_decimal", "\\frac{1}{3}", "Therefore $x = \\boxed{0.\\overline{3}}$.", C),
    Case("math_repeating_decimal_gold", "0.\\overline{36}", "$\\boxed{\\frac{4}{11}}$", C),
    Case("math_repeating_mixed", "\\frac{1}{6}", "so the decimal is $\\boxed{0.1\\overline{6}}$", C),
    Case("math_sqrt", "2\\sqrt{2}", "Simplifying, $\\sqrt{8} = \\boxed{2\\sqrt{2}}$.", C),
    Case("math_sqrt_equivalent", "2\\sqrt{2}", "The distance is $\\boxed{\\sqrt{8}}$.", C),
    Case("math_sqrt_wrong", "2\\sqrt{2}", "The distance is $\\boxed{2\\sqrt{3}}$.", I),
    Case("math_rationalized", "\\frac{\\sqrt{2}}{2}", "$\\sin 45^\\circ = \\boxed{\\frac{1}{\\sqrt{2}}}$", C),
    Case("math_pi", "4\\pi", "The area is $\\boxed{4\\pi}$ square units.", C),
    Case("math_pi_reordered", "4\\pi", "$A = \\boxed{\\pi \\cdot 4}$", C),
    Case("math_pi_wrong", "4\\pi", "$\\boxed{2\\pi}$", I),
    Case("math_degrees_pred", "30", "The angle measures $\\boxed{30^\\circ}$.", C),
    Case("math_degrees_braced", "120", "So $\\angle ABC = \\boxed{120^{\\circ}}$.", C),
    Case("math_degrees_wrong", "120", "So $\\angle ABC = \\boxed{60^{\\circ}}$.", I),
    Case("math_x_equals", "3", "Solving, we get $\\boxed{x = 3}$.", C),
    Case("math_x_equals_wrong", "3", "Solving, we get $\\boxed{x = -3}$.", I),
    Case("math_gold_x_equals", "x=5", "The solution is $\\boxed{5}$.", C),
    Case("math_interval", "[1, \\infty)", "The domain is $\\boxed{[1,\\infty)}$.", C),
    Case("math_interval_open_closed", "[1, \\infty)", "The domain is $\\boxed{(1,\\infty)}$.", I),
    Case("math_interval_as_inequality", "[1, \\infty)", "So the solution set is $\\boxed{x \\ge 1}$.", C),
    Case("math_inequality_as_interval", "x \\geq 1", "$\\boxed{[1, \\infty)}$", C),
    Case("math_interval_union", "(-\\infty, -2) \\cup (3, \\infty)", "$\\boxed{(-\\infty,-2)\\cup(3,\\infty)}$", C),
    Case("math_interval_union_wrong", "(-\\infty, -2) \\cup (3, \\infty)", "$\\boxed{(-\\infty,-2]\\cup(3,\\infty)}$", I),
    Case("math_set_unordered", "\\{1, 2, 3\\}", "The roots are $\\boxed{\\{3, 1, 2\\}}$.", C),
    Case("math_list_unordered", "1, 2, 3", "The solutions are $\\boxed{3, 2, 1}$.", C),
    Case("math_list_missing", "1, 2, 3", "The solutions are $\\boxed{1, 2}$.", I),
    Case("math_roots_with_and", "-2, 5", "The roots are $x = -2$ and $x = 5$, so the answer is $\\boxed{-2, 5}$", C),
    Case("math_tuple", "(2, -1)", "The intersection point is $\\boxed{(2,-1)}$.", C),
    Case("math_tuple_swapped", "(2, -1)", "The intersection point is $\\boxed{(-1, 2)}$.", I),
    Case("math_tuple_spacing", "(1, 2, 3)", "$\\boxed{\\left( 1, 2, 3 \\right)}$", C),
    Case("math_matrix", "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "$\\boxed{\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}}$", C),
    Case("math_matrix_wrong", "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "$\\boxed{\\begin{pmatrix}1&3\\\\2&4\\end{pmatrix}}$", I),
    Case("math_vector", "\\begin{pmatrix} 3 \\\\ -1 \\end{pmatrix}", "The projection is $\\boxed{\\begin{pmatrix} 3 \\\\ -1 \\end{pmatrix}}$.", C),
    Case("math_infinity", "\\infty", "The limit diverges, so it is $\\boxed{\\infty}$.", C),
    Case("math_neg_infinity_wrong", "\\infty", "$\\boxed{-\\infty}$", I),
    Case("math_polynomial", "x^2 + 2x + 1", "Expanding gives $\\boxed{x^2+2x+1}$.", C),
    Case("math_polynomial_factored", "x^2 + 2x + 1", "$\\boxed{(x+1)^2}$", C),
    Case("math_polynomial_wrong", "x^2 + 2x + 1", "$\\boxed{x^2+2x-1}$", I),
    Case("math_expression_reordered", "2a + 3b", "$\\boxed{3b+2a}$", C),
    Case("math_log", "\\log_2 8", "$\\boxed{3}$", C),
    Case("math_binomial", "\\binom{5}{2}", "$\\boxed{10}$", C),
    Case("math_dbinom", "10", "The count is $\\boxed{\\dbinom{5}{2}}$.", C),
    Case("math_percent_pred", "10", "The increase is $\\boxed{10\\%}$.", C),
    Case("math_percent_as_decimal", "0.1", "The rate is $\\boxed{10\\%}$.", C),
    Case("math_percent_wrong", "10", "The increase is $\\boxed{12\\%}$.", I),
    Case("math_text_answer", "\\text{(C)}", "So the answer is $\\boxed{\\text{(C)}}$.", C),
    Case("math_text_word", "\\text{Monday}", "The 100th day is a $\\boxed{\\text{Monday}}$.", C),
    Case("math_text_word_wrong", "\\text{Monday}", "The 100th day is a $\\boxed{\\text{Tuesday}}$.", I),
    Case("math_nested_boxed_braces", "\\frac{\\sqrt{3}}{2}", "Hence $\\cos 30^\\circ = \\boxed{\\frac{\\sqrt{3}}{2}}$.", C),
    # Two boxes with different values are two competing answers, never "the last one counts".
    Case("math_competing_boxes", "6", "First I got $\\boxed{5}$ but that double counts. Correcting: $\\boxed{6}$.", I),
    Case("math_boxed_no_braces", "7", "So the answer is \\boxed 7.", C),
    Case("math_fbox", "7", "$\\fbox{7}$", C),
    Case("math_unbalanced_box_cut_off", "7", "The final value is $\\boxed{\\frac{7", N),
    Case("math_sci_equal", "1200", "$\\boxed{1.2 \\times 10^3}$", C),
    Case("math_power", "2^{10}", "$\\boxed{1024}$", C),
    Case("math_power_wrong", "2^{10}", "$\\boxed{2048}$", I),
    Case("math_negative_fraction", "-\\frac{1}{2}", "$\\boxed{-\\frac12}$", C),
    Case("math_negative_fraction_sign_inside", "-\\frac{1}{2}", "$\\boxed{\\frac{-1}{2}}$", C),
    Case("math_sign_error", "-\\frac{1}{2}", "$\\boxed{\\frac{1}{2}}$", I),
    Case("math_complex", "1 + 2i", "$z = \\boxed{1+2i}$", C),
    Case("math_complex_wrong", "1 + 2i", "$z = \\boxed{1-2i}$", I),
    Case("math_display_math", "12", "Therefore\n\\[\n\\boxed{12}\n\\]", C),
    Case("math_inline_paren", "12", "The answer is \\(12\\).", C),
    Case("math_final_answer_latex_no_box", "\\frac{\\sqrt{3}}{2}", "So the value of the expression is $\\frac{\\sqrt{3}}{2}$.", C),
    Case("math_symbolic_equal", "\\frac{x+1}{x^2-1}", "$\\boxed{\\frac{1}{x-1}}$", C),
    Case("math_trig_identity", "1", "Using the identity, $\\boxed{\\sin^2 x + \\cos^2 x}$", C),
    Case("math_equation_same_line", "y = 2x + 3", "The line is $\\boxed{y = 3 + 2x}$.", C),
    Case("math_equation_scaled", "2x + 3y = 6", "$\\boxed{4x + 6y = 12}$", C),
    Case("math_large_integer", "2^{100}", "$\\boxed{1267650600228229401496703205376}$", C),
    Case("math_large_integer_off_by_one", "2^{100}", "$\\boxed{1267650600228229401496703205377}$", I),
    Case("math_pm_pair", "\\pm 3", "$x = \\boxed{\\pm 3}$", C),
    Case("math_pm_as_list", "\\pm 3", "$\\boxed{3, -3}$", C),
    Case("math_no_answer_prose", "5", "Let me think about the geometry of this problem carefully.", N),
    Case("math_empty_response", "5", "", N),
    Case("math_answer_colon_latex", "\\frac{7}{2}", "Answer: $\\frac{7}{2}$", C),
    Case("math_mixed_text_inside_box", "5", "$\\boxed{5 \\text{ cm}}$", C),
    Case("math_mixed_wrong_unit_number", "5", "$\\boxed{50 \\text{ mm}}$", I),
]

AIME = [
    Case("aime_boxed_int", "204", "Adding these cases, the total is $204$.\n\n$\\boxed{204}$", C),
    Case("aime_leading_zeros", "25", "The answer is $\\boxed{025}$.", C),
    Case("aime_leading_zeros_gold", "073", "so $m + n = \\boxed{73}$", C),
    Case("aime_wrong_int", "204", "Therefore $\\boxed{240}$.", I),
    Case("aime_m_plus_n", "113", "So $m/n = 17/96$, giving $m+n = 17 + 96 = \\boxed{113}$.", C),
    Case("aime_last_number_no_box", "113", "Thus m + n = 17 + 96 = 113", C),
    Case("aime_answer_is_bold", "468", "Summing all the valid residues we obtain **468**.", C),
    Case("aime_answer_in_text_later_number", "33", "The answer is 33, which I verified with 3 checks.", C),
    Case("aime_hash", "601", "#### 601", C),
    Case("aime_final_answer_phrase", "385", "Hence the final answer is 385.", C),
    Case("aime_final_answer_phrase_wrong", "385", "Hence the final answer is 358.", I),
    Case("aime_zero", "0", "$\\boxed{0}$", C),
    Case("aime_zero_wrong", "0", "$\\boxed{10}$", I),
]

MV_FALSE_POSITIVES = [
    Case("mv_false_positive_factorials", "\\frac{1}{2004!}", "Therefore the probability is $\\boxed{\\frac{1}{2006!}}$.", I),
    Case("mv_false_positive_factorials_true", "\\frac{1}{2004!}", "Therefore the probability is $\\boxed{\\frac{1}{2004!}}$.", C),
    Case("mv_false_positive_pm", "2021", "So $x = \\boxed{\\pm 2021}$.", I),
    Case("mv_false_positive_pm_reverse", "\\pm 2021", "So $x = \\boxed{2021}$.", I),
    Case("mv_false_positive_n_list", "n=1,2,3", "The valid values are $\\boxed{n=2,3,4}$.", I),
    Case("mv_false_positive_n_list_true", "n=1,2,3", "The valid values are $\\boxed{n = 3, 2, 1}$.", C),
    Case("mv_false_positive_lines", "y = 2x + 3", "The tangent line is $\\boxed{y = -2x + 3}$.", I),
    Case("mv_false_positive_lines_swap", "y = 2x + 1", "$\\boxed{y = x + 2}$", I),
    Case("mv_false_positive_lines_general_form", "x + y = 1", "$\\boxed{x - y = 1}$", I),
    Case("mv_false_positive_tiny_values", "\\frac{1}{10^{20}}", "$\\boxed{\\frac{1}{10^{21}}}$", I),
]

PATHOLOGICAL = [
    Case("path_nested_parens", "1", "$\\boxed{" + "(" * 5000 + "1" + ")" * 5000 + "}$", "error"),
    Case("path_power_tower", "5", "$\\boxed{10^{10^{10^{10}}}}$", "error"),
    Case("path_huge_exponent", "5", "$\\boxed{10^{100000000}}$", "error"),
    Case("path_huge_factorial", "5", "$\\boxed{1000000!}$", "error"),
    Case("path_oversized_response", "5", "blah " * 12000 + "\\boxed{5}", "error"),
    Case("path_unicode_noise", "5", "\u200b\u200b The answer is \u202e5\u202c", C),
]

MC = [
    Case("mc_paren_letter", "B", "Looking at the options, (B) is the only one consistent with the data.", C, "mc"),
    Case("mc_letter_paren", "B", "The correct option is:\nB) Mitochondria", C, "mc"),
    Case("mc_boxed_letter", "C", "Therefore the answer is $\\boxed{C}$.", C, "mc"),
    Case("mc_boxed_text_letter", "C", "$\\boxed{\\text{(C)}}$", C, "mc"),
    Case("mc_answer_colon", "D", "Answer: D", C, "mc"),
    Case("mc_answer_is_paren", "A", "After eliminating B, C and D, the answer is (A).", C, "mc"),
    Case("mc_answer_wrong", "A", "The answer is (C).", I, "mc"),
    Case("mc_bare_letter", "B", "B", C, "mc"),
    Case("mc_bare_letter_wrong", "B", "D", I, "mc"),
    Case("mc_choice_text", "B", "**Answer:** Paris", C, "mc", {"choices": ["London", "Paris", "Rome", "Berlin"]}),
    Case("mc_choice_text_wrong", "B", "**Answer:** Rome", I, "mc", {"choices": ["London", "Paris", "Rome", "Berlin"]}),
    Case("mc_letter_beyond_choices", "B", "Answer: E", N, "mc", {"choices": ["London", "Paris", "Rome", "Berlin"]}),
    Case("mc_answer_with_explanation", "C", "The answer is C because the enzyme is denatured at high temperature.", C, "mc"),
    Case("mc_answer_letter_dot_text", "C", "Answer: C. Photosynthesis", C, "mc"),
    Case("mc_bold_letter", "A", "**Answer: (A)**", C, "mc"),
    Case("mc_last_mark_wins", "D", "Option (A) fails, (B) fails, (C) fails, so we pick (D).", C, "mc"),
    Case("mc_no_letter", "A", "I am not sure which option is right.", N, "mc"),
    Case("mc_lowercase_gold", "b", "Answer: B", C, "mc"),
    Case("mc_bad_gold", "Paris", "Answer: B", "bad_gold", "mc"),
    Case("mc_choice_letter_in_text_anchor", "B", "The correct choice is B.", C, "mc"),
    Case("mc_option_letter_is_correct", "B", "Option B is correct.", C, "mc"),
    Case("mc_letter_first", "B", "B is the correct answer.", C, "mc"),
    Case("mc_i_choose", "B", "Comparing them, I choose B.", C, "mc"),
]

NUMERIC = [
    Case("numeric_close", "3.14159", "The value is approximately 3.14159265.", C, "numeric", {"rel_tol": 1e-5}),
    Case("numeric_too_far", "3.14159", "The value is approximately 3.2.", I, "numeric", {"rel_tol": 1e-5}),
    Case("numeric_scientific", "6.02e23", "Avogadro's number is 6.022 \\times 10^{23}.\nAnswer: $6.022 \\times 10^{23}$", C, "numeric", {"rel_tol": 1e-2}),
    Case("numeric_e_notation", "0.0015", "Answer: 1.5e-3", C, "numeric"),
    Case("numeric_fraction", "0.75", "$\\boxed{\\frac{3}{4}}$", C, "numeric"),
    Case("numeric_thousands", "12500", "Total: 12,500", C, "numeric"),
    Case("numeric_abs_tol", "0.0", "The residual is 1e-12.\nAnswer: 1e-12", C, "numeric", {"abs_tol": 1e-9}),
    # An integer gold is compared exactly, whatever the tolerance: 1e-12 is not the integer 0.
    Case("numeric_integer_gold_exact", "0", "The residual is 1e-12.\nAnswer: 1e-12", I, "numeric", {"abs_tol": 1e-9}),
    Case("numeric_negative", "-2.5", "#### -2.5", C, "numeric"),
    Case("numeric_no_number", "2.5", "It depends on the initial conditions.", N, "numeric"),
    Case("numeric_bad_gold", "about five", "Answer: 5", "bad_gold", "numeric"),
    # An integer gold never uses the tolerance, but a tolerance that is not a number is still an error.
    Case("numeric_bad_option", "5", "Answer: 5", "error", "numeric", {"rel_tol": "wide"}),
]

EXACT = [
    Case("exact_case_insensitive", "Paris", "The capital of France is Paris.\nAnswer: paris", C, "exact"),
    Case("exact_trailing_period", "New York City", "Answer: New York City.", C, "exact"),
    Case("exact_boxed_text", "photosynthesis", "$\\boxed{\\text{Photosynthesis}}$", C, "exact"),
    Case("exact_wrong", "Paris", "Answer: Lyon", I, "exact"),
    Case("exact_last_line", "yes", "Let me check.\nThe premise holds in every case.\nYes", C, "exact"),
    Case("exact_quotes", "hello world", "Answer: \"Hello   World\"", C, "exact"),
    Case("exact_partial_not_equal", "New York", "Answer: New York City", I, "exact"),
    Case("exact_empty", "Paris", "   ", N, "exact"),
]

CODE_ASSERT = "assert add(1, 2) == 3\nassert add(-1, 1) == 0\nassert add(10, 5) == 15\n"
CODE_STDIO = '{"inputs": ["1 2\\n", "10 20\\n"], "outputs": ["3\\n", "30\\n"]}'
CODE_LIST = '[{"input": "3\\n1 2 3\\n", "output": "6\\n"}, {"input": "2\\n5 5\\n", "output": "10\\n"}]'
CODE_CALL = '{"fn_name": "twoSum", "inputs": [[[2, 7, 11, 15], 9], [[3, 2, 4], 6]], "outputs": [[0, 1], [1, 2]]}'

CODE = [
    Case("code_assert_pass", CODE_ASSERT, "Here is the function:\n\n```python\ndef add(a, b):\n    return a + b\n```\n", C, "code"),
    # abs(a) + b passes add(1, 2) and add(10, 5), fails add(-1, 1): two of three asserts.
    Case("code_assert_partial", CODE_ASSERT, "```python\ndef add(a, b):\n    return abs(a) + b\n```", I, "code", score=2 / 3),
    Case("code_stdio_pass", CODE_STDIO, "```python\na, b = map(int, input().split())\nprint(a + b)\n```", C, "code"),
    Case("code_stdio_fast_io", CODE_STDIO, "```python\nimport sys\ndata = sys.stdin.buffer.read().split()\nsys.stdout.write(str(int(data[0]) + int(data[1])) + '\\n')\n```", C, "code"),
    Case("code_stdio_wrong", CODE_STDIO, "```python\na, b = map(int, input().split())\nprint(a * b)\n```", I, "code"),
    Case("code_list_format", CODE_LIST, "```py\nn = int(input())\nprint(sum(map(int, input().split())))\n```", C, "code"),
    Case("code_call_based", CODE_CALL, "```python\nclass Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n        for i, x in enumerate(nums):\n            if target - x in seen:\n                return [seen[target - x], i]\n            seen[x] = i\n```", C, "code"),
    Case("code_no_code", CODE_ASSERT, "I would use a hash map to solve this in linear time.", N, "code"),
    Case("code_syntax_error", CODE_ASSERT, "```python\ndef add(a, b)\n    return a + b\n```", I, "code"),
    Case("code_bad_gold", "{\"inputs\": [1]}", "```python\nprint(1)\n```", "bad_gold", "code"),
]

CASES: list[Case] = GSM8K + MATH + AIME + MV_FALSE_POSITIVES + PATHOLOGICAL + MC + NUMERIC + EXACT + CODE
