"""A sampled configuration equal to one that already ended is never trained again: its Optuna
trial is told the earlier outcome (every trial trains with the search's seed, so training it
again would only repeat the result), and a space whose every cell has ended finishes the search."""

from __future__ import annotations

from pathlib import Path

import optuna
from ray.tune.search import Searcher

from search.report.importance import scored_trials
from search.study.journal import journal_storage, load_study
from search.study.objectives import REPEAT_ATTR
from search.study.searcher import DurableOptunaSearch

CELLS = {"a": 0.1, "b": 0.5, "c": 0.3}
METRIC = "best_val_pearson"


def cells(trial: optuna.Trial) -> None:
    trial.suggest_categorical("cell", list(CELLS))


def test_repeats_are_told_the_earlier_outcome_and_an_exhausted_space_finishes(
        tmp_path: Path) -> None:
    journal = tmp_path / "optuna.journal"
    searcher = DurableOptunaSearch(space=cells, metric=METRIC, mode="max",
                                   storage=journal_storage(journal), study_name="s", epochs=2,
                                   sampler=optuna.samplers.RandomSampler(seed=0))
    trained = []
    for index in range(len(CELLS)):
        config = searcher.suggest(f"t{index}")
        assert isinstance(config, dict)
        trained.append(config["cell"])
        value = CELLS[config["cell"]]
        searcher.on_trial_result(f"t{index}", {"epoch": 1, METRIC: value})
        if index == 1:  # stopped early (ASHA): PRUNED at epoch 1
            searcher.on_trial_complete(f"t{index}", {"epoch": 1, METRIC: value})
        else:
            searcher.on_trial_complete(f"t{index}", {"epoch": 2, METRIC: value})
    assert sorted(trained) == sorted(CELLS)  # three trials, three different cells
    assert searcher.suggest("t3") == Searcher.FINISHED  # every proposal is a repeat now

    study = load_study(journal, "s")
    originals = {t.number: t for t in study.trials if REPEAT_ATTR not in t.user_attrs}
    repeats = [t for t in study.trials if REPEAT_ATTR in t.user_attrs]
    assert len(originals) == 3 and repeats, "the random sampler must have proposed repeats"
    for trial in repeats:
        earlier = originals[trial.user_attrs[REPEAT_ATTR]]
        assert trial.params == earlier.params and trial.state == earlier.state
        assert trial.values == earlier.values
        assert trial.intermediate_values == earlier.intermediate_values
    assert any(t.state.name == "PRUNED" for t in repeats)
    # Importance reads each configuration once, not once per repeat.
    assert sorted(t.params["cell"] for t in scored_trials(study)) == sorted(CELLS)
