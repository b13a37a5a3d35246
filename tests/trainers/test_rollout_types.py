"""The rollout contract's Prompt and Observation: the one prompt type and the one difficulty
observation of the estimator (offline), the trainer (online) and the catalog."""

from assay.curricula.difficulty import StatusCounts
from assay.trainers.rollout import Observation, Prompt
from assay.verifiers import Check, Verdict


def test_an_observation_counts_every_status_and_rewards_only_decided_samples():
    verdicts = [Verdict.of(True), Verdict("incorrect", 0.75), Verdict.fail("timeout", ""), Verdict.fail("no_answer", "")]
    observed = Observation.of("u1", verdicts, [10, 20, 30, 40], step=3)
    # decided: correct, incorrect, no_answer -> rewards 1, 0, 0 (3 of 4 tests passed is no solve);
    # tokens: all four samples, (10 + 20 + 30 + 40) / 4.
    assert observed == Observation("u1", StatusCounts(correct=1, incorrect=1, no_answer=1, timeout=1), 1 / 3, 25.0, 3)
    assert (observed.n, observed.n_correct) == (3, 1)
    # Nothing decided: no reward at all (None), never a reward of 0.
    assert Observation.of("u2", [Verdict.fail("error", "")], [7]).mean_reward is None


def test_a_prompt_checks_a_completion_against_its_gold_with_its_verifier():
    prompt = Prompt("u1", "Which is larger? (A) 2 (B) 3", "B", "mc", {"choices": ["2", "3"]}, "arc")
    assert prompt.check("(B)") == Check("(B)", "B", "mc", {"choices": ["2", "3"]})
