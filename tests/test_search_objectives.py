"""Size-aware search: a multi-objective study (validation r vs parameters) with its Pareto front
in the report and in MLflow, and --max-params as a constraint applied before training."""

from __future__ import annotations

import contextlib
import io
import json
import pickle
from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow.tracking import MlflowClient

from prixfixe_blocks.data.format.schema import open_dataset
from prixfixe_blocks.presets import get_preset
from prixfixe_blocks.training.model import check_spec
from search.cli import main as cli_main
from search.study.journal import TUNE_ID_ATTR, journal_storage, load_study
from search.study.objectives import REJECTED_ATTR, ParamCounter
from search.study.searcher import DurableOptunaSearch
from spaces.base import config_to_spec
from tests.search_support import QUICK, mlflow_runs, read_trials, simulated_data


def sized_space(trial: optuna.Trial) -> None:
    trial.suggest_int("width", 1, 100)


def test_configurations_above_max_params_are_pruned_before_any_trial(tmp_path: Path) -> None:
    journal = tmp_path / "optuna.journal"
    searcher = DurableOptunaSearch(space=sized_space, metric="best_val_pearson", mode="max",
                                   storage=journal_storage(journal), study_name="s", seed=0,
                                   epochs=1, max_params=3000, count=lambda c: c["width"] * 100)
    suggested = [searcher.suggest(f"t{i}") for i in range(8)]
    assert all(s["width"] * 100 <= 3000 for s in suggested)
    study = load_study(journal, "s")
    rejected = [t for t in study.trials if REJECTED_ATTR in t.user_attrs]
    assert rejected, "with widths up to 100 some samples must exceed 3000 parameters"
    for trial in rejected:
        assert trial.state.name == "PRUNED" and TUNE_ID_ATTR not in trial.user_attrs
        assert trial.user_attrs["n_parameters"] == trial.params["width"] * 100 > 3000
        assert "> --max-params 3,000" in trial.user_attrs[REJECTED_ATTR]
    running = [t for t in study.trials if t.state.name == "RUNNING"]
    assert sorted(t.user_attrs[TUNE_ID_ATTR] for t in running) == [f"t{i}" for i in range(8)]


def test_multi_objective_searcher_tells_both_values_and_no_intermediate_ones(
        tmp_path: Path) -> None:
    journal = tmp_path / "optuna.journal"
    searcher = DurableOptunaSearch(space=sized_space, metric=["best_val_pearson", "n_parameters"],
                                   mode=["max", "min"], storage=journal_storage(journal),
                                   study_name="s", seed=0, epochs=2,
                                   sampler=optuna.samplers.NSGAIISampler(seed=0))
    searcher.suggest("a")
    searcher.on_trial_result("a", {"epoch": 1, "best_val_pearson": 0.1, "n_parameters": 50})
    searcher.on_trial_complete("a", {"epoch": 2, "best_val_pearson": 0.2, "n_parameters": 50})
    (trial,) = load_study(journal, "s").trials
    assert trial.state.name == "COMPLETE" and trial.values == [0.2, 50.0]
    assert trial.intermediate_values == {}


def test_param_counter_matches_the_launch_check(tmp_path_factory: pytest.TempPathFactory) -> None:
    data = simulated_data(tmp_path_factory)
    config = get_preset("dream-cnn").to_flat()
    run = {"strategy.epochs": 1}
    counter = ParamCounter(str(data), run)
    expected = check_spec(config_to_spec(config, run), open_dataset(data))
    assert counter(config) == expected > 0
    copy = pickle.loads(pickle.dumps(counter))  # as Tune saves the searcher: no metadata
    assert copy._meta is None and copy(config) == expected


@pytest.fixture(scope="module")
def size_aware(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A 4-trial, 1-epoch search with --objective r,params and --max-params, then `report`."""
    data = simulated_data(tmp_path_factory)
    storage = tmp_path_factory.mktemp("runs")
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.delenv("RAY_ADDRESS", raising=False)
        code = cli_main(["run", "--data", str(data), "--name", "sized", "--trials", "4",
                         "--epochs", "1", "--storage", str(storage), "--objective", "r,params",
                         "--sampler", "nsga2", "--max-params", "60000", "--max-concurrent", "2",
                         *QUICK])
        report = cli_main(["report", "sized", "--storage", str(storage)])
    root = storage / "sized"
    doc = json.loads((root / "search.json").read_text())
    return {"code": code, "report": report, "root": root, "out": out.getvalue(), "doc": doc}


@pytest.mark.slow
def test_size_aware_search_records_both_objectives(size_aware: dict[str, Any]) -> None:
    assert size_aware["code"] == 0, size_aware["out"][-3000:]
    assert "early stopping is off" in size_aware["out"]
    study = load_study(size_aware["root"] / "optuna.journal", "sized")
    assert study.metric_names == ["best_val_pearson", "n_parameters"]
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    trained = [t for t in study.trials if REJECTED_ATTR not in t.user_attrs]
    assert len(trained) == 4 and all(t.state.name == "COMPLETE" for t in trained)
    records = {r["mlflow_run_id"]: r for r in read_trials(size_aware["root"]).values()}
    for trial in trained:
        r, params = trial.values
        assert params <= 60000
        record = records[trial.user_attrs["mlflow_run_id"]]
        assert r == pytest.approx(record["metrics"]["best_val_pearson"])
        assert record["epoch"] == 1  # no early stopping


@pytest.mark.slow
def test_pareto_front_in_the_report_and_mlflow(size_aware: dict[str, Any]) -> None:
    import csv

    assert size_aware["report"] == 0
    report = size_aware["root"] / "report"
    front = list(csv.DictReader((report / "pareto.csv").open()))
    study = load_study(size_aware["root"] / "optuna.journal", "sized")
    assert {int(row["trial"]) for row in front} == {t.number for t in study.best_trials}
    assert front
    points = [(float(t.values[0]), float(t.values[1])) for t in study.trials
              if t.state.name == "COMPLETE"]
    for row in front:  # nothing is better on both objectives than a front member
        r, n = float(row["best_val_pearson"]), float(row["n_parameters"])
        assert not any(pr >= r and pn <= n and (pr, pn) != (r, n) for pr, pn in points)
    assert (report / "pareto.png").stat().st_size > 0
    assert "## Pareto front" in (report / "report.md").read_text()
    runs = mlflow_runs(size_aware["doc"]["tracking_uri"], "sized")
    client = MlflowClient(size_aware["doc"]["tracking_uri"])
    artifacts = {a.path for a in client.list_artifacts(size_aware["doc"]["parent_run_id"],
                                                       "report")}
    assert {"report/pareto.png", "report/pareto.csv", "report/report.md"} <= artifacts
    assert len(runs) == 5  # the parent and the 4 trained trials: rejected samples never ran
