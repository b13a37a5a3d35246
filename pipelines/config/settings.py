"""A command's settings as one typed dataclass: its CLI flags, its TOML config and the example
config are all derived from the fields.

Every field carries ONE default and ONE doc string, `field(default=..., metadata={"help": ...})`
(the convention of every dataclass a command's settings are built from, leaves included: it
needs nothing but the standard library). A field whose type is a dataclass is a TOML table (`[grpo]`) and its
fields are flags too. What belongs to the command, not to the dataclass it nests, is in the
nesting field's metadata (`table(...)` writes it):

- top-level field: "help"; "flags", names given besides `--kebab-name` (today's spellings);
  "example", the value the example config shows for a required field (one without a default).
- table field: "help"; "prefix" of its flags (default the table's name and "-", "" to flatten);
  "defaults", the command's own defaults over the nested class's (documented once, here);
  "flags", aliases per nested field; "set_by_run", nested fields the command sets itself
  (name -> where the user sets it instead), which are neither flags nor keys.

Nothing here imports torch, transformers or Prefect, nor do the settings dataclasses: flags, the
config file, unknown and missing keys are read and checked before any of them loads (a
dataclass whose own check needs a strategy table of torch code, GRPOConfig's estimators,
imports it when it is constructed; the engine names come from the torch-free
assay.trainers.rollout).

Example (assay train's settings, assay.pipelines.config.train_settings):
    >>> from assay.pipelines.config.train_settings import TrainRunConfig
    >>> [(s.key, s.flags, s.default) for s in settings(TrainRunConfig) if s.key in ("model", "grpo.lr", "sampler.decay")]
    [('model', ('--model',), <required>), ('sampler.decay', ('--sampler-decay',), 0.8), ('grpo.lr', ('--lr',), 3e-05)]
    >>> build(TrainRunConfig, {"shards": "s", "model": "toy", "sampler": {"decay": 0.5}}, "t.toml").sampler.decay
    0.5
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import textwrap
import tomllib
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Optional

import typer

from assay.pipelines.errors import AssayError


class _Required:
    def __repr__(self) -> str:
        return "<required>"


REQUIRED = _Required()  # the default of a setting that has none: a flag or a config key must give it


@dataclass(frozen=True)
class Setting:
    """One leaf setting: a key of the TOML config (in `table`, "" for the top level) and a flag."""

    table: str
    name: str
    type: Any  # the field's type without None: int, float, str, bool, tuple[float, float]
    default: Any  # REQUIRED when there is none; None means unset
    help: str
    flags: tuple[str, ...]  # the first is the one help shows first
    example: Any = None  # shown in the example config for a required setting

    @property
    def key(self) -> str:
        return f"{self.table}.{self.name}" if self.table else self.name

    @property
    def param(self) -> str:
        """Its Python parameter name in the generated command."""
        return self.key.replace(".", "__")


def table(cls: type, help: str, *, prefix: str | None = None, defaults: dict[str, Any] | None = None,
          flags: dict[str, tuple[str, ...]] | None = None, set_by_run: dict[str, str] | None = None,
          optional: bool = False) -> Any:
    """A field holding the nested settings dataclass `cls` as a TOML table (see module docstring).
    `optional`: its default is None (no table given) instead of `cls(**defaults)`."""
    metadata = {"help": help, "prefix": prefix, "defaults": dict(defaults or {}), "flags": dict(flags or {}),
                "set_by_run": dict(set_by_run or {})}
    if optional:
        return dataclasses.field(default=None, metadata=metadata)
    return dataclasses.field(default_factory=functools.partial(cls, **metadata["defaults"]), metadata=metadata)


def _plain(hint: Any) -> tuple[Any, bool]:
    """(the type without None, whether None is allowed)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(hint))
    return hint, False


def _is_table(hint: Any) -> bool:
    return dataclasses.is_dataclass(_plain(hint)[0])


def _kebab(name: str) -> str:
    return name.replace("_", "-")


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return REQUIRED


def _help(cls: type, f: dataclasses.Field) -> str:
    if "help" not in f.metadata:
        raise TypeError(f"{cls.__name__}.{f.name} has no doc string: give it field(..., metadata={{'help': ...}})")
    return f.metadata["help"]


def settings(cls: type) -> list[Setting]:
    """Every leaf setting of the command dataclass `cls`, top level first, then each table in
    field order. A field without a doc string, or two settings with one flag name, is an error
    in the dataclasses, raised here."""
    hints = typing.get_type_hints(cls)
    top: list[Setting] = []
    nested: list[Setting] = []
    for f in dataclasses.fields(cls):
        if not _is_table(hints[f.name]):
            top.append(Setting("", f.name, _plain(hints[f.name])[0], _default(f), _help(cls, f),
                               (*f.metadata.get("flags", ()), f"--{_kebab(f.name)}"), f.metadata.get("example")))
            continue
        inner = _plain(hints[f.name])[0]
        inner_hints = typing.get_type_hints(inner)
        meta = f.metadata
        prefix = f"{_kebab(f.name)}-" if meta["prefix"] is None else meta["prefix"]
        for g in dataclasses.fields(inner):
            if g.name in meta["set_by_run"]:
                continue
            default = meta["defaults"].get(g.name, _default(g))
            nested.append(Setting(f.name, g.name, _plain(inner_hints[g.name])[0], default, _help(inner, g),
                                  (*meta["flags"].get(g.name, ()), f"--{prefix}{_kebab(g.name)}")))
    found = top + nested
    seen: dict[str, str] = {}
    for s in found:
        for flag in s.flags:
            if flag in seen:
                raise TypeError(f"{cls.__name__}: {flag} names both {seen[flag]} and {s.key}")
            seen[flag] = s.key
    return found


def _show(value: Any) -> str:
    """A value as TOML writes it (and as the help's "Default ..." says it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)


def flag_help(s: Setting) -> str:
    """The field's doc string and its default, said once."""
    if s.default is REQUIRED:
        return f"{s.help} Required (a flag or a key of --config)."
    if s.default is None:
        return s.help
    return f"{s.help} Default {_show(s.default)}."


def with_flags(cls: type, into: str = "flags") -> Callable[[Callable], Callable]:
    """Decorate a typer command: one option per setting of `cls`, all defaulting to None (not
    given), handed to the command as one TOML-shaped dict `into` of the options given
    ({"steps": 3, "grpo": {"lr": 1e-5}}; an option not given is left out)."""
    found = settings(cls)

    def decorate(command: Callable) -> Callable:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != into]
        added = [inspect.Parameter(s.param, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[s.type],
                                   default=typer.Option(None, *s.flags, help=flag_help(s), show_default=False))
                 for s in found]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            given: dict[str, Any] = {}
            for s in found:
                value = kwargs.pop(s.param)
                if value is not None:
                    (given.setdefault(s.table, {}) if s.table else given)[s.name] = value
            return command(**kwargs, **{into: given})

        wrapper.__signature__ = signature.replace(parameters=own + added)  # what typer reads
        wrapper.__annotations__ = {p.name: p.annotation for p in own + added}
        return wrapper

    return decorate


def example_config(cls: type, header: str, width: int = 100) -> str:
    """A commented TOML file of every setting of `cls` at its default (a required one at its
    example), grouped by table; an unset one (None) is commented out. Loading it with `build`
    gives the defaults."""
    hints = typing.get_type_hints(cls)
    lines = [header.rstrip("\n"), ""]
    table_name = ""
    for s in settings(cls):
        if s.table != table_name:
            table_name = s.table
            f = next(f for f in dataclasses.fields(cls) if f.name == s.table)
            optional = _plain(hints[f.name])[1]
            lines += ["", *textwrap.wrap(f.metadata["help"], width, initial_indent="# ", subsequent_indent="# ", break_on_hyphens=False)]
            lines.append(f"# [{s.table}]" if optional else f"[{s.table}]")
        value = s.example if s.default is REQUIRED else s.default
        lines += textwrap.wrap(f"{s.help} ({', '.join(s.flags)})", width, initial_indent="# ", subsequent_indent="# ",
                               break_on_hyphens=False)
        unset = value is None or (s.table and _plain(hints[s.table])[1])
        lines.append(f"{'# ' if unset else ''}{s.name} = {_show(value) if value is not None else '...'}")
    return "\n".join(lines) + "\n"


def build(cls: type, raw: Any, where: str) -> Any:
    """The dataclass `cls` from TOML-shaped values: `raw`'s keys are its fields, a table's a dict
    of the nested class's. Every mistake names its table (`where` for the top level) and key:
    an unknown key lists the valid ones, a missing required one says how to give it, a nested
    field the command sets itself says where to set it, and the dataclasses' own checks come back
    with the table's name."""
    values = _fields(cls, raw, where, {})
    missing = [s.name for s in settings(cls) if s.default is REQUIRED and not s.table and s.name not in values]
    if missing:
        raise AssayError(f"{where}: {', '.join(missing)} missing (a flag, e.g. --{_kebab(missing[0])}, or a key of --config)")
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in values and _is_table(hints[f.name]):
            inner = _plain(hints[f.name])[0]
            given = _fields(inner, values[f.name], f.name, f.metadata["set_by_run"])
            values[f.name] = _construct(inner, {**f.metadata["defaults"], **given}, f.name)
    return _construct(cls, values, where)


def typed_section(cls: type, raw: Any, section: str) -> Any:
    """One TOML table -> the flat dataclass `cls`, naming the section and key of any mistake."""
    return _construct(cls, _fields(cls, raw, section, {}), section)


def _fields(cls: type, raw: Any, section: str, set_by_run: dict[str, str]) -> dict[str, Any]:
    """`raw` checked against `cls`'s fields (lists become tuples where the field is a tuple)."""
    if not isinstance(raw, dict):
        raise AssayError(f"[{section}] must be a table, got {type(raw).__name__}")
    for key, elsewhere in set_by_run.items():
        if key in raw:
            raise AssayError(f"[{section}] {key}: set {elsewhere} (the command sets {section}.{key} from it)")
    valid = [f.name for f in dataclasses.fields(cls) if f.name not in set_by_run]
    unknown = sorted(set(raw) - set(valid))
    if unknown:
        raise AssayError(f"[{section}] unknown key(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
    hints = typing.get_type_hints(cls)
    return {k: tuple(v) if isinstance(v, list) and typing.get_origin(_plain(hints[k])[0]) is tuple else v for k, v in raw.items()}


def _construct(cls: type, values: dict[str, Any], section: str) -> Any:
    try:
        return cls(**values)
    except (TypeError, ValueError, AssayError) as exc:
        raise AssayError(f"[{section}] {exc}") from None


def read_toml(path: Any) -> dict[str, Any]:
    """A --config file's values, or an AssayError saying why it cannot be read."""
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except OSError as exc:
        raise AssayError(f"--config {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AssayError(f"{path}: not valid TOML ({exc})") from None


def overlay(raw: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    """The config file's values with the flags given laid over them, tables merged key by key."""
    merged = dict(raw)
    for key, value in flags.items():
        if isinstance(value, dict) and isinstance(merged.get(key, {}), dict):
            merged[key] = {**merged.get(key, {}), **value}
        elif not isinstance(value, dict):
            merged[key] = value
    return merged
