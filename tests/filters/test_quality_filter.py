"""Quality filter: length bounds, answer forms, target forms, precedence of reasons."""

import pyarrow as pa
import pytest

from assay.filters.quality import TARGET_FORMS, QualityConfig, answer_forms, quality


def table(rows):
    prompt, answer, verifier = zip(*rows)
    return pa.table({"prompt": list(prompt), "answer": list(answer), "verifier": list(verifier)})


# (prompt, gold, verifier) -> the form the filter must call, hand-labelled.
FORMS = [
    ("Prove that the sum of two odd integers is even.", "proof", "math", "proof"),
    ("Prove that sqrt(2) is irrational.", "The claim follows. $\\blacksquare$", "math", "proof"),
    ("Show that $n^3 - n$ is divisible by 6 for every integer $n$.", "6", "math", "proof"),
    ("Show that the equation has a root and find it: $2x - 6 = 0$.", "3", "math", "free_form"),
    ("Which is prime?\n(A) 4\n(B) 6\n(C) 7\n(D) 9", "C", "math", "multiple_choice"),
    ("Which is prime? (A) 4 (B) 6 (C) 7 (D) 9", "7", "math", "multiple_choice"),
    ("Which is prime? (a) 4 (b) 6 (c) 7", "c", "math", "multiple_choice"),
    ("Which is prime?\nA. 4\nB. 6\nC. 7", "C", "math", "multiple_choice"),
    ("Triangle ABC has AB = 3 and angle A. Find BC.", "4", "math", "free_form"),
    ("Pick the capital of France.", "B", "mc", "multiple_choice"),
    ("Is 91 prime?", "No", "math", "true_false"),
    ("True or false: every square is a rectangle.", "\\text{True}", "math", "true_false"),
    ("Let $a_n = 2n + 1$.\n(a) Find $a_3$.\n(b) Find $a_5$.", "7", "math", "multi_part"),
    ("Find $a_3$ and $a_5$ for $a_n = 2n + 1$.", "(a) 7 (b) 11", "math", "multi_part"),
    ("Solve both equations.", "$\\boxed{2}$ and $\\boxed{3}$", "math", "multi_part"),
    ("What is $f(a)$ if $f(x) = x^2$ and $a = 3$?", "9", "math", "free_form"),
    ("Find all $x$ with $(x-1)(x-2) = 0$.", "1, 2", "math", "free_form"),
    ("Prove that your program prints the right answer: read n, print n*2.", '{"inputs": ["1"], "outputs": ["2"]}', "code", "free_form"),
]


def test_answer_forms_on_hand_labelled_rows():
    form, detail = answer_forms(table([r[:3] for r in FORMS]))
    assert form.tolist() == [r[3] for r in FORMS]
    assert detail[0] == "the gold is a proof or a proof marker" and detail[2] == "the prompt asks for a proof"


def test_default_target_keeps_only_free_form_and_says_why():
    d = quality(table([r[:3] for r in FORMS]))
    assert d.keep.to_pylist() == [r[3] == "free_form" for r in FORMS]
    assert d.reason[4].as_py() == "multiple_choice: the prompt lists lettered options (target forms: free_form)"
    assert d.reason[12].as_py() == "multi_part: the prompt or the gold has labelled parts"
    assert d.scores["answer_form"].to_pylist() == [r[3] for r in FORMS]


def test_target_forms_can_admit_choice_and_yes_no_but_never_proofs():
    d = quality(table([r[:3] for r in FORMS]), QualityConfig(target_forms=("free_form", "multiple_choice", "true_false")))
    assert d.keep.to_pylist() == [r[3] not in ("proof", "multi_part") for r in FORMS]
    with pytest.raises(ValueError, match=f"unknown target form 'proof'; valid: {', '.join(TARGET_FORMS)}$"):
        QualityConfig(target_forms=("free_form", "proof"))
    with pytest.raises(ValueError, match="non-empty"):
        QualityConfig(target_forms=())


def test_length_bounds_in_characters_and_their_precedence():
    rows = [
        ("2+2?", "4", "math"),  # 4 chars < 10
        ("What is 2+2? " * 2000, "4", "math"),  # 26,000 chars > 16,000
        ("What is the sum of the first 10 primes?", "", "math"),
        ("Summarise the proof of Fermat's theorem.", "x" * 201, "math"),
        ("Write a program that echoes its input.", "x" * 5000, "code"),  # code golds are test suites: no answer bounds
        ("Is?", "Yes", "math"),  # too short wins over true_false
    ]
    d = quality(table(rows))
    assert d.reason.to_pylist() == [
        "prompt_too_short: 4 chars (min 10)",
        "prompt_too_long: 26000 chars (max 16000)",
        "answer_too_short: 0 chars (min 1)",
        "answer_too_long: 201 chars (max 200)",
        None,
        "prompt_too_short: 3 chars (min 10)",
    ]
    assert d.scores["prompt_chars"].to_pylist()[0] == 4 and d.scores["answer_chars"].to_pylist()[3] == 201


def test_characters_not_bytes():
    d = quality(table([("Berechne 3·4 für uns.", "12", "math")]), QualityConfig(min_prompt_chars=21, max_prompt_chars=21))
    assert d.keep.to_pylist() == [True]  # 21 characters, 24 bytes


def test_bad_input_fails_naming_the_column():
    with pytest.raises(ValueError, match="quality: input has no column 'verifier'"):
        quality(pa.table({"prompt": ["What is 1+1?"], "answer": ["2"]}))
    with pytest.raises(ValueError, match="need 0 <= min_prompt_chars <= max_prompt_chars"):
        QualityConfig(min_prompt_chars=50, max_prompt_chars=10)
