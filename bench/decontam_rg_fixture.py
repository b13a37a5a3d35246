"""A labeled decontamination corpus with same-template hard negatives, built from reasoning-gym.

The benchmark: 300 problems from 9 reasoning-gym tasks (seed 17,000). Contaminated rows, each made
from a different benchmark problem by a rule of this file:

| kind            | rows | how                                                                   |
|-----------------|------|-----------------------------------------------------------------------|
| verbatim        | 60   | the problem as it is                                                  |
| case_whitespace | 60   | case changed, whitespace runs and line breaks, punctuation dropped    |
| embedded        | 60   | inside a longer prompt (a tutor's instruction before, a request after)|
| latex_markdown  | 60   | numbers in `$..$`, `*` as `\\times`/`\\cdot`, a/b as `\\dfrac`, bold heading, `$$` |
| numbers_changed | 60   | every number replaced by another of the same digit count              |
| paraphrase      | 45   | hand-written rewordings per task (5 per task), numbers kept           |

Clean rows (1,000): 400 new instances of the benchmark's own tasks (seed 290,000; the same
templates, other numbers: a procedural generator's clean items) and 600 instances of 10 other
reasoning-gym tasks. A clean row whose normalised tokens equal a benchmark problem's is left
out (the generator repeated itself).

Stored in tests/filters/data/decontam_rg.jsonl (`python bench/decontam_rg_fixture.py` rewrites it).

    >>> problems, rows = load()
    >>> len(problems), len(rows), sum(r.kind == "clean" for r in rows), sum(r.same_template for r in rows)
    (300, 1345, 1000, 400)
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path

TASKS = ("basic_arithmetic", "chain_sum", "gsm_symbolic", "fraction_simplification", "gcd", "simple_equations",
         "time_intervals", "leg_counting", "products")
OTHER_TASKS = ("lcm", "prime_factorization", "count_bits", "base_conversion", "letter_counting", "number_sorting",
               "decimal_arithmetic", "power_function", "polynomial_equations", "simple_integration")
KINDS = ("verbatim", "case_whitespace", "embedded", "latex_markdown", "numbers_changed", "paraphrase")
BENCHMARK_SEED, CLEAN_SEED = 17_000, 290_000  # a dataset item i is drawn from seed + i: keep the ranges apart
PER_KIND, PARAPHRASES_PER_TASK = 60, 5
SAME_TEMPLATE_CLEAN, OTHER_CLEAN = 400, 600


@dataclass(frozen=True)
class Row:
    text: str
    kind: str  # one of KINDS, or "clean"
    problem: int | None  # index of the benchmark problem it was made from (None for clean rows)
    task: str
    same_template: bool = False  # a clean row of one of the benchmark's own tasks


def _generate(tasks: tuple[str, ...], total: int, seed: int) -> list[tuple[str, str]]:
    import reasoning_gym  # dev dependency: imported only when the corpus is built

    out = []
    for k, task in enumerate(tasks):
        size = total // len(tasks) + (k < total % len(tasks))
        out += [(task, item["question"]) for item in reasoning_gym.create_dataset(task, size=size, seed=seed + 1000 * k)]
    return out


_NUMBER = re.compile(r"\d+")


def _numbers_changed(text: str, rng: random.Random) -> str:
    def swap(m: re.Match[str]) -> str:
        digits = len(m.group())
        value = m.group()
        while value == m.group():
            value = str(rng.randint(10 ** (digits - 1) if digits > 1 else 0, 10**digits - 1))
        return value

    return _NUMBER.sub(swap, text)


def _case_whitespace(text: str, rng: random.Random) -> str:
    text = rng.choice([str.upper, str.lower, str.title])(text)
    text = re.sub(r"[.,?!:;](?=\s|$)", "", text)  # punctuation, not the colons of 08:24 or a decimal point
    return re.sub(r" ", lambda m: rng.choice(["  ", "\n", " \t", " "]), text)


_WRAPS = (
    "You are a careful math tutor. Read the problem below and reason step by step.\n\n{p}\n\nPut the final answer in \\boxed{{}}.",
    "Question: {p}\nAnswer: let's think about this carefully before writing anything down.",
    "I found this in my homework and I am stuck, can someone help?\n{p}\nThanks a lot in advance!",
)


def _latex_markdown(text: str, rng: random.Random) -> str:
    text = re.sub(r"(\d+)/(\d+)", r"\\dfrac{\1}{\2}", text)
    text = re.sub(r" \* ", lambda m: rng.choice([" \\times ", " \\cdot "]), text)
    text = re.sub(r"(?<![{\d])(\d+)(?![}\d])", r"$\1$", text)
    return rng.choice(["**Problem.** ", "### Exercise\n\n", "> "]) + text


def _nums(text: str) -> list[str]:
    return re.findall(r"-?\d+(?:\.\d+)?", text)


def _expr(text: str) -> str:
    return re.sub(r"^(calculate|state the final answer to the following arithmetic problem:)\s*", "", text.strip().lower()).rstrip(" =.")


# Hand-written rewordings per task: the same problem, the same numbers, other words.
_PARAPHRASES = {
    "basic_arithmetic": lambda q: f"Work out the value of the expression {_expr(q)} and report the number you get.",
    "chain_sum": lambda q: f"Evaluate {_expr(q)} from left to right; what number results?",
    "fraction_simplification": lambda q: "Reduce {0} over {1} to simplest form and reply with just the reduced fraction.".format(*_nums(q)),
    "gcd": lambda q: f"What is the largest whole number that divides each of {', '.join(_nums(q))} with no remainder?",
    "simple_equations": lambda q: "Determine the unknown {0} that makes {1} true.".format(
        re.search(r"(?:for|of) (\w)", q).group(1), q.split(":", 1)[1].strip()),
    "time_intervals": lambda q: "How much time passed between {0} and {1}? Report the length of the interval as {2}.".format(
        *re.search(r"(?:at|from|between) (.*?) (?:and|to) (?:\w+ at )?(.*?)[.?] .*in (.*?)\.$", q.strip()).groups()),
    "leg_counting": lambda q: "Adding up every animal's legs, what is the total for this group: {0}?".format(
        re.search(r"you have (.*)\?", q).group(1)),
    "products": lambda q: "Multiply {0} by {1} and state the product only.".format(*_nums(q)),
    "gsm_symbolic": lambda q: _reword(q),
}
_SYNONYMS = (("How many", "What number of"), ("how many", "what number of"), ("calculate", "work out"), ("total", "overall"),
             ("bought", "purchased"), ("has", "owns"), ("there were", "we count"), ("If ", "Suppose "), ("each", "every"),
             ("Give the result as your final answer. Do not include units.", "Answer with a bare number."),
             (" is ", " happens to be "), (" the ", " that "), ("went to", "visited"), ("found", "discovered"))


def _reword(text: str) -> str:
    for old, new in _SYNONYMS:
        text = text.replace(old, new)
    return text


def build() -> tuple[list[tuple[str, str]], list[Row]]:
    """(problems as (task, text), labeled rows). Deterministic."""
    from assay.filters.decontam import match_tokens

    problems = _generate(TASKS, 300, BENCHMARK_SEED)
    rng = random.Random(0)
    rows: list[Row] = []
    order = list(range(len(problems)))
    rng.shuffle(order)
    makers = {
        "verbatim": lambda t: t,
        "case_whitespace": lambda t: _case_whitespace(t, rng),
        "embedded": lambda t: rng.choice(_WRAPS).format(p=t),
        "latex_markdown": lambda t: _latex_markdown(t, rng),
        "numbers_changed": lambda t: _numbers_changed(t, rng),
    }
    picks = iter(order * 2)
    for kind, make in makers.items():
        for _ in range(PER_KIND):
            i = next(picks)
            rows.append(Row(make(problems[i][1]), kind, i, problems[i][0]))
    for task in TASKS:
        mine = [i for i in order if problems[i][0] == task][:PARAPHRASES_PER_TASK]
        rows += [Row(_PARAPHRASES[task](problems[i][1]), "paraphrase", i, task) for i in mine]
    seen = {tuple(match_tokens(text)) for _, text in problems}
    clean = [(t, q, True) for t, q in _generate(TASKS, SAME_TEMPLATE_CLEAN, CLEAN_SEED)]
    clean += [(t, q, False) for t, q in _generate(OTHER_TASKS, OTHER_CLEAN, CLEAN_SEED)]
    rows += [Row(q, "clean", None, t, same) for t, q, same in clean if tuple(match_tokens(q)) not in seen]
    return problems, rows


DATA = Path(__file__).resolve().parent.parent / "tests" / "filters" / "data" / "decontam_rg.jsonl"


def write(path: Path = DATA) -> None:
    """Build the corpus and store it as JSON lines (the problems first, then the rows): building
    takes half a minute (some reasoning-gym generators are slow), reading it milliseconds."""
    problems, rows = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        for task, text in problems:
            out.write(json.dumps({"problem": text, "task": task}, ensure_ascii=False) + "\n")
        for r in rows:
            out.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")


def load(path: Path = DATA) -> tuple[list[tuple[str, str]], list[Row]]:
    """The stored corpus: what `build()` returns."""
    problems, rows = [], []
    for line in open(path, encoding="utf-8"):
        item = json.loads(line)
        if "kind" in item:
            rows.append(Row(**item))
        else:
            problems.append((item["task"], item["problem"]))
    return problems, rows


if __name__ == "__main__":
    write()
    print(f"wrote {DATA}")
