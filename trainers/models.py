"""The built-in models, by name: importable without torch, so a command can check a `--model`
before it loads anything heavy (assay.pipelines.steps.preflight).

Example:
    >>> MODELS["toy"].name
    'checkpoint'
"""

from __future__ import annotations

from pathlib import Path

TOY_CHECKPOINT = Path(__file__).parent / "toy" / "checkpoint"
MODELS = {"toy": TOY_CHECKPOINT}  # built-in model names -> checkpoint folders
