"""Quality and answer-type filter: length bounds, and answer forms the verifier cannot check.

Each row gets one answer form, the first of these that matches (all are RE2 regexes run by
Arrow over the whole batch, so they are linear in the text and cannot hang):

| form            | matches                                                                      |
|-----------------|------------------------------------------------------------------------------|
| proof           | the gold is a proof marker or proof text (`proof`, `QED`, `\\blacksquare`, ...), |
|                 | or the prompt asks to prove/show that ... and asks for no value              |
| multiple_choice | verifier `mc`, or the prompt lists options (A), (B), (C) (in parentheses     |
|                 | or at the start of a line), or the gold is a bare letter and the prompt      |
|                 | lists lowercase options (a), (b)                                             |
| true_false      | the gold is yes / no / true / false                                          |
| multi_part      | the gold labels two or more parts ((a) ... (b), (i) ... (ii), part 1 ...     |
|                 | part 2) or holds two \\boxed answers, or the prompt has two or more           |
|                 | line-start part labels ((a), (b) or (i), (ii))                               |
| free_form       | anything else; always `free_form` for the `code` verifier, whose gold is a   |
|                 | test suite, not an answer                                                    |

A proof or a multi-part answer can never be checked by one final-answer comparison, so those
rows are always dropped; multiple choice and true/false are checkable but guessable (a
coin flip earns reward half the time), so they are kept only when `target_forms` names them.
The detectors are heuristics for English prompts; the `answer_form` score column shows the
call for every row, kept or not, for audit.

Length bounds are on characters: the prompt always; the gold for every verifier but `code`.

Reasons: `prompt_too_short: 4 chars (min 10)`, `prompt_too_long`, `answer_too_short`,
`answer_too_long`, then the form (`proof: the prompt asks for a proof`, ...). Score
columns: `prompt_chars`, `answer_chars`, `answer_form`.

Example:
    >>> import pyarrow as pa
    >>> t = pa.table({"prompt": ["Prove that there are infinitely many primes.", "Is 91 prime? Answer yes or no.",
    ...                          "What is 6 times 7?"], "answer": ["proof", "No", "42"], "verifier": ["math"] * 3})
    >>> d = quality(t, QualityConfig())
    >>> d.reason.to_pylist()
    ['proof: the gold is a proof or a proof marker', 'true_false: the gold is yes/no or true/false (target forms: free_form)', None]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assay.filters.decision import Decision, decision_from, require_columns
from assay.verifiers.names import check_names, names_help

# Checkable forms a user may keep; proof and multi_part are never checkable.
TARGET_FORMS = ("free_form", "multiple_choice", "true_false")

_PROOF_GOLD = r"(?i)\b(?:proofs?|prove[dn]?|q\.?e\.?d\.?|see (?:the )?(?:proof|solution|explanation))\b|\\(?:blacksquare|qed|square|Box)\b|∎"
_PROOF_ASK = r"(?i)\b(?:prove|show|demonstrate|verify|justify)\s+(?:that|whether|why|rigorously)\b|^\s*(?:prove|show)\b|\bprove\s*:"
_ASKS_VALUE = r"(?i)\b(?:find|compute|calculate|determine|evaluate|what|how many|how much|solve|simplify|express)\b"
_UPPER_OPTIONS = r"(?s)(?:\(A\)|(?m:^)[ \t]*A[.):]).*(?:\(B\)|(?m:^)[ \t]*B[.):]).*(?:\(C\)|(?m:^)[ \t]*C[.):])"
_LOWER_OPTIONS = r"(?s)\(a\).*\(b\)"
_LETTER_GOLD = r"^\s*\(?[A-Za-z]\)?[.]?\s*$"
_TRUE_FALSE_GOLD = r"(?i)^[\s$*{(]*(?:\\(?:text|textbf|mathrm)\s*\{)?\s*(?:yes|no|true|false)\s*\}?[\s$*}).]*$"
_PART_LABEL_GOLD = r"(?i)\(\s*(?:[a-e]|i{1,3}|iv|v)\s*\)|\bpart\s*\(?(?:[a-e1-5]|i{1,3})\b"
_PART_LABEL_PROMPT = r"(?im)^[ \t]*(?:\(\s*(?:[a-e]|i{1,3}|iv)\s*\)|part\s*\(?(?:[a-e1-5]|i{1,3})\)?[ \t]*[:.])"


@dataclass(frozen=True)
class QualityConfig:
    min_prompt_chars: int = 10  # shorter prompts are fragments or scraping accidents
    max_prompt_chars: int = 16_000  # longer ones are pasted documents, not RL prompts
    min_answer_chars: int = 1  # the gold must say something (not for code)
    max_answer_chars: int = 200  # a longer gold is a solution or an essay, not a final answer (not for code)
    target_forms: tuple[str, ...] = ("free_form",)  # answer forms kept, from TARGET_FORMS

    def __post_init__(self) -> None:
        if not 0 <= self.min_prompt_chars <= self.max_prompt_chars:
            raise ValueError(f"quality: need 0 <= min_prompt_chars <= max_prompt_chars, got {self.min_prompt_chars}, {self.max_prompt_chars}")
        if not 0 <= self.min_answer_chars <= self.max_answer_chars:
            raise ValueError(f"quality: need 0 <= min_answer_chars <= max_answer_chars, got {self.min_answer_chars}, {self.max_answer_chars}")
        if not self.target_forms:
            raise ValueError(f"quality: target_forms must be non-empty, naming some of {names_help(TARGET_FORMS)}")
        check_names(TARGET_FORMS, self.target_forms, "target form")


def _matches(texts: pa.ChunkedArray, pattern: str) -> np.ndarray:
    return pc.match_substring_regex(texts, pattern=pattern).to_numpy(zero_copy_only=False)


def _proof_gold(prompt: pa.ChunkedArray, answer: pa.ChunkedArray, verifier: np.ndarray) -> np.ndarray:
    return _matches(answer, _PROOF_GOLD)


def _proof_prompt(prompt: pa.ChunkedArray, answer: pa.ChunkedArray, verifier: np.ndarray) -> np.ndarray:
    return _matches(prompt, _PROOF_ASK) & ~_matches(prompt, _ASKS_VALUE)


def _choices(prompt: pa.ChunkedArray, answer: pa.ChunkedArray, verifier: np.ndarray) -> np.ndarray:
    lower = _matches(prompt, _LOWER_OPTIONS) & _matches(answer, _LETTER_GOLD)
    return (verifier == "mc") | _matches(prompt, _UPPER_OPTIONS) | lower


def _yes_no(prompt: pa.ChunkedArray, answer: pa.ChunkedArray, verifier: np.ndarray) -> np.ndarray:
    return _matches(answer, _TRUE_FALSE_GOLD)


def _parts(prompt: pa.ChunkedArray, answer: pa.ChunkedArray, verifier: np.ndarray) -> np.ndarray:
    gold_parts = pc.count_substring_regex(answer, pattern=_PART_LABEL_GOLD).to_numpy(zero_copy_only=False) >= 2
    boxes = pc.count_substring(answer, pattern="\\boxed").to_numpy(zero_copy_only=False) >= 2
    prompt_parts = pc.count_substring_regex(prompt, pattern=_PART_LABEL_PROMPT).to_numpy(zero_copy_only=False) >= 2
    return gold_parts | boxes | prompt_parts


# Detectors in the order they are tried: (form, detail of the reason, detector (rows,) bool).
DETECTORS = (
    ("proof", "the gold is a proof or a proof marker", _proof_gold),
    ("proof", "the prompt asks for a proof", _proof_prompt),
    ("multiple_choice", "the prompt lists lettered options", _choices),
    ("true_false", "the gold is yes/no or true/false", _yes_no),
    ("multi_part", "the prompt or the gold has labelled parts", _parts),
)


def answer_forms(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(form, detail) per row, both (rows,) object arrays: the first detector that matches;
    `free_form` with an empty detail when none does, and always for `code` rows."""
    prompt, answer = table.column("prompt"), table.column("answer")
    verifier = table.column("verifier").to_numpy()
    form = np.full(table.num_rows, "free_form", object)
    detail = np.full(table.num_rows, "", object)
    open_ = verifier != "code"  # (rows,) no form yet
    for name, why, detect in DETECTORS:
        hit = open_ & detect(prompt, answer, verifier)
        form[hit], detail[hit] = name, why
        open_ &= ~hit
    return form, detail


def quality(table: pa.Table, config: QualityConfig = QualityConfig()) -> Decision:
    """Drop rows outside the length bounds or with an answer form not in config.target_forms.

    Needs columns prompt, answer, verifier (strings, no nulls).
    """
    require_columns(table, "quality", text=("prompt", "answer", "verifier"))
    prompt_chars = pc.utf8_length(table.column("prompt")).to_numpy().astype(np.int64)
    answer_chars = pc.utf8_length(table.column("answer")).to_numpy().astype(np.int64)
    code = table.column("verifier").to_numpy() == "code"
    form, detail = answer_forms(table)
    reason = np.full(table.num_rows, None, object)
    # Checks in reverse order of precedence: a later assignment overwrites, so the reason a
    # row shows is the first failing check in the table of the module docstring.
    for bad in np.flatnonzero(~np.isin(form, list(config.target_forms))):
        extra = f" (target forms: {', '.join(config.target_forms)})" if form[bad] in TARGET_FORMS else ""
        reason[bad] = f"{form[bad]}: {detail[bad]}{extra}"
    for name, chars, bound, ok, lengths in (
        ("answer_too_long", "max", config.max_answer_chars, code | (answer_chars <= config.max_answer_chars), answer_chars),
        ("answer_too_short", "min", config.min_answer_chars, code | (answer_chars >= config.min_answer_chars), answer_chars),
        ("prompt_too_long", "max", config.max_prompt_chars, prompt_chars <= config.max_prompt_chars, prompt_chars),
        ("prompt_too_short", "min", config.min_prompt_chars, prompt_chars >= config.min_prompt_chars, prompt_chars),
    ):
        for bad in np.flatnonzero(~ok):
            reason[bad] = f"{name}: {lengths[bad]} chars ({chars} {bound})"
    reasons = pa.array(reason.tolist(), pa.string())
    keep = reasons.is_null().to_numpy(zero_copy_only=False)
    scores = {
        "prompt_chars": pa.array(prompt_chars),
        "answer_chars": pa.array(answer_chars),
        "answer_form": pa.array(form.tolist(), pa.string()),
    }
    return decision_from(keep, reasons, scores)
