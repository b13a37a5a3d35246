"""Where a flow's tasks run: `--runner local|dask|ray [--cluster ADDRESS]`.

- `local` (default): in this process, one task at a time (Prefect's thread pool with one
  thread), so one copy of the model is in memory.
- `dask` (prefect-dask): without --cluster, a `distributed` cluster on this machine, one
  worker per GPU (each worker sees only its own GPU), else up to 4 CPU workers with one
  thread each; with `--cluster tcp://HOST:8786`, the scheduler of an existing cluster.
- `ray` (prefect-ray, `pip install 'assay[ray]'`): without --cluster, a Ray instance on this
  machine; with `--cluster ray://HOST:10001` (or `auto`), an existing cluster. A sampling
  task asks Ray for one GPU when the cluster has any.

Workers never open the catalog (DuckDB allows one writer): a task samples and verifies, and
returns its observations; the flow writes them. A worker verifies in the verifiers' process
pool, so Dask workers must not be daemons: workers started by hand need
`DASK_DISTRIBUTED__WORKER__DAEMON=False dask worker ...` (the local cluster does this itself).

Remote workers report their task runs to the Prefect API and read and write task results
themselves, so `--cluster` needs (`remote_problems` says which is missing):
1. PREFECT_API_URL naming a Prefect server every worker can reach, answering now (`assay
   serve` starts one; for other machines, `prefect server start --host 0.0.0.0`);
2. shared result storage: PREFECT_LOCAL_STORAGE_PATH on a folder every worker mounts, or
   PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK naming a remote storage block;
and the model folder at the same path on every worker. On this machine (no --cluster) the
workers are child processes: they share the disk, and the embedded server's address is
handed to them.

Example:
    >>> from pathlib import Path
    >>> from assay.pipelines.flows.prefect_env import PrefectEnv
    >>> embedded = PrefectEnv(Path("h"), Path("r"), api_url=None, results_set_by_user=False)
    >>> [p.split(":")[0] for p in remote_problems(embedded, healthy=lambda url: True)]
    ['no Prefect API', 'no shared result storage']
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from assay.pipelines.errors import AssayError, chosen
from assay.pipelines.flows.prefect_env import PrefectEnv
from assay.verifiers.names import names_help

LOCAL_CPU_WORKERS = 4  # most CPU workers of a cluster started on this machine


def api_healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url.rstrip('/')}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def remote_problems(env: PrefectEnv, healthy: Callable[[str], bool] = api_healthy) -> list[str]:
    """What remote workers would lack, one line each; [] when nothing is missing."""
    problems = []
    if env.api_url is None:
        problems.append("no Prefect API: set PREFECT_API_URL to a server every worker can reach "
                        "(start one with `assay serve` or `prefect server start --host 0.0.0.0`)")
    elif not healthy(env.api_url):
        problems.append(f"Prefect API {env.api_url} does not answer: start the server, or fix PREFECT_API_URL")
    if not env.results_set_by_user:
        problems.append(f"no shared result storage: workers would write results to {env.results} on their own disks; "
                        "set PREFECT_LOCAL_STORAGE_PATH to a folder every worker mounts, or "
                        "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK to a remote storage block")
    return problems


def task_runner(config: RunnerConfig, env: PrefectEnv) -> Any:
    """The Prefect task runner `config` names, after checking what remote workers need."""
    if config.cluster:
        problems = remote_problems(env)
        if problems:
            raise AssayError(f"--runner {config.runner} --cluster {config.cluster}: remote workers need a reachable "
                             "Prefect API and shared result storage:\n  " + "\n  ".join(problems))
    return RUNNERS[config.runner](config.cluster)


def _local(cluster: str | None) -> Any:
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=1)


def _dask(cluster: str | None) -> Any:
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise AssayError("--runner dask needs prefect-dask: pip install 'assay[dask]'") from None
    if cluster:
        return DaskTaskRunner(address=cluster)
    import dask

    # Workers start the verifiers' process pool, which a daemon process may not do.
    dask.config.set({"distributed.worker.daemon": False})
    _hand_embedded_api_to_children()
    gpus = _gpu_count()
    if gpus:
        from distributed import Nanny, Scheduler, SpecCluster

        workers = {i: {"cls": Nanny, "options": {"nthreads": 1, "env": {"CUDA_VISIBLE_DEVICES": str(i)}}}
                   for i in range(gpus)}
        return DaskTaskRunner(cluster_class=SpecCluster, cluster_kwargs={
            "workers": workers, "scheduler": {"cls": Scheduler, "options": {"dashboard_address": None}}})
    cpus = os.cpu_count() or 1
    n = min(LOCAL_CPU_WORKERS, cpus)
    # Each worker's torch gets its share of the cores instead of all of them.
    return DaskTaskRunner(cluster_kwargs={"n_workers": n, "threads_per_worker": 1, "processes": True,
                                          "dashboard_address": None, "env": {"OMP_NUM_THREADS": str(max(1, cpus // n))}})


def _ray(cluster: str | None) -> Any:
    try:
        from prefect_ray import RayTaskRunner
    except ImportError:
        raise AssayError("--runner ray needs prefect-ray: pip install 'assay[ray]'") from None
    if not cluster:
        _hand_embedded_api_to_children()
    return RayTaskRunner(address=cluster, init_kwargs={"include_dashboard": False, "log_to_driver": False, "logging_level": "error"})


RUNNERS: dict[str, Callable[[str | None], Any]] = {"local": _local, "dask": _dask, "ray": _ray}


@dataclass(frozen=True)
class RunnerConfig:
    runner: str = field(default="local", metadata={
        "help": f"Where the work runs: {names_help(RUNNERS)}. local: this process; dask (prefect-dask) and ray "
                "(prefect-ray): a cluster on this machine, or --cluster. See assay.pipelines.flows.runners."})
    cluster: str | None = field(default=None, metadata={
        "help": "Address of an existing Dask scheduler (tcp://HOST:8786) or Ray cluster (ray://HOST:10001); needs "
                "PREFECT_API_URL and shared result storage; unset: start a cluster on this machine."})

    def __post_init__(self) -> None:
        chosen(RUNNERS, self.runner, "runner", "--runner:")
        if self.cluster and self.runner == "local":
            raise AssayError("--cluster needs --runner dask or --runner ray")


@contextlib.contextmanager
def gpu_per_task(config: RunnerConfig) -> Iterator[None]:
    """Around task submission: on a Ray cluster with GPUs, each task asks for one (Ray then
    shows it only that GPU). Dask workers on this machine are pinned to a GPU already."""
    if config.runner != "ray":
        yield
        return
    import ray
    from prefect_ray.context import remote_options

    with remote_options(num_gpus=1) if ray.cluster_resources().get("GPU", 0) else contextlib.nullcontext():
        yield


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count()


def _hand_embedded_api_to_children() -> None:
    """Workers started from this process inherit PREFECT_API_URL. Embedded (no URL set), they
    would each start a temporary server of their own, so start this process's now and name it."""
    if os.environ.get("PREFECT_API_URL"):
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the same instance Prefect's client uses in this process
    server.start()
    os.environ["PREFECT_API_URL"] = server.api_url
