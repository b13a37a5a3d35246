"""Checks a command makes before anything slow: before torch, transformers or Prefect is
imported, a model loaded or a sample drawn. Each imports nothing heavy, so a mistake is
answered about as fast as `assay --help`.

- `model_folder(spec)`: `--model` as a checkpoint folder. A built-in name (`toy`), a local
  folder holding config.json, or a Hugging Face hub id `ORG/NAME`: found in the Hugging Face
  cache, else downloaded (safetensors, configs and tokenizer files only) unless HF_HUB_OFFLINE
  is set; when it cannot be had, the error says how to fetch it.
- `check_engine(kind)`: the Python package an engine needs is installed (vllm for `--engine
  vllm`), found without importing it.
- `check_verifier(spec)`: `--verifier` names a built-in or a plug-in that imports
  (assay.verifiers.plugins); an unknown name fails listing the valid ones.

Example:
    >>> model_folder("toy").name
    'checkpoint'
    >>> model_folder("/nonexistent")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ...
    AssayError: --model /nonexistent: no such folder ...
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from assay.pipelines.errors import AssayError
from assay.trainers.models import MODELS

# engine -> (the package it imports, how to get it)
ENGINE_PACKAGES = {"vllm": ("vllm", "make a vLLM environment with scripts/install-vllm cpu (vLLM's CPU build) or "
                                    "scripts/install-vllm cuda (README: Set up), or use --engine transformers")}

HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")
# What a transformers or vLLM engine loads: weights as safetensors only (never pickles), configs,
# tokenizer files and chat templates.
MODEL_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "*.jinja"]


def _fetch_hint(spec: str) -> str:
    return (f"fetch it where the hub is reachable with `hf download {spec}` (then copy the Hugging Face cache, "
            f"~/.cache/huggingface, here or point HF_HOME at it), or pass a local checkpoint folder "
            f"(config.json, *.safetensors, tokenizer files); built-in models: {', '.join(MODELS)}")


def checkpoint_folder(path: Path, spec: str, option: str = "--model") -> Path:
    """`path` if it is a Hugging Face checkpoint folder, else an AssayError naming what is wrong."""
    if not path.is_dir():
        raise AssayError(f"{option} {spec}: a model is a checkpoint folder (config.json, *.safetensors, tokenizer files), "
                         "not a file")
    if not (path / "config.json").is_file():
        raise AssayError(f"{option} {spec}: {path} is not a Hugging Face checkpoint folder (no config.json)")
    return path


def model_folder(spec: str, option: str = "--model") -> Path:
    """The checkpoint folder `--model spec` names: built-in, local, or a hub id (see module
    docstring). `option` names where the value came from in messages."""
    if spec in MODELS:
        return MODELS[spec]
    path = Path(spec).expanduser()
    if path.exists():
        return checkpoint_folder(path, spec, option)
    if HUB_ID.fullmatch(spec):
        return hub_model(spec, option)
    raise AssayError(f"{option} {spec}: no such folder, and not a hub id (ORG/NAME); " + _fetch_hint("ORG/NAME"))


def hub_model(repo_id: str, option: str = "--model") -> Path:
    """The cached snapshot of hub model `repo_id`, downloaded first when it is not cached and the
    hub may be used (HF_HUB_OFFLINE unset)."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return checkpoint_folder(Path(snapshot_download(repo_id, local_files_only=True)), repo_id, option)
    except (LocalEntryNotFoundError, HFValidationError, OSError):
        pass  # not cached (or not a valid id): try the hub below, or say how to get it
    if constants.HF_HUB_OFFLINE:
        raise AssayError(f"{option} {repo_id}: not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and HF_HUB_OFFLINE "
                         "is set; " + _fetch_hint(repo_id))
    try:
        folder = snapshot_download(repo_id, allow_patterns=MODEL_FILES)
    except Exception as exc:  # noqa: BLE001 - every hub failure gets the same advice
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AssayError(f"{option} {repo_id}: not in the Hugging Face cache and the download failed ({first[:200]}); "
                         + _fetch_hint(repo_id)) from None
    return checkpoint_folder(Path(folder), repo_id, option)


def check_engine(kind: str, option: str = "--engine") -> None:
    """Fail now if engine `kind` needs a package that is not installed (names it and how to get it).
    Unknown engine names are left to the engine table's own check."""
    if kind in ENGINE_PACKAGES:
        package, how = ENGINE_PACKAGES[kind]
        if importlib.util.find_spec(package) is None:
            raise AssayError(f"{option} {kind} needs the {package} package, which is not installed: {how}")


def check_verifier(spec: str | None, option: str = "--verifier") -> None:
    """Fail now if `spec` (None: each row's own verifier) names no usable verifier."""
    from assay.verifiers import resolve_verifier

    if spec is not None:
        try:
            resolve_verifier(spec)
        except ValueError as exc:
            raise AssayError(f"{option}: {exc}") from None


def shard_folder(path: Path) -> Path:
    """`path` if it is a folder, else an AssayError saying how shards are made."""
    if not Path(path).is_dir():
        raise AssayError(f"{path}: no such shard folder (write one with `assay export --format parquet --out DIR`)")
    return Path(path)


def check_model_and_engine(model: str, engine: str, section: str | None = None) -> Path:
    """Both checks, engine first (it costs nothing); the model's folder. With `section` the
    messages name a config file's keys (`[difficulty] model`) instead of the flags."""
    check_engine(engine, f"[{section}] engine =" if section else "--engine")
    return model_folder(model, f"[{section}] model =" if section else "--model")

