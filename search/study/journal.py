"""The search's Optuna study as optuna-dashboard shows it: named objective, described study,
trials linked to their Tune trial and MLflow run.

The searcher (search/study/searcher.py) tags each Optuna trial with its Tune trial id when it asks
for it; the trial recorder then finds the trial by that id in the journal, takes its number
(the number optuna-dashboard shows, used in MLflow run names and the leaderboard) and adds the
MLflow run id (user attribute `mlflow_run_id`, as in trials.json). Both write the same journal
file, which Optuna's journal storage locks.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial

from search.trial.trainable import METRIC

TUNE_ID_ATTR = "tune_trial_id"  # an Optuna trial's user attribute: its Ray Tune trial id


def journal_storage(path: Path) -> JournalStorage:
    """Optuna storage on a journal file (what the searcher and optuna-dashboard open)."""
    return JournalStorage(JournalFileBackend(str(path)))


def load_study(path: Path, name: str) -> optuna.Study | None:
    """The study `name` of a journal file (None when the file or the study does not exist)."""
    if not Path(path).is_file():
        return None
    try:
        return optuna.load_study(study_name=name, storage=journal_storage(path))
    except KeyError:
        return None


def describe_study(study: optuna.Study, attrs: dict[str, Any],
                   metrics: Sequence[str] = (METRIC,)) -> None:
    """Name the objective(s) (not "Objective 0") and store the search's attributes (search
    name, MLflow experiment, run options) on the study."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(metrics))
    for key, value in attrs.items():
        study.set_user_attr(key, value)


def find_trial(study: optuna.Study, tune_id: str) -> FrozenTrial | None:
    """The Optuna trial asked for Tune trial `tune_id` (None if there is none)."""
    found = [t for t in study.get_trials(deepcopy=False)
             if t.user_attrs.get(TUNE_ID_ATTR) == tune_id]
    return found[-1] if found else None


def set_trial_attrs(study: optuna.Study, trial: FrozenTrial, attrs: dict[str, str]) -> None:
    """Add user attributes to a trial that is still running (a finished one keeps its own)."""
    try:
        for key, value in attrs.items():
            if trial.user_attrs.get(key) != value:
                optuna.Trial(study, trial._trial_id).set_user_attr(key, value)
    except UpdateFinishedTrialError:
        pass


def study_counts(study: Any) -> dict[str, int]:
    """Trials per state of an Optuna study (for reports and tests)."""
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts
