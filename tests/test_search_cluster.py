"""A two-node Ray cluster on one machine: `run --address` spreads trials over both nodes, which
read the dataset only through the object store (no node has a local copy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from prixfixe_blocks.data.simulate.simulator import simulate
from tests.cluster_support import local_cluster
from tests.s3_support import MotoS3
from tests.search_support import QUICK, mlflow_runs, read_trials, run_cli, simulated_data


@pytest.mark.slow
def test_search_runs_trials_on_both_nodes_of_a_cluster(s3: MotoS3, tmp_path: Path) -> None:
    data = s3.uri("cluster/data")
    simulate(data, 3000, seed=0, test_rows=50)
    cache = tmp_path / "node-cache"
    runs = tmp_path / "runs"
    args = ["run", "--data", data, "--storage", str(runs), "--trials", "4", "--epochs", "1",
            "--max-concurrent", "2", "--scheduler", "none", *QUICK]
    with local_cluster([], workers=1, **s3.env(PRIXFIXE_CACHE=str(cache))) as (address, env):
        refused = run_cli(*args, "--name", "cpu", "--address", address, env=env)
        result = run_cli(*args, "--name", "cluster", "--address", address,
                         "--gpus-per-trial", "0", env=env)
    # a cluster that might start GPUs: no silent CPU-only search, and nothing written
    assert refused.returncode == 2, refused.stdout[-2000:] + refused.stderr[-2000:]
    assert "--gpus-per-trial 0 to run the trials on CPUs" in refused.stderr
    assert not (runs / "cpu").exists()

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    records = read_trials(runs / "cluster")
    assert len(records) == 4 and all(r["status"] == "FINISHED" for r in records.values())
    assert len({r["node_id"] for r in records.values()}) == 2
    mlflow = mlflow_runs(f"sqlite:///{runs.resolve() / 'mlflow.db'}", "cluster")
    children = mlflow[mlflow["tags.mlflow.parentRunId"].notna()]
    assert children["tags.node_id"].nunique() == 2
    shards = sorted(p.name for p in (cache / "shards").glob("*.parquet"))
    assert shards and all(len(name) == 64 + len(".parquet") for name in shards)


@pytest.mark.slow
def test_trials_ask_for_gpus_on_a_cluster_that_has_them(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    """Nodes that declare 2 GPUs (trials still compute on CPU: ids come from Ray)."""
    data = simulated_data(tmp_path_factory)
    runs = tmp_path / "runs"
    args = ["--data", str(data), "--storage", str(runs), "--trials", "2", "--epochs", "1",
            "--max-concurrent", "2", "--scheduler", "none", *QUICK, "--batches-per-epoch", "20"]
    with local_cluster(["--num-gpus", "2"], cpus=2) as (address, env):
        whole = run_cli("run", *args, "--name", "whole", "--address", address, env=env)
        shared = run_cli("run", *args, "--name", "half", "--address", address,
                         "--gpus-per-trial", "0.5", env=env)
    for result in (whole, shared):
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "trials ask for 1 GPU each (2 in the cluster now" in whole.stdout

    def gpu_ids(name: str) -> list[list[str]]:
        records = list(read_trials(runs / name).values())
        assert len(records) == 2 and all(r["status"] == "FINISHED" for r in records)
        first, second = records  # both ran at once (2 CPUs, 2 at a time)
        assert first["started"] < second["updated"] and second["started"] < first["updated"]
        return [r["gpu_ids"] for r in records]

    ids = gpu_ids("whole")
    assert all(len(i) == 1 for i in ids) and ids[0] != ids[1]  # one GPU each, distinct
    halves = gpu_ids("half")
    assert all(len(i) == 1 for i in halves) and halves[0] == halves[1]  # two trials, one GPU
