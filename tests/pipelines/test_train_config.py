"""`assay train --config`: one typed config for the run, the trainer and the prompt template;
flags given on the command line win over the file; mistakes name their section and key."""

import tomllib

import pytest

from assay.pipelines.errors import AssayError
from assay.pipelines.train import CLI_GRPO_DEFAULTS, TRAIN_EXAMPLE_CONFIG, train_config
from assay.trainers.grpo import GRPOConfig
from tests.pipelines.test_cli import assay


def test_the_example_config_is_the_command_line_s_defaults():
    config = train_config(tomllib.loads(TRAIN_EXAMPLE_CONFIG), "example")
    assert (config.shards, config.model, config.steps, config.sampler, config.engine) == ("shards", "toy", 60, "thompson", "auto")
    # Every [grpo] value written out equals GRPOConfig's default, or the command line's where it differs.
    assert config.grpo == GRPOConfig(**{**CLI_GRPO_DEFAULTS, "steps": 60})
    assert config.template is None


@pytest.mark.parametrize("raw, message", [
    ({"grpo": {"kl": 0.1}}, "[grpo] unknown key(s) kl; valid: steps, advantage"),
    ({"grpo": {"micro_batch": 0}}, "[grpo] micro_batch must be positive, got 0"),
    ({"grpo": {"steps": 5}}, "[grpo] steps: set steps at the top level"),
    ({"grpo": 3}, "[grpo] must be a table, got int"),
    ({"template": {"position": "middle"}}, "[template] instruction position 'middle' is unknown; valid: append, prepend"),
    ({"stepz": 3}, "[t.toml] unknown key(s) stepz; valid: shards, model, steps"),
])
def test_mistakes_name_section_and_key(raw, message):
    base = {"shards": "s", "model": "toy", "steps": 2}
    with pytest.raises(AssayError) as error:
        train_config({**base, **raw}, "t.toml")
    assert message in str(error.value)


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
