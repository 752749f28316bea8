"""A search whose data and storage live only on an S3-compatible server: convert to s3://, run,
SIGKILL the driver, resume from s3:// with nothing local left: nothing rerun, nothing duplicated,
a part-way trial continued from its checkpoint, the Optuna study intact, MLflow artifacts in the
bucket. (A killed search on local storage: tests/test_search_asha_resume.py.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from prixfixe_blocks.data.format.schema import dataset_checksum, open_dataset
from prixfixe_blocks.data.simulate.simulator import simulate
from prixfixe_blocks.training.weights import WEIGHTS_FILE
from search.experiment import SEARCH_FILE, open_experiment
from search.study.journal import study_counts
from tests.conftest import REPO
from tests.s3_support import MotoS3
from tests.search_support import (
    QUICK,
    clean_env,
    cli_command,
    kill_driver,
    kill_pids,
    mlflow_runs,
    pids_mentioning,
    read_trials,
    run_cli,
    wait_for,
)

TRIALS, EPOCHS, SETTLED_S = 3, 3, 1.5


def _ready(root: Path) -> bool:
    """One trial finished and another part-way, both in Tune's last state snapshot."""
    settled = time.time() - SETTLED_S
    records = [r for r in read_trials(root).values() if r["updated"] < settled]
    return (any(r["status"] == "FINISHED" for r in records)
            and any(r["status"] == "RUNNING" and r["epoch"] >= 1 for r in records))


@pytest.mark.slow
def test_search_on_s3_survives_a_killed_driver(s3: MotoS3, shared_data: Path,
                                               tmp_path: Path) -> None:
    cache = tmp_path / "cache"  # the experiment cache and the shard cache of this "machine"
    env = clean_env(**s3.env(PRIXFIXE_CACHE=str(cache)))
    data, storage = s3.uri("s3search/data"), s3.uri("s3search/runs")
    dream = shared_data / "dream"
    converted = run_cli("data", "convert", str(dream / "train_sample.txt"), "--format", "dream",
                        "--plasmid", str(dream / "plasmid.json"), "--out", data,
                        "--shard-rows", "2000", env=env)
    assert converted.returncode == 0, converted.stderr
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ray_tmp = tempfile.mkdtemp(prefix="pfs-", dir="/tmp")  # short: Ray's socket paths
    args = ["run", "--data", data, "--name", "s3k", "--storage", storage,
            "--tracking-uri", tracking, "--trials", str(TRIALS), "--epochs", str(EPOCHS),
            "--scheduler", "none", "--max-concurrent", "1", *QUICK, "--batches-per-epoch", "50"]
    root = open_experiment(storage, "s3k").root  # the local mirror the driver keeps
    driver = subprocess.Popen(cli_command(*args), cwd=REPO, env={**env, "RAY_TMPDIR": ray_tmp},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    try:
        wait_for(lambda: _ready(root), 240, "a finished and a part-way trial", proc=driver)
        before = read_trials(root)
    finally:
        kill_driver(driver, ray_tmp)
    settled = time.time() - SETTLED_S
    finished = {k: r for k, r in before.items()
                if r["status"] == "FINISHED" and r["updated"] < settled}
    midway = {k for k, r in before.items()
              if r["status"] == "RUNNING" and r["epoch"] >= 1 and r["updated"] < settled}
    assert finished and midway
    assert list((cache / "shards").glob("*.parquet"))  # trials read the shards through it
    shutil.rmtree(cache)  # resume on "another machine": everything comes from the bucket

    status = run_cli("status", "s3k", "--storage", storage, env=env)
    assert status.returncode == 0 and "interrupted" in status.stdout, status.stdout

    resume_tmp = tempfile.mkdtemp(prefix="pfs-", dir="/tmp")
    try:
        result = run_cli("resume", "s3k", "--storage", storage,
                         env={**env, "RAY_TMPDIR": resume_tmp})
    finally:
        kill_pids(pids_mentioning(resume_tmp))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "search 's3k' done: 3 trials" in result.stdout

    remote = {k.removeprefix("s3search/runs/") for k in s3.keys("s3search/runs/")}
    for name in ("s3k/search.json", "s3k/trials.json", "s3k/leaderboard.csv",
                 f"s3k/best_model/{WEIGHTS_FILE}", "s3k/optuna.journal", "s3k/clock.json"):
        assert name in remote, name
    assert any(k.startswith("s3k/tune/") and "/checkpoint_" in k for k in remote)
    after = read_trials(root)  # pulled back from the bucket by resume
    assert len(after) == TRIALS
    assert all(r["status"] == "FINISHED" and r["epoch"] == EPOCHS for r in after.values())
    for trial_id, record in finished.items():  # not rerun
        assert after[trial_id]["history"] == record["history"]
        assert after[trial_id]["updated"] == record["updated"]

    runs = mlflow_runs(tracking, "s3k")
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert len(children) == TRIALS and children["tags.trial_id"].is_unique
    assert set(children["status"]) == {"FINISHED"}
    for trial_id in midway:  # continued from its last epoch checkpoint, in its own run
        row = children[children["tags.trial_id"] == trial_id].iloc[0]
        assert int(row["tags.restored_from_epoch"]) >= 1
    study = optuna.load_study(study_name="s3k", storage=JournalStorage(
        JournalFileBackend(str(root / "optuna.journal"))))
    assert study_counts(study).get("COMPLETE") == TRIALS  # the study survived the kill
    assert study_counts(study).get("RUNNING", 0) == 0
    by_number = {t.number: t for t in study.trials}
    for trial_id, record in after.items():  # the names still link up after the restore
        linked = by_number[record["number"]].user_attrs
        assert linked == {"tune_trial_id": trial_id, "mlflow_run_id": record["mlflow_run_id"]}
    artifacts = [k for k in remote if k.startswith("mlartifacts/")]
    assert any(k.endswith("/artifacts/leaderboard.csv") for k in artifacts)
    assert any(k.endswith("/MLmodel") for k in artifacts)  # the best model, logged once
    assert any(k.endswith(f"/artifacts/model_dir/{WEIGHTS_FILE}") for k in artifacts)
    assert not any(k.endswith(".pkl") for k in artifacts)  # a pyfunc from code: no pickle
    assert any(k.endswith("/artifacts/config.json") for k in artifacts)


@pytest.mark.parametrize("change", ["dataset.json", "shard"])
def test_resume_refuses_data_that_changed(s3: MotoS3, tmp_path: Path, change: str) -> None:
    """The recorded checksum is compared before anything restarts (exit 2, nothing written)."""
    data, storage = s3.uri(f"changed-{change}/data"), s3.uri(f"changed-{change}/runs")
    simulate(data, 400, seed=0, test_rows=10, shard_rows=200)
    exp = open_experiment(storage, "moved")
    exp.root.mkdir(parents=True)
    exp.write_json(SEARCH_FILE, {"data_dir": data,
                                 "data_checksum": dataset_checksum(open_dataset(data)),
                                 "options": {}, "tracking_uri": "unused"})
    if change == "dataset.json":
        simulate(data, 400, seed=1, test_rows=10, shard_rows=200, overwrite=True)
    else:  # a local copy on the driver: one shard rewritten in place
        local = tmp_path / "copy"
        simulate(local, 400, seed=0, test_rows=10, shard_rows=200)
        exp.write_json(SEARCH_FILE, {**exp.search(), "data_dir": str(local)})
        shard = local / open_dataset(local).shards[0]["file"]
        shard.write_bytes(shard.read_bytes()[:-8] + b"\0" * 8)
    before = sorted(s3.keys(f"changed-{change}/runs/"))
    result = run_cli("resume", "moved", "--storage", storage,
                     env=clean_env(**s3.env(PRIXFIXE_CACHE=os.environ["PRIXFIXE_CACHE"])))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "dataset changed since the search started" in result.stderr
    assert sorted(s3.keys(f"changed-{change}/runs/")) == before
