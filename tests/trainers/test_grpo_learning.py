"""GRPO learns on the built-in corpus with the toy policy, and the random-reward control does not.

The prompts are the built-in corpus's additions and subtractions of up to three operations
(`generate_arithmetic(4000, 0)`, what `assay ingest builtin:arithmetic --count 4000` holds):
short completions, so a run takes a minute or two on one core, and working the toy mostly gets
right, so most of its errors there are slipped final answers (assay.trainers.toy: a quarter of
the solutions of its last training steps end in one). A slip is the same flaw on every
problem, so removing it shows on problems never trained on. Each prompt is drawn about once:
what rises on the held-out set is not memorized answers.

The held-out set is the built-in evaluation set's problems of the same kind (another seed,
no prompt shared), 150 prompts x 4 samples at temperature 1, one fixed sampling seed.
"""

from __future__ import annotations

import pytest
import torch

from assay.curricula.arithmetic import generate_arithmetic
from assay.curricula.sampler import OnlineSampler, SamplerConfig, SamplerItem
from assay.pipelines.steps.ingest import EVAL_SEED
from assay.trainers.engines import TransformersEngine
from assay.trainers.grpo import GRPOConfig, train
from assay.trainers.rollout import Prompt


def _slice(problems):
    return [p for p in problems if p.steps <= 3 and "*" not in p.prompt]


def learning_run(reward: str, seed: int = 0, steps: int = 20) -> tuple[float, float]:
    """Held-out pass@1 before and after `steps` GRPO steps with the given reward."""
    torch.set_num_threads(1)
    corpus = [Prompt(f"c{i}", p.prompt, p.answer, "math") for i, p in enumerate(_slice(generate_arithmetic(4000, 0)))]
    seen = {p.prompt for p in corpus}
    held_out = [Prompt(f"e{i}", p.prompt, p.answer, "math") for i, p in enumerate(_slice(generate_arithmetic(1500, EVAL_SEED)))
                if p.prompt not in seen][:150]
    sampler = OnlineSampler([SamplerItem(p.uid) for p in corpus],
                            SamplerConfig(strategy="uniform", allocation="equal", prompts_per_batch=16, rollouts_per_batch=128, seed=seed))
    # lr 3e-5: at 1e-4 held-out accuracy falls (the toy's landscape is sharp; along one batch's
    # gradient it peaks after a step of about 0.02 in L2 over its 1.06M weights).
    config = GRPOConfig(steps=steps, lr=3e-5, updates_per_batch=2, max_tokens=64, eval_every=0, eval_k=4, seed=seed,
                        reward=reward, verifier_workers=1)
    result = train("toy", corpus, sampler, TransformersEngine("toy", device="cpu"), config, held_out)
    return result.evals[0].pass_at_1, result.evals[-1].pass_at_1


# One standard error of a 600-sample pass@1 near 0.45: sqrt(0.45 * 0.55 / 600) = 0.020. The
# step-0 and final evaluations share their sampling seed, so their difference is no noisier.
NOISE = 0.02


@pytest.mark.slow
def test_random_rewards_do_not_raise_held_out_accuracy():
    # The spurious-reward control (Shao et al. 2025) on a clean corpus: fair coins instead of
    # the verifier. Measured: 0.380 -> 0.335 (at steps 5, 10, 15: 0.377, 0.353, 0.320).
    before, after = learning_run("random")
    assert after - before <= NOISE


@pytest.mark.slow
def test_grpo_raises_held_out_accuracy():
    # Measured: 0.380 -> 0.483 (at steps 5, 10, 15: 0.432, 0.450, 0.467). Before the toy's
    # slipped-answer training steps, the same run gained +0.007 (and +0.025 in 40 steps).
    before, after = learning_run("verifier")
    assert after - before >= 2 * NOISE
