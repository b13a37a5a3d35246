"""Checkpoint and resume: 3 steps straight equal 1 step, a checkpoint, and 2 resumed steps,
bit for bit (losses, weights, optimizer, sampler); a checkpoint of other settings is refused."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from assay.curricula.arithmetic import ArithmeticSpec, generate_arithmetic
from assay.curricula.sampler import OnlineSampler, SamplerConfig, SamplerItem
from assay.trainers.engines import SamplingConfig, TransformersEngine
from assay.trainers.grpo import OPTIMIZER_FILE, STATE_FILE, GRPOConfig, TrainError, train
from assay.trainers.rollout import Prompt

# One-operation problems: the toy solves about half, so groups have reward variance to learn from.
PROMPTS = [Prompt(f"p{i}", p.prompt, p.answer, "math") for i, p in enumerate(generate_arithmetic(8, 3, ArithmeticSpec(max_steps=1)))]
# Two optimizer steps per batch (the second off-policy, so clipping acts), gradient
# accumulation over micro-batches of 6, and a KL to the reference: every stateful part runs.
CONFIG = GRPOConfig(steps=3, lr=3e-4, updates_per_batch=2, micro_batch=6, kl_coef=0.05, max_tokens=40, eval_every=0,
                    verifier_workers=1)


def run(steps, out, resume_from=None):
    torch.set_num_threads(1)
    sampler = OnlineSampler([SamplerItem(p.uid) for p in PROMPTS], SamplerConfig(prompts_per_batch=4, rollouts_per_batch=16, seed=5))
    history = []
    result = train("toy", PROMPTS, sampler, TransformersEngine("toy", device="cpu"), GRPOConfig(**{**CONFIG.__dict__, "steps": steps}),
                   on_metrics=history.append, checkpoint_dir=out, resume_from=resume_from)
    return result, history, sampler


@pytest.mark.slow
def test_resume_continues_exactly(tmp_path):
    straight, straight_log, straight_sampler = run(3, tmp_path / "a")
    first, _, _ = run(1, tmp_path / "b")
    assert first.checkpoint == tmp_path / "b" / "step-000001"
    saved = json.loads((first.checkpoint / STATE_FILE).read_text())
    assert saved["step"] == 1 and saved["config"]["updates_per_batch"] == 2
    resumed, resumed_log, resumed_sampler = run(3, tmp_path / "b", resume_from=first.checkpoint)
    # The resumed run reports only its own steps; its result carries the whole history.
    assert [m["step"] for m in resumed_log] == [2, 3]
    # JSON text compares the nan of a ratio with no denominator equal to itself.
    assert json.dumps(resumed.history, sort_keys=True) == json.dumps(straight.history, sort_keys=True)
    assert [m["loss"] for m in resumed_log] == [m["loss"] for m in straight_log[1:]]
    assert any(m["clip_fraction"] > 0 for m in straight.history)  # the off-policy update was clipped somewhere
    a, b = load_file(straight.checkpoint / "model.safetensors"), load_file(resumed.checkpoint / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["model.norm.weight"], load_file(first.checkpoint / "model.safetensors")["model.norm.weight"])
    opt_a = torch.load(straight.checkpoint / OPTIMIZER_FILE, weights_only=True)
    opt_b = torch.load(resumed.checkpoint / OPTIMIZER_FILE, weights_only=True)
    assert all(torch.equal(opt_a["state"][k]["exp_avg"], opt_b["state"][k]["exp_avg"]) for k in opt_a["state"])
    assert straight_sampler.state_dict() == resumed_sampler.state_dict()
    # The checkpoint folder is a model folder any engine loads.
    assert TransformersEngine(resumed.checkpoint, device="cpu").generate(["Compute 1+1."], 1, SamplingConfig(temperature=0.0, max_tokens=16))[0][0].text


def test_resume_with_other_settings_is_refused(tmp_path):
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / STATE_FILE).write_text(json.dumps({"config": {**CONFIG.__dict__, "lr": 1.0}}))
    sampler = OnlineSampler([SamplerItem(p.uid) for p in PROMPTS], SamplerConfig(prompts_per_batch=4, rollouts_per_batch=16))
    with pytest.raises(TrainError, match=r"other settings \(lr\)"):
        train("toy", PROMPTS, sampler, TransformersEngine("toy", device="cpu"), CONFIG, resume_from=tmp_path / "ck")
    with pytest.raises(TrainError, match="not a trainer checkpoint"):
        train("toy", PROMPTS, sampler, TransformersEngine("toy", device="cpu"), CONFIG, resume_from=tmp_path)


def test_a_resumed_run_may_change_how_it_verifies_and_nothing_else(tmp_path):
    from dataclasses import asdict, replace

    from assay.trainers.grpo import _check_resumable

    saved = asdict(CONFIG)
    # A run stopped by verifier timeouts resumes with a longer timeout, a new share or fewer workers.
    _check_resumable(saved, replace(CONFIG, verifier_timeout_s=30.0, max_verifier_failures=0.2, verifier_workers=2, steps=9), tmp_path)
    # A checkpoint written before the verification settings existed holds their defaults.
    older = {k: v for k, v in saved.items() if k not in ("verifier_timeout_s", "max_verifier_failures")}
    _check_resumable(older, CONFIG, tmp_path)
    with pytest.raises(TrainError, match=r"other settings \(clip_high, lr\)"):
        _check_resumable(saved, replace(CONFIG, lr=1.0, clip_high=0.5, verifier_timeout_s=30.0), tmp_path)
