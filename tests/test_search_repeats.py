"""A sampled configuration equal to one already trained or running is never trained again and is
no new evidence: its Optuna trial is told FAIL (samplers ignore it) with `repeat_of`, an untried
neighbour of it (one parameter changed) is proposed instead (randomly when none is left), and a
space whose every cell has been tried finishes the search."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import optuna
import pytest
from ray.tune.search import Searcher

from search.cli import main as cli_main
from search.report.importance import scored_trials
from search.study.journal import journal_storage, load_study
from search.study.objectives import REPEAT_ATTR, was_trained
from search.study.repeats import NEIGHBOUR_ATTR, REPEATS_BEFORE_FALLBACK
from search.study.searcher import DurableOptunaSearch
from tests.search_support import (
    QUICK,
    StuckSampler,
    mlflow_runs,
    read_trials,
    simulated_data,
)

CELLS = {"a": 0.1, "b": 0.5, "c": 0.3, "d": 0.2}
METRIC = "best_val_pearson"
GRID_FIX = ("strategy=autosome", "first=autosome", "core=autosome")  # 3 cells: the finals


def cells(trial: optuna.Trial) -> None:
    trial.suggest_categorical("cell", list(CELLS))


def searcher_for(tmp_path: Path, sampler: optuna.samplers.BaseSampler) -> DurableOptunaSearch:
    return DurableOptunaSearch(space=cells, metric=METRIC, mode="max",
                               storage=journal_storage(tmp_path / "optuna.journal"),
                               study_name="s", epochs=2, sampler=sampler, seed=0)


def finish(searcher: DurableOptunaSearch, tune_id: str, cell: str, epoch: int = 2) -> None:
    searcher.on_trial_result(tune_id, {"epoch": 1, METRIC: CELLS[cell]})
    searcher.on_trial_complete(tune_id, {"epoch": epoch, METRIC: CELLS[cell]})


def test_repeats_are_failed_not_copied_and_an_exhausted_space_finishes(tmp_path: Path) -> None:
    searcher = searcher_for(tmp_path, optuna.samplers.RandomSampler(seed=0))
    trained = []
    for index in range(len(CELLS)):
        config = searcher.suggest(f"t{index}")
        assert isinstance(config, dict)
        trained.append(config["cell"])
        finish(searcher, f"t{index}", config["cell"], epoch=1 if index == 1 else 2)
    assert sorted(trained) == sorted(CELLS)  # four trials, four different cells
    assert searcher.suggest("t4") == Searcher.FINISHED  # every proposal is a repeat now

    study = load_study(tmp_path / "optuna.journal", "s")
    originals = {t.number: t for t in study.trials if was_trained(t)}
    repeats = [t for t in study.trials if REPEAT_ATTR in t.user_attrs]
    assert len(originals) == 4 and repeats, "the random sampler must have proposed repeats"
    for trial in repeats:  # no copied outcome: FAIL, no value, no intermediate values
        assert trial.params == originals[trial.user_attrs[REPEAT_ATTR]].params
        assert trial.state.name == "FAIL" and trial.values is None
        assert trial.intermediate_values == {}
    assert sorted(t.params["cell"] for t in scored_trials(study)) == sorted(CELLS)


def test_a_stuck_sampler_gets_untried_neighbours_until_the_space_is_exhausted(
        tmp_path: Path) -> None:
    searcher = searcher_for(tmp_path, StuckSampler({"cell": "b"}))
    first = searcher.suggest("t0")
    assert first == {"cell": "b"}
    finish(searcher, "t0", "b")
    trained = ["b"]
    for index in range(1, len(CELLS)):
        config = searcher.suggest(f"t{index}")
        assert isinstance(config, dict) and config["cell"] not in trained
        trained.append(config["cell"])
        finish(searcher, f"t{index}", config["cell"])
    assert searcher.suggest("t9") == Searcher.FINISHED
    study = load_study(tmp_path / "optuna.journal", "s")
    repeats = [t for t in study.trials if REPEAT_ATTR in t.user_attrs]
    neighbours = [t for t in study.trials if was_trained(t) and t.number > 0]
    # The stuck sampler's repeat of `b` before each neighbour, then (no neighbour left) the
    # random sampler's repeats until MAX_REJECTED in a row.
    assert len(repeats) > REPEATS_BEFORE_FALLBACK * (len(CELLS) - 1)
    assert {(t.state.name, t.user_attrs[REPEAT_ATTR]) for t in repeats[:3]} == {("FAIL", 0)}
    assert [t.user_attrs[NEIGHBOUR_ATTR] for t in neighbours] == [0, 0, 0]
    assert [t.state.name for t in neighbours] == ["COMPLETE"] * 3


def test_a_proposal_equal_to_a_running_trial_is_a_repeat(tmp_path: Path) -> None:
    searcher = searcher_for(tmp_path, StuckSampler({"cell": "b"}))
    assert searcher.suggest("t0") == {"cell": "b"}  # running: not ended yet
    running = searcher.suggest("t1")
    assert isinstance(running, dict) and running["cell"] != "b"
    study = load_study(tmp_path / "optuna.journal", "s")
    repeats = [t for t in study.trials if REPEAT_ATTR in t.user_attrs]
    assert len(repeats) == REPEATS_BEFORE_FALLBACK
    assert {(t.state.name, t.user_attrs[REPEAT_ATTR]) for t in repeats} == {("FAIL", 0)}
    assert sum(was_trained(t) for t in study.trials) == 2


def test_tpe_in_a_tiny_space_learns_from_trained_trials_only(tmp_path: Path) -> None:
    """TPE (after its start-up trials) proposes the best cell again and again; none of those
    repeats enters its model, so the trials it models are exactly the trained ones."""
    sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=2)
    searcher = searcher_for(tmp_path, sampler)
    seen = []
    for index in range(len(CELLS)):
        config = searcher.suggest(f"t{index}")
        assert isinstance(config, dict)
        seen.append(config["cell"])
        finish(searcher, f"t{index}", config["cell"])
    assert sorted(seen) == sorted(CELLS)
    study = load_study(tmp_path / "optuna.journal", "s")
    assert any(REPEAT_ATTR in t.user_attrs for t in study.trials), "TPE proposed no repeat"
    modelled = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,
                                        optuna.trial.TrialState.PRUNED))
    assert sorted(t.params["cell"] for t in modelled) == sorted(CELLS)


@pytest.mark.slow
def test_optuna_trials_json_and_mlflow_agree_on_the_trained_count(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """A real TPE search asked for 6 trials of a 3-cell space: TPE proposes repeats, 3 cells
    are trained, and Optuna (trials without repeat/rejected attributes), trials.json and MLflow
    each count 3 (the study also holds the repeats, all FAIL; none is in trials.json)."""
    data = simulated_data(tmp_path_factory)
    storage = tmp_path_factory.mktemp("runs")
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.delenv("RAY_ADDRESS", raising=False)
        code = cli_main(["run", "--data", str(data), "--name", "rep", "--trials", "6",
                         "--epochs", "1", "--storage", str(storage), "--space", "prixfixe-grid",
                         "--sampler", "tpe", "--scheduler", "none", "--max-concurrent", "2",
                         *(f"--fix={f}" for f in GRID_FIX), *QUICK])
    assert code == 0, out.getvalue()[-3000:]
    root = storage / "rep"
    study = load_study(root / "optuna.journal", "rep")
    trained = [t for t in study.trials if was_trained(t)]
    repeats = [t for t in study.trials if REPEAT_ATTR in t.user_attrs]
    assert repeats and {t.state.name for t in repeats} == {"FAIL"}
    assert len(trained) == 3 and {t.state.name for t in trained} == {"COMPLETE"}
    assert len({tuple(sorted(t.params.items())) for t in trained}) == 3
    records = read_trials(root)
    assert len(records) == 3 and {r["status"] for r in records.values()} == {"FINISHED"}
    doc = json.loads((root / "search.json").read_text())
    runs = mlflow_runs(doc["tracking_uri"], "rep")
    assert len(runs) == 4  # the parent and the 3 trained configurations
