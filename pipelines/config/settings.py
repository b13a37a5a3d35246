"""A command's settings as one typed dataclass: its CLI flags, its TOML config and the example
config are all derived from the fields.

Every field carries ONE default and ONE doc string, `field(default=..., metadata={"help": ...})`
(the convention of every dataclass a command's settings are built from, leaves included: it
needs nothing but the standard library). What a field is decides what it becomes:

- a plain value (str, int, float, bool, a date, a tuple or list of them, a dict of them): a key
  and a flag. A list is a repeated flag, a dict a repeated NAME=VALUE flag, a date YYYY-MM-DD.
- a dataclass: a TOML table (`[grpo]`) whose fields are keys of that table and flags too; or,
  made with `table(..., inline=True)`, fields that sit in the table holding it (the keys of
  DifficultyConfig's `sampling` are keys of `[difficulty]`). Tables nest one level; inline
  fields at any depth. This is how a command is made of the settings of its steps.
- a list of dataclasses, or a field with metadata "parse": an array of tables (`[[sources]]`),
  a key of the config file only.

What belongs to the command, not to the dataclass it nests, is in the nesting field's metadata
(`table(...)` writes it): "help"; "prefix" of its flags (default the table's name and "-", an
inline table its holder's); "defaults", the command's own defaults over the nested class's
(documented once, here); "flags", aliases per nested field; "set_by_run", nested fields the
command sets itself (name -> where the user sets it instead), which are neither flags nor keys.
A plain field's metadata may add "flags" (names besides `--kebab-name`, today's spellings),
"example" (the value the example config shows for a required field), "argument" (a positional
argument instead of a flag; "metavar" names it) and "from_flag" (turns the flag's text, or its
list of texts, into the field's value).

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
import datetime
import functools
import inspect
import json
import re
import textwrap
import tomllib
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Optional

import typer
from rich.markup import escape

from assay.pipelines.errors import AssayError, check_given


class _Required:
    def __repr__(self) -> str:
        return "<required>"


REQUIRED = _Required()  # the default of a setting that has none: a flag or a config key must give it


@dataclass(frozen=True)
class Setting:
    """One leaf setting: a key of the TOML config (in `table`, "" for the top level) and a flag."""

    table: str
    name: str
    type: Any  # the field's type without None: int, float, str, bool, tuple[float, float], date, ...
    default: Any  # REQUIRED when there is none; None means unset
    help: str
    flags: tuple[str, ...]  # the first is the one help shows first
    example: Any = None  # shown in the example config for a required setting
    path: tuple[str, ...] = ()  # the fields from the command's dataclass down to this one
    argument: str | None = None  # the metavar of a positional argument; None: a flag
    from_flag: Callable[[Any, str], Any] | None = None  # (the flag's value, its name) -> the field's value

    @property
    def key(self) -> str:
        return f"{self.table}.{self.name}" if self.table else self.name

    @property
    def param(self) -> str:
        """Its Python parameter name in the generated command."""
        return "__".join(self.path or (self.table, self.name))

    @property
    def flag_type(self) -> Any:
        """What the command line reads: a list for a repeated flag (a list, a variable tuple, a
        dict as NAME=VALUE texts), text for a date, else the field's type."""
        origin, args = typing.get_origin(self.type), typing.get_args(self.type)
        if origin is list or (origin is tuple and args[-1:] == (Ellipsis,)):
            return list[args[0]]
        if origin is dict:
            return list[str]
        if self.type is datetime.date:
            return str
        return self.type


def table(cls: type, help: str, *, prefix: str | None = None, defaults: dict[str, Any] | None = None,
          flags: dict[str, tuple[str, ...]] | None = None, set_by_run: dict[str, str] | None = None,
          optional: bool = False, inline: bool = False) -> Any:
    """A field holding the nested settings dataclass `cls` (see module docstring): a TOML table,
    or with `inline` fields of the table that holds it. `optional`: its default is None (no
    table given) instead of `cls(**defaults)`."""
    metadata = {"help": help, "prefix": prefix, "defaults": dict(defaults or {}), "flags": dict(flags or {}),
                "set_by_run": dict(set_by_run or {}), "inline": inline}
    if optional:
        return dataclasses.field(default=None, metadata=metadata)
    return dataclasses.field(default_factory=functools.partial(cls, **metadata["defaults"]), metadata=metadata)


def _plain(hint: Any) -> tuple[Any, bool]:
    """(the type without None, whether None is allowed)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(hint))
    return hint, False


def _kind(f: dataclasses.Field, hint: Any) -> str:
    """What field `f` is: "inline", "table", "array" (of tables) or "plain"."""
    inner = _plain(hint)[0]
    if dataclasses.is_dataclass(inner):
        return "inline" if f.metadata.get("inline") else "table"
    if "parse" in f.metadata or (typing.get_origin(inner) in (list, tuple)
                                 and dataclasses.is_dataclass(typing.get_args(inner)[0])):
        return "array"
    return "plain"


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


def _leaves(cls: type, table_name: str, prefix: str, defaults: dict[str, Any], aliases: dict[str, tuple[str, ...]],
            set_by_run: dict[str, str], path: tuple[str, ...]) -> tuple[list[Setting], list[Setting]]:
    """(the settings at this TOML level, those of the tables below it), in field order."""
    hints = typing.get_type_hints(cls)
    here: list[Setting] = []
    below: list[Setting] = []
    for f in dataclasses.fields(cls):
        if f.name in set_by_run:
            continue
        kind, meta = _kind(f, hints[f.name]), f.metadata
        if kind == "inline":
            own = _leaves(_plain(hints[f.name])[0], table_name, prefix if meta["prefix"] is None else meta["prefix"],
                          meta["defaults"], {**aliases, **meta["flags"]}, meta["set_by_run"], (*path, f.name))
            here += own[0]
            below += own[1]
        elif kind == "table":
            if table_name:
                raise TypeError(f"{cls.__name__}.{f.name}: a table inside [{table_name}]; make it table(..., inline=True)")
            inner = _plain(hints[f.name])[0]
            below += _leaves(inner, f.name, f"{_kebab(f.name)}-" if meta["prefix"] is None else meta["prefix"],
                             meta["defaults"], meta["flags"], meta["set_by_run"], (*path, f.name))[0]
        elif kind == "plain":
            _help(cls, f)
            default = defaults.get(f.name, _default(f))
            argument = meta.get("metavar", f.name.upper()) if meta.get("argument") else None
            here.append(Setting(table_name, f.name, _plain(hints[f.name])[0], default, meta["help"],
                                (*aliases.get(f.name, ()), *meta.get("flags", ()), f"--{prefix}{_kebab(f.name)}"),
                                meta.get("example"), (*path, f.name), argument, meta.get("from_flag")))
    return here, below


def settings(cls: type) -> list[Setting]:
    """Every leaf setting of the command dataclass `cls` that is a flag, top level first, then each
    table in field order (arrays of tables are keys of the config file only). A field without a
    doc string, or two settings with one flag name or one key, is an error in the dataclasses,
    raised here."""
    here, below = _leaves(cls, "", "", {}, {}, {}, ())
    found = here + below
    seen: dict[str, str] = {}
    for s in found:
        for name in (*(() if s.argument else s.flags), f"key {s.key}"):
            if name in seen:
                raise TypeError(f"{cls.__name__}: {name} names both {seen[name]} and {'.'.join(s.path)}")
            seen[name] = ".".join(s.path)
    return found


def _show(value: Any) -> str:
    """A value as TOML writes it (and as the help's "Default ..." says it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return repr(value)


def flag_help(s: Setting) -> str:
    """The field's doc string and its default, said once."""
    if s.default is REQUIRED:
        return f"{s.help} Required (a flag or a key of --config)."
    if s.default is None or s.default == {}:
        return s.help
    return f"{s.help} Default {_show(s.default)}."


def _from_flag(s: Setting, value: Any) -> Any:
    """A flag's value as the config file would hold it."""
    flag = s.flags[0]
    if s.from_flag is not None:
        return s.from_flag(value, flag)
    if typing.get_origin(s.type) is dict:
        pairs = {}
        for text in value:
            name, sep, item = text.partition("=")
            if not sep or not name:
                raise AssayError(f"{flag} {text!r}: expected NAME=VALUE")
            try:
                pairs[name] = typing.get_args(s.type)[1](item)
            except ValueError:
                raise AssayError(f"{flag} {text!r}: {item!r} is not a {typing.get_args(s.type)[1].__name__}") from None
        return pairs
    if s.type is datetime.date:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise AssayError(f"{flag} {value!r}: expected YYYY-MM-DD")
        try:
            return datetime.date.fromisoformat(value.strip())
        except ValueError:
            raise AssayError(f"{flag} {value!r}: expected YYYY-MM-DD") from None
    return list(value) if isinstance(value, (list, tuple)) and s.flag_type is not s.type else value


def with_flags(cls: type, into: str = "flags", *, required: bool = False) -> Callable[[Callable], Callable]:
    """Decorate a typer command: one option (or positional argument) per setting of `cls`, all
    defaulting to None (not given), handed to the command as one TOML-shaped dict `into` of the
    options given ({"steps": 3, "grpo": {"lr": 1e-5}}; an option not given is left out).
    `required`: the command line must give each required setting (a command without --config);
    otherwise a missing one is found by `build`, after the config file is read. Decorators
    stack: a command may take two dataclasses' flags, into two parameters."""
    found = settings(cls)

    def parameter(s: Setting) -> inspect.Parameter:
        needed = s.default is REQUIRED and (required or s.argument)
        help = escape(s.help if needed else flag_help(s))  # typer says [required] itself; [[sources]] is no markup
        if s.argument:
            default = typer.Argument(... if needed else None, help=help, metavar=s.argument, show_default=False)
        else:
            default = typer.Option(... if needed else None, *s.flags, help=help, show_default=False)
        annotation = s.flag_type if needed else Optional[s.flag_type]
        return inspect.Parameter(s.param, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)

    def decorate(command: Callable) -> Callable:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != into]
        added = [parameter(s) for s in found]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            given: dict[str, Any] = {}
            for s in found:
                value = kwargs.pop(s.param)
                if value is not None and value != []:  # a repeated flag not given is an empty list
                    (given.setdefault(s.table, {}) if s.table else given)[s.name] = _from_flag(s, value)
            return command(**kwargs, **{into: given})

        wrapper.__signature__ = signature.replace(parameters=own + added)  # what typer reads
        wrapper.__annotations__ = {p.name: p.annotation for p in own + added}
        return wrapper

    return decorate


def _comment(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, initial_indent="# ", subsequent_indent="# ", break_on_hyphens=False)


def value_at(instance: Any, path: tuple[str, ...]) -> Any:
    """The setting at `path` (Setting.path) of a command's dataclass; None below an unset table."""
    for name in path:
        instance = None if instance is None else getattr(instance, name)
    return instance


def _key_lines(doc: str, key: str, value: Any, width: int, unset: bool = False) -> list[str]:
    """One key of the example config: its doc as a comment, then the key, commented out when unset."""
    unset = unset or value is None
    return [*(_comment(doc, width) if doc else []), f"{'# ' if unset else ''}{key} = {_show(value) if value is not None else '...'}"]


def _doc(s: Setting) -> str:
    return s.help if s.argument else f"{s.help} ({', '.join(s.flags)})"


def example_config(cls: type, header: str, width: int = 100, instance: Any = None) -> str:
    """A commented TOML file of every setting of `cls` at its default (a required one at its
    example), or at its value in `instance`, grouped by table; an unset one (None) is commented
    out. Arrays of tables show `instance`'s entries (or the field's "example" metadata).
    Loading it with `build` gives the defaults (or `instance`)."""
    hints = typing.get_type_hints(cls)
    found = settings(cls)
    lines = [header.rstrip("\n"), ""]

    def value(s: Setting) -> Any:
        if instance is not None:
            return value_at(instance, s.path)
        return s.example if s.default is REQUIRED else s.default

    for s in found:
        if not s.table:
            lines += _key_lines(_doc(s), s.name, value(s), width)
    for f in dataclasses.fields(cls):
        if _kind(f, hints[f.name]) != "array":
            continue
        entries = getattr(instance, f.name) if instance is not None else f.metadata.get("example", ())
        lines += ["", *_comment(f.metadata["help"], width)]
        for i, entry in enumerate(entries):
            lines += [""] * (i > 0) + [f"[[{f.name}]]"]
            for key, item, doc in _array_rows(f, entry):
                lines += _key_lines(doc, key, item, width)
    table_name = ""
    for s in found:
        if not s.table:
            continue
        if s.table != table_name:
            table_name = s.table
            f = next(f for f in dataclasses.fields(cls) if f.name == s.table)
            optional = _plain(hints[f.name])[1]
            lines += ["", *_comment(f.metadata["help"], width), f"# [{s.table}]" if optional else f"[{s.table}]"]
        lines += _key_lines(_doc(s), s.name, value(s), width, unset=_plain(hints[s.table])[1] and (instance is None or getattr(instance, s.table) is None))
    return "\n".join(lines) + "\n"


def _array_rows(f: dataclasses.Field, entry: Any) -> list[tuple[str, Any, str]]:
    """(key, value, doc) of one entry of an array of tables, as the example config writes it."""
    if "rows" in f.metadata:
        return f.metadata["rows"](entry)
    return [(g.name, getattr(entry, g.name), g.metadata.get("help", "")) for g in dataclasses.fields(entry)]


def build(cls: type, raw: Any, where: str) -> Any:
    """The dataclass `cls` from TOML-shaped values: `raw`'s keys are its fields, a table's a dict
    of the nested class's. Every mistake names its table (`where` for the top level; "" for a
    command line with no config file) and key: an unknown key lists the valid ones, a missing
    required one says how to give it, a nested field the command sets itself says where to set
    it, and the dataclasses' own checks come back with the table's name."""
    missing = [s for s in settings(cls) if s.default is REQUIRED and not s.table and not s.argument and s.name not in raw]
    if missing and isinstance(raw, dict):
        raise AssayError(f"{where}: {', '.join(s.name for s in missing)} missing "
                         f"(a flag, e.g. {missing[0].flags[-1]}, or a key of --config)")
    return _build(cls, raw, where, {}, {})


def typed_section(cls: type, raw: Any, section: str) -> Any:
    """One TOML table -> the dataclass `cls`, naming the section and key of any mistake."""
    return _build(cls, raw, section, {}, {})


def _keys(cls: type, set_by_run: dict[str, str]) -> list[str]:
    """The keys `cls` takes at its TOML level: its fields, an inline table's in its place."""
    hints = typing.get_type_hints(cls)
    keys = []
    for f in dataclasses.fields(cls):
        if f.name in set_by_run:
            continue
        if _kind(f, hints[f.name]) == "inline":
            keys += _keys(_plain(hints[f.name])[0], f.metadata["set_by_run"])
        else:
            keys.append(f.name)
    return keys


def _build(cls: type, raw: Any, section: str, defaults: dict[str, Any], set_by_run: dict[str, str]) -> Any:
    """`cls` from one TOML table `raw`, checked against the keys it takes."""
    if not isinstance(raw, dict):
        raise AssayError(f"[{section}] must be a table, got {type(raw).__name__}")
    _check_keys(cls, raw, section, set_by_run)
    return _construct(cls, _values(cls, raw, section, defaults, set_by_run), section)


def _check_keys(cls: type, raw: dict[str, Any], section: str, set_by_run: dict[str, str]) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):  # an inline table's fields the command sets sit at this level too
        if _kind(f, hints[f.name]) == "inline" and f.name not in set_by_run:
            for key, elsewhere in f.metadata["set_by_run"].items():
                if key in raw:
                    raise AssayError(f"{_at(section)}{key}: set {elsewhere} (the command sets {section}.{key} from it)")
    for key, elsewhere in set_by_run.items():
        if key in raw:
            raise AssayError(f"{_at(section)}{key}: set {elsewhere} (the command sets {section}.{key} from it)")
    check_given(_keys(cls, set_by_run), sorted(raw), "key", _at(section).strip())


def _values(cls: type, raw: dict[str, Any], section: str, defaults: dict[str, Any], set_by_run: dict[str, str]) -> dict[str, Any]:
    """The constructor arguments of `cls` from its TOML level `raw` (already checked)."""
    hints = typing.get_type_hints(cls)
    values = dict(defaults)
    for f in dataclasses.fields(cls):
        if f.name in set_by_run:
            continue
        kind, meta, inner = _kind(f, hints[f.name]), f.metadata, _plain(hints[f.name])[0]
        if kind == "inline":
            values[f.name] = _construct(inner, _values(inner, raw, section, meta["defaults"], meta["set_by_run"]), section)
        elif f.name not in raw:
            continue
        elif kind == "table":
            values[f.name] = _build(inner, raw[f.name], f.name, meta["defaults"], meta["set_by_run"])
        elif kind == "array":
            values[f.name] = _array(f, inner, raw[f.name])
        else:
            value = raw[f.name]
            values[f.name] = tuple(value) if isinstance(value, list) and typing.get_origin(inner) is tuple else value
    return values


def _array(f: dataclasses.Field, hint: Any, raw: Any) -> Any:
    """An array of tables: each entry built as its class, named `name.i` in messages."""
    if "parse" in f.metadata:
        return f.metadata["parse"](raw, f.name)
    if not isinstance(raw, list):
        raise AssayError(f"[{f.name}] must be an array of tables ([[{f.name}]]), got {type(raw).__name__}")
    entries = [typed_section(typing.get_args(hint)[0], entry, f"{f.name}.{i}") for i, entry in enumerate(raw)]
    return tuple(entries) if typing.get_origin(hint) is tuple else entries


def _at(section: str) -> str:
    return f"[{section}] " if section else ""


def _construct(cls: type, values: dict[str, Any], section: str) -> Any:
    try:
        return cls(**values)
    except (TypeError, ValueError, AssayError) as exc:
        raise AssayError(f"{_at(section)}{exc}") from None


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
