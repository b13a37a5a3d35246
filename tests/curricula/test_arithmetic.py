"""The built-in arithmetic corpus: exact golds, deterministic, difficulty by steps."""

import ast
import operator

import pytest

from assay.curricula.arithmetic import ArithmeticSpec, generate_arithmetic

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}


def _evaluate(text):
    """An independent evaluator: Python's own parser, no eval()."""

    def walk(node):
        if isinstance(node, ast.BinOp):
            return _OPS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        assert isinstance(node, ast.Constant)
        return node.value

    return walk(ast.parse(text, mode="eval").body)


def test_golds_and_every_trace_step_are_exact():
    for problem in generate_arithmetic(500, seed=3):
        expression = problem.prompt.removeprefix("Compute ").removesuffix(".")
        assert _evaluate(expression) == int(problem.answer)
        assert all(_evaluate(stage) == int(problem.answer) for stage in problem.trace)
        assert problem.trace[0] == expression and problem.trace[-1] == problem.answer
        assert len(problem.trace) == problem.steps + 1
        assert problem.solution.endswith(f"\\boxed{{{problem.answer}}}")


def test_seeded_distinct_and_controllable():
    assert generate_arithmetic(50, seed=7) == generate_arithmetic(50, seed=7)
    assert generate_arithmetic(50, seed=7) != generate_arithmetic(50, seed=8)
    problems = generate_arithmetic(600, seed=0, spec=ArithmeticSpec(min_steps=2, max_steps=3, operators="+"))
    assert len({p.prompt for p in problems}) == 600
    assert {p.steps for p in problems} == {2, 3}
    assert all("-" not in p.prompt and "*" not in p.prompt for p in problems)


def test_impossible_specs_fail_clearly():
    with pytest.raises(ValueError, match="distinct"):
        generate_arithmetic(500, seed=0, spec=ArithmeticSpec(min_steps=1, max_steps=1, max_digits=1, operators="+"))
    with pytest.raises(ValueError, match="operators"):
        generate_arithmetic(5, seed=0, spec=ArithmeticSpec(operators="/"))
