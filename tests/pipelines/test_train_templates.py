"""`assay train` applies the prompt template `assay export` recorded in the shards' manifest
(or the command's, for shards without one); the two disagreeing is an error, and a template
keys its online difficulty apart from untemplated runs."""

from __future__ import annotations

import json

import pytest
import torch

from assay.curricula.sampler import SamplerConfig
from assay.pipelines.errors import AssayError
from assay.pipelines.steps.train import BUILTIN_EVAL, TrainRunConfig, prompt_template, run_training
from assay.trainers.engines import TransformersEngine
from assay.trainers.grpo import GRPOConfig
from assay.trainers.prompts import PromptTemplate
from tests.pipelines.test_train_pipeline import shard_rows, write_shards

RECORDED = {"system": "Be brief.", "instruction": "Put the final answer in \\boxed{}.", "position": "append"}


def record(folder, template: dict) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "template": template}))


def test_the_manifests_template_and_a_given_one(tmp_path):
    plain = write_shards(tmp_path / "plain", [shard_rows(4)])
    given = PromptTemplate(system="Think.")
    assert prompt_template(plain, None) == PromptTemplate() and prompt_template(plain, given) == given
    templated = write_shards(tmp_path / "templated", [shard_rows(4)])
    record(templated, RECORDED)
    assert prompt_template(templated, None) == PromptTemplate(**RECORDED) == prompt_template(templated, PromptTemplate(**RECORDED))
    with pytest.raises(AssayError, match="was exported with the prompt template .*Be brief.*give .*Think"):
        prompt_template(templated, given)
    record(templated, {"position": "middle"})
    with pytest.raises(AssayError, match="its template cannot be read: unknown instruction position 'middle'"):
        prompt_template(templated, None)


def test_a_run_on_templated_shards_records_the_template_and_keys_its_difficulty_apart(tmp_path, catalog):
    torch.set_num_threads(1)
    rows = shard_rows(4)
    plain = write_shards(tmp_path / "plain", [rows])
    templated = write_shards(tmp_path / "templated", [rows])
    record(templated, RECORDED)

    def config(shards, out):
        return TrainRunConfig(shards=str(shards), model="toy", steps=1,
                              sampler=SamplerConfig(prompts_per_batch=2, rollouts_per_batch=4), eval=BUILTIN_EVAL,
                              eval_size=2, out=str(tmp_path / out), grpo=GRPOConfig(max_tokens=16, eval_k=1, eval_every=0))

    # An engine that renders prompts another way is refused before anything is recorded.
    with pytest.raises(AssayError, match="the engine given renders prompts with"):
        run_training(catalog, config(templated, "x"), engine=TransformersEngine("toy", device="cpu"))
    assert catalog.con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
    with_template = run_training(catalog, config(templated, "a"))
    without = run_training(catalog, config(plain, "b"))
    args = dict(catalog.con.execute("SELECT run_id, args FROM runs").fetchall())
    assert json.loads(args[with_template.run_id])["template"] == RECORDED and json.loads(args[without.run_id])["template"] == {}
    assert with_template.sampling_hash != without.sampling_hash
    hashes = {h for (h,) in catalog.con.execute("SELECT DISTINCT sampling_hash FROM difficulty").fetchall()}
    assert hashes == {with_template.sampling_hash, without.sampling_hash}
