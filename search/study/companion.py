"""A completed companion of a search's Optuna study, so optuna-dashboard can say what mattered.

optuna-dashboard 0.21 computes parameter importance (and Optuna's own evaluators do too) from
COMPLETE trials only; a search where ASHA stopped most trials has one or two, so the
importance plot stays empty. The study itself must keep those trials Pruned (that is what they
are, and TPE treats them accordingly). So, beside it in the same journal, the search writes the
study `NAME-ended`: every trial that ended (Complete or Pruned, not failed, repeated or
rejected) as a COMPLETE trial whose value is its best `best_val_pearson` (the last
intermediate value of a best-so-far metric), with its epochs, parameters and user attributes
(`original_state`, `original_number`). It is rewritten whole at the end of a search.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState, create_trial

from search.study.journal import journal_storage, load_study
from search.study.objectives import was_trained

COMPANION_SUFFIX = "-ended"
COMPANION_ATTR = "companion_study"  # user attribute of the search's study: the companion's name


def companion_name(name: str) -> str:
    """The companion study's name for search `name`."""
    return f"{name}{COMPANION_SUFFIX}"


def ended_value(trial: FrozenTrial) -> float | None:
    """A trial's value, or, for a Pruned one without, its last intermediate value."""
    if trial.value is not None:
        return trial.value
    steps = trial.intermediate_values
    return steps[max(steps)] if steps else None


def _copy(trial: FrozenTrial) -> FrozenTrial | None:
    value = ended_value(trial)
    if value is None or not was_trained(trial):
        return None
    return create_trial(params=trial.params, distributions=trial.distributions, value=value,
                        intermediate_values=trial.intermediate_values,
                        user_attrs={**trial.user_attrs, "original_number": trial.number,
                                    "original_state": trial.state.name})


def write_companion(journal: Path, name: str) -> optuna.Study | None:
    """(Re)write the companion of study `name` in `journal`; None when there is no
    single-objective study with ended trials."""
    study = load_study(journal, name)
    if study is None or len(study.directions) != 1:
        return None
    ended = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    copies = [c for c in map(_copy, ended) if c is not None]
    if not copies:
        return None
    storage = journal_storage(journal)
    target = companion_name(name)
    try:
        optuna.delete_study(study_name=target, storage=storage)
    except KeyError:
        pass
    companion = optuna.create_study(study_name=target, storage=storage,
                                    direction=study.direction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        companion.set_metric_names(study.metric_names or ["value"])
    companion.set_user_attr("companion_of", name)
    companion.set_user_attr("note", "every ended trial as COMPLETE at its best value (Pruned "
                                    "ones at their last epoch), for importance plots")
    companion.add_trials(copies)
    study.set_user_attr(COMPANION_ATTR, target)
    return companion
