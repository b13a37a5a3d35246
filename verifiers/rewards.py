"""assay's verifiers as reward functions for TRL, verl and OpenRLHF, reading the shards
`assay export` writes.

| trainer  | export               | entry point (this file)                                   | called with              |
|----------|----------------------|-----------------------------------------------------------|--------------------------|
| TRL      | `--format trl`       | `trl_reward`, in `GRPOTrainer(reward_funcs=[...])`        | a batch of completions   |
| verl     | `--format verl`      | `compute_score` (naive and dapo managers)                 | one response             |
| verl     | `--format verl`      | `compute_score_async`: concurrent calls become one batch  | one response, awaited    |
| OpenRLHF | `--format openrlhf`  | `reward_func`, this file as `--remote_rm_url`             | queries, prompts, labels |

The verifier and its options travel with each row (TRL's `verifier` and `verifier_options`
columns, verl's `extra_info`, OpenRLHF's JSON `label`); a row without them is checked with
the `math` verifier. A row may name an installed plug-in (an entry point of group
assay.verifiers, README: Your own reward), never a package.module:function to import. The score is the Verdict's: 1.0 correct, 0.0 otherwise (code: the share
of tests passed). That partial credit is handed out here only: assay's own trainer trains on
`assay.verifiers.reward`, 1.0 for a solve and 0.0 otherwise.

Every call checks model output in this process's verifier pool (assay.verifiers.runner):
fresh interpreters that never import the calling script, so a TRL script without an
`if __name__ == "__main__"` guard, one that imports torch first, torchrun ranks, Ray actors
and Dask workers all get the verdicts `assay verify` gives. Budgets are CPU seconds of a
worker, so a busy machine slows rewards down but does not change them.

**No silent zeros.** A reward that cannot be given raises `RewardError` instead of scoring 0:
when the pool cannot run (its workers cannot start), when every verdict of a call of two or
more items is a timeout or an error, or when timeouts and errors exceed `max_failed` (default
5%) of the last WINDOW verdicts this process scored, once at least MIN_VERDICTS have been.
An isolated timeout (a pathological output) is still a 0 for that one sample.

Settings, read from the environment at each call (they reach Ray and Dask workers started on
the same machine): ASSAY_REWARD_WORKERS (verifier processes; default min(4, CPUs)),
ASSAY_REWARD_TIMEOUT_S (CPU seconds per item; default 2), ASSAY_REWARD_MAX_FAILED (share;
default 0.05). What a call costs: the first call in a process starts its workers (about a
second each: they import and warm sympy); after that a math item takes about a millisecond
of a worker's CPU, and a one-item call a round trip to a warm worker.

Example:
    >>> compute_score("arithmetic", "3+4=7 \\\\boxed{7}", "7", {"verifier": "math", "verifier_options": "{}"})
    1.0
    >>> trl_reward([[{"role": "user", "content": "Compute 3+4."}]], [[{"role": "assistant", "content": "\\\\boxed{8}"}]],
    ...            answer=["7"], verifier=["math"], verifier_options=["{}"])
    [0.0]
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections import deque
from typing import Any, Mapping, NamedTuple, Sequence

from assay.verifiers import DEFAULT_TIMEOUT_S, Check, verify_batch
from assay.verifiers.runner import default_workers

FAILED = ("timeout", "error")  # statuses that mean no verdict was given
WINDOW = 1000  # recent verdicts whose failure share is checked
MIN_VERDICTS = 20  # the share is checked once this many verdicts are in the window
MAX_FAILED = 0.05  # default largest share of timeouts and errors
MAX_WORKERS = 4  # default verifier processes per calling process (each trainer rank has its own)
BATCH_LINGER_S = 0.005  # compute_score_async waits this long for more calls to join its batch


class RewardError(RuntimeError):
    """Rewards could not be given; the message says why and what to change."""


# No dataclasses in this file: verl and OpenRLHF load it by path without registering it in
# sys.modules, where @dataclass cannot resolve its annotations.
class RewardSettings(NamedTuple):
    workers: int
    timeout_s: float
    max_failed: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "RewardSettings":
        """ASSAY_REWARD_WORKERS, ASSAY_REWARD_TIMEOUT_S and ASSAY_REWARD_MAX_FAILED, or the defaults."""
        workers = _setting(env, "ASSAY_REWARD_WORKERS", int, min(MAX_WORKERS, default_workers()))
        timeout_s = _setting(env, "ASSAY_REWARD_TIMEOUT_S", float, DEFAULT_TIMEOUT_S)
        max_failed = _setting(env, "ASSAY_REWARD_MAX_FAILED", float, MAX_FAILED)
        if workers < 1 or not timeout_s > 0 or not 0 <= max_failed <= 1:
            raise RewardError(f"ASSAY_REWARD_WORKERS must be >= 1, ASSAY_REWARD_TIMEOUT_S > 0 and ASSAY_REWARD_MAX_FAILED "
                              f"in [0, 1]; got {workers}, {timeout_s}, {max_failed}")
        return cls(workers, timeout_s, max_failed)


def _setting(env: Mapping[str, str], name: str, kind: type, default: Any) -> Any:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise RewardError(f"{name}={raw!r} is not a {kind.__name__}") from None


class _Recent:
    """The statuses of this process's last WINDOW verdicts, shared by every entry point."""

    def __init__(self) -> None:
        self.statuses: deque[str] = deque(maxlen=WINDOW)
        self.lock = threading.Lock()

    def add(self, statuses: Sequence[str], max_failed: float) -> None:
        """Record a call's statuses; RewardError when they show verdicts are not being given."""
        failed = sum(s in FAILED for s in statuses)
        with self.lock:
            self.statuses.extend(statuses)
            window = len(self.statuses)
            in_window = sum(s in FAILED for s in self.statuses)
        if len(statuses) >= 2 and failed == len(statuses):
            raise RewardError(f"every one of {len(statuses)} verdicts was a timeout or an error: the verifiers are not "
                              f"giving verdicts, so no rewards are returned (raise ASSAY_REWARD_TIMEOUT_S if outputs are long)")
        if window >= MIN_VERDICTS and in_window > max_failed * window:
            raise RewardError(f"{in_window} of the last {window} verdicts were timeouts or errors, over "
                              f"ASSAY_REWARD_MAX_FAILED={max_failed:g}: rewards would be silently wrong "
                              f"(raise ASSAY_REWARD_TIMEOUT_S, or ASSAY_REWARD_MAX_FAILED to accept them as 0)")


_RECENT = _Recent()


def score(items: Sequence[Check], settings: RewardSettings | None = None) -> list[float]:
    """The verdicts' scores for `items`, or RewardError."""
    settings = settings or RewardSettings.from_env()
    try:
        verdicts = verify_batch(items, workers=settings.workers, timeout_s=settings.timeout_s)
    except ValueError:
        raise  # an unknown verifier name or bad options: the data's fault, said as such
    except Exception as exc:  # noqa: BLE001 - any failure of the pool means no verdicts
        raise RewardError(f"the verifier pool failed, so no rewards are returned: {type(exc).__name__}: {exc}") from exc
    _RECENT.add([v.status for v in verdicts], settings.max_failed)
    return [v.score for v in verdicts]


def _options(raw: Any) -> dict[str, Any]:
    # Exports store options as a JSON string: parquet cannot hold a free-form dict per row.
    return json.loads(raw) if isinstance(raw, str) and raw else dict(raw or {})


def _item(response: Any, gold: Any, verifier: Any, options: Any) -> Check:
    return Check(response, gold, verifier or "math", _options(options))


# -- TRL ------------------------------------------------------------------------------------------


def _text(completion: Any) -> Any:
    # Conversational datasets give each completion as a list of messages; plain ones as text.
    return completion[-1]["content"] if isinstance(completion, list) else completion


def trl_reward(prompts: Sequence[Any], completions: Sequence[Any], answer: Sequence[str], verifier: Sequence[str],
               verifier_options: Sequence[str], **kwargs: Any) -> list[float]:
    """TRL's reward-function form: the completions and the dataset's columns as keyword lists."""
    return score([_item(_text(c), gold, name, options)
                  for c, gold, name, options in zip(completions, answer, verifier, verifier_options, strict=True)])


# -- verl -----------------------------------------------------------------------------------------


def _verl_item(solution_str: Any, ground_truth: Any, extra_info: Mapping[str, Any] | None) -> Check:
    info = extra_info or {}
    return _item(solution_str, ground_truth, info.get("verifier"), info.get("verifier_options"))


def compute_score(data_source: str, solution_str: str, ground_truth: str, extra_info: Mapping[str, Any] | None = None,
                  **kwargs: Any) -> float:
    """verl's per-sample form (`reward.custom_reward_function.name=compute_score`, the naive and
    dapo managers). `data_source` is not used: the verifier comes from `extra_info`."""
    return score([_verl_item(solution_str, ground_truth, extra_info)])[0]


class _Batches:
    """compute_score_async's pending calls, per event loop: every call that arrives within
    BATCH_LINGER_S of the first is verified in one verify_batch, off the loop's thread."""

    def __init__(self) -> None:
        self.pending: dict[asyncio.AbstractEventLoop, list[tuple[Check, asyncio.Future]]] = {}

    async def submit(self, item: Check) -> float:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        batch = self.pending.setdefault(loop, [])
        batch.append((item, future))
        if len(batch) == 1:
            loop.create_task(self.flush(loop))
        return await future

    async def flush(self, loop: asyncio.AbstractEventLoop) -> None:
        await asyncio.sleep(BATCH_LINGER_S)
        batch = self.pending.pop(loop)
        try:
            scores = await loop.run_in_executor(None, score, [item for item, _ in batch])
        except BaseException as exc:  # noqa: BLE001 - every waiting call gets the failure
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), value in zip(batch, scores):
            if not future.done():
                future.set_result(value)


_BATCHES = _Batches()


async def compute_score_async(data_source: str, solution_str: str, ground_truth: str,
                              extra_info: Mapping[str, Any] | None = None, **kwargs: Any) -> float:
    """verl's per-sample form, awaited (`reward.custom_reward_function.name=compute_score_async`):
    verl's reward loop awaits a batch's samples together, and they are verified as one batch."""
    return await _BATCHES.submit(_verl_item(solution_str, ground_truth, extra_info))


# -- OpenRLHF -------------------------------------------------------------------------------------


def _openrlhf_item(query: str, prompt: str, label: Any) -> Check:
    """OpenRLHF gives the whole decoded sequence (prompt, then response) as `query`, and the
    dataset's label: assay's JSON label, a dict like it, or a bare gold (math verifier)."""
    if isinstance(label, str) and label.startswith("{"):
        label = json.loads(label)
    if not isinstance(label, Mapping):
        label = {"answer": label}
    if not query.startswith(prompt):
        response = None  # scored as an error verdict: the response cannot be told from the prompt
    else:
        response = query[len(prompt):]
    return _item(response, label.get("answer"), label.get("verifier"), label.get("verifier_options"))


def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any], **kwargs: Any) -> dict[str, Any]:
    """OpenRLHF's `--remote_rm_url /path/to/rewards.py` form: {"rewards", "scores", "extra_logs"}
    with one float per query (torch tensors, as OpenRLHF expects)."""
    import torch  # OpenRLHF always has it; assay.verifiers does not need it otherwise

    scores = torch.tensor(score([_openrlhf_item(q, p, label) for q, p, label in zip(queries, prompts, labels, strict=True)]),
                          dtype=torch.float32)
    return {"rewards": scores, "scores": scores, "extra_logs": {}}
