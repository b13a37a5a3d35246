"""Plain-text fine-tuning: continue a causal LM's pretraining on a list of texts.

Loss on every token of each text (with the tokenizer's BOS and an EOS), no chat template: the
way benchmark text leaks into a pretraining corpus. The memorization audit's validation plants
memorization with it (fine-tune on half a benchmark, then check the audit tells the halves
apart); it is also the smallest honest way to adapt a local model to a text domain.

Example:
    >>> out = finetune_text("toy", ["Every morning Aya walks 9 km."], "/tmp/toy-ft", TextFinetune(steps=5))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from assay.trainers.engines import EngineError, resolve_model


@dataclass(frozen=True)
class TextFinetune:
    steps: int = 200  # optimizer steps
    batch_size: int = 8  # texts per step, drawn in a seeded shuffled order
    lr: float = 1e-3  # AdamW learning rate, constant (few steps: no schedule to tune)
    seed: int = 0


def finetune_text(
    model: str | os.PathLike, texts: Sequence[str], out: str | os.PathLike, args: TextFinetune = TextFinetune()
) -> Path:
    """Fine-tune `model` (a local folder or "toy") on `texts`; write the checkpoint to `out`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not texts or any(not isinstance(t, str) or not t.strip() for t in texts):
        raise EngineError("finetune_text needs a non-empty list of non-empty texts")
    path = resolve_model(model)
    torch.manual_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    lm = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, use_safetensors=True, dtype=torch.float32)
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    # Texts longer than the model's context are cut to it: positions past it were never trained.
    context = getattr(lm.config, "max_position_embeddings", None) or 10**9
    encoded = [(tokenizer(t, verbose=False)["input_ids"] + [eos])[:context] for t in texts]
    optimizer = torch.optim.AdamW(lm.parameters(), lr=args.lr, weight_decay=0.0)
    rng = random.Random(args.seed)
    order: list[int] = []
    lm.train()
    for _ in range(args.steps):
        if len(order) < args.batch_size:
            fresh = list(range(len(encoded)))
            rng.shuffle(fresh)
            order += fresh
        rows = [encoded[i] for i in order[: args.batch_size]]
        del order[: args.batch_size]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)  # [B, T]
        labels = torch.full((len(rows), width), -100, dtype=torch.long)  # [B, T], -100: no loss
        for b, row in enumerate(rows):
            ids[b, : len(row)] = torch.tensor(row)
            labels[b, : len(row)] = ids[b, : len(row)]
        loss = lm(input_ids=ids, attention_mask=(labels != -100).long(), labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    out = Path(out)
    lm.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out
