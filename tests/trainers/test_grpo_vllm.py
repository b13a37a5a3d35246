"""vLLM rollouts with the policy's weights pushed into the engine after every optimizer step, on
CUDA (bf16 autocast for the policy) or on vLLM's CPU platform (scripts/install-vllm cpu).
Runs only where vLLM can (`vllm_support`)."""

from __future__ import annotations

import pytest

from assay.curricula.arithmetic import ArithmeticSpec, generate_arithmetic
from assay.curricula.sampler import OnlineSampler, SamplerConfig, SamplerItem
from assay.trainers.engines import SamplingConfig, TransformersEngine, VLLMEngine, vllm_support
from assay.trainers.grpo import GRPOConfig, train
from assay.trainers.rollout import Prompt

SUPPORT = vllm_support()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(SUPPORT.platform is None, reason=f"neither CUDA nor vLLM's CPU platform: {SUPPORT.detail}")]

GREEDY = SamplingConfig(temperature=0.0, max_tokens=40)


def test_vllm_rollouts_follow_the_trained_policy(tmp_path):
    prompts = [Prompt(f"p{i}", p.prompt, p.answer, "math") for i, p in enumerate(generate_arithmetic(16, 3, ArithmeticSpec(max_steps=1)))]
    engine = VLLMEngine("toy", gpu_memory_utilization=0.3)
    try:
        before = engine.generate([p.prompt for p in prompts], 1, GREEDY)
        sampler = OnlineSampler([SamplerItem(p.uid) for p in prompts], SamplerConfig(prompts_per_batch=8, rollouts_per_batch=64))
        config = GRPOConfig(steps=3, lr=1e-3, max_tokens=40, eval_every=0, updates_per_batch=2)
        held_out = [Prompt(f"e{i}", p.prompt, p.answer, "math") for i, p in enumerate(generate_arithmetic(8, 99, ArithmeticSpec(max_steps=1)))
                    if p.prompt not in {q.prompt for q in prompts}]
        result = train("toy", prompts, sampler, engine, config, held_out, checkpoint_dir=tmp_path)
        assert len(result.history) == 3 and all(m["rollouts"] > 0 for m in result.history)
        after = engine.generate([p.prompt for p in prompts], 1, GREEDY)
        assert after != before  # the engine samples from the trained weights, not the shipped ones
        # The checkpoint is the policy the engine holds: greedy outputs agree (up to kernel ties).
        reference = TransformersEngine(result.checkpoint).generate([p.prompt for p in prompts], 1, GREEDY)
        same = sum(a[0].text == b[0].text for a, b in zip(after, reference))
        assert same >= 0.75 * len(prompts)
    finally:
        engine.close()
