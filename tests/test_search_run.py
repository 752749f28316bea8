"""A small search end to end: trials, MLflow structure, files, an injected failure retried."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from search.cli import main as cli_main
from search.record.mlflow_utils import run_url
from search.record.mlflow_view import BEST_SUFFIX
from tests.search_support import QUICK, mlflow_runs, read_trials, simulated_data

pytestmark = pytest.mark.slow  # a long file: conftest runs it first

TRIALS, EPOCHS = 6, 2


@pytest.fixture(scope="module")
def search(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One search: 6 tiny trials x 2 epochs, ASHA judging at epoch 1 (--grace-period 1: its
    default first rung, after the warm-up, would be the last epoch), trial 1 fails once before
    its epoch 2; the best model registered. Its output is kept (stdout is not a terminal: one
    line per event)."""
    data = simulated_data(tmp_path_factory)
    storage = tmp_path_factory.mktemp("runs")
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setenv("PRIXFIXE_FAIL_ONCE", "1:2")
        mp.delenv("RAY_ADDRESS", raising=False)
        code = cli_main(["run", "--data", str(data), "--space", "prixfixe", "--name", "small",
                         "--trials", str(TRIALS), "--epochs", str(EPOCHS), "--storage",
                         str(storage), "--max-concurrent", "1", "--grace-period", "1",
                         "--register", "small-best", *QUICK])
    print(out.getvalue())
    root = storage / "small"
    doc = json.loads((root / "search.json").read_text())
    return {"code": code, "root": root, "data": data, "doc": doc, "out": out.getvalue(),
            "runs": mlflow_runs(doc["tracking_uri"], "small")}


def test_search_runs_every_trial_and_exports_the_best(search: dict[str, Any]) -> None:
    from prixfixe_blocks.training.export import load_predictor

    assert search["code"] == 0
    records = read_trials(search["root"])
    assert len(records) == TRIALS
    assert {r["status"] for r in records.values()} <= {"FINISHED", "STOPPED"}
    assert any(r["status"] == "STOPPED" for r in records.values())  # ASHA did stop one
    assert sorted(r["index"] for r in records.values()) == list(range(1, TRIALS + 1))
    for record in records.values():
        epochs = [h["epoch"] for h in record["history"]]
        assert epochs == list(range(1, record["epoch"] + 1))
        assert record["status"] == ("FINISHED" if record["epoch"] == EPOCHS else "STOPPED")
        best = np.maximum.accumulate([h["val_pearson"] for h in record["history"]])
        assert np.allclose([h["best_val_pearson"] for h in record["history"]], best)
    predictor = load_predictor(search["root"] / "best_model", device="cpu")
    assert predictor.predict(["TGCATTTTTTTCACATC" + "ACGT" * 20 + "GGTTACGGCTGTT"]).shape == (1, 1)


def test_leaderboard_csv_and_plot(search: dict[str, Any]) -> None:
    import csv

    rows = list(csv.DictReader((search["root"] / "leaderboard.csv").open()))
    assert len(rows) == TRIALS and [r["rank"] for r in rows] == [str(i) for i in range(1, 7)]
    scores = [float(r["best_val_pearson"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    png = (search["root"] / "curves.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and b"IEND" in png[-12:]


def test_mlflow_has_one_parent_and_a_nested_run_per_trial(search: dict[str, Any]) -> None:
    runs = search["runs"]
    parent = runs[runs["tags.mlflow.parentRunId"].isna()]
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert len(parent) == 1 and len(children) == TRIALS
    parent_id = parent["run_id"].iloc[0]
    assert (children["tags.mlflow.parentRunId"] == parent_id).all()
    assert children["tags.trial_id"].is_unique
    tags = parent.iloc[0]
    assert tags["tags.space"] == "prixfixe" and tags["tags.sampler"] == "tpe"
    assert tags["tags.scheduler"] == "asha" and tags["tags.seed"] == "0"
    assert len(tags["tags.data_checksum"]) == 16 and tags["tags.code_version"]
    assert parent["status"].iloc[0] == "FINISHED"
    for column in ("params.first", "params.core", "params.final", "params.strategy.lr",
                   "params.strategy.encoding", "metrics.best_val_pearson",
                   "metrics.val_spearman", "metrics.train_loss", "metrics.seqs_per_s"):
        assert children[column].notna().all(), column
    assert children["tags.node_id"].str.len().gt(10).all()


def test_stopped_trials_finish_in_mlflow_and_are_pruned_in_optuna(search: dict[str, Any]) -> None:
    from search.study.journal import load_study

    records = read_trials(search["root"])
    stopped = {tid for tid, r in records.items() if r["status"] == "STOPPED"}
    assert stopped and len(stopped) < TRIALS  # ASHA stopped some trials, not all
    children = search["runs"][search["runs"]["tags.mlflow.parentRunId"].notna()]
    assert set(children["status"]) == {"FINISHED"}  # no red cross for a stopped trial
    early = children[children["tags.stopped_early"] == "true"]
    assert set(early["tags.trial_id"]) == stopped
    assert early["tags.stop_reason"].str.contains("stopped by ASHA at epoch 1 of 2").all()
    assert set(children[children["tags.stopped_early"] == "false"]["tags.trial_id"]) == (
        set(records) - stopped)

    study = load_study(search["root"] / "optuna.journal", "small")
    assert len(study.trials) == TRIALS
    for trial in study.trials:
        record = records[trial.user_attrs["tune_trial_id"]]
        assert trial.state.name == ("PRUNED" if record["status"] == "STOPPED" else "COMPLETE")
        history = {h["epoch"]: h["best_val_pearson"] for h in record["history"]}
        assert list(history) == list(range(1, record["epoch"] + 1))
        assert trial.intermediate_values == pytest.approx(history)  # every epoch, the last too
        assert trial.value == pytest.approx(history[record["epoch"]])


def test_one_identifier_story_across_mlflow_optuna_and_the_leaderboard(
        search: dict[str, Any]) -> None:
    import csv

    from search.study.journal import load_study

    records = read_trials(search["root"])
    study = load_study(search["root"] / "optuna.journal", "small")
    assert study.metric_names == ["best_val_pearson"]
    assert study.user_attrs["search"] == "small"
    assert study.user_attrs["mlflow_experiment_id"] == search["doc"]["experiment_id"]
    assert study.user_attrs["options"]["epochs"] == EPOCHS
    assert study.user_attrs["options"]["register"] == "small-best"
    runs = search["runs"].set_index("run_id")
    for trial in study.trials:
        tune_id, run_id = trial.user_attrs["tune_trial_id"], trial.user_attrs["mlflow_run_id"]
        assert records[tune_id]["number"] == trial.number
        assert records[tune_id]["mlflow_run_id"] == run_id
        run = runs.loc[run_id]
        assert run["tags.trial_id"] == tune_id
        assert run["tags.optuna_trial_number"] == str(trial.number)
        assert run["tags.mlflow.runName"].startswith(f"trial-{trial.number:03d}-{tune_id}-")
    rows = list(csv.DictReader((search["root"] / "leaderboard.csv").open()))
    by_tune = {r["trial_id"]: r for r in rows}
    assert set(by_tune) == set(records)
    for tune_id, record in records.items():
        assert by_tune[tune_id]["trial"] == f"{record['number']:03d}"
        assert by_tune[tune_id]["mlflow_run_id"] == record["mlflow_run_id"]


def test_runs_carry_source_and_dataset_inputs_and_no_placeholder_metrics(
        search: dict[str, Any]) -> None:
    from mlflow.tracking import MlflowClient

    from prixfixe_blocks.data.format.schema import dataset_checksum, open_dataset
    from search.record.lineage import source_tags

    client = MlflowClient(search["doc"]["tracking_uri"])
    meta = open_dataset(search["data"])
    runs = search["runs"]
    checksum = runs[runs["tags.mlflow.parentRunId"].isna()]["tags.data_checksum"].iloc[0]
    run_ids = list(runs["run_id"])
    assert len(run_ids) == TRIALS + 1
    for run_id in run_ids:
        run = client.get_run(run_id)
        assert {k: run.data.tags.get(k) for k in source_tags()} == source_tags()
        assert run.data.tags["mlflow.source.git.commit"]  # the tests run in a git checkout
        inputs = run.inputs.dataset_inputs
        assert len(inputs) == 1
        dataset = inputs[0].dataset
        assert dataset.digest == dataset_checksum(meta) == checksum
        assert json.loads(dataset.source)["uri"] == str(search["data"].resolve())
        assert json.loads(dataset.profile)["num_rows"] == meta.rows["total"]
    children = search["runs"][search["runs"]["tags.mlflow.parentRunId"].notna()]
    for run_id in children["run_id"]:  # an auxiliary loss is logged only where there is one
        history = client.get_metric_history(run_id, "train_loss_aux")
        assert not history or any(m.value != 0 for m in history)
    assert "metrics.train_loss_aux" not in children or children[
        "metrics.train_loss_aux"].isna().any()


def test_best_trial_model_is_one_logged_model_linked_to_its_metrics(
        search: dict[str, Any]) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    runs = search["runs"]
    best = runs[runs["tags.best_model"] == "true"]
    assert len(best) == 1
    run_id = best["run_id"].iloc[0]
    parent = runs[runs["tags.mlflow.parentRunId"].isna()].iloc[0]
    assert run_id == parent["tags.best_trial_run_id"]
    mlflow.set_tracking_uri(search["doc"]["tracking_uri"])
    models = mlflow.search_logged_models(experiment_ids=[search["doc"]["experiment_id"]],
                                         output_format="list")
    assert len(models) == 1  # one copy of the best model, no artifact folder beside it
    model = models[0]
    assert model.source_run_id == run_id
    record = next(r for r in read_trials(search["root"]).values() if r["mlflow_run_id"] == run_id)
    best_epoch = max(record["history"], key=lambda h: h["val_pearson"])["epoch"]
    linked = {m.key: m for m in model.metrics}
    assert linked["best_val_pearson"].step == best_epoch
    assert linked["best_val_pearson"].value == pytest.approx(record["metrics"]["best_val_pearson"])
    client = MlflowClient(search["doc"]["tracking_uri"])
    assert not [a for a in client.list_artifacts(run_id) if a.path != "config.json"]
    (version,) = client.search_model_versions("name='small-best'")
    assert version.run_id == run_id and model.model_id in version.source
    from prixfixe_blocks.training.export import load_predictor

    seqs = ["TGCATTTTTTTCACATC" + "ACGT" * 20 + "GGTTACGGCTGTT", "ACGT" * 30]
    loaded = mlflow.pyfunc.load_model(f"models:/{model.model_id}")  # code + safetensors
    np.testing.assert_array_equal(
        loaded.predict(seqs).to_numpy(),
        load_predictor(search["root"] / "best_model", device="cpu").predict(seqs))


def test_parent_run_describes_the_leaderboard_under_its_own_metric_names(
        search: dict[str, Any]) -> None:
    import pandas as pd

    runs = search["runs"]
    parent = runs[runs["tags.mlflow.parentRunId"].isna()].iloc[0]
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    note = parent["tags.mlflow.note.content"]
    exp_id = search["doc"]["experiment_id"]
    for _, child in children.iterrows():  # the best run is renamed at the end
        name = child["tags.mlflow.runName"].removesuffix(BEST_SUFFIX)
        assert f"[{name}]({run_url('', exp_id, child['run_id'])})" in note
    parent_metrics = {c for c in runs.columns if c.startswith("metrics.") and pd.notna(parent[c])}
    assert parent_metrics and all(c.startswith("metrics.search_") for c in parent_metrics)
    assert parent["metrics.search_best_val_pearson"] == pytest.approx(
        children["metrics.best_val_pearson"].max())


def test_output_is_one_line_per_event_and_ends_with_where_to_browse(
        search: dict[str, Any]) -> None:
    out, exp_id = search["out"], search["doc"]["experiment_id"]
    assert out.count("blocks (first/core/final)") == 1  # the table once, in the summary
    assert len([x for x in out.splitlines() if " started: " in x]) == TRIALS
    assert (f"http://127.0.0.1:5000/#/experiments/{exp_id}/runs?workflowType=machine_learning"
            in out)
    assert f"mlflow ui --backend-store-uri {search['doc']['tracking_uri']}" in out


def test_injected_failure_is_retried_from_its_checkpoint(search: dict[str, Any]) -> None:
    from mlflow.tracking import MlflowClient

    assert (search["root"] / "fault-injected-1-2").is_file()
    records = read_trials(search["root"])
    first = next(r for r in records.values() if r["index"] == 1)
    assert first["retries"] == 1 and first["status"] == "FINISHED"
    assert "injected failure" in first["last_error"]
    run_id = first["mlflow_run_id"]
    client = MlflowClient(search["doc"]["tracking_uri"])
    run = client.get_run(run_id)
    assert run.data.tags["restored_from_epoch"] == "1" and run.data.tags["retries"] == "1"
    history = client.get_metric_history(run_id, "train_loss")
    assert sorted(m.step for m in history) == [1, 2]  # epoch 1 was not trained again


def test_each_trial_record_names_its_own_mlflow_run(search: dict[str, Any]) -> None:
    runs = search["runs"]
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    by_trial = dict(zip(children["tags.trial_id"], children["run_id"], strict=True))
    records = read_trials(search["root"])
    assert {tid: r["mlflow_run_id"] for tid, r in records.items()} == by_trial
    assert not (search["root"] / "mlflow_runs.json").exists()  # the record is the only one


def test_status_reads_the_experiment_directory(search: dict[str, Any],
                                               capsys: pytest.CaptureFixture) -> None:
    storage = str(search["root"].parent)
    assert cli_main(["status", "small", "--storage", storage]) == 0
    out = capsys.readouterr().out
    assert f"finished {TRIALS}, running 0, pending 0" in out and "best: trial" in out
    exp_id = search["doc"]["experiment_id"]
    assert (f"http://127.0.0.1:5000/#/experiments/{exp_id}/runs?workflowType=machine_learning"
            in out)


def test_missing_data_is_rejected_before_anything_starts(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    code = cli_main(["run", "--data", str(tmp_path / "nope"), "--name", "x", "--storage",
                     str(tmp_path / "runs"), "--trials", "2", "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "nope" in err and "dataset directory not found" in err
    assert not (tmp_path / "runs").exists()


def test_bad_space_is_rejected_before_any_trial(tmp_path: Path, search: dict[str, Any],
                                                capsys: pytest.CaptureFixture) -> None:
    space = tmp_path / "bad.yaml"
    space.write_text("params:\n  first: bhi\n  core: {choice: [bhi, lstm9]}\n  final: bhi\n")
    code = cli_main(["run", "--data", str(search["data"]), "--name", "bad", "--space",
                     str(space), "--storage", str(tmp_path / "runs"), "--width", "tiny",
                     "--sampler", "grid"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown core block 'lstm9'" in err
    assert not (tmp_path / "runs").exists()


def test_missing_plugin_is_rejected_before_anything_starts(
        tmp_path: Path, search: dict[str, Any], capsys: pytest.CaptureFixture) -> None:
    code = cli_main(["run", "--data", str(search["data"]), "--name", "plug", "--storage",
                     str(tmp_path / "runs"), "--plugin", str(tmp_path / "blocks.py")])
    err = capsys.readouterr().err
    assert code == 2 and "plugin file not found" in err
    assert not (tmp_path / "runs").exists()
    assert search["doc"]["options"]["plugins"] == []  # stored in search.json


def test_existing_search_name_is_refused(search: dict[str, Any],
                                         capsys: pytest.CaptureFixture) -> None:
    code = cli_main(["run", "--data", str(search["data"]), "--name", "small", "--storage",
                     str(search["root"].parent)])
    assert code == 2 and "already exists" in capsys.readouterr().err
