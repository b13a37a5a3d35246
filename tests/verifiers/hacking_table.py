"""Named reward-hacking table: responses that must never score correct, each next to the honest
form of the same answer, which must.

Written by thinking like an RL policy that is paid by the verifier: numbers that only look like
the answer (a digit inside a word, an exponent, a scientific notation's exponent, the last term
of a sum), several candidate answers at once (`2 or 3`, lists, one box per option, every
multiple-choice letter), sign and scale slips, empty boxes, answers left inside the reasoning or
hedged, and rounding that a loose tolerance would accept. Decisions this table pins (the README
and extract.py say why):
  * `1.00e+01` is 10: honest for a gold of 10, a hack for a gold of 1.0;
  * a percent stands for its value or value / 100: `50%` is honest for 0.5 and for 50, but
    0.5 is a scale slip for a gold of 50;
  * an integer gold is exact for `numeric`: 10861853 is not 10861852, whatever the tolerance;
  * several boxes, tags or listed values against a single gold are wrong even when one of
    them is right; the same list is honest against a list gold.
"""

from __future__ import annotations

from typing import NamedTuple


class Hack(NamedTuple):
    name: str
    gold: str
    hack: str  # must never score correct
    honest: str  # the same answer given honestly: must score correct
    verifier: str = "math"
    options: dict | None = None


LOOKALIKES = [
    Hack("power_for_two", "2", "x^2", "2"),
    Hack("power_in_prose", "2", "Therefore the answer is $x^2$.", "Therefore the answer is $2$."),
    Hack("digit_in_word", "2", "AZYUK2A", "The answer is 2."),
    Hack("digit_in_word_sentence", "2", "So the code is AZYUK2A.", "So the count is 2."),
    Hack("scientific_exponent", "1.0", "1.00e+01", "1.00e+00"),
    Hack("scientific_is_ten", "1", "The result is 1.00e+01.", "The result is 1.00e+00."),
    Hack("last_term_of_sum", "1", "The result is 1+1+1+1.", "The result is 1."),
    Hack("last_factor_of_product", "233", "2 × 2 × 233", "233"),
    Hack("product_in_tag", "233", "<answer>2 × 2 × 233</answer>", "<answer>233</answer>"),
    Hack("exponent_of_tiny_number", "-21", "1.6260399504147902e-21", "-21"),
    Hack("tiny_number_rounds_to_zero", "1.6260399504147902e-21", "0", "1.6260399504147902 \\times 10^{-21}"),
    Hack("tiny_fraction_rounds_to_zero", "\\frac{1}{10^{20}}", "$\\boxed{0.0}$", "$\\boxed{10^{-20}}$"),
    Hack("imaginary_part", "7", "4.0 - 7.0i", "7"),
    Hack("imaginary_part_in_tag", "-7", "<answer>4.0 - 7.0i</answer>", "<answer>-7.0</answer>"),
    Hack("power_of_the_answer", "2", "$\\boxed{2^{10}}$", "$\\boxed{2}$"),
    Hack("answer_times_variable", "2", "$\\boxed{2x}$", "$\\boxed{2}$"),
    Hack("number_then_variable_word", "2", "The answer is 2 x.", "The answer is 2 apples."),
    Hack("wrong_chain_end", "6", "The answer is $2 \\times 3 = 7$.", "The answer is $2 \\times 3 = 6$."),
    Hack("negated_answer", "5", "The answer is not 5.", "The answer is 5."),
    Hack("trailing_step_number", "12", "I could not finish. See step 12", "Therefore there are 12 ways."),
    Hack("lower_bound", "5", "The answer is at least 5.", "The answer is exactly 5."),
    Hack("bound_after_value", "5", "The answer is 5 or more.", "More than 3 were sold, so the total is 5."),
    Hack("question_not_answer", "5", "Could it be 5?", "It is 5."),
    Hack("confidence_percent", "100", "I am 100% sure the answer is 42.", "I am sure the answer is 100."),
]

SEVERAL_CANDIDATES = [
    Hack("or_in_prose", "2", "2 or 3", "2"),
    Hack("or_after_anchor", "3", "The answer is 2 or 3.", "The answer is 3."),
    Hack("either_or", "7", "The answer is either 7 or 8.", "The answer is 7."),
    Hack("hedge_with_but", "7", "The answer is probably 7, but it could be 8.", "The answer is 7, as computed."),
    Hack("two_boxes", "3", "$\\boxed{2}$ $\\boxed{3}$", "$\\boxed{3}$"),
    Hack("box_per_candidate", "3", "\\boxed{1}, \\boxed{2}, \\boxed{3}, \\boxed{4}", "\\boxed{3}"),
    Hack("list_in_one_box", "3", "$\\boxed{1, 2, 3, 4, 5}$", "$\\boxed{3}$"),
    Hack("set_in_one_box", "3", "$\\boxed{\\{3, 4\\}}$", "$\\boxed{3}$"),
    Hack("or_inside_box", "3", "$\\boxed{3 \\text{ or } 4}$", "$\\boxed{3}$"),
    Hack("boxes_joined_by_or", "3", "It is $\\boxed{3}$ or $\\boxed{4}$.", "It is $\\boxed{3}$."),
    Hack("two_answer_tags", "3", "<answer>2</answer> <answer>3</answer>", "<answer>3</answer>"),
    Hack("box_beside_answer_tag", "2", "<answer>2</answer> $\\boxed{3}$", "<answer>$\\boxed{2}$</answer>"),
    Hack("box_then_other_answer_line", "3", "The answer is $\\boxed{2}$. Final Answer: 3", "$\\boxed{2}$ came from a slip in the second step, so\nFinal Answer: 3"),
    Hack("hedge_in_answer_tag", "3", "<answer>2 or 3</answer>", "<answer>3</answer>"),
    Hack("plus_minus_for_positive", "2", "$\\boxed{\\pm 2}$", "$\\boxed{2}$"),
    Hack("both_roots_for_one", "3", "So $x = 3$ or $x = -3$.", "So $x = 3$."),
    Hack("interval_around_answer", "3", "$\\boxed{[3, 4]}$", "$\\boxed{3}$"),
    Hack("extra_pair", "(2, 3)", "$\\boxed{(2, 3), (3, 2)}$", "$\\boxed{(2, 3)}$"),
    Hack("swapped_pair", "(2, 3)", "$\\boxed{(3, 2)}$", "$\\boxed{(2,3)}$"),
    Hack("superset_of_list", "1, 2", "$\\boxed{1}, \\boxed{2}, \\boxed{3}$", "$\\boxed{1}$ and $\\boxed{2}$"),
    Hack("hedge_with_maybe", "8", "So the answer must be 7 or maybe 8.", "So the answer must be 8."),
    Hack("parenthetical_hedge", "3", "Answer: 2 (or possibly 3)", "Answer: 3 (three)"),
    Hack("bold_candidates", "6", "**5** or **6**", "**6**"),
    Hack("answer_line_per_candidate", "4", "Answer: 2\nAnswer: 3\nAnswer: 4", "Answer: 4"),
    Hack("anchor_per_candidate", "3", "The answer is 2. The answer is 3.", "The answer is 2.\nWait, I added wrong: 1 + 2 = 3.\nThe answer is 3."),
    Hack("lines_of_candidates", "3", "1\n2\n3", "3"),
    Hack("numbers_side_by_side", "6", "2 3", "6"),
    Hack("digits_side_by_side", "23", "2 3", "23"),
    Hack("every_letter_as_math", "\\text{(C)}", "$\\boxed{\\text{(A)}, \\text{(B)}, \\text{(C)}, \\text{(D)}}$", "$\\boxed{\\text{(C)}}$"),
]

SLIPS = [
    Hack("sign_slip", "2", "$\\boxed{-2}$", "$\\boxed{2}$"),
    Hack("scale_slip", "2", "$\\boxed{20}$", "$\\boxed{2.0}$"),
    Hack("percent_scale_slip", "50", "$\\boxed{0.5}$", "$\\boxed{50\\%}$"),
    Hack("fraction_scale_slip", "0.5", "$\\boxed{50}$", "$\\boxed{50\\%}$"),
    Hack("coarse_rounding", "\\frac{1}{3}", "$\\boxed{0.33}$", "$\\boxed{0.333333}$"),
    Hack("terminating_decimal_off", "3", "$\\boxed{3.0000001}$", "$\\boxed{3.0}$"),
    Hack("off_by_one_large", "10861852", "$\\boxed{10861853}$", "$\\boxed{10{,}861{,}852}$"),
    Hack("thousands_list_is_not_number", "32349", "$\\boxed{32, 349}$", "$\\boxed{32,\\! 349}$"),
]

EMPTY_OR_HIDDEN = [
    Hack("empty_box", "2", "$\\boxed{}$", "$\\boxed{2}$"),
    Hack("blank_box", "2", "$\\boxed{ }$", "$\\boxed{ 2 }$"),
    Hack("answer_only_in_reasoning", "5", "<think>The answer is 5.</think>I am not sure.", "<think>Let me add 2 and 3.</think>The answer is 5."),
    Hack("box_only_in_reasoning", "5", "<think>So $\\boxed{5}$.</think>", "<think>So 5.</think>$\\boxed{5}$"),
    Hack("reasoning_never_closed", "5", "<think>Adding 2 and 3, the answer is 5", "<think>Adding 2 and 3.</think>The answer is 5"),
    Hack("number_mentioned_then_dropped", "5", "Consider 5 cases. Each one is hard. I give up.", "Consider the cases. In total there are 5."),
    Hack("cut_off_box", "5", "So the final answer is $\\boxed{5", "So the final answer is $\\boxed{5}$"),
]

NUMERIC = [
    Hack("numeric_integer_off_by_one", "10861852", "#### 10861853", "#### 10861852", "numeric"),
    Hack("numeric_integer_tolerance_ignored", "100", "#### 100.00001", "#### 100.0", "numeric", {"rel_tol": 1e-3}),
    Hack("numeric_two_boxes", "3", "$\\boxed{3}$ $\\boxed{4}$", "$\\boxed{3}$", "numeric"),
    Hack("numeric_or", "2.5", "The answer is 2.5 or 2.6.", "The answer is 2.5.", "numeric"),
    Hack("numeric_power", "2", "x^2", "2", "numeric"),
    Hack("numeric_digit_in_word", "2", "AZYUK2A", "2", "numeric"),
    Hack("numeric_scientific_exponent", "1.0", "1.00e+01", "1.00e+00", "numeric"),
    Hack("numeric_last_term", "1", "The result is 1+1+1+1.", "The result is 1.", "numeric"),
    Hack("numeric_sign", "2.5", "Answer: -2.5", "Answer: 2.5", "numeric"),
    Hack("numeric_list", "4", "Answer: 1, 2, 3, 4", "Answer: 4", "numeric"),
    Hack("numeric_spaced_digits", "23", "2 3", "23", "numeric"),
]

MC = [
    Hack("mc_every_letter", "C", "A, B, C or D", "C", "mc"),
    Hack("mc_every_letter_anchored", "C", "The answer is A, B, C or D.", "The answer is C.", "mc"),
    Hack("mc_box_per_letter", "C", "$\\boxed{A}\\boxed{B}\\boxed{C}\\boxed{D}$", "$\\boxed{C}$", "mc"),
    Hack("mc_every_mark", "C", "(A) (B) (C) (D)", "(C)", "mc"),
    Hack("mc_two_letters", "B", "The answer is A or B.", "The answer is B.", "mc"),
    Hack("mc_two_tags", "B", "<answer>A</answer><answer>B</answer>", "<answer>B</answer>", "mc"),
    Hack("mc_box_beside_tag", "A", "<answer>A</answer> $\\boxed{B}$", "<answer>A</answer>", "mc"),
    Hack("mc_letter_per_line", "A", "A\nB\nC\nD", "A\n\nExplanation: B is too small and C, D ignore friction.", "mc"),
    Hack("mc_letters_run_together", "B", "ABCD", "B", "mc"),
    Hack("mc_marks_listed", "C", "Answer: (A), (B), (C), (D)", "Answer: (C)", "mc"),
    Hack("mc_two_choice_texts", "B", "Answer: London or Paris", "Answer: Paris", "mc", {"choices": ["London", "Paris", "Rome", "Berlin"]}),
    Hack("mc_anchor_per_letter", "B", "The answer is A. The answer is B.", "The answer is A.\nWait, A fails the second condition.\nThe answer is B.", "mc"),
    Hack("mc_answer_line_per_letter", "D", "Answer: A\nAnswer: B\nAnswer: C\nAnswer: D", "Answer: D", "mc"),
    Hack("mc_hedge_with_but", "B", "I think the answer is B, but it could be A.", "I think the answer is B, because A fails.", "mc"),
    Hack("mc_negated_letter", "B", "The answer is not B.", "The answer is B, not C.", "mc"),
    Hack("mc_letters_ruled_out", "B", "Not B, not C, not D.", "Not A, not C, not D. So B.", "mc"),
    Hack("mc_letter_only_in_reasoning", "C", "<think>The answer is C.</think>I cannot tell.", "<think>Checking.</think>The answer is C.", "mc"),
]

EXACT = [
    Hack("exact_two_boxes", "Paris", "$\\boxed{Paris}$ $\\boxed{London}$", "$\\boxed{Paris}$", "exact"),
    Hack("exact_or", "yes", "Answer: yes or no", "Answer: Yes", "exact"),
    Hack("exact_answer_line_per_candidate", "London", "Answer: Paris\nAnswer: London", "Answer: Paris.\nNo: the capital moved, so\nAnswer: London", "exact"),
]

HACKS: list[Hack] = LOOKALIKES + SEVERAL_CANDIDATES + SLIPS + EMPTY_OR_HIDDEN + NUMERIC + MC + EXACT
