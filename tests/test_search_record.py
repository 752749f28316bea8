"""The trial record and its MLflow run without Ray: found or created, reconciled after a loss."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from search.experiment import SEARCH_FILE, TRIALS_FILE, ExperimentDir
from search.progress import TrialRecorder
from search.tracking import RUN_ID, TrialRuns, start_parent_run

CONFIG = {"first": "bhi", "core": "autosome", "final": "autosome", "strategy": "autosome"}


def trial(trial_id: str, index: int) -> Any:
    return SimpleNamespace(trial_id=trial_id, experiment_tag=f"{index}_core=autosome",
                           config=dict(CONFIG), error_file=None)


@pytest.fixture()
def recorder(tmp_path: Path) -> TrialRecorder:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp_id, parent = start_parent_run(uri, "rec", {}, {})
    exp = ExperimentDir(tmp_path / "rec")
    exp.root.mkdir()
    exp.write_json(SEARCH_FILE, {"tracking_uri": uri, "experiment_id": exp_id,
                                 "parent_run_id": parent, "epochs": 2, "trials": 3,
                                 "overrides": {"strategy.epochs": 2}})
    return TrialRecorder(exp)


def test_record_keeps_its_run_and_a_lost_record_finds_it_by_tags(
        recorder: TrialRecorder, capsys: pytest.CaptureFixture) -> None:
    first = trial("aaaa0001", 1)
    recorder.on_trial_start(0, [first], first)
    run_id = recorder.exp.trial_records()["aaaa0001"][RUN_ID]
    client = MlflowClient(recorder.search["tracking_uri"])
    run = client.get_run(run_id)
    assert run.data.tags["trial_id"] == "aaaa0001" and run.info.status == "RUNNING"
    assert run.data.params["core"] == "autosome"
    assert "trial 001 started: strategy=autosome first=bhi" in capsys.readouterr().out

    later = TrialRecorder(recorder.exp)  # a new driver whose record lost the run id
    record = later.exp.trial_records()
    del record["aaaa0001"][RUN_ID]
    later.exp.write_json(TRIALS_FILE, record)
    later.on_trial_complete(0, [first], first)
    assert later.exp.trial_records()["aaaa0001"][RUN_ID] == run_id  # found, not created
    run = client.get_run(run_id)
    assert run.info.status == "KILLED" and "ASHA" in run.data.tags["stop_reason"]
    assert later.exp.trial_records()["aaaa0001"]["status"] == "STOPPED"


def test_reconcile_drops_records_and_runs_of_trials_tune_does_not_know(
        recorder: TrialRecorder, capsys: pytest.CaptureFixture) -> None:
    kept, lost = trial("aaaa0001", 1), trial("bbbb0002", 2)
    recorder.on_trial_start(0, [kept, lost], kept)
    recorder.on_trial_start(0, [kept, lost], lost)
    records = recorder.exp.trial_records()
    runs = TrialRuns(recorder.search)
    # a run created just before the driver was lost, its record never saved
    unsaved = runs.run_id({"trial_id": "cccc0003", "index": 3, "config": dict(CONFIG)})

    resumed = TrialRecorder(recorder.exp)
    restarted = trial("dddd0004", 2)
    resumed.on_trial_start(0, [kept, restarted], restarted)
    after = resumed.exp.trial_records()
    assert set(after) == {"aaaa0001", "dddd0004"}
    assert "trial 002 (bbbb0002) was lost with the previous driver" in capsys.readouterr().out
    client = MlflowClient(recorder.search["tracking_uri"])
    for run_id in (records["bbbb0002"][RUN_ID], unsaved):
        assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    for tid in after:
        run = client.get_run(after[tid][RUN_ID])
        assert run.info.lifecycle_stage == "active" and run.data.tags["trial_id"] == tid
