"""Helpers for the search tests: one simulated dataset per session, subprocess drivers, cleanup."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest

from prixfixe_blocks.data.simulate.simulator import simulate
from search.experiment import TRIALS_FILE
from tests.conftest import REPO

ROWS = 3000
POLL_S = 0.1  # wait_for's interval: reading trials.json is cheap, a test waits less past its event
# Small, quick trials: tiny widths, 3 batches of 64 per epoch, one CPU thread per trial.
QUICK = ["--width", "tiny", "--batches-per-epoch", "3", "--fix", "strategy.batch_size=64",
         "--cpus-per-trial", "1"]


def simulated_data(factory: pytest.TempPathFactory) -> Path:
    """The session's simulated dataset (made once; later calls reuse the directory)."""
    data = factory.getbasetemp() / "search-data"
    if not (data / "dataset.json").is_file():
        simulate(data, ROWS, seed=0, test_rows=50)
    return data


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a driver subprocess: no RAY_ADDRESS, repo importable."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "PRIXFIXE_FAIL_ONCE")}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "search.cli", *args]


def run_cli(*args: str, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `prixfixe-search ARGS` in a fresh process and return its result."""
    return subprocess.run(cli_command(*args), cwd=REPO, env=env or clean_env(),
                          capture_output=True, text=True, timeout=timeout)


def read_trials(root: Path) -> dict[str, dict[str, Any]]:
    path = root / TRIALS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def wait_for(predicate: Any, timeout: float, what: str, proc: Any = None) -> None:
    """Poll `predicate` every POLL_S; fail the test after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"driver exited ({proc.returncode}) before {what}:\n{out[-3000:]}")
        time.sleep(POLL_S)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def pids_mentioning(text: str) -> list[int]:
    """PIDs of this user's processes whose command line contains `text` (from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="ignore")
        except OSError:
            continue
        if text in cmdline:
            pids.append(int(entry.name))
    return pids


def kill_pids(pids: list[int]) -> None:
    """SIGKILL each PID (processes this test started), ignoring those already gone."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kill_driver(driver: subprocess.Popen, ray_tmp: str) -> None:
    """SIGKILL a search driver's whole process group, then the Ray processes of its temp dir
    (Ray's agents can outlive a killed driver)."""
    try:
        os.killpg(driver.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    driver.wait(timeout=30)
    kill_pids(pids_mentioning(ray_tmp))


def mlflow_runs(uri: str, experiment: str) -> Any:
    """All runs of an experiment as a DataFrame (parent and trials)."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs(experiment_names=[experiment])


class StuckSampler(optuna.samplers.BaseSampler):
    """A sampler that always proposes the same values (`values`: name -> value), as TPE stuck
    on its favourite in a tiny space; not a RandomSampler, so it gets the neighbour fallback."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        return {}

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: Any, trial: Any, name: str, distribution: Any) -> Any:
        return self.values[name]
