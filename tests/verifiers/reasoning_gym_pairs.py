"""A labeled set of (response, gold) pairs built from reasoning-gym's generated answers.

For each of 13 numeric reasoning-gym tasks, each generated item gives one gold (the task's own
answer string) and eight responses around it, each with a label a careful grader gives:

    exact        the gold alone, as the whole response                      correct
    boxed        reasoning, then the gold in LaTeX in a \\boxed{}            correct
    prose        reasoning, then a concluding sentence ("Therefore, the result is <gold>.",
                 "Thus <gold> is the result.", ...)                          correct
    tag          <think>reasoning</think><answer>gold</answer> (the format reasoning-gym asks for)
                                                                            correct
    equivalent   the same value written another way (task-specific: "x = 13", "1,043",
                 "8 + 3i", "\\frac{3}{4}", "1.7 \\times 10^{-22}", "5 \\cdot 7^2", roots
                 reordered), in a random one of the wrappers above           correct
    wrong_boxed  a wrong value in a \\boxed{}                                incorrect
    wrong_prose  a wrong value in prose                                     incorrect
    wrong_tag    a near miss (off by one, sign, last digit, one root or factor changed) in
                 <answer> tags                                              incorrect

The reasoning before an answer quotes the question's numbers and intermediate results, as real
responses do, so a verifier that falls back to "some number in the text" is caught. Equivalent
forms are equal as mathematics and acceptable for the task (never the product 245 for the
factorization 5 x 7 x 7, nor an unreduced fraction where a reduced one is asked).
The builder is seeded; the tests use a few items per task, bench/bench_reasoning_gym.py many.

Example:
    >>> pairs = build_pairs(items_per_task=1, seed=0)
    >>> len(pairs), sorted({p.form for p in pairs})[:3]
    (104, ['boxed', 'equivalent', 'exact'])
"""

from __future__ import annotations

import random
import re
from decimal import Decimal
from fractions import Fraction
from typing import Callable, NamedTuple

TASKS = (
    "basic_arithmetic",
    "chain_sum",
    "complex_arithmetic",
    "decimal_arithmetic",
    "dice",
    "fraction_simplification",
    "gcd",
    "lcm",
    "leg_counting",
    "polynomial_equations",
    "power_function",
    "prime_factorization",
    "simple_equations",
)
FORMS = ("exact", "boxed", "prose", "tag", "equivalent", "wrong_boxed", "wrong_prose", "wrong_tag")


class Pair(NamedTuple):
    task: str
    form: str
    gold: str
    response: str
    label: bool  # the response's answer is the gold's
    answer: str  # the answer as written inside the response
    reasoning_gym_score: float  # reasoning-gym's own score_answer on `answer`


# ---------------------------------------------------------------------------------------------
# Per-task answer forms: (equivalents, near misses, LaTeX for a box)


def _integer(gold: str, rng: random.Random, variable: str = "x") -> tuple[list[str], list[str], str]:
    n = int(gold)
    equivalents = [f"{n}.0", f"{variable} = {n}", f"{n}.00"]
    if abs(n) >= 1000:
        equivalents.append(f"{n:,}")
    misses = [str(n + 1), str(n - 1), str(n * 10)] + ([str(-n)] if n else [])
    return equivalents, misses, str(n)


def _decimal(gold: str, rng: random.Random) -> tuple[list[str], list[str], str]:
    trimmed = gold.rstrip("0").rstrip(".") if "." in gold else gold
    equivalents = [gold + "0", trimmed] if trimmed != gold else [gold + "0", gold + "00"]
    # The first decimal digit changed: reasoning-gym itself tolerates one unit in the last one.
    digits = list(gold)
    first = gold.index(".") + 1 if "." in gold else len(gold) - 1
    digits[first] = str((int(digits[first]) + 1) % 10)
    sign_flip = gold[1:] if gold.startswith("-") else "-" + gold
    return equivalents, ["".join(digits), sign_flip], gold


_COMPLEX = re.compile(r"^(?:(-?[\d.]+) ([+-]) ([\d.]+)i|(-?[\d.]+)i|(-?[\d.]+))$")


def _complex(gold: str, rng: random.Random) -> tuple[list[str], list[str], str]:
    match = _COMPLEX.match(gold)
    assert match, gold
    re_text, sign, im_text, imag_only, real_only = match.groups()
    if imag_only is not None:
        re_v, im_v = Fraction(0), Fraction(imag_only)
    elif real_only is not None:
        re_v, im_v = Fraction(real_only), Fraction(0)
    else:
        re_v, im_v = Fraction(re_text), Fraction(im_text) * (1 if sign == "+" else -1)

    def show(x: Fraction) -> str:
        return str(int(x)) if x.denominator == 1 else str(float(x))

    def form(r: Fraction, i: Fraction) -> str:
        return f"{show(r)} {'-' if i < 0 else '+'} {show(abs(i))}i"

    equivalents = [form(re_v, im_v), f"{show(re_v)}{'-' if im_v < 0 else '+'}{show(abs(im_v))}i", f"{float(re_v):.2f} {'-' if im_v < 0 else '+'} {float(abs(im_v)):.2f}i"]
    misses = [form(re_v, -im_v) if im_v else form(re_v, Fraction(1)), form(im_v, re_v) if im_v != re_v else form(re_v + 1, im_v), form(re_v + 1, im_v)]
    return equivalents, misses, gold


def _fraction(gold: str, rng: random.Random) -> tuple[list[str], list[str], str]:
    inner = gold.strip("$")
    match = re.match(r"^\\d?frac\{(\d+)\}\{(\d+)\}$", inner) or re.match(r"^(\d+)/(\d+)$", inner)
    assert match, gold
    a, b = int(match.group(1)), int(match.group(2))
    equivalents = [f"\\frac{{{a}}}{{{b}}}", f"{a}/{b}", f"\\dfrac{{{a}}}{{{b}}}"]
    misses = [f"{a + 1}/{b}", f"{b}/{a}" if a != b else f"{a}/{b + 1}", f"{a}/{b + 1}"]
    return equivalents, misses, f"\\frac{{{a}}}{{{b}}}"


def _roots(gold: str, rng: random.Random) -> tuple[list[str], list[str], str]:
    roots = [r.strip() for r in gold.split(",")]
    shown = [("0" if float(r) == 0 else r) for r in roots]
    equivalents = [", ".join(reversed(shown)), ", ".join(f"x = {r}" for r in roots)]
    flipped = [r[1:] if r.startswith("-") else ("-" + r if float(r) else "1.0") for r in roots]
    misses = [", ".join(flipped[:1] + roots[1:])]
    misses.append(", ".join(roots + ["1.5" if "1.5" not in roots else "2.5"]))
    if len(roots) > 1:
        misses.append(", ".join(roots[1:]))
    return equivalents, misses, gold


def _scientific(gold: str, rng: random.Random) -> tuple[list[str], list[str], str]:
    if "e" in gold:
        mantissa, exponent = gold.split("e")
        latex = f"{mantissa} \\times 10^{{{int(exponent)}}}"
        equivalents = [latex, gold.upper(), f"{mantissa}e{int(exponent)}"]
    else:
        latex = gold
        equivalents = [gold + "0", f"{Decimal(gold):e}"]
    value = float(gold)
    misses = [f"{value * 10:.16g}", f"{-value:.16g}" if value else "1.0", f"{value * 1.01:.16g}" if value else "0.5"]
    return equivalents, misses, latex


def _factors(gold: str, rng: random.Random) -> tuple[list[str], list[str], str]:
    factors = [int(f) for f in gold.split("×")]
    counts: dict[int, int] = {}
    for f in factors:
        counts[f] = counts.get(f, 0) + 1
    powers = " \\cdot ".join(f"{p}^{{{k}}}" if k > 1 else str(p) for p, k in counts.items())
    equivalents = [" \\times ".join(map(str, factors)), "*".join(map(str, factors)), powers, " × ".join(map(str, reversed(factors)))]
    other = next(p for p in (2, 3, 5, 7, 11, 13) if p not in counts)
    misses = [" × ".join(map(str, factors[:-1] + [other]))]
    if len(factors) > 1:
        misses.append(" × ".join(map(str, factors[1:])))
    misses.append(" × ".join(map(str, factors + [other])))
    return equivalents, misses, " \\times ".join(map(str, factors))


def _simple_equation(entry: dict) -> Callable:
    variable = entry["metadata"].get("variable", "x")
    return lambda gold, rng: _integer(gold, rng, variable)


FORMS_OF: dict[str, Callable] = {
    "basic_arithmetic": _integer,
    "chain_sum": _integer,
    "complex_arithmetic": _complex,
    "decimal_arithmetic": _decimal,
    "dice": _fraction,
    "fraction_simplification": _fraction,
    "gcd": _integer,
    "lcm": _integer,
    "leg_counting": _integer,
    "polynomial_equations": _roots,
    "power_function": _scientific,
    "prime_factorization": _factors,
}


# ---------------------------------------------------------------------------------------------
# Reasoning text


def _reasoning(question: str, rng: random.Random) -> str:
    """A few sentences that quote the question's numbers and some arithmetic on them."""
    numbers = re.findall(r"-?\d+(?:\.\d+)?", question)[:6] or ["2", "3"]
    steps = [f"The problem gives {', '.join(numbers[:3])}."]
    for a, b in zip(numbers, numbers[1:]):
        try:
            total = Fraction(a) + Fraction(b)
        except ValueError:
            continue
        steps.append(rng.choice([f"Combining {a} and {b} gives {float(total):g}.", f"First, {a} + {b} = {float(total):g}.", f"Note that {b} appears after {a}."]))
    steps.append(rng.choice(["Checking each step again confirms the computation.", "Let me verify this carefully.", "Now I put the pieces together."]))
    return " ".join(steps[:5])


_CONCLUSIONS = ("So the answer is {}.", "Therefore, the result is {}.", "Putting it together, we get {}.", "Thus {} is the result.", "The final value is {}.")


def _wrap(form: str, answer: str, latex: str, question: str, rng: random.Random) -> str:
    reasoning = _reasoning(question, rng)
    if form == "boxed":
        return f"{reasoning}\n\nThe final result is $\\boxed{{{latex}}}$."
    if form == "prose":
        return f"{reasoning} " + rng.choice(_CONCLUSIONS).format(answer)
    if form == "tag":
        return f"<think>{reasoning}</think>\n<answer>{answer}</answer>"
    return answer


def build_pairs(items_per_task: int, seed: int = 0, tasks: tuple[str, ...] = TASKS) -> list[Pair]:
    """Eight labeled responses per generated item (see the module docstring), seeded."""
    import reasoning_gym

    rng = random.Random(seed)
    pairs: list[Pair] = []
    for task in tasks:
        dataset = reasoning_gym.create_dataset(task, size=items_per_task, seed=seed)
        for index in range(items_per_task):
            entry = dataset[index]
            gold, question = entry["answer"], entry["question"]
            make = _simple_equation(entry) if task == "simple_equations" else FORMS_OF[task]
            equivalents, misses, latex = make(gold, rng)
            plain = gold.strip("$") if task == "fraction_simplification" else gold
            shown = {"boxed": latex}
            def add(form: str, wrapper: str, answer: str, label: bool) -> None:
                written = shown["boxed"] if form == "boxed" else answer
                pairs.append(Pair(task, form, gold, _wrap(wrapper, answer, written, question, rng), label, written, _score(dataset, entry, written)))

            for form in ("exact", "boxed", "prose", "tag"):
                add(form, form, plain, True)
            add("equivalent", rng.choice(["boxed", "prose", "tag", "exact"]), rng.choice(equivalents), True)
            for form, wrapper in (("wrong_boxed", "boxed"), ("wrong_prose", "prose"), ("wrong_tag", "tag")):
                add(form, wrapper, rng.choice(misses), False)
    return pairs


def _score(dataset, entry: dict, answer: str) -> float:
    """reasoning-gym's own scorer on the answer as written; a scorer that cannot read it gives 0."""
    try:
        return float(dataset.score_answer(answer, entry))
    except Exception:  # noqa: BLE001 - some scorers raise on answers they cannot parse
        return 0.0
