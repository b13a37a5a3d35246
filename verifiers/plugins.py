"""Verifiers of your own: plug-ins found by name, called inside the verifier workers.

A plug-in is a top-level function with the built-ins' contract, `(response: str, gold: str,
**options)`, that returns a Verdict (correct exactly when its score is 1.0), or a bool
(correct / incorrect), or a number in [0, 1] (the score: status correct at 1, incorrect below;
assay.verifiers.verdict.as_verdict). It is
named in one of two ways:

- `package.module:function`: the module is found on this process's sys.path, else in the
  current folder. Only the operator names one (`--verifier` on the command line; in code, an
  assay.verifiers.OperatorSpec): a data row naming `shutil:rmtree` must not choose code to
  run, so rows may name built-ins and entry points only.
- an entry point of group `assay.verifiers` of an installed distribution, by its name:
  `[project.entry-points."assay.verifiers"] answer-tag = "my_rewards.tags:answer_tag"`. Rows
  may name these (the operator installed them).

Loaded where: this process imports the module to check it and read its attributes; a verifier
worker (a fresh `python -I`, which ignores PYTHONPATH and the current folder) gets the plug-in
as (root, module, qualname), where root is the sys.path entry the module was found under, and
imports it itself. The function is never pickled.

Optional attributes, read from the function, else its module:
- `__version__` or `VERSION`: the plug-in's version, recorded in the difficulty history as
  `assay-verifiers-2+NAME@VERSION`. Without one, VERSION is `sha256:` and 12 hex digits of the
  module file's content as this process imported it, so the next run after an edit starts a
  new history (a distribution's version is not used: an editable install keeps it while its
  code changes).
- `TIMEOUT_S`: CPU seconds one call may take in a worker, instead of the command's timeout.

Example:
    >>> import assay.verifiers.simple as m
    >>> p = find_plugin("assay.verifiers.simple:verify_exact")
    >>> (p.module, p.qualname, p.root == root_of(m), p.timeout_s)
    ('assay.verifiers.simple', 'verify_exact', True, None)
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import math
import os
import re
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

ENTRY_POINT_GROUP = "assay.verifiers"
MODULE_SPEC = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


class PluginError(ValueError):
    """A plug-in that cannot be used: its module does not import, the name is not a function, ..."""


@dataclass(frozen=True)
class Plugin:
    name: str  # as named: an entry point's name, or package.module:function
    root: str  # the sys.path entry its module lies under, which a worker adds to its own; "" see root_of
    module: str
    qualname: str
    version: str  # declared __version__ / VERSION, else sha256:<12 hex> of the module file
    timeout_s: float | None  # its TIMEOUT_S (CPU seconds per call); None: the caller's timeout

    @property
    def location(self) -> tuple[str, str, str]:
        """What a worker needs to import it: (root, module, qualname)."""
        return (self.root, self.module, self.qualname)


def entry_point_names() -> list[str]:
    """Names of the installed plug-ins (entry points of group assay.verifiers), sorted."""
    return sorted({ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)})


def find_plugin(spec: str, paths: bool = True) -> Plugin | None:
    """The plug-in `spec` names, imported here and described; None when it names no entry point
    and is not a module path. PluginError when it names one that cannot be used. With
    paths=False (a data row's verifier) a module path is refused."""
    if MODULE_SPEC.fullmatch(spec):
        if not paths:
            raise PluginError(f"{spec}: a package.module:function plug-in is chosen with --verifier (in code: "
                              "an assay.verifiers.OperatorSpec), never by a row "
                              f"(rows may name built-ins and installed entry points of group {ENTRY_POINT_GROUP})")
        module, qualname = spec.split(":")
        return _describe(spec, module, qualname, _import(spec, module, search_cwd=True))
    found = [ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == spec]
    if not found:
        return None
    target = found[0].value.replace(" ", "")
    if not MODULE_SPEC.fullmatch(target):
        raise PluginError(f"{spec}: entry point {target!r} of group {ENTRY_POINT_GROUP} is not package.module:function")
    module, qualname = target.split(":")
    return _describe(spec, module, qualname, _import(spec, module, search_cwd=False))


def _import(spec: str, module: str, search_cwd: bool) -> ModuleType:
    top = module.split(".")[0]
    if search_cwd and importlib.util.find_spec(top) is None and os.getcwd() not in sys.path:
        # Appended, not prepended: it only supplies names nothing earlier on the path has,
        # which is also the order a worker searches in (its path, then the plug-in's root).
        sys.path.append(os.getcwd())
    try:
        return importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - any failure to import is the plug-in's, named here
        raise PluginError(f"{spec}: cannot import {module} ({type(exc).__name__}: {str(exc)[:300]})") from None


def _attribute(holders: tuple[Any, ...], *names: str) -> Any:
    for holder in holders:
        for name in names:
            if getattr(holder, name, None) is not None:
                return getattr(holder, name)
    return None


_SOURCE_HASHES: weakref.WeakKeyDictionary[ModuleType, str] = weakref.WeakKeyDictionary()


def _describe(spec: str, module: str, qualname: str, mod: ModuleType) -> Plugin:
    fn = _member(mod, qualname)
    if fn is None or not callable(fn):
        raise PluginError(f"{spec}: {module} has no function {qualname}")
    if not getattr(mod, "__file__", None):
        raise PluginError(f"{spec}: {module} has no file (a namespace package?); a verifier worker imports a plug-in from its file")
    declared = _attribute((fn, mod), "__version__", "VERSION")
    if mod not in _SOURCE_HASHES:  # read once per import: the version names the code this process runs
        _SOURCE_HASHES[mod] = "sha256:" + hashlib.sha256(Path(mod.__file__).read_bytes()).hexdigest()[:12]
    version = str(declared) if declared is not None else _SOURCE_HASHES[mod]
    timeout = _attribute((fn, mod), "TIMEOUT_S")
    if timeout is not None and not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
                                    and math.isfinite(timeout) and timeout > 0):
        raise PluginError(f"{spec}: TIMEOUT_S must be a positive number of seconds, got {timeout!r}")
    return Plugin(spec, root_of(mod), module, qualname, version, None if timeout is None else float(timeout))


def _member(mod: ModuleType, qualname: str) -> Any:
    obj: Any = mod
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


def root_of(mod: ModuleType) -> str:
    """The sys.path entry `mod` was imported from: its file's folder, up one level per dot in
    its name (a package's __init__ counts as the package folder). "" when no path entry holds
    it (an import hook found it, as for an editable install that maps packages to folders):
    then the worker's own sys.path, the caller's at its start, finds it the same way."""
    origin = getattr(mod, "__file__", None)
    if not origin:
        raise PluginError(f"{mod.__name__} has no file: a verifier worker imports a plug-in from its file")
    path = Path(os.path.abspath(origin))
    if path.stem == "__init__":
        path = path.parent
    root = str(path.parents[mod.__name__.count(".")])
    return root if importlib.machinery.PathFinder.find_spec(mod.__name__.split(".")[0], [root]) else ""


_LOADED: dict[tuple[str, str, str], Callable[..., Any]] = {}


def load(root: str, module: str, qualname: str) -> Callable[..., Any]:
    """In a worker: the plug-in function at `location`, imported once. ImportError when the
    module imports from elsewhere than `root` (another module of the same name came first)."""
    key = (root, module, qualname)
    if key not in _LOADED:
        if root and root not in sys.path:
            sys.path.append(root)
        mod = importlib.import_module(module)
        if root_of(mod) != root:
            raise ImportError(f"{module} was imported from {root_of(mod)}, not from {root}")
        fn = _member(mod, qualname)
        if not callable(fn):
            raise ImportError(f"{module} has no function {qualname}")
        _LOADED[key] = fn
    return _LOADED[key]
