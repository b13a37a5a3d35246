"""assay's verifiers as reward functions for other trainers, reading the shards assay exports.

- verl (`assay export --format verl`): its batch reward manager calls
  `verl_compute_scores(data_sources, solution_strs, ground_truths, extra_infos)`; point
  `custom_reward_function.path` at this file and `.name` at `verl_compute_scores`, with
  `reward_model.reward_manager=batch`. The verifier and its options come from `extra_info`.
- TRL (`assay export --format trl`): pass `trl_reward` in `GRPOTrainer(reward_funcs=[...])`;
  TRL hands it the completions and the dataset's `answer`, `verifier` and `verifier_options`
  columns as keyword lists.

Both score a whole batch through `verify_batch`, so model output is checked in worker
processes with killable timeouts, never in the trainer's process. The score is the Verdict's
(1.0 correct, 0.0 otherwise; code: the share of tests passed).

Example:
    >>> verl_compute_scores(["arithmetic"], ["3+4=7 \\\\boxed{7}"], ["7"], [{"verifier": "math", "verifier_options": "{}"}])
    [1.0]
    >>> trl_reward([[{"role": "user", "content": "Compute 3+4."}]], [[{"role": "assistant", "content": "\\\\boxed{8}"}]],
    ...            answer=["7"], verifier=["math"], verifier_options=["{}"])
    [0.0]
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from assay.verifiers import verify_batch


def _options(raw: Any) -> dict[str, Any]:
    # Exports store options as a JSON string: parquet cannot hold a free-form dict per row.
    return json.loads(raw) if isinstance(raw, str) and raw else dict(raw or {})


def verl_compute_scores(data_sources: Sequence[str], solution_strs: Sequence[str], ground_truths: Sequence[str],
                        extra_infos: Sequence[dict[str, Any] | None], **kwargs: Any) -> list[float]:
    infos = [info or {} for info in extra_infos]
    items = [{"response": response, "gold": gold, "verifier": info.get("verifier") or "math",
              "options": _options(info.get("verifier_options"))}
             for response, gold, info in zip(solution_strs, ground_truths, infos, strict=True)]
    return [v.score for v in verify_batch(items)]


def _text(completion: Any) -> str:
    # Conversational datasets give each completion as a list of messages; plain ones as text.
    return completion[-1]["content"] if isinstance(completion, list) else completion


def trl_reward(prompts: Sequence[Any], completions: Sequence[Any], answer: Sequence[str], verifier: Sequence[str],
               verifier_options: Sequence[str], **kwargs: Any) -> list[float]:
    items = [{"response": _text(c), "gold": gold, "verifier": name, "options": _options(options)}
             for c, gold, name, options in zip(completions, answer, verifier, verifier_options, strict=True)]
    return [v.score for v in verify_batch(items)]
