"""The README's commands for other trainers, as the client tests run them."""

from __future__ import annotations

import shlex
from pathlib import Path

import assay.verifiers.rewards as rewards

README = Path(__file__).resolve().parents[2] / "README.md"


def command(heading: str) -> list[str]:
    """The arguments of the last command in the first bash block under `heading`, with
    $REWARDS replaced by the rewards file's path (what the block's first line sets it to)."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(f"\n{heading}\n"):]
    block = section[section.index("```bash\n") + len("```bash\n"):]
    block = block[: block.index("```")]
    lines = block.replace("\\\n", " ").splitlines()
    return [arg.replace("$REWARDS", rewards.__file__) for arg in shlex.split(lines[-1])]
