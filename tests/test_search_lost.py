"""No trial is lost in silence: a trial Ray Tune dropped before any callback saw it (asked of
Optuna, never told) or whose record never ended is counted LOST, told FAIL to Optuna, unranked,
and named in the driver's output."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from search.experiment import (
    CLOCK_FILE,
    OPTUNA_FILE,
    SEARCH_FILE,
    TRIALS_FILE,
    ExperimentDir,
    open_experiment,
)
from search.report.leaderboard import LOST, leaderboard_rows, status_counts
from search.run.finish import account_for_lost
from search.study.journal import TUNE_ID_ATTR, journal_storage, load_study


def _search(tmp_path: Path, clock: dict | None = None) -> ExperimentDir:
    """A search directory whose Optuna study asked three trials: one done, one never recorded,
    one recorded RUNNING (never ended)."""
    exp = open_experiment(str(tmp_path), "s")
    exp.root.mkdir(parents=True)
    exp.write_json(SEARCH_FILE, {"epochs": 3})
    if clock:
        exp.write_json(CLOCK_FILE, clock)
    study = optuna.create_study(study_name="s", storage=journal_storage(exp.path(OPTUNA_FILE)),
                                direction="maximize")
    for tune_id, value in (("done", 0.5), ("dropped", None), ("stuck", None)):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        trial.set_user_attr(TUNE_ID_ATTR, tune_id)
        if value is not None:
            study.tell(trial, value)
    record = {"epoch": 1, "history": [], "metrics": {"best_val_pearson": 0.5}}
    exp.write_json(TRIALS_FILE, {
        "done": {**record, "trial_id": "done", "index": 1, "status": "FINISHED"},
        "stuck": {**record, "trial_id": "stuck", "index": 3, "status": "RUNNING"}})
    return exp


def test_dropped_and_unfinished_trials_are_counted_lost(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    exp = _search(tmp_path)
    records = account_for_lost(exp)

    assert status_counts(records) == {"FINISHED": 1, LOST: 2}
    assert json.loads(exp.path(TRIALS_FILE).read_text()) == records
    states = {t.user_attrs[TUNE_ID_ATTR]: t.state.name for t in load_study(
        exp.path(OPTUNA_FILE), "s").trials}
    assert states == {"done": "COMPLETE", "dropped": "FAIL", "stuck": "FAIL"}
    rows = leaderboard_rows(records)
    assert [(r["trial_id"], r["rank"]) for r in rows][0] == ("done", 1)
    assert {r["rank"] for r in rows[1:]} == {"-"}
    out = capsys.readouterr().out
    assert out.count("WARNING: trial") == 2 and "lost by the orchestrator" in out


def test_trials_cut_off_by_the_time_budget_are_stopped_not_lost(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    exp = _search(tmp_path, {"elapsed_s": 120.4, "budget_s": 120.0, "halted": None})
    records = account_for_lost(exp)
    assert status_counts(records) == {"FINISHED": 1, "STOPPED": 2}
    assert records["stuck"]["stop_reason"] == "time budget of 120s reached at epoch 1"
    assert records["dropped"]["stop_reason"] == "time budget of 120s reached at epoch 0"
    states = {t.user_attrs[TUNE_ID_ATTR]: t.state.name for t in load_study(
        exp.path(OPTUNA_FILE), "s").trials}
    assert states == {"done": "COMPLETE", "dropped": "PRUNED", "stuck": "PRUNED"}
    assert "WARNING" not in capsys.readouterr().out
