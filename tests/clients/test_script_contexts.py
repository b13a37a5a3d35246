"""assay's rewards inside the scripts trainers' users write: unguarded (TRL's examples), guarded
with `import torch` at the top, under torchrun, and in a Dask worker. Each gives the verdicts
verify_batch gives in this process (the verdicts `assay verify` writes), never silent zeros.
The verifier workers are fresh interpreters that never import the calling script."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from assay.verifiers import Check, verify_batch
from assay.verifiers.rewards import compute_score, trl_reward

# (response, gold) pairs with hand-derived scores; the last needs sympy (equivalent forms).
PAIRS = [("3+4=7 \\boxed{7}", "7"), ("\\boxed{8}", "7"), ("#### 18", "18"), ("\\boxed{\\frac{1}{2}}", "0.5")]
WANT = [1.0, 0.0, 1.0, 1.0]

# Every entry point, at the top of a script: the form a worker re-running the script would break.
BODY = f"""
import json, asyncio
from assay.verifiers.rewards import compute_score, compute_score_async, reward_func, trl_reward

PAIRS = {PAIRS!r}
opts = dict(answer=[g for _, g in PAIRS], verifier=["math"] * len(PAIRS), verifier_options=["{{}}"] * len(PAIRS))

async def together():
    return await asyncio.gather(*[compute_score_async("src", r, g, {{"verifier": "math"}}) for r, g in PAIRS])

out = {{
    "trl": trl_reward([None] * len(PAIRS), [r for r, _ in PAIRS], **opts),
    "verl": [compute_score("src", r, g, {{"verifier": "math", "verifier_options": "{{}}"}}) for r, g in PAIRS],
    "verl_async": asyncio.run(together()),
    "openrlhf": reward_func(["P" + r for r, _ in PAIRS], ["P"] * len(PAIRS), [g for _, g in PAIRS])["rewards"].tolist(),
}}
print("RESULT " + json.dumps(out), flush=True)
"""

UNGUARDED = "import torch\n" + BODY
GUARDED = "import torch\n\ndef main():\n" + "".join(f"    {line}\n" for line in BODY.splitlines()) + '\n\nif __name__ == "__main__":\n    main()\n'


def results(stdout: str) -> list[dict]:
    return [json.loads(line.removeprefix("RESULT ")) for line in stdout.splitlines() if line.startswith("RESULT ")]


def check(result: dict) -> None:
    assert result == {"trl": WANT, "verl": WANT, "verl_async": WANT, "openrlhf": WANT}


def run(argv, tmp_path, timeout=300) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_pairs_verdicts_in_this_process():
    assert [v.score for v in verify_batch([Check(r, g) for r, g in PAIRS], workers=2)] == WANT


@pytest.mark.slow
def test_unguarded_script_that_imports_torch_first(tmp_path):
    (tmp_path / "train.py").write_text(UNGUARDED)
    [result] = results(run([sys.executable, "train.py"], tmp_path))
    check(result)


@pytest.mark.slow
def test_guarded_script_that_imports_torch_first(tmp_path):
    (tmp_path / "train.py").write_text(GUARDED)
    [result] = results(run([sys.executable, "train.py"], tmp_path))
    check(result)


@pytest.mark.slow
def test_unguarded_script_under_torchrun(tmp_path):
    (tmp_path / "train.py").write_text(UNGUARDED)
    out = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "train.py"], tmp_path)
    both = results(out)
    assert len(both) == 2
    for result in both:
        check(result)


@pytest.mark.slow
def test_in_a_dask_worker_process(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                  local_directory=str(tmp_path)) as cluster, distributed.Client(cluster) as client:
        trl = client.submit(trl_reward, [None] * len(PAIRS), [r for r, _ in PAIRS], answer=[g for _, g in PAIRS],
                            verifier=["math"] * len(PAIRS), verifier_options=["{}"] * len(PAIRS)).result(timeout=300)
        verl = client.gather([client.submit(compute_score, "src", r, g, None, pure=False) for r, g in PAIRS])
        # The worker is another process, with a pool of its own.
        worker_pid = client.run(os.getpid)
    assert trl == WANT and verl == WANT
    assert os.getpid() not in worker_pid.values()
