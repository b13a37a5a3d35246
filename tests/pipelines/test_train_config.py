"""`assay train --config`: one typed config (TrainRunConfig) for the run, the sampler, the trainer
and the prompt template, from which the flags and the example config are generated; flags given
on the command line win over the file; mistakes name their table and key."""

import dataclasses
import json
import re
import tomllib

import pytest
from typer.main import get_command

from assay.curricula.sampler import STRATEGIES, SamplerConfig
from assay.pipelines.store.catalog import Catalog
from assay.pipelines.cli.main import app
from assay.pipelines.errors import AssayError
from assay.pipelines.config.settings import settings
from assay.pipelines.config.train_settings import TRAIN_EXAMPLE_CONFIG, TrainRunConfig, train_config
from assay.trainers.grpo import GRPOConfig
from assay.trainers.prompts import POSITIONS, PromptTemplate
from tests.pipelines.test_cli import assay
from tests.pipelines.test_train_pipeline import shard_rows, write_shards

SETTINGS = settings(TrainRunConfig)
# Every field of the command's dataclasses, found here without assay.pipelines.config.settings, as (table, field).
TABLES = {"sampler": SamplerConfig, "grpo": GRPOConfig, "template": PromptTemplate}
FIELDS = [("", f.name) for f in dataclasses.fields(TrainRunConfig) if f.name not in TABLES] + [
    (table, f.name) for table, cls in TABLES.items() for f in dataclasses.fields(cls)]
SET_BY_RUN = {("grpo", "steps"), ("sampler", "seed")}  # the run's steps and [grpo] seed set them


def test_the_example_config_is_the_command_line_s_defaults():
    config = train_config(tomllib.loads(TRAIN_EXAMPLE_CONFIG), "example")
    assert (config.shards, config.model, config.steps, config.sampler.strategy, config.engine) == ("shards", "toy", 100, "thompson", "auto")
    assert config == TrainRunConfig(shards="shards", model="toy")
    # Every [grpo] value written out equals GRPOConfig's default, or the command's where it differs
    # (lr 3e-5 and 2 updates per batch, as `assay train` had them); its steps are the run's.
    assert config.grpo == GRPOConfig(lr=3e-5, updates_per_batch=2, steps=100)
    assert GRPOConfig().lr == 1e-5 and GRPOConfig().updates_per_batch == 1  # the library's own stay
    assert config.sampler == SamplerConfig()
    assert config.template is None


@pytest.mark.parametrize("table, name", FIELDS)
def test_every_field_has_a_flag_and_an_example_config_key(table, name):
    options = {opt for p in get_command(app).commands["train"].params for opt in p.opts}
    found = [s for s in SETTINGS if (s.table, s.name) == (table, name)]
    if (table, name) in SET_BY_RUN:
        assert not found
        return
    [setting] = found
    assert set(setting.flags) <= options
    section = TRAIN_EXAMPLE_CONFIG.split(f"[{table}]\n")[1].split("\n[")[0] if table else TRAIN_EXAMPLE_CONFIG.split("\n[")[0]
    assert re.search(rf"^(# )?{name} = ", section, re.MULTILINE)


def test_today_s_flag_names_still_work():
    names = {s.key: s.flags for s in SETTINGS}
    assert names["grpo.lr"] == ("--lr",) and names["grpo.kl_coef"] == ("--kl-coef",) and names["grpo.micro_batch"] == ("--micro-batch",)
    assert names["grpo.updates_per_batch"] == ("--updates-per-step", "--updates-per-batch")
    assert names["grpo.verifier_timeout_s"] == ("--verifier-timeout", "--verifier-timeout-s")
    assert names["sampler.strategy"] == ("--sampler", "--sampler-strategy")
    assert names["sampler.prompts_per_batch"] == ("--prompts-per-step", "--sampler-prompts-per-batch")
    assert names["sampler.decay"] == ("--sampler-decay",) and names["eval"] == ("--eval",)
    assert names["template.instruction"] == ("--instruction", "--template-instruction")


@pytest.mark.parametrize("raw, message", [
    ({"grpo": {"kl": 0.1}}, "[grpo] unknown key 'kl'; valid: advantage, reward"),
    ({"grpo": {"micro_batch": 0}}, "[grpo] micro_batch must be positive, got 0"),
    ({"grpo": {"steps": 5}}, "[grpo] steps: set steps at the top level"),
    ({"grpo": 3}, "[grpo] must be a table, got int"),
    ({"template": {"position": "middle"}}, f"[template] unknown instruction position 'middle'; valid: {', '.join(POSITIONS)}"),
    ({"stepz": 3}, "[t.toml] unknown key 'stepz'; valid: shards, model, steps"),
    ({"sampler": {"decay": 0.0}}, "[sampler] decay must be in (0, 1], got 0.0"),
    ({"sampler": {"seed": 1}}, "[sampler] seed: set seed in [grpo]"),
    ({"sampler": {"strategy": "greedy"}}, f"[sampler] unknown strategy 'greedy'; valid: {', '.join(STRATEGIES)}"),
    ({"sampler": "spo"}, "[sampler] must be a table, got str"),
])
def test_mistakes_name_section_and_key(raw, message):
    base = {"shards": "s", "model": "toy", "steps": 2}
    with pytest.raises(AssayError) as error:
        train_config({**base, **raw}, "t.toml")
    assert message in str(error.value)


def test_a_required_setting_missing_says_how_to_give_it():
    with pytest.raises(AssayError, match=r"^train: model missing \(a flag, e.g. --model, or a key of --config\)$"):
        train_config({"shards": "s"}, "train")


def test_sampler_settings_reach_the_sampler_and_its_seed_is_the_trainer_s():
    config = train_config({"shards": "s", "model": "toy", "sampler": {"decay": 0.5, "band": [0.2, 0.7]}, "grpo": {"seed": 7}}, "t")
    assert config.sampler == SamplerConfig(decay=0.5, band=(0.2, 0.7), seed=7)
    assert (config.grpo.seed, config.grpo.steps) == (7, 100)


@pytest.mark.slow
def test_flags_win_over_the_file_key_by_key(tmp_path):
    (tmp_path / "t.toml").write_text('shards = "nowhere"\nmodel = "toy"\nsteps = 2\n[grpo]\nkl_coef = 0.1\nmicro_batch = 8\n')
    # The file's shards are missing; --shards given here wins, and the check then reaches [grpo].
    (tmp_path / "s").mkdir()
    failed = assay("train", "--config", "t.toml", "--shards", "s", "--micro-batch", "0", cwd=tmp_path)
    assert failed.returncode == 2 and "[grpo] micro_batch must be positive, got 0" in failed.stderr, failed.stderr
    failed = assay("train", "--config", "t.toml", cwd=tmp_path)
    assert failed.returncode == 2 and "nowhere: no such shard folder" in failed.stderr
    example = assay("train", "--example-config", cwd=tmp_path)
    assert example.returncode == 0 and example.stdout == TRAIN_EXAMPLE_CONFIG
    # A sampler flag reaches SamplerConfig, over the file's [sampler] table.
    (tmp_path / "t.toml").write_text('shards = "s"\nmodel = "toy"\n[sampler]\ndecay = 0.5\n')
    failed = assay("train", "--config", "t.toml", "--sampler-decay", "1.5", cwd=tmp_path)
    assert failed.returncode == 2 and "[sampler] decay must be in (0, 1], got 1.5" in failed.stderr, failed.stderr
    failed = assay("train", "--config", "t.toml", "--sampler-band", "0.7", "0.2", cwd=tmp_path)  # a pair: two values
    assert failed.returncode == 2 and "[sampler] band must satisfy 0 <= lo < hi <= 1, got (0.7, 0.2)" in failed.stderr, failed.stderr


@pytest.mark.slow
def test_sampler_decay_from_file_and_flag_reaches_the_trainer_s_sampler(tmp_path):
    write_shards(tmp_path / "shards", [shard_rows(8)])
    (tmp_path / "t.toml").write_text('shards = "shards"\nmodel = "toy"\nsteps = 1\n[sampler]\ndecay = 0.5\nband = [0.2, 0.7]\n'
                                     'prompts_per_batch = 2\nrollouts_per_batch = 4\n[grpo]\nmax_tokens = 16\neval_k = 1\n')
    done = assay("--catalog", "c.duckdb", "train", "--config", "t.toml", "--sampler-decay", "0.25", "--eval-size", "2",
                 "--engine", "transformers", "--out", "run", cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    with Catalog.open(tmp_path / "c.duckdb", read_only=True) as cat:
        [(args,)] = cat.con.execute("SELECT args FROM runs WHERE kind = 'train'").fetchall()
    sampler = json.loads(args)["sampler"]  # the run's config; run_training builds its OnlineSampler from it
    assert (sampler["decay"], sampler["band"], sampler["prompts_per_batch"], sampler["seed"]) == (0.25, [0.2, 0.7], 2, 0)
