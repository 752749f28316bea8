"""Kill the driver with SIGKILL mid-search, resume: nothing rerun, nothing duplicated."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from search.study.journal import study_counts
from tests.conftest import REPO
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
    simulated_data,
    wait_for,
)

pytestmark = pytest.mark.slow  # a long file: conftest runs it first

TRIALS, EPOCHS = 6, 3


SETTLED_S = 1.5  # Tune snapshots its state every second: older events are in its snapshot


def _ready_to_kill(root: Path) -> bool:
    """2 trials finished and another one part-way, all seen by Tune's last state snapshot."""
    settled = time.time() - SETTLED_S
    records = [r for r in read_trials(root).values() if r["updated"] < settled]
    finished = [r for r in records if r["status"] == "FINISHED"]
    midway = [r for r in records if r["status"] == "RUNNING" and 1 <= r["epoch"] < EPOCHS]
    return len(finished) >= 2 and bool(midway)


def test_killed_driver_resumes_without_rerunning_or_duplicating(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    data = simulated_data(tmp_path_factory)
    storage = tmp_path / "runs"
    root = storage / "killme"
    ray_tmp = tempfile.mkdtemp(prefix="pfx-", dir="/tmp")  # short: Ray's socket paths
    args = ["run", "--data", str(data), "--name", "killme", "--storage", str(storage),
            "--trials", str(TRIALS), "--epochs", str(EPOCHS), "--scheduler", "none",
            "--max-concurrent", "2", *QUICK, "--batches-per-epoch", "12"]
    driver = subprocess.Popen(cli_command(*args), cwd=REPO, env=clean_env(RAY_TMPDIR=ray_tmp),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    try:
        wait_for(lambda: _ready_to_kill(root), 240, "2 finished trials", proc=driver)
        before = read_trials(root)
    finally:
        kill_driver(driver, ray_tmp)
    settled = time.time() - SETTLED_S
    done_before = {k: r for k, r in before.items()
                   if r["status"] == "FINISHED" and r["updated"] < settled}
    midway = {k for k, r in before.items()
              if r["status"] == "RUNNING" and r["epoch"] >= 1 and r["updated"] < settled}
    assert len(done_before) >= 2 and midway

    status = run_cli("status", "killme", "--storage", str(storage))
    assert status.returncode == 0 and "interrupted" in status.stdout

    resume_tmp = tempfile.mkdtemp(prefix="pfx-", dir="/tmp")
    try:
        result = run_cli("resume", "killme", "--storage", str(storage),
                         env=clean_env(RAY_TMPDIR=resume_tmp))
    finally:
        kill_pids(pids_mentioning(resume_tmp))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    after = read_trials(root)
    assert len(after) == TRIALS
    assert all(r["status"] == "FINISHED" and r["epoch"] == EPOCHS for r in after.values())
    for trial_id, record in done_before.items():  # finished trials were not rerun
        assert after[trial_id]["history"] == record["history"]
        assert after[trial_id]["updated"] == record["updated"]

    doc_uri = f"sqlite:///{storage.resolve() / 'mlflow.db'}"
    runs = mlflow_runs(doc_uri, "killme")
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert len(runs) == TRIALS + 1 and len(children) == TRIALS
    assert children["tags.trial_id"].is_unique
    assert set(children["status"]) == {"FINISHED"}
    for trial_id in midway:  # continued from its last epoch checkpoint, in its own run
        row = children[children["tags.trial_id"] == trial_id].iloc[0]
        assert int(row["tags.restored_from_epoch"]) >= 1
    assert "search 'killme' done: 6 trials" in result.stdout
    study = optuna.load_study(study_name="killme", storage=JournalStorage(
        JournalFileBackend(str(root / "optuna.journal"))))
    assert study_counts(study).get("COMPLETE") == TRIALS  # the study survived the kill
    assert study_counts(study).get("RUNNING", 0) == 0
    by_number = {t.number: t for t in study.trials}
    for trial_id, record in after.items():  # the names still link up after the restore
        linked = by_number[record["number"]].user_attrs
        assert linked == {"tune_trial_id": trial_id, "mlflow_run_id": record["mlflow_run_id"]}
