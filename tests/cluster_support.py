"""A local Ray cluster for the tests: `ray start` head and worker nodes in one temporary
directory, stopped by the PIDs of the processes that mention it."""

from __future__ import annotations

import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.s3_support import free_port
from tests.search_support import clean_env, kill_pids, pids_mentioning

RAY = str(Path(sys.executable).with_name("ray"))


def ray_start(*args: str, env: dict[str, str], cpus: int = 1) -> None:
    result = subprocess.run([RAY, "start", "--num-cpus", str(cpus), "--node-ip-address",
                             "127.0.0.1", "--disable-usage-stats", *args],
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


@contextmanager
def local_cluster(head: list[str], workers: int = 0, cpus: int = 1,
                  **env_extra: str) -> Iterator[tuple[str, dict[str, str]]]:
    """A head node started with `head` arguments plus `workers` worker nodes; yields the
    address and the environment to run drivers with (token auth with a token of its own,
    nothing read from or written to ~/.ray)."""
    temp_dir = tempfile.mkdtemp(prefix="pfxc-", dir="/tmp")  # short: Ray's socket paths
    env = clean_env(RAY_TMPDIR=temp_dir, RAY_AUTH_MODE="token",
                    RAY_AUTH_TOKEN=secrets.token_hex(32), **env_extra)
    port = free_port()
    address = f"127.0.0.1:{port}"
    try:
        ray_start("--head", "--port", str(port), "--include-dashboard=false",
                  "--temp-dir", temp_dir, *head, env=env, cpus=cpus)
        for _ in range(workers):
            ray_start("--address", address, env=env, cpus=cpus)
        wait_for_nodes(address, 1 + workers, env)
        yield address, env
    finally:
        kill_pids(pids_mentioning(temp_dir))  # this cluster's processes only, by PID
