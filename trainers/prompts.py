"""How a prompt becomes the model's input: an optional system turn, and an instruction added
to the user turn.

The template is chosen at export (`assay export --system-prompt/--instruction/--instruction-position`),
written into the chat messages of the verl, TRL and OpenRLHF layouts, recorded in the
shards' manifest, and applied by `assay train`'s rollout engines to every prompt, training
and held-out alike, so a policy trained by assay and one trained by another trainer on the
same export see the same text. The empty template leaves a prompt as one user turn, as
before templates existed.

A tokenizer with a chat template renders `messages(prompt)`; one without gets `plain(prompt)`
(the system text, a blank line, the user text) with its own special tokens.

Example:
    >>> t = PromptTemplate(system="Be brief.", instruction="Put the final answer in \\\\boxed{}.")
    >>> t.messages("Compute 3+4.")[1]["content"]
    'Compute 3+4.\\n\\nPut the final answer in \\\\boxed{}.'
    >>> PromptTemplate(instruction="Solve:", position="prepend").user("Compute 3+4.")
    'Solve:\\n\\nCompute 3+4.'
    >>> PromptTemplate().messages("Compute 3+4.")
    [{'role': 'user', 'content': 'Compute 3+4.'}]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

from assay.verifiers.names import choose, names_help

SEPARATOR = "\n\n"  # between an instruction and the prompt, and between system and user text in plain form

# Where the instruction goes in the user turn.
POSITIONS: dict[str, Callable[[str, str], str]] = {
    "append": lambda prompt, instruction: f"{prompt}{SEPARATOR}{instruction}",
    "prepend": lambda prompt, instruction: f"{instruction}{SEPARATOR}{prompt}",
}


class TemplateError(ValueError):
    """A template setting that cannot be used; the message names it."""


@dataclass(frozen=True)
class PromptTemplate:
    system: str | None = field(default=None, metadata={"help": "A system turn before every prompt."})
    instruction: str | None = field(default=None, metadata={
        "help": "Text added to every prompt's user turn, e.g. 'Put the final answer in \\boxed{}.'"})
    position: str = field(default="append", metadata={
        "help": f"Where the instruction goes in the user turn: {names_help(POSITIONS)}."})

    def __post_init__(self) -> None:
        choose(POSITIONS, self.position, "instruction position")
        for name in ("system", "instruction"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise TemplateError(f"the {name} text must be non-empty text, got {value!r}")

    @property
    def empty(self) -> bool:
        return self.system is None and self.instruction is None

    def user(self, prompt: str) -> str:
        """The user turn's text."""
        return prompt if self.instruction is None else POSITIONS[self.position](prompt, self.instruction)

    def messages(self, prompt: str) -> list[dict[str, str]]:
        """The chat messages of one prompt: [system], user."""
        system = [{"role": "system", "content": self.system}] if self.system is not None else []
        return system + [{"role": "user", "content": self.user(prompt)}]

    def plain(self, prompt: str) -> str:
        """The prompt as text for a tokenizer without a chat template."""
        return self.user(prompt) if self.system is None else f"{self.system}{SEPARATOR}{self.user(prompt)}"

    def to_dict(self) -> dict[str, Any]:
        """The manifest's record: {} for the empty template."""
        return {} if self.empty else asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> "PromptTemplate":
        try:
            return cls(**dict(raw or {}))
        except TypeError as exc:
            raise TemplateError(f"not a prompt template: {raw!r} ({exc})") from None


def encode_prompt(tokenizer: Any, prompt: str, template: PromptTemplate, chat: bool = True) -> list[int]:
    """Prompt text -> the token ids a model sees: the chat template (with the generation
    prompt) when the tokenizer has one and `chat`, else the plain text with the tokenizer's own
    special tokens (e.g. a BOS)."""
    if chat and tokenizer.chat_template:
        text = tokenizer.apply_chat_template(template.messages(prompt), add_generation_prompt=True, tokenize=False)
        return tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
    # verbose=False: an over-long prompt is reported as Skipped, not as a tokenizer warning.
    return tokenizer(template.plain(prompt), verbose=False)["input_ids"]
