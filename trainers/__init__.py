"""Rollout engines, the toy policy and the GRPO trainer.

Importing this package before torch makes torch's OpenMP threads wait passively (an
`OMP_WAIT_POLICY` already in the environment wins). Why: a decode step is hundreds of small
ops, each ending at a barrier where OpenMP threads spin by default. On a busy machine the
spinning threads keep the cores from the very thread the barrier waits for (descheduled by
another process), and the TransformersEngine fell to a tenth of its rate and below; sleeping
waiters give the cores back (bench/bench_engine.py --loaded measures it). libgomp reads the
variable once, when torch loads it, so it must be set before the first `import torch`.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
