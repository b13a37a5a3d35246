"""Every command's flags come from one typed dataclass (assay.pipelines.config.settings): each setting
is a flag (or the positional argument) of its command, with its doc string as help and one
default; the flags the commands had keep working, with the defaults they had; and the flag
kinds the dataclasses add (repeated, NAME=VALUE, dates) arrive as a config file would hold them."""

from datetime import date

import pytest
import typer
from rich.markup import escape
from typer.main import get_command
from typer.testing import CliRunner

from assay.pipelines.steps.benchmarks import BenchmarkConfig
from assay.pipelines.cli.main import app
from assay.pipelines.cli.commands import (
    AuditCommand,
    DecontaminateCommand,
    DifficultyCommand,
    ExportCommand,
    QuarantineCommand,
    QueryCommand,
    QuickstartCommand,
    RecurringCommand,
    RunsCommand,
    ServeCommand,
    Shown,
    VerifyCommand,
)
from assay.pipelines.steps.curate import CurateConfig
from assay.pipelines.steps.difficulty import DifficultyConfig
from assay.pipelines.errors import AssayError
from assay.pipelines.steps.ingest import SourceConfig
from assay.pipelines.flows.runners import RunnerConfig
from assay.pipelines.config.settings import build, settings, with_flags
from assay.pipelines.config.train_settings import TrainRunConfig
from assay.trainers.rollout import SamplingConfig

COMMANDS = {  # command -> the dataclasses its flags come from
    "ingest": (SourceConfig,), "bench add": (BenchmarkConfig,), "decontaminate": (DecontaminateCommand,),
    "difficulty": (DifficultyCommand,), "verify": (VerifyCommand,), "export": (ExportCommand,),
    "audit-model": (AuditCommand,), "recurring": (RecurringCommand,), "serve": (ServeCommand,),
    "quickstart": (QuickstartCommand,), "curate": (CurateConfig, RunnerConfig), "train": (TrainRunConfig,),
    "catalog stats": (Shown,), "catalog query": (QueryCommand,), "catalog quarantine": (QuarantineCommand,),
    "catalog runs": (RunsCommand,), "runs": (RunsCommand,),
}

# The flags each command had before its flags were generated (a regression table): all still work.
BEFORE = {
    "ingest": "--answer-col --answer-regex --count --name --preset --prompt-col --seed --split --subset --verifier",
    "bench add": "--answer-col --date-col --id-col --preset --prompt-col --split --subset",
    "decontaminate": "--benchmark --data-date --date-col --input --masked --min-containment --ngram --output --prompt-col "
                     "--report --semantic --semantic-threshold",
    "difficulty": "--cluster --engine --k --max-tokens --max-verifier-failures --model --policy --report --runner --seed "
                  "--source --temperature --top-p --trust-remote-code --verifier --verifier-timeout --workers",
    "verify": "--audit --input --output --sandbox --sandbox-check --timeout --verifier --workers",
    "export": "--data-source --format --instruction --instruction-position --out --plan --system-prompt --verify-manifest",
    "audit-model": "--benchmark --dataset --engine --k --max-items --max-tokens --model --report --seed --trust-remote-code",
    "recurring": "--checkpoints --cluster --config --model --runner --shards",
    "serve": "--api-url --checkpoints --cluster --config --cron --interval --model --port --print-cron --runner --shards",
    "quickstart": "--count --engine",
    "curate": "--cluster --config --example-config --runner",
    "catalog stats": "--json", "catalog query": "--json", "catalog quarantine": "--json --limit --reason --source",
    "catalog runs": "--json --kind --limit --status", "runs": "--json --kind --limit --status",
}

# (command, flag, the default it had): one default each, the command's.
DEFAULTS = [
    ("difficulty", "--model", "toy"), ("difficulty", "--k", 16), ("difficulty", "--policy", "adaptive"),
    ("difficulty", "--max-tokens", 1024), ("difficulty", "--temperature", 1.0), ("difficulty", "--top-p", 1.0),
    ("difficulty", "--seed", 0), ("difficulty", "--verifier-timeout", 2.0), ("difficulty", "--max-verifier-failures", 0.05),
    ("difficulty", "--engine", "auto"), ("difficulty", "--runner", "local"), ("difficulty", "--chunk-size", 128),
    ("verify", "--timeout", 2.0), ("audit-model", "--model", "toy"), ("audit-model", "--k", 8),
    ("audit-model", "--max-tokens", 256), ("audit-model", "--seed", 0), ("serve", "--port", 4200), ("serve", "--shards", "shards"),
    ("recurring", "--shards", "shards"), ("export", "--format", "parquet"), ("export", "--instruction-position", "append"),
    ("decontaminate", "--ngram", 8), ("decontaminate", "--min-containment", 0.5), ("decontaminate", "--date-col", "date"),
    ("quickstart", "--count", 1000), ("quickstart", "--engine", "auto"), ("curate", "--difficulty-model", "toy"),
    ("curate", "--difficulty-max-tokens", 1024), ("curate", "--export-out", "shards"), ("curate", "--runner", "local"),
    ("catalog quarantine", "--limit", 50), ("catalog runs", "--limit", 20), ("catalog stats", "--json", False),
]


def cli_params(command: str) -> list:
    found = get_command(app)
    for part in command.split():
        found = found.commands[part]
    return found.params


@pytest.mark.parametrize("command", COMMANDS)
def test_every_setting_is_a_flag_or_argument_of_its_command_with_its_help(command):
    params = cli_params(command)
    options = {opt: p for p in params for opt in p.opts}
    arguments = [p.name for p in params if p.param_type_name == "argument"]
    for cls in COMMANDS[command]:
        for s in settings(cls):
            if s.argument:
                assert s.param in arguments, (command, s.key)
                continue
            assert set(s.flags) <= set(options), (command, s.key)
            assert options[s.flags[0]].help.startswith(escape(s.help)), (command, s.key)  # rich markup escaped


@pytest.mark.parametrize("command", BEFORE)
def test_the_flags_the_commands_had_still_work(command):
    options = {opt for p in cli_params(command) for opt in p.opts}
    assert set(BEFORE[command].split()) <= options, set(BEFORE[command].split()) - options


@pytest.mark.parametrize("command, flag, default", DEFAULTS)
def test_each_flag_keeps_the_default_it_had(command, flag, default):
    [setting] = [s for cls in COMMANDS[command] for s in settings(cls) if flag in s.flags]
    assert setting.default == default


def test_a_command_of_inline_tables_builds_its_steps_configs():
    # DifficultyCommand is DifficultyConfig (its sampling inline too), RunnerConfig and --report, flat.
    assert build(DifficultyCommand, {}, "") == DifficultyCommand(
        DifficultyConfig(model="toy", sampling=SamplingConfig(max_tokens=1024)), RunnerConfig(), None)
    assert DifficultyConfig(model="toy").sampling.max_tokens == 1024  # the command's default is the config's
    command = build(DifficultyCommand, {"max_tokens": 64, "verifier_timeout_s": 8.0, "cluster": "tcp://h:8786", "runner": "dask"}, "")
    assert (command.difficulty.sampling.max_tokens, command.difficulty.verifier_timeout_s, command.runner) == (
        64, 8.0, RunnerConfig("dask", "tcp://h:8786"))
    with pytest.raises(AssayError, match=r"^temperature must be a finite number >= 0, got -1.0$"):  # no table to name
        build(DifficultyCommand, {"temperature": -1.0}, "")


def test_an_inline_table_s_keys_sit_in_the_table_that_holds_it():
    with pytest.raises(AssayError) as error:
        build(CurateConfig, {"sources": [{"spec": "builtin:arithmetic"}], "difficulty": {"kk": 1}}, "c.toml")
    # The sampling settings are [difficulty] keys; source and verifier are the run's, not keys.
    assert str(error.value) == ("[difficulty] unknown key 'kk'; valid: model, k, policy, engine, temperature, top_p, max_tokens, "
                                "seed, stop, workers, trust_remote_code, verifier_timeout_s, max_verifier_failures, chunk_size")


def given(cls: type, *argv: str):
    """What a command with `cls`'s flags receives for `argv`: the TOML-shaped dict, or the error."""
    received = {}
    probe = typer.Typer()

    @probe.command()
    @with_flags(cls)
    def run(flags: dict = None) -> None:
        received.update(flags)

    done = CliRunner().invoke(probe, list(argv))
    return done.exception if done.exception else received


def test_repeated_name_value_and_date_flags_arrive_as_a_config_file_holds_them():
    assert given(DifficultyCommand) == {}  # a flag not given is left out, so the file's value stands
    assert given(DifficultyCommand, "--trust-remote-code", "--stop", "\n\n", "--stop", "Q:") == {
        "trust_remote_code": True, "stop": ["\n\n", "Q:"]}
    assert given(DecontaminateCommand, "--benchmark", "a", "--benchmark", "b", "--masked", "drop", "--masked", "gsm8k=flag",
                 "--data-date", "2024-01-05") == {
        "benchmark": ["a", "b"], "masked": {"*": "drop", "gsm8k": "flag"}, "data_date": date(2024, 1, 5)}
    assert given(CurateConfig, "--curriculum-source-weights", "a=1", "--curriculum-source-weights", "b=2.5",
                 "--curriculum-stage-edges", "0.8", "--curriculum-stage-edges", "0.4", "--splits", "train") == {
        "splits": ["train"], "curriculum": {"source_weights": {"a": 1.0, "b": 2.5}, "stage_edges": [0.8, 0.4]}}
    for argv, message in [
        (("--data-date", "2024-1-5"), "--data-date '2024-1-5': expected YYYY-MM-DD"),
        (("--data-date", "2024-02-30"), "--data-date '2024-02-30': expected YYYY-MM-DD"),
    ]:
        assert str(given(DecontaminateCommand, "--benchmark", "a", *argv)) == message
    for argv, message in [
        (("--curriculum-source-weights", "a"), "--curriculum-source-weights 'a': expected NAME=VALUE"),
        (("--curriculum-source-weights", "a=x"), "--curriculum-source-weights 'a=x': 'x' is not a float"),
    ]:
        assert str(given(CurateConfig, *argv)) == message
