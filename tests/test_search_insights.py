"""What mattered, without Ray: Optuna's importances over conditional block fields, the best
validation r per choice and its plot."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest

from search.report.importance import FANOVA, PED_ANOVA, param_importances, scored_trials
from search.report.leaderboard import best_per_choice, write_choices_png
from tests.test_search_report import record


def objective(trial: optuna.Trial) -> float:
    """core decides most; within core=bhi its hidden width, within autosome nothing much."""
    core = trial.suggest_categorical("core", ["bhi", "autosome"])
    lr = trial.suggest_float("strategy.lr", 1e-4, 1e-2, log=True)
    if core == "bhi":
        value = 0.5 + trial.suggest_int("core.bhi.hidden", 8, 64) / 200
    else:
        value = 0.2 + trial.suggest_int("core.autosome.k", 3, 9) / 1000
    value += 0.001 * math.log10(lr)
    trial.report(value / 2, 1)
    if trial.number % 4 == 3:  # stopped early, as ASHA does: scored by its last value
        raise optuna.TrialPruned()
    return value


@pytest.fixture(scope="module")
def study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    found = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    found.optimize(objective, n_trials=24)
    return found


def test_pruned_trials_count_with_their_last_value(study: optuna.Study) -> None:
    scored = scored_trials(study)
    assert len(scored) == 24
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert pruned and {t.value for t in scored} >= {t.intermediate_values[1] for t in pruned}


def test_importances_handle_conditional_block_fields(study: optuna.Study) -> None:
    found = param_importances(study)
    assert found["trials"] == 24
    fanova = found["overall"][FANOVA]
    assert set(fanova) == {"core", "strategy.lr"}  # the parameters every trial has
    assert max(fanova, key=fanova.get) == "core"
    assert {"core.bhi.hidden", "core.autosome.k"} <= set(found["overall"][PED_ANOVA])
    bhi = found["per_choice"]["core=bhi"]
    assert set(bhi) == {"core.bhi.hidden", "strategy.lr"}
    assert max(bhi, key=bhi.get) == "core.bhi.hidden"
    assert any("conditional" in note for note in found["notes"])


def test_too_few_trials_say_so() -> None:
    small = optuna.create_study(direction="maximize")
    small.optimize(objective, n_trials=2)
    found = param_importances(small)
    assert found["overall"] == {} and "need at least 3" in found["notes"][0]


def test_best_r_per_choice_and_its_plot(tmp_path: Path) -> None:
    records = {r["trial_id"]: r for r in (record(1, 0.2), record(2, 0.6), record(3, None))}
    records["id2"]["config"] = {**records["id2"]["config"], "core": "bhi", "first": "autosome"}
    table = best_per_choice(records, {"strategy.epochs": 2})
    assert table["core"]["bhi"] == {"best": 0.6, "n": 1, "trial": "002"}
    assert table["core"]["autosome"] == {"best": 0.2, "n": 1, "trial": "001"}
    assert table["final"]["autosome"]["n"] == 2  # the trial without a score is left out
    assert set(table) == {"first", "core", "final", "encoding", "target"}
    assert table["encoding"] == {"autosome": {"best": 0.6, "n": 2, "trial": "002"}}
    write_choices_png(tmp_path / "choices.png", table)
    from matplotlib.image import imread

    assert imread(tmp_path / "choices.png").shape[:2] == (320, 1200)
