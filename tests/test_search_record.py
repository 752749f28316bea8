"""The trial record and its MLflow run without Ray: found or created, linked to its Optuna trial,
reconciled after a loss; the parent run's leaderboard description."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from mlflow.tracking import MlflowClient

from search.experiment import OPTUNA_FILE, SEARCH_FILE, TRIALS_FILE, ExperimentDir
from search.record.tracking import RUN_ID, TrialRuns, start_parent_run
from search.record.trials import STOPPED_BY, TrialRecorder
from search.study.journal import TUNE_ID_ATTR, journal_storage, load_study

CONFIG = {"first": "bhi", "core": "autosome", "final": "autosome", "strategy": "autosome"}
TUNE_IDS = ("aaaa0001", "bbbb0002", "cccc0003", "dddd0004")


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
    study = optuna.create_study(study_name="rec", direction="maximize",
                                storage=journal_storage(exp.path(OPTUNA_FILE)))
    for tune_id in TUNE_IDS:  # as the searcher asks: Optuna numbers 0, 1, 2, 3
        study.ask().set_user_attr(TUNE_ID_ATTR, tune_id)
    return TrialRecorder(exp)


def test_record_keeps_its_run_and_a_lost_record_finds_it_by_tags(
        recorder: TrialRecorder, capsys: pytest.CaptureFixture) -> None:
    second = trial("bbbb0002", 2)
    recorder.on_trial_start(0, [second], second)
    run_id = recorder.exp.trial_records()["bbbb0002"][RUN_ID]
    assert recorder.exp.trial_records()["bbbb0002"]["number"] == 1
    client = MlflowClient(recorder.search["tracking_uri"])
    run = client.get_run(run_id)
    assert run.data.tags["trial_id"] == "bbbb0002" and run.info.status == "RUNNING"
    assert run.data.tags["optuna_trial_number"] == "1"
    assert run.info.run_name == "trial-001-bbbb0002-bhi-autosome-autosome"
    assert run.data.params["core"] == "autosome"
    optuna_trial = load_study(recorder.exp.path(OPTUNA_FILE), "rec").trials[1]
    assert optuna_trial.user_attrs == {TUNE_ID_ATTR: "bbbb0002", RUN_ID: run_id}
    out = capsys.readouterr().out
    assert "trial 001 (bbbb0002) started: strategy=autosome first=bhi" in out
    assert len(out.splitlines()) == 1  # one line per event, no table (not a terminal)

    later = TrialRecorder(recorder.exp)  # a new driver whose record lost the run id
    record = later.exp.trial_records()
    del record["bbbb0002"][RUN_ID]
    record["bbbb0002"][STOPPED_BY] = "scheduler"  # its last result: ASHA's STOP (done)
    later.exp.write_json(TRIALS_FILE, record)
    later.on_trial_complete(0, [second], second)
    assert later.exp.trial_records()["bbbb0002"][RUN_ID] == run_id  # found, not created
    run = client.get_run(run_id)  # stopped early: FINISHED (not a crash), tagged with why
    assert run.info.status == "FINISHED" and run.data.tags["stopped_early"] == "true"
    assert "ASHA" in run.data.tags["stop_reason"]
    assert later.exp.trial_records()["bbbb0002"]["status"] == "STOPPED"


def test_parent_describes_the_leaderboard_with_links_to_the_trial_runs(
        recorder: TrialRecorder) -> None:
    trials = [trial(tid, i) for i, tid in enumerate(TUNE_IDS[:3], 1)]
    for t in trials:
        recorder.on_trial_start(0, trials, t)
    for t, score in zip(trials[:2], (0.25, 0.5), strict=True):
        recorder.on_trial_result(0, trials, t, {"epoch": 2, "val_pearson": score,
                                                "best_val_pearson": score, "val_spearman": 0.1})
        recorder.on_trial_complete(0, trials, t)
    records = recorder.exp.trial_records()
    search = recorder.search
    client = MlflowClient(search["tracking_uri"])
    parent = client.get_run(search["parent_run_id"])
    note = parent.data.tags["mlflow.note.content"]
    assert "2 of 3 trials ended" in note
    for tid in TUNE_IDS[:3]:
        run = client.get_run(records[tid][RUN_ID])
        target = f"#/experiments/{search['experiment_id']}/runs/{run.info.run_id}" \
                 "?workflowType=machine_learning"  # opens in model-training mode
        assert f"[{run.info.run_name}]({target})" in note
        ended = tid != TUNE_IDS[2]
        assert run.data.tags.get("stopped_early") == ("false" if ended else None)
        assert run.info.status == ("FINISHED" if ended else "RUNNING")
    lines = note.splitlines()
    assert lines.index(next(x for x in lines if "bbbb0002" in x)) < lines.index(
        next(x for x in lines if "aaaa0001" in x))  # best first
    assert parent.data.metrics == {"search_best_val_pearson": 0.5, "search_trials_ended": 2.0,
                                   "search_best_trial_val_spearman": 0.1}


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
    assert "trial 001 (bbbb0002) was lost with the previous driver" in capsys.readouterr().out
    client = MlflowClient(recorder.search["tracking_uri"])
    for run_id in (records["bbbb0002"][RUN_ID], unsaved):
        assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    for tid in after:
        run = client.get_run(after[tid][RUN_ID])
        assert run.info.lifecycle_stage == "active" and run.data.tags["trial_id"] == tid
