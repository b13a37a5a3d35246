"""Prefect's settings for assay's flows, applied before prefect is imported.

Prefect reads its settings once, when it is imported, so `configure` must run first: the CLI
calls it before it imports assay.pipelines.flows.flows. Each default below yields to a value the
user has already set in the environment:

- PREFECT_HOME = <catalog folder>/.assay/prefect: with no PREFECT_API_URL, Prefect starts a
  temporary local server per process, with its SQLite database here ("embedded": no server
  to start by hand).
- PREFECT_LOCAL_STORAGE_PATH = <catalog folder>/.assay/results: persisted task results and
  the cache records that let a killed flow resume. They are plain JSON (flows.PlainJSON), but
  each record names the serializer Prefect loads it with, so whoever can write this folder
  can make a resumed flow unpickle a planted file: `configure` makes <catalog folder>/.assay
  readable and writable by its owner only. A results folder set by the user (shared storage
  for cluster workers) must likewise be writable by the users running assay only.
- PREFECT_SERVER_ANALYTICS_ENABLED=false, DO_NOT_TRACK=1: nothing tries to reach the network.
- PREFECT_LOGGING_LEVEL=WARNING, DASK_LOGGING__DISTRIBUTED=error: assay prints its own
  progress bars, not Prefect's or Dask's log lines (Dask warns, for one, each time a local
  cluster's worker takes more than 4 s to exit). The flow- and task-run loggers are set to
  CRITICAL: a run's exception reaches the caller, which reports it once (and the dashboard
  shows it in the run's state), instead of Prefect printing its traceback as well.
- PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=120: the temporary server takes 5-20 s to
  start on a busy machine, and Prefect's default gives up at 20.

Example:
    >>> env = prefect_environment(Path("/data/assay.duckdb"), {"PREFECT_LOGGING_LEVEL": "INFO"})
    >>> env["PREFECT_HOME"], env["PREFECT_LOCAL_STORAGE_PATH"], env["DO_NOT_TRACK"]
    ('/data/.assay/prefect', '/data/.assay/results', '1')
    >>> "PREFECT_LOGGING_LEVEL" in env  # the user's own setting stays
    False
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

DATA_FOLDER = ".assay"  # beside the catalog: Prefect's home, results, server log

# Where a shared result store can be named: a folder every worker mounts, or a storage block.
SHARED_RESULT_SETTINGS = ("PREFECT_LOCAL_STORAGE_PATH", "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK")


@dataclass(frozen=True)
class PrefectEnv:
    home: Path  # PREFECT_HOME
    results: Path  # PREFECT_LOCAL_STORAGE_PATH
    api_url: str | None  # PREFECT_API_URL; None: embedded (a temporary server per process)
    results_set_by_user: bool  # the user chose the result storage (it may be shared with workers)


def data_folder(catalog: Path) -> Path:
    return Path(catalog).absolute().parent / DATA_FOLDER


def prefect_environment(catalog: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables `configure` sets: the defaults above that `environ` does not already hold."""
    data = data_folder(catalog)
    defaults = {
        "PREFECT_HOME": str(data / "prefect"),
        "PREFECT_LOCAL_STORAGE_PATH": str(data / "results"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL": "CRITICAL",
        "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL": "CRITICAL",
        "DASK_LOGGING__DISTRIBUTED": "error",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }
    return {key: value for key, value in defaults.items() if key not in environ}


def configure(catalog: Path) -> PrefectEnv:
    """Set the defaults in os.environ (child processes, such as Dask workers and the server,
    inherit them) and say what is in effect. Call before the first `import prefect`."""
    results_set_by_user = any(os.environ.get(key) for key in SHARED_RESULT_SETTINGS)
    os.environ.update(prefect_environment(catalog, os.environ))
    data = data_folder(catalog)
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    data.chmod(0o700)  # its owner alone: result records name what loads them (see above)
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)  # Prefect makes only the last folder
    return PrefectEnv(
        home=Path(os.environ["PREFECT_HOME"]),
        results=Path(os.environ["PREFECT_LOCAL_STORAGE_PATH"]),
        api_url=os.environ.get("PREFECT_API_URL") or None,
        results_set_by_user=results_set_by_user,
    )
