"""Seeded generator of arithmetic problems with a controllable, labelled difficulty.

This is assay's built-in corpus (``builtin:arithmetic``) and the training data of the built-in
toy policy. It lives in curricula/ because it is a leaf both of its users may import:
pipelines/ ingests it, trainers/ trains the toy policy on it. In the spirit of
RandomCalculation ("Reasoning or Memorization?", 2025): every problem is freshly generated
from a seed, so no benchmark can contain it, and its gold answer is exact.

Difficulty is the number of binary operations (``steps``); the spec also controls operand
digits, the operator set and how often a sub-expression is parenthesised. Division is left
out on purpose: it would need either non-integer golds or rejection sampling that biases the
operand distribution.

Example:
    >>> problems = generate_arithmetic(3, seed=0)
    >>> [p.steps for p in problems]
    [4, 2, 4]
    >>> problems[1].prompt, problems[1].answer
    ('Compute (39+93)*42.', '5544')
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Union

# Operator precedence: higher binds tighter.
_PRECEDENCE = {"+": 1, "-": 1, "*": 2}
_APPLY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


@dataclass(frozen=True)
class ArithmeticSpec:
    """What the generator may produce. Every field is validated by `generate_arithmetic`."""

    min_steps: int = 1  # fewest binary operations in a problem
    max_steps: int = 6  # most binary operations; steps are drawn uniformly in [min, max]
    max_digits: int = 2  # operands are drawn uniformly from 0 .. 10**max_digits - 1
    operators: str = "+-*"  # any non-empty subset of "+-*"
    paren_prob: float = 0.3  # chance a new operation is applied to a whole sub-expression
    max_value: int = 10_000  # reject problems whose any intermediate |value| exceeds this


@dataclass(frozen=True)
class ArithmeticProblem:
    prompt: str
    answer: str  # exact integer gold, as text
    steps: int  # the difficulty label: number of binary operations
    trace: tuple[str, ...]  # the expression after each reduction, ending in the answer
    solution: str  # worked reduction plus a \boxed{} answer


@dataclass(frozen=True)
class _Op:
    op: str
    left: "_Node"
    right: "_Node"


_Node = Union[int, _Op]


def _render(node: _Node, first: bool = True) -> str:
    """Print with only the parentheses the precedence rules need."""
    if isinstance(node, int):
        # A negative intermediate inside an expression reads as a number only in parentheses.
        return str(node) if node >= 0 or first else f"({node})"
    left = _render(node.left, first)
    right = _render(node.right, False)
    if isinstance(node.left, _Op) and _PRECEDENCE[node.left.op] < _PRECEDENCE[node.op]:
        left = f"({_render(node.left, True)})"
    if isinstance(node.right, _Op):
        weaker = _PRECEDENCE[node.right.op] < _PRECEDENCE[node.op]
        # a-(b+c) and a-(b-c) change meaning without parentheses; a+(b-c) and a*(b*c) do not.
        same_but_minus = _PRECEDENCE[node.right.op] == _PRECEDENCE[node.op] and node.op == "-"
        if weaker or same_but_minus:
            right = f"({_render(node.right, True)})"
    return f"{left}{node.op}{right}"


def _reduce_once(node: _Node) -> _Node:
    """Evaluate the leftmost operation whose operands are both numbers."""
    assert isinstance(node, _Op)
    if isinstance(node.left, int) and isinstance(node.right, int):
        return _APPLY[node.op](node.left, node.right)
    if isinstance(node.left, _Op):
        return _Op(node.op, _reduce_once(node.left), node.right)
    return _Op(node.op, node.left, _reduce_once(node.right))


def _build(rng: random.Random, steps: int, spec: ArithmeticSpec) -> _Node:
    hi = 10**spec.max_digits - 1
    node: _Node = rng.randint(0, hi)
    for _ in range(steps):
        op = rng.choice(spec.operators)
        operand: _Node = rng.randint(0, hi)
        if isinstance(node, _Op) and rng.random() < spec.paren_prob:
            # Grow on the left so the running sub-expression gets parenthesised when needed.
            node = _Op(op, node, operand)
        elif rng.random() < 0.5:
            node = _Op(op, node, operand)
        else:
            node = _Op(op, operand, node)
    return node


def _parse(text: str) -> _Node:
    """Parse a rendered expression back into the standard left-associative tree.

    Generation grows trees on either side, so `a+(b+c)` prints as `a+b+c`; reducing the
    parsed tree instead makes every trace evaluate left to right, respecting precedence,
    the way the printed problem reads (and the way the toy policy learns to work).
    """
    tokens = re.findall(r"\d+|[-+*()]", text)
    pos = 0

    def atom() -> _Node:
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            if tokens[pos] == "-":  # a parenthesised negative number, "(-5)"
                value = -int(tokens[pos + 1])
                pos += 3
                return value
            inner = expr()
            pos += 1  # ")"
            return inner
        if tok == "-":  # a leading negative number
            value = -int(tokens[pos])
            pos += 1
            return value
        return int(tok)

    def term() -> _Node:
        nonlocal pos
        node = atom()
        while pos < len(tokens) and tokens[pos] == "*":
            pos += 1
            node = _Op("*", node, atom())
        return node

    def expr() -> _Node:
        nonlocal pos
        node = term()
        while pos < len(tokens) and tokens[pos] in "+-":
            op = tokens[pos]
            pos += 1
            node = _Op(op, node, term())
        return node

    return expr()


def _solve(node: _Node, max_value: int) -> tuple[str, ...] | None:
    stages = [_render(node)]
    node = _parse(stages[0])
    while isinstance(node, _Op):
        node = _reduce_once(node)
        if _largest(node) > max_value:
            return None
        stages.append(_render(node))
    return tuple(stages)


def _largest(node: _Node) -> int:
    if isinstance(node, int):
        return abs(node)
    return max(_largest(node.left), _largest(node.right))


def _check(spec: ArithmeticSpec) -> None:
    if not 1 <= spec.min_steps <= spec.max_steps:
        raise ValueError(f"need 1 <= min_steps <= max_steps, got {spec.min_steps}, {spec.max_steps}")
    if not 1 <= spec.max_digits <= 6:
        raise ValueError(f"max_digits must be in 1..6, got {spec.max_digits}")
    if not spec.operators or set(spec.operators) - set(_APPLY):
        raise ValueError(f"operators must be a non-empty subset of '+-*', got {spec.operators!r}")
    if not 0.0 <= spec.paren_prob <= 1.0:
        raise ValueError(f"paren_prob must be in [0, 1], got {spec.paren_prob}")


def generate_arithmetic(
    count: int, seed: int, spec: ArithmeticSpec = ArithmeticSpec()
) -> list[ArithmeticProblem]:
    """`count` distinct problems; the same (count, seed, spec) always gives the same list."""
    _check(spec)
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    rng = random.Random(seed)
    seen: set[str] = set()
    problems: list[ArithmeticProblem] = []
    attempts = 0
    while len(problems) < count:
        steps = rng.randint(spec.min_steps, spec.max_steps)
        stages = _solve(_build(rng, steps, spec), spec.max_value)
        # Redraw at the same step count, so rejections do not thin out the long problems.
        while stages is None or stages[0] in seen:
            attempts += 1
            if attempts > 50 * count + 1000:
                raise ValueError(
                    f"cannot draw {count} distinct problems from {spec}; "
                    "widen max_digits, max_value or the step range"
                )
            stages = _solve(_build(rng, steps, spec), spec.max_value)
        seen.add(stages[0])
        answer = stages[-1]
        problems.append(
            ArithmeticProblem(
                prompt=f"Compute {stages[0]}.",
                answer=answer,
                steps=steps,
                trace=stages,
                solution="=".join(stages) + f" \\boxed{{{answer}}}",
            )
        )
    return problems
