"""What the printed MLflow URL and optuna-dashboard open, read back through their APIs (no
browser, no Ray): the saved view, model-training links, the best trial's mark, no "None"
parameters, the parameter count, the study's completed companion and the served port."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from search.record.mlflow_utils import PORT_ENV, runs_url
from search.record.mlflow_view import (
    BEST_SUFFIX,
    BEST_TAG,
    COMMON_PARAMS,
    VIEW_TAG,
    mark_best,
    refresh_view,
)
from search.record.tracking import TrialRuns, markdown_table, start_parent_run
from search.study.companion import COMPANION_ATTR, companion_name, write_companion
from search.study.journal import describe_study, journal_storage, load_study
from search.study.objectives import REPEAT_ATTR
from search.study.searcher import DurableOptunaSearch
from tests.test_search_browse import result, space


def test_saved_view_links_and_trial_params(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp_id, parent = start_parent_run(uri, "v", {}, {})
    client = MlflowClient(uri)
    view = json.loads(client.get_experiment(exp_id).tags[VIEW_TAG])
    assert view["orderByKey"] == "metrics.`best_val_pearson`" and view["orderByAsc"] is False
    for column in ("metrics.`best_val_pearson`", "metrics.`val_pearson`",
                   "metrics.`n_parameters`", "params.`core`", "params.`strategy.lr`"):
        assert column in view["selectedColumns"]
    assert not any("test" in c or "evaluate" in c for c in view["selectedColumns"])
    parallel = view["compareRunCharts"][0]
    assert parallel["type"] == "PARALLEL" and parallel["selectedParams"] == list(COMMON_PARAMS)

    search = {"tracking_uri": uri, "experiment_id": exp_id, "parent_run_id": parent}
    record = {"trial_id": "aaaa0001", "number": 0, "config": {
        "first": "bhi", "core": "autosome", "final": "autosome", "strategy": "autosome"}}
    runs = TrialRuns(search)
    run_id = runs.run_id(record)
    runs.log_epoch(run_id, {"epoch": 1, "best_val_pearson": 0.2, "n_parameters": 1234})
    run = client.get_run(run_id)
    assert "None" not in run.data.params.values()
    assert "strategy.grad_clip" not in run.data.params  # unset: not logged at all
    assert {"first", "core", "final", "strategy.lr", "strategy.batch_size"} <= set(
        run.data.params)
    assert run.data.metrics["n_parameters"] == 1234

    mark_best(client, run_id)
    mark_best(client, run_id)  # at most one suffix
    run = client.get_run(run_id)
    assert run.info.run_name == f"trial-000-aaaa0001-bhi-autosome-autosome{BEST_SUFFIX}"
    assert run.data.tags[BEST_TAG] == "true"
    client.log_metric(run_id, "evaluate/suite/pearson_score", 0.5)
    client.log_metric(run_id, "evaluate/suite/subset/high/pearson", 0.4)
    refresh_view(client, exp_id)
    columns = json.loads(client.get_experiment(exp_id).tags[VIEW_TAG])["selectedColumns"]
    assert "metrics.`evaluate/suite/pearson_score`" in columns  # the headline test score
    assert not any("subset" in c for c in columns)

    row = {"mlflow_run_id": run_id, "rank": 1, "trial": "000",
           "trial_id": "aaaa0001", "status": "FINISHED", "epoch": 1, "best_val_pearson": 0.2,
           "val_spearman": 0.1, "first": "bhi", "core": "autosome", "final": "autosome",
           "strategy": "autosome"}
    note = markdown_table([row], exp_id, {run_id: "t"}, "x")
    assert f"(#/experiments/{exp_id}/runs/{run_id}?workflowType=machine_learning)" in note


def test_runs_url_uses_the_served_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PORT_ENV, "5123")
    url = runs_url("sqlite:////x/mlflow.db", "7")
    assert url == ("http://127.0.0.1:5123/#/experiments/7/runs?workflowType=machine_learning"
                   "&viewStateShareKey=prixfixe-search")  # the view's sort and columns apply
    assert runs_url("http://tracking:8080/", "7").startswith("http://tracking:8080/#/")


def test_companion_study_completes_pruned_trials_and_keeps_them_pruned(
        tmp_path: Path) -> None:
    journal = tmp_path / "optuna.journal"
    searcher = DurableOptunaSearch(space=space, metric="best_val_pearson", mode="max",
                                   storage=journal_storage(journal), study_name="s", seed=0,
                                   epochs=3)
    describe_study(searcher.study, {"search": "s"})
    for tune_id in ("full", "asha1", "asha2", "broken"):
        searcher.suggest(tune_id)
    searcher.on_trial_complete("full", result(3, 0.3))
    searcher.on_trial_result("asha1", result(1, 0.05))
    searcher.on_trial_complete("asha1", result(2, 0.07))
    searcher.on_trial_complete("asha2", result(1, 0.01))
    searcher.on_trial_complete("broken", None, error=True)
    repeat = searcher.study.ask()
    repeat.set_user_attr(REPEAT_ATTR, 0)
    searcher.study.tell(repeat, state=optuna.trial.TrialState.FAIL)  # as the searcher tells it

    assert write_companion(journal, "s") is not None
    assert write_companion(journal, "s") is not None  # rewritten whole, not appended
    study = load_study(journal, "s")
    assert [t.state.name for t in study.trials][:4] == ["COMPLETE", "PRUNED", "PRUNED", "FAIL"]
    assert study.user_attrs[COMPANION_ATTR] == companion_name("s")
    companion = load_study(journal, companion_name("s"))
    copies = sorted(companion.trials, key=lambda t: t.user_attrs["original_number"])
    assert [t.state.name for t in copies] == ["COMPLETE"] * 3  # no failed trial, no repeat
    assert [t.value for t in copies] == pytest.approx([0.3, 0.07, 0.01])
    assert [t.user_attrs["original_state"] for t in copies] == ["COMPLETE", "PRUNED", "PRUNED"]
    assert copies[1].intermediate_values == pytest.approx({1: 0.05, 2: 0.07})
    assert companion.metric_names == ["best_val_pearson"]
    assert set(optuna.importance.get_param_importances(companion)) == {"lr"}
