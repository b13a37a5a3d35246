"""The toy's training script: it writes a loadable checkpoint, and a rerun is bit-identical."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from assay.trainers.engines import SamplingConfig, TransformersEngine
from assay.trainers.toy.train import Args, build_tokenizer, train


@pytest.mark.slow
def test_tiny_training_run_is_reproducible_and_loadable(tmp_path):
    args = dict(steps=3, train_problems=300, batch_size=8, eval_every=0)
    a = train(Args(out=str(tmp_path / "a"), **args))
    b = train(Args(out=str(tmp_path / "b"), **args))
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    engine = TransformersEngine(a, device="cpu")
    out = engine.generate(["Compute 1+2."], 2, SamplingConfig(max_tokens=5))
    assert len(out[0]) == 2 and all(1 <= c.tokens <= 5 for c in out[0])


def test_training_format_matches_the_engine_prompt():
    tok = build_tokenizer()
    text = tok.apply_chat_template([{"role": "user", "content": "Compute 4*2."}], add_generation_prompt=True, tokenize=False)
    assert text == "<bos><|user|>Compute 4*2.<|assistant|>"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert ids[:2] == [tok.bos_token_id, tok.convert_tokens_to_ids("<|user|>")]
    assert len(ids) == 2 + len("Compute 4*2.") + 1
