"""The reward entry points for other trainers: each gives verify_batch's verdicts in its
trainer's form, and raises instead of returning zeros when verdicts are not being given."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from assay.verifiers import MAX_INPUT_CHARS, Check, verify_batch
from assay.verifiers import rewards
from assay.verifiers.rewards import (
    RewardError,
    RewardSettings,
    compute_score,
    compute_score_async,
    reward_func,
    trl_reward,
)

# (response, gold, verifier, options) with the verdict score each must get, derived by hand.
CASES = [
    ("3+4=7 \\boxed{7}", "7", "math", "{}", 1.0),
    ("\\boxed{8}", "7", "math", "{}", 0.0),
    ("so it is 0.5", "1/2", "numeric", '{"rel_tol": 1e-06}', 1.0),
    ("The answer is B", "C", "mc", "{}", 0.0),
    ("#### 18", "18", None, None, 1.0),  # no verifier given: math
]


@pytest.fixture(autouse=True)
def fresh_window(monkeypatch):
    # Each test starts with no verdicts in the failure window.
    monkeypatch.setattr(rewards, "_RECENT", rewards._Recent())


def expected_verdicts():
    items = [Check(r, g, v or "math", json.loads(o or "{}")) for r, g, v, o, _ in CASES]
    return [v.score for v in verify_batch(items, workers=2)]


def test_every_entry_point_gives_verify_batchs_scores():
    want = [score for *_, score in CASES]
    assert expected_verdicts() == want
    infos = [{"verifier": v, "verifier_options": o} if v else None for _, _, v, o, _ in CASES]
    assert [compute_score("src", r, g, info) for (r, g, *_), info in zip(CASES, infos)] == want

    async def together():
        return await asyncio.gather(*[compute_score_async("src", r, g, info) for (r, g, *_), info in zip(CASES, infos)])

    assert asyncio.run(together()) == want
    completions = [[{"role": "assistant", "content": r}] for r, *_ in CASES]
    assert trl_reward([None] * len(CASES), completions, answer=[g for _, g, *_ in CASES],
                      verifier=[v for _, _, v, _, _ in CASES], verifier_options=[o for *_, o, _ in CASES]) == want
    # OpenRLHF: the query is the decoded prompt followed by the response; labels are assay's JSON
    # (options as an object or as JSON text), a dict, or a bare gold.
    prompt = "<bos><|user|>Compute 3+4.<|assistant|>"
    labels = [json.dumps({"answer": g, "verifier": v, "verifier_options": json.loads(o)}) if v else g for _, g, v, o, _ in CASES]
    labels[1] = {"answer": "7", "verifier": "math", "verifier_options": "{}"}
    out = reward_func([prompt + r + "<eos>" for r, *_ in CASES], [prompt] * len(CASES), labels)
    assert out["rewards"].tolist() == out["scores"].tolist() == want and out["extra_logs"] == {}


def test_openrlhf_query_that_does_not_start_with_its_prompt_is_an_error_not_a_zero():
    item = rewards._openrlhf_item("something else \\boxed{7}", "<bos>prompt", "7")
    assert item.response is None
    assert [v.status for v in verify_batch([item], workers=1)] == ["error"]


def test_a_call_whose_every_verdict_failed_raises():
    # Responses over MAX_INPUT_CHARS are error verdicts: nothing was verified.
    huge = "9" * (MAX_INPUT_CHARS + 1)
    with pytest.raises(RewardError, match="every one of 2 verdicts was a timeout or an error"):
        trl_reward([None, None], [huge, huge], answer=["7", "7"], verifier=["math", "math"], verifier_options=["{}", "{}"])


def test_failure_share_over_the_window_raises_once_enough_verdicts_are_in(monkeypatch):
    monkeypatch.delenv("ASSAY_REWARD_MAX_FAILED", raising=False)
    huge = "9" * (MAX_INPUT_CHARS + 1)
    # One verdict at a time, as verl's naive manager calls: 19 good ones, then errors.
    for _ in range(19):
        assert compute_score("src", "\\boxed{7}", "7") == 1.0
    # 1 of 20 is 5%, not over 5%: scored 0 (an isolated failure is a 0 for that sample).
    assert compute_score("src", huge, "7") == 0.0
    # 2 of 21 is 9.5% > 5%.
    with pytest.raises(RewardError, match="2 of the last 21 verdicts were timeouts or errors"):
        compute_score("src", huge, "7")


def test_a_larger_allowed_share_accepts_the_failures(monkeypatch):
    monkeypatch.setenv("ASSAY_REWARD_MAX_FAILED", "0.2")
    huge = "9" * (MAX_INPUT_CHARS + 1)
    scores = trl_reward([None] * 10, ["\\boxed{7}"] * 8 + [huge] * 2, answer=["7"] * 10, verifier=["math"] * 10,
                        verifier_options=["{}"] * 10)
    assert scores == [1.0] * 8 + [0.0] * 2


def test_settings_come_from_the_environment_and_bad_values_are_named():
    assert RewardSettings.from_env({"ASSAY_REWARD_WORKERS": "3", "ASSAY_REWARD_TIMEOUT_S": "5", "ASSAY_REWARD_MAX_FAILED": "0"}) == \
        RewardSettings(3, 5.0, 0.0)
    defaults = RewardSettings.from_env({})
    assert 1 <= defaults.workers <= rewards.MAX_WORKERS and defaults.timeout_s == 2.0 and defaults.max_failed == 0.05
    with pytest.raises(RewardError, match="ASSAY_REWARD_WORKERS='two' is not a int"):
        RewardSettings.from_env({"ASSAY_REWARD_WORKERS": "two"})
    with pytest.raises(RewardError, match="ASSAY_REWARD_MAX_FAILED in \\[0, 1\\]"):
        RewardSettings.from_env({"ASSAY_REWARD_MAX_FAILED": "5"})


def test_unknown_verifier_names_are_the_datas_fault_and_said_so():
    with pytest.raises(ValueError, match="unknown verifier 'regex'; valid: math"):
        compute_score("src", "\\boxed{7}", "7", {"verifier": "regex"})


def test_a_pool_that_cannot_start_raises_a_reward_error():
    # A real failure of the pool: its workers' interpreter exits at once (in a child process,
    # so this test's own pool is untouched).
    script = (
        "import multiprocessing\n"
        "multiprocessing.set_executable('/bin/false')\n"
        "from assay.verifiers.rewards import RewardError, compute_score\n"
        "try:\n"
        "    print(compute_score('src', '\\\\boxed{7}', '7'))\n"
        "except RewardError as exc:\n"
        "    print('RewardError:', exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("RewardError: the verifier pool failed, so no rewards are returned: RuntimeError"), done.stdout


def test_the_file_loaded_by_path_as_verl_and_openrlhf_load_it():
    # Both load a reward file with spec_from_file_location and never register it in sys.modules.
    import importlib.util

    spec = importlib.util.spec_from_file_location("reward_func", rewards.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.compute_score("src", "\\boxed{7}", "7") == 1.0
    assert module.reward_func(["P\\boxed{7}"], ["P"], ["8"])["rewards"].tolist() == [0.0]
