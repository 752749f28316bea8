"""A two-node Ray cluster on one machine: `run --address` spreads trials over both nodes."""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.search_support import (
    QUICK,
    clean_env,
    kill_pids,
    mlflow_runs,
    pids_mentioning,
    read_trials,
    run_cli,
    simulated_data,
)

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ray_start(*args: str, env: dict[str, str]) -> None:
    result = subprocess.run([RAY, "start", "--num-cpus", "1", "--node-ip-address", "127.0.0.1",
                             "--disable-usage-stats", *args],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def wait_for_nodes(address: str, n: int, env: dict[str, str]) -> None:
    script = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
              "print(sum(1 for node in ray.nodes() if node['Alive']))")
    deadline = time.time() + 60
    while time.time() < deadline:
        out = subprocess.run([sys.executable, "-c", script, address], env=env,
                             capture_output=True, text=True, timeout=60)
        if out.stdout.strip() == str(n):
            return
        time.sleep(1)
    pytest.fail(f"the cluster never had {n} alive nodes")


def test_search_runs_trials_on_both_nodes_of_a_cluster(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    data = simulated_data(tmp_path_factory)
    temp_dir = tempfile.mkdtemp(prefix="pfxc-", dir="/tmp")  # short: Ray's socket paths
    # token auth with a token of this test's own (nothing read from or written to ~/.ray)
    env = clean_env(RAY_TMPDIR=temp_dir, RAY_AUTH_MODE="token",
                    RAY_AUTH_TOKEN=secrets.token_hex(32))
    port = free_port()
    address = f"127.0.0.1:{port}"
    try:
        ray_start("--head", "--port", str(port), "--include-dashboard=false",
                  "--temp-dir", temp_dir, env=env)
        ray_start("--address", address, env=env)
        wait_for_nodes(address, 2, env)
        result = run_cli("run", "--data", str(data), "--name", "cluster", "--storage",
                         str(tmp_path / "runs"), "--trials", "4", "--epochs", "1",
                         "--address", address, "--max-concurrent", "2", "--scheduler", "none",
                         *QUICK, env=env)
    finally:
        kill_pids(pids_mentioning(temp_dir))  # this cluster's processes only, by PID
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    records = read_trials(tmp_path / "runs" / "cluster")
    assert len(records) == 4 and all(r["status"] == "FINISHED" for r in records.values())
    assert len({r["node_id"] for r in records.values()}) == 2
    runs = mlflow_runs(f"sqlite:///{(tmp_path / 'runs').resolve() / 'mlflow.db'}", "cluster")
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert children["tags.node_id"].nunique() == 2
