"""OpenRLHF 0.11.2 with an openrlhf export: it does not install on CPU (flash-attn needs CUDA),
so these run where the package is installed without its dependencies (.ci/run's verl
environment) and check the parts that touch assay with OpenRLHF's own code: its dataset
reading and chat templating of the export, its loading of the rewards file and its reward
call, and the README's flags against its argument parser. Elsewhere they skip."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

agent = pytest.importorskip("openrlhf.utils.agent")

import openrlhf  # noqa: E402
from openrlhf.datasets.prompts_dataset import preprocess_data  # noqa: E402
from openrlhf.datasets.utils import blending_datasets  # noqa: E402

import assay.verifiers.rewards as rewards  # noqa: E402
from assay.pipelines.steps.export import Layout, export_plan  # noqa: E402
from assay.trainers.engines import resolve_model  # noqa: E402
from assay.trainers.prompts import PromptTemplate  # noqa: E402
from tests.clients.plans import one_step_plan  # noqa: E402
from tests.clients.readme_blocks import command  # noqa: E402


def test_export_read_templated_and_scored_by_openrlhfs_own_code(catalog, tmp_path):
    from transformers import AutoTokenizer

    template = PromptTemplate(system="You are a careful calculator.")
    manifest = export_plan(catalog, one_step_plan(catalog), "openrlhf", tmp_path / "rlhf", layout=Layout(template, "arith"))
    strategy = SimpleNamespace(print=lambda *a: None, is_rank_0=lambda: True, args=SimpleNamespace(use_ms=False))
    data = blending_datasets(str(tmp_path / "rlhf"), strategy=strategy)
    assert len(data) == manifest.rows and data[0]["datasource"] == "arith"
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("toy"))
    rows = [preprocess_data(row, None, "prompt", "label", tokenizer.apply_chat_template) for row in data.select(range(4))]
    prompt, label = rows[0]
    assert prompt.startswith("<bos><|user|>You are a careful calculator.\n\nCompute ") and prompt.endswith("<|assistant|>")

    executor = agent.SingleTurnAgentExecutor(remote_rm_url=[rewards.__file__])  # as --reward.remote_url gives it
    assert executor.reward_func.__name__ == "reward_func"
    scores = []
    for i, (prompt, label) in enumerate(rows):
        gold = re.search(r'"answer": "([^"]+)"', label).group(1)
        response = f"{gold} \\boxed{{{gold if i % 2 == 0 else int(gold) + 1}}}"
        # OpenRLHF decodes the prompt's and the response's tokens together, special tokens kept.
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] + tokenizer(response, add_special_tokens=False)["input_ids"]
        query = tokenizer.decode(ids + [tokenizer.eos_token_id], skip_special_tokens=False)
        [info] = asyncio.run(executor._fetch_rewards_via_func([query], [prompt], [label]))
        assert info["scores"].tolist() == info["rewards"].tolist()
        scores += info["rewards"].tolist()
    assert scores == [1.0, 0.0, 1.0, 0.0]


def test_the_readmes_flags_are_openrlhfs():
    parser = (Path(openrlhf.__file__).parent / "cli" / "train_ppo_ray.py").read_text()
    flags = [arg for arg in command("### OpenRLHF") if arg.startswith("--")]
    assert flags == ["--data.prompt_dataset", "--data.input_key", "--data.label_key", "--data.apply_chat_template", "--reward.remote_url"]
    for flag in flags:
        assert f'"{flag}"' in parser, flag
