"""verl as it is today (0.9.1): its RLHFDataset reads the verl export, and its own reward
loading path, configured with the README's keys, scores right and wrong responses with assay's
verdicts, in this process and in a Ray actor as verl's reward loop runs it.

verl pins transformers below 5.11, so .ci/run installs it in a virtual environment of its own
and runs this file there; elsewhere it skips."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

verl = pytest.importorskip("verl")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from assay.pipelines.steps.export import Layout, export_plan  # noqa: E402
from assay.trainers.engines import resolve_model  # noqa: E402
from assay.trainers.prompts import PromptTemplate  # noqa: E402
from tests.clients.plans import one_step_plan  # noqa: E402
from tests.clients.readme_blocks import command  # noqa: E402

TEMPLATE = PromptTemplate(system="You are a careful calculator.", instruction="Put the final answer in \\boxed{}.")


def readme_reward_keys() -> list[str]:
    keys = [arg for arg in command("### verl") if arg.startswith("reward.")]
    assert {k.split("=")[0] for k in keys} == {"reward.custom_reward_function.path", "reward.custom_reward_function.name",
                                               "reward.reward_manager.name"}
    return keys


def verl_config(*overrides: str):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(Path(verl.__file__).parent / "trainer" / "config"), version_base=None):
        return compose("ppo_trainer", overrides=[*overrides, f"actor_rollout_ref.model.path={resolve_model('toy')}"])


@pytest.fixture
def exported(catalog, tmp_path):
    manifest = export_plan(catalog, one_step_plan(catalog), "verl", tmp_path / "verl", layout=Layout(TEMPLATE, "arith"))
    return tmp_path / "verl" / manifest.files[0].path, manifest


def dataset(part: Path, tmp_path: Path):
    from transformers import AutoTokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("toy"))
    config = OmegaConf.create({"prompt_key": "prompt", "max_prompt_length": 200, "cache_dir": str(tmp_path / "verl-cache")})
    return tokenizer, RLHFDataset(data_files=[str(part)], tokenizer=tokenizer, config=config)


def test_rlhf_dataset_reads_the_export(exported, tmp_path):
    part, manifest = exported
    _, rows = dataset(part, tmp_path)
    assert len(rows) == manifest.rows
    row = rows[0]
    user = row["raw_prompt"][1]["content"]
    assert row["raw_prompt"][0] == {"role": "system", "content": TEMPLATE.system}
    assert user.startswith("Compute ") and user.endswith(".\n\nPut the final answer in \\boxed{}.")
    assert row["data_source"] == "arith" and row["reward_model"]["style"] == "rule"
    assert row["extra_info"]["verifier"] == "math" and json.loads(row["extra_info"]["verifier_options"]) == {}
    assert manifest.template == TEMPLATE.to_dict() and manifest.data_source == "arith"


def responses_batch(part: Path, tmp_path: Path, count: int = 6):
    """A DataProto as verl's rollout hands it to the reward loop: the chat-templated prompts
    (left-padded), and for each even row the gold in a \\boxed{}, for each odd row gold + 1."""
    from verl import DataProto

    tokenizer, rows = dataset(part, tmp_path)
    items = [rows[i] for i in range(count)]
    golds = [r["reward_model"]["ground_truth"] for r in items]
    texts = [f"{g} \\boxed{{{g if i % 2 == 0 else int(g) + 1}}}" for i, g in enumerate(golds)]
    prompt_ids = [tokenizer.apply_chat_template(r["raw_prompt"], add_generation_prompt=True, tokenize=True, return_dict=False)
                  for r in items]
    response_ids = [tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for t in texts]
    p, r = max(map(len, prompt_ids)), max(map(len, response_ids))
    prompts = torch.tensor([[tokenizer.pad_token_id] * (p - len(x)) + x for x in prompt_ids])
    responses = torch.tensor([x + [tokenizer.pad_token_id] * (r - len(x)) for x in response_ids])
    mask = torch.tensor([[0] * (p - len(a)) + [1] * len(a) + [1] * len(b) + [0] * (r - len(b)) for a, b in zip(prompt_ids, response_ids)])
    data = DataProto.from_dict(
        tensors={"prompts": prompts, "responses": responses, "input_ids": torch.cat([prompts, responses], 1), "attention_mask": mask},
        non_tensors={key: np.array([row[key] for row in items], dtype=object) for key in ("data_source", "reward_model", "extra_info")},
    )
    return data, [1.0 if i % 2 == 0 else 0.0 for i in range(count)]


@pytest.mark.parametrize("name,manager", [("compute_score_async", "naive"), ("compute_score", "naive"), ("compute_score", "dapo")])
def test_verls_reward_loop_scores_with_assays_verdicts(exported, tmp_path, name, manager):
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
    from verl.utils.ray_utils import get_event_loop

    keys = [k for k in readme_reward_keys() if not k.startswith(("reward.custom_reward_function.name", "reward.reward_manager.name"))]
    config = verl_config(*keys, f"reward.custom_reward_function.name={name}", f"reward.reward_manager.name={manager}")
    data, want = responses_batch(exported[0], tmp_path)
    worker = RewardLoopWorker(config)
    outputs = get_event_loop().run_until_complete(worker.compute_score_batch(data))
    assert [o["reward_score"] for o in outputs] == want


def test_the_readmes_keys_as_written(exported, tmp_path):
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
    from verl.utils.ray_utils import get_event_loop

    data, want = responses_batch(exported[0], tmp_path)
    worker = RewardLoopWorker(verl_config(*readme_reward_keys()))
    assert [o["reward_score"] for o in get_event_loop().run_until_complete(worker.compute_score_batch(data))] == want


@pytest.mark.slow
def test_in_a_ray_actor_as_verls_reward_loop_runs_it(exported, tmp_path):
    import ray
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    data, want = responses_batch(exported[0], tmp_path)
    # Ray's session folder holds UNIX sockets, whose paths are limited to 107 bytes.
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=temp)
    try:
        actor = ray.remote(RewardLoopWorker).remote(verl_config(*readme_reward_keys()))
        outputs = ray.get(actor.compute_score_batch.remote(data), timeout=600)
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
    assert [o["reward_score"] for o in outputs] == want
