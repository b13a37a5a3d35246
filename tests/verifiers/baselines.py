"""math-verify as a baseline, importable by tests and benchmarks (a verifier worker never
imports the caller's script, so a function it runs must live in a module like this one).

Example:
    >>> math_verify_pair("so the answer is $\\\\boxed{4}$", "4", "math")
    True
"""

from __future__ import annotations

import logging


def math_verify_pair(response: str, gold: str, verifier: str) -> bool:
    """math-verify used as documented, with its default (signal-based) timeouts: `parse(gold)`,
    `parse(response)`, `verify(gold, pred)`; letters for the `mc` verifier."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, StringExtractionConfig, parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    config = [StringExtractionConfig()] if verifier == "mc" else [LatexExtractionConfig(), ExprExtractionConfig()]
    gold_text = gold if verifier == "mc" else f"${gold}$"
    return bool(verify(parse(gold_text, extraction_config=config), parse(response, extraction_config=config)))
