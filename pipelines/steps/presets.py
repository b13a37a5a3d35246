"""Column mappings: how a raw row of a known dataset layout becomes (prompt, gold answer).

Each preset is one function from a raw row to a `Mapped` value or a `Rejected` one with a
reason code, chosen from the explicit PRESETS table. The layouts are those of the real
datasets:

| preset  | datasets                                  | prompt               | gold                                   |
|---------|-------------------------------------------|----------------------|----------------------------------------|
| gsm8k   | openai/gsm8k                              | question             | `answer` after its last `#### `        |
| math    | MATH, MATH-500, hendrycks competition_math| problem              | `answer`, else the last \\boxed{} of `solution` |
| numina  | AI-MO/NuminaMath-CoT, -1.5                | problem              | the last \\boxed{} of `solution`        |
| answer  | DeepScaleR, OpenR1-Math, Big-Math         | problem              | answer                                 |
| mc      | MMLU, ARC, GPQA-style                     | question + lettered choices | the choice letter                |
| code    | prompt + tests layouts                    | prompt               | tests (JSON text)                      |

Every column a preset does not consume is kept in the record's `meta` JSON, and what the
verifier needs besides the gold (the mc choice texts) under meta["verifier_options"].

Example:
    >>> PRESETS["gsm8k"].map_row({"question": "2+2?", "answer": "2+2=4\\n#### 4"})
    Mapped(prompt='2+2?', answer='4', options=None)
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Callable

from assay.pipelines.errors import AssayError, chosen
from assay.pipelines.steps.readers import InexactNumber
from assay.verifiers import VERIFIERS
from assay.verifiers.extract import last_boxed


@dataclass(frozen=True)
class Mapped:
    prompt: str
    answer: str
    # Options the record's verifier needs besides the gold (the mc verifier's choice texts),
    # kept in the record's meta under "verifier_options".
    options: dict[str, Any] | None = None


@dataclass(frozen=True)
class Rejected:
    reason: str  # a stable code: missing_prompt, empty_answer, no_gold, wrong_type, ...
    detail: str


@dataclass(frozen=True)
class Preset:
    columns: tuple[str, ...]  # columns the mapping consumes; the rest go to meta
    # Columns a file must have, each entry a choice (one of its names is enough): a file with
    # none of an entry's names is one error naming the file's columns, not a rejected row each.
    required: tuple[tuple[str, ...], ...]
    verifier: str  # key into assay.verifiers' table
    domain: str
    map_row: Callable[[dict[str, Any]], Mapped | Rejected]


def _text(row: dict[str, Any], column: str, role: str) -> str | Rejected:
    """A required text field: present, a string (numbers are accepted as their text), non-blank."""
    value = row.get(column)
    if value is None:
        return Rejected(f"missing_{role}", f"column {column!r} is missing or null")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return Rejected("wrong_type", f"column {column!r} is a {type(value).__name__}, expected text")
    if isinstance(value, float) and not math.isfinite(value):
        return Rejected("non_finite", f"column {column!r} is the number {value}, which no answer or prompt can be")
    if isinstance(value, InexactNumber):
        return Rejected("imprecise_number", f"column {column!r} is {value.source}, which a 64-bit float rounds to "
                        f"{float(value)!r}; write it as a string to keep its digits")
    text = value if isinstance(value, str) else _number_text(value)
    if not text.strip():
        return Rejected(f"empty_{role}", f"column {column!r} is empty")
    return text


def _number_text(value: int | float) -> str:
    # 18.0 in a float column is the integer answer 18, not the string "18.0".
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def gsm8k_gold(solution: str) -> str | None:
    """`...#### 1,234` -> `1234`: GSM8K golds are integers; thousands separators are dropped."""
    if "####" not in solution:
        return None
    return solution.rsplit("####", 1)[1].strip().replace(",", "").rstrip(".").strip() or None


def _map_gsm8k(row: dict[str, Any]) -> Mapped | Rejected:
    prompt = _text(row, "question", "prompt")
    if isinstance(prompt, Rejected):
        return prompt
    solution = _text(row, "answer", "answer")
    if isinstance(solution, Rejected):
        return solution
    gold = gsm8k_gold(solution)
    if gold is None:
        return Rejected("no_gold", "column 'answer' has no '#### <answer>' line")
    return Mapped(prompt, gold)


def _map_boxed_solution(row: dict[str, Any], answer_column: str | None) -> Mapped | Rejected:
    prompt = _text(row, "problem", "prompt")
    if isinstance(prompt, Rejected):
        return prompt
    if answer_column and row.get(answer_column) not in (None, ""):
        answer = _text(row, answer_column, "answer")
        return answer if isinstance(answer, Rejected) else Mapped(prompt, answer.strip())
    solution = _text(row, "solution", "answer")
    if isinstance(solution, Rejected):
        return solution
    gold = last_boxed(solution)
    if gold is None:
        return Rejected("no_gold", "column 'solution' has no \\boxed{} answer")
    return Mapped(prompt, gold)


def _map_math(row: dict[str, Any]) -> Mapped | Rejected:
    return _map_boxed_solution(row, "answer")


def _map_numina(row: dict[str, Any]) -> Mapped | Rejected:
    return _map_boxed_solution(row, None)


def _map_answer(row: dict[str, Any]) -> Mapped | Rejected:
    prompt = _text(row, "problem", "prompt")
    if isinstance(prompt, Rejected):
        return prompt
    answer = _text(row, "answer", "answer")
    return answer if isinstance(answer, Rejected) else Mapped(prompt, answer.strip())


LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _choices(value: Any) -> tuple[list[str], list[str]] | Rejected:
    """Choice texts and their labels: a list (labels A, B, ...) or ARC's {"text", "label"}."""
    if isinstance(value, dict) and isinstance(value.get("text"), list):
        texts, labels = value["text"], value.get("label") or list(LETTERS[: len(value["text"])])
    elif isinstance(value, list):
        texts, labels = value, list(LETTERS[: len(value)])
    else:
        return Rejected("bad_choices", f"column 'choices' is a {type(value).__name__}, expected a list")
    if not 2 <= len(texts) <= len(LETTERS) or len(labels) != len(texts):
        return Rejected("bad_choices", f"{len(texts)} choices with {len(labels)} labels")
    if not all(isinstance(t, (str, int, float)) and str(t).strip() for t in texts):
        return Rejected("bad_choices", "a choice is empty or not text")
    return [str(t).strip() for t in texts], [str(label).strip() for label in labels]


def _map_mc(row: dict[str, Any]) -> Mapped | Rejected:
    question = _text(row, "question", "prompt")
    if isinstance(question, Rejected):
        return question
    choices = _choices(row.get("choices"))
    if isinstance(choices, Rejected):
        return choices
    texts, labels = choices
    answer = row.get("answer", row.get("answerKey"))
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        return Rejected("missing_answer", "columns 'answer' / 'answerKey' are missing or empty")
    # The gold is always a letter A, B, ... in the order shown, whatever the source labels were.
    if isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < len(texts):
        index = answer
    elif isinstance(answer, str) and answer.strip() in labels:
        index = labels.index(answer.strip())
    elif isinstance(answer, str) and answer.strip().upper() in LETTERS[: len(texts)]:
        index = LETTERS.index(answer.strip().upper())
    else:
        return Rejected("no_gold", f"answer {answer!r} names none of the {len(texts)} choices")
    lines = "\n".join(f"{LETTERS[i]}. {text}" for i, text in enumerate(texts))
    return Mapped(f"{question.strip()}\n\n{lines}", LETTERS[index], {"choices": texts})


def _map_code(row: dict[str, Any]) -> Mapped | Rejected:
    prompt = _text(row, "prompt", "prompt")
    if isinstance(prompt, Rejected):
        return prompt
    tests = row.get("tests")
    if tests is None:
        return Rejected("missing_answer", "column 'tests' is missing or null")
    if isinstance(tests, (list, dict)):
        if not tests:
            return Rejected("empty_answer", "column 'tests' is empty")
        return Mapped(prompt, json.dumps(tests, ensure_ascii=False))
    if isinstance(tests, str) and tests.strip():
        return Mapped(prompt, tests)
    return Rejected("bad_tests", f"column 'tests' is an empty or non-text {type(tests).__name__}")


PRESETS: dict[str, Preset] = {
    "gsm8k": Preset(("question", "answer"), (("question",), ("answer",)), "math", "math", _map_gsm8k),
    "math": Preset(("problem", "solution", "answer"), (("problem",), ("solution", "answer")), "math", "math", _map_math),
    "numina": Preset(("problem", "solution"), (("problem",), ("solution",)), "math", "math", _map_numina),
    "answer": Preset(("problem", "answer"), (("problem",), ("answer",)), "math", "math", _map_answer),
    "mc": Preset(("question", "choices", "answer", "answerKey"), (("question",), ("choices",), ("answer", "answerKey")),
                 "mc", "multiple_choice", _map_mc),
    "code": Preset(("prompt", "tests"), (("prompt",), ("tests",)), "code", "code", _map_code),
}

# The domain a custom mapping's records get, from the verifier that checks them: the verifier's
# own name (math, code, a new verifier's), except for these.
VERIFIER_DOMAINS = {"numeric": "math", "mc": "multiple_choice", "exact": "text"}


def column_preset(prompt_col: str, answer_col: str, answer_regex: str | None, verifier: str) -> Preset:
    """A mapping given by flags: --prompt-col, --answer-col, --answer-regex, --verifier."""
    chosen(VERIFIERS, verifier, "verifier", "--verifier:")
    pattern = _compile_answer_regex(answer_regex) if answer_regex else None

    def map_row(row: dict[str, Any]) -> Mapped | Rejected:
        prompt = _text(row, prompt_col, "prompt")
        if isinstance(prompt, Rejected):
            return prompt
        answer = _text(row, answer_col, "answer")
        if isinstance(answer, Rejected):
            return answer
        if pattern is None:
            return Mapped(prompt, answer.strip())
        match = pattern.search(answer)
        if not match or not match.group(1).strip():
            return Rejected("no_gold", f"--answer-regex {answer_regex!r} does not match column {answer_col!r}")
        return Mapped(prompt, match.group(1).strip())

    return Preset((prompt_col, answer_col), ((prompt_col,), (answer_col,)), verifier,
                  VERIFIER_DOMAINS.get(verifier, verifier), map_row)


def _compile_answer_regex(answer_regex: str) -> re.Pattern[str]:
    try:
        pattern = re.compile(answer_regex, re.DOTALL)
    except re.error as exc:
        raise AssayError(f"--answer-regex {answer_regex!r} is not a valid regular expression: {exc}") from None
    if pattern.groups != 1:
        raise AssayError(f"--answer-regex {answer_regex!r} must have exactly one capture group, has {pattern.groups}")
    return pattern


def resolve_preset(
    preset: str | None,
    prompt_col: str | None,
    answer_col: str | None,
    answer_regex: str | None,
    verifier: str | None,
) -> Preset:
    """A named preset, or a mapping from flags; a preset with flags is an error (say which wins)."""
    flags = {"--prompt-col": prompt_col, "--answer-col": answer_col, "--answer-regex": answer_regex, "--verifier": verifier}
    given = [name for name, value in flags.items() if value]
    if preset:
        mapping = chosen(PRESETS, preset, "preset", "--preset:")
        if given:
            raise AssayError(f"--preset {preset} fixes the column mapping; drop {', '.join(given)} or the preset")
        return mapping
    if not prompt_col or not answer_col:
        raise AssayError(
            f"say how to read the rows: --preset ({', '.join(PRESETS)}) or --prompt-col and --answer-col"
        )
    return column_preset(prompt_col, answer_col, answer_regex, verifier or "math")
